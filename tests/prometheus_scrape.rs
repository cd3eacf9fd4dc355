//! A real Prometheus server scrapes a real ispmonitor (which polls a real snmpd): the
//! exposition passes Prometheus' own parser and content-type checks, and the series arrive.

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::http;
use common::ispmonitor::{free_tcp_port, Ispmonitor};
use common::snmpd::Snmpd;

struct Prometheus {
    child: Child,
    addr: String,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_prometheus(scrape_target: &str) -> Prometheus {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global: {{scrape_interval: 1s, scrape_timeout: 1s}}\n\
             scrape_configs:\n  - job_name: ispmonitor\n    static_configs: [{{targets: ['{scrape_target}']}}]\n"
        ),
    )
    .unwrap();
    let addr = format!("127.0.0.1:{}", free_tcp_port());
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address={addr}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prometheus is installed by scripts/install-peers.sh");
    Prometheus {
        child,
        addr,
        _dir: dir,
    }
}

fn query(prom: &Prometheus, promql: &str) -> serde_json::Value {
    let path = format!(
        "/api/v1/query?query={}",
        form_urlencoded::byte_serialize(promql.as_bytes()).collect::<String>()
    );
    match http::get(&prom.addr, &path) {
        Ok(r) if r.status == 200 => serde_json::from_slice(&r.body).unwrap_or_default(),
        _ => serde_json::Value::Null,
    }
}

fn first_value(result: &serde_json::Value) -> Option<String> {
    result["data"]["result"][0]["value"][1]
        .as_str()
        .map(String::from)
}

#[test]
fn prometheus_scrapes_and_stores_the_exposition() {
    let snmpd = Snmpd::start();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.yaml");
    std::fs::write(
        &config,
        format!(
            "global: {{interval: 1s, timeout: 800ms}}\n\
             credentials: {{v2: {{type: snmp, version: 2c, community: public}}}}\n\
             targets:\n  - {{name: r1, address: \"127.0.0.1:{}\", kind: router, modules: [system, if_mib], credential: v2}}\n",
            snmpd.port
        ),
    )
    .unwrap();
    let server = Ispmonitor::start(&config, &[]);
    let prom = start_prometheus(&server.addr);

    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = serde_json::Value::Null;
    while Instant::now() < deadline {
        last = query(&prom, "ispmonitor_target_up{target=\"r1\"}");
        if first_value(&last).as_deref() == Some("1") {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    assert_eq!(
        first_value(&last).as_deref(),
        Some("1"),
        "Prometheus never stored target_up: {last}"
    );

    // The scrape itself is healthy: `up` is 1 and Prometheus recorded no scrape error.
    assert_eq!(
        first_value(&query(&prom, "up{job=\"ispmonitor\"}")).as_deref(),
        Some("1")
    );
    let targets = http::get(&prom.addr, "/api/v1/targets").unwrap().text();
    assert!(
        targets.contains("\"lastError\":\"\""),
        "scrape error: {targets}"
    );
    // Counters arrive as counters (rate works) and job/instance are Prometheus' own.
    let rx = query(
        &prom,
        "ispmonitor_interface_receive_bytes_total{target=\"r1\",interface=\"lo\"}",
    );
    assert!(first_value(&rx).is_some(), "{rx}");
    let exported = query(
        &prom,
        "count({exported_job!=\"\"} or {exported_instance!=\"\"})",
    );
    assert!(
        first_value(&exported).is_none(),
        "ispmonitor must not emit job/instance: {exported}"
    );
}
