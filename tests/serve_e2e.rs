//! End to end: the real `ispmonitor serve` binary polling a real net-snmp snmpd, scraped over
//! HTTP: metrics, content negotiation, gzip, promtool, probe, reload, health and shutdown.

mod common;

use std::io::Read;
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::http;
use common::ispmonitor::{binary, sample_value, Ispmonitor};
use common::snmpd::{Snmpd, SnmpdOptions, AUTH_PASSWORD as V3_AUTH, PRIV_PASSWORD as V3_PRIV};

/// A community that looks like a secret, so a leak would be found by grepping for it.
const COMMUNITY: &str = "e2e-community-s3cret";

struct Fixture {
    dir: tempfile::TempDir,
    snmpd: Snmpd,
    /// A UDP port that is bound but never answers (a silent device).
    silent: UdpSocket,
}

impl Fixture {
    fn new() -> Fixture {
        let snmpd = Snmpd::start_with(SnmpdOptions {
            extra_config: vec![format!("rocommunity {COMMUNITY} 127.0.0.1")],
            ..Default::default()
        });
        let silent = UdpSocket::bind("127.0.0.1:0").expect("bind silent port");
        Fixture {
            dir: tempfile::tempdir().expect("tempdir"),
            snmpd,
            silent,
        }
    }

    fn closed_port() -> u16 {
        // Bound then released: nothing listens there, the kernel answers port-unreachable.
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.local_addr().unwrap().port()
    }

    fn write_config(&self, name: &str, targets: &str) -> PathBuf {
        let yaml = format!(
            r#"global: {{interval: 1s, timeout: 800ms, snmp: {{retries: 0}}}}
credentials:
  v2: {{type: snmp, version: 2c, community: "{COMMUNITY}"}}
  wrong_v2: {{type: snmp, version: 2c, community: "not-the-community"}}
  v3: {{type: snmp, version: 3, username: shaaes, security_level: authPriv, auth_protocol: SHA,
        auth_password: "{V3_AUTH}", priv_protocol: AES, priv_password: "{V3_PRIV}"}}
  wrong_v3: {{type: snmp, version: 3, username: shaaes, security_level: authPriv, auth_protocol: SHA,
        auth_password: "wrong-password-1", priv_protocol: AES, priv_password: "{V3_PRIV}"}}
targets:
{targets}"#
        );
        let path = self.dir.path().join(name);
        std::fs::write(&path, yaml).expect("write config");
        path
    }

    fn target(name: &str, port: u16, credential: &str, modules: &str) -> String {
        format!(
            "  - {{name: {name}, address: \"127.0.0.1:{port}\", kind: router, modules: [{modules}], credential: {credential}, labels: {{site: lab}}}}\n"
        )
    }

    fn good(&self, name: &str, credential: &str) -> String {
        Self::target(
            name,
            self.snmpd.port,
            credential,
            "system, if_mib, host_resources",
        )
    }
}

fn up(metrics: &str, target: &str) -> Option<f64> {
    sample_value(
        metrics,
        &format!("ispmonitor_target_up{{target=\"{target}\",protocol=\"snmp\"}}"),
    )
}

fn reason(metrics: &str, target: &str, reason: &str) -> bool {
    let series = format!(
        "ispmonitor_target_poll_failure_reason{{target=\"{target}\",protocol=\"snmp\",reason=\"{reason}\"}}"
    );
    sample_value(metrics, &series) == Some(1.0)
}

