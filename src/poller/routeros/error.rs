//! Why a RouterOS API poll failed, and how that maps onto the closed `FailureReason` set. The
//! texts are for logs only; none holds the password.

use super::word::{ReplyError, WordError};
use crate::poller::outcome::FailureReason;

/// The step a timeout happened in, for logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Connect,
    TlsHandshake,
    Login,
    Commands,
}

#[derive(Debug, thiserror::Error)]
pub enum RouterOsError {
    #[error("timed out during {0:?}")]
    Timeout(Stage),
    #[error("cannot connect: {0}")]
    Unreachable(std::io::ErrorKind),
    #[error("host name does not resolve")]
    Resolve,
    #[error("TLS handshake failed: {0}")]
    Tls(String),
    #[error("the router refused the login: {0}")]
    LoginRefused(String),
    #[error("the router closed the connection (!fatal): {0}")]
    Fatal(String),
    #[error("the connection was lost")]
    ConnectionLost,
    #[error("not the RouterOS API: {0}")]
    Framing(#[from] WordError),
    #[error("not the RouterOS API: {0}")]
    Reply(#[from] ReplyError),
    #[error("unexpected answer: {0}")]
    Unexpected(String),
    #[error("the router refused {command}: {message}")]
    Trap { command: String, message: String },
    #[error("{command} answered {value:?}, which is not a {what}")]
    Parse {
        command: String,
        value: String,
        what: &'static str,
    },
    #[error("the answers to one poll exceeded {0} bytes")]
    TooMuchData(usize),
    #[error("waiting before the next connection attempt (last failure: {})", .0.as_str())]
    BackingOff(FailureReason),
}

impl RouterOsError {
    /// The label-safe reason of a failed poll.
    pub fn reason(&self) -> FailureReason {
        match self {
            RouterOsError::Timeout(_) => FailureReason::Timeout,
            RouterOsError::Unreachable(_)
            | RouterOsError::Resolve
            | RouterOsError::ConnectionLost
            | RouterOsError::Fatal(_) => FailureReason::Unreachable,
            RouterOsError::Tls(_) => FailureReason::TlsError,
            RouterOsError::LoginRefused(_) => FailureReason::Auth,
            RouterOsError::Framing(_)
            | RouterOsError::Reply(_)
            | RouterOsError::Unexpected(_)
            | RouterOsError::Trap { .. }
            | RouterOsError::TooMuchData(_) => FailureReason::ProtocolError,
            RouterOsError::Parse { .. } => FailureReason::ParseError,
            RouterOsError::BackingOff(reason) => *reason,
        }
    }

    /// True when the connection cannot carry another command afterwards. A refused command or
    /// an unparsable value leaves the sentence stream in step, so the connection is kept.
    pub fn breaks_connection(&self) -> bool {
        !matches!(
            self,
            RouterOsError::Trap { .. } | RouterOsError::Parse { .. }
        )
    }
}
