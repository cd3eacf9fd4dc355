//! Grafana dashboards and rules as code: the committed JSON is what grafana/generate.rs makes, it
//! follows Grafana's dashboard schema, every metric it and rules/ name exists, the mixin bundle
//! builds, and end to end every panel query returns data from a real Prometheus scraping a
//! real poller of a degraded simulated fleet, an sshd-polled server and the API.

mod common;
#[path = "../grafana/generate.rs"]
mod generate;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::api::{self, Api};
use common::http;
use common::ispmonitor::{free_tcp_port, Ispmonitor};
use common::license as lic;
use common::postgres::TestDb;
use common::simulator::Simulator;
use common::sshd::{Sshd, SshdOptions, TEST_PASSWORD, TEST_USER};
use serde_json::Value;

/// Set to rewrite grafana/dashboards/*.json from the generator instead of comparing.
const WRITE_ENV: &str = "ISPMONITOR_WRITE_DASHBOARDS";

/// Alerts the degraded fleet of the end-to-end test must raise (pending or firing), when
/// rules/*.yml defines them: device 1 is down (TargetDown, RoutersOffline: 1 of 6 routers),
/// device 0's uplinks run at 97 % (InterfaceHighUtilisation), device 2 has a flapping port, and
/// the simulator keeps one BGP session in ten in `active`.
const EXPECTED_ALERTS: &[&str] = &[
    "TargetDown",
    "RoutersOffline",
    "InterfaceHighUtilisation",
    "InterfaceFlapping",
    "BgpPeerNotEstablished",
];

/// Panel queries that cannot return data in the end-to-end setup, and why. Matched against the
/// query text.
const NO_DATA_IN_E2E: &[(&str, &str)] = &[
    (
        "ispmonitor_alerts_active",
        "needs Alertmanager delivering to the API webhook (no Alertmanager in this test)",
    ),
    (
        "ispmonitor_alerts_received_total",
        "needs Alertmanager delivering to the API webhook (no Alertmanager in this test)",
    ),
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn dashboards_dir() -> PathBuf {
    root().join("grafana/dashboards")
}

/// Every committed dashboard: (file name, JSON).
fn committed_dashboards() -> Vec<(String, Value)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dashboards_dir())
        .expect("grafana/dashboards exists")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path).expect("read dashboard");
            let json = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
            (file_name(path), json)
        })
        .collect()
}

fn file_name(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}

/// The rules files: (path relative to the repository, parsed YAML).
fn rules_files() -> Vec<(String, Value)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("rules"))
        .expect("rules/ exists")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path).expect("read rules file");
            let yaml: Value = serde_saphyr::from_str(&text)
                .unwrap_or_else(|e| panic!("{} is not YAML: {e}", path.display()));
            (format!("rules/{}", file_name(path)), yaml)
        })
        .collect()
}

/// Every rule of every file: the rule objects (`record:` or `alert:` with `expr:`).
fn rules() -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for (file, yaml) in rules_files() {
        for group in yaml["groups"].as_array().cloned().unwrap_or_default() {
            for rule in group["rules"].as_array().cloned().unwrap_or_default() {
                out.push((file.clone(), rule));
            }
        }
    }
    out
}

fn recording_rule_names() -> BTreeSet<String> {
    rules()
        .iter()
        .filter_map(|(_, r)| r["record"].as_str().map(String::from))
        .collect()
}

fn alert_names() -> BTreeSet<String> {
    rules()
        .iter()
        .filter_map(|(_, r)| r["alert"].as_str().map(String::from))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Queries of a dashboard

/// One query somewhere in a dashboard: where it is, and its PromQL.
#[derive(Debug, Clone)]
struct DashQuery {
    place: String,
    expr: String,
}

/// Panels at top level and inside rows.
fn all_panels(dashboard: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for panel in dashboard["panels"].as_array().into_iter().flatten() {
        out.push(panel);
        out.extend(panel["panels"].as_array().into_iter().flatten());
    }
    out
}

/// Every panel target's expression, and every query variable's `label_values(selector,
/// label)` turned into the PromQL that returns the same label values.
fn queries(file: &str, dashboard: &Value) -> Vec<DashQuery> {
    let mut out = Vec::new();
    for panel in all_panels(dashboard) {
        for target in panel["targets"].as_array().into_iter().flatten() {
            out.push(DashQuery {
                place: format!(
                    "{file} panel {:?} target {}",
                    panel["title"].as_str().unwrap_or_default(),
                    target["refId"].as_str().unwrap_or("?")
                ),
                expr: target["expr"].as_str().unwrap_or_default().to_string(),
            });
        }
    }
    for var in dashboard["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if var["type"] != "query" {
            continue;
        }
        let text = var["query"]["query"]
            .as_str()
            .or(var["query"].as_str())
            .unwrap_or_default();
        let (selector, label) = parse_label_values(text).unwrap_or_else(|| {
            panic!(
                "{file} variable {}: not label_values(...): {text}",
                var["name"]
            )
        });
        out.push(DashQuery {
            place: format!("{file} variable {}", var["name"]),
            expr: format!("count by ({label}) ({selector})"),
        });
    }
    out
}

/// `label_values(selector, label)` -> (selector, label).
fn parse_label_values(text: &str) -> Option<(String, String)> {
    let inner = text
        .trim()
        .strip_prefix("label_values(")?
        .strip_suffix(')')?;
    let (selector, label) = inner.rsplit_once(',')?;
    Some((selector.trim().to_string(), label.trim().to_string()))
}

