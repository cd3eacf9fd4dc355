//! Generates grafana/dashboards/*.json (tests/dashboards.rs checks that the committed files match).
//!
//! Regenerate the JSON after a change:
//! `ISPMONITOR_WRITE_DASHBOARDS=1 cargo test --test dashboards dashboards_are_generated`.
//! Every panel queries the `${datasource}` variable; `$site` and `$target` narrow the fleet;
//! the expensive expressions come from the recording rules in rules/ispmonitor-recording.yml.

use serde_json::{json, Value};

/// Dashboard JSON model version of Grafana 10.4 / 11.0.
pub const SCHEMA_VERSION: u64 = 39;
/// Tag shared by every ispmonitor dashboard: the dashboard links list them by it.
pub const TAG: &str = "ispmonitor";

/// The panel datasource: always the dashboard's `datasource` variable.
fn datasource() -> Value {
    json!({"type": "prometheus", "uid": "${datasource}"})
}

/// One PromQL query of a panel.
pub struct Query {
    expr: String,
    legend: String,
}

/// Shorthand for a query with its legend.
pub fn q(expr: &str, legend: &str) -> Query {
    Query {
        expr: expr.trim().to_string(),
        legend: legend.to_string(),
    }
}

/// A panel before layout: the layout gives it its id and grid position.
pub struct Panel {
    kind: &'static str,
    title: String,
    description: String,
    unit: &'static str,
    queries: Vec<Query>,
    width: u64,
    height: u64,
    /// Table and stat panels read the last value (instant queries); graphs a range.
    instant: bool,
    mappings: Value,
    thresholds: Option<Value>,
    links: Vec<Value>,
    min_max: Option<(f64, f64)>,
}

impl Panel {
    fn new(kind: &'static str, title: &str, unit: &'static str, queries: Vec<Query>) -> Panel {
        let instant = matches!(kind, "stat" | "table" | "bargauge" | "gauge");
        Panel {
            kind,
            title: title.to_string(),
            description: String::new(),
            unit,
            queries,
            width: if instant { 6 } else { 12 },
            height: if instant { 5 } else { 8 },
            instant,
            mappings: json!([]),
            thresholds: None,
            links: Vec::new(),
            min_max: None,
        }
    }

    pub fn describe(mut self, text: &str) -> Panel {
        self.description = text.to_string();
        self
    }

    pub fn size(mut self, width: u64, height: u64) -> Panel {
        self.width = width;
        self.height = height;
        self
    }

    /// Value 1 shows as `one` (green), 0 as `zero` (red).
    pub fn boolean(mut self, one: &str, zero: &str) -> Panel {
        self.mappings = json!([{"type": "value", "options": {
            "0": {"text": zero, "color": "red", "index": 0},
            "1": {"text": one, "color": "green", "index": 1}
        }}]);
        self
    }

    pub fn mappings(mut self, mappings: Value) -> Panel {
        self.mappings = mappings;
        self
    }

    /// Green below `warn`, orange from `warn`, red from `crit`.
    pub fn thresholds(mut self, warn: f64, crit: f64) -> Panel {
        self.thresholds = Some(json!({"mode": "absolute", "steps": [
            {"color": "green", "value": null},
            {"color": "orange", "value": warn},
            {"color": "red", "value": crit}
        ]}));
        self
    }

    /// Red below `crit`, orange below `warn`, green from `warn` (time left, headroom).
    pub fn thresholds_below(mut self, crit: f64, warn: f64) -> Panel {
        self.thresholds = Some(json!({"mode": "absolute", "steps": [
            {"color": "red", "value": null},
            {"color": "orange", "value": crit},
            {"color": "green", "value": warn}
        ]}));
        self
    }

    /// Red while above 0 (counts of broken things).
    pub fn red_above_zero(mut self) -> Panel {
        self.thresholds = Some(json!({"mode": "absolute", "steps": [
            {"color": "green", "value": null},
            {"color": "red", "value": 1}
        ]}));
        self
    }

    pub fn range(mut self, min: f64, max: f64) -> Panel {
        self.min_max = Some((min, max));
        self
    }

    /// A data link to another dashboard for the clicked series' target.
    pub fn link_target(mut self, uid: &str, title: &str) -> Panel {
        self.links.push(json!({
            "title": title,
            "url": format!(
                "/d/{uid}?${{__url_time_range}}&${{datasource:queryparam}}\
                 &var-target=${{__field.labels.target}}"
            ),
        }));
        self
    }

    fn targets(&self) -> Vec<Value> {
        let format = if self.kind == "table" {
            "table"
        } else if self.kind == "heatmap" {
            "heatmap"
        } else {
            "time_series"
        };
        self.queries
            .iter()
            .enumerate()
            .map(|(i, query)| {
                json!({
                    "datasource": datasource(),
                    "editorMode": "code",
                    "expr": query.expr,
                    "format": format,
                    "instant": self.instant,
                    "legendFormat": if query.legend.is_empty() { "__auto" } else { &query.legend },
                    "range": !self.instant,
                    "refId": ref_id(i),
                })
            })
            .collect()
    }

    fn field_defaults(&self) -> Value {
        let mut defaults = json!({
            "unit": self.unit,
            "mappings": self.mappings,
            "links": self.links,
            "thresholds": self.thresholds.clone().unwrap_or(json!({"mode": "absolute", "steps": [
                {"color": "green", "value": null}
            ]})),
            "color": {"mode": if self.thresholds.is_some() || self.mappings != json!([]) {
                "thresholds"
            } else {
                "palette-classic"
            }},
        });
        if let Some((min, max)) = self.min_max {
            defaults["min"] = json!(min);
            defaults["max"] = json!(max);
        }
        if self.kind == "timeseries" {
            defaults["custom"] = json!({
                "drawStyle": "line", "lineWidth": 1, "fillOpacity": 10, "showPoints": "never",
                "spanNulls": false, "axisSoftMin": 0
            });
        }
        defaults
    }

