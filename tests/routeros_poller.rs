//! The RouterOS API poller end to end: the real `ispmonitor` polling the real simulator's
//! MikroTik devices over TCP and TLS, scraped on /metrics. Login success and failure, a kept
//! connection, count-only values that follow the scenarios, a `!trap`, a connection cut in the
//! middle of a reply, a slow router beside a healthy one, and certificates refused unless
//! trusted.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::ispmonitor::{sample_value, Ispmonitor};
use common::simulator::Simulator;

/// The simulator's defaults (docs/simulator.md).
const SIM_USER: &str = "simuser";
const SIM_PASSWORD: &str = "apipass123";

const WAIT: Duration = Duration::from_secs(30);

/// A simulated fleet with at least two MikroTik devices, API-SSL served with `cert`.
fn fleet(tls: Option<&Tls>) -> Simulator {
    let mut args: Vec<String> = vec!["--mikrotik-devices".into(), "0,1".into()];
    if let Some(tls) = tls {
        args.push("--routeros-tls-cert".into());
        args.push(tls.cert.display().to_string());
        args.push("--routeros-tls-key".into());
        args.push(tls.key.display().to_string());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let sim = Simulator::start(3, &args);
    assert!(
        sim.routeros_endpoints().len() >= 2,
        "the fleet has two MikroTik devices: {:?}",
        sim.routeros_endpoints()
    );
    sim
}

/// `(device index, plain address, TLS address)` of the n-th MikroTik device.
fn endpoint(sim: &Simulator, n: usize) -> (u64, String, Option<String>) {
    let endpoints = sim.routeros_endpoints();
    let e = &endpoints[n];
    (
        e["device"].as_u64().expect("device"),
        e["address"].as_str().expect("address").to_string(),
        e["tls_address"].as_str().map(str::to_string),
    )
}

/// `serve` polling `targets` (`(name, address, credential)`) every second with `credentials`
/// (`(name, yaml)`); the directory holds its config.
fn start_poller(
    credentials: &[(&str, String)],
    targets: &[(&str, &str, &str)],
) -> (tempfile::TempDir, Ispmonitor) {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), credentials, targets);
    let poller = Ispmonitor::start(&config, &[]);
    (dir, poller)
}

/// `serve` polling the fleet's first MikroTik as `edge-api` with `password`; its device index.
fn poll_first_mikrotik(sim: &Simulator, password: &str) -> (u64, tempfile::TempDir, Ispmonitor) {
    let (device, address, _) = endpoint(sim, 0);
    let (dir, poller) = start_poller(
        &[("mt", plain_credential(password))],
        &[("edge-api", &address, "mt")],
    );
    (device, dir, poller)
}

/// A poller config: one credential per `(name, yaml)` and targets `(name, address, credential)`.
fn write_config(
    dir: &Path,
    credentials: &[(&str, String)],
    targets: &[(&str, &str, &str)],
) -> PathBuf {
    let mut yaml = String::from("global: {interval: 1s, timeout: 800ms}\ncredentials:\n");
    for (name, body) in credentials {
        yaml.push_str(&format!("  {name}: {body}\n"));
    }
    yaml.push_str("targets:\n");
    for (name, address, credential) in targets {
        yaml.push_str(&format!(
            "  - {{name: {name}, address: \"{address}\", kind: router, modules: [routeros], credential: {credential}}}\n"
        ));
    }
    let path = dir.join("poller.yaml");
    std::fs::write(&path, yaml).unwrap();
    path
}

fn plain_credential(password: &str) -> String {
    format!("{{type: routeros, username: {SIM_USER}, password: {password}}}")
}

fn value(metrics: &str, series: &str) -> Option<f64> {
    sample_value(metrics, series)
}

fn up(metrics: &str, target: &str) -> Option<f64> {
    value(
        metrics,
        &format!("ispmonitor_target_up{{target=\"{target}\",protocol=\"routeros\"}}"),
    )
}