/// Grafana's variables replaced as a dashboard with every value chosen would: `$target` and the
/// other multi-value variables by `.*`, the interval variables by durations that hold several
/// scrapes of the test's 1 s interval.
fn substitute(expr: &str) -> String {
    let mut out = expr.to_string();
    for (var, value) in [
        ("$__rate_interval", "1m"),
        ("$__interval", "15s"),
        ("$__range", "5m"),
    ] {
        out = out.replace(var, value);
    }
    for var in ["target", "site", "instance"] {
        out = out.replace(&format!("${{{var}}}"), ".*");
        out = out.replace(&format!("${var}"), ".*");
    }
    assert!(
        !out.contains('$'),
        "a Grafana variable the test does not know in: {expr}"
    );
    out
}

// ---------------------------------------------------------------------------------------------
// Metric names in PromQL

/// PromQL words that are not metric names.
const PROMQL_WORDS: &[&str] = &[
    "and",
    "or",
    "unless",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "offset",
    "inf",
    "nan",
    "sum",
    "min",
    "max",
    "avg",
    "count",
    "stddev",
    "stdvar",
    "topk",
    "bottomk",
    "quantile",
    "count_values",
    "group",
];

/// Keywords followed by a parenthesised list of label names.
const LABEL_LIST_WORDS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

/// Drops string literals, label matchers `{...}` and ranges `[...]`.
fn strip_literals(expr: &str) -> String {
    let mut out = String::new();
    let mut chars = expr.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' | '\'' | '`' => {
                while let Some(n) = chars.next() {
                    if n == '\\' {
                        chars.next();
                    } else if n == c {
                        break;
                    }
                }
                out.push_str("\"\"");
            }
            '{' => {
                for n in chars.by_ref() {
                    if n == '}' {
                        break;
                    }
                }
                out.push_str("{}");
            }
            '[' => {
                for n in chars.by_ref() {
                    if n == ']' {
                        break;
                    }
                }
                out.push_str("[]");
            }
            _ => out.push(c),
        }
    }
    out
}

/// The metric names an expression reads: identifiers that are not functions (followed by `(`),
/// keywords, numbers, label names of `by (...)`-style lists.
fn metric_names(expr: &str) -> Vec<String> {
    let text = strip_literals(expr);
    let bytes = text.as_bytes();
    let mut names = Vec::new();
    let mut i = 0;
    let mut skip_label_list = false;
    while i < bytes.len() {
        let c = bytes[i] as char;
        if c.is_ascii_digit() || (c == '.' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit)) {
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'.') {
                i += 1;
            }
            continue;
        }
        if c.is_ascii_alphabetic() || c == '_' || c == ':' {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || b"_:".contains(&bytes[i]))
            {
                i += 1;
            }
            let word = &text[start..i];
            let next = text[i..].trim_start();
            if LABEL_LIST_WORDS.contains(&word) {
                skip_label_list = next.starts_with('(');
            } else if !PROMQL_WORDS.contains(&word) && !next.starts_with('(') {
                names.push(word.to_string());
            }
            continue;
        }
        if c == '(' && skip_label_list {
            while i < bytes.len() && bytes[i] != b')' {
                i += 1;
            }
            skip_label_list = false;
        }
        i += 1;
    }
    names
}

#[test]
fn metric_names_are_found_and_labels_are_not() {
    let names = metric_names(
        "sum by (target, le) (rate(ispmonitor_icmp_rtt_seconds_bucket{target=~\"a|b\"}[5m])) \
         / on (target) group_left () max(x:y:z) > 0.5 and 1e3 < bool foo",
    );
    assert_eq!(
        names,
        ["ispmonitor_icmp_rtt_seconds_bucket", "x:y:z", "foo"]
    );
}

/// Why `name` is not a known metric, or None when it is one.
fn unknown_metric(name: &str, recorded: &BTreeSet<String>) -> Option<String> {
    use ispmonitor::catalog::{MetricType, CATALOG};
    let in_catalogue = |n: &str| CATALOG.iter().any(|s| s.name == n);
    let histogram = |n: &str| {
        ["_bucket", "_sum", "_count"].iter().any(|suffix| {
            n.strip_suffix(suffix).is_some_and(|base| {
                CATALOG
                    .iter()
                    .any(|s| s.name == base && s.metric_type == MetricType::Histogram)
            })
        })
    };
    let prometheus_own = ["up", "ALERTS", "ALERTS_FOR_STATE"].contains(&name);
    let known = in_catalogue(name) || histogram(name) || recorded.contains(name) || prometheus_own;
    (!known).then(|| format!("{name} is not in ispmonitor::catalog::CATALOG nor a recording rule"))
}

#[test]
fn every_metric_named_in_rules_and_dashboards_exists() {
    let recorded = recording_rule_names();
    assert!(
        recorded.contains("target_interface:ispmonitor_interface_receive_bits:rate5m"),
        "the recording rules were not read: {recorded:?}"
    );
    let mut checked = 0;
    let mut problems = Vec::new();
    let mut check = |place: &str, expr: &str| {
        let names = metric_names(expr);
        assert!(
            !names.is_empty() || expr.contains("vector("),
            "{place}: no metric in {expr}"
        );
        for name in names {
            checked += 1;
            if let Some(problem) = unknown_metric(&name, &recorded) {
                problems.push(format!("{place}: {problem}"));
            }
        }
    };
    for (file, rule) in rules() {
        let name = rule["record"]
            .as_str()
            .or(rule["alert"].as_str())
            .unwrap_or("?");
        check(
            &format!("{file} rule {name}"),
            rule["expr"].as_str().unwrap_or_default(),
        );
    }
    for (file, dashboard) in committed_dashboards() {
        for query in queries(&file, &dashboard) {
            check(&query.place, &query.expr);
        }
    }
    assert!(checked > 100, "only {checked} metric names found");
    assert!(
        problems.is_empty(),
        "unknown metrics:\n{}",
        problems.join("\n")
    );
}

