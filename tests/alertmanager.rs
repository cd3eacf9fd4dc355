//! alertmanager/ as code, proven with the real tools: `amtool check-config`, the routing table in
//! alertmanager/routes-tests.txt, the notification templates rendered by amtool, and a real
//! Alertmanager that applies the inhibition rules to twin alerts and routes by severity.

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use common::http;
use common::ispmonitor::free_tcp_port;

/// The Telegram token placeholder: Alertmanager 0.25 has no `bot_token_file`.
const TELEGRAM_PLACEHOLDER: &str = "REPLACE_WITH_TELEGRAM_BOT_TOKEN";
/// Where the shipped config expects every secret file.
const SECRETS_DIR: &str = "/etc/alertmanager/secrets/";

fn alertmanager_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("alertmanager")
}

fn config_path() -> PathBuf {
    alertmanager_dir().join("alertmanager.yml")
}

/// The shipped config as JSON, parsed by the same YAML reader the product uses.
fn load_config() -> Value {
    let text = std::fs::read_to_string(config_path()).expect("read alertmanager/alertmanager.yml");
    serde_saphyr::from_str(&text).expect("alertmanager/alertmanager.yml is YAML")
}

/// Runs a peer program; a missing one fails the test (never a skip), also in CI.
fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "{program} is missing: {e}. Run scripts/install-peers.sh \
             (Debian package prometheus-alertmanager)"
            )
        })
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn amtool_check_config_accepts_the_config_and_its_templates() {
    let config = config_path();
    let out = run("amtool", &["check-config", config.to_str().unwrap()]);
    let stdout = text(&out.stdout);
    assert!(
        out.status.success() && !stdout.contains("FAILED"),
        "amtool check-config failed:\n{stdout}\n{}",
        text(&out.stderr)
    );
    // The templates were found (a glob matching nothing would pass silently) and parsed.
    assert!(
        !stdout.contains(" - 0 templates"),
        "no template loaded: {stdout}"
    );
}

/// One line of routes-tests.txt: the receivers expected, in tree order, and the labels.
struct RouteCase {
    line: usize,
    receivers: String,
    labels: Vec<String>,
}

fn route_cases() -> Vec<RouteCase> {
    let table = std::fs::read_to_string(alertmanager_dir().join("routes-tests.txt"))
        .expect("read alertmanager/routes-tests.txt");
    table
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map(|(i, l)| {
            let mut words = l.split_whitespace().map(String::from);
            RouteCase {
                line: i + 1,
                receivers: words.next().unwrap(),
                labels: words.collect(),
            }
        })
        .collect()
}

/// The receivers amtool picks for `labels`, as it prints them (comma-separated).
fn amtool_route(labels: &[String]) -> String {
    let config = format!("--config.file={}", config_path().display());
    let mut args = vec!["config", "routes", "test", config.as_str()];
    args.extend(labels.iter().map(String::as_str));
    let out = run("amtool", &args);
    assert!(
        out.status.success(),
        "amtool config routes test {labels:?}: {}",
        text(&out.stderr)
    );
    text(&out.stdout).trim().to_string()
}

