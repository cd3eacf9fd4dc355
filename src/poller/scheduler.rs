//! One lightweight task per (target, protocol), except ICMP, whose targets one batched prober
//! schedules together (icmp/batch.rs): random start offset, fixed-rate
//! schedule without drift, no overlapping polls, a global and a per-target concurrency limit,
//! and reloads that touch only the targets that changed.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use rand::Rng;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::icmp::{BatchTarget, IcmpBatch, IcmpJob, IcmpSockets};
use super::job::{protocol_pollers, PollerFactory, TargetPoller};
use super::outcome::{FailureReason, PollOutcome, PollRecord, Protocol};
use super::results::{RecordKey, ResultSlot, Results};
use crate::config::{Config, Global, Target};
use crate::metrics::PollerMetrics;

/// Extra time the scheduler grants a poll past its own timeout before it abandons it. The
/// protocol pollers enforce the timeout themselves; this is the safety net.
const ABANDON_GRACE: Duration = Duration::from_millis(500);

/// How long shutdown waits for tasks to notice cancellation.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(5);

/// What a config change did to the schedule.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ApplySummary {
    pub added: usize,
    pub changed: usize,
    pub removed: usize,
    pub unchanged: usize,
}

struct Scheduled {
    target: Arc<Target>,
    cancel: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
    /// The id under which the batched ICMP prober schedules this target, if it does.
    batched: Option<u64>,
}

impl Scheduled {
    /// Stops every poll of the target: its tasks and its place in the ICMP prober.
    fn stop(&self, icmp: Option<&IcmpBatch>) {
        self.cancel.cancel();
        if let (Some(id), Some(icmp)) = (self.batched, icmp) {
            icmp.remove(id);
        }
    }
}

/// Owns the polling tasks. Lives in the app; `apply` is called on start and on every reload.
pub struct Scheduler {
    factory: PollerFactory,
    results: Arc<Results>,
    metrics: Arc<PollerMetrics>,
    global_limit: Arc<Semaphore>,
    global_limit_size: usize,
    global: Option<Global>,
    scheduled: HashMap<String, Scheduled>,
    /// Started with the first ICMP target.
    icmp: Option<IcmpBatch>,
    shutdown: CancellationToken,
}

impl Scheduler {
    pub fn new(results: Arc<Results>, metrics: Arc<PollerMetrics>) -> Self {
        Self::with_factory(results, metrics, protocol_pollers())
    }

    /// A scheduler whose pollers come from `factory` (tests script them).
    pub fn with_factory(
        results: Arc<Results>,
        metrics: Arc<PollerMetrics>,
        factory: PollerFactory,
    ) -> Self {
        Scheduler {
            factory,
            results,
            metrics,
            global_limit: Arc::new(Semaphore::new(0)),
            global_limit_size: 0,
            global: None,
            scheduled: HashMap::new(),
            icmp: None,
            shutdown: CancellationToken::new(),
        }
    }

    /// Makes the running schedule match `config`: starts new targets, restarts changed ones,
    /// stops removed ones (their series disappear), leaves the rest alone.
    pub fn apply(&mut self, config: &Config) -> ApplySummary {
        self.resize_global_limit(config.global.max_concurrent_polls);
        // Poller settings are baked into running tasks: when they change, every task restarts.
        let settings_changed = self.global.as_ref().map(|g| g.snmp != config.global.snmp);
        if settings_changed == Some(true) {
            for (_, s) in self.scheduled.drain() {
                s.stop(self.icmp.as_ref());
            }
        }
        self.global = Some(config.global.clone());
        let mut summary = ApplySummary::default();
        let wanted: HashMap<&str, &Arc<Target>> = config
            .targets
            .iter()
            .map(|t| (t.name.as_str(), t))
            .collect();
        self.scheduled.retain(|name, s| {
            let keep = wanted.contains_key(name.as_str());
            if !keep {
                s.stop(self.icmp.as_ref());
                self.results.remove(name);
                summary.removed += 1;
            }
            keep
        });
        for target in &config.targets {
            match self.scheduled.get(&target.name) {
                Some(s) if *s.target == **target => summary.unchanged += 1,
                Some(_) => {
                    self.stop(&target.name);
                    self.start(target.clone(), &config.global);
                    summary.changed += 1;
                }
                None => {
                    self.start(target.clone(), &config.global);
                    summary.added += 1;
                }
            }
        }
        summary
    }

    /// Number of targets being polled.
    pub fn target_count(&self) -> usize {
        self.scheduled.len()
    }

    /// Cancels every task (in-flight polls are dropped) and waits briefly for them to end.
    pub async fn shutdown(&mut self) {
        self.shutdown.cancel();
        let handles: Vec<_> = self.scheduled.drain().flat_map(|(_, s)| s.tasks).collect();
        let icmp = self.icmp.take();
        let all = async move {
            futures_join_all(handles).await;
            if let Some(icmp) = icmp {
                icmp.join().await;
            }
        };
        if tokio::time::timeout(SHUTDOWN_WAIT, all).await.is_err() {
            tracing::warn!("some polling tasks did not stop within {SHUTDOWN_WAIT:?}");
        }
    }