#[test]
fn an_unknown_metric_is_reported() {
    let recorded = recording_rule_names();
    assert!(unknown_metric("ispmonitor_target_up", &recorded).is_none());
    assert!(unknown_metric("ispmonitor_poll_duration_seconds_bucket", &recorded).is_none());
    assert!(unknown_metric("ispmonitor_target_up_bucket", &recorded).is_some());
    assert!(unknown_metric("ispmonitor_interface_receive_bytes", &recorded).is_some());
}

// ---------------------------------------------------------------------------------------------
// Generated JSON

#[test]
fn dashboards_are_generated() {
    let boards = generate::boards();
    let write = std::env::var_os(WRITE_ENV).is_some();
    let mut stale = Vec::new();
    for board in &boards {
        let path = dashboards_dir().join(board.file);
        let text = generate::render(board);
        if write {
            std::fs::create_dir_all(dashboards_dir()).expect("create grafana/dashboards");
            std::fs::write(&path, &text).expect("write dashboard");
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            stale.push(board.file);
        }
    }
    assert!(
        stale.is_empty(),
        "grafana/dashboards differs from grafana/generate.rs for {stale:?}: run \
         `{WRITE_ENV}=1 cargo test --test dashboards dashboards_are_generated`"
    );
    let generated: BTreeSet<String> = boards.iter().map(|b| b.file.to_string()).collect();
    let committed: BTreeSet<String> = committed_dashboards().into_iter().map(|(f, _)| f).collect();
    assert_eq!(
        committed, generated,
        "grafana/dashboards holds files the generator does not make"
    );
}

// ---------------------------------------------------------------------------------------------
// Grafana's dashboard schema

/// Panel plugin ids of the core visualisations the dashboards may use.
const PANEL_TYPES: &[&str] = &[
    "timeseries",
    "stat",
    "gauge",
    "table",
    "bargauge",
    "text",
    "row",
    "state-timeline",
    "piechart",
    "heatmap",
];

/// Unit ids from Grafana's packages/grafana-data/src/valueFormats/categories.ts (categories Misc,
/// Data, Data rate, Date & time, Time, Throughput; from Temperature and Energy the two the
/// RouterOS health panels use).
const UNITS: &[&str] = &[
    "none",
    "string",
    "short",
    "percent",
    "percentunit",
    "humidity",
    "dB",
    "hex0x",
    "hex",
    "sci",
    "locale",
    "pixel",
    "bits",
    "bytes",
    "kbytes",
    "mbytes",
    "gbytes",
    "tbytes",
    "pbytes",
    "decbits",
    "decbytes",
    "deckbytes",
    "decmbytes",
    "decgbytes",
    "dectbytes",
    "decpbytes",
    "pps",
    "bps",
    "Bps",
    "KBs",
    "Kbits",
    "MBs",
    "Mbits",
    "GBs",
    "Gbits",
    "TBs",
    "Tbits",
    "PBs",
    "Pbits",
    "dateTimeAsIso",
    "dateTimeAsIsoNoDateIfToday",
    "dateTimeAsUS",
    "dateTimeAsUSNoDateIfToday",
    "dateTimeFromNow",
    "hertz",
    "ns",
    "µs",
    "ms",
    "s",
    "m",
    "h",
    "d",
    "dtdurationms",
    "dtdurations",
    "dthms",
    "dtdhms",
    "timeticks",
    "clockms",
    "clocks",
    "cps",
    "ops",
    "reqps",
    "rps",
    "wps",
    "iops",
    "cpm",
    "opm",
    "rpm",
    "wpm",
    "celsius",
    "volt",
];

/// `#VariableType` of kinds/dashboard/dashboard_kind.cue.
const VARIABLE_TYPES: &[&str] = &[
    "query",
    "adhoc",
    "constant",
    "datasource",
    "interval",
    "textbox",
    "custom",
    "system",
];

/// Collects the problems of one dashboard.
struct Checker {
    file: String,
    problems: Vec<String>,
}

impl Checker {
    fn fail(&mut self, at: &str, what: impl std::fmt::Display) {
        self.problems.push(format!("{} {at}: {what}", self.file));
    }

    fn string(&mut self, v: &Value, at: &str, key: &str) {
        if !v[key].is_string() {
            self.fail(at, format!("`{key}` must be a string, is {}", v[key]));
        }
    }

    fn non_empty_string(&mut self, v: &Value, at: &str, key: &str) {
        if v[key].as_str().is_none_or(str::is_empty) {
            self.fail(
                at,
                format!("`{key}` must be a non-empty string, is {}", v[key]),
            );
        }
    }

    /// The fields of `v` (at `at`) to check one by one.
    fn at<'a>(&'a mut self, v: &'a Value, at: &'a str) -> Fields<'a> {
        Fields {
            checker: self,
            v,
            at,
        }
    }
}

/// One object of a dashboard under check.
struct Fields<'a> {
    checker: &'a mut Checker,
    v: &'a Value,
    at: &'a str,
}

impl Fields<'_> {
    /// `key` may be absent; when present it must satisfy `ok`.
    fn optional(&mut self, key: &str, what: &str, ok: impl Fn(&Value) -> bool) {
        if !self.v[key].is_null() {
            self.required(key, what, ok);
        }
    }

    fn required(&mut self, key: &str, what: &str, ok: impl Fn(&Value) -> bool) {
        if !ok(&self.v[key]) {
            let problem = format!("`{key}` must be {what}, is {}", self.v[key]);
            self.checker.fail(self.at, problem);
        }
    }
}

fn uint(v: &Value, max: u64) -> bool {
    v.as_u64().is_some_and(|n| n <= max)
}

fn one_of(v: &Value, allowed: &[&str]) -> bool {
    v.as_str().is_some_and(|s| allowed.contains(&s))
}

