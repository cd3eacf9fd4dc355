//! The Alertmanager webhook end to end, against the real binary and PostgreSQL: a realistic
//! delivery (firing, then resolved) written to the alert history, repeated deliveries that
//! change nothing, the list filters and paging, 401/403/422, the `ispmonitor_alerts_*` metrics,
//! and a real Alertmanager (Debian's 0.25) delivering to the API with a bearer credentials file.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use common::api::{self, Api};
use common::http::{self, Response};
use common::ispmonitor::{free_tcp_port, sample_value, Ispmonitor};
use common::postgres::TestDb;
use serde_json::{json, Value};

const CONFIG: &str = "tests/fixtures/api/no_rate_limit.yaml";
const WEBHOOK: &str = "/api/v1/alerts/webhook";
const TEN_SECONDS: Duration = Duration::from_secs(10);

/// The server on a fresh database, with an operator (Alertmanager's) and a viewer token. The
/// server is declared first so it stops before the database is dropped.
struct Env {
    server: Ispmonitor,
    db: TestDb,
    operator: Api,
    viewer: Api,
}

impl Env {
    fn start() -> Env {
        let db = TestDb::new();
        let url = db.url();
        let server = Ispmonitor::start_with_env(
            Path::new(CONFIG),
            &["--migrate"],
            &[
                ("ISPMONITOR_DATABASE_URL", &url),
                ("ISPMONITOR_SECRET_KEY", api::SECRET_KEY),
            ],
        );
        let operator = api::create_token(&url, "operator", "alertmanager");
        let viewer = api::create_token(&url, "viewer", "noc");
        Env {
            operator: Api::new(&server.api_addr, Some(&operator)),
            viewer: Api::new(&server.api_addr, Some(&viewer)),
            server,
            db,
        }
    }

    /// Delivers `payload` as Alertmanager does and returns the receipt.
    fn deliver(&self, payload: &Value) -> Value {
        let r = self.operator.post(WEBHOOK, payload);
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()
    }

    fn count(&self, sql: &str) -> u64 {
        let out = self.db.psql(sql);
        out.parse()
            .unwrap_or_else(|_| panic!("{sql}: not a number: {out}"))
    }

    fn rows(&self) -> u64 {
        self.count("SELECT count(*) FROM alert_history")
    }

    /// `GET /api/v1/alerts?query` as the viewer.
    fn list(&self, query: &str) -> Value {
        let r = self.viewer.get(&format!("/api/v1/alerts?{query}"));
        assert_eq!(r.status, 200, "{query}: {}", r.text());
        r.json()
    }

    /// The alertnames a list answers, in its order, and its total.
    fn names(&self, query: &str) -> (Vec<String>, u64) {
        let page = self.list(query);
        let names = page["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|a| a["alertname"].as_str().expect("alertname").to_string())
            .collect();
        (names, page["total"].as_u64().expect("total"))
    }

    /// Waits until `/metrics` has `series` at `value`.
    fn wait_for_sample(&self, series: &str, value: f64) -> String {
        self.server
            .wait_for_metrics(&format!("{series} = {value}"), TEN_SECONDS, |text| {
                sample_value(text, series) == Some(value)
            })
    }
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

const MINUTE: Duration = Duration::from_secs(60);

/// One alert as Alertmanager's webhook writes it.
#[derive(Clone, Copy)]
struct Alert<'a> {
    name: &'a str,
    severity: &'a str,
    target: &'a str,
    fingerprint: &'a str,
    starts_at: SystemTime,
    /// `None`: firing (Go's zero time).
    ends_at: Option<SystemTime>,
}

impl Alert<'_> {
    fn json(&self) -> Value {
        let status = if self.ends_at.is_some() {
            "resolved"
        } else {
            "firing"
        };
        let ends_at = self
            .ends_at
            .map(rfc3339)
            .unwrap_or_else(|| "0001-01-01T00:00:00Z".to_string());
        json!({
            "status": status,
            "labels": {
                "alertname": self.name, "severity": self.severity, "target": self.target,
                "job": "ispmonitor", "protocol": "snmp"
            },
            "annotations": {
                "summary": format!("{} on {}", self.name, self.target),
                "runbook_url": format!("docs/runbooks.md#{}", self.name.to_lowercase())
            },
            "startsAt": rfc3339(self.starts_at),
            "endsAt": ends_at,
            "generatorURL": "http://prometheus:9090/graph?g0.expr=ispmonitor_target_up+%3D%3D+0",
            "fingerprint": self.fingerprint
        })
    }
}