    fn options(&self) -> Value {
        match self.kind {
            "stat" => json!({
                "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": false},
                "colorMode": "value", "graphMode": "area", "justifyMode": "auto",
                "orientation": "auto", "textMode": "auto"
            }),
            "gauge" | "bargauge" => json!({
                "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": false},
                "orientation": "horizontal", "showThresholdLabels": false,
                "showThresholdMarkers": true
            }),
            "table" => json!({"showHeader": true, "cellHeight": "sm", "footer": {"show": false}}),
            "state-timeline" => json!({
                "showValue": "never", "mergeValues": true, "rowHeight": 0.9,
                "legend": {"showLegend": false, "displayMode": "list", "placement": "bottom"},
                "tooltip": {"mode": "single", "sort": "none"}
            }),
            "heatmap" => json!({
                "calculate": false, "yAxis": {"unit": self.unit},
                "cellGap": 1, "color": {"mode": "scheme", "scheme": "Oranges"}
            }),
            _ => json!({
                "legend": {"showLegend": true, "displayMode": "table", "placement": "bottom",
                           "calcs": ["mean", "max", "lastNotNull"]},
                "tooltip": {"mode": "multi", "sort": "desc"}
            }),
        }
    }

    /// Tables show one row per series: merge the instant queries, hide the time column.
    fn transformations(&self) -> Value {
        if self.kind != "table" {
            return json!([]);
        }
        json!([
            {"id": "merge", "options": {}},
            {"id": "organize", "options": {
                "excludeByName": {"Time": true, "__name__": true, "job": true}
            }}
        ])
    }

    fn to_json(&self, id: u64, x: u64, y: u64) -> Value {
        json!({
            "id": id,
            "type": self.kind,
            "title": self.title,
            "description": self.description,
            "datasource": datasource(),
            "gridPos": {"h": self.height, "w": self.width, "x": x, "y": y},
            "targets": self.targets(),
            "fieldConfig": {"defaults": self.field_defaults(), "overrides": []},
            "options": self.options(),
            "transformations": self.transformations(),
            "transparent": false,
        })
    }
}

fn ref_id(i: usize) -> String {
    char::from(b'A' + i as u8).to_string()
}

pub fn timeseries(title: &str, unit: &'static str, queries: Vec<Query>) -> Panel {
    Panel::new("timeseries", title, unit, queries)
}

pub fn stat(title: &str, unit: &'static str, queries: Vec<Query>) -> Panel {
    Panel::new("stat", title, unit, queries)
}

pub fn table(title: &str, unit: &'static str, queries: Vec<Query>) -> Panel {
    Panel::new("table", title, unit, queries).size(12, 8)
}

pub fn bargauge(title: &str, unit: &'static str, queries: Vec<Query>) -> Panel {
    Panel::new("bargauge", title, unit, queries).size(12, 8)
}

pub fn state_timeline(title: &str, queries: Vec<Query>) -> Panel {
    Panel::new("state-timeline", title, "none", queries).size(24, 8)
}

pub fn heatmap(title: &str, unit: &'static str, queries: Vec<Query>) -> Panel {
    Panel::new("heatmap", title, unit, queries)
}

/// A titled group of panels: a row panel followed by its panels, laid out left to right.
pub struct Row {
    title: String,
    panels: Vec<Panel>,
}

pub fn row(title: &str, panels: Vec<Panel>) -> Row {
    Row {
        title: title.to_string(),
        panels,
    }
}

/// A template variable besides `datasource`.
pub enum Var {
    /// `label_values(<selector>, <label>)`, multi-select with All.
    Labels {
        name: &'static str,
        label: &'static str,
        selector: &'static str,
        /// What All means: `.*` (any value, also none) or Grafana's list of the values.
        all_any: bool,
    },
}

impl Var {
    fn to_json(&self) -> Value {
        match self {
            Var::Labels {
                name,
                label,
                selector,
                all_any,
            } => {
                let query = format!("label_values({selector}, {name})");
                let mut var = json!({
                    "name": name,
                    "label": label,
                    "type": "query",
                    "datasource": datasource(),
                    "definition": query,
                    "query": {
                        "query": query,
                        "refId": "PrometheusVariableQueryEditor-VariableQuery"
                    },
                    "refresh": 2,
                    "regex": "",
                    "sort": 1,
                    "includeAll": true,
                    "multi": true,
                    "current": {},
                    "options": [],
                    "hide": 0,
                    "skipUrlSync": false,
                });
                if *all_any {
                    var["allValue"] = json!(".*");
                }
                var
            }
        }
    }
}

fn datasource_var() -> Value {
    json!({
        "name": "datasource",
        "label": "Data source",
        "type": "datasource",
        "query": "prometheus",
        "current": {},
        "options": [],
        "refresh": 1,
        "regex": "",
        "includeAll": false,
        "multi": false,
        "hide": 0,
        "skipUrlSync": false,
    })
}

/// One dashboard: file name, uid, title, description, variables and rows.
pub struct Board {
    pub file: &'static str,
    pub uid: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    pub vars: Vec<Var>,
    pub rows: Vec<Row>,
}

impl Board {
    pub fn to_json(&self) -> Value {
        let mut templating = vec![datasource_var()];
        templating.extend(self.vars.iter().map(Var::to_json));
        json!({
            "uid": self.uid,
            "title": self.title,
            "description": self.description,
            "tags": [TAG],
            "timezone": "browser",
            "editable": true,
            "graphTooltip": 1,
            "style": "dark",
            "time": {"from": "now-6h", "to": "now"},
            "timepicker": {},
            "refresh": "1m",
            "fiscalYearStartMonth": 0,
            "liveNow": false,
            "schemaVersion": SCHEMA_VERSION,
            "version": 1,
            "links": [{
                "title": "ispmonitor dashboards",
                "type": "dashboards",
                "tags": [TAG],
                "asDropdown": true,
                "includeVars": false,
                "keepTime": true,
                "targetBlank": false,
                "icon": "external link",
                "tooltip": "",
                "url": "",
            }],
            "annotations": {"list": [{
                "builtIn": 1,
                "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                "enable": true,
                "hide": true,
                "iconColor": "rgba(0, 211, 255, 1)",
                "name": "Annotations & Alerts",
                "type": "dashboard",
            }]},
            "templating": {"list": templating},
            "panels": self.layout(),
        })
    }

    /// Rows one under another; panels left to right, wrapping at Grafana's 24 columns.
    fn layout(&self) -> Vec<Value> {
        let mut out = Vec::new();
        let (mut id, mut y) = (1, 0);
        for row in &self.rows {
            out.push(json!({
                "id": id, "type": "row", "title": row.title, "collapsed": false,
                "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "panels": [],
            }));
            id += 1;
            y += 1;
            let (mut x, mut line_height) = (0, 0);
            for panel in &row.panels {
                if x + panel.width > 24 {
                    y += line_height;
                    x = 0;
                    line_height = 0;
                }
                out.push(panel.to_json(id, x, y));
                id += 1;
                x += panel.width;
                line_height = line_height.max(panel.height);
            }
            y += line_height;
        }
        out
    }
}

