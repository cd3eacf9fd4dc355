//! Scheduler tests on tokio's paused clock with scripted pollers: fixed rate without drift, no
//! overlapping polls, the global limit, fault isolation and reload diffs.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::*;
use crate::config::{
    Config, Global, IcmpModule, IpProtocol, Module, ModuleKind, SnmpGlobal, SnmpModule, Target,
    TargetKind, Web,
};
use crate::poller::job::{PollFuture, PollerFactory, TargetPoller};
use crate::poller::outcome::PollOutcome;

/// How a scripted target behaves when polled.
#[derive(Clone, Copy)]
enum Behaviour {
    Takes(Duration),
    Hangs,
}

#[derive(Default)]
struct Log {
    starts: Mutex<HashMap<String, Vec<Instant>>>,
    active: AtomicUsize,
    peak: AtomicUsize,
    peak_per_target: Mutex<HashMap<String, usize>>,
    active_per_target: Mutex<HashMap<String, usize>>,
}

impl Log {
    fn starts(&self, name: &str) -> Vec<Instant> {
        self.starts
            .lock()
            .unwrap()
            .get(name)
            .cloned()
            .unwrap_or_default()
    }
}

struct Scripted {
    name: String,
    behaviour: Behaviour,
    log: Arc<Log>,
}

/// Decrements the active counts when a poll ends or is dropped (abandoned).
struct ActiveGuard(Arc<Log>, String);

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::SeqCst);
        *self
            .0
            .active_per_target
            .lock()
            .unwrap()
            .get_mut(&self.1)
            .unwrap() -= 1;
    }
}

impl TargetPoller for Scripted {
    fn poll(&mut self) -> PollFuture<'_> {
        Box::pin(async move {
            let log = self.log.clone();
            log.starts
                .lock()
                .unwrap()
                .entry(self.name.clone())
                .or_default()
                .push(Instant::now());
            let now_active = log.active.fetch_add(1, Ordering::SeqCst) + 1;
            log.peak.fetch_max(now_active, Ordering::SeqCst);
            {
                let mut per = log.active_per_target.lock().unwrap();
                let n = per.entry(self.name.clone()).or_default();
                *n += 1;
                let mut peaks = log.peak_per_target.lock().unwrap();
                let p = peaks.entry(self.name.clone()).or_default();
                *p = (*p).max(*n);
            }
            let _guard = ActiveGuard(log, self.name.clone());
            match self.behaviour {
                Behaviour::Takes(d) => tokio::time::sleep(d).await,
                Behaviour::Hangs => std::future::pending::<()>().await,
            }
            PollOutcome {
                result: Ok(()),
                families: Vec::new(),
            }
        })
    }
}

fn factory(log: Arc<Log>, behaviours: HashMap<String, Behaviour>) -> PollerFactory {
    Arc::new(move |target, _protocol, _global| {
        Ok(Box::new(Scripted {
            name: target.name.clone(),
            behaviour: behaviours[&target.name],
            log: log.clone(),
        }) as Box<dyn TargetPoller>)
    })
}

fn global(max_concurrent_polls: usize) -> Global {
    Global {
        interval: Duration::from_secs(1),
        timeout: Duration::from_millis(800),
        max_concurrent_polls,
        max_concurrent_per_target: 1,
        snmp: SnmpGlobal {
            retries: 0,
            ..SnmpGlobal::default()
        },
    }
}

fn target(name: &str, interval_ms: u64) -> Arc<Target> {
    let module = Arc::new(Module {
        name: "system".into(),
        kind: ModuleKind::Snmp(SnmpModule::System),
    });
    Arc::new(Target {
        name: name.into(),
        address: "127.0.0.1".into(),
        host: "127.0.0.1".into(),
        port: None,
        kind: TargetKind::Router,
        modules: vec![module],
        credential_name: None,
        credential: None,
        interval: Duration::from_millis(interval_ms),
        timeout: Duration::from_millis(interval_ms * 8 / 10),
        labels: BTreeMap::new(),
        source: Default::default(),
    })
}

fn config(max_concurrent_polls: usize, targets: Vec<Arc<Target>>) -> Config {
    Config {
        global: global(max_concurrent_polls),
        web: Web {
            listen_addresses: vec![],
        },
        database: Default::default(),
        api: Default::default(),
        license: Default::default(),
        credentials: BTreeMap::new(),
        modules: BTreeMap::new(),
        targets,
    }
}

struct Harness {
    scheduler: Scheduler,
    results: Arc<Results>,
    metrics: Arc<PollerMetrics>,
    log: Arc<Log>,
}