/// A version 4 payload around `alerts`, with every top-level field Alertmanager 0.25 sends.
fn payload(alerts: &[Alert<'_>]) -> Value {
    let firing = alerts.iter().any(|a| a.ends_at.is_none());
    json!({
        "receiver": "ispmonitor",
        "status": if firing { "firing" } else { "resolved" },
        "alerts": alerts.iter().map(Alert::json).collect::<Vec<_>>(),
        "groupLabels": {"alertname": alerts[0].name},
        "commonLabels": {"job": "ispmonitor"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "version": "4",
        "groupKey": "{}:{alertname=\"TargetDown\"}",
        "truncatedAlerts": 0
    })
}

#[test]
fn deliveries_build_an_idempotent_history_with_filters_and_metrics() {
    let env = Env::start();
    let now = SystemTime::now();
    let early = now - 30 * MINUTE;
    let late = now - 5 * MINUTE;
    let down = Alert {
        name: "TargetDown",
        severity: "critical",
        target: "r1",
        fingerprint: "1a2b3c4d5e6f7081",
        starts_at: early,
        ends_at: None,
    };
    let iface = Alert {
        name: "InterfaceDown",
        severity: "warning",
        target: "r2",
        fingerprint: "2b3c4d5e6f708192",
        starts_at: late,
        ends_at: None,
    };
    let rtt = Alert {
        name: "HighRtt",
        severity: "info",
        target: "r1",
        fingerprint: "3c4d5e6f708192a3",
        starts_at: late + MINUTE,
        ends_at: None,
    };
    let firing = payload(&[down, iface, rtt]);
    let first = env.deliver(&firing);
    assert_eq!(
        first,
        json!({"alerts": 3, "firing": 3, "resolved": 0, "created": 3, "updated": 0})
    );
    // Alertmanager re-sends the same group: same rows, counted again.
    let again = env.deliver(&firing);
    assert_eq!(
        again,
        json!({"alerts": 3, "firing": 3, "resolved": 0, "created": 0, "updated": 3})
    );
    assert_eq!(env.rows(), 3);
    assert_eq!(
        env.count("SELECT count(*) FROM alert_history WHERE status = 'firing' AND ends_at IS NULL"),
        3
    );
    env.wait_for_sample("ispmonitor_alerts_received_total{status=\"firing\"}", 6.0);
    let text = env.wait_for_sample("ispmonitor_alerts_active{severity=\"critical\"}", 1.0);
    for (severity, n) in [
        ("warning", 1.0),
        ("info", 1.0),
        ("other", 0.0),
        ("none", 0.0),
    ] {
        let series = format!("ispmonitor_alerts_active{{severity=\"{severity}\"}}");
        assert_eq!(sample_value(&text, &series), Some(n), "{series}\n{text}");
    }

    // The target comes back: Alertmanager sends the episode resolved, with its end.
    let ended = now - MINUTE;
    let down = Alert {
        ends_at: Some(ended),
        ..down
    };
    let resolved = payload(&[down]);
    for _ in 0..2 {
        let receipt = env.deliver(&resolved);
        assert_eq!(
            (&receipt["resolved"], &receipt["updated"]),
            (&json!(1), &json!(1))
        );
    }
    assert_eq!(env.rows(), 3);
    let row = env.db.psql(
        "SELECT status, floor(extract(epoch FROM ends_at))::bigint, received_at < updated_at
         FROM alert_history WHERE fingerprint = '1a2b3c4d5e6f7081'",
    );
    let ended_unix = ended
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert_eq!(row, format!("resolved|{ended_unix}|t"));
    let text = env.wait_for_sample("ispmonitor_alerts_active{severity=\"critical\"}", 0.0);
    assert_eq!(
        sample_value(
            &text,
            "ispmonitor_alerts_received_total{status=\"resolved\"}"
        ),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        sample_value(&text, "ispmonitor_alerts_active{severity=\"warning\"}"),
        Some(1.0)
    );

    // The same alert fires again later: a new episode, a new row.
    let down_again = Alert {
        starts_at: now,
        ends_at: None,
        ..down
    };
    assert_eq!(env.deliver(&payload(&[down_again]))["created"], 1);
    assert_eq!(env.rows(), 4);
    env.wait_for_sample("ispmonitor_alerts_active{severity=\"critical\"}", 1.0);

    // Filters, latest start first.
    let all = env.list("");
    assert_eq!(all["total"], 4);
    let first = &all["items"][0];
    assert_eq!(first["alertname"], "TargetDown");
    assert_eq!(first["status"], "firing");
    assert_eq!(first["active"], true);
    assert_eq!(first["ends_at"], Value::Null);
    assert_eq!(first["labels"]["protocol"], "snmp");
    assert_eq!(
        first["annotations"]["runbook_url"],
        "docs/runbooks.md#targetdown"
    );
    assert_eq!(first["fingerprint"], "1a2b3c4d5e6f7081");
    let oldest = &all["items"][3];
    assert_eq!(oldest["status"], "resolved");
    assert_eq!(oldest["active"], false);
    assert_eq!(oldest["ends_at"], rfc3339(ended));
    assert_eq!(oldest["starts_at"], rfc3339(early));
    let names = |q: &str| env.names(q);
    assert_eq!(
        names(""),
        (
            vec![
                "TargetDown".into(),
                "HighRtt".into(),
                "InterfaceDown".into(),
                "TargetDown".into()
            ],
            4
        )
    );
    assert_eq!(names("status=resolved"), (vec!["TargetDown".into()], 1));
    assert_eq!(names("status=firing").1, 3);
    assert_eq!(names("active=true").1, 3);
    assert_eq!(names("active=false"), (vec!["TargetDown".into()], 1));
    assert_eq!(names("severity=warning"), (vec!["InterfaceDown".into()], 1));
    assert_eq!(names("alertname=TargetDown").1, 2);
    assert_eq!(
        names("target=r1"),
        (
            vec!["TargetDown".into(), "HighRtt".into(), "TargetDown".into()],
            3
        )
    );
    let since = rfc3339(late);
    let until = rfc3339(now);
    assert_eq!(
        names(&format!("since={since}&until={until}")),
        (vec!["HighRtt".into(), "InterfaceDown".into()], 2)
    );
    assert_eq!(
        names("alertname=TargetDown&active=true&target=r1").1,
        1,
        "filters combine"
    );
    assert_eq!(
        names("limit=2&offset=1"),
        (vec!["HighRtt".into(), "InterfaceDown".into()], 4)
    );
    let page = env.list("limit=2&offset=1");
    assert_eq!(
        (page["limit"].as_u64(), page["offset"].as_u64()),
        (Some(2), Some(1))
    );
    // Deliveries are telemetry: no audit entries.
    assert_eq!(
        env.count("SELECT count(*) FROM audit_log WHERE kind LIKE 'alert%'"),
        0
    );
}

/// A change that breaks a good payload.
type Edit = dyn Fn(&mut Value);

fn error_of(r: &Response) -> (u16, Value) {
    let body = r.json();
    (r.status, body["error"]["field"].clone())
}

#[test]
fn the_webhook_needs_an_operator_token_and_names_bad_fields() {
    let env = Env::start();
    let now = SystemTime::now();
    let alert = |name: &'static str, fingerprint: &'static str| Alert {
        name,
        severity: "warning",
        target: "s1",
        fingerprint,
        starts_at: now - MINUTE,
        ends_at: None,
    };
    let good = payload(&[alert("DiskFull", "aaaa"), alert("HighCpu", "bbbb")]);

    let anonymous = Api::new(&env.server.api_addr, None);
    let r = anonymous.post(WEBHOOK, &good);
    assert_eq!(r.status, 401, "{}", r.text());
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    let r = env.viewer.post(WEBHOOK, &good);
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(anonymous.get("/api/v1/alerts").status, 401);
    assert_eq!(env.rows(), 0);

    let broken = |edit: &Edit| {
        let mut body = good.clone();
        edit(&mut body);
        env.operator.post(WEBHOOK, &body)
    };
    let cases: [(&str, &Edit); 8] = [
        ("alerts[1].startsAt", &|b| {
            b["alerts"][1]["startsAt"] = json!("yesterday")
        }),
        ("alerts[1].startsAt", &|b| {
            b["alerts"][1]["startsAt"] = json!("0001-01-01T00:00:00Z")
        }),
        ("alerts[0].endsAt", &|b| {
            b["alerts"][0]["endsAt"] = json!("2001-01-01T00:00:00Z")
        }),
        ("alerts[1].status", &|b| {
            b["alerts"][1]["status"] = json!("pending")
        }),
        ("alerts[0].labels.alertname", &|b| {
            b["alerts"][0]["labels"]
                .as_object_mut()
                .unwrap()
                .remove("alertname");
        }),
        ("alerts[1].labels.severity", &|b| {
            b["alerts"][1]["labels"]["severity"] = json!(2)
        }),
        ("alerts[0].fingerprint", &|b| {
            b["alerts"][0]
                .as_object_mut()
                .unwrap()
                .remove("fingerprint");
        }),
        ("version", &|b| b["version"] = json!("3")),
    ];
    for (field, edit) in cases {
        let r = broken(edit);
        assert_eq!(error_of(&r), (422, json!(field)), "{}", r.text());
    }
    // A refused delivery writes nothing, not even its good alerts, and counts nothing.
    assert_eq!(env.rows(), 0);
    let metrics = env.server.metrics();
    assert_eq!(
        sample_value(
            &metrics,
            "ispmonitor_alerts_received_total{status=\"firing\"}"
        ),
        Some(0.0),
        "{metrics}"
    );
    for (query, field) in [
        ("status=pending", "status"),
        ("active=maybe", "active"),
        ("since=soon", "since"),
        ("limit=0", "limit"),
        ("colour=red", "colour"),
    ] {
        let r = env.viewer.get(&format!("/api/v1/alerts?{query}"));
        assert_eq!(error_of(&r), (422, json!(field)), "{query}: {}", r.text());
    }

    // The operator's good delivery goes through.
    assert_eq!(env.deliver(&good)["created"], 2);
    assert_eq!(env.rows(), 2);

    // A firing alert whose end has passed (another sender, a late retry) is no longer active.
    let mut ended = payload(&[alert("Stale", "cccc")]);
    ended["alerts"][0]["endsAt"] = json!(rfc3339(now - Duration::from_secs(1)));
    assert_eq!(env.deliver(&ended)["firing"], 1);
    assert_eq!(env.names("active=true").1, 2);
    assert_eq!(env.names("active=false"), (vec!["Stale".to_string()], 1));
    env.wait_for_sample("ispmonitor_alerts_active{severity=\"warning\"}", 2.0);
}

// ---------------------------------------------------------------------------------------------
// A real Alertmanager

const ALERTMANAGER: &str = "/usr/bin/prometheus-alertmanager";

/// Debian's Alertmanager on free ports, clustering off, its data in a temporary directory.
struct Alertmanager {
    child: Child,
    addr: String,
    dir: tempfile::TempDir,
}

impl Alertmanager {
    /// Routes everything to a webhook at `api_addr` authenticated with `token` (read from a
    /// credentials file, as a deployment would).
    fn start(api_addr: &str, token: &str) -> Alertmanager {
        let dir = tempfile::tempdir().expect("tempdir");
        let token_file = dir.path().join("ispmonitor-token");
        std::fs::write(&token_file, format!("{token}\n")).expect("token file");
        let config = format!(
            "route:
  receiver: ispmonitor
  group_by: [alertname, target]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: ispmonitor
    webhook_configs:
      - url: http://{api_addr}{WEBHOOK}
        send_resolved: true
        http_config:
          authorization:
            credentials_file: {}
",
            token_file.display()
        );
        let config_file = dir.path().join("alertmanager.yml");
        std::fs::write(&config_file, config).expect("config");
        let addr = format!("127.0.0.1:{}", free_tcp_port());
        let log = std::fs::File::create(dir.path().join("alertmanager.log")).expect("log");
        let child = Command::new(ALERTMANAGER)
            .arg(format!("--config.file={}", config_file.display()))
            .arg(format!(
                "--storage.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .arg("--cluster.listen-address=")
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start alertmanager");
        let mut am = Alertmanager { child, addr, dir };
        am.wait_ready();
        am
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("alertmanager.log")).unwrap_or_default()
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + TEN_SECONDS * 2;
        while Instant::now() < deadline {
            if matches!(http::get(&self.addr, "/-/ready"), Ok(r) if r.status == 200) {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("alertmanager exited with {status}: {}", self.log());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("alertmanager not ready on {}: {}", self.addr, self.log());
    }

    /// `POST /api/v2/alerts`, as Prometheus sends alerts.
    fn post_alerts(&self, alerts: &Value) {
        let body = alerts.to_string();
        let req = http::Req {
            method: "POST",
            path: "/api/v2/alerts",
            headers: &[("Content-Type", "application/json")],
            body: body.as_bytes(),
        };
        let r = http::send(&self.addr, &req).expect("POST /api/v2/alerts");
        assert_eq!(r.status, 200, "{}", r.text());
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until `sql` answers `expected`, or panics with the last answer and Alertmanager's log.
fn wait_for_sql(env: &Env, am: &Alertmanager, sql: &str, expected: &str) {
    let deadline = Instant::now() + TEN_SECONDS * 3;
    let mut last = String::new();
    while Instant::now() < deadline {
        last = env.db.psql(sql);
        if last == expected {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!(
        "{sql}: {last:?}, expected {expected:?}\nalertmanager log:\n{}\nispmonitor log:\n{}",
        am.log(),
        env.server.stderr_now()
    );
}

#[test]
fn a_real_alertmanager_delivers_firing_and_resolved_alerts() {
    if !Path::new(ALERTMANAGER).exists() {
        panic!("{ALERTMANAGER} is missing: run scripts/install-peers.sh");
    }
    let env = Env::start();
    let token = env.operator.token.clone().expect("operator token");
    let am = Alertmanager::start(&env.server.api_addr, &token);
    let starts_at = rfc3339(SystemTime::now() - 2 * MINUTE);
    let alert = |name: &str, target: &str, ends_at: Option<String>| {
        let mut a = json!({
            "labels": {"alertname": name, "severity": "critical", "target": target},
            "annotations": {"summary": format!("{target} does not answer")},
            "startsAt": starts_at,
            "generatorURL": "http://prometheus:9090/graph?g0.expr=up"
        });
        if let Some(end) = ends_at {
            a["endsAt"] = json!(end);
        }
        a
    };
    am.post_alerts(&json!([
        alert("TargetDown", "r1", None),
        alert("TargetDown", "r2", None)
    ]));
    wait_for_sql(
        &env,
        &am,
        "SELECT string_agg(target || ':' || status, ',' ORDER BY target) FROM alert_history",
        "r1:firing,r2:firing",
    );
    let fingerprints = env.db.psql(
        "SELECT count(DISTINCT fingerprint) FROM alert_history WHERE length(fingerprint) = 16",
    );
    assert_eq!(
        fingerprints, "2",
        "Alertmanager's own fingerprints are kept"
    );
    env.wait_for_sample("ispmonitor_alerts_active{severity=\"critical\"}", 2.0);

    // r1 recovers: Prometheus sends the alert with an end in the past.
    let ended = rfc3339(SystemTime::now() - Duration::from_secs(1));
    am.post_alerts(&json!([alert("TargetDown", "r1", Some(ended))]));
    wait_for_sql(
        &env,
        &am,
        "SELECT string_agg(target || ':' || status || ':' || (ends_at IS NOT NULL), ','
                ORDER BY target) FROM alert_history",
        "r1:resolved:true,r2:firing:false",
    );
    assert_eq!(env.rows(), 2, "the resolution updated the episode's row");
    let text = env.wait_for_sample("ispmonitor_alerts_active{severity=\"critical\"}", 1.0);
    let resolved = sample_value(
        &text,
        "ispmonitor_alerts_received_total{status=\"resolved\"}",
    );
    assert!(resolved >= Some(1.0), "{text}");
    let listed = env.names("active=true&alertname=TargetDown");
    assert_eq!(listed, (vec!["TargetDown".to_string()], 1));
    assert_eq!(env.list("active=true")["items"][0]["target"], "r2");
}
