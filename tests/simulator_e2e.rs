//! End to end: the real `ispmonitor simulate` polled by the real `ispmonitor serve` (v2c and v3),
//! walked by net-snmp's snmpwalk/snmpbulkwalk/snmpget, scraped by prometheus-snmp-exporter, and
//! every scenario's effect seen in the poller's metrics, including switching at run time.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::ispmonitor::{sample_value, Ispmonitor};
use common::simulator::Simulator;
use ispmonitor::simulator::device::{Device, DeviceSpec, FrozenClock};
use ispmonitor::simulator::mib::{MibView, SimValue};
use ispmonitor::simulator::scenario::{FleetShape, ScenarioKind, ScenarioRequest, ScenarioState};

/// Fast polls for tests: every second, retries off so a dropped request is a failed poll.
const FAST: [&str; 4] = [
    "--write-config.interval",
    "1s",
    "--write-config.timeout",
    "900ms",
];

/// The same device the simulator serves, built in this process (healthy, nothing switched).
fn local_device(seed: u64, index: u32, devices: u32) -> Device {
    let fleet = FleetShape { seed, devices };
    let scenarios = ScenarioState::new(fleet, ScenarioRequest::new(ScenarioKind::Healthy)).unwrap();
    let spec = DeviceSpec {
        seed,
        index,
        interfaces: 48,
    };
    Device::new(spec, Arc::new(scenarios))
}

fn series(name: &str, target: &str) -> String {
    format!("{name}{{target=\"{target}\",protocol=\"snmp\"}}")
}

fn interface_series(name: &str, target: &str, interface: &str) -> String {
    format!("{name}{{target=\"{target}\",interface=\"{interface}\"}}")
}

fn up(metrics: &str, target: &str) -> Option<f64> {
    sample_value(metrics, &series("ispmonitor_target_up", target))
}

fn lines_for(metrics: &str, family: &str, target: &str) -> usize {
    let prefix = format!("{family}{{target=\"{target}\",");
    metrics.lines().filter(|l| l.starts_with(&prefix)).count()
}

#[test]
fn the_written_config_polls_every_device_over_v2c_and_v3() {
    let mut extra = vec!["--seed", "3", "--write-config.snmp-version", "mixed"];
    extra.extend(FAST);
    let sim = Simulator::start(4, &extra);
    let config = std::fs::read_to_string(&sim.config).unwrap();
    assert!(
        config.contains("credential: simulator-v2c") && config.contains("credential: simulator-v3")
    );
    let server = Ispmonitor::start(&sim.config, &[]);
    let metrics = server.wait_for_metrics("every device up", Duration::from_secs(20), |m| {
        sim.devices.iter().all(|(name, _)| {
            up(m, name) == Some(1.0) && lines_for(m, "ispmonitor_interface_up", name) == 48
        })
    });
    for (index, (name, _)) in sim.devices.iter().enumerate() {
        let device = local_device(3, index as u32, 4);
        assert_eq!(name, &device.identity().sys_name);
        assert_eq!(
            lines_for(&metrics, "ispmonitor_interface_receive_bytes_total", name),
            48
        );
        assert_eq!(lines_for(&metrics, "ispmonitor_interface_info", name), 48);
        assert!(lines_for(&metrics, "ispmonitor_bgp_peer_state", name) >= 4);
        assert!(lines_for(&metrics, "ispmonitor_cpu_load_ratio", name) >= 2);
        assert!(lines_for(&metrics, "ispmonitor_storage_size_bytes", name) == 3);
        let uplink = device.interface_names()[2];
        let bytes = sample_value(
            &metrics,
            &interface_series("ispmonitor_interface_receive_bytes_total", name, uplink),
        )
        .unwrap();
        assert!(bytes > 1e9, "{name} {uplink}: {bytes}");
        let vendor = device.identity().vendor.vendor;
        assert!(
            metrics.contains(&format!("vendor=\"{vendor}\"")),
            "target_info carries the vendor label"
        );
    }
    let stats = sim.metrics();
    assert!(sample_value(&stats, "ispmonitor_simulator_requests_total").unwrap() > 8.0);
    assert_eq!(
        sample_value(&stats, "ispmonitor_simulator_auth_failures_total"),
        Some(0.0)
    );
    // The secrets are in the config file (mode 0600) and nowhere in the logs.
    let logs = sim.log() + &server.stop_and_logs();
    for secret in ["authpass123", "privpass123", "public\""] {
        assert!(!logs.contains(secret), "{secret} leaked into the logs");
    }
}

/// A value as net-snmp prints it with `-On -Ox -Ot`.
fn net_snmp_text(value: &SimValue) -> String {
    let oid = |o: &[u32]| o.iter().map(|n| format!(".{n}")).collect::<String>();
    match value {
        SimValue::Integer(n) => format!("INTEGER: {n}"),
        SimValue::OctetString(bytes) if bytes.is_empty() => "\"\"".to_string(),
        SimValue::OctetString(bytes) => {
            let hex: Vec<String> = bytes.iter().map(|b| format!("{b:02X}")).collect();
            format!("Hex-STRING: {}", hex.join(" "))
        }
        SimValue::ObjectId(o) => format!("OID: {}", oid(o)),
        SimValue::IpAddress([a, b, c, d]) => format!("IpAddress: {a}.{b}.{c}.{d}"),
        SimValue::Counter32(n) => format!("Counter32: {n}"),
        SimValue::Gauge32(n) => format!("Gauge32: {n}"),
        SimValue::TimeTicks(n) => n.to_string(),
        SimValue::Counter64(n) => format!("Counter64: {n}"),
    }
}

