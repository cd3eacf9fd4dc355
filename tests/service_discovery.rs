//! `GET /api/v1/sd` against the real PostgreSQL and the real Prometheus: the exact http_sd
//! format over the effective inventory (YAML + database), its filters and errors, what
//! `promtool check service-discovery` makes of it, and a Prometheus that scrapes the poller's
//! /probe through it with a bearer token from a file.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use common::api::{self, Api};
use common::http;
use common::inventory_sql::{v2c_credential_sql, Device};
use common::ispmonitor::{free_tcp_port, Ispmonitor};
use common::postgres::TestDb;

const COMMUNITY: &str = "sd-s3cret-community";

/// One YAML target (with a label) and the fast `ping` module database devices use.
const CONFIG: &str = "global: {interval: 1s, timeout: 800ms}\n\
modules:\n  ping: {type: icmp, count: 2, interval: 20ms, timeout: 300ms}\n\
targets:\n  - {name: file-ping, address: \"127.0.0.1\", kind: host, modules: [ping], labels: {site: ams1}}\n";

struct Setup {
    db: TestDb,
    server: Ispmonitor,
    /// A viewer token, as Prometheus would use.
    viewer: Api,
    dir: tempfile::TempDir,
}

fn setup() -> Setup {
    let db = TestDb::new();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ispmonitor.yaml");
    std::fs::write(&config, CONFIG).unwrap();
    let url = db.url();
    let server = Ispmonitor::start_with_env(
        &config,
        &["--migrate"],
        &[
            ("ISPMONITOR_DATABASE_URL", &url),
            ("ISPMONITOR_SECRET_KEY", api::SECRET_KEY),
        ],
    );
    let token = api::create_token(&url, "viewer", "prometheus-sd");
    let viewer = Api::new(&server.api_addr, Some(&token));
    Setup {
        db,
        server,
        viewer,
        dir,
    }
}

fn ping_device(name: &str) -> Device<'_> {
    Device {
        kind: "host",
        name,
        address: "127.0.0.1",
        credential: None,
        modules: &["ping"],
        labels: &[],
    }
}

/// A router with a sealed database credential, an ICMP host, and a row that does not validate.
fn insert_inventory(db: &TestDb) {
    let router = Device {
        kind: "router",
        name: "core-1",
        address: "127.0.0.1:16100",
        credential: Some("db-v2c"),
        modules: &["system", "if_mib"],
        labels: &[("role", "core"), ("site", "ams1")],
    };
    let broken = Device {
        name: "broken",
        modules: &["nope"],
        ..router
    };
    db.psql(&format!(
        "{}{}{}{}",
        v2c_credential_sql(api::SECRET_KEY, "db-v2c", COMMUNITY),
        router.insert_sql(),
        ping_device("db-ping").insert_sql(),
        broken.insert_sql()
    ));
}

fn group(address: &str, labels: Value) -> Value {
    json!({"targets": [address], "labels": labels})
}

fn file_ping() -> Value {
    group(
        "127.0.0.1",
        json!({"__param_target": "file-ping", "__param_module": "ping",
            "__meta_ispmonitor_kind": "host", "__meta_ispmonitor_source": "file",
            "__meta_ispmonitor_name": "file-ping", "site": "ams1"}),
    )
}

fn db_ping() -> Value {
    group(
        "127.0.0.1",
        json!({"__param_target": "db-ping", "__param_module": "ping",
            "__meta_ispmonitor_kind": "host", "__meta_ispmonitor_source": "database",
            "__meta_ispmonitor_name": "db-ping"}),
    )
}

fn core_1(module: &str) -> Value {
    group(
        "127.0.0.1:16100",
        json!({"__param_target": "core-1", "__param_module": module,
            "__meta_ispmonitor_kind": "router", "__meta_ispmonitor_source": "database",
            "__meta_ispmonitor_name": "core-1", "role": "core", "site": "ams1"}),
    )
}

fn field_of_error(api: &Api, path: &str) -> Value {
    let r = api.get(path);
    assert_eq!(r.status, 422, "{path}: {}", r.text());
    r.json()["error"]["field"].clone()
}