fn reason(metrics: &str, target: &str, reason: &str) -> bool {
    value(
        metrics,
        &format!(
            "ispmonitor_target_poll_failure_reason{{target=\"{target}\",protocol=\"routeros\",reason=\"{reason}\"}}"
        ),
    ) == Some(1.0)
}

fn pppoe(metrics: &str, target: &str) -> Option<f64> {
    value(
        metrics,
        &format!("ispmonitor_routeros_pppoe_sessions{{target=\"{target}\"}}"),
    )
}

fn put_faults(sim: &Simulator, json: &str) {
    let (status, body) = sim.put("/routeros/faults", json);
    assert_eq!(status, 200, "{body}");
}

#[test]
fn a_mikrotik_is_polled_over_one_kept_connection_with_every_family() {
    let sim = fleet(None);
    let (_, _dir, poller) = poll_first_mikrotik(&sim, SIM_PASSWORD);
    // Several polls, so a reconnect per poll would show in the connection counter.
    let metrics = poller.wait_for_metrics("three RouterOS polls", WAIT, |m| {
        value(
            m,
            "ispmonitor_polls_total{protocol=\"routeros\",result=\"success\"}",
        )
        .is_some_and(|n| n >= 3.0)
    });
    assert_eq!(up(&metrics, "edge-api"), Some(1.0), "{metrics}");
    assert_eq!(
        value(
            &metrics,
            "ispmonitor_routeros_connections_total{target=\"edge-api\"}"
        ),
        Some(1.0),
        "one connection kept across polls"
    );
    let sessions = pppoe(&metrics, "edge-api").expect("pppoe sessions");
    assert!(sessions >= 1.0, "{sessions}");
    let bound = value(
        &metrics,
        "ispmonitor_routeros_dhcp_leases{target=\"edge-api\",status=\"bound\"}",
    )
    .expect("bound leases");
    assert!(bound >= 1.0);
    for status in ["waiting", "offered", "busy", "testing", "authorizing"] {
        let series =
            format!("ispmonitor_routeros_dhcp_leases{{target=\"edge-api\",status=\"{status}\"}}");
        assert!(value(&metrics, &series).is_some(), "{series} missing");
    }
    let connections = value(
        &metrics,
        "ispmonitor_routeros_firewall_connections{target=\"edge-api\"}",
    )
    .expect("connections");
    let max = value(
        &metrics,
        "ispmonitor_routeros_firewall_connections_max{target=\"edge-api\"}",
    )
    .expect("max-entries");
    assert!(
        connections > 0.0 && connections <= max,
        "{connections} of {max}"
    );
    let load = value(
        &metrics,
        "ispmonitor_routeros_cpu_load_ratio{target=\"edge-api\"}",
    )
    .expect("cpu load");
    assert!((0.0..=1.0).contains(&load));
    let free = value(
        &metrics,
        "ispmonitor_routeros_memory_free_bytes{target=\"edge-api\"}",
    )
    .unwrap();
    let total = value(
        &metrics,
        "ispmonitor_routeros_memory_total_bytes{target=\"edge-api\"}",
    )
    .unwrap();
    assert!(free > 0.0 && free < total);
    assert!(
        value(
            &metrics,
            "ispmonitor_routeros_uptime_seconds{target=\"edge-api\"}"
        )
        .unwrap()
            > 0.0
    );
    assert!(
        metrics.contains("ispmonitor_routeros_system_info{target=\"edge-api\",version=\""),
        "{metrics}"
    );
    assert!(
        metrics.contains("ispmonitor_routeros_temperature_celsius{target=\"edge-api\",sensor=\"")
    );
    assert!(metrics.contains("ispmonitor_routeros_voltage_volts{target=\"edge-api\",sensor=\""));
    assert!(metrics.contains(
        "ispmonitor_routeros_interface_receive_bytes_total{target=\"edge-api\",interface=\""
    ));
    assert!(
        metrics.contains("ispmonitor_routeros_interface_running{target=\"edge-api\",interface=\"")
    );
    assert!(
        !metrics.contains("ispmonitor_routeros_command_traps_total"),
        "no command was refused"
    );
    // The simulator saw one login for all those polls.
    let sim_metrics = sim.metrics();
    assert!(!sim_metrics.contains(SIM_PASSWORD));
    let logs = poller.stop_and_logs();
    assert!(!logs.contains(SIM_PASSWORD), "the password was logged");
}

