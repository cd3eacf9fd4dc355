//! Why an SSH poll failed, and how that maps onto the closed `FailureReason` set. The texts are
//! for logs only; none holds a password, passphrase or key.

use super::command::SectionError;
use super::parse::ParseError;
use crate::poller::outcome::FailureReason;

/// The step a timeout happened in, for logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Connect,
    Handshake,
    Auth,
    Command,
}

/// How the collection command failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandFailure {
    #[error("exited with status {0}")]
    ExitStatus(u32),
    #[error("killed by a signal")]
    Signal,
    #[error("printed more than {0} bytes (max_output_bytes); the channel was closed")]
    OutputTooLarge(usize),
    #[error("the server refused to open a session or run the command")]
    Refused,
    #[error("the channel closed without an exit status")]
    NoExitStatus,
    #[error("the output is not text")]
    NotText,
}

#[derive(Debug, thiserror::Error)]
pub enum SshError {
    #[error("timed out during {0:?}")]
    Timeout(Stage),
    #[error("cannot connect: {0}")]
    Unreachable(std::io::ErrorKind),
    #[error("host name does not resolve")]
    Resolve,
    #[error("the server's host key is not the known one")]
    HostKeyMismatch,
    #[error("the server's host key is unknown (not in known_hosts, accept_new_host_keys is off)")]
    HostKeyUnknown,
    #[error("the known_hosts file cannot be used: {0}")]
    KnownHostsFile(std::io::ErrorKind),
    #[error("the server refused our credentials")]
    AuthRefused,
    #[error("the credential cannot be used: {0}")]
    AuthSetup(&'static str),
    #[error("ssh protocol error: {0}")]
    Protocol(String),
    #[error("the connection was lost")]
    ConnectionLost,
    #[error("collection command failed: {0}")]
    Command(#[from] CommandFailure),
    #[error("output could not be parsed: {0}")]
    Parse(#[from] ParseError),
    #[error("output is incomplete: {0}")]
    Sections(#[from] SectionError),
    #[error("waiting before the next connection attempt (last failure: {})", .0.as_str())]
    BackingOff(FailureReason),
}

impl SshError {
    /// The label-safe reason of a failed poll.
    pub fn reason(&self) -> FailureReason {
        match self {
            SshError::Timeout(_) => FailureReason::Timeout,
            SshError::Unreachable(_) | SshError::Resolve | SshError::ConnectionLost => {
                FailureReason::Unreachable
            }
            SshError::HostKeyMismatch | SshError::HostKeyUnknown | SshError::KnownHostsFile(_) => {
                FailureReason::HostKeyMismatch
            }
            SshError::AuthRefused | SshError::AuthSetup(_) => FailureReason::Auth,
            SshError::Protocol(_) => FailureReason::ProtocolError,
            SshError::Command(_) => FailureReason::CommandFailed,
            SshError::Parse(_) | SshError::Sections(_) => FailureReason::ParseError,
            SshError::BackingOff(reason) => *reason,
        }
    }

    /// True when the connection itself is unusable afterwards (so it is dropped).
    pub fn breaks_connection(&self) -> bool {
        !matches!(
            self,
            SshError::Command(
                CommandFailure::ExitStatus(_) | CommandFailure::Signal | CommandFailure::NotText
            ) | SshError::Parse(_)
                | SshError::Sections(_)
        )
    }
}
