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
    /// Bytes read from clients (command sentences), for comparing pollers' traffic.
    pub bytes_received: AtomicU64,
    /// Reply sentences written (`!re`, `!done`, `!trap`, `!fatal`).
    pub sentences_sent: AtomicU64,
    /// Bytes of those sentences.
    pub bytes_sent: AtomicU64,
}

impl ApiStats {
    pub fn count(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn add(counter: &AtomicU64, amount: usize) {
        counter.fetch_add(amount as u64, Ordering::Relaxed);
    }

    /// Counts one reply sentence written to a client.
    pub fn count_sent(&self, sentence: &[u8]) {
        ApiStats::count(&self.sentences_sent);
        ApiStats::add(&self.bytes_sent, sentence.len());
    }

    /// (name, help, value) of every counter, for the text format.
    pub fn rows(&self) -> [(&'static str, &'static str, u64); 11] {
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
            (
                "received_bytes",
                "Bytes of RouterOS API command sentences read from clients",
                read(&self.bytes_received),
            ),
            (
                "sent_sentences",
                "RouterOS API reply sentences written to clients",
                read(&self.sentences_sent),
            ),
            (
                "sent_bytes",
                "Bytes of RouterOS API reply sentences written to clients",
                read(&self.bytes_sent),
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sent_sentence_counts_once_with_its_length() {
        let stats = ApiStats::default();
        stats.count_sent(b"\x05!done");
        stats.count_sent(b"\x03!re\x05=a=bc\x00");
        let rows = stats.rows();
        let value = |name: &str| rows.iter().find(|row| row.0 == name).unwrap().2;
        assert_eq!(value("sent_sentences"), 2);
        assert_eq!(value("sent_bytes"), 6 + 11);
        assert_eq!(value("received_bytes"), 0);
    }
}
