//! Why an SNMP request failed, and how that maps onto the closed `FailureReason` set.

use crate::poller::outcome::FailureReason;

/// A failed SNMP request or walk. The text is for logs only, never for labels; it never holds a
/// community or password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnmpError {
    #[error("no reply within the timeout")]
    Timeout,
    #[error("host name does not resolve")]
    Resolve,
    #[error("network error: {0}")]
    Network(String),
    #[error("agent refused our credentials: {0}")]
    Auth(String),
    #[error("protocol error: {0}")]
    Protocol(String),
    #[error("agent returned error-status {status} (index {index})")]
    ErrorStatus { status: u32, index: u32 },
    #[error("values could not be interpreted: {0}")]
    Parse(String),
}

impl SnmpError {
    /// The label-safe reason of a failed poll.
    pub fn reason(&self) -> FailureReason {
        match self {
            SnmpError::Timeout => FailureReason::Timeout,
            SnmpError::Resolve | SnmpError::Network(_) => FailureReason::Unreachable,
            SnmpError::Auth(_) => FailureReason::Auth,
            SnmpError::Protocol(_) | SnmpError::ErrorStatus { .. } => FailureReason::ProtocolError,
            SnmpError::Parse(_) => FailureReason::ParseError,
        }
    }
}