#[test]
fn serve_polls_real_snmpd_and_reports_each_failure_reason() {
    let f = Fixture::new();
    let silent_port = f.silent.local_addr().unwrap().port();
    let targets = [
        f.good("good-v2c", "v2"),
        f.good("good-v3", "v3"),
        f.good("wrong-community", "wrong_v2"),
        f.good("wrong-v3-password", "wrong_v3"),
        Fixture::target("closed-port", Fixture::closed_port(), "v2", "system"),
        Fixture::target("silent-host", silent_port, "v2", "system"),
    ]
    .concat();
    let config = f.write_config("all.yaml", &targets);
    let server = Ispmonitor::start(&config, &[]);
    let all_polled = |m: &str| {
        [
            "good-v2c",
            "good-v3",
            "wrong-community",
            "wrong-v3-password",
            "closed-port",
            "silent-host",
        ]
        .iter()
        .all(|t| up(m, t).is_some())
    };
    let m = server.wait_for_metrics(
        "every target polled once",
        Duration::from_secs(15),
        all_polled,
    );
    assert_eq!(up(&m, "good-v2c"), Some(1.0), "{m}");
    assert_eq!(up(&m, "good-v3"), Some(1.0), "{m}");
    assert_eq!(up(&m, "wrong-community"), Some(0.0));
    assert!(reason(&m, "wrong-community", "timeout"), "{m}");
    assert_eq!(up(&m, "wrong-v3-password"), Some(0.0));
    assert!(reason(&m, "wrong-v3-password", "auth"), "{m}");
    assert_eq!(up(&m, "closed-port"), Some(0.0));
    assert!(reason(&m, "closed-port", "unreachable"), "{m}");
    assert_eq!(up(&m, "silent-host"), Some(0.0));
    assert!(reason(&m, "silent-host", "timeout"), "{m}");

    // Device families from the healthy targets, with the target label first.
    for family in [
        "ispmonitor_snmp_uptime_seconds{target=\"good-v2c\"}",
        "ispmonitor_interface_receive_bytes_total{target=\"good-v3\",interface=\"lo\"}",
        "ispmonitor_interface_up{target=\"good-v2c\",interface=\"lo\"}",
    ] {
        assert!(
            sample_value(&m, family).is_some(),
            "missing {family} in\n{m}"
        );
    }
    // A failed target has no device series: stale values are never served as fresh.
    assert!(!m.contains("ispmonitor_snmp_uptime_seconds{target=\"silent-host\"}"));
    assert!(m.contains(
        "ispmonitor_target_info{target=\"good-v2c\",kind=\"router\",address=\"127.0.0.1:"
    ));
    assert!(m.contains("ispmonitor_polls_total{protocol=\"snmp\",result=\"auth\"}"));
    assert!(
        sample_value(&m, "ispmonitor_routers_total{status=\"online\"}") == Some(2.0),
        "{m}"
    );
    assert!(
        sample_value(&m, "ispmonitor_routers_total{status=\"offline\"}") == Some(4.0),
        "{m}"
    );

    // The secrets appear nowhere: not in metrics, not in any log line.
    let logs = server.stop_and_logs();
    for secret in [
        COMMUNITY,
        V3_AUTH,
        V3_PRIV,
        "wrong-password-1",
        "not-the-community",
    ] {
        assert!(!m.contains(secret), "secret {secret} in /metrics");
        assert!(!logs.contains(secret), "secret {secret} in logs:\n{logs}");
    }
    assert!(
        logs.contains("target is down"),
        "state changes are logged:\n{logs}"
    );
}