#[test]
fn every_routes_test_case_reaches_its_receivers() {
    let cases = route_cases();
    assert!(cases.len() >= 5, "routes-tests.txt has too few cases");
    let mismatches: Vec<String> = cases
        .iter()
        .filter_map(|case| {
            let got = amtool_route(&case.labels);
            (got != case.receivers).then(|| {
                format!(
                    "line {}: {:?} went to {got}, expected {}",
                    case.line, case.labels, case.receivers
                )
            })
        })
        .collect();
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn routes_tests_cover_every_receiver_and_every_severity() {
    let config = load_config();
    let cases = route_cases();
    let reached: BTreeSet<&str> = cases.iter().flat_map(|c| c.receivers.split(',')).collect();
    let untested: Vec<&str> = config["receivers"]
        .as_array()
        .expect("receivers")
        .iter()
        .filter_map(|r| r["name"].as_str())
        .filter(|name| !reached.contains(name))
        .collect();
    assert!(
        untested.is_empty(),
        "receivers no case reaches: {untested:?}"
    );
    for severity in ["critical", "warning", "info"] {
        let label = format!("severity={severity}");
        assert!(
            cases.iter().any(|c| c.labels.contains(&label)),
            "no routes-tests.txt case for {label}"
        );
    }
}

/// Every `(key, value)` string pair in a JSON tree, with the key's path.
fn string_fields(value: &Value, path: &str, out: &mut Vec<(String, String, String)>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                if let Some(s) = v.as_str() {
                    out.push((format!("{path}.{k}"), k.clone(), s.to_string()));
                }
                string_fields(v, &format!("{path}.{k}"), out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                string_fields(v, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn secrets_come_from_files_and_nothing_secret_is_inline() {
    let mut fields = Vec::new();
    string_fields(&load_config(), "", &mut fields);
    let inline_secret_keys = [
        "smtp_auth_password",
        "auth_password",
        "auth_secret",
        "slack_api_url",
        "api_url",
        "credentials",
        "password",
        "api_key",
        "routing_key",
        "service_key",
    ];
    for (path, key, value) in &fields {
        assert!(
            !inline_secret_keys.contains(&key.as_str()),
            "{path} holds a secret inline; use {key}_file"
        );
        if key == "bot_token" {
            assert_eq!(
                value, TELEGRAM_PLACEHOLDER,
                "{path}: a real token is inline"
            );
        }
        if key.ends_with("_file") {
            assert!(
                value.starts_with(SECRETS_DIR),
                "{path} = {value}: secret files live in {SECRETS_DIR}"
            );
        }
    }
    let files: BTreeSet<&str> = fields
        .iter()
        .filter(|(_, k, _)| k.ends_with("_file"))
        .map(|(_, k, _)| k.as_str())
        .collect();
    for needed in [
        "smtp_auth_password_file",
        "slack_api_url_file",
        "credentials_file",
    ] {
        assert!(
            files.contains(needed),
            "no {needed} in the config: {files:?}"
        );
    }
}

#[test]
fn every_alert_reaches_the_ispmonitor_api_webhook_with_its_token() {
    let config = load_config();
    let first = &config["route"]["routes"][0];
    assert_eq!(first["continue"], json!(true), "route 1 must continue");
    assert!(
        first.get("matchers").is_none(),
        "route 1 must match every alert"
    );
    let receiver = config["receivers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == first["receiver"])
        .expect("route 1's receiver is defined");
    let webhook = &receiver["webhook_configs"][0];
    assert_eq!(
        webhook["url"],
        json!("http://ispmonitor:8080/api/v1/alerts/webhook")
    );
    let auth = &webhook["http_config"]["authorization"];
    assert!(auth["credentials_file"].is_string(), "{webhook}");
    assert_eq!(
        webhook["send_resolved"],
        json!(true),
        "the history needs resolves"
    );
}

/// Alertmanager's template data for one group: a firing alert with characters that need escaping,
/// and a resolved one.
fn template_data() -> Value {
    json!({
        "receiver": "critical",
        "status": "firing",
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "InterfaceHighUtilisation", "severity": "critical",
                           "target": "edge-1", "interface": "ge-0/0/1<&>"},
                "annotations": {
                    "summary": "ge-0/0/1 on edge-1 is 97 % utilised",
                    "description": "Receive utilisation is 97 % of its speed over 5 minutes.",
                    "runbook_url": "https://example.org/docs/runbooks.md#interfacehighutilisation"
                },
                "startsAt": "2024-05-01T10:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus:9090/graph",
                "fingerprint": "1"
            },
            {
                "status": "resolved",
                "labels": {"alertname": "InterfaceHighUtilisation", "severity": "critical",
                           "target": "edge-1", "interface": "ge-0/0/2"},
                "annotations": {"summary": "ge-0/0/2 on edge-1 is 96 % utilised"},
                "startsAt": "2024-05-01T09:00:00Z",
                "endsAt": "2024-05-01T09:30:00Z",
                "generatorURL": "",
                "fingerprint": "2"
            }
        ],
        "groupLabels": {"alertname": "InterfaceHighUtilisation", "target": "edge-1"},
        "commonLabels": {"alertname": "InterfaceHighUtilisation", "severity": "critical",
                         "target": "edge-1"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093"
    })
}

/// Renders one template text with amtool against `data` (a JSON file); `kind` is text or html.
fn render(template_text: &str, data: &Path, kind: &str) -> String {
    let glob = format!(
        "--template.glob={}",
        alertmanager_dir().join("templates/*.tmpl").display()
    );
    let data = format!("--template.data={}", data.display());
    let text_arg = format!("--template.text={template_text}");
    let kind = format!("--template.type={kind}");
    let out = run(
        "amtool",
        &["template", "render", &glob, &data, &text_arg, &kind],
    );
    assert!(
        out.status.success(),
        "rendering {template_text}: {}",
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// The notification fields of the shipped receivers that are templates, with their key.
fn templated_fields() -> Vec<(String, String)> {
    let mut fields = Vec::new();
    string_fields(&load_config()["receivers"], "receivers", &mut fields);
    fields
        .into_iter()
        .filter(|(_, _, v)| v.contains("{{"))
        .map(|(path, key, v)| (format!("{path} ({key})"), v))
        .collect()
}

#[test]
fn templates_render_readable_grouped_messages() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data.json");
    std::fs::write(&data, template_data().to_string()).unwrap();
    let fields = templated_fields();
    assert!(fields.len() >= 8, "too few templated fields: {fields:?}");
    for (path, template_text) in fields {
        // Email HTML bodies are executed as html/template by Alertmanager; the rest as text.
        let kind = if path.ends_with("(html)") {
            "html"
        } else {
            "text"
        };
        let out = render(&template_text, &data, kind);
        assert!(!out.trim().is_empty(), "{path} renders empty");
        assert!(!out.contains("<no value>"), "{path}: missing field\n{out}");
        // Colours and links are not messages; everything else a person reads names the target.
        if !(path.ends_with("(color)") || path.ends_with("(title_link)")) {
            assert!(
                out.contains("edge-1"),
                "{path} does not name the target\n{out}"
            );
        }
    }
    let body =
        |name: &str, kind: &str| render(&format!("{{{{ template \"{name}\" . }}}}"), &data, kind);
    let subject = body("ispmonitor.email.subject", "text");
    assert_eq!(
        subject,
        "[FIRING:1] InterfaceHighUtilisation on edge-1 (critical)"
    );
    for (name, kind) in [
        ("ispmonitor.email.text", "text"),
        ("ispmonitor.email.html", "html"),
        ("ispmonitor.slack.text", "text"),
        ("ispmonitor.telegram.message", "text"),
    ] {
        let out = body(name, kind);
        for needle in [
            "ge-0/0/1 on edge-1 is 97 % utilised",
            "ge-0/0/2 on edge-1 is 96 % utilised",
            "https://example.org/docs/runbooks.md#interfacehighutilisation",
        ] {
            assert!(out.contains(needle), "{name} lacks {needle:?}:\n{out}");
        }
        if name != "ispmonitor.telegram.message" {
            assert!(
                out.contains("Receive utilisation is 97 % of its speed"),
                "{name} lacks the description:\n{out}"
            );
        }
        // HTML bodies (email, Telegram parse_mode HTML) escape label values.
        if kind == "html" || name.contains("telegram") {
            assert!(
                out.contains("ge-0/0/1&lt;&amp;&gt;"),
                "{name} unescaped:\n{out}"
            );
        }
    }
    assert_eq!(body("ispmonitor.slack.color", "text"), "danger");
}

// ---- A real Alertmanager ----

/// Records the webhook notifications Alertmanager sends: (receiver, alert labels).
#[derive(Clone, Default)]
struct WebhookSink {
    received: Arc<Mutex<Vec<(String, Value)>>>,
}

impl WebhookSink {
    /// Listens on a free loopback port; returns the sink and its URL.
    fn start() -> (WebhookSink, String) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let sink = WebhookSink::default();
        let recorder = sink.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                if let Some(payload) = read_request_body(stream) {
                    recorder.record(&payload);
                }
            }
        });
        (sink, url)
    }

    fn record(&self, payload: &Value) {
        let receiver = payload["receiver"].as_str().unwrap_or_default().to_string();
        let mut received = self.received.lock().unwrap();
        for alert in payload["alerts"].as_array().into_iter().flatten() {
            received.push((receiver.clone(), alert["labels"].clone()));
        }
    }

    /// The receivers that got an alert with exactly these labels.
    fn receivers_of(&self, labels: &Value) -> BTreeSet<String> {
        let received = self.received.lock().unwrap();
        received
            .iter()
            .filter(|(_, l)| l == labels)
            .map(|(r, _)| r.clone())
            .collect()
    }
}

