//! Shared pieces of the fault-injection tests: an agent serving fixed, distinct values (so a
//! reply matched to the wrong request shows up as a wrong value), the module that polls them,
//! and readers of the poller's per-target series.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime};

use super::ispmonitor::{sample_value, Ispmonitor};
use super::snmpd::{Snmpd, SnmpdOptions};

/// The subtree the pass script serves.
pub const FIXED_ROOT: &str = "1.3.6.1.4.1.99999";
const ROWS: u32 = 6;

/// `modules:` entry `fixed` polling the pass script's table (two columns) and scalar.
pub const FIXED_MODULE: &str = "  fixed:\n    type: snmp\n    metrics:\n\
     \x20     - {name: fault_fixed_value, oid: 1.3.6.1.4.1.99999.1.1, type: gauge, index: [row]}\n\
     \x20     - {name: fault_fixed_octets, oid: 1.3.6.1.4.1.99999.1.2, type: counter, index: [row]}\n\
     \x20     - {name: fault_fixed_scalar, oid: 1.3.6.1.4.1.99999.2, type: gauge}\n";

/// Agent options adding the fixed subtree, every value different from every other. Served by
/// snmpd's own `override` lines rather than a `pass` script: a script forks per OID, and under
/// duplicated requests from several targets that alone made the agent miss timeouts.
pub fn fixed_values() -> SnmpdOptions {
    let mut lines = Vec::new();
    for row in 1..=ROWS {
        let value = row * 1000 + 7;
        lines.push(format!("override .{FIXED_ROOT}.1.1.{row} unsigned {value}"));
    }
    for row in 1..=ROWS {
        let value = row * 100_000_007 + 3;
        lines.push(format!("override .{FIXED_ROOT}.1.2.{row} counter {value}"));
    }
    lines.push(format!("override .{FIXED_ROOT}.2.0 integer 424242"));
    SnmpdOptions {
        extra_config: lines,
        scripts: Vec::new(),
    }
}

/// The fixed series the poller must show for `target`, read from the agent with net-snmp's
/// `snmpwalk` (series text without the value -> value).
pub fn expected_from_agent(agent: &Snmpd, target: &str) -> BTreeMap<String, f64> {
    let mut expected = BTreeMap::new();
    for (oid, value) in agent.client("snmpwalk", &[FIXED_ROOT]) {
        let value: f64 = value
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{oid}: {value}"));
        let rest = oid
            .strip_prefix(&format!("{FIXED_ROOT}."))
            .unwrap_or_else(|| panic!("{oid} outside {FIXED_ROOT}"));
        let series = match rest.split_once('.').map(|(c, r)| (c, r.split_once('.'))) {
            Some(("1", Some(("1", row)))) => {
                format!("ispmonitor_fault_fixed_value{{target=\"{target}\",row=\"{row}\"}}")
            }
            Some(("1", Some(("2", row)))) => {
                format!("ispmonitor_fault_fixed_octets_total{{target=\"{target}\",row=\"{row}\"}}")
            }
            _ if rest == "2.0" => format!("ispmonitor_fault_fixed_scalar{{target=\"{target}\"}}"),
            _ => panic!("unexpected OID {oid}"),
        };
        expected.insert(series, value);
    }
    assert_eq!(expected.len(), (ROWS * 2 + 1) as usize, "{expected:?}");
    expected
}

/// Every `ispmonitor_fault_fixed_*` series of `target` in an exposition.
pub fn fixed_series(metrics: &str, target: &str) -> BTreeMap<String, f64> {
    let label = format!("{{target=\"{target}\"");
    metrics
        .lines()
        .filter(|l| l.starts_with("ispmonitor_fault_fixed_") && l.contains(&label))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_string(), value.parse().ok()?))
        })
        .collect()
}

/// Series of `target` from device families (everything but the per-target health families
/// and the poller's own SNMP counters, which stay fresh after a failure).
pub fn device_series(metrics: &str, target: &str) -> Vec<String> {
    let label = format!("{{target=\"{target}\"");
    metrics
        .lines()
        .filter(|l| !l.starts_with('#') && l.contains(&label))
        .filter(|l| !l.starts_with("ispmonitor_target_") && !l.starts_with("ispmonitor_snmp_"))
        .map(str::to_string)
        .collect()
}

fn target_series(family: &str, target: &str, protocol: &str) -> String {
    format!("{family}{{target=\"{target}\",protocol=\"{protocol}\"}}")
}

pub fn up(metrics: &str, target: &str, protocol: &str) -> Option<f64> {
    sample_value(
        metrics,
        &target_series("ispmonitor_target_up", target, protocol),
    )
}

pub fn failure_reason(metrics: &str, target: &str, protocol: &str) -> Option<String> {
    let start = format!("ispmonitor_target_poll_failure_reason{{target=\"{target}\",protocol=\"{protocol}\",reason=\"");
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(&start))
        .and_then(|rest| rest.split_once('"'))
        .map(|(reason, _)| reason.to_string())
}

pub fn last_success(metrics: &str, target: &str, protocol: &str) -> Option<f64> {
    sample_value(
        metrics,
        &target_series(
            "ispmonitor_target_last_success_timestamp_seconds",
            target,
            protocol,
        ),
    )
}

pub fn schedule_lag(metrics: &str, target: &str, protocol: &str) -> Option<f64> {
    sample_value(
        metrics,
        &target_series("ispmonitor_target_schedule_lag_seconds", target, protocol),
    )
}

/// A per-target SNMP counter (`ispmonitor_snmp_timeouts_total`...), 0 when absent.
pub fn snmp_counter(metrics: &str, family: &str, target: &str) -> f64 {
    sample_value(metrics, &format!("{family}{{target=\"{target}\"}}")).unwrap_or(0.0)
}

pub fn now_unix() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Asserts that `target` is up, fresh (last success within `fresh` seconds) and shows exactly
/// the agent's fixed values.
pub fn assert_healthy(metrics: &str, target: &str, expected: &BTreeMap<String, f64>, fresh: f64) {
    assert_eq!(
        up(metrics, target, "snmp"),
        Some(1.0),
        "{target} is down:\n{metrics}"
    );
    let age = now_unix() - last_success(metrics, target, "snmp").unwrap_or(0.0);
    assert!(age < fresh, "{target}'s last success is {age:.1} s old");
    assert_eq!(
        &fixed_series(metrics, target),
        expected,
        "{target}'s values"
    );
}

/// Scrapes every `every` for `span`, handing each exposition to `check`; returns how many.
pub fn watch(
    server: &Ispmonitor,
    span: Duration,
    every: Duration,
    mut check: impl FnMut(&str),
) -> u32 {
    let end = Instant::now() + span;
    let mut scrapes = 0;
    while Instant::now() < end {
        check(&server.metrics());
        scrapes += 1;
        std::thread::sleep(every);
    }
    scrapes
}