#[test]
fn exposition_is_negotiated_compressed_and_valid_for_promtool() {
    let f = Fixture::new();
    let config = f.write_config("one.yaml", &f.good("r1", "v2"));
    let server = Ispmonitor::start(&config, &[]);
    server.wait_for_metrics("r1 up", Duration::from_secs(10), |m| {
        up(m, "r1") == Some(1.0)
    });

    let text = http::get(&server.addr, "/metrics").unwrap();
    assert_eq!(
        text.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    assert!(!text.text().contains("# EOF"));
    common::promtool::check_metrics(&text.body);

    let prometheus_accept =
        "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,\
        application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
    let om = http::request(
        "GET",
        &server.addr,
        "/metrics",
        &[("Accept", prometheus_accept)],
    )
    .unwrap();
    assert_eq!(
        om.header("content-type"),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
    );
    let om_text = om.text();
    assert!(om_text.ends_with("# EOF\n"));
    assert!(om_text.contains("# TYPE ispmonitor_interface_receive_bytes counter"));

    let gz = http::request(
        "GET",
        &server.addr,
        "/metrics",
        &[("Accept-Encoding", "gzip")],
    )
    .unwrap();
    assert_eq!(gz.header("content-encoding"), Some("gzip"));
    let mut unpacked = String::new();
    flate2::read::GzDecoder::new(&gz.body[..])
        .read_to_string(&mut unpacked)
        .unwrap();
    assert!(unpacked.contains("ispmonitor_target_up{target=\"r1\",protocol=\"snmp\"} 1"));

    // Every family the metric contract requires of the poller core is present.
    for family in [
        "ispmonitor_target_last_success_timestamp_seconds",
        "ispmonitor_target_poll_duration_seconds",
        "ispmonitor_target_schedule_lag_seconds{target=\"r1\",protocol=\"snmp\"}",
        "ispmonitor_build_info",
        "ispmonitor_poll_duration_seconds_bucket",
        "ispmonitor_active_pollers",
        "ispmonitor_queued_polls",
        "ispmonitor_config_last_reload_successful 1",
        // hrProcessorLoad is absent for snmpd's first seconds; tests/snmp_poller.rs covers it.
        "ispmonitor_storage_size_bytes",
    ] {
        assert!(unpacked.contains(family), "missing {family}");
    }
    let version_line = format!("version=\"{}\"", env!("CARGO_PKG_VERSION"));
    assert!(unpacked.contains(&version_line));
}

#[test]
fn reload_adds_removes_and_refuses_bad_configs() {
    let f = Fixture::new();
    let config = f.write_config("reload.yaml", &f.good("keep", "v2"));
    let server = Ispmonitor::start(&config, &[]);
    server.wait_for_metrics("keep up", Duration::from_secs(10), |m| {
        up(m, "keep") == Some(1.0)
    });

    // SIGHUP adds a target.
    f.write_config(
        "reload.yaml",
        &[f.good("keep", "v2"), f.good("added", "v3")].concat(),
    );
    server.signal("HUP");
    server.wait_for_metrics("added polled", Duration::from_secs(10), |m| {
        up(m, "added") == Some(1.0)
    });

    // A bad config is refused with its errors; the old one keeps running.
    let good_config = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        format!("{good_config}  - {{name: broken, credential: nope}}\n"),
    )
    .unwrap();
    let r = http::request("POST", &server.addr, "/-/reload", &[]).unwrap();
    assert_eq!(r.status, 500, "{}", r.text());
    assert!(
        r.text().contains("targets[2]"),
        "errors name the YAML path: {}",
        r.text()
    );
    let m = server.metrics();
    assert_eq!(
        sample_value(&m, "ispmonitor_config_last_reload_successful"),
        Some(0.0)
    );
    assert_eq!(up(&m, "keep"), Some(1.0));
    let health = server.get("/health").text();
    assert!(health.contains("\"last_reload\":\"failed\""), "{health}");

    // GET does not reload.
    assert_eq!(server.get("/-/reload").status, 405);

    // Removing a target makes its series disappear; the other keeps running.
    f.write_config("reload.yaml", &f.good("added", "v3"));
    let r = http::request("POST", &server.addr, "/-/reload", &[]).unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("1 removed"), "{}", r.text());
    let m = server.metrics();
    assert!(
        !m.contains("target=\"keep\""),
        "removed target still exposed:\n{m}"
    );
    assert_eq!(up(&m, "added"), Some(1.0));
    assert_eq!(
        sample_value(&m, "ispmonitor_config_last_reload_successful"),
        Some(1.0)
    );
}

#[test]
fn probe_polls_one_target_during_the_request() {
    let f = Fixture::new();
    let config = f.write_config("probe.yaml", &f.good("inventory-router", "v2"));
    let server = Ispmonitor::start(&config, &[]);
    let addr = format!("127.0.0.1:{}", f.snmpd.port);

    let r = server.get(&format!(
        "/probe?target={addr}&module=system,if_mib&credential=v2"
    ));
    assert_eq!(r.status, 200, "{}", r.text());
    let body = r.text();
    assert!(
        body.contains(&format!(
            "ispmonitor_target_up{{target=\"{addr}\",protocol=\"snmp\"}} 1"
        )),
        "{body}"
    );
    assert!(body.contains(&format!(
        "ispmonitor_snmp_uptime_seconds{{target=\"{addr}\"}}"
    )));
    assert!(body.contains("ispmonitor_interface_receive_bytes_total"));
    assert!(
        !body.contains("ispmonitor_build_info"),
        "no self-metrics in /probe"
    );
    assert!(!body.contains("inventory-router"), "only the probed target");

    // An inventory name lends its credential and modules.
    let r = server.get("/probe?target=inventory-router");
    assert_eq!(r.status, 200);
    assert!(r
        .text()
        .contains("ispmonitor_storage_size_bytes{target=\"inventory-router\""));

    assert_eq!(
        server
            .get(&format!("/probe?target={addr}&module=nope&credential=v2"))
            .status,
        400
    );
    assert_eq!(
        server
            .get(&format!(
                "/probe?target={addr}&module=system&credential=nope"
            ))
            .status,
        400
    );
    assert_eq!(
        server
            // Not in the inventory (by name or address): the credential must be given.
            .get(&format!(
                "/probe?target=localhost:{}&module=system",
                f.snmpd.port
            ))
            .status,
        400
    );
    assert_eq!(server.get("/probe?module=system&credential=v2").status, 400);
    let twice = format!("/probe?target={addr}&target={addr}&module=system&credential=v2");
    assert_eq!(server.get(&twice).status, 400);
}