/// Reads one HTTP request, answers 200 and returns its JSON body.
fn read_request_body(mut stream: TcpStream) -> Option<Value> {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut length = 0;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().ok()?;
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    serde_json::from_slice(&body).ok()
}

/// The shipped config for a test run: every receiver becomes a webhook to the sink (same name,
/// no external service), templates are found in the repository, and waits are short.
fn local_config(sink_url: &str) -> Value {
    let mut config = load_config();
    for receiver in config["receivers"].as_array_mut().unwrap() {
        let name = receiver["name"].clone();
        *receiver =
            json!({"name": name, "webhook_configs": [{"url": sink_url, "send_resolved": false}]});
    }
    config["templates"] = json!([alertmanager_dir().join("templates/*.tmpl")]);
    shorten_waits(&mut config["route"]);
    config
}

fn shorten_waits(route: &mut Value) {
    route["group_wait"] = json!("1s");
    route["group_interval"] = json!("2s");
    for child in route["routes"].as_array_mut().into_iter().flatten() {
        shorten_waits(child);
    }
}

struct Alertmanager {
    child: Child,
    addr: String,
    dir: tempfile::TempDir,
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Alertmanager {
    /// Starts `prometheus-alertmanager` on a free port, without clustering, and waits for
    /// /-/ready.
    fn start(config: &Value) -> Alertmanager {
        let dir = tempfile::tempdir().unwrap();
        // JSON is YAML: Alertmanager reads it as it is.
        let path = dir.path().join("alertmanager.yml");
        std::fs::write(&path, serde_json::to_string_pretty(config).unwrap()).unwrap();
        let addr = format!("127.0.0.1:{}", free_tcp_port());
        let log = std::fs::File::create(dir.path().join("alertmanager.log")).unwrap();
        let child = Command::new("prometheus-alertmanager")
            .arg(format!("--config.file={}", path.display()))
            .arg(format!(
                "--storage.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .arg("--cluster.listen-address=")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "prometheus-alertmanager is missing: {e}. Run scripts/install-peers.sh \
                     (Debian package prometheus-alertmanager)"
                )
            });
        let mut am = Alertmanager { child, addr, dir };
        am.wait_ready();
        am
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("alertmanager.log")).unwrap_or_default()
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("alertmanager exited ({status}):\n{}", self.log());
            }
            if http::get(&self.addr, "/-/ready").is_ok_and(|r| r.status == 200) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("alertmanager never became ready:\n{}", self.log());
    }

    fn post_alerts(&self, alerts: &[Value]) {
        let body = serde_json::to_vec(alerts).unwrap();
        let response = http::send(
            &self.addr,
            &http::Req {
                method: "POST",
                path: "/api/v2/alerts",
                headers: &[("Content-Type", "application/json")],
                body: &body,
            },
        )
        .expect("POST /api/v2/alerts");
        assert_eq!(response.status, 200, "{}", response.text());
    }

    /// Every alert Alertmanager holds, inhibited and silenced included.
    fn alerts(&self) -> Vec<Value> {
        let path = "/api/v2/alerts?active=true&silenced=true&inhibited=true&unprocessed=true";
        let response = http::get(&self.addr, path).expect("GET /api/v2/alerts");
        serde_json::from_slice::<Value>(&response.body)
            .ok()
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
    }
}