fn expected_walk(device: &dyn MibView, at: Duration) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut oid = vec![1, 3, 6, 1, 2, 1];
    while let Some((next, value)) = device.next(&oid, at) {
        let text: String = next.iter().map(|n| format!(".{n}")).collect();
        out.push((text, net_snmp_text(&value)));
        oid = next;
    }
    out
}

#[test]
fn net_snmp_tools_read_exactly_what_the_device_serves() {
    let frozen = Duration::from_secs(5_000);
    let sim = Simulator::start(2, &["--seed", "7", "--freeze-time", "5000s"]);
    let device = FrozenClock {
        inner: local_device(7, 1, 2),
        at: frozen,
    };
    let expected = expected_walk(&device, frozen);
    assert!(expected.len() > 2_000, "{}", expected.len());
    let address = &sim.devices[1].1;
    let v2c = ["-v2c", "-c", "public", address.as_str(), "1.3.6.1.2.1"];
    let walked = Simulator::net_snmp("snmpwalk", &v2c);
    assert_eq!(walked.len(), expected.len());
    assert_eq!(walked, expected);
    let bulk = Simulator::net_snmp("snmpbulkwalk", &v2c);
    assert_eq!(bulk, expected);
    let v3 = [
        "-v3",
        "-l",
        "authPriv",
        "-u",
        "simuser",
        "-a",
        "SHA",
        "-A",
        "authpass123",
        "-x",
        "AES",
        "-X",
        "privpass123",
        address.as_str(),
        "1.3.6.1.2.1.31",
    ];
    let v3_walk = Simulator::net_snmp("snmpbulkwalk", &v3);
    let if_x: Vec<_> = expected
        .iter()
        .filter(|(oid, _)| oid.starts_with(".1.3.6.1.2.1.31."))
        .cloned()
        .collect();
    assert_eq!(v3_walk, if_x);
    // GET of every 97th object, in one request.
    let picked: Vec<&(String, String)> = expected.iter().step_by(97).collect();
    let mut get_args = vec!["-v2c", "-c", "public", address.as_str()];
    get_args.extend(picked.iter().map(|(oid, _)| oid.as_str()));
    let got = Simulator::net_snmp("snmpget", &get_args);
    let wanted: Vec<(String, String)> = picked.into_iter().cloned().collect();
    assert_eq!(got, wanted);
}

/// `ispmonitor demo` on free ports: within a minute the metrics show real traffic, a router
/// that is down, a port that flaps, and this machine answering pings.
#[test]
fn the_demo_shows_traffic_a_down_router_and_a_flapping_port() {
    use std::process::{Command, Stdio};
    let web = format!("127.0.0.1:{}", common::ispmonitor::free_tcp_port());
    let log_dir = tempfile::tempdir().unwrap();
    let log = std::fs::File::create(log_dir.path().join("demo.log")).unwrap();
    let mut child = Command::new(common::ispmonitor::binary())
        .args([
            "demo",
            "--web.listen-address",
            &web,
            "--port",
            "0",
            "--devices",
            "5",
        ])
        .args(["--interval", "2s", "--control.listen-address", "none"])
        .stdout(Stdio::null())
        .stderr(Stdio::from(log))
        .spawn()
        .expect("start ispmonitor demo");
    let started = Instant::now();
    let names: Vec<String> = (0..5)
        .map(|i| local_device(1, i, 5).identity().sys_name.clone())
        .collect();
    let flapper = local_device(1, 2, 5);
    let port = flapper.interface_names()[flapper.flapping_port().unwrap() as usize - 1].to_string();
    let uplink = local_device(1, 0, 5).interface_names()[2].to_string();
    let flap_series = format!(
        "ispmonitor_interface_up{{target=\"{}\",interface=\"{port}\"}}",
        names[2]
    );
    let mut flap_states = std::collections::BTreeSet::new();
    let mut last = String::new();
    let mut seen_all = false;
    while started.elapsed() < Duration::from_secs(60) {
        if let Ok(response) = common::http::get(&web, "/metrics") {
            last = response.text();
            if let Some(state) = sample_value(&last, &flap_series) {
                flap_states.insert(state as u8);
            }
            let traffic = sample_value(
                &last,
                &format!("ispmonitor_interface_receive_bytes_total{{target=\"{}\",interface=\"{uplink}\"}}", names[0]),
            );
            let down = up(&last, &names[1]) == Some(0.0);
            let pinged = sample_value(
                &last,
                "ispmonitor_target_up{target=\"localhost\",protocol=\"icmp\"}",
            ) == Some(1.0);
            if down && pinged && traffic.is_some_and(|b| b > 1e9) && flap_states.len() == 2 {
                seen_all = true;
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let _ = child.kill();
    let _ = child.wait();
    let logs = std::fs::read_to_string(log_dir.path().join("demo.log")).unwrap_or_default();
    assert!(
        seen_all,
        "after {:?}: flap states {flap_states:?}\n{logs}\n{last}",
        started.elapsed()
    );
    assert!(up(&last, &names[0]) == Some(1.0) && up(&last, &names[4]) == Some(1.0));
}
