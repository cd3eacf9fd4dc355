//! Builds the `/metrics` and `/probe` expositions from the latest poll results and the poller's
//! own metrics. Reads only in-memory snapshots: a scrape never waits on a device.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use super::encode::{format_le, Encoder, Format, SeriesStart};
use super::histogram::Histogram;
use super::process;
use super::self_metrics::PollerMetrics;
use crate::build_info;
use crate::catalog::desc;
use crate::config::{TargetKind, TargetSource};
use crate::poller::icmp::IcmpSockets;
use crate::poller::outcome::{FamilyDesc, FamilySamples, PollRecord, Protocol, Value};
use crate::poller::results::TargetResults;

/// Facts about this process that are not poll results.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessFacts {
    pub shard_ordinal: u64,
    pub shard_total: u64,
    /// `serve --no-poll`: no shard metrics, so this process neither counts as a poller shard
    /// (`ShardMissing`, `ShardsDisagree`) nor hides an absent poller (`PollerAbsent`).
    pub no_poll: bool,
}

/// Renders the full `/metrics` exposition.
pub fn render_metrics(
    format: Format,
    targets: &[TargetResults],
    poller: &PollerMetrics,
    facts: ProcessFacts,
) -> String {
    let mut enc = Encoder::new(format);
    write_metrics(&mut enc, targets, poller, facts);
    enc.finish()
}

/// The poller's part of `/metrics`, for callers that append other sources before finishing.
pub fn write_metrics(
    enc: &mut Encoder,
    targets: &[TargetResults],
    poller: &PollerMetrics,
    facts: ProcessFacts,
) {
    write_target_families(enc, targets);
    write_device_families(enc, targets);
    write_poller_families(enc, targets, poller, facts);
}

/// Renders a `/probe` answer: the target's trio and device metrics, no exporter self-metrics.
pub fn render_probe(format: Format, target: &str, records: &[(Protocol, PollRecord)]) -> String {
    let mut enc = Encoder::new(format);
    let rows: Vec<TrioRow> = records
        .iter()
        .map(|(protocol, record)| TrioRow {
            target,
            protocol: *protocol,
            record,
        })
        .collect();
    write_trio(&mut enc, &rows);
    let mut families = FamilyIndex::default();
    for (_, record) in records {
        families.add(target, &record.outcome.families);
    }
    families.write(&mut enc);
    enc.finish()
}

struct TrioRow<'a> {
    target: &'a str,
    protocol: Protocol,
    record: &'a PollRecord,
}

fn unix_seconds(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn write_target_families(enc: &mut Encoder, targets: &[TargetResults]) {
    let rows: Vec<TrioRow> = targets
        .iter()
        .flat_map(|t| {
            t.records.iter().filter_map(|(protocol, record)| {
                record.as_deref().map(|record| TrioRow {
                    target: &t.target.name,
                    protocol: *protocol,
                    record,
                })
            })
        })
        .collect();
    write_trio(enc, &rows);
    write_target_info(enc, targets);
}

/// `ispmonitor_target_up`, `_last_success_timestamp_seconds`, `_poll_duration_seconds` and the
/// failure reason, for targets that have finished at least one poll.
fn trio_labels<'a>(r: &TrioRow<'a>) -> [(&'static str, &'a str); 2] {
    [("target", r.target), ("protocol", r.protocol.as_str())]
}

