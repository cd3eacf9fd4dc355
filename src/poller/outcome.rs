//! What one poll produces: success or a closed failure reason, and the device's samples.

use std::sync::Arc;

pub use super::label_set::LabelSet;
pub use crate::catalog::{FamilyDesc, MetricType};
use std::time::{Duration, SystemTime};

/// The protocols a target can be polled with. Used as the `protocol` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    Snmp,
    Ssh,
    Icmp,
    RouterOs,
}

impl Protocol {
    pub const ALL: [Protocol; 4] = [
        Protocol::Snmp,
        Protocol::Ssh,
        Protocol::Icmp,
        Protocol::RouterOs,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Snmp => "snmp",
            Protocol::Ssh => "ssh",
            Protocol::Icmp => "icmp",
            Protocol::RouterOs => "routeros",
        }
    }
}

/// Why a poll failed. A closed set, so it can be a label value: never raw error text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FailureReason {
    /// No answer within the timeout (includes a wrong SNMPv2c community, which is silent).
    Timeout,
    /// The address could not be reached (port closed, no route, name does not resolve).
    Unreachable,
    /// The device refused our credentials (SNMPv3 authentication, SSH auth).
    Auth,
    /// The device answered with something that is not valid for the protocol.
    ProtocolError,
    /// The answer was valid on the wire but its content could not be interpreted.
    ParseError,
    /// SSH: the server's host key is not the one we know (or is unknown and not accepted).
    HostKeyMismatch,
    /// SSH: the collection command failed (non-zero exit, killed, or output over the cap).
    CommandFailed,
    /// TLS: the handshake failed (certificate not trusted or for another name, no common
    /// protocol version or cipher).
    TlsError,
}

impl FailureReason {
    pub const ALL: [FailureReason; 8] = [
        FailureReason::Timeout,
        FailureReason::Unreachable,
        FailureReason::Auth,
        FailureReason::ProtocolError,
        FailureReason::ParseError,
        FailureReason::HostKeyMismatch,
        FailureReason::CommandFailed,
        FailureReason::TlsError,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FailureReason::Timeout => "timeout",
            FailureReason::Unreachable => "unreachable",
            FailureReason::Auth => "auth",
            FailureReason::ProtocolError => "protocol_error",
            FailureReason::ParseError => "parse_error",
            FailureReason::HostKeyMismatch => "host_key_mismatch",
            FailureReason::CommandFailed => "command_failed",
            FailureReason::TlsError => "tls_error",
        }
    }
}

/// The `result` label of `ispmonitor_polls_total`: "success" or a failure reason.
pub fn result_label(result: Result<(), FailureReason>) -> &'static str {
    match result {
        Ok(()) => "success",
        Err(reason) => reason.as_str(),
    }
}

/// A sample value. Device counters stay integers so they are rendered exactly.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Int(u64),
    Float(f64),
    /// A whole histogram series (rendered as `_bucket{le}`, `_sum` and `_count` lines).
    Histogram(Arc<HistogramSnapshot>),
}

/// A histogram as a poller accumulated it, ready to render: cumulative bucket counts by upper
/// bound (the last bound is +Inf, so its count equals `count`), the sum and the count.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    pub buckets: Vec<(f64, u64)>,
    pub sum: f64,
    pub count: u64,
}

/// One sample of a device family. The `target` label is not stored here: the encoder adds it.
/// 32 bytes: at millions of stored series, the size of this struct is most of the memory.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The other labels, in exposition order, rendered once (shared between families and polls
    /// of a target once the results store has interned them).
    pub labels: LabelSet,
    pub value: Value,
}

impl Sample {
    /// A sample from label pairs in exposition order.
    pub fn new<'a>(labels: impl IntoIterator<Item = (&'a str, &'a str)>, value: Value) -> Self {
        Sample {
            labels: LabelSet::new(labels),
            value,
        }
    }
}

/// All samples of one family from one poll.
#[derive(Debug, Clone, PartialEq)]
pub struct FamilySamples {
    pub desc: Arc<FamilyDesc>,
    pub samples: Vec<Sample>,
}

/// The outcome of one poll of one target with one protocol.
#[derive(Debug, Clone, PartialEq)]
pub struct PollOutcome {
    pub result: Result<(), FailureReason>,
    /// Device metrics. Empty when the poll failed: stale values are never served as fresh.
    /// The exception is state the poller itself accumulates and updated during this very poll
    /// (ICMP request/reply counters and RTT histogram): those are fresh even when the probe got
    /// no reply, and exporting them is how 100 % loss shows.
    pub families: Vec<FamilySamples>,
}

impl PollOutcome {
    pub fn failed(reason: FailureReason) -> Self {
        PollOutcome {
            result: Err(reason),
            families: Vec::new(),
        }
    }
}

/// A finished poll as the results store keeps it.
#[derive(Debug, Clone)]
pub struct PollRecord {
    pub outcome: PollOutcome,
    pub finished_at: SystemTime,
    pub duration: Duration,
    /// When this target last succeeded with this protocol (this poll or an earlier one).
    pub last_success: Option<SystemTime>,
    /// How late the poll started after its planned time (`None`: not scheduled, e.g. /probe).
    pub schedule_lag: Option<Duration>,
}
