//! The poller's own counters, gauges and histograms, updated by the scheduler and the reloader.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use super::histogram::{Histogram, POLL_DURATION_BUCKETS, SCHEDULE_LAG_BUCKETS};
use crate::poller::outcome::{result_label, FailureReason, Protocol};

/// Everything the poller counts about itself. Shared by the scheduler tasks (writers) and the
/// collector (reader).
#[derive(Debug, Default)]
pub struct PollerMetrics {
    /// (protocol, result label) -> duration histogram; its count is `ispmonitor_polls_total`.
    polls: Mutex<BTreeMap<(Protocol, &'static str), Histogram>>,
    errors: Mutex<BTreeMap<(Protocol, FailureReason), u64>>,
    schedule_lag: Mutex<BTreeMap<Protocol, Histogram>>,
    skipped: Mutex<BTreeMap<Protocol, u64>>,
    active: [AtomicI64; Protocol::ALL.len()],
    queued: [AtomicI64; Protocol::ALL.len()],
    reload_successful: AtomicU64,
    /// Unix time in milliseconds; 0 means never.
    reload_success_ms: AtomicU64,
    inventory_sync_ms: AtomicU64,
    /// The inventory also comes from the database: config loads no longer count as syncs.
    database_inventory: AtomicBool,
    /// The last database sync attempt failed (the last inventory is kept).
    inventory_sync_failing: AtomicBool,
    inventory_sync_failures: AtomicU64,
    inventory_invalid_targets: AtomicU64,
    inventory_cache_writes: AtomicU64,
    inventory_cache_write_failures: AtomicU64,
    /// The database inventory in force was read from the cache file at start, and the database
    /// has not answered since.
    inventory_from_cache: AtomicBool,
}

fn slot(protocol: Protocol) -> usize {
    protocol as usize
}

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl PollerMetrics {
    /// Records a finished poll: counts, duration histogram, and the error counter on failure.
    pub fn poll_finished(
        &self,
        protocol: Protocol,
        result: Result<(), FailureReason>,
        took: Duration,
    ) {
        let key = (protocol, result_label(result));
        let mut polls = self.polls.lock().unwrap_or_else(|e| e.into_inner());
        polls
            .entry(key)
            .or_insert_with(|| Histogram::new(POLL_DURATION_BUCKETS))
            .observe(took.as_secs_f64());
        drop(polls);
        if let Err(reason) = result {
            let mut errors = self.errors.lock().unwrap_or_else(|e| e.into_inner());
            *errors.entry((protocol, reason)).or_default() += 1;
        }
    }

    pub fn poll_started_late(&self, protocol: Protocol, lag: Duration) {
        let mut lags = self.schedule_lag.lock().unwrap_or_else(|e| e.into_inner());
        lags.entry(protocol)
            .or_insert_with(|| Histogram::new(SCHEDULE_LAG_BUCKETS))
            .observe(lag.as_secs_f64());
    }

    pub fn polls_skipped(&self, protocol: Protocol, n: u64) {
        let mut skipped = self.skipped.lock().unwrap_or_else(|e| e.into_inner());
        *skipped.entry(protocol).or_default() += n;
    }

    pub fn active_delta(&self, protocol: Protocol, delta: i64) {
        self.active[slot(protocol)].fetch_add(delta, Ordering::Relaxed);
    }

    pub fn queued_delta(&self, protocol: Protocol, delta: i64) {
        self.queued[slot(protocol)].fetch_add(delta, Ordering::Relaxed);
    }

    pub fn active(&self, protocol: Protocol) -> i64 {
        self.active[slot(protocol)].load(Ordering::Relaxed)
    }

    pub fn queued(&self, protocol: Protocol) -> i64 {
        self.queued[slot(protocol)].load(Ordering::Relaxed)
    }

    /// Records the outcome of a config load or reload. Without a database the file is the
    /// whole inventory, so a successful load is also an inventory sync.
    pub fn config_loaded(&self, ok: bool, at: SystemTime) {
        self.reload_successful.store(ok as u64, Ordering::Relaxed);
        if ok {
            self.reload_success_ms.store(unix_ms(at), Ordering::Relaxed);
            if !self.database_inventory() {
                self.inventory_sync_ms.store(unix_ms(at), Ordering::Relaxed);
            }
        }
    }

    /// From now on only database syncs move the inventory sync timestamp.
    pub fn set_database_inventory(&self) {
        self.database_inventory.store(true, Ordering::Relaxed);
    }

    pub fn database_inventory(&self) -> bool {
        self.database_inventory.load(Ordering::Relaxed)
    }

    /// A full read of the database inventory succeeded.
    pub fn inventory_synced(&self, at: SystemTime) {
        self.inventory_sync_ms.store(unix_ms(at), Ordering::Relaxed);
        self.inventory_sync_failing.store(false, Ordering::Relaxed);
    }

    /// Connecting to the database, listening or reading the inventory failed.
    pub fn inventory_sync_failed(&self) {
        self.inventory_sync_failures.fetch_add(1, Ordering::Relaxed);
        self.inventory_sync_failing.store(true, Ordering::Relaxed);
    }

    pub fn inventory_sync_failing(&self) -> bool {
        self.inventory_sync_failing.load(Ordering::Relaxed)
    }

    pub fn inventory_sync_failures(&self) -> u64 {
        self.inventory_sync_failures.load(Ordering::Relaxed)
    }

    /// Database devices left out of the inventory because they do not validate.
    pub fn set_inventory_invalid_targets(&self, n: usize) {
        self.inventory_invalid_targets
            .store(n as u64, Ordering::Relaxed);
    }

    pub fn inventory_invalid_targets(&self) -> u64 {
        self.inventory_invalid_targets.load(Ordering::Relaxed)
    }

    /// A write of `database.inventory_cache_file` was attempted.
    pub fn inventory_cache_written(&self, ok: bool) {
        self.inventory_cache_writes.fetch_add(1, Ordering::Relaxed);
        if !ok {
            self.inventory_cache_write_failures
                .fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn inventory_cache_writes(&self) -> u64 {
        self.inventory_cache_writes.load(Ordering::Relaxed)
    }

    pub fn inventory_cache_write_failures(&self) -> u64 {
        self.inventory_cache_write_failures.load(Ordering::Relaxed)
    }

    pub fn set_inventory_from_cache(&self, from_cache: bool) {
        self.inventory_from_cache
            .store(from_cache, Ordering::Relaxed);
    }

    pub fn inventory_from_cache(&self) -> bool {
        self.inventory_from_cache.load(Ordering::Relaxed)
    }

    pub fn reload_successful(&self) -> bool {
        self.reload_successful.load(Ordering::Relaxed) == 1
    }

    /// Unix seconds of the last successful config load (0 = never).
    pub fn reload_success_seconds(&self) -> f64 {
        self.reload_success_ms.load(Ordering::Relaxed) as f64 / 1000.0
    }

    pub fn inventory_sync_seconds(&self) -> f64 {
        self.inventory_sync_ms.load(Ordering::Relaxed) as f64 / 1000.0
    }

    /// A copy of the poll histograms, for encoding outside the lock.
    pub fn polls_snapshot(&self) -> BTreeMap<(Protocol, &'static str), Histogram> {
        self.polls.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn errors_snapshot(&self) -> BTreeMap<(Protocol, FailureReason), u64> {
        self.errors
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn lag_snapshot(&self) -> BTreeMap<Protocol, Histogram> {
        self.schedule_lag
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn skipped_snapshot(&self) -> BTreeMap<Protocol, u64> {
        self.skipped
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}