#[test]
fn health_endpoints_and_landing_page() {
    let f = Fixture::new();
    let config = f.write_config("health.yaml", &f.good("r1", "v2"));
    let server = Ispmonitor::start(&config, &[]);
    for path in ["/live", "/-/healthy", "/ready", "/-/ready"] {
        assert_eq!(server.get(path).status, 200, "{path}");
    }
    let health = server.get("/health");
    assert_eq!(health.status, 200);
    let json: serde_json::Value = serde_json::from_slice(&health.body).expect("health is JSON");
    assert_eq!(json["status"], "ok");
    assert_eq!(json["checks"]["config"]["status"], "ok");
    assert_eq!(json["checks"]["scheduler"]["targets"], 1);
    let landing = server.get("/");
    assert!(landing.text().contains("href=\"/metrics\""));
}

#[test]
fn sigterm_turns_ready_off_then_exits_zero() {
    let f = Fixture::new();
    let config = f.write_config("term.yaml", &f.good("r1", "v2"));
    let server = Ispmonitor::start(&config, &["--web.shutdown-delay", "2s"]);
    server.signal("TERM");
    let mut saw_503 = false;
    for _ in 0..30 {
        match http::get(&server.addr, "/ready") {
            Ok(r) if r.status == 503 => {
                saw_503 = true;
                break;
            }
            _ => std::thread::sleep(Duration::from_millis(50)),
        }
    }
    assert!(saw_503, "/ready never answered 503 during shutdown");
    assert_eq!(
        http::get(&server.addr, "/live").map(|r| r.status).ok(),
        Some(200)
    );
    let (code, logs) = server.wait_exit(Duration::from_secs(15));
    assert_eq!(code, Some(0), "{logs}");
}

#[test]
fn sigint_exits_zero() {
    let f = Fixture::new();
    let config = f.write_config("int.yaml", &f.good("r1", "v2"));
    let server = Ispmonitor::start(&config, &[]);
    server.signal("INT");
    let (code, logs) = server.wait_exit(Duration::from_secs(15));
    assert_eq!(code, Some(0), "{logs}");
}

fn run_cli(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(binary())
        .args(args)
        .output()
        .expect("run ispmonitor");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (
        out.status.code().unwrap_or(-1),
        text(&out.stdout),
        text(&out.stderr),
    )
}

#[test]
fn check_config_accepts_every_example_and_names_problems() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut checked = 0;
    for entry in std::fs::read_dir(&examples).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let (code, out, err) = run_cli(&["check-config", "--config", path.to_str().unwrap()]);
            assert_eq!(code, 0, "{}: {out}{err}", path.display());
            checked += 1;
        }
    }
    assert!(
        checked >= 3,
        "examples/ has the demo, minimal and full configs"
    );

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "targets:\n  - {name: a, address: 10.0.0.1, kind: router, modules: [system], credential: core_v3}\n").unwrap();
    let (code, _, err) = run_cli(&["check-config", "--config", bad.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("targets[0].credential"), "{err}");
    assert!(err.contains("core_v3"), "{err}");
}

#[test]
fn version_and_help_are_complete() {
    let (code, out, _) = run_cli(&["--version"]);
    assert_eq!(code, 0);
    assert!(
        out.starts_with(&format!(
            "ispmonitor {} (revision ",
            env!("CARGO_PKG_VERSION")
        )),
        "{out}"
    );
    let (code, help, _) = run_cli(&["serve", "--help"]);
    assert_eq!(code, 0);
    for flag in [
        "--config",
        "--web.listen-address",
        "ISPMONITOR_WEB_LISTEN_ADDRESS",
        "--log.format",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}");
    }
}

#[test]
fn json_logs_are_one_object_per_line() {
    let f = Fixture::new();
    let config = f.write_config("json.yaml", &f.good("r1", "wrong_v3"));
    let server = Ispmonitor::start(&config, &["--log.format", "json"]);
    server.wait_for_metrics("r1 polled", Duration::from_secs(10), |m| {
        up(m, "r1") == Some(0.0)
    });
    let logs = server.stop_and_logs();
    let mut lines = 0;
    for line in logs.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        for key in ["timestamp", "level", "target", "message"] {
            assert!(v.get(key).is_some(), "no {key} in {line}");
        }
        lines += 1;
    }
    assert!(lines >= 2, "expected start and state-change lines:\n{logs}");
    assert!(logs.contains("\"reason\":\"auth\""), "{logs}");
}