// Recording rules of rules/ispmonitor-recording.yml.
const RX_BITS: &str = "target_interface:ispmonitor_interface_receive_bits:rate5m";
const TX_BITS: &str = "target_interface:ispmonitor_interface_transmit_bits:rate5m";
const RX_UTIL: &str = "target_interface:ispmonitor_interface_receive_utilisation:ratio_rate5m";
const TX_UTIL: &str = "target_interface:ispmonitor_interface_transmit_utilisation:ratio_rate5m";
const IF_ERRORS: &str = "target_interface:ispmonitor_interface_errors:rate5m";
const IF_DISCARDS: &str = "target_interface:ispmonitor_interface_discards:rate5m";
const ICMP_LOSS: &str = "target:ispmonitor_icmp_loss:ratio_rate5m";
const RTT_P50: &str = "target:ispmonitor_icmp_rtt_seconds:p50_5m";
const RTT_P99: &str = "target:ispmonitor_icmp_rtt_seconds:p99_5m";
const SERVER_CPU: &str = "target:ispmonitor_server_cpu_utilisation:ratio_rate5m";
const SERVER_MEMORY: &str = "target:ispmonitor_server_memory_utilisation:ratio";
const FS_UTIL: &str = "target_mountpoint:ispmonitor_server_filesystem_utilisation:ratio";
const POLL_P99: &str = "protocol:ispmonitor_poll_duration_seconds:p99_5m";

const SITE: &str = "ispmonitor_target_info";
const ROUTER_HEALTH: &str = "ispmonitor-router-health";
const SERVER_HEALTH: &str = "ispmonitor-server-health";
const LATENCY: &str = "ispmonitor-latency-loss";

fn site_var() -> Var {
    Var::Labels {
        name: "site",
        label: "Site",
        selector: SITE,
        all_any: true,
    }
}

fn target_var(selector: &'static str) -> Var {
    Var::Labels {
        name: "target",
        label: "Target",
        selector,
        all_any: false,
    }
}

fn instance_var() -> Var {
    Var::Labels {
        name: "instance",
        label: "Poller instance",
        selector: "ispmonitor_build_info",
        all_any: true,
    }
}

/// `expr` limited to the targets of the chosen sites.
fn in_site(expr: &str) -> String {
    format!("{expr} and on (target) {SITE}{{site=~\"$site\"}}")
}

/// `metric` for the chosen targets.
fn r(metric: &str) -> String {
    format!("{metric}{{target=~\"$target\"}}")
}

/// `metric` for the chosen targets, with more matchers.
fn r_with(metric: &str, matchers: &str) -> String {
    format!("{metric}{{{matchers}, target=~\"$target\"}}")
}

/// `metric` of the chosen poller instances.
fn i(metric: &str) -> String {
    format!("{metric}{{instance=~\"$instance\"}}")
}

/// `metric` of the chosen poller instances, with more matchers.
fn i_with(metric: &str, matchers: &str) -> String {
    format!("{metric}{{{matchers}, instance=~\"$instance\"}}")
}

/// Per-second rate of a counter selection over Grafana's rate interval.
fn rate(selection: &str) -> String {
    format!("rate({selection}[$__rate_interval])")
}

/// `sum by (labels) (expr)`.
fn sum_by(labels: &str, expr: &str) -> String {
    format!("sum by ({labels}) ({expr})")
}

/// `histogram_quantile(q, sum by (labels) (rate(bucket)))`.
fn quantile(q: f64, labels: &str, buckets: &str) -> String {
    format!(
        "histogram_quantile({q}, {})",
        sum_by(labels, &rate(buckets))
    )
}

/// The chosen targets' up state for one protocol.
fn target_up(protocol: &str) -> String {
    r_with("ispmonitor_target_up", &format!("protocol=\"{protocol}\""))
}

/// Count of administratively up, operationally down interfaces per target.
fn interfaces_down(up: &str, admin_up: &str) -> String {
    let down = format!("({up} == bool 0) * on (target, interface) {admin_up}");
    sum_by("target", &down)
}

fn up_down_mappings() -> Value {
    json!([{"type": "value", "options": {
        "0": {"text": "down", "color": "red", "index": 0},
        "1": {"text": "up", "color": "green", "index": 1}
    }}])
}

fn bgp_state_mappings() -> Value {
    json!([{"type": "value", "options": {
        "1": {"text": "idle", "color": "red", "index": 0},
        "2": {"text": "connect", "color": "orange", "index": 1},
        "3": {"text": "active", "color": "orange", "index": 2},
        "4": {"text": "opensent", "color": "yellow", "index": 3},
        "5": {"text": "openconfirm", "color": "yellow", "index": 4},
        "6": {"text": "established", "color": "green", "index": 5}
    }}])
}

fn fleet_count(family: &str, status: &str) -> Query {
    q(&format!("sum({family}{{status=\"{status}\"}})"), status)
}

fn overview_fleet() -> Row {
    let down = in_site("ispmonitor_target_up == 0");
    row(
        "Fleet",
        vec![
            stat(
                "Routers online",
                "none",
                vec![fleet_count("ispmonitor_routers_total", "online")],
            ),
            stat(
                "Routers offline",
                "none",
                vec![fleet_count("ispmonitor_routers_total", "offline")],
            )
            .red_above_zero(),
            stat(
                "Servers online",
                "none",
                vec![fleet_count("ispmonitor_servers_total", "online")],
            ),
            stat(
                "Servers offline",
                "none",
                vec![fleet_count("ispmonitor_servers_total", "offline")],
            )
            .red_above_zero(),
            timeseries(
                "Targets up by protocol",
                "none",
                vec![
                    q(
                        &sum_by("protocol", &in_site("ispmonitor_target_up == 1")),
                        "{{protocol}} up",
                    ),
                    q(
                        &sum_by(
                            "protocol",
                            &format!("1 - ({})", in_site("ispmonitor_target_up")),
                        ),
                        "{{protocol}} down",
                    ),
                ],
            ),
            table("Targets down", "none", vec![q(&down, "")])
                .describe(
                    "Targets whose last poll failed, per protocol (reasons: Poller dashboard).",
                )
                .link_target(ROUTER_HEALTH, "Router health"),
        ],
    )
}