fn write_trio(enc: &mut Encoder, rows: &[TrioRow]) {
    let labels = trio_labels;
    let name = "ispmonitor_target_up";
    enc.family(&desc(name));
    for r in rows {
        let up = r.record.outcome.result.is_ok() as u64;
        enc.sample(name, labels(r), Value::Int(up));
    }
    let name = "ispmonitor_target_last_success_timestamp_seconds";
    enc.family(&desc(name));
    for r in rows {
        if let Some(t) = r.record.last_success {
            enc.sample(name, labels(r), Value::Float(unix_seconds(t)));
        }
    }
    let name = "ispmonitor_target_poll_duration_seconds";
    enc.family(&desc(name));
    for r in rows {
        let took = r.record.duration.as_secs_f64();
        enc.sample(name, labels(r), Value::Float(took));
    }
    let name = "ispmonitor_target_schedule_lag_seconds";
    enc.family(&desc(name));
    for r in rows {
        if let Some(lag) = r.record.schedule_lag {
            enc.sample(name, labels(r), Value::Float(lag.as_secs_f64()));
        }
    }
    let name = "ispmonitor_target_poll_failure_reason";
    enc.family(&desc(name));
    for r in rows {
        if let Err(reason) = r.record.outcome.result {
            let [t, p] = labels(r);
            enc.sample(name, [t, p, ("reason", reason.as_str())], Value::Int(1));
        }
    }
}

fn write_target_info(enc: &mut Encoder, targets: &[TargetResults]) {
    let name = "ispmonitor_target_info";
    enc.family(&desc(name));
    for t in targets {
        let target = &t.target;
        let fixed = [
            ("target", target.name.as_str()),
            ("kind", target.kind.as_str()),
            ("address", target.address.as_str()),
        ];
        let own = target.labels.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        enc.sample(name, fixed.into_iter().chain(own), Value::Int(1));
    }
}

/// One family's descriptor and, per target, its samples.
type FamilyParts<'a> = (&'a Arc<FamilyDesc>, Vec<(&'a str, &'a FamilySamples)>);

/// Device families from every target's last successful poll, merged by family name.
#[derive(Default)]
struct FamilyIndex<'a> {
    by_name: BTreeMap<&'a str, FamilyParts<'a>>,
}

impl<'a> FamilyIndex<'a> {
    fn add(&mut self, target: &'a str, families: &'a [FamilySamples]) {
        for family in families {
            let entry = self
                .by_name
                .entry(&family.desc.name)
                .or_insert_with(|| (&family.desc, Vec::new()));
            entry.1.push((target, family));
        }
    }

    /// The hot loop of a scrape: label sets are already rendered, so a series costs a few
    /// copies and one number.
    fn write(&self, enc: &mut Encoder) {
        for (name, (family_desc, parts)) in &self.by_name {
            enc.family(family_desc);
            for (target, family) in parts {
                let start = SeriesStart::new(name, target);
                for sample in &family.samples {
                    enc.series(&start, &sample.labels, &sample.value);
                }
                if enc.is_stopped() {
                    return;
                }
            }
        }
    }
}

fn write_device_families(enc: &mut Encoder, targets: &[TargetResults]) {
    let mut index = FamilyIndex::default();
    for t in targets {
        for record in t.records.values().flatten() {
            index.add(&t.target.name, &record.outcome.families);
        }
    }
    index.write(enc);
}

fn write_poller_families(
    enc: &mut Encoder,
    targets: &[TargetResults],
    poller: &PollerMetrics,
    facts: ProcessFacts,
) {
    write_build_info(enc);
    process::write_process_families(enc, &process::read());
    write_icmp_sockets(enc);
    write_poll_counters(enc, poller);
    write_scheduler_gauges(enc, poller);
    write_fleet_status(enc, targets);
    write_config_state(enc, targets, poller);
    if facts.no_poll {
        return;
    }
    let name = "ispmonitor_shard_ordinal";
    enc.family(&desc(name));
    enc.sample(name, [], Value::Int(facts.shard_ordinal));
    let name = "ispmonitor_shard_total";
    enc.family(&desc(name));
    enc.sample(name, [], Value::Int(facts.shard_total.max(1)));
}

fn write_build_info(enc: &mut Encoder) {
    let name = "ispmonitor_build_info";
    enc.family(&desc(name));
    let labels = [
        ("version", build_info::VERSION),
        ("revision", build_info::REVISION),
        ("rustc_version", build_info::RUSTC_VERSION),
    ];
    enc.sample(name, labels, Value::Int(1));
}