#[test]
fn sd_serves_the_effective_inventory_in_the_http_sd_format() {
    let s = setup();
    let anonymous = Api::new(&s.server.api_addr, None);
    assert_eq!(anonymous.get("/api/v1/sd").status, 401);
    let r = s.viewer.get("/api/v1/sd");
    assert_eq!(r.status, 200);
    assert_eq!(r.json(), json!([file_ping()]), "only the YAML target yet");

    // Read at request time: rows written a moment ago are listed, invalid ones are not.
    insert_inventory(&s.db);
    let r = s.viewer.get("/api/v1/sd");
    assert_eq!(r.status, 200, "{}", r.text());
    let content_type = r.header("content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    assert_eq!(
        r.json(),
        json!([file_ping(), db_ping(), core_1("system,if_mib")])
    );
    assert!(!r.text().contains(COMMUNITY));

    assert_eq!(
        s.viewer.get("/api/v1/sd?kind=router").json(),
        json!([core_1("system,if_mib")])
    );
    assert_eq!(
        s.viewer.get("/api/v1/sd?kind=host").json(),
        json!([file_ping(), db_ping()])
    );
    assert_eq!(
        s.viewer.get("/api/v1/sd?module=if_mib").json(),
        json!([core_1("if_mib")])
    );
    assert_eq!(
        s.viewer.get("/api/v1/sd?kind=router&module=ping").json(),
        json!([])
    );
    let empty = s.viewer.get("/api/v1/sd?kind=server");
    assert_eq!((empty.status, empty.text().as_str()), (200, "[]"));

    assert_eq!(field_of_error(&s.viewer, "/api/v1/sd?kind=switch"), "kind");
    assert_eq!(
        field_of_error(&s.viewer, "/api/v1/sd?module=nope"),
        "module"
    );
    assert_eq!(field_of_error(&s.viewer, "/api/v1/sd?colour=1"), "colour");
    sd_shards_split_the_inventory(&s.viewer);

    promtool_discovers_and_relabels(&s);
    let logs = s.server.stop_and_logs();
    assert!(!logs.contains(COMMUNITY));
}

/// `?shard=N&of=M`: the shards' lists are disjoint and together the whole inventory, and
/// bad combinations are a 422 naming the parameter.
fn sd_shards_split_the_inventory(viewer: &Api) {
    let all = viewer.get("/api/v1/sd").json();
    let all = all.as_array().unwrap();
    let mut union = Vec::new();
    for shard in 0..3 {
        let r = viewer.get(&format!("/api/v1/sd?shard={shard}&of=3"));
        assert_eq!(r.status, 200, "{}", r.text());
        for group in r.json().as_array().unwrap() {
            assert!(
                all.contains(group),
                "shard {shard} lists an unknown {group}"
            );
            assert!(!union.contains(group), "{group} is in two shards");
            union.push(group.clone());
        }
    }
    assert_eq!(union.len(), all.len(), "the shards together: {union:?}");
    assert_eq!(viewer.get("/api/v1/sd?shard=0&of=1").json(), json!(all));
    assert_eq!(field_of_error(viewer, "/api/v1/sd?shard=3&of=3"), "shard");
    assert_eq!(field_of_error(viewer, "/api/v1/sd?shard=0&of=0"), "of");
    assert_eq!(field_of_error(viewer, "/api/v1/sd?shard=1"), "of");
    assert_eq!(field_of_error(viewer, "/api/v1/sd?of=2"), "shard");
    assert_eq!(field_of_error(viewer, "/api/v1/sd?shard=x&of=2"), "shard");
}

/// `promtool check service-discovery` queries the running API with the token from a file and
/// applies the multi-target relabelling.
fn promtool_discovers_and_relabels(s: &Setup) {
    let config = prometheus_config(s.dir.path(), s, "1m");
    let out = Command::new("promtool")
        .args(["check", "service-discovery", "--timeout=20s"])
        .arg(&config)
        .arg("ispmonitor_sd")
        .output()
        .expect("promtool is installed by scripts/install-peers.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "promtool: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let discovered: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("promtool printed no JSON ({e}): {stdout}"));
    let by_instance = |instance: &str| -> Value {
        discovered
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["labels"]["instance"] == instance)
            .unwrap_or_else(|| panic!("{instance} not discovered: {stdout}"))
            .clone()
    };
    let core = by_instance("core-1");
    assert_eq!(core["labels"]["__address__"], s.server.addr);
    assert_eq!(core["labels"]["__metrics_path__"], "/probe");
    assert_eq!(core["labels"]["__param_target"], "core-1");
    assert_eq!(core["labels"]["__param_module"], "system,if_mib");
    assert_eq!(core["labels"]["role"], "core");
    assert_eq!(core["labels"]["inventory_source"], "database");
    assert_eq!(core["discoveredLabels"]["__meta_ispmonitor_kind"], "router");
    assert_eq!(
        by_instance("file-ping")["labels"]["inventory_source"],
        "file"
    );
    by_instance("db-ping");
    assert_eq!(discovered.as_array().unwrap().len(), 3, "{stdout}");
}

