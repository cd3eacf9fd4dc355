//! Each simulator scenario seen where an operator sees it: in the metrics of the real `ispmonitor
//! serve` polling the real `ispmonitor simulate` (scenarios chosen at start and switched at run
//! time through the control endpoint), and prometheus-snmp-exporter reading the same counters.

mod common;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::http;
use common::ispmonitor::{sample_value, Ispmonitor};
use common::simulator::Simulator;
use ispmonitor::simulator::device::{Device, DeviceSpec};
use ispmonitor::simulator::scenario::{FleetShape, ScenarioKind, ScenarioRequest, ScenarioState};

const FAST: [&str; 4] = [
    "--write-config.interval",
    "1s",
    "--write-config.timeout",
    "900ms",
];

fn start(devices: u32, extra: &[&str]) -> (Simulator, Ispmonitor) {
    let mut args: Vec<&str> = FAST.to_vec();
    args.extend(extra);
    let sim = Simulator::start(devices, &args);
    let server = Ispmonitor::start(&sim.config, &[]);
    (sim, server)
}

/// Interface names of device `index` in ifIndex order, from the same model in this process.
fn interface_names(seed: u64, index: u32) -> Vec<String> {
    device(seed, index)
        .interface_names()
        .iter()
        .map(|s| s.to_string())
        .collect()
}

fn device(seed: u64, index: u32) -> Device {
    let fleet = FleetShape {
        seed,
        devices: index + 1,
    };
    let state = ScenarioState::new(fleet, ScenarioRequest::new(ScenarioKind::Healthy)).unwrap();
    let spec = DeviceSpec {
        seed,
        index,
        interfaces: 48,
    };
    Device::new(spec, Arc::new(state))
}

fn target_series(name: &str, target: &str) -> String {
    format!("{name}{{target=\"{target}\",protocol=\"snmp\"}}")
}

fn up(metrics: &str, target: &str) -> Option<f64> {
    sample_value(metrics, &target_series("ispmonitor_target_up", target))
}

fn interface_value(metrics: &str, family: &str, target: &str, interface: &str) -> Option<f64> {
    sample_value(
        metrics,
        &format!("{family}{{target=\"{target}\",interface=\"{interface}\"}}"),
    )
}

fn rx_bytes(metrics: &str, target: &str, interface: &str) -> Option<f64> {
    interface_value(
        metrics,
        "ispmonitor_interface_receive_bytes_total",
        target,
        interface,
    )
}

fn uptime(metrics: &str, target: &str) -> Option<f64> {
    sample_value(
        metrics,
        &format!("ispmonitor_snmp_uptime_seconds{{target=\"{target}\"}}"),
    )
}

fn last_success(metrics: &str, target: &str) -> Option<f64> {
    sample_value(
        metrics,
        &target_series("ispmonitor_target_last_success_timestamp_seconds", target),
    )
}

