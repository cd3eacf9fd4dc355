//! Counters: the agent's own totals (AgentStats) and each engine's usmStats (RFC 3414).

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// Totals over every endpoint of one agent, updated lock-free by the socket tasks.
#[derive(Debug, Default)]
pub struct AgentStats {
    pub requests: AtomicU64,
    pub responses: AtomicU64,
    pub varbinds: AtomicU64,
    /// Requests the device chose not to answer (`Reaction::Drop`).
    pub dropped: AtomicU64,
    /// Datagrams that are not a well-formed SNMP request (including GETBULK in v1).
    pub decode_errors: AtomicU64,
    /// Wrong community, unknown v3 user or engine, wrong digest, undecryptable data...
    pub auth_failures: AtomicU64,
    /// Responses that became tooBig.
    pub too_big: AtomicU64,
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AgentStatsSnapshot {
    pub requests: u64,
    pub responses: u64,
    pub varbinds: u64,
    pub dropped: u64,
    pub decode_errors: u64,
    pub auth_failures: u64,
    pub too_big: u64,
}

impl AgentStats {
    pub fn snapshot(&self) -> AgentStatsSnapshot {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        AgentStatsSnapshot {
            requests: read(&self.requests),
            responses: read(&self.responses),
            varbinds: read(&self.varbinds),
            dropped: read(&self.dropped),
            decode_errors: read(&self.decode_errors),
            auth_failures: read(&self.auth_failures),
            too_big: read(&self.too_big),
        }
    }

    pub(crate) fn add(counter: &AtomicU64, amount: u64) {
        counter.fetch_add(amount, Ordering::Relaxed);
    }
}

/// The usmStats objects of one engine (1.3.6.1.6.3.15.1.1.N.0), in their MIB order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsmStat {
    UnsupportedSecLevels = 1,
    NotInTimeWindows = 2,
    UnknownUserNames = 3,
    UnknownEngineIds = 4,
    WrongDigests = 5,
    DecryptionErrors = 6,
}

impl UsmStat {
    pub const ALL: [UsmStat; 6] = [
        UsmStat::UnsupportedSecLevels,
        UsmStat::NotInTimeWindows,
        UsmStat::UnknownUserNames,
        UsmStat::UnknownEngineIds,
        UsmStat::WrongDigests,
        UsmStat::DecryptionErrors,
    ];

    /// The scalar instance's OID.
    pub fn oid(self) -> [u32; 11] {
        [1, 3, 6, 1, 6, 3, 15, 1, 1, self as u32, 0]
    }
}

/// One engine's usmStats counters (24 bytes per endpoint).
#[derive(Debug, Default)]
pub struct UsmCounters {
    counters: [AtomicU32; 6],
}

impl UsmCounters {
    /// Counts one event and returns the new value (the value a Report carries).
    pub fn increment(&self, stat: UsmStat) -> u32 {
        self.slot(stat)
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_add(1)
    }

    pub fn get(&self, stat: UsmStat) -> u32 {
        self.slot(stat).load(Ordering::Relaxed)
    }

    fn slot(&self, stat: UsmStat) -> &AtomicU32 {
        &self.counters[stat as usize - 1]
    }
}