/// An alert to post, by its labels; it lasts the default resolve_timeout.
fn alert(labels: Value) -> Value {
    json!({"labels": labels, "annotations": {"summary": "test alert"}})
}

/// What must happen to one posted alert.
struct Expectation {
    labels: Value,
    inhibited: bool,
    receivers: &'static [&'static str],
}

fn expect(labels: Value, inhibited: bool, receivers: &'static [&'static str]) -> Expectation {
    Expectation {
        labels,
        inhibited,
        receivers,
    }
}

const API_CRITICAL: &[&str] = &["critical", "ispmonitor-api"];
const API_EMAIL: &[&str] = &["email", "ispmonitor-api"];
const MUTED: &[&str] = &[];

/// Alerts that exercise each inhibition rule (names and labels as rules/ispmonitor-alerts.yml
/// produces them), and what must become of them: inhibited or not, and who is notified.
fn inhibition_scenario() -> Vec<Expectation> {
    vec![
        // Rule 1: a critical alert mutes its warning twin on the same interface and direction,
        // not the other direction nor the other interface.
        expect(
            json!({"alertname": "InterfaceHighUtilisation", "severity": "critical", "target": "r1", "interface": "eth0", "direction": "receive"}),
            false,
            API_CRITICAL,
        ),
        expect(
            json!({"alertname": "InterfaceHighUtilisation", "severity": "warning", "target": "r1", "interface": "eth0", "direction": "receive"}),
            true,
            MUTED,
        ),
        expect(
            json!({"alertname": "InterfaceHighUtilisation", "severity": "warning", "target": "r1", "interface": "eth0", "direction": "transmit"}),
            false,
            API_EMAIL,
        ),
        expect(
            json!({"alertname": "InterfaceHighUtilisation", "severity": "warning", "target": "r1", "interface": "eth1", "direction": "receive"}),
            false,
            API_EMAIL,
        ),
        // Twins without interface or mountpoint: missing on both sides counts as equal.
        expect(
            json!({"alertname": "ServerHighCpuUsage", "severity": "critical", "target": "s1"}),
            false,
            API_CRITICAL,
        ),
        expect(
            json!({"alertname": "ServerHighCpuUsage", "severity": "warning", "target": "s1"}),
            true,
            MUTED,
        ),
        // A full / does not mute a warning about /var.
        expect(
            json!({"alertname": "ServerHighDiskUsage", "severity": "critical", "target": "s1", "mountpoint": "/", "device": "/dev/sda1"}),
            false,
            API_CRITICAL,
        ),
        expect(
            json!({"alertname": "ServerHighDiskUsage", "severity": "warning", "target": "s1", "mountpoint": "/var", "device": "/dev/sda2"}),
            false,
            API_EMAIL,
        ),
        // A hot board sensor mutes the warning of the same sensor, not of the CPU sensor.
        expect(
            json!({"alertname": "RouterosTemperatureHigh", "severity": "critical", "target": "m1", "sensor": "board-temperature1"}),
            false,
            API_CRITICAL,
        ),
        expect(
            json!({"alertname": "RouterosTemperatureHigh", "severity": "warning", "target": "m1", "sensor": "board-temperature1"}),
            true,
            MUTED,
        ),
        expect(
            json!({"alertname": "RouterosTemperatureHigh", "severity": "warning", "target": "m1", "sensor": "cpu-temperature"}),
            false,
            API_EMAIL,
        ),
        // Fleet-wide twins (no target) mute each other too.
        expect(
            json!({"alertname": "RoutersOffline", "severity": "critical", "instance": "poller-0:9090"}),
            false,
            API_CRITICAL,
        ),
        expect(
            json!({"alertname": "RoutersOffline", "severity": "warning", "instance": "poller-0:9090"}),
            true,
            MUTED,
        ),
        // Rule 2: a down target mutes everything else of that target; two down protocols
        // stay visible.
        expect(
            json!({"alertname": "TargetDown", "severity": "critical", "target": "r2", "protocol": "snmp"}),
            false,
            API_CRITICAL,
        ),
        expect(
            json!({"alertname": "TargetDown", "severity": "critical", "target": "r2", "protocol": "icmp"}),
            false,
            API_CRITICAL,
        ),
        expect(
            json!({"alertname": "TargetStale", "severity": "warning", "target": "r2", "protocol": "snmp"}),
            true,
            MUTED,
        ),
        expect(
            json!({"alertname": "InterfaceErrors", "severity": "warning", "target": "r2", "interface": "eth0"}),
            true,
            MUTED,
        ),
        expect(
            json!({"alertname": "IcmpPacketLoss", "severity": "critical", "target": "r2"}),
            true,
            MUTED,
        ),
        // Rule 3: a rebooted router mutes its interface alerts, not its other alerts.
        expect(
            json!({"alertname": "RouterRebooted", "severity": "warning", "target": "r4"}),
            false,
            API_EMAIL,
        ),
        expect(
            json!({"alertname": "InterfaceDown", "severity": "warning", "target": "r4", "interface": "eth3"}),
            true,
            MUTED,
        ),
        expect(
            json!({"alertname": "BgpPeerNotEstablished", "severity": "critical", "target": "r4", "peer": "192.0.2.1", "remote_as": "64500"}),
            false,
            API_CRITICAL,
        ),
        // Other targets and fleet-wide alerts are untouched; info goes to the history only.
        expect(
            json!({"alertname": "InterfaceErrors", "severity": "warning", "target": "r3", "interface": "eth0"}),
            false,
            API_EMAIL,
        ),
        expect(
            json!({"alertname": "HighErrorRate", "severity": "critical", "job": "ispmonitor-api"}),
            false,
            API_CRITICAL,
        ),
        expect(
            json!({"alertname": "LicenseInvalid", "severity": "info"}),
            false,
            &["ispmonitor-api", "null"],
        ),
    ]
}

