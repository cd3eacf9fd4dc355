//! Exposition benchmark driver: fills the results store through the real SNMP pollers, then
//! serves only `/metrics`, so every CPU second it spends afterwards is a scrape's.
//
// `cargo run --release --example exposition_bench -- --config fleet.yaml --listen 127.0.0.1:9999`
// Used by scripts/bench/exposition.sh against `ispmonitor simulate --write-config fleet.yaml`.
//
// `ispmonitor serve` keeps polling in the background, which would mix poll CPU into the scrape
// CPU we want to measure; this driver polls every target `--polls` times through the same
// pollers (`poller::job::new_poller`, kept alive like the scheduler keeps them), records the
// outcomes in `Results` exactly as the scheduler does, prints one `filled ...` line, and then
// does nothing but answer HTTP through the exporter's own router.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use clap::Parser;
use ispmonitor::config::{load_file, Config};
use ispmonitor::lifecycle::Lifecycle;
use ispmonitor::metrics::collector::ProcessFacts;
use ispmonitor::metrics::PollerMetrics;
use ispmonitor::poller::job::{new_poller, TargetPoller};
use ispmonitor::poller::outcome::{PollRecord, Protocol};
use ispmonitor::poller::results::{RecordKey, Results};
use ispmonitor::web::{router, WebState};
use tokio::sync::Semaphore;

/// The allocator `ispmonitor serve` uses, so the scrape costs what it costs in production.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
struct Args {
    /// A poller config (e.g. written by `ispmonitor simulate --write-config`).
    #[arg(long)]
    config: PathBuf,
    /// Where to serve `/metrics` once the store is filled.
    #[arg(long)]
    listen: String,
    /// Polls in flight at once while filling.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// How many times every target is polled before serving (the second poll replaces the first
    /// record, as in steady state).
    #[arg(long, default_value_t = 2)]
    polls: u32,
}

/// One (target, protocol) with its long-lived poller, as a scheduler task holds it.
struct Task {
    target: String,
    protocol: Protocol,
    generation: u64,
    poller: Box<dyn TargetPoller>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    ispmonitor::memory::disable_transparent_huge_pages();
    let args = Args::parse();
    let config = load_file(&args.config)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| format!("loading {}", args.config.display()))?;
    let results = Arc::new(Results::new());
    let tasks = register(&config, &results)?;
    let started = Instant::now();
    let (tasks, failed) = poll_all(tasks, &results, &args).await;
    println!(
        "filled targets={} failed_polls={failed} seconds={:.1}",
        tasks.len(),
        started.elapsed().as_secs_f64()
    );
    serve(config, results, &args.listen, tasks).await
}

fn register(config: &Config, results: &Results) -> anyhow::Result<Vec<Task>> {
    let mut tasks = Vec::new();
    for target in &config.targets {
        let generation = results.register(target.clone());
        for protocol in target.protocols() {
            let poller = new_poller(target, protocol, &config.global)
                .with_context(|| format!("poller for {}", target.name))?;
            tasks.push(Task {
                target: target.name.clone(),
                protocol,
                generation,
                poller,
            });
        }
    }
    Ok(tasks)
}

/// Polls every task `args.polls` times, at most `args.concurrency` at once; returns the tasks
/// (their pollers stay alive, with whatever they cache) and the number of failed polls.
async fn poll_all(tasks: Vec<Task>, results: &Arc<Results>, args: &Args) -> (Vec<Task>, u64) {
    let limit = Arc::new(Semaphore::new(args.concurrency.max(1)));
    let mut tasks = tasks;
    let mut failed = 0;
    for _ in 0..args.polls {
        let mut running = tokio::task::JoinSet::new();
        for mut task in tasks.drain(..) {
            let limit = limit.clone();
            let results = results.clone();
            running.spawn(async move {
                // Invariant: the semaphore is never closed.
                let _permit = limit.acquire().await.expect("semaphore open");
                let ok = poll_once(&mut task, &results).await;
                (task, ok)
            });
        }
        while let Some(joined) = running.join_next().await {
            let (task, ok) = joined.expect("poll task panicked");
            failed += u64::from(!ok);
            tasks.push(task);
        }
    }
    (tasks, failed)
}

async fn poll_once(task: &mut Task, results: &Results) -> bool {
    let started = Instant::now();
    let outcome = task.poller.poll().await;
    let ok = outcome.result.is_ok();
    let now = SystemTime::now();
    let record = PollRecord {
        outcome,
        finished_at: now,
        duration: started.elapsed(),
        last_success: ok.then_some(now),
        // Polled at once, not on a schedule; the series is there as in a real scrape.
        schedule_lag: Some(Duration::ZERO),
    };
    let key = RecordKey {
        target: &task.target,
        generation: task.generation,
        protocol: task.protocol,
    };
    results.record(key, record);
    ok
}

async fn serve(
    config: Config,
    results: Arc<Results>,
    listen: &str,
    tasks: Vec<Task>,
) -> anyhow::Result<()> {
    let lifecycle = Arc::new(Lifecycle::new());
    lifecycle.set_config_loaded();
    lifecycle.set_scheduling();
    let (reload, _reload_requests) = tokio::sync::mpsc::channel(1);
    let state = WebState {
        results,
        metrics: Arc::new(PollerMetrics::default()),
        config: Arc::new(RwLock::new(Arc::new(config))),
        lifecycle,
        reload,
        facts: ProcessFacts::default(),
        sources: Vec::new(),
    };
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    println!("serving http://{listen}/metrics");
    // The pollers live as long as the server, like the scheduler's tasks.
    let _tasks = tasks;
    axum::serve(listener, router(state))
        .await
        .context("serving")
}