fn overview_alerts() -> Row {
    let count = |state: &str| {
        q(
            &format!("count(ALERTS{{alertstate=\"{state}\"}}) or vector(0)"),
            state,
        )
    };
    let active = "count by (alertname, severity, alertstate, target) (ALERTS)";
    row(
        "Alerts",
        vec![
            stat("Alerts firing", "none", vec![count("firing")]).red_above_zero(),
            stat("Alerts pending", "none", vec![count("pending")]),
            table("Active alerts (Prometheus)", "none", vec![q(active, "")])
                .describe("Firing and pending alerts as Prometheus evaluates the rules in rules/."),
            stat(
                "Alerts active (Alertmanager webhook)",
                "none",
                vec![q(
                    "sum by (severity) (ispmonitor_alerts_active)",
                    "{{severity}}",
                )],
            )
            .size(12, 5)
            .describe("Alerts the ispmonitor API holds as active from Alertmanager's webhook."),
        ],
    )
}

fn overview_traffic() -> Row {
    let top = |rule: &str| format!("topk(10, {})", in_site(rule));
    let total = |rule: &str| format!("sum({})", in_site(rule));
    let down = interfaces_down("ispmonitor_interface_up", "ispmonitor_interface_admin_up");
    row(
        "Interfaces and reachability",
        vec![
            bargauge(
                "Top 10 interfaces by utilisation",
                "percentunit",
                vec![
                    q(&top(RX_UTIL), "{{target}} {{interface}} in"),
                    q(&top(TX_UTIL), "{{target}} {{interface}} out"),
                ],
            )
            .range(0.0, 1.0)
            .thresholds(0.8, 0.95)
            .link_target(ROUTER_HEALTH, "Router health"),
            bargauge(
                "Top 10 targets by ICMP loss",
                "percentunit",
                vec![q(&top(ICMP_LOSS), "{{target}}")],
            )
            .range(0.0, 1.0)
            .thresholds(0.02, 0.2)
            .link_target(LATENCY, "Latency & loss"),
            timeseries(
                "Fleet traffic",
                "bps",
                vec![q(&total(RX_BITS), "in"), q(&total(TX_BITS), "out")],
            ),
            timeseries(
                "Interfaces down (administratively up)",
                "none",
                vec![q(&in_site(&down), "{{target}}")],
            ),
        ],
    )
}

pub fn overview() -> Board {
    Board {
        file: "overview.json",
        uid: "ispmonitor-overview",
        title: "ispmonitor / Overview",
        description:
            "Fleet state at a glance: targets up and down, alerts, busiest interfaces, loss.",
        vars: vec![site_var()],
        rows: vec![overview_fleet(), overview_alerts(), overview_traffic()],
    }
}

fn router_status() -> Row {
    let down = interfaces_down(
        &r("ispmonitor_interface_up"),
        &r("ispmonitor_interface_admin_up"),
    );
    let bgp_down = format!(
        "count by (target) ({} != 6)",
        r("ispmonitor_bgp_peer_state")
    );
    row(
        "Status",
        vec![
            stat("SNMP", "none", vec![q(&target_up("snmp"), "{{target}}")]).boolean("up", "down"),
            stat(
                "Uptime",
                "dtdurations",
                vec![q(&r("ispmonitor_snmp_uptime_seconds"), "{{target}}")],
            ),
            stat(
                "Interfaces down (administratively up)",
                "none",
                vec![q(&down, "{{target}}")],
            )
            .red_above_zero(),
            stat(
                "BGP peers not established",
                "none",
                vec![q(&bgp_down, "{{target}}")],
            )
            .red_above_zero(),
            table(
                "System",
                "none",
                vec![q(&r("ispmonitor_snmp_system_info"), "")],
            )
            .size(24, 5),
        ],
    )
}

fn router_traffic() -> Row {
    let each = "{{target}} {{interface}}";
    let packets = |metric: &str| rate(&r(metric));
    row(
        "Traffic",
        vec![
            timeseries("Received", "bps", vec![q(&r(RX_BITS), each)]),
            timeseries("Transmitted", "bps", vec![q(&r(TX_BITS), each)]),
            timeseries(
                "Utilisation of interface speed",
                "percentunit",
                vec![
                    q(&r(RX_UTIL), "{{target}} {{interface}} in"),
                    q(&r(TX_UTIL), "{{target}} {{interface}} out"),
                ],
            )
            .thresholds(0.8, 0.95),
            timeseries(
                "Packets",
                "pps",
                vec![
                    q(
                        &packets("ispmonitor_interface_receive_packets_total"),
                        "{{target}} {{interface}} in",
                    ),
                    q(
                        &packets("ispmonitor_interface_transmit_packets_total"),
                        "{{target}} {{interface}} out",
                    ),
                ],
            ),
            timeseries(
                "Errors",
                "pps",
                vec![q(&format!("{} > 0", r(IF_ERRORS)), each)],
            )
            .describe("Receive plus transmit errors per second; interfaces without any left out."),
            timeseries(
                "Discards",
                "pps",
                vec![q(&format!("{} > 0", r(IF_DISCARDS)), each)],
            )
            .describe(
                "Receive plus transmit discards per second; interfaces without any left out.",
            ),
        ],
    )
}

fn router_interfaces() -> Row {
    let admin_up = r("ispmonitor_interface_admin_up");
    let status = format!(
        "{} and on (target, interface) ({admin_up} == 1)",
        r("ispmonitor_interface_up")
    );
    let speed = format!("{} > 0", r("ispmonitor_interface_speed_bytes"));
    row(
        "Interfaces",
        vec![
            state_timeline(
                "Operational status (administratively up)",
                vec![q(&status, "{{target}} {{interface}}")],
            )
            .mappings(up_down_mappings()),
            table(
                "Interfaces",
                "none",
                vec![q(&r("ispmonitor_interface_info"), "")],
            )
            .size(12, 10),
            table("Interface speed", "Bps", vec![q(&speed, "")]).size(12, 10),
        ],
    )
}

fn router_system() -> Row {
    let storage = format!(
        "{} / ({} > 0)",
        r("ispmonitor_storage_used_bytes"),
        r("ispmonitor_storage_size_bytes")
    );
    let peers = "{{target}} {{peer}} AS{{remote_as}}";
    row(
        "CPU, memory, BGP",
        vec![
            timeseries(
                "CPU load",
                "percentunit",
                vec![q(&r("ispmonitor_cpu_load_ratio"), "{{target}} cpu {{cpu}}")],
            )
            .range(0.0, 1.0)
            .thresholds(0.8, 0.9),
            timeseries(
                "Storage used",
                "percentunit",
                vec![q(&storage, "{{target}} {{storage}}")],
            )
            .range(0.0, 1.0)
            .thresholds(0.8, 0.9),
            state_timeline("BGP peers", vec![q(&r("ispmonitor_bgp_peer_state"), peers)])
                .mappings(bgp_state_mappings()),
        ],
    )
}