fn harness(behaviours: &[(&str, Behaviour)]) -> Harness {
    let log = Arc::new(Log::default());
    let map = behaviours
        .iter()
        .map(|(n, b)| (n.to_string(), *b))
        .collect();
    let results = Arc::new(Results::new());
    let metrics = Arc::new(PollerMetrics::default());
    let scheduler =
        Scheduler::with_factory(results.clone(), metrics.clone(), factory(log.clone(), map));
    Harness {
        scheduler,
        results,
        metrics,
        log,
    }
}

fn gaps(starts: &[Instant]) -> Vec<Duration> {
    starts.windows(2).map(|w| w[1] - w[0]).collect()
}

#[tokio::test(start_paused = true)]
async fn polls_at_a_fixed_rate_without_drift() {
    let mut h = harness(&[("r1", Behaviour::Takes(Duration::from_millis(300)))]);
    h.scheduler.apply(&config(10, vec![target("r1", 1000)]));
    tokio::time::sleep(Duration::from_millis(10_500)).await;
    let starts = h.log.starts("r1");
    assert!(starts.len() >= 9, "{} polls in 10.5 s", starts.len());
    // Each start is exactly one interval after the previous plan, whatever the poll took.
    assert!(
        gaps(&starts).iter().all(|g| *g == Duration::from_secs(1)),
        "{:?}",
        gaps(&starts)
    );
    h.scheduler.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_hanging_poll_is_abandoned_and_never_overlaps() {
    let mut h = harness(&[("dead", Behaviour::Hangs)]);
    h.scheduler.apply(&config(10, vec![target("dead", 1000)]));
    tokio::time::sleep(Duration::from_secs(10)).await;
    let starts = h.log.starts("dead");
    assert!(starts.len() >= 4, "{} polls", starts.len());
    assert_eq!(
        h.log.peak_per_target.lock().unwrap()["dead"],
        1,
        "polls of one target overlapped"
    );
    // Abandoned after timeout + grace (1.3 s), so the 1 s slot in between is skipped, not queued.
    assert!(
        gaps(&starts).iter().all(|g| *g == Duration::from_secs(2)),
        "{:?}",
        gaps(&starts)
    );
    let snapshot = h.results.snapshot();
    let record = snapshot[0].records[&Protocol::Snmp]
        .as_ref()
        .expect("recorded");
    assert_eq!(record.outcome.result, Err(FailureReason::Timeout));
    assert!(h.metrics.skipped_snapshot()[&Protocol::Snmp] >= 3);
    h.scheduler.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn a_dead_device_never_delays_the_others() {
    let mut h = harness(&[
        ("dead", Behaviour::Hangs),
        ("fast", Behaviour::Takes(Duration::from_millis(10))),
    ]);
    h.scheduler.apply(&config(
        10,
        vec![target("dead", 1000), target("fast", 1000)],
    ));
    tokio::time::sleep(Duration::from_millis(10_500)).await;
    let fast = h.log.starts("fast");
    assert!(fast.len() >= 9, "fast target polled {} times", fast.len());
    assert!(gaps(&fast).iter().all(|g| *g == Duration::from_secs(1)));
    h.scheduler.shutdown().await;
}

#[tokio::test(start_paused = true)]
async fn the_global_limit_caps_concurrent_polls() {
    let names: Vec<String> = (0..6).map(|i| format!("r{i}")).collect();
    let behaviours: Vec<(&str, Behaviour)> = names
        .iter()
        .map(|n| (n.as_str(), Behaviour::Takes(Duration::from_millis(400))))
        .collect();
    let mut h = harness(&behaviours);
    let targets = names.iter().map(|n| target(n, 1000)).collect();
    h.scheduler.apply(&config(2, targets));
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert_eq!(h.log.peak.load(Ordering::SeqCst), 2);
    // 6 x 0.4 s of work per second on 2 slots does not fit: the overflow is skipped and counted.
    assert!(
        h.metrics
            .skipped_snapshot()
            .get(&Protocol::Snmp)
            .copied()
            .unwrap_or(0)
            > 0
    );
    h.scheduler.shutdown().await;
    assert_eq!(h.metrics.active(Protocol::Snmp), 0);
    assert_eq!(h.metrics.queued(Protocol::Snmp), 0);
}

#[tokio::test(start_paused = true)]
async fn apply_touches_only_what_changed() {
    let fast = Behaviour::Takes(Duration::from_millis(10));
    let mut h = harness(&[("a", fast), ("b", fast), ("c", fast)]);
    let first = h
        .scheduler
        .apply(&config(10, vec![target("a", 1000), target("b", 1000)]));
    assert_eq!(
        first,
        ApplySummary {
            added: 2,
            changed: 0,
            removed: 0,
            unchanged: 0
        }
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    let b_polls_before = h.log.starts("b").len();

    let second = h
        .scheduler
        .apply(&config(10, vec![target("b", 1000), target("c", 500)]));
    assert_eq!(
        second,
        ApplySummary {
            added: 1,
            changed: 0,
            removed: 1,
            unchanged: 1
        }
    );
    let names: Vec<String> = h
        .results
        .snapshot()
        .iter()
        .map(|t| t.target.name.clone())
        .collect();
    assert_eq!(
        names,
        vec!["b", "c"],
        "removed target's results are gone at once"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        h.log.starts("b").len() >= b_polls_before + 2,
        "unchanged target kept polling"
    );
    let a_polls = h.log.starts("a").len();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(h.log.starts("a").len(), a_polls, "removed target stopped");

    let third = h
        .scheduler
        .apply(&config(10, vec![target("b", 2000), target("c", 500)]));
    assert_eq!(
        third,
        ApplySummary {
            added: 0,
            changed: 1,
            removed: 0,
            unchanged: 1
        }
    );
    assert_eq!(h.scheduler.target_count(), 2);
    h.scheduler.shutdown().await;
}

#[test]
fn next_slot_stays_on_the_grid_and_counts_missed_slots() {
    let s = Duration::from_secs;
    assert_eq!(next_slot(s(10), s(5), s(12)), (s(15), 0));
    assert_eq!(next_slot(s(10), s(5), s(15)), (s(20), 1));
    assert_eq!(next_slot(s(10), s(5), s(31)), (s(35), 4));
}

/// `target` with an ICMP module too (two requests 10 ms apart), pinging `address`.
fn with_icmp(target: Arc<Target>, address: &str) -> Arc<Target> {
    let icmp = Arc::new(Module {
        name: "ping".into(),
        kind: ModuleKind::Icmp(IcmpModule {
            count: 2,
            interval: Duration::from_millis(10),
            timeout: Duration::from_millis(100),
            payload_size: 8,
            ip_protocol: IpProtocol::PreferIpv4,
            source_address: None,
        }),
    });
    let mut target = (*target).clone();
    target.modules.push(icmp);
    target.address = address.into();
    target.host = address.into();
    Arc::new(target)
}

fn icmp_record(results: &Results, name: &str) -> Option<Arc<PollRecord>> {
    let snapshot = results.snapshot();
    let target = snapshot.iter().find(|t| t.target.name == name)?;
    target.records.get(&Protocol::Icmp)?.clone()
}

/// Real ICMP on loopback (lib tests run as root): the batched prober pings on schedule while
/// the same target's SNMP poll hangs holding the only global and per-target slots, and a
/// removed target's results stay gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn icmp_probes_take_no_concurrency_slot_and_stop_with_their_target() {
    let hang = Behaviour::Hangs;
    let mut h = harness(&[
        ("both", hang),
        ("other", hang),
        ("named", hang),
        ("nowhere", hang),
    ]);
    let both = with_icmp(target("both", 300), "127.0.0.1");
    let other = with_icmp(target("other", 300), "127.0.0.2");
    // Host names are looked up by a task of their own, every poll; the prober never waits.
    let named = with_icmp(target("named", 300), "localhost");
    let nowhere = with_icmp(target("nowhere", 300), "no-such-host.invalid");
    h.scheduler
        .apply(&config(1, vec![both.clone(), other, named, nowhere]));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let nowhere = icmp_record(&h.results, "nowhere").expect("the failed lookup was recorded");
    assert!(
        nowhere.outcome.result.is_err(),
        "{:?}",
        nowhere.outcome.result
    );
    for name in ["both", "other", "named"] {
        let record = icmp_record(&h.results, name).expect("an ICMP poll was recorded");
        assert_eq!(record.outcome.result, Ok(()), "{name}: loopback answers");
        assert!(
            record.duration >= Duration::from_millis(10)
                && record.duration < Duration::from_millis(60),
            "{name}: two requests 10 ms apart took {:?}",
            record.duration
        );
    }
    let lags = h.metrics.lag_snapshot();
    assert!(
        lags.contains_key(&Protocol::Icmp),
        "the schedule lag is measured"
    );
    assert_eq!(h.metrics.queued(Protocol::Icmp), 0);

    let summary = h.scheduler.apply(&config(1, vec![both]));
    assert_eq!(summary.removed, 3);
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(
        icmp_record(&h.results, "other").is_none(),
        "a removed target's results came back"
    );
    assert!(icmp_record(&h.results, "both").is_some());
    h.scheduler.shutdown().await;
    assert_eq!(
        h.metrics.active(Protocol::Icmp),
        0,
        "no probe counted active after shutdown"
    );
}