    fn resize_global_limit(&mut self, size: usize) {
        if size > self.global_limit_size {
            self.global_limit.add_permits(size - self.global_limit_size);
        } else if size < self.global_limit_size {
            // Permits in use are forgotten as they come back; meanwhile a few more polls may
            // run than the new limit allows.
            self.global_limit
                .forget_permits(self.global_limit_size - size);
        }
        self.global_limit_size = size;
    }

    fn stop(&mut self, name: &str) {
        if let Some(s) = self.scheduled.remove(name) {
            s.stop(self.icmp.as_ref());
        }
    }

    fn start(&mut self, target: Arc<Target>, global: &Global) {
        let generation = self.results.register(target.clone());
        let cancel = self.shutdown.child_token();
        let device_limit = Arc::new(Semaphore::new(global.max_concurrent_per_target));
        let mut tasks = Vec::new();
        let mut batched = None;
        for protocol in target.protocols() {
            let key = RecordKey {
                target: &target.name,
                generation,
                protocol,
            };
            // Invariant: registered just above with every protocol of the target.
            let slot = self.results.slot(key).expect("registered slot");
            if protocol == Protocol::Icmp {
                if let Some(batch_target) = batched_icmp(&target, generation, &slot) {
                    batched = Some(generation);
                    self.icmp().add(batch_target);
                    continue;
                }
            }
            let task = PollTask {
                factory: self.factory.clone(),
                target: target.clone(),
                protocol,
                slot,
                global: global.clone(),
                metrics: self.metrics.clone(),
                global_limit: self.global_limit.clone(),
                device_limit: device_limit.clone(),
                cancel: cancel.clone(),
            };
            tasks.push(tokio::spawn(task.run()));
        }
        let scheduled = Scheduled {
            target: target.clone(),
            cancel,
            tasks,
            batched,
        };
        self.scheduled.insert(target.name.clone(), scheduled);
    }
}

impl Scheduler {
    /// The batched ICMP prober, started on first use (inside the runtime).
    fn icmp(&mut self) -> &IcmpBatch {
        let (sockets, metrics) = (IcmpSockets::global(), self.metrics.clone());
        let cancel = self.shutdown.child_token();
        self.icmp
            .get_or_insert_with(|| IcmpBatch::start(sockets, metrics, cancel))
    }
}

/// The batched prober's view of a target's ICMP module (`None` without one: the task's poller
/// then reports the config error).
fn batched_icmp(target: &Arc<Target>, generation: u64, slot: &ResultSlot) -> Option<BatchTarget> {
    let job = IcmpJob::for_target(target)?;
    Some(BatchTarget {
        id: generation,
        job,
        slot: slot.clone(),
    })
}

/// The first slot after `now` on the grid `planned + k * interval`, and how many grid slots
/// were missed on the way. Pure, so the no-drift rule is unit-tested.
pub(crate) fn next_slot<I>(planned: I, interval: Duration, now: I) -> (I, u64)
where
    I: std::ops::Add<Duration, Output = I> + PartialOrd + Copy,
{
    let mut next = planned + interval;
    let mut skipped = 0;
    while next <= now {
        next = next + interval;
        skipped += 1;
    }
    (next, skipped)
}

async fn futures_join_all(handles: Vec<JoinHandle<()>>) {
    for h in handles {
        let _ = h.await;
    }
}

/// Adds to a gauge while alive; subtracts again when dropped, even when the task is cancelled.
struct GaugeGuard<'a> {
    metrics: &'a PollerMetrics,
    protocol: Protocol,
    queued: bool,
}

impl<'a> GaugeGuard<'a> {
    fn queued(metrics: &'a PollerMetrics, protocol: Protocol) -> Self {
        Self::enter(metrics, protocol, true)
    }

    fn active(metrics: &'a PollerMetrics, protocol: Protocol) -> Self {
        Self::enter(metrics, protocol, false)
    }

    fn enter(metrics: &'a PollerMetrics, protocol: Protocol, queued: bool) -> Self {
        let guard = GaugeGuard {
            metrics,
            protocol,
            queued,
        };
        guard.add(1);
        guard
    }

    fn add(&self, delta: i64) {
        if self.queued {
            self.metrics.queued_delta(self.protocol, delta);
        } else {
            self.metrics.active_delta(self.protocol, delta);
        }
    }
}

impl Drop for GaugeGuard<'_> {
    fn drop(&mut self) {
        self.add(-1);
    }
}

/// The loop that polls one target with one protocol.
struct PollTask {
    factory: PollerFactory,
    target: Arc<Target>,
    protocol: Protocol,
    slot: ResultSlot,
    global: Global,
    metrics: Arc<PollerMetrics>,
    global_limit: Arc<Semaphore>,
    device_limit: Arc<Semaphore>,
    cancel: CancellationToken,
}