/// `ispmonitor_icmp_socket_info` and the sockets' counters: the ICMP sockets are process-wide
/// (shared by every target), so these are facts of the process, like the build info.
fn write_icmp_sockets(enc: &mut Encoder) {
    let name = "ispmonitor_icmp_socket_info";
    enc.family(&desc(name));
    for (version, mode) in IcmpSockets::global().modes() {
        let labels = [("ip_version", version.as_str()), ("mode", mode.as_str())];
        enc.sample(name, labels, Value::Int(1));
    }
    let sockets = IcmpSockets::global();
    for (name, counts) in [
        ("ispmonitor_icmp_send_errors_total", sockets.send_errors()),
        (
            "ispmonitor_icmp_unmatched_replies_total",
            sockets.unmatched(),
        ),
    ] {
        enc.family(&desc(name));
        for (version, count) in counts {
            enc.sample(name, [("ip_version", version.as_str())], Value::Int(count));
        }
    }
}

fn write_histogram<'l>(
    enc: &mut Encoder,
    name: &str,
    labels: &[(&'l str, &'l str)],
    histogram: &Histogram,
) {
    let bucket = format!("{name}_bucket");
    for (bound, count) in histogram.cumulative() {
        let le = format_le(bound);
        let all = labels.iter().copied().chain([("le", le.as_str())]);
        enc.sample(&bucket, all, Value::Int(count));
    }
    let sum = format!("{name}_sum");
    enc.sample(&sum, labels.iter().copied(), Value::Float(histogram.sum()));
    let count = format!("{name}_count");
    enc.sample(
        &count,
        labels.iter().copied(),
        Value::Int(histogram.count()),
    );
}

fn write_poll_counters(enc: &mut Encoder, poller: &PollerMetrics) {
    let polls = poller.polls_snapshot();
    let name = "ispmonitor_polls_total";
    enc.family(&desc(name));
    for ((protocol, result), h) in &polls {
        let labels = [("protocol", protocol.as_str()), ("result", *result)];
        enc.sample(name, labels, Value::Int(h.count()));
    }
    let name = "ispmonitor_poll_duration_seconds";
    enc.family(&desc(name));
    for ((protocol, result), h) in &polls {
        let labels = [("protocol", protocol.as_str()), ("result", *result)];
        write_histogram(enc, name, &labels, h);
    }
    let name = "ispmonitor_poll_errors_total";
    enc.family(&desc(name));
    for ((protocol, reason), n) in poller.errors_snapshot() {
        let labels = [("protocol", protocol.as_str()), ("reason", reason.as_str())];
        enc.sample(name, labels, Value::Int(n));
    }
    let name = "ispmonitor_poll_schedule_lag_seconds";
    enc.family(&desc(name));
    for (protocol, h) in poller.lag_snapshot() {
        write_histogram(enc, name, &[("protocol", protocol.as_str())], &h);
    }
    let name = "ispmonitor_polls_skipped_total";
    enc.family(&desc(name));
    let skipped = poller.skipped_snapshot();
    for protocol in Protocol::ALL {
        let n = skipped.get(&protocol).copied().unwrap_or(0);
        enc.sample(name, [("protocol", protocol.as_str())], Value::Int(n));
    }
}

fn write_scheduler_gauges(enc: &mut Encoder, poller: &PollerMetrics) {
    let name = "ispmonitor_active_pollers";
    enc.family(&desc(name));
    for protocol in Protocol::ALL {
        let n = poller.active(protocol).max(0) as u64;
        enc.sample(name, [("protocol", protocol.as_str())], Value::Int(n));
    }
    let name = "ispmonitor_queued_polls";
    enc.family(&desc(name));
    for protocol in Protocol::ALL {
        let n = poller.queued(protocol).max(0) as u64;
        enc.sample(name, [("protocol", protocol.as_str())], Value::Int(n));
    }
}