fn strings(v: &Value) -> bool {
    v.as_array().is_some_and(|a| a.iter().all(Value::is_string))
}

/// The dashboard's top level (the `spec` of the Dashboard kind).
fn check_dashboard(c: &mut Checker, d: &Value) {
    c.non_empty_string(d, "dashboard", "title");
    c.at(d, "dashboard")
        .required("uid", "1-40 characters of [A-Za-z0-9_-]", |v| {
            v.as_str().is_some_and(|s| {
                (1..=40).contains(&s.len())
                    && s.chars()
                        .all(|ch| ch.is_ascii_alphanumeric() || "-_".contains(ch))
            })
        });
    c.at(d, "dashboard")
        .required("schemaVersion", "a uint16", |v| uint(v, u16::MAX as u64));
    c.at(d, "dashboard")
        .optional("id", "an integer or null", Value::is_i64);
    c.at(d, "dashboard")
        .optional("tags", "a list of strings", strings);
    c.at(d, "dashboard")
        .optional("style", "light or dark", |v| one_of(v, &["light", "dark"]));
    c.at(d, "dashboard")
        .optional("timezone", "a string", Value::is_string);
    c.at(d, "dashboard")
        .optional("editable", "a bool", Value::is_boolean);
    c.at(d, "dashboard")
        .optional("graphTooltip", "0, 1 or 2", |v| uint(v, 2));
    c.at(d, "dashboard")
        .optional("refresh", "a string or false", |v| {
            v.is_string() || v == &Value::Bool(false)
        });
    c.at(d, "dashboard")
        .optional("fiscalYearStartMonth", "0-11", |v| uint(v, 11));
    c.at(d, "dashboard")
        .optional("liveNow", "a bool", Value::is_boolean);
    c.at(d, "dashboard")
        .optional("version", "a uint32", |v| uint(v, u32::MAX as u64));
    c.at(d, "dashboard")
        .required("time", "{from, to} strings", |t| {
            t["from"].is_string() && t["to"].is_string()
        });
    for (n, link) in d["links"].as_array().into_iter().flatten().enumerate() {
        let at = format!("links[{n}]");
        for key in ["title", "icon", "tooltip", "url"] {
            c.string(link, &at, key);
        }
        c.at(link, &at).required("type", "link or dashboards", |v| {
            one_of(v, &["link", "dashboards"])
        });
        c.at(link, &at)
            .required("tags", "a list of strings", strings);
        for key in ["asDropdown", "targetBlank", "includeVars", "keepTime"] {
            c.at(link, &at).optional(key, "a bool", Value::is_boolean);
        }
    }
    for (n, a) in d["annotations"]["list"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let at = format!("annotations.list[{n}]");
        c.string(a, &at, "name");
        c.string(a, &at, "iconColor");
        c.at(a, &at)
            .required("datasource", "an object {type?, uid?}", Value::is_object);
        c.at(a, &at).optional("enable", "a bool", Value::is_boolean);
        c.at(a, &at).optional("hide", "a bool", Value::is_boolean);
    }
}

/// `templating.list[]` (`#VariableModel`).
fn check_variables(c: &mut Checker, d: &Value) {
    let mut names = BTreeSet::new();
    for (n, var) in d["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let at = format!("templating.list[{n}]");
        c.non_empty_string(var, &at, "name");
        c.at(var, &at)
            .required("type", "a #VariableType", |v| one_of(v, VARIABLE_TYPES));
        c.at(var, &at).optional("hide", "0, 1 or 2", |v| uint(v, 2));
        c.at(var, &at)
            .optional("query", "a string or an object", |v| {
                v.is_string() || v.is_object()
            });
        c.at(var, &at)
            .optional("datasource", "an object {type?, uid?}", Value::is_object);
        c.at(var, &at)
            .optional("label", "a string", Value::is_string);
        c.at(var, &at)
            .optional("skipUrlSync", "a bool", Value::is_boolean);
        if !names.insert(var["name"].to_string()) {
            c.fail(&at, format!("variable {} defined twice", var["name"]));
        }
    }
}

/// `#GridPos`: h > 0, 0 < w <= 24, 0 <= x < 24, y >= 0; and the panel fits the 24 columns.
fn check_grid_pos(c: &mut Checker, at: &str, g: &Value) {
    let field = |k: &str| g[k].as_u64();
    match (field("h"), field("w"), field("x"), field("y")) {
        (Some(h), Some(w), Some(x), Some(_))
            if h > 0 && w > 0 && w <= 24 && x < 24 && x + w <= 24 => {}
        _ => c.fail(
            at,
            format!("gridPos must have h > 0, 0 < w <= 24, 0 <= x < 24, x + w <= 24, y >= 0: {g}"),
        ),
    }
}

/// `#FieldConfig` defaults of a panel.
fn check_field_config(c: &mut Checker, at: &str, p: &Value) {
    let fc = &p["fieldConfig"];
    if !fc["defaults"].is_object() || !fc["overrides"].is_array() {
        c.fail(
            at,
            "fieldConfig must have `defaults` (object) and `overrides` (list)",
        );
        return;
    }
    let defaults = &fc["defaults"];
    c.at(defaults, at)
        .optional("unit", "a Grafana unit id", |v| one_of(v, UNITS));
    c.at(defaults, at)
        .optional("min", "a number", Value::is_number);
    c.at(defaults, at)
        .optional("max", "a number", Value::is_number);
    c.at(defaults, at)
        .optional("color", "{mode: string}", |v| v["mode"].is_string());
    c.at(defaults, at).optional(
        "thresholds",
        "{mode: absolute|percentage, steps: [{color, value}]}",
        |t| {
            one_of(&t["mode"], &["absolute", "percentage"])
                && t["steps"].as_array().is_some_and(|steps| {
                    steps.iter().enumerate().all(|(n, s)| {
                        s["color"].is_string()
                            && (s["value"].is_number() || (n == 0 && s["value"].is_null()))
                    })
                })
        },
    );
    c.at(defaults, at).optional(
        "mappings",
        "a list of value/range/regex/special mappings",
        |m| {
            m.as_array().is_some_and(|list| {
                list.iter().all(|x| {
                    one_of(&x["type"], &["value", "range", "regex", "special"])
                        && x["options"].is_object()
                })
            })
        },
    );
}