/// A Prometheus config whose `ispmonitor_sd` job discovers through the API and scrapes the
/// poller's /probe.
fn prometheus_config(dir: &Path, s: &Setup, refresh: &str) -> PathBuf {
    let token_file = dir.join("sd.token");
    std::fs::write(&token_file, s.viewer.token.as_deref().unwrap()).unwrap();
    let yaml = format!(
        "global: {{scrape_interval: 1s, scrape_timeout: 1s}}\n\
         scrape_configs:\n\
         \x20 - job_name: ispmonitor_sd\n\
         \x20   metrics_path: /probe\n\
         \x20   http_sd_configs:\n\
         \x20     - url: http://{api}/api/v1/sd\n\
         \x20       refresh_interval: {refresh}\n\
         \x20       authorization: {{type: Bearer, credentials_file: {token}}}\n\
         \x20   relabel_configs:\n\
         \x20     - {{source_labels: [__param_target], target_label: instance}}\n\
         \x20     - {{source_labels: [__meta_ispmonitor_source], target_label: inventory_source}}\n\
         \x20     - {{target_label: __address__, replacement: '{poller}'}}\n",
        api = s.server.api_addr,
        token = token_file.display(),
        poller = s.server.addr,
    );
    let path = dir.join("prometheus.yml");
    std::fs::write(&path, yaml).unwrap();
    path
}

struct Prometheus {
    child: Child,
    addr: String,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prometheus {
    fn start(config: &Path, data: &Path) -> Prometheus {
        let addr = format!("127.0.0.1:{}", free_tcp_port());
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", data.display()))
            .arg(format!("--web.listen-address={addr}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus is installed by scripts/install-peers.sh");
        Prometheus { child, addr }
    }

    /// The value of the first series of an instant query, if any.
    fn value(&self, promql: &str) -> Option<String> {
        let path = format!(
            "/api/v1/query?query={}",
            form_urlencoded::byte_serialize(promql.as_bytes()).collect::<String>()
        );
        let r = http::get(&self.addr, &path)
            .ok()
            .filter(|r| r.status == 200)?;
        let body: Value = serde_json::from_slice(&r.body).ok()?;
        body["data"]["result"][0]["value"][1]
            .as_str()
            .map(String::from)
    }

    fn wait_for(&self, promql: &str, expected: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let mut last = None;
        while Instant::now() < deadline {
            last = self.value(promql);
            if last.as_deref() == Some(expected) {
                return;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        let targets = http::get(&self.addr, "/api/v1/targets").map(|r| r.text());
        panic!("{promql}: expected {expected}, last {last:?}; targets: {targets:?}");
    }
}

#[test]
fn prometheus_scrapes_probe_through_http_sd_and_picks_up_new_devices() {
    let s = setup();
    s.db.psql(&ping_device("db-ping").insert_sql());
    let config = prometheus_config(s.dir.path(), &s, "1s");
    let prom = Prometheus::start(&config, &s.dir.path().join("prometheus-data"));
    let wait = Duration::from_secs(30);
    // A YAML target and a database one, both probed with the modules SD named, the device's
    // labels on the series.
    prom.wait_for(
        "ispmonitor_target_up{job=\"ispmonitor_sd\",instance=\"db-ping\",inventory_source=\"database\"}",
        "1",
        wait,
    );
    prom.wait_for(
        "ispmonitor_target_up{job=\"ispmonitor_sd\",instance=\"file-ping\",site=\"ams1\",protocol=\"icmp\"}",
        "1",
        wait,
    );
    prom.wait_for("up{job=\"ispmonitor_sd\",instance=\"db-ping\"}", "1", wait);
    // A device added later is discovered on the next refresh, without a restart.
    s.db.psql(&ping_device("late-ping").insert_sql());
    prom.wait_for(
        "ispmonitor_target_up{job=\"ispmonitor_sd\",instance=\"late-ping\"}",
        "1",
        wait,
    );
    assert_eq!(
        prom.value("count(up{job=\"ispmonitor_sd\"} == 1)")
            .as_deref(),
        Some("3")
    );
}

#[test]
fn the_example_prometheus_config_is_valid() {
    let example = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/prometheus-http-sd.yml"
    );
    let out = Command::new("promtool")
        .args(["check", "config", example])
        .output()
        .expect("promtool is installed by scripts/install-peers.sh");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(example).unwrap();
    assert!(text.contains("/api/v1/sd"));
    assert!(text.contains("credentials_file"));
    let lines = |start: &str| text.lines().filter(|l| l.trim().starts_with(start)).count();
    assert_eq!(
        lines("type: Bearer"),
        lines("credentials_file:"),
        "every token file goes with an explicit type (prometheus/docs#2377)"
    );
}