/// Interface types of RouterOS that are one subscriber each (a BRAS has thousands): the poller
/// already leaves them out; the filter also keeps them out of data from older pollers.
const ROS_SUBSCRIBER_INTERFACES: &str = "pppoe-in|l2tp-in|pptp-in|sstp-in|ovpn-in";

/// `expr` (with `target` and `interface` labels) without the subscribers' dynamic interfaces.
fn ros_links_only(expr: &str) -> String {
    format!(
        "{expr} and on (target, interface) {}",
        r_with(
            "ispmonitor_routeros_interface_info",
            &format!("interface_type!~\"{ROS_SUBSCRIBER_INTERFACES}\"")
        )
    )
}

fn routeros_status() -> Row {
    let conntrack = format!(
        "{} / ({} > 0)",
        r("ispmonitor_routeros_firewall_connections"),
        r("ispmonitor_routeros_firewall_connections_max")
    );
    let memory_used = format!(
        "1 - {} / ({} > 0)",
        r("ispmonitor_routeros_memory_free_bytes"),
        r("ispmonitor_routeros_memory_total_bytes")
    );
    row(
        "RouterOS (MikroTik)",
        vec![
            stat(
                "RouterOS API",
                "none",
                vec![q(&target_up("routeros"), "{{target}}")],
            )
            .boolean("up", "down"),
            stat(
                "Uptime (RouterOS)",
                "dtdurations",
                vec![q(&r("ispmonitor_routeros_uptime_seconds"), "{{target}}")],
            ),
            stat(
                "PPPoE sessions",
                "none",
                vec![q(&r("ispmonitor_routeros_pppoe_sessions"), "{{target}}")],
            ),
            stat(
                "Connection tracking used",
                "percentunit",
                vec![q(&conntrack, "{{target}}")],
            )
            .thresholds(0.9, 0.98),
            table(
                "RouterOS system",
                "none",
                vec![q(&r("ispmonitor_routeros_system_info"), "")],
            )
            .size(24, 5),
            timeseries(
                "PPPoE sessions",
                "none",
                vec![q(&r("ispmonitor_routeros_pppoe_sessions"), "{{target}}")],
            )
            .describe(
                "Active PPPoE sessions (/ppp active, service pppoe). RouterosPppoeSessionsDropped \
                 fires when they fall more than 30 % below the last 30 minutes' maximum.",
            ),
            timeseries(
                "DHCP leases by status",
                "none",
                vec![q(
                    &r("ispmonitor_routeros_dhcp_leases"),
                    "{{target}} {{status}}",
                )],
            ),
            timeseries(
                "Connection tracking table used",
                "percentunit",
                vec![q(&conntrack, "{{target}}")],
            )
            .range(0.0, 1.0)
            .thresholds(0.9, 0.98)
            .describe("Tracked connections / max-entries; new connections are dropped at 100 %."),
            timeseries(
                "Tracked connections",
                "none",
                vec![
                    q(
                        &r("ispmonitor_routeros_firewall_connections"),
                        "{{target}} tracked",
                    ),
                    q(
                        &r("ispmonitor_routeros_firewall_connections_max"),
                        "{{target}} max",
                    ),
                ],
            ),
            timeseries(
                "CPU load (RouterOS)",
                "percentunit",
                vec![q(&r("ispmonitor_routeros_cpu_load_ratio"), "{{target}}")],
            )
            .range(0.0, 1.0)
            .thresholds(0.8, 0.9)
            .describe("cpu-load of /system resource: the average over all cores."),
            timeseries(
                "Memory used (RouterOS)",
                "percentunit",
                vec![q(&memory_used, "{{target}}")],
            )
            .range(0.0, 1.0)
            .thresholds(0.8, 0.9),
            timeseries(
                "Temperature",
                "celsius",
                vec![q(
                    &r("ispmonitor_routeros_temperature_celsius"),
                    "{{target}} {{sensor}}",
                )],
            )
            .thresholds(75.0, 90.0),
            timeseries(
                "Voltage",
                "volt",
                vec![q(
                    &r("ispmonitor_routeros_voltage_volts"),
                    "{{target}} {{sensor}}",
                )],
            ),
        ],
    )
}

fn routeros_interfaces() -> Row {
    let bits = |metric: &str| ros_links_only(&format!("8 * {}", rate(&r(metric))));
    let nonzero = |metric: &str| ros_links_only(&format!("{} > 0", rate(&r(metric))));
    let running = ros_links_only(&r("ispmonitor_routeros_interface_running"));
    let each = "{{target}} {{interface}}";
    row(
        "RouterOS (MikroTik) interfaces",
        vec![
            timeseries(
                "Received (RouterOS)",
                "bps",
                vec![q(
                    &bits("ispmonitor_routeros_interface_receive_bytes_total"),
                    each,
                )],
            )
            .describe(
                "Interfaces of /interface, subscriber tunnels (pppoe-in, l2tp-in...) left out.",
            ),
            timeseries(
                "Transmitted (RouterOS)",
                "bps",
                vec![q(
                    &bits("ispmonitor_routeros_interface_transmit_bytes_total"),
                    each,
                )],
            )
            .describe(
                "Interfaces of /interface, subscriber tunnels (pppoe-in, l2tp-in...) left out.",
            ),
            timeseries(
                "Errors and drops (RouterOS)",
                "pps",
                vec![
                    q(
                        &nonzero("ispmonitor_routeros_interface_receive_errors_total"),
                        "{{target}} {{interface}} rx errors",
                    ),
                    q(
                        &nonzero("ispmonitor_routeros_interface_transmit_errors_total"),
                        "{{target}} {{interface}} tx errors",
                    ),
                    q(
                        &nonzero("ispmonitor_routeros_interface_receive_drops_total"),
                        "{{target}} {{interface}} rx drops",
                    ),
                    q(
                        &nonzero("ispmonitor_routeros_interface_transmit_drops_total"),
                        "{{target}} {{interface}} tx drops",
                    ),
                ],
            )
            .describe("Per second; interfaces without any left out.")
            .size(24, 8),
            state_timeline("Running (RouterOS)", vec![q(&running, each)]).mappings(json!([
                {"type": "value", "options": {
                    "0": {"text": "not running", "color": "red", "index": 0},
                    "1": {"text": "running", "color": "green", "index": 1}
                }}
            ])),
        ],
    )
}