/// Alertmanager's view of one alert (by its exact labels): inhibited or not, if it has one yet.
fn is_inhibited(alerts: &[Value], labels: &Value) -> Option<bool> {
    let found = alerts.iter().find(|a| &a["labels"] == labels)?;
    let inhibited_by = found["status"]["inhibitedBy"].as_array()?;
    Some(found["status"]["state"] == "suppressed" && !inhibited_by.is_empty())
}

/// Waits until `done` holds or 30 s pass; returns whether it held.
fn wait_until(mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    done()
}

fn delivered_as_expected(sink: &WebhookSink, e: &Expectation) -> bool {
    let expected: BTreeSet<String> = e.receivers.iter().map(|r| r.to_string()).collect();
    sink.receivers_of(&e.labels) == expected
}

#[test]
fn real_alertmanager_inhibits_twins_and_down_targets_and_routes_by_severity() {
    let (sink, sink_url) = WebhookSink::start();
    let am = Alertmanager::start(&local_config(&sink_url));
    let scenario = inhibition_scenario();
    let alerts: Vec<Value> = scenario.iter().map(|e| alert(e.labels.clone())).collect();
    am.post_alerts(&alerts);

    // Inhibition is decided when a group is flushed; wait for every alert to be processed.
    let settled = wait_until(|| {
        let now = am.alerts();
        scenario
            .iter()
            .all(|e| is_inhibited(&now, &e.labels) == Some(e.inhibited))
    });
    let now = am.alerts();
    let wrong: Vec<String> = scenario
        .iter()
        .filter(|e| is_inhibited(&now, &e.labels) != Some(e.inhibited))
        .map(|e| {
            let got = is_inhibited(&now, &e.labels);
            format!("{}: inhibited {got:?}, expected {}", e.labels, e.inhibited)
        })
        .collect();
    assert!(
        settled && wrong.is_empty(),
        "{}\n{now:#?}",
        wrong.join("\n")
    );

    // Notifications: every delivered alert reached exactly its receivers; muted ones none.
    let delivered = wait_until(|| scenario.iter().all(|e| delivered_as_expected(&sink, e)));
    // A muted alert could still arrive late: give Alertmanager another group interval.
    std::thread::sleep(Duration::from_secs(3));
    let wrong: Vec<String> = scenario
        .iter()
        .filter(|e| !delivered_as_expected(&sink, e))
        .map(|e| {
            format!(
                "{} reached {:?}, expected {:?}",
                e.labels,
                sink.receivers_of(&e.labels),
                e.receivers
            )
        })
        .collect();
    assert!(
        delivered && wrong.is_empty(),
        "{}\nalertmanager log:\n{}",
        wrong.join("\n"),
        am.log()
    );
}

