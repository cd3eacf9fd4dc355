//! Polling: the per-target scheduler, the latest results, and one folder per protocol.

pub mod backoff;
pub mod icmp;
pub mod job;
pub mod label_set;
pub mod outcome;
pub mod results;
pub mod routeros;
pub mod scheduler;
pub mod snmp;
pub mod ssh;

pub use outcome::{FailureReason, PollOutcome, Protocol};