#[test]
fn a_refused_login_is_auth_and_backs_off_instead_of_retrying_every_poll() {
    let sim = fleet(None);
    let (_, _dir, poller) = poll_first_mikrotik(&sim, "not-the-password-42");
    let metrics =
        poller.wait_for_metrics("the auth failure", WAIT, |m| reason(m, "edge-api", "auth"));
    assert_eq!(up(&metrics, "edge-api"), Some(0.0));
    assert!(
        pppoe(&metrics, "edge-api").is_none(),
        "no data after a failed login"
    );
    // Polls every second for 6 s; with backoff (1 s, 2 s, 4 s...) far fewer logins reach the router.
    std::thread::sleep(Duration::from_secs(6));
    let metrics = poller.metrics();
    let polls = value(
        &metrics,
        "ispmonitor_polls_total{protocol=\"routeros\",result=\"auth\"}",
    )
    .unwrap();
    let failed_logins = sim_counter(&sim, "login_failures");
    assert!(polls >= 5.0, "{polls} polls");
    assert!(
        (1.0..=4.0).contains(&failed_logins),
        "{failed_logins} logins for {polls} polls: the poller must back off"
    );
    let logs = poller.stop_and_logs();
    assert!(!logs.contains("not-the-password-42"));
    assert!(
        logs.contains("invalid user name or password"),
        "the router's reason is logged"
    );
}