/// Status of one target over all its protocols.
fn target_status(t: &TargetResults) -> &'static str {
    let mut records = t.records.values().flatten().peekable();
    if records.peek().is_none() {
        "unknown"
    } else if records.all(|r| r.outcome.result.is_ok()) {
        "online"
    } else {
        "offline"
    }
}

const STATUSES: [&str; 3] = ["online", "offline", "unknown"];

fn write_fleet_status(enc: &mut Encoder, targets: &[TargetResults]) {
    // One pass over the fleet: counts[kind][status].
    let mut routers = [0u64; 3];
    let mut servers = [0u64; 3];
    for t in targets {
        let counts = match t.target.kind {
            TargetKind::Router => &mut routers,
            TargetKind::Server => &mut servers,
            TargetKind::Host => continue,
        };
        let status = target_status(t);
        if let Some(slot) = STATUSES.iter().position(|s| *s == status) {
            counts[slot] += 1;
        }
    }
    for (name, counts) in [
        ("ispmonitor_routers_total", routers),
        ("ispmonitor_servers_total", servers),
    ] {
        enc.family(&desc(name));
        for (status, n) in STATUSES.iter().zip(counts) {
            enc.sample(name, [("status", *status)], Value::Int(n));
        }
    }
}

fn write_config_state(enc: &mut Encoder, targets: &[TargetResults], poller: &PollerMetrics) {
    let name = "ispmonitor_config_last_reload_successful";
    enc.family(&desc(name));
    enc.sample(name, [], Value::Int(poller.reload_successful() as u64));
    let name = "ispmonitor_config_last_reload_success_timestamp_seconds";
    enc.family(&desc(name));
    enc.sample(name, [], Value::Float(poller.reload_success_seconds()));
    let name = "ispmonitor_inventory_targets";
    enc.family(&desc(name));
    for kind in [TargetKind::Router, TargetKind::Server, TargetKind::Host] {
        for source in [TargetSource::File, TargetSource::Database] {
            let n = targets
                .iter()
                .filter(|t| t.target.kind == kind && t.target.source == source)
                .count();
            let labels = [("kind", kind.as_str()), ("source", source.as_str())];
            enc.sample(name, labels, Value::Int(n as u64));
        }
    }
    let name = "ispmonitor_inventory_last_sync_success_timestamp_seconds";
    enc.family(&desc(name));
    enc.sample(name, [], Value::Float(poller.inventory_sync_seconds()));
    let name = "ispmonitor_inventory_sync_failures_total";
    enc.family(&desc(name));
    enc.sample(name, [], Value::Int(poller.inventory_sync_failures()));
    let name = "ispmonitor_inventory_invalid_targets";
    enc.family(&desc(name));
    enc.sample(name, [], Value::Int(poller.inventory_invalid_targets()));
    let name = "ispmonitor_inventory_cache_writes_total";
    enc.family(&desc(name));
    enc.sample(name, [], Value::Int(poller.inventory_cache_writes()));
    let name = "ispmonitor_inventory_cache_write_failures_total";
    enc.family(&desc(name));
    enc.sample(
        name,
        [],
        Value::Int(poller.inventory_cache_write_failures()),
    );
    let name = "ispmonitor_inventory_from_cache";
    enc.family(&desc(name));
    enc.sample(name, [], Value::Int(poller.inventory_from_cache() as u64));
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use super::*;
    use crate::config::Target;
    use crate::poller::outcome::{FailureReason, MetricType, PollOutcome, Sample};
    use crate::poller::results::{RecordKey, Results};

    fn target(name: &str) -> Arc<Target> {
        Arc::new(Target {
            name: name.into(),
            address: "10.0.0.1:161".into(),
            host: "10.0.0.1".into(),
            port: Some(161),
            kind: TargetKind::Router,
            modules: vec![Arc::new(crate::config::Module {
                name: "system".into(),
                kind: crate::config::ModuleKind::Snmp(crate::config::SnmpModule::System),
            })],
            credential_name: None,
            credential: None,
            interval: Duration::from_secs(60),
            timeout: Duration::from_secs(10),
            labels: BTreeMap::from([("site".to_string(), "ams1".to_string())]),
            source: Default::default(),
        })
    }

    fn record(outcome: PollOutcome) -> PollRecord {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let last_success = outcome.result.is_ok().then_some(at);
        PollRecord {
            outcome,
            finished_at: at,
            duration: Duration::from_millis(250),
            last_success,
            schedule_lag: Some(Duration::from_millis(3)),
        }
    }

    fn uptime(value: u64) -> FamilySamples {
        FamilySamples {
            desc: FamilyDesc::new(
                "ispmonitor_snmp_uptime_seconds",
                "Uptime",
                MetricType::Gauge,
            ),
            samples: vec![Sample::new([], Value::Int(value))],
        }
    }

    #[test]
    fn exposition_merges_targets_and_hides_failed_device_data() {
        let results = Results::new();
        let up = results.register(target("up-router"));
        let down = results.register(target("down-router"));
        let ok = PollOutcome {
            result: Ok(()),
            families: vec![uptime(42)],
        };
        let key = |target, generation| RecordKey {
            target,
            generation,
            protocol: Protocol::Snmp,
        };
        results.record(key("up-router", up), record(ok));
        let failed = PollOutcome::failed(FailureReason::Auth);
        results.record(key("down-router", down), record(failed));
        // A stale generation (a removed task) cannot write.
        let late = PollOutcome {
            result: Ok(()),
            families: vec![uptime(7)],
        };
        results.record(key("down-router", down + 100), record(late));

        let metrics = PollerMetrics::default();
        let text = render_metrics(
            Format::Text,
            &results.snapshot(),
            &metrics,
            ProcessFacts::default(),
        );
        assert!(text.contains("ispmonitor_target_up{target=\"up-router\",protocol=\"snmp\"} 1\n"));
        assert!(text.contains("ispmonitor_target_up{target=\"down-router\",protocol=\"snmp\"} 0\n"));
        assert!(text.contains(
            "ispmonitor_target_poll_failure_reason{target=\"down-router\",protocol=\"snmp\",reason=\"auth\"} 1\n"
        ));
        assert!(text.contains("ispmonitor_snmp_uptime_seconds{target=\"up-router\"} 42\n"));
        assert!(!text.contains("ispmonitor_snmp_uptime_seconds{target=\"down-router\"}"));
        assert!(text.contains(
            "ispmonitor_target_info{target=\"up-router\",kind=\"router\",address=\"10.0.0.1:161\",site=\"ams1\"} 1\n"
        ));
        assert!(text.contains("ispmonitor_target_last_success_timestamp_seconds{target=\"up-router\",protocol=\"snmp\"} 1700000000\n"));
        assert!(text.contains(
            "ispmonitor_target_schedule_lag_seconds{target=\"down-router\",protocol=\"snmp\"} 0.003\n"
        ));
        assert!(text.contains("ispmonitor_routers_total{status=\"online\"} 1\n"));
        assert!(text.contains("ispmonitor_routers_total{status=\"offline\"} 1\n"));
        assert_eq!(
            text.matches("# TYPE ispmonitor_snmp_uptime_seconds gauge")
                .count(),
            1
        );
    }

    #[test]
    fn probe_exposition_has_no_self_metrics() {
        let ok = PollOutcome {
            result: Ok(()),
            families: vec![uptime(5)],
        };
        let text = render_probe(
            Format::OpenMetrics,
            "10.0.0.9",
            &[(Protocol::Snmp, record(ok))],
        );
        assert!(text.contains("ispmonitor_snmp_uptime_seconds{target=\"10.0.0.9\"} 5\n"));
        assert!(!text.contains("ispmonitor_build_info"));
        assert!(!text.contains("ispmonitor_polls_total"));
        assert!(text.ends_with("# EOF\n"));
    }
}