pub fn router_health() -> Board {
    Board {
        file: "router-health.json",
        uid: ROUTER_HEALTH,
        title: "ispmonitor / Router Health",
        description:
            "Per router: reachability, interface traffic in bits/s, errors and status, CPU, \
                      memory, BGP; for MikroTik routers polled by the RouterOS API, PPPoE \
                      sessions, DHCP leases, connection tracking, health sensors and interfaces.",
        vars: vec![
            site_var(),
            target_var(r#"ispmonitor_target_info{kind="router", site=~"$site"}"#),
        ],
        rows: vec![
            router_status(),
            router_traffic(),
            router_interfaces(),
            router_system(),
            routeros_status(),
            routeros_interfaces(),
        ],
    }
}

fn server_status() -> Row {
    let uptime = format!("time() - {}", r("ispmonitor_server_boot_time_seconds"));
    let reconnects = format!(
        "increase({}[1h])",
        r("ispmonitor_server_ssh_connections_total")
    );
    row(
        "Status",
        vec![
            stat("SSH", "none", vec![q(&target_up("ssh"), "{{target}}")]).boolean("up", "down"),
            stat("Uptime", "dtdurations", vec![q(&uptime, "{{target}}")]),
            stat(
                "CPUs",
                "none",
                vec![q(&r("ispmonitor_server_cpus"), "{{target}}")],
            ),
            stat("SSH reconnects", "none", vec![q(&reconnects, "{{target}}")])
                .describe("SSH connections opened in the last hour; more than one: reconnects."),
            table("System", "none", vec![q(&r("ispmonitor_server_info"), "")]).size(24, 5),
        ],
    )
}

fn server_cpu_memory() -> Row {
    let busy = rate(&r_with(
        "ispmonitor_server_cpu_seconds_total",
        "mode!=\"idle\"",
    ));
    let by_mode = format!(
        "{} / on (target) group_left () {}",
        sum_by("target, mode", &busy),
        r("ispmonitor_server_cpus")
    );
    let swap_used = format!(
        "{} - {}",
        r("ispmonitor_server_swap_total_bytes"),
        r("ispmonitor_server_swap_free_bytes")
    );
    row(
        "CPU and memory",
        vec![
            timeseries(
                "CPU utilisation",
                "percentunit",
                vec![q(&r(SERVER_CPU), "{{target}}")],
            )
            .range(0.0, 1.0)
            .thresholds(0.8, 0.9),
            timeseries(
                "CPU by mode",
                "percentunit",
                vec![q(&by_mode, "{{target}} {{mode}}")],
            ),
            timeseries(
                "Memory utilisation",
                "percentunit",
                vec![q(&r(SERVER_MEMORY), "{{target}}")],
            )
            .range(0.0, 1.0)
            .thresholds(0.75, 0.85),
            timeseries(
                "Memory and swap",
                "bytes",
                vec![
                    q(
                        &r("ispmonitor_server_memory_total_bytes"),
                        "{{target}} total",
                    ),
                    q(
                        &r("ispmonitor_server_memory_available_bytes"),
                        "{{target}} available",
                    ),
                    q(&swap_used, "{{target}} swap used"),
                ],
            ),
            timeseries(
                "Load average",
                "short",
                vec![
                    q(&r("ispmonitor_server_load1"), "{{target}} 1m"),
                    q(&r("ispmonitor_server_load5"), "{{target}} 5m"),
                    q(&r("ispmonitor_server_load15"), "{{target}} 15m"),
                ],
            )
            .size(24, 8),
        ],
    )
}

fn server_disks() -> Row {
    let avail = r("ispmonitor_server_filesystem_avail_bytes");
    let forecast = format!("predict_linear({avail}[6h], 86400)");
    let read = rate(&r("ispmonitor_server_disk_read_bytes_total"));
    let written = rate(&r("ispmonitor_server_disk_written_bytes_total"));
    row(
        "Disks",
        vec![
            bargauge(
                "Filesystem utilisation",
                "percentunit",
                vec![q(&r(FS_UTIL), "{{target}} {{mountpoint}}")],
            )
            .range(0.0, 1.0)
            .thresholds(0.8, 0.9),
            table("Filesystem space available", "bytes", vec![q(&avail, "")]),
            timeseries(
                "Disk I/O",
                "Bps",
                vec![
                    q(&read, "{{target}} {{device}} read"),
                    q(&written, "{{target}} {{device}} written"),
                ],
            ),
            timeseries(
                "Filesystem free in 24 h (linear forecast)",
                "bytes",
                vec![q(&forecast, "{{target}} {{mountpoint}}")],
            )
            .describe("Space left in 24 hours if the last 6 hours' trend goes on; below 0: full."),
        ],
    )
}

fn server_network() -> Row {
    let bits = |metric: &str| format!("8 * {}", rate(&r(metric)));
    let each = "{{target}} {{device}}";
    row(
        "Network",
        vec![
            timeseries(
                "Network received",
                "bps",
                vec![q(
                    &bits("ispmonitor_server_network_receive_bytes_total"),
                    each,
                )],
            ),
            timeseries(
                "Network transmitted",
                "bps",
                vec![q(
                    &bits("ispmonitor_server_network_transmit_bytes_total"),
                    each,
                )],
            ),
        ],
    )
}

pub fn server_health() -> Board {
    Board {
        file: "server-health.json",
        uid: SERVER_HEALTH,
        title: "ispmonitor / Server Health",
        description: "Per Linux server polled over SSH: CPU, memory, disks, load, network.",
        vars: vec![
            site_var(),
            target_var(r#"ispmonitor_target_info{kind="server", site=~"$site"}"#),
        ],
        rows: vec![
            server_status(),
            server_cpu_memory(),
            server_disks(),
            server_network(),
        ],
    }
}

fn icmp_loss_rtt() -> Row {
    let buckets = sum_by("le", &rate(&r("ispmonitor_icmp_rtt_seconds_bucket")));
    let per_target = |metric: &str| sum_by("target", &rate(&r(metric)));
    row(
        "Loss and round-trip time",
        vec![
            timeseries(
                "Packet loss",
                "percentunit",
                vec![q(&r(ICMP_LOSS), "{{target}}")],
            )
            .range(0.0, 1.0)
            .thresholds(0.02, 0.2),
            timeseries(
                "Round-trip time",
                "s",
                vec![
                    q(&r(RTT_P50), "{{target}} p50"),
                    q(&r(RTT_P99), "{{target}} p99"),
                ],
            ),
            heatmap(
                "Round-trip time distribution",
                "s",
                vec![q(&buckets, "{{le}}")],
            ),
            timeseries(
                "Echo requests and replies",
                "pps",
                vec![
                    q(
                        &per_target("ispmonitor_icmp_requests_total"),
                        "{{target}} sent",
                    ),
                    q(
                        &per_target("ispmonitor_icmp_replies_total"),
                        "{{target}} replies",
                    ),
                ],
            ),
        ],
    )
}

fn icmp_reachability() -> Row {
    row(
        "Reachability",
        vec![
            state_timeline(
                "ICMP reachability",
                vec![q(&target_up("icmp"), "{{target}}")],
            )
            .mappings(up_down_mappings()),
            table(
                "ICMP sockets",
                "none",
                vec![q("ispmonitor_icmp_socket_info", "")],
            )
            .describe("Socket kind per IP version: dgram (unprivileged), raw, or unavailable.")
            .size(24, 5),
        ],
    )
}

pub fn latency_loss() -> Board {
    Board {
        file: "latency-loss.json",
        uid: LATENCY,
        title: "ispmonitor / Latency & Loss",
        description: "ICMP packet loss and round-trip times per target.",
        vars: vec![
            site_var(),
            target_var(r#"ispmonitor_target_info{site=~"$site"}"#),
        ],
        rows: vec![icmp_loss_rtt(), icmp_reachability()],
    }
}

fn poller_polls() -> Row {
    let polls = sum_by("protocol, result", &rate(&i("ispmonitor_polls_total")));
    let errors = sum_by(
        "protocol, reason",
        &rate(&i("ispmonitor_poll_errors_total")),
    );
    let p50 = quantile(
        0.5,
        "protocol, le",
        &i("ispmonitor_poll_duration_seconds_bucket"),
    );
    let lag = quantile(
        0.99,
        "protocol, le",
        &i("ispmonitor_poll_schedule_lag_seconds_bucket"),
    );
    row(
        "Polls",
        vec![
            timeseries(
                "Polls by result",
                "ops",
                vec![q(&polls, "{{protocol}} {{result}}")],
            ),
            timeseries(
                "Poll errors by reason",
                "ops",
                vec![q(&errors, "{{protocol}} {{reason}}")],
            ),
            timeseries(
                "Poll duration",
                "s",
                vec![
                    q(POLL_P99, "{{protocol}} p99 (all pollers)"),
                    q(&p50, "{{protocol}} p50"),
                ],
            ),
            timeseries("Schedule lag (p99)", "s", vec![q(&lag, "{{protocol}}")])
                .describe("How late polls start against their plan: a growing lag means overload."),
        ],
    )
}

fn poller_saturation() -> Row {
    let running = sum_by("protocol", &i("ispmonitor_active_pollers"));
    let queued = sum_by("protocol", &i("ispmonitor_queued_polls"));
    let skipped = sum_by("protocol", &rate(&i("ispmonitor_polls_skipped_total")));
    let slowest = "topk(10, ispmonitor_target_poll_duration_seconds)";
    row(
        "Saturation",
        vec![
            timeseries(
                "Polls running and queued",
                "none",
                vec![
                    q(&running, "{{protocol}} running"),
                    q(&queued, "{{protocol}} queued"),
                ],
            ),
            timeseries("Polls skipped", "ops", vec![q(&skipped, "{{protocol}}")]).describe(
                "Planned polls skipped because the previous one or the wait ran past them.",
            ),
            table("Slowest targets (last poll)", "s", vec![q(slowest, "")])
                .link_target(ROUTER_HEALTH, "Router health"),
            table(
                "Failing targets",
                "none",
                vec![q("ispmonitor_target_poll_failure_reason == 1", "")],
            )
            .describe("The reason of each target's last failed poll."),
        ],
    )
}

fn poller_inventory() -> Row {
    let targets = sum_by("kind, source", &i("ispmonitor_inventory_targets"));
    let age = format!(
        "time() - {}",
        i("ispmonitor_inventory_last_sync_success_timestamp_seconds")
    );
    let invalid = format!("sum({})", i("ispmonitor_inventory_invalid_targets"));
    let failures = format!(
        "sum(increase({}[1h]))",
        i("ispmonitor_inventory_sync_failures_total")
    );
    let reload = i("ispmonitor_config_last_reload_successful");
    row(
        "Inventory, config, shards",
        vec![
            timeseries(
                "Targets by kind and source",
                "none",
                vec![q(&targets, "{{kind}} {{source}}")],
            ),
            stat("Config reload", "none", vec![q(&reload, "{{instance}}")]).boolean("ok", "failed"),
            stat("Inventory age", "s", vec![q(&age, "{{instance}}")]),
            stat(
                "Invalid inventory targets",
                "none",
                vec![q(&invalid, "invalid")],
            )
            .red_above_zero(),
            stat(
                "Inventory sync failures (1h)",
                "none",
                vec![q(&failures, "failures")],
            )
            .red_above_zero(),
            table(
                "Pollers",
                "none",
                vec![
                    q(&i("ispmonitor_shard_ordinal"), ""),
                    q(&i("ispmonitor_shard_total"), ""),
                    q(&i("ispmonitor_build_info"), ""),
                ],
            )
            .size(18, 5)
            .describe("One row per poller process: its shard and its build."),
        ],
    )
}

pub fn poller() -> Board {
    Board {
        file: "poller.json",
        uid: "ispmonitor-poller",
        title: "ispmonitor / Poller",
        description:
            "The poller itself: poll rates and results, durations, errors by reason, queue \
                      and skips, inventory and shards.",
        vars: vec![instance_var()],
        rows: vec![poller_polls(), poller_saturation(), poller_inventory()],
    }
}

const REQUESTS: &str = "ispmonitor_http_requests_total";
const REQUEST_BUCKETS: &str = "ispmonitor_http_request_duration_seconds_bucket";

fn api_requests() -> Row {
    let by_endpoint = sum_by("method, endpoint", &rate(&i(REQUESTS)));
    let by_status = sum_by("status", &rate(&i(REQUESTS)));
    let errors = rate(&i_with(REQUESTS, "status=~\"5..\""));
    let error_share = format!("(sum({errors}) or vector(0)) / sum({})", rate(&i(REQUESTS)));
    let client_errors = sum_by(
        "endpoint, status",
        &rate(&i_with(REQUESTS, "status=~\"4..\"")),
    );
    let in_flight = format!("sum({})", i("ispmonitor_http_requests_in_flight"));
    row(
        "Requests",
        vec![
            timeseries(
                "Requests by endpoint",
                "reqps",
                vec![q(&by_endpoint, "{{method}} {{endpoint}}")],
            ),
            timeseries(
                "Requests by status",
                "reqps",
                vec![q(&by_status, "{{status}}")],
            ),
            stat(
                "Server errors (5xx)",
                "percentunit",
                vec![q(&error_share, "5xx")],
            )
            .thresholds(0.01, 0.05)
            .describe("Share of answers with a 5xx status; HighErrorRate fires above 5 %."),
            stat(
                "Requests in flight",
                "none",
                vec![q(&in_flight, "in flight")],
            ),
            timeseries(
                "Client errors (4xx) by endpoint",
                "reqps",
                vec![q(&client_errors, "{{endpoint}} {{status}}")],
            )
            .describe("401 and 403 here mean clients with missing or wrong tokens."),
        ],
    )
}

fn api_latency() -> Row {
    let overall = |p: f64| quantile(p, "le", &i(REQUEST_BUCKETS));
    let by_endpoint = quantile(0.99, "method, endpoint, le", &i(REQUEST_BUCKETS));
    row(
        "Latency",
        vec![
            timeseries(
                "Latency percentiles",
                "s",
                vec![
                    q(&overall(0.5), "p50"),
                    q(&overall(0.9), "p90"),
                    q(&overall(0.99), "p99"),
                ],
            ),
            timeseries(
                "p99 latency by endpoint",
                "s",
                vec![q(&by_endpoint, "{{method}} {{endpoint}}")],
            ),
        ],
    )
}

fn api_database_alerts() -> Row {
    let connections = sum_by("state", &i("ispmonitor_db_connections"));
    let deleted = format!(
        "sum({})",
        rate(&i("ispmonitor_audit_entries_deleted_total"))
    );
    let webhook = sum_by("status", &rate(&i("ispmonitor_alerts_received_total")));
    row(
        "Database and alerts",
        vec![
            timeseries(
                "Database connections",
                "none",
                vec![q(&connections, "{{state}}")],
            ),
            timeseries("Audit entries deleted", "ops", vec![q(&deleted, "deleted")])
                .describe("Audit log entries removed for being older than api.audit_retention."),
            timeseries(
                "Alertmanager webhook notifications",
                "ops",
                vec![q(&webhook, "{{status}}")],
            )
            .describe("Alerts received on POST /api/v1/alerts/webhook, by status."),
        ],
    )
}

pub fn api() -> Board {
    Board {
        file: "api.json",
        uid: "ispmonitor-api",
        title: "ispmonitor / API",
        description:
            "The inventory API: request rate, latency percentiles, errors, database pool, \
                      webhook deliveries.",
        vars: vec![instance_var()],
        rows: vec![api_requests(), api_latency(), api_database_alerts()],
    }
}

fn license_state() -> Row {
    let valid = format!("min({})", i("ispmonitor_license_valid"));
    let state = format!("max by (state) ({}) == 1", i("ispmonitor_license_state"));
    let days = format!("min({})", i("ispmonitor_license_days_until_expiry"));
    let expires = format!(
        "1000 * min({})",
        i("ispmonitor_license_expiry_timestamp_seconds")
    );
    let info = sum_by("license_id, plan, customer", &i("ispmonitor_license_info"));
    row(
        "License",
        vec![
            stat("Valid", "none", vec![q(&valid, "valid")]).boolean("valid", "not valid"),
            stat("State", "none", vec![q(&state, "{{state}}")]).describe(
                "unlicensed, valid, grace, invalid, not_yet_valid, expired, revoked, \
                           validation_overdue.",
            ),
            stat("Days until expiry", "d", vec![q(&days, "days")])
                .thresholds_below(7.0, 30.0)
                .describe("LicenseExpiringSoon fires below 30 days."),
            stat("Expires", "dateTimeAsIso", vec![q(&expires, "expires")]),
            table("Installed license", "none", vec![q(&info, "")]).size(24, 4),
        ],
    )
}

fn license_usage() -> Row {
    let share = |used: &str, limit: &str| format!("max({}) / max({} > 0)", i(used), i(limit));
    let max = |metric: &str| format!("max({})", i(metric));
    let pairs = [
        (
            "routers",
            "ispmonitor_license_routers_used",
            "router",
            "ispmonitor_license_router_limit",
        ),
        (
            "servers",
            "ispmonitor_license_servers_used",
            "server",
            "ispmonitor_license_server_limit",
        ),
        (
            "users",
            "ispmonitor_license_users_used",
            "user",
            "ispmonitor_license_user_limit",
        ),
    ];
    let shares = pairs
        .iter()
        .map(|(name, used, _, limit)| q(&share(used, limit), name))
        .collect();
    let levels = pairs
        .iter()
        .flat_map(|(name, used, one, limit)| {
            [
                q(&max(used), &format!("{name} used")),
                q(&max(limit), &format!("{one} limit")),
            ]
        })
        .collect();
    row(
        "Usage against limits",
        vec![
            bargauge("Used share of the limits", "percentunit", shares)
                .range(0.0, 1.0)
                .thresholds(0.8, 0.95)
                .describe("Unlimited (-1) limits are left out."),
            timeseries("Used and limits", "none", levels).describe("-1 means unlimited."),
        ],
    )
}

pub fn license() -> Board {
    Board {
        file: "license.json",
        uid: "ispmonitor-license",
        title: "ispmonitor / License",
        description: "License state, expiry and usage of the router, server and user limits.",
        vars: vec![instance_var()],
        rows: vec![license_state(), license_usage()],
    }
}

/// Every dashboard, in the order of docs/dashboards.md.
pub fn boards() -> Vec<Board> {
    vec![
        overview(),
        router_health(),
        server_health(),
        latency_loss(),
        poller(),
        api(),
        license(),
    ]
}

/// The file text of a dashboard: pretty JSON with a trailing newline.
pub fn render(board: &Board) -> String {
    let mut text = serde_json::to_string_pretty(&board.to_json()).expect("dashboard JSON");
    text.push('\n');
    text
}