/// A panel that is not a row (`#Panel`), with its targets.
fn check_panel(c: &mut Checker, p: &Value) {
    let at = format!(
        "panel {} {:?}",
        p["id"],
        p["title"].as_str().unwrap_or_default()
    );
    c.at(p, &at)
        .required("type", "a core panel type", |v| one_of(v, PANEL_TYPES));
    c.at(p, &at)
        .required("id", "a uint32", |v| uint(v, u32::MAX as u64));
    c.string(p, &at, "title");
    c.at(p, &at)
        .optional("description", "a string", Value::is_string);
    c.at(p, &at)
        .optional("transparent", "a bool", Value::is_boolean);
    c.at(p, &at)
        .required("options", "an object", Value::is_object);
    c.at(p, &at)
        .required("transformations", "a list of {id, options}", |v| {
            v.as_array()
                .is_some_and(|l| l.iter().all(|t| t["id"].is_string()))
        });
    check_grid_pos(c, &at, &p["gridPos"]);
    check_field_config(c, &at, p);
    let expected_ds = serde_json::json!({"type": "prometheus", "uid": "${datasource}"});
    if p["type"] == "text" {
        return;
    }
    if p["datasource"] != expected_ds {
        c.fail(
            &at,
            format!("datasource must be {expected_ds}, is {}", p["datasource"]),
        );
    }
    let targets = p["targets"].as_array().cloned().unwrap_or_default();
    if targets.is_empty() {
        c.fail(&at, "no targets");
    }
    let mut ref_ids = BTreeSet::new();
    for t in &targets {
        c.non_empty_string(t, &at, "refId");
        c.non_empty_string(t, &at, "expr");
        if t["datasource"] != expected_ds {
            c.fail(
                &at,
                format!(
                    "target datasource must be {expected_ds}, is {}",
                    t["datasource"]
                ),
            );
        }
        if !ref_ids.insert(t["refId"].to_string()) {
            c.fail(&at, format!("refId {} twice", t["refId"]));
        }
    }
}

/// `#RowPanel`: collapsed, id, panels (checked like top-level panels).
fn check_row(c: &mut Checker, p: &Value) {
    let at = format!(
        "row {} {:?}",
        p["id"],
        p["title"].as_str().unwrap_or_default()
    );
    c.at(p, &at)
        .required("id", "a uint32", |v| uint(v, u32::MAX as u64));
    c.at(p, &at)
        .required("collapsed", "a bool", Value::is_boolean);
    c.at(p, &at).required("panels", "a list", Value::is_array);
    c.at(p, &at).optional("title", "a string", Value::is_string);
    check_grid_pos(c, &at, &p["gridPos"]);
    for inner in p["panels"].as_array().into_iter().flatten() {
        check_panel(c, inner);
    }
}

/// Panel ids unique, and no two panels on the same grid cells.
fn check_layout(c: &mut Checker, d: &Value) {
    let mut ids = BTreeSet::new();
    let mut cells: BTreeMap<(u64, u64), String> = BTreeMap::new();
    for p in all_panels(d) {
        let title = p["title"].as_str().unwrap_or_default().to_string();
        if !ids.insert(p["id"].to_string()) {
            c.fail("panels", format!("id {} used twice", p["id"]));
        }
        let g = &p["gridPos"];
        let (Some(x), Some(y), Some(w), Some(h)) = (
            g["x"].as_u64(),
            g["y"].as_u64(),
            g["w"].as_u64(),
            g["h"].as_u64(),
        ) else {
            continue;
        };
        for cx in x..x + w {
            for cy in y..y + h {
                if let Some(other) = cells.insert((cx, cy), title.clone()) {
                    c.fail(
                        "panels",
                        format!("{title:?} overlaps {other:?} at x={cx} y={cy}"),
                    );
                    return;
                }
            }
        }
    }
}

/// What this project asks beyond the schema: the datasource variable, no import placeholders,
/// stable uids, a current schemaVersion.
fn check_conventions(c: &mut Checker, d: &Value) {
    let text = d.to_string();
    if text.contains("DS_PROMETHEUS") || d.get("__inputs").is_some() {
        c.fail(
            "dashboard",
            "uses ${DS_PROMETHEUS}/__inputs; use the `datasource` variable",
        );
    }
    let first = &d["templating"]["list"][0];
    if first["name"] != "datasource"
        || first["type"] != "datasource"
        || first["query"] != "prometheus"
    {
        let problem = format!("the first variable must be `datasource` (prometheus): {first}");
        c.fail("templating", problem);
    }
    if !d["uid"]
        .as_str()
        .is_some_and(|u| u.starts_with("ispmonitor-"))
    {
        c.fail(
            "dashboard",
            format!("uid {} must start with ispmonitor-", d["uid"]),
        );
    }
    if d["schemaVersion"] != generate::SCHEMA_VERSION {
        c.fail(
            "dashboard",
            format!(
                "schemaVersion {} is not {}",
                d["schemaVersion"],
                generate::SCHEMA_VERSION
            ),
        );
    }
    if !d["tags"]
        .as_array()
        .is_some_and(|t| t.contains(&Value::from(generate::TAG)))
    {
        c.fail(
            "dashboard",
            "no `ispmonitor` tag: the dashboard links would not list it",
        );
    }
}

