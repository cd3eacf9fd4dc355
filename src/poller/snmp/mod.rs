//! SNMP polling (v1/v2c/v3): sessions with timeouts, GET and BULKWALK, built-in and custom modules.

pub mod decode;
pub mod engine;
pub mod error;
pub mod modules;
pub mod pipeline;
pub mod rows;
pub mod self_metrics;
pub mod session;
pub mod sizing;
pub mod stats;
pub mod value;
pub mod walk;

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tracing::Instrument;

use crate::config::{Module, ModuleKind, SnmpCredential, SnmpGlobal, Target};
use crate::poller::outcome::PollOutcome;

use self::decode::Decoded;
use self::error::SnmpError;
use self::modules::TargetState;
use self::session::{Session, SessionSettings};
use self::stats::{SnmpTargetStats, SnmpTargetStatsSnapshot};

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
    session: Session,
    /// Counters shared by the target's sessions, for the per-target self-metrics.
    stats: Arc<SnmpTargetStats>,
    /// What the modules keep between polls (message size, lookup cache).
    state: TargetState,
}

impl SnmpPoller {
    pub fn new(job: SnmpJob) -> Self {
        let stats = Arc::new(SnmpTargetStats::default());
        let mut session = Session::new(session_settings(&job, stats.clone()));
        session.set_max_in_flight(job.settings.max_requests_in_flight);
        let state = TargetState::new(&job.settings, stats.clone());
        SnmpPoller {
            job,
            session,
            stats,
            state,
        }
    }

    /// The target's wire and cache counters so far.
    pub fn stats(&self) -> SnmpTargetStatsSnapshot {
        self.stats.snapshot()
    }

    /// Polls every module once. Never takes longer than `job.timeout` (plus scheduling noise).
    /// Any failed request fails the whole poll, which then carries no samples.
    pub async fn poll(&mut self) -> PollOutcome {
        let span = tracing::debug_span!("snmp_poll", target = %self.job.target.name);
        let deadline = Instant::now() + self.job.timeout;
        self.session.set_deadline(deadline);
        // The session enforces the deadline per request; this outer bound also covers the time
        // spent between requests.
        let collected = tokio::time::timeout_at(deadline, self.collect_all()).instrument(span);
        let result = match collected.await {
            Ok(result) => result,
            Err(_elapsed) => {
                self.session.discard();
                Err(SnmpError::Timeout)
            }
        };
        let mut outcome = match result.and_then(into_outcome) {
            Ok(outcome) => outcome,
            Err(error) => {
                tracing::debug!(target = %self.job.target.name, %error, "snmp poll failed");
                PollOutcome::failed(error.reason())
            }
        };
        outcome.families.extend(self_metrics::families(
            &self.stats.snapshot(),
            self.state.sizing.max_message_size(),
        ));
        outcome
    }

    async fn collect_all(&mut self) -> Result<Decoded, SnmpError> {
        let mut decoded = Decoded::default();
        modules::open_poll(
            &mut self.session,
            &self.job.modules,
            &self.job.settings,
            &mut self.state,
        )
        .await?;
        for module in &self.job.modules {
            // Invariant: the job only carries SNMP modules (`Target::modules_for`).
            let ModuleKind::Snmp(snmp_module) = &module.kind else {
                continue;
            };
            let module_decoded = modules::collect(
                &mut self.session,
                snmp_module,
                &self.job.settings,
                &mut self.state,
            )
            .await?;
            if module_decoded.skipped > 0 {
                tracing::debug!(
                    module = %module.name,
                    skipped = module_decoded.skipped,
                    "snmp values of an unexpected type were skipped"
                );
            }
            decoded.extend(module_decoded);
        }
        Ok(decoded)
    }
}

/// Values of the wrong type are skipped one by one; only when nothing at all could be decoded
/// does the poll fail with a parse error.
fn into_outcome(decoded: Decoded) -> Result<PollOutcome, SnmpError> {
    if decoded.sample_count() == 0 && decoded.skipped > 0 {
        return Err(SnmpError::Parse(format!(
            "none of {} values had a usable type",
            decoded.skipped
        )));
    }
    Ok(PollOutcome {
        result: Ok(()),
        families: decoded.families,
    })
}

fn session_settings(job: &SnmpJob, stats: Arc<SnmpTargetStats>) -> SessionSettings {
    let attempts = job.settings.retries.saturating_add(1);
    SessionSettings {
        host: job.target.host.clone(),
        port: job.target.port,
        credential: job.credential.clone(),
        retries: job.settings.retries,
        attempt_timeout: job.timeout / attempts,
        stats,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::poller::outcome::FailureReason;

    fn assert_send<T: Send>(_: &T) {}

    #[test]
    fn the_poll_future_can_be_spawned() {
        let job = SnmpJob {
            target: Arc::new(Target {
                name: "r1".into(),
                address: "127.0.0.1".into(),
                host: "127.0.0.1".into(),
                port: None,
                kind: crate::config::TargetKind::Router,
                modules: vec![],
                credential_name: None,
                credential: None,
                interval: Duration::from_secs(60),
                timeout: Duration::from_secs(1),
                labels: Default::default(),
                source: Default::default(),
            }),
            credential: SnmpCredential::V2c {
                community: crate::config::Secret::new("public"),
            },
            modules: vec![],
            settings: SnmpGlobal::default(),
            timeout: Duration::from_secs(1),
        };
        let mut poller = SnmpPoller::new(job);
        assert_send(&poller.poll());
    }

    #[test]
    fn nothing_decodable_is_a_parse_error_but_empty_is_success() {
        let skipped_only = Decoded {
            families: vec![],
            skipped: 3,
        };
        assert_eq!(
            into_outcome(skipped_only).map_err(|e| e.reason()),
            Err(FailureReason::ParseError)
        );
        let empty = into_outcome(Decoded::default()).expect("empty is fine");
        assert_eq!(empty.result, Ok(()));
    }
}
