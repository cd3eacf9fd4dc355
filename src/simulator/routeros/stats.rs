//! The API side's counters, shown on the control endpoint's `/metrics`.

use std::sync::atomic::{AtomicU64, Ordering};

/// Totals over every MikroTik device of the fleet, updated by the connection tasks.
#[derive(Debug, Default)]
pub struct ApiStats {
    pub connections: AtomicU64,
    pub tls_handshake_failures: AtomicU64,
    pub logins: AtomicU64,
    pub login_failures: AtomicU64,
    pub commands: AtomicU64,
    /// Commands answered with `!trap` (unknown, not logged in, or a fault).
    pub traps: AtomicU64,
    /// Commands left unanswered (`router-down`).
    pub dropped: AtomicU64,
    /// Replies cut in the middle by the `cut_mid_reply` fault.
    pub cut_replies: AtomicU64,
}

impl ApiStats {
    pub fn count(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// (name, help, value) of every counter, for the text format.
    pub fn rows(&self) -> [(&'static str, &'static str, u64); 8] {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        [
            (
                "connections",
                "RouterOS API connections accepted",
                read(&self.connections),
            ),
            (
                "tls_handshake_failures",
                "API-SSL connections whose TLS handshake failed",
                read(&self.tls_handshake_failures),
            ),
            (
                "logins",
                "Successful RouterOS API logins",
                read(&self.logins),
            ),
            (
                "login_failures",
                "Refused RouterOS API logins",
                read(&self.login_failures),
            ),
            (
                "commands",
                "RouterOS API commands received and answered",
                read(&self.commands),
            ),
            (
                "traps",
                "RouterOS API commands answered with !trap",
                read(&self.traps),
            ),
            (
                "dropped",
                "RouterOS API commands left unanswered by a scenario (router-down)",
                read(&self.dropped),
            ),
            (
                "cut_replies",
                "RouterOS API replies cut in the middle by the cut_mid_reply fault",
                read(&self.cut_replies),
            ),
        ]
    }
}