fn schema_problems(file: &str, d: &Value) -> Vec<String> {
    let mut c = Checker {
        file: file.to_string(),
        problems: Vec::new(),
    };
    check_dashboard(&mut c, d);
    check_variables(&mut c, d);
    match d["panels"].as_array() {
        Some(panels) if !panels.is_empty() => {
            for p in panels {
                if p["type"] == "row" {
                    check_row(&mut c, p);
                } else {
                    check_panel(&mut c, p);
                }
            }
        }
        _ => c.fail("dashboard", "no panels"),
    }
    check_layout(&mut c, d);
    check_conventions(&mut c, d);
    c.problems
}

#[test]
fn dashboards_follow_grafanas_dashboard_schema() {
    let dashboards = committed_dashboards();
    let uids: BTreeSet<String> = dashboards
        .iter()
        .map(|(_, d)| d["uid"].to_string())
        .collect();
    assert_eq!(
        uids.len(),
        dashboards.len(),
        "dashboard uids must be unique"
    );
    let expected = [
        "Overview",
        "Router Health",
        "Server Health",
        "Latency & Loss",
        "Poller",
        "API",
        "License",
    ];
    for title in expected {
        assert!(
            dashboards
                .iter()
                .any(|(_, d)| d["title"].as_str().is_some_and(|t| t.ends_with(title))),
            "no {title} dashboard"
        );
    }
    let problems: Vec<String> = dashboards
        .iter()
        .flat_map(|(file, d)| schema_problems(file, d))
        .collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// What a broken dashboard's problem mentions, and how to break it.
type Breakage = (&'static str, fn(&mut Value));

#[test]
fn the_schema_check_finds_broken_dashboards() {
    let (file, good) = committed_dashboards().remove(0);
    assert!(schema_problems(&file, &good).is_empty());
    let breakages: [Breakage; 7] = [
        ("unit", |d| {
            d["panels"][1]["fieldConfig"]["defaults"]["unit"] = "bits/s".into()
        }),
        ("gridPos", |d| d["panels"][1]["gridPos"]["w"] = 25.into()),
        ("type", |d| d["panels"][1]["type"] = "graph-ng".into()),
        ("expr", |d| d["panels"][1]["targets"][0]["expr"] = "".into()),
        ("DS_PROMETHEUS", |d| {
            d["panels"][1]["datasource"]["uid"] = "${DS_PROMETHEUS}".into()
        }),
        ("#VariableType", |d| {
            d["templating"]["list"][1]["type"] = "dropdown".into()
        }),
        ("overlaps", |d| {
            d["panels"][2]["gridPos"] = d["panels"][1]["gridPos"].clone()
        }),
    ];
    for (needle, breakage) in breakages {
        let mut broken = good.clone();
        breakage(&mut broken);
        let problems = schema_problems(&file, &broken);
        assert!(
            problems.iter().any(|p| p.contains(needle)),
            "breaking {needle} went unnoticed: {problems:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Provisioning and the mixin bundle

fn yaml_file(path: &str) -> Value {
    let text = std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{path} is not YAML: {e}"))
}

#[test]
fn provisioning_files_describe_a_prometheus_datasource_and_a_file_provider() {
    let ds = yaml_file("grafana/provisioning/datasources/prometheus.yml");
    assert_eq!(ds["apiVersion"], 1);
    let source = &ds["datasources"][0];
    assert_eq!(source["type"], "prometheus", "{ds}");
    assert!(
        source["url"]
            .as_str()
            .is_some_and(|u| u.starts_with("http")),
        "{ds}"
    );
    let providers = yaml_file("grafana/provisioning/dashboards/ispmonitor.yml");
    assert_eq!(providers["apiVersion"], 1);
    let provider = &providers["providers"][0];
    assert_eq!(provider["type"], "file", "{providers}");
    let path = provider["options"]["path"].as_str().expect("options.path");
    let docs =
        std::fs::read_to_string(root().join("docs/dashboards.md")).expect("docs/dashboards.md");
    assert!(
        docs.contains(path),
        "docs/dashboards.md does not say where to mount {path}"
    );
}

#[test]
fn the_mixin_bundle_holds_every_rule_group_and_dashboard() {
    let out = tempfile::tempdir().unwrap();
    let build = Command::new("bash")
        .arg(root().join("scripts/build-mixin.sh"))
        .arg(out.path())
        .output()
        .expect("run bash");
    assert!(
        build.status.success(),
        "build-mixin.sh: {}",
        String::from_utf8_lossy(&build.stderr)
    );
    let alerts = out.path().join("prometheus_alerts.yaml");
    let records = out.path().join("prometheus_rules.yaml");
    let check = Command::new("promtool")
        .args(["check", "rules"])
        .args([&alerts, &records])
        .output()
        .expect("promtool is installed by scripts/install-peers.sh");
    assert!(
        check.status.success(),
        "promtool check rules: {}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    let groups = |path: &Path| -> Vec<Value> {
        let text = std::fs::read_to_string(path).unwrap();
        let yaml: Value = serde_saphyr::from_str(&text).unwrap();
        yaml["groups"].as_array().cloned().unwrap_or_default()
    };
    let bundled_alerts = groups(&alerts);
    let bundled_records = groups(&records);
    assert!(
        bundled_alerts.iter().all(|g| g["rules"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["alert"].is_string())),
        "a recording-only group went to prometheus_alerts.yaml"
    );
    let mut bundled: Vec<Value> = bundled_alerts.into_iter().chain(bundled_records).collect();
    let mut sources: Vec<Value> = rules_files()
        .into_iter()
        .flat_map(|(_, y)| y["groups"].as_array().cloned().unwrap_or_default())
        .collect();
    let by_name = |a: &Value, b: &Value| a["name"].to_string().cmp(&b["name"].to_string());
    bundled.sort_by(by_name);
    sources.sort_by(by_name);
    assert!(!sources.is_empty());
    assert_eq!(
        bundled, sources,
        "the bundle's rule groups differ from rules/*.yml"
    );
    for (file, dashboard) in committed_dashboards() {
        let copy = std::fs::read_to_string(out.path().join("dashboards").join(&file))
            .unwrap_or_else(|e| panic!("{file} is not in the bundle: {e}"));
        assert_eq!(
            serde_json::from_str::<Value>(&copy).unwrap(),
            dashboard,
            "{file}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// End to end: every panel query against a real Prometheus

/// A real Prometheus on a free port, killed on drop.
struct Prometheus {
    child: Child,
    addr: String,
    dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The 5-minute windows of rules/*.yml shortened for [`Prometheus::start_short_windows`].
const SHORT_WINDOW: &str = "[20s]";

impl Prometheus {
    /// Scrapes `target` every second and evaluates rules/*.yml as they are every second.
    fn start(target: &str) -> Prometheus {
        let files = rule_paths()
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        Prometheus::start_with_rules(target, files)
    }

    /// As `start`, with every `[5m]` window of the rules shortened to [`SHORT_WINDOW`]. rate()
    /// divides by the whole window: with a minute of data, a 5-minute rate is a fifth of the
    /// real one, and a 97 % saturated link would show 20 %. Thresholds need the real rate.
    fn start_short_windows(target: &str, dir: &Path) -> Prometheus {
        let files = rule_paths()
            .iter()
            .map(|path| {
                let text = std::fs::read_to_string(path).unwrap();
                let copy = dir.join(file_name(path));
                std::fs::write(&copy, text.replace("[5m]", SHORT_WINDOW)).unwrap();
                copy.display().to_string()
            })
            .collect();
        Prometheus::start_with_rules(target, files)
    }

    fn start_with_rules(target: &str, rule_files: Vec<String>) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        let rule_files: Vec<String> = rule_files.iter().map(|f| format!("'{f}'")).collect();
        let config = dir.path().join("prometheus.yml");
        let yaml = format!(
            "global: {{scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s}}\n\
             rule_files: [{}]\n\
             scrape_configs:\n\
             \x20 - job_name: ispmonitor\n\
             \x20   static_configs: [{{targets: ['{target}']}}]\n",
            rule_files.join(", ")
        );
        std::fs::write(&config, yaml).unwrap();
        let addr = format!("127.0.0.1:{}", free_tcp_port());
        let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("prometheus is installed by scripts/install-peers.sh");
        Prometheus { child, addr, dir }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }

    /// An instant query: the result list, or the error Prometheus gave.
    fn query(&self, promql: &str) -> Result<Vec<Value>, String> {
        let path = format!(
            "/api/v1/query?query={}",
            form_urlencoded::byte_serialize(promql.as_bytes()).collect::<String>()
        );
        let answer = http::get(&self.addr, &path).map_err(|e| e.to_string())?;
        let body: Value = serde_json::from_slice(&answer.body).map_err(|e| e.to_string())?;
        if body["status"] != "success" {
            return Err(format!("{}: {}", answer.status, body["error"]));
        }
        Ok(body["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default())
    }

    /// `/api/v1/alerts`: (alertname, state) of every pending or firing alert.
    fn alerts(&self) -> BTreeSet<(String, String)> {
        let Ok(answer) = http::get(&self.addr, "/api/v1/alerts") else {
            return BTreeSet::new();
        };
        let body: Value = serde_json::from_slice(&answer.body).unwrap_or_default();
        body["data"]["alerts"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| {
                (
                    a["labels"]["alertname"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    a["state"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }
}

/// rules/*.yml, as Prometheus loads them.
fn rule_paths() -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(root().join("rules"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    paths.sort();
    paths
}

/// Everything the end-to-end test runs; dropped (killed) together.
struct Fleet {
    _db: TestDb,
    _sshd: Sshd,
    sim: Simulator,
    server: Ispmonitor,
    api: Api,
    anonymous: Api,
    _dir: tempfile::TempDir,
}

/// Six simulated routers (device 0 saturated, 1 down, 2 flapping every 1.5 s, 3 a MikroTik also
/// polled over its API), the test sshd as
/// a server, loopback pinged, and `serve` with its API on a fresh database holding a license.
fn start_fleet() -> Fleet {
    let db = TestDb::new();
    api::migrate(&db.url());
    lic::store_license(&db, &lic::payload("LIC-E2E-DASHBOARDS", "pro", Some(100)));
    let sshd = Sshd::start(SshdOptions::default());
    let sim = Simulator::start(
        6,
        &[
            "--write-config.interval",
            "1s",
            "--write-config.timeout",
            "900ms",
            // Polled over SNMP and, as `<name>-api`, over the RouterOS API.
            "--mikrotik-devices",
            "3",
        ],
    );
    let (status, body) = sim.put_scenario(
        r#"{"name": "flapping-interface", "devices": [2], "period_ms": 1500,
            "overrides": {"0": "link-saturation", "1": "router-down"}}"#,
    );
    assert_eq!(status, 200, "PUT /scenario: {body}");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ispmonitor.yaml");
    std::fs::write(&config, fleet_config(&sim, &sshd)).unwrap();
    let url = db.url();
    let server = Ispmonitor::start_with_env(
        &config,
        &[],
        &[
            ("ISPMONITOR_DATABASE_URL", &url),
            ("ISPMONITOR_SECRET_KEY", api::SECRET_KEY),
        ],
    );
    let token = api::create_token(&url, "viewer", "dashboards-e2e");
    Fleet {
        api: Api::new(&server.api_addr, Some(&token)),
        anonymous: Api::new(&server.api_addr, None),
        _db: db,
        _sshd: sshd,
        sim,
        server,
        _dir: dir,
    }
}

/// The simulator's generated config plus an SSH server, an ICMP host and the license key.
fn fleet_config(sim: &Simulator, sshd: &Sshd) -> String {
    let generated = std::fs::read_to_string(&sim.config).expect("the simulator's config");
    assert!(generated.contains("\ncredentials:\n") && generated.contains("\ntargets:\n"));
    let credential = format!(
        "credentials:\n  e2e-ssh: {{type: ssh, username: {TEST_USER}, \
         password: \"{TEST_PASSWORD}\", host_key: \"{}\"}}\n",
        sshd.host_key()
    );
    // The generated file ends with its target list: more targets go below, then more sections.
    let mut config = generated.replacen("credentials:\n", &credential, 1);
    config.push_str(&format!(
        "  - {{name: e2e-server, address: \"127.0.0.1:{}\", kind: server, modules: [linux], \
         credential: e2e-ssh, labels: {{site: lab}}}}\n",
        sshd.port
    ));
    config.push_str(
        "  - {name: e2e-ping, address: \"127.0.0.1\", kind: host, modules: [ping], \
         labels: {site: lab}}\n",
    );
    config.push_str(&format!("modules:\n  ping: {}\n", lic::PING_MODULE));
    config.push_str(&lic::license_section(None));
    config
}

impl Fleet {
    /// Some API traffic: authorised reads and refused anonymous ones.
    fn api_traffic(&self) {
        for _ in 0..3 {
            let ok = self.api.get("/api/v1/devices");
            assert_eq!(ok.status, 200, "GET /api/v1/devices: {}", ok.text());
            let refused = self.anonymous.get("/api/v1/devices");
            assert_eq!(refused.status, 401);
        }
    }
}

/// Queries without data (or failing).
fn without_data(prom: &Prometheus, queries: &[DashQuery]) -> Vec<String> {
    let mut out = Vec::new();
    for query in queries {
        let promql = substitute(&query.expr);
        match prom.query(&promql) {
            Ok(result) if !result.is_empty() => {}
            Ok(_) => out.push(format!("{}: no data for {promql}", query.place)),
            Err(e) => out.push(format!("{}: {promql} failed: {e}", query.place)),
        }
    }
    out
}

/// Expected alerts neither pending nor firing.
fn not_raised(prom: &Prometheus, alerts: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    let raised = prom.alerts();
    for name in alerts {
        if !raised
            .iter()
            .any(|(n, state)| n == name && (state == "pending" || state == "firing"))
        {
            out.push(format!(
                "alert {name} is neither pending nor firing (raised: {raised:?})"
            ));
        }
    }
    out
}

/// Every dashboard query, split into those that must return data and the listed exceptions.
fn e2e_queries(alerting_rules: bool) -> (Vec<DashQuery>, Vec<(DashQuery, &'static str)>) {
    let mut must = Vec::new();
    let mut excused = Vec::new();
    for (file, dashboard) in committed_dashboards() {
        for query in queries(&file, &dashboard) {
            let exception = NO_DATA_IN_E2E
                .iter()
                .find(|(needle, _)| query.expr.contains(needle))
                .map(|(_, why)| *why);
            let alerts_only =
                !alerting_rules && query.expr.contains("ALERTS") && !query.expr.contains("vector(");
            match exception {
                Some(why) => excused.push((query, why)),
                None if alerts_only => excused.push((query, "no alerting rules in rules/ yet")),
                None => must.push(query),
            }
        }
    }
    (must, excused)
}

#[test]
fn every_dashboard_query_returns_data_from_a_real_prometheus() {
    let started = Instant::now();
    let defined = alert_names();
    let expected: Vec<&str> = EXPECTED_ALERTS
        .iter()
        .copied()
        .filter(|a| defined.contains(*a))
        .collect();
    let (must, excused) = e2e_queries(!defined.is_empty());
    assert!(must.len() > 80, "only {} queries to check", must.len());
    for (query, why) in &excused {
        eprintln!("not checked: {}: {why}", query.place);
    }
    if expected.len() < EXPECTED_ALERTS.len() {
        eprintln!(
            "alerts not defined in rules/ yet, not checked: {:?}",
            EXPECTED_ALERTS
                .iter()
                .filter(|a| !expected.contains(a))
                .collect::<Vec<_>>()
        );
    }

    let fleet = start_fleet();
    // One Prometheus with the rules as they ship answers the dashboards; a second one, scraping
    // the same poller, evaluates the alerts on real rates (see `start_short_windows`).
    let prom = Prometheus::start(&fleet.server.addr);
    let short_rules = tempfile::tempdir().unwrap();
    let alerting = Prometheus::start_short_windows(&fleet.server.addr, short_rules.path());
    let deadline = started + Duration::from_secs(80);
    let mut left = vec!["nothing checked yet".to_string()];
    while Instant::now() < deadline {
        fleet.api_traffic();
        left = without_data(&prom, &must);
        left.extend(not_raised(&alerting, &expected));
        if left.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_secs(2));
    }
    assert!(
        left.is_empty(),
        "after {:?}, {} of {} queries or alerts are missing:\n{}\n\nprometheus log:\n{}\n\n\
         poller log tail:\n{}\n\nsimulator: {:?}",
        started.elapsed(),
        left.len(),
        must.len() + expected.len(),
        left.join("\n"),
        tail(&prom.log(), 20),
        tail(&fleet.server.stderr_now(), 30),
        fleet.sim.devices,
    );
    eprintln!(
        "{} queries returned data and {} alerts were raised after {:?}",
        must.len(),
        expected.len(),
        started.elapsed()
    );
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
