//! SNMP polling (v1/v2c/v3): sessions with timeouts, GET and BULKWALK, built-in and custom modules.

use std::sync::Arc;
use std::time::Duration;

use crate::config::{Module, SnmpCredential, SnmpGlobal, Target};
use crate::poller::outcome::PollOutcome;

/// Everything one SNMP poller needs to poll one target.
#[derive(Debug, Clone)]
pub struct SnmpJob {
    pub target: Arc<Target>,
    pub credential: SnmpCredential,
    /// Only SNMP modules.
    pub modules: Vec<Arc<Module>>,
    pub settings: SnmpGlobal,
    /// Deadline for one whole poll.
    pub timeout: Duration,
}

/// Polls one target; keeps its session between polls.
pub struct SnmpPoller {
    job: SnmpJob,
}

impl SnmpPoller {
    pub fn new(job: SnmpJob) -> Self {
        SnmpPoller { job }
    }

    /// Polls every module once. Never takes longer than `job.timeout` (plus scheduling noise).
    pub async fn poll(&mut self) -> PollOutcome {
        let _ = &self.job;
        unimplemented!("SnmpPoller::poll is being written")
    }
}