/// Every alert name the inhibition rules and the routing cases mention is an alert that
/// rules/ispmonitor-alerts.yml defines: a renamed alert must not silently stop being inhibited.
#[test]
fn alert_names_used_here_are_defined_in_rules() {
    let rules = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/ispmonitor-alerts.yml"),
    )
    .expect("read rules/ispmonitor-alerts.yml");
    let defined: BTreeSet<&str> = rules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert:"))
        .map(str::trim)
        .collect();
    assert!(defined.contains("TargetDown"), "{defined:?}");
    let mut used = BTreeSet::new();
    let config = std::fs::read_to_string(config_path()).unwrap();
    let routes = std::fs::read_to_string(alertmanager_dir().join("routes-tests.txt")).unwrap();
    for text in [&config, &routes] {
        for (i, _) in text.match_indices("alertname") {
            let rest = text[i + "alertname".len()..].trim_start_matches(['=', '~']);
            let value: String = rest
                .trim_start_matches('"')
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '|')
                .collect();
            used.extend(
                value
                    .split('|')
                    .filter(|v| !v.is_empty())
                    .map(str::to_string),
            );
        }
    }
    assert!(
        used.len() >= 5,
        "found too few alert names to be convincing: {used:?}"
    );
    // routes-tests.txt probes the fallback route with a deliberately unknown alert.
    let unknown: Vec<&String> = used
        .iter()
        .filter(|n| !defined.contains(n.as_str()) && n.as_str() != "SomethingNew")
        .collect();
    assert!(unknown.is_empty(), "not defined in rules/: {unknown:?}");
}