/// A counter of the simulator's API side, by the end of its name.
fn sim_counter(sim: &Simulator, name: &str) -> f64 {
    let metrics = sim.metrics();
    metrics
        .lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| {
            l.split(' ')
                .next()
                .is_some_and(|n| n.contains("routeros") && n.ends_with(&format!("{name}_total")))
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no routeros {name} counter in:\n{metrics}"))
}

#[test]
fn a_trap_leaves_out_one_menu_and_a_cut_reply_reconnects() {
    let sim = fleet(None);
    let (device, _dir, poller) = poll_first_mikrotik(&sim, SIM_PASSWORD);
    poller.wait_for_metrics("the first poll", WAIT, |m| up(m, "edge-api") == Some(1.0));

    put_faults(
        &sim,
        &format!(r#"{{"trap_commands": ["/system/health/print"], "devices": [{device}]}}"#),
    );
    let metrics = poller.wait_for_metrics("the trapped command counted", WAIT, |m| {
        value(
            m,
            "ispmonitor_routeros_command_traps_total{target=\"edge-api\",command=\"/system/health/print\"}",
        )
        .is_some_and(|n| n >= 1.0)
    });
    assert_eq!(
        up(&metrics, "edge-api"),
        Some(1.0),
        "a trap does not fail the poll"
    );
    assert!(
        !metrics.contains("ispmonitor_routeros_temperature_celsius{target=\"edge-api\""),
        "the refused menu's families are left out"
    );
    assert!(pppoe(&metrics, "edge-api").is_some(), "the others stay");
    assert_eq!(
        value(
            &metrics,
            "ispmonitor_routeros_connections_total{target=\"edge-api\"}"
        ),
        Some(1.0),
        "a trap keeps the connection"
    );

    put_faults(&sim, r#"{"cut_mid_reply": true}"#);
    let metrics =
        poller.wait_for_metrics("the cut reply", WAIT, |m| up(m, "edge-api") == Some(0.0));
    assert!(
        reason(&metrics, "edge-api", "unreachable"),
        "a connection closed mid-reply is a lost connection: {metrics}"
    );
    assert!(
        pppoe(&metrics, "edge-api").is_none(),
        "nothing stale is served"
    );
    put_faults(&sim, "{}");
    let metrics = poller.wait_for_metrics("the recovery", WAIT, |m| up(m, "edge-api") == Some(1.0));
    let connections = value(
        &metrics,
        "ispmonitor_routeros_connections_total{target=\"edge-api\"}",
    )
    .unwrap();
    assert!(
        connections >= 2.0,
        "reconnected after the cut: {connections}"
    );
    assert!(metrics.contains("ispmonitor_routeros_temperature_celsius{target=\"edge-api\""));

    // RouterOS 6 writes uptime as a clock (`2d03:04:05`), RouterOS 7 with letters.
    let letters = value(
        &metrics,
        "ispmonitor_routeros_uptime_seconds{target=\"edge-api\"}",
    )
    .unwrap();
    put_faults(&sim, r#"{"uptime_format": "clock"}"#);
    std::thread::sleep(Duration::from_secs(2));
    let metrics = poller.wait_for_metrics("a poll with the clock uptime", WAIT, |m| {
        up(m, "edge-api") == Some(1.0)
    });
    let clock = value(
        &metrics,
        "ispmonitor_routeros_uptime_seconds{target=\"edge-api\"}",
    )
    .unwrap();
    assert!(
        clock >= letters && clock - letters < 30.0,
        "the same uptime in both notations: {letters} then {clock}"
    );
}

#[test]
fn a_slow_router_times_out_without_delaying_a_healthy_one() {
    let sim = fleet(None);
    let (slow_device, slow, _) = endpoint(&sim, 0);
    let (_, healthy, _) = endpoint(&sim, 1);
    let (_dir, poller) = start_poller(
        &[("mt", plain_credential(SIM_PASSWORD))],
        &[("slow-api", &slow, "mt"), ("healthy-api", &healthy, "mt")],
    );
    poller.wait_for_metrics("both up", WAIT, |m| {
        up(m, "slow-api") == Some(1.0) && up(m, "healthy-api") == Some(1.0)
    });
    let (status, body) = sim.put_scenario(&format!(
        r#"{{"name": "slow-agent", "devices": [{slow_device}], "delay_ms": 3000}}"#
    ));
    assert_eq!(status, 200, "{body}");
    let metrics = poller.wait_for_metrics("the slow router's timeout", WAIT, |m| {
        reason(m, "slow-api", "timeout")
    });
    assert_eq!(up(&metrics, "healthy-api"), Some(1.0));
    // The healthy router keeps its schedule: fresh polls, each well inside its timeout.
    let before = value(
        &metrics,
        "ispmonitor_target_last_success_timestamp_seconds{target=\"healthy-api\",protocol=\"routeros\"}",
    )
    .unwrap();
    std::thread::sleep(Duration::from_secs(3));
    let metrics = poller.metrics();
    let after = value(
        &metrics,
        "ispmonitor_target_last_success_timestamp_seconds{target=\"healthy-api\",protocol=\"routeros\"}",
    )
    .unwrap();
    assert!(
        after - before >= 2.0,
        "healthy router polled on time: {before} -> {after}"
    );
    let duration = value(
        &metrics,
        "ispmonitor_target_poll_duration_seconds{target=\"healthy-api\",protocol=\"routeros\"}",
    )
    .unwrap();
    assert!(duration < 0.5, "healthy poll took {duration} s");
    let slow_duration = value(
        &metrics,
        "ispmonitor_target_poll_duration_seconds{target=\"slow-api\",protocol=\"routeros\"}",
    )
    .unwrap();
    assert!(
        slow_duration < 1.0,
        "the slow poll ends at its 800ms timeout: {slow_duration}"
    );
}

#[test]
fn pppoe_sessions_follow_the_upstream_outage_and_session_spike_scenarios() {
    let sim = fleet(None);
    let (device, _dir, poller) = poll_first_mikrotik(&sim, SIM_PASSWORD);
    let metrics = poller.wait_for_metrics("sessions", WAIT, |m| pppoe(m, "edge-api").is_some());
    let normal = pppoe(&metrics, "edge-api").unwrap();
    assert!(normal >= 50.0, "{normal}");

    let (status, body) = sim.put_scenario(&format!(
        r#"{{"name": "upstream-outage", "devices": [{device}]}}"#
    ));
    assert_eq!(status, 200, "{body}");
    let metrics = poller.wait_for_metrics("sessions dropped", WAIT, |m| {
        pppoe(m, "edge-api").is_some_and(|s| s < normal * 0.3)
    });
    assert_eq!(
        up(&metrics, "edge-api"),
        Some(1.0),
        "the router itself still answers"
    );

    let (status, body) = sim.put_scenario(&format!(
        r#"{{"name": "session-spike", "devices": [{device}]}}"#
    ));
    assert_eq!(status, 200, "{body}");
    poller.wait_for_metrics("sessions spiked", WAIT, |m| {
        pppoe(m, "edge-api").is_some_and(|s| s > normal * 1.5)
    });
}

/// A router's self-signed certificate and key, and another one it does not hold.
struct Tls {
    _dir: tempfile::TempDir,
    cert: PathBuf,
    key: PathBuf,
    other_cert: PathBuf,
}

fn self_signed() -> Tls {
    let dir = tempfile::tempdir().unwrap();
    // The simulator serves every device on 127.1.0.x; the certificate is pinned, so its
    // names do not matter, but a real router's would carry its address.
    let (cert, key) = common::certs::self_signed(dir.path(), "router", "IP:127.1.0.1");
    let (other_cert, _) = common::certs::self_signed(dir.path(), "other", "IP:127.1.0.1");
    Tls {
        _dir: dir,
        cert,
        key,
        other_cert,
    }
}

#[test]
fn a_self_signed_certificate_is_refused_unless_trusted() {
    let tls = self_signed();
    let sim = fleet(Some(&tls));
    let (_, _, tls_address) = endpoint(&sim, 0);
    let tls_address = tls_address.expect("API-SSL served");
    let with = |extra: &str| {
        format!(
            "{{type: routeros, username: {SIM_USER}, password: {SIM_PASSWORD}, tls: true{extra}}}"
        )
    };
    let (_dir, poller) = start_poller(
        &[
            ("public_roots", with("")),
            (
                "pinned",
                with(&format!(", ca_file: {}", tls.cert.display())),
            ),
            (
                "wrong_pin",
                with(&format!(", ca_file: {}", tls.other_cert.display())),
            ),
            ("unverified", with(", insecure_skip_verify: true")),
        ],
        &[
            ("untrusted-api", &tls_address, "public_roots"),
            ("pinned-api", &tls_address, "pinned"),
            ("wrong-pin-api", &tls_address, "wrong_pin"),
            ("unverified-api", &tls_address, "unverified"),
        ],
    );
    let metrics = poller.wait_for_metrics("every TLS target polled", WAIT, |m| {
        [
            "untrusted-api",
            "pinned-api",
            "wrong-pin-api",
            "unverified-api",
        ]
        .iter()
        .all(|t| up(m, t).is_some())
    });
    assert!(reason(&metrics, "untrusted-api", "tls_error"), "{metrics}");
    assert!(reason(&metrics, "wrong-pin-api", "tls_error"), "{metrics}");
    assert_eq!(up(&metrics, "pinned-api"), Some(1.0), "{metrics}");
    assert_eq!(up(&metrics, "unverified-api"), Some(1.0), "{metrics}");
    assert!(pppoe(&metrics, "pinned-api").is_some());
    assert!(pppoe(&metrics, "untrusted-api").is_none());
    let logs = poller.stop_and_logs();
    assert!(!logs.contains(SIM_PASSWORD));
    assert!(
        logs.contains("UnknownIssuer")
            || logs.contains("unknown issuer")
            || logs.contains("invalid peer certificate"),
        "the TLS refusal says why: {logs}"
    );
}