/// Collects `read(metrics)` once per new successful poll of `target` for `duration`.
fn per_poll<T>(
    server: &Ispmonitor,
    target: &str,
    duration: Duration,
    read: impl Fn(&str) -> Option<T>,
) -> Vec<T> {
    let deadline = Instant::now() + duration;
    let mut seen = Vec::new();
    let mut last_poll = None;
    while Instant::now() < deadline {
        let metrics = server.metrics();
        let poll = last_success(&metrics, target);
        if poll.is_some() && poll != last_poll {
            last_poll = poll;
            if let Some(value) = read(&metrics) {
                seen.push(value);
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    seen
}

#[test]
fn router_down_is_target_up_0_with_reason_timeout() {
    let (sim, server) = start(
        3,
        &[
            "--seed",
            "5",
            "--scenario",
            "router-down",
            "--scenario.devices",
            "1",
        ],
    );
    let down = &sim.devices[1].0;
    let reason = format!(
        "ispmonitor_target_poll_failure_reason{{target=\"{down}\",protocol=\"snmp\",reason=\"timeout\"}}"
    );
    let metrics = server.wait_for_metrics("router 1 down", Duration::from_secs(20), |m| {
        up(m, down) == Some(0.0)
            && sample_value(m, &reason) == Some(1.0)
            && up(m, &sim.devices[0].0) == Some(1.0)
            && up(m, &sim.devices[2].0) == Some(1.0)
    });
    assert!(!metrics.contains(&format!("ispmonitor_interface_up{{target=\"{down}\"")));
    let stats = sim.metrics();
    assert!(sample_value(&stats, "ispmonitor_simulator_dropped_total").unwrap() >= 1.0);
}

#[test]
fn reboot_switched_at_run_time_resets_uptime_and_counters() {
    let (sim, server) = start(2, &["--seed", "6"]);
    let (rebooted, calm) = (&sim.devices[0].0, &sim.devices[1].0);
    let uplink = interface_names(6, 0)[2].clone();
    let before = server.wait_for_metrics("both up", Duration::from_secs(20), |m| {
        up(m, rebooted) == Some(1.0) && up(m, calm) == Some(1.0)
    });
    let uptime_before = uptime(&before, rebooted).unwrap();
    let bytes_before = rx_bytes(&before, rebooted, &uplink).unwrap();
    assert!(uptime_before > 86_400.0, "{uptime_before}");

    let (status, body) = sim.put_scenario(r#"{"name": "reboot", "devices": [2]}"#);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("device 2 does not exist"), "{body}");
    let (status, body) = sim.put_scenario(r#"{"name": "reboot", "devices": [0]}"#);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"affected_devices\":[0]"), "{body}");
    let after = server.wait_for_metrics("uptime reset", Duration::from_secs(10), |m| {
        uptime(m, rebooted).is_some_and(|u| u < 30.0)
    });
    let bytes_after = rx_bytes(&after, rebooted, &uplink).unwrap();
    // What Prometheus' rate() recognises as a counter reset: the value went down.
    assert!(
        bytes_after < bytes_before,
        "{bytes_after} !< {bytes_before}"
    );
    assert!(
        uptime(&after, calm).unwrap() > 86_400.0,
        "the other router did not reboot"
    );
    let current = http::get(&sim.control, "/scenario").unwrap().text();
    assert!(current.contains("\"name\":\"reboot\""), "{current}");
}

#[test]
fn counter_wrap_crosses_the_2_pow_53_edge_the_poller_wraps_at() {
    let (sim, server) = start(
        1,
        &[
            "--seed",
            "8",
            "--scenario",
            "counter-wrap",
            "--scenario.fraction",
            "1",
            "--scenario.period",
            "5s",
        ],
    );
    let target = sim.devices[0].0.clone();
    let names = interface_names(8, 0);
    // ifIndex 3 crosses 2^53, ifIndex 4 crosses 2^64; with wrap_large_counters (the default)
    // both show as values just below 2^53 followed by a small one: a reset Prometheus handles.
    let edge = 2f64.powi(53);
    let (odd, even) = (&names[2], &names[3]);
    let polls = per_poll(&server, &target, Duration::from_secs(9), |m| {
        Some((rx_bytes(m, &target, odd)?, rx_bytes(m, &target, even)?))
    });
    for (uplink, values) in [
        (odd, polls.iter().map(|p| p.0).collect::<Vec<f64>>()),
        (even, polls.iter().map(|p| p.1).collect()),
    ] {
        let high = values.iter().position(|v| *v > edge - 2f64.powi(46));
        let low = values.iter().rposition(|v| *v < 2f64.powi(46));
        assert!(
            matches!((high, low), (Some(h), Some(l)) if h < l),
            "{uplink}: {values:?}"
        );
        assert!(values.iter().all(|v| *v < edge));
    }
}

#[test]
fn link_saturation_switched_at_run_time_runs_uplinks_near_their_speed() {
    let (sim, server) = start(2, &["--seed", "9"]);
    let (hot, calm) = (sim.devices[0].0.clone(), sim.devices[1].0.clone());
    server.wait_for_metrics("both up", Duration::from_secs(20), |m| {
        up(m, &hot) == Some(1.0) && up(m, &calm) == Some(1.0)
    });
    let (status, body) = sim.put_scenario(r#"{"name": "link-saturation", "devices": [0]}"#);
    assert_eq!(status, 200, "{body}");
    std::thread::sleep(Duration::from_millis(1500));
    let utilisation = |target: &str, uplink: &str| {
        let sample = |m: &str| Some((rx_bytes(m, target, uplink)?, last_success(m, target)?));
        let speed = interface_value(
            &server.metrics(),
            "ispmonitor_interface_speed_bytes",
            target,
            uplink,
        )
        .unwrap();
        let polls = per_poll(&server, target, Duration::from_secs(7), sample);
        let (first, last) = (polls.first().unwrap(), polls.last().unwrap());
        (last.0 - first.0) / (last.1 - first.1) / speed
    };
    let hot_uplink = interface_names(9, 0)[2].clone();
    let calm_uplink = interface_names(9, 1)[2].clone();
    let hot_ratio = utilisation(&hot, &hot_uplink);
    assert!(
        (0.9..=1.07).contains(&hot_ratio),
        "saturated uplink at {hot_ratio}"
    );
    let calm_ratio = utilisation(&calm, &calm_uplink);
    assert!(calm_ratio < 0.8, "healthy uplink at {calm_ratio}");
}

#[test]
fn a_flapping_interface_changes_state_between_polls() {
    let (sim, server) = start(
        1,
        &[
            "--seed",
            "10",
            "--scenario",
            "flapping-interface",
            "--scenario.fraction",
            "1",
            "--scenario.period",
            "1500ms",
        ],
    );
    let target = sim.devices[0].0.clone();
    let model = device(10, 0);
    let port = model.flapping_port().unwrap();
    let name = model.interface_names()[port as usize - 1].to_string();
    let uplink = model.interface_names()[2].to_string();
    let states = per_poll(&server, &target, Duration::from_secs(7), |m| {
        Some((
            interface_value(m, "ispmonitor_interface_up", &target, &name)?,
            interface_value(m, "ispmonitor_interface_up", &target, &uplink)?,
        ))
    });
    assert!(states.len() >= 4, "{states:?}");
    assert!(
        states.iter().any(|s| s.0 == 0.0) && states.iter().any(|s| s.0 == 1.0),
        "{states:?}"
    );
    let changes = states.windows(2).filter(|w| w[0].0 != w[1].0).count();
    assert!(changes >= 2, "{states:?}");
    assert!(
        states.iter().all(|s| s.1 == 1.0),
        "only the flapping port flaps"
    );
}

#[test]
fn packet_loss_shows_as_failed_polls_and_drops() {
    let (sim, server) = start(
        2,
        &[
            "--seed",
            "11",
            "--scenario",
            "packet-loss",
            "--scenario.devices",
            "0",
            "--scenario.loss",
            "0.5",
        ],
    );
    let (lossy, calm) = (sim.devices[0].0.clone(), sim.devices[1].0.clone());
    let timeouts = "ispmonitor_poll_errors_total{protocol=\"snmp\",reason=\"timeout\"}";
    let metrics = server.wait_for_metrics("failed polls", Duration::from_secs(20), |m| {
        sample_value(m, timeouts).is_some_and(|n| n >= 2.0) && up(m, &calm) == Some(1.0)
    });
    assert_eq!(up(&metrics, &calm), Some(1.0));
    let calm_failures = format!("ispmonitor_target_poll_failure_reason{{target=\"{calm}\",");
    assert!(
        !metrics.contains(&calm_failures),
        "the healthy router never failed"
    );
    let stats = sim.metrics();
    assert!(sample_value(&stats, "ispmonitor_simulator_dropped_total").unwrap() >= 2.0);
    assert!(!lossy.is_empty());
}

#[test]
fn a_slow_agent_shows_in_poll_durations() {
    let mut args = vec![
        "--seed",
        "12",
        "--scenario",
        "slow-agent",
        "--scenario.devices",
        "0",
        "--scenario.delay",
        "40ms",
    ];
    args.extend([
        "--write-config.interval",
        "4s",
        "--write-config.timeout",
        "3500ms",
    ]);
    let sim = Simulator::start(2, &args);
    let server = Ispmonitor::start(&sim.config, &[]);
    let (slow, calm) = (sim.devices[0].0.clone(), sim.devices[1].0.clone());
    let duration = |m: &str, t: &str| {
        sample_value(
            m,
            &target_series("ispmonitor_target_poll_duration_seconds", t),
        )
    };
    let metrics = server.wait_for_metrics("both polled", Duration::from_secs(20), |m| {
        up(m, &slow) == Some(1.0) && up(m, &calm) == Some(1.0)
    });
    let (slow_s, calm_s) = (
        duration(&metrics, &slow).unwrap(),
        duration(&metrics, &calm).unwrap(),
    );
    // Every request waits 40 ms, and a poll of four modules takes many requests.
    assert!(slow_s > 0.4, "slow poll took {slow_s}s");
    assert!(slow_s > calm_s + 0.3, "slow {slow_s}s vs healthy {calm_s}s");
}

/// prometheus-snmp-exporter on a free port with the fixture config, killed on drop.
struct SnmpExporter {
    child: Child,
    addr: String,
}

impl SnmpExporter {
    fn start() -> SnmpExporter {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        let config = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/snmp_exporter/snmp.yml"
        );
        let child = Command::new("prometheus-snmp-exporter")
            .arg(format!("--config.file={config}"))
            .arg(format!("--web.listen-address={addr}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus-snmp-exporter is missing (bash scripts/install-peers.sh)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while http::get(&addr, "/").is_err() {
            assert!(Instant::now() < deadline, "snmp_exporter did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        SnmpExporter { child, addr }
    }
}

impl Drop for SnmpExporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn snmp_exporter_reads_the_same_interface_counters_as_the_poller() {
    // A frozen clock: both read the counters at the same simulated instant.
    let (sim, server) = start(1, &["--seed", "13", "--freeze-time", "3000s"]);
    let (target, address) = sim.devices[0].clone();
    let ours = server.wait_for_metrics("polled", Duration::from_secs(20), |m| {
        up(m, &target) == Some(1.0)
    });
    let exporter = SnmpExporter::start();
    let theirs = http::get(
        &exporter.addr,
        &format!("/snmp?module=if_mib&target={address}"),
    )
    .unwrap()
    .text();
    let names = interface_names(13, 0);
    let mut compared = 0;
    for (position, name) in names.iter().enumerate() {
        let if_index = position + 1;
        for (ours_family, theirs_family) in [
            ("ispmonitor_interface_receive_bytes_total", "ifHCInOctets"),
            ("ispmonitor_interface_transmit_bytes_total", "ifHCOutOctets"),
        ] {
            let mine = interface_value(&ours, ours_family, &target, name).unwrap();
            let exported = sample_value(
                &theirs,
                &format!("{theirs_family}{{ifIndex=\"{if_index}\"}}"),
            )
            .unwrap_or_else(|| panic!("{theirs_family} {if_index} missing:\n{theirs}"));
            assert_eq!(mine, exported, "{name} {ours_family}");
            compared += 1;
        }
        let status = interface_value(&ours, "ispmonitor_interface_up", &target, name).unwrap();
        let oper =
            sample_value(&theirs, &format!("ifOperStatus{{ifIndex=\"{if_index}\"}}")).unwrap();
        assert_eq!(status, f64::from(oper == 1.0));
    }
    assert_eq!(compared, 96);
}
