//! Per-target SNMP counters shared by all of a target's sessions, exported as self-metrics.

use std::sync::atomic::{AtomicU64, Ordering};

/// What happened on the wire and in the caches for one target since the process started (or
/// since the target was last (re)scheduled). Updated lock-free by the target's sessions and
/// walks; read after every poll to build the target's self-metric families.
#[derive(Debug, Default)]
pub struct SnmpTargetStats {
    /// Request datagrams sent, retries included.
    pub requests_sent: AtomicU64,
    /// Requests sent again after a timeout or a desynchronised session.
    pub retries: AtomicU64,
    /// Attempts that got no answer in time.
    pub timeouts: AtomicU64,
    /// SNMPv3 engine discoveries (the first one included).
    pub engine_discoveries: AtomicU64,
    /// Polls that reused the cached interface lookups (ifName, ifDescr, ifAlias).
    pub lookup_cache_hits: AtomicU64,
    /// Polls that had to walk the interface lookups again.
    pub lookup_cache_misses: AtomicU64,
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SnmpTargetStatsSnapshot {
    pub requests_sent: u64,
    pub retries: u64,
    pub timeouts: u64,
    pub engine_discoveries: u64,
    pub lookup_cache_hits: u64,
    pub lookup_cache_misses: u64,
}

impl SnmpTargetStats {
    /// Adds one to a counter.
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> SnmpTargetStatsSnapshot {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        SnmpTargetStatsSnapshot {
            requests_sent: read(&self.requests_sent),
            retries: read(&self.retries),
            timeouts: read(&self.timeouts),
            engine_discoveries: read(&self.engine_discoveries),
            lookup_cache_hits: read(&self.lookup_cache_hits),
            lookup_cache_misses: read(&self.lookup_cache_misses),
        }
    }
}
