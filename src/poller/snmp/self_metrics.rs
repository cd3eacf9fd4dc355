//! The per-target SNMP self-metrics (requests, retries, timeouts, engine discoveries, lookup
//! cache, message size) as families, added to every poll outcome, failed ones included.

use crate::poller::outcome::{FamilySamples, Value};

use super::decode::FamilyBuilder;
use super::stats::SnmpTargetStatsSnapshot;

/// The families of one target's counters at the end of a poll. They describe the poller's own
/// work, which is fresh even when the device did not answer.
pub fn families(stats: &SnmpTargetStatsSnapshot, max_message_size: usize) -> Vec<FamilySamples> {
    let counters = [
        ("ispmonitor_snmp_requests_total", stats.requests_sent),
        ("ispmonitor_snmp_retries_total", stats.retries),
        ("ispmonitor_snmp_timeouts_total", stats.timeouts),
        (
            "ispmonitor_snmp_engine_discoveries_total",
            stats.engine_discoveries,
        ),
        (
            "ispmonitor_snmp_lookup_cache_hits_total",
            stats.lookup_cache_hits,
        ),
        (
            "ispmonitor_snmp_lookup_cache_misses_total",
            stats.lookup_cache_misses,
        ),
    ];
    let size = u64::try_from(max_message_size).unwrap_or(u64::MAX);
    counters
        .into_iter()
        .chain([("ispmonitor_snmp_max_message_size_bytes", size)])
        .map(|(name, value)| {
            let mut family = FamilyBuilder::catalog(name);
            family.push(Vec::new(), Value::Int(value));
            family.finish()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_counter_has_its_family_without_extra_labels() {
        let stats = SnmpTargetStatsSnapshot {
            requests_sent: 21,
            retries: 2,
            timeouts: 3,
            engine_discoveries: 1,
            lookup_cache_hits: 5,
            lookup_cache_misses: 1,
        };
        let families = families(&stats, 1472);
        let read = |name: &str| {
            let family = families
                .iter()
                .find(|f| &*f.desc.name == name)
                .unwrap_or_else(|| panic!("{name} missing"));
            assert!(family.samples[0].labels.is_empty());
            family.samples[0].value.clone()
        };
        assert_eq!(read("ispmonitor_snmp_requests_total"), Value::Int(21));
        assert_eq!(read("ispmonitor_snmp_retries_total"), Value::Int(2));
        assert_eq!(read("ispmonitor_snmp_timeouts_total"), Value::Int(3));
        assert_eq!(
            read("ispmonitor_snmp_engine_discoveries_total"),
            Value::Int(1)
        );
        assert_eq!(
            read("ispmonitor_snmp_lookup_cache_hits_total"),
            Value::Int(5)
        );
        assert_eq!(
            read("ispmonitor_snmp_lookup_cache_misses_total"),
            Value::Int(1)
        );
        assert_eq!(
            read("ispmonitor_snmp_max_message_size_bytes"),
            Value::Int(1472)
        );
    }
}