impl PollTask {
    async fn run(self) {
        let interval = self.target.interval;
        // A random offset spreads thousands of targets over the interval instead of polling
        // them all at once after a start or reload.
        let offset = rand::rng().random_range(Duration::ZERO..interval);
        let mut planned = tokio::time::Instant::now() + offset;
        let mut poller: Option<Box<dyn TargetPoller>> = None;
        let mut last_result: Option<Result<(), FailureReason>> = None;
        loop {
            tokio::select! {
                biased;
                _ = self.cancel.cancelled() => return,
                _ = tokio::time::sleep_until(planned) => {}
            }
            let Some(_permits) = self.acquire_slots().await else {
                return;
            };
            let lag = tokio::time::Instant::now().saturating_duration_since(planned);
            self.metrics.poll_started_late(self.protocol, lag);
            let span = tracing::debug_span!("poll", target = %self.target.name, protocol = self.protocol.as_str());
            let started = Instant::now();
            let outcome = {
                let _active = GaugeGuard::active(&self.metrics, self.protocol);
                tokio::select! {
                    biased;
                    _ = self.cancel.cancelled() => return,
                    outcome = self.poll_once(&mut poller).instrument(span) => outcome,
                }
            };
            let took = started.elapsed();
            log_transition(
                &self.target.name,
                self.protocol,
                last_result,
                outcome.result,
            );
            last_result = Some(outcome.result);
            self.record(outcome, took, lag);
            planned = self.next_slot(planned, interval);
        }
    }

    /// Waits for a global and a per-device slot. `None` when cancelled meanwhile.
    async fn acquire_slots(&self) -> Option<(OwnedSemaphorePermit, OwnedSemaphorePermit)> {
        let _queued = GaugeGuard::queued(&self.metrics, self.protocol);
        let acquire = async {
            let global = self.global_limit.clone().acquire_owned().await.ok()?;
            let device = self.device_limit.clone().acquire_owned().await.ok()?;
            Some((global, device))
        };
        tokio::select! {
            biased;
            _ = self.cancel.cancelled() => None,
            permits = acquire => permits,
        }
    }

    /// The next planned start: one interval after the previous plan (never after "now", so
    /// the schedule does not drift). Slots already in the past are skipped and counted.
    fn next_slot(&self, planned: tokio::time::Instant, interval: Duration) -> tokio::time::Instant {
        let (next, skipped) = next_slot(planned, interval, tokio::time::Instant::now());
        if skipped > 0 {
            self.metrics.polls_skipped(self.protocol, skipped);
        }
        next
    }

    async fn poll_once(&self, poller: &mut Option<Box<dyn TargetPoller>>) -> PollOutcome {
        if poller.is_none() {
            match (self.factory)(&self.target, self.protocol, &self.global) {
                Ok(p) => *poller = Some(p),
                Err(e) => {
                    tracing::error!("{e}");
                    return PollOutcome::failed(FailureReason::ProtocolError);
                }
            }
        }
        // Invariant: set just above.
        let p = poller.as_mut().expect("poller was just created");
        let deadline = self.target.timeout + ABANDON_GRACE;
        match tokio::time::timeout(deadline, p.poll()).await {
            Ok(outcome) => outcome,
            Err(_) => {
                // The poll was dropped mid-request: its session state is unknown, rebuild it.
                *poller = None;
                PollOutcome::failed(FailureReason::Timeout)
            }
        }
    }

    fn record(&self, outcome: PollOutcome, took: Duration, lag: Duration) {
        let now = SystemTime::now();
        self.metrics
            .poll_finished(self.protocol, outcome.result, took);
        let last_success = match outcome.result {
            Ok(()) => Some(now),
            Err(_) => self.slot.last_success(),
        };
        let record = PollRecord {
            outcome,
            finished_at: now,
            duration: took,
            last_success,
            schedule_lag: Some(lag),
        };
        self.slot.record(record);
    }
}

/// Logs state changes once (up -> down, down -> up), not every failed poll.
pub(crate) fn log_transition(
    target: &str,
    protocol: Protocol,
    before: Option<Result<(), FailureReason>>,
    now: Result<(), FailureReason>,
) {
    let protocol = protocol.as_str();
    match (before, now) {
        (Some(Ok(())) | None, Err(reason)) => {
            tracing::warn!(target_name = %target, protocol, reason = reason.as_str(), "target is down");
        }
        (Some(Err(a)), Err(b)) if a != b => {
            tracing::warn!(target_name = %target, protocol, reason = b.as_str(), "target is still down, for another reason");
        }
        (Some(Err(_)), Ok(())) => {
            tracing::info!(target_name = %target, protocol, "target is up again");
        }
        (None, Ok(())) => {
            tracing::debug!(target_name = %target, protocol, "first poll succeeded");
        }
        _ => {}
    }
}

#[cfg(test)]
#[path = "scheduler_tests.rs"]
mod tests;
