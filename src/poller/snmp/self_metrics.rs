//! The per-target SNMP self-metrics (requests, retries, timeouts, engine discoveries, lookup
//! cache, message size) as families, added to every poll outcome, failed ones included.

use crate::poller::outcome::{FamilySamples, Value};

use super::decode::FamilyBuilder;
use super::stats::SnmpTargetStatsSnapshot;

/// The names of the families every SNMP poll outcome carries besides the device's.
pub const NAMES: [&str; 7] = [
    "ispmonitor_snmp_requests_total",
    "ispmonitor_snmp_retries_total",
    "ispmonitor_snmp_timeouts_total",
    "ispmonitor_snmp_engine_discoveries_total",
    "ispmonitor_snmp_lookup_cache_hits_total",
    "ispmonitor_snmp_lookup_cache_misses_total",
    "ispmonitor_snmp_max_message_size_bytes",
];

/// The families of one target's counters at the end of a poll. They describe the poller's own
/// work, which is fresh even when the device did not answer.
pub fn families(stats: &SnmpTargetStatsSnapshot, max_message_size: usize) -> Vec<FamilySamples> {
    let values = [
        stats.requests_sent,
        stats.retries,
        stats.timeouts,
        stats.engine_discoveries,
        stats.lookup_cache_hits,
        stats.lookup_cache_misses,
        u64::try_from(max_message_size).unwrap_or(u64::MAX),
    ];
    NAMES
        .into_iter()
        .zip(values)
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
