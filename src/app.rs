//! Wiring only: config -> results -> scheduler -> HTTP server; reloads (SIGHUP, POST
//! /-/reload) and graceful shutdown (SIGTERM, SIGINT).

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::api::alerts::spawn_alert_upkeep;
use crate::api::audit::spawn_audit_retention;
use crate::api::ApiState;
use crate::cli::ServeArgs;
use crate::config::{self, Config};
use crate::inventory::{self, ChangeLog, Shard, ShardSettings, SyncSettings, SyncedInventory};
use crate::license::service::LicenseService;
use crate::lifecycle::Lifecycle;
use crate::metrics::collector::ProcessFacts;
use crate::metrics::source::MetricSource;
use crate::metrics::PollerMetrics;
use crate::poller::results::Results;
use crate::poller::scheduler::{ApplySummary, Scheduler};
use crate::store::inventory::RawInventory;
use crate::web::listener::{Auth, Guard};
use crate::web::watch::WebConfigWatch;
use crate::web::{self, ReloadRequest, WebState};

/// How long in-flight HTTP requests may take to finish after shutdown starts.
const HTTP_DRAIN: Duration = Duration::from_secs(10);

/// `ispmonitor check-config`: prints a summary or every problem. Returns whether it is valid.
pub fn check_config(path: &Path) -> bool {
    match config::load_file(path) {
        Ok(cfg) => {
            println!(
                "{}: OK ({} targets, {} credentials, {} modules)",
                path.display(),
                cfg.targets.len(),
                cfg.credentials.len(),
                cfg.modules.len()
            );
            true
        }
        Err(errors) => {
            eprint!("{errors}");
            false
        }
    }
}

/// Everything `serve` runs, kept together so reloads and shutdown can reach it.
struct Server {
    config_path: PathBuf,
    /// The YAML file's config, as the API reads it.
    file_config: Arc<RwLock<Arc<Config>>>,
    /// The config the poller and /probe run on: the file's plus the database's targets.
    config: Arc<RwLock<Arc<Config>>>,
    scheduler: Scheduler,
    metrics: Arc<PollerMetrics>,
    lifecycle: Arc<Lifecycle>,
    /// Database inventory snapshots, when a database is configured.
    inventory: Option<SyncedInventory>,
    /// The last database inventory read (kept while the database is away).
    database_inventory: Option<Arc<RawInventory>>,
    changes: ChangeLog,
    /// The license service, when this process serves the API.
    license: Option<Arc<LicenseService>>,
    /// What this process polls: its shard of the inventory, or nothing (`--no-poll`).
    polling: Polling,
}

/// Which of the effective inventory's targets this process schedules. /probe and the API
/// still see the whole inventory: only the scheduler gets the filtered part.
#[derive(Debug, Clone, Copy)]
enum Polling {
    Shard(Shard),
    /// `--no-poll`: the API and /metrics only.
    Nothing,
}

impl Polling {
    fn from_args(args: &ServeArgs) -> anyhow::Result<Polling> {
        // An empty variable counts as unset (a Downward API field that resolved to nothing).
        let named = |var: &str| std::env::var(var).ok().filter(|v| !v.trim().is_empty());
        let pod_name = named("POD_NAME").or_else(|| named("HOSTNAME"));
        let shard = Shard::resolve(&ShardSettings {
            ordinal: args.shard,
            total: args.total_shards,
            pod_name: pod_name.as_deref(),
        })?;
        Ok(if args.no_poll {
            Polling::Nothing
        } else {
            Polling::Shard(shard)
        })
    }

    /// The part of `config` the scheduler runs.
    fn scheduled(&self, config: &Config) -> Config {
        match self {
            Polling::Shard(shard) => shard.filter(config),
            Polling::Nothing => {
                let mut nothing = config.clone();
                nothing.targets.clear();
                nothing
            }
        }
    }

    /// `ispmonitor_shard_ordinal` / `_total`; a `--no-poll` process is no shard and exports
    /// neither.
    fn facts(&self) -> ProcessFacts {
        match self {
            Polling::Shard(shard) => ProcessFacts {
                shard_ordinal: u64::from(shard.ordinal),
                shard_total: u64::from(shard.total),
                no_poll: false,
            },
            Polling::Nothing => ProcessFacts {
                no_poll: true,
                ..ProcessFacts::default()
            },
        }
    }
}

/// Every SNMP target holds a socket (several with requests in flight): a 1,024 soft limit would
/// fail a large fleet with EMFILE, so take what the hard limit allows, as Go exporters do.
fn raise_file_limit() {
    match crate::file_limit::raise_to_hard() {
        Ok((before, after)) if before != after => {
            tracing::debug!(
                from = before.soft,
                to = after.soft,
                "raised the open-file limit"
            );
        }
        Ok((limit, _)) => tracing::debug!(soft = limit.soft, "open-file limit"),
        Err(error) => tracing::warn!(%error, "could not read or raise the open-file limit"),
    }
}

/// `ispmonitor serve`: runs until SIGTERM or SIGINT.
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let config_path = args.config.config.clone();
    raise_file_limit();
    // Before anything binds: a bad shard setting is a startup error naming the flag.
    let polling = Polling::from_args(&args)?;
    let initial = config::load_file(&config_path).map_err(|e| anyhow::anyhow!("{e}"))?;
    let web_config = load_web_config(&args)?;
    let listen = listen_addresses(&args, &initial);
    let listeners = bind_all(&listen).await?;
    let store = crate::admin::open_store(&initial)?;
    if let Some(store) = &store {
        crate::admin::prepare_database(store, args.migrate).await?;
    } else if args.migrate {
        anyhow::bail!("--migrate needs a database: set database.url or ISPMONITOR_DATABASE_URL");
    }
    let api_listener = bind_api(&args, &initial).await?;

    let metrics = Arc::new(PollerMetrics::default());
    let results = Arc::new(Results::new());
    let lifecycle = Arc::new(Lifecycle::new());
    let sync_stop = CancellationToken::new();
    let sync = store.as_ref().map(|store| {
        metrics.set_database_inventory();
        let settings = SyncSettings::new(initial.database.resync_interval)
            .with_cache_file(initial.database.inventory_cache_file.clone());
        inventory::spawn_sync(store.clone(), settings, metrics.clone(), sync_stop.clone())
    });
    metrics.config_loaded(true, SystemTime::now());
    lifecycle.set_config_loaded();
    let first_sync_wait = initial.database.connect_timeout;
    let max_body_bytes = initial.api.max_body_bytes;
    let audit_retention = initial.api.audit_retention;
    let alert_retention = initial.api.alert_retention;
    let initial = Arc::new(initial);
    let (inventory, sync_task) = sync.unzip();
    let mut server = Server {
        config_path,
        file_config: Arc::new(RwLock::new(initial.clone())),
        config: Arc::new(RwLock::new(initial)),
        scheduler: Scheduler::new(results.clone(), metrics.clone()),
        metrics: metrics.clone(),
        lifecycle: lifecycle.clone(),
        inventory,
        database_inventory: None,
        changes: ChangeLog::default(),
        license: None,
        polling,
    };
    server.await_first_sync(first_sync_wait).await;
    let summary = server.apply_effective();
    lifecycle.set_scheduling();
    tracing::info!(targets = summary.added, listen = ?listen, "ispmonitor {} started", crate::build_info::long_version());
    match polling {
        Polling::Shard(shard) => tracing::info!(
            shard = shard.ordinal,
            total_shards = shard.total,
            "polling shard {} of {} ({} targets)",
            shard.ordinal,
            shard.total,
            summary.added
        ),
        Polling::Nothing => tracing::info!("--no-poll: no targets are scheduled"),
    }

    let (reload_tx, reload_rx) = mpsc::channel::<ReloadRequest>(8);
    // The license belongs to the API: the process serving it enforces and reports it.
    server.license = api_listener
        .as_ref()
        .map(|_| LicenseService::new(&server.file_config().license, store.clone()));
    let api_state = server.license.clone().map(|license| {
        ApiState::new(
            store.clone(),
            server.file_config.clone(),
            lifecycle.clone(),
            license,
        )
    });
    let state = WebState {
        results,
        metrics,
        config: server.config.clone(),
        lifecycle: lifecycle.clone(),
        reload: reload_tx,
        facts: polling.facts(),
        // The API's request and database metrics go out on this same /metrics.
        sources: api_state
            .iter()
            .flat_map(|api| {
                [
                    api.metrics.clone() as Arc<dyn MetricSource>,
                    api.license.clone() as Arc<dyn MetricSource>,
                    api.alerts.clone() as Arc<dyn MetricSource>,
                ]
            })
            .chain(web_config.iter().flat_map(|w| {
                let web = w.web.clone() as Arc<dyn MetricSource>;
                let api = api_listener
                    .as_ref()
                    .map(|_| w.api.clone() as Arc<dyn MetricSource>);
                std::iter::once(web).chain(api)
            }))
            .collect(),
    };
    if let Some(api) = &api_state {
        // Before the first request: enforcement and /metrics start from the installed license,
        // not from the starter limits of an empty service.
        api.license.load().await;
    }
    let http_stop = CancellationToken::new();
    let web_watch = web_config.as_ref().map(|w| w.web.clone());
    let mut http = spawn_http(listeners, web::router(state), web_watch, http_stop.clone());
    if let (Some(listener), Some(api_state)) = (api_listener, api_state) {
        if let Some(store) = &store {
            let metrics = api_state.metrics.clone();
            spawn_audit_retention(store.clone(), audit_retention, metrics, http_stop.clone());
            let alerts = api_state.alerts.clone();
            spawn_alert_upkeep(store.clone(), alerts, alert_retention, http_stop.clone());
        }
        tokio::spawn(api_state.license.clone().run(http_stop.clone()));
        let router = crate::api::router(api_state, max_body_bytes);
        let served = match &web_config {
            // The API takes the file's TLS and headers; its bearer tokens stay its auth.
            Some(w) => {
                let guard = Guard {
                    web: w.api.clone(),
                    auth: Auth::Ignored,
                };
                tokio::spawn(web::listener::serve(
                    listener,
                    router,
                    guard,
                    http_stop.clone(),
                ))
            }
            None => tokio::spawn(crate::api::serve(listener, router, http_stop.clone())),
        };
        http.push(served);
    }
    server.run_until_signal(reload_rx).await?;

    server.lifecycle.set_shutting_down();
    tracing::info!("shutting down: /ready answers 503, polls are cancelled");
    tokio::time::sleep(args.shutdown_delay).await;
    server.scheduler.shutdown().await;
    sync_stop.cancel();
    if let Some(task) = sync_task {
        let _ = tokio::time::timeout(Duration::from_secs(2), task).await;
    }
    http_stop.cancel();
    for task in http {
        match tokio::time::timeout(HTTP_DRAIN, task).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => tracing::warn!("HTTP server ended with an error: {e}"),
            Ok(Err(e)) => tracing::warn!("HTTP server task failed: {e}"),
            Err(_) => {
                tracing::warn!("HTTP requests still running after {HTTP_DRAIN:?}; exiting anyway")
            }
        }
    }
    tracing::info!("stopped");
    Ok(())
}

/// Flag or environment first, then the config file (the default is in the config model).
fn listen_addresses(args: &ServeArgs, config: &Config) -> Vec<String> {
    if args.listen_addresses.is_empty() {
        config.web.listen_addresses.clone()
    } else {
        args.listen_addresses.clone()
    }
}

/// The API's listener, unless it is turned off (`none`). The flag wins over the config.
async fn bind_api(args: &ServeArgs, config: &Config) -> anyhow::Result<Option<TcpListener>> {
    let address = match args.api_listen_address.as_deref() {
        Some("none") | Some("") => return Ok(None),
        Some(address) => address.to_string(),
        None => match &config.api.listen_address {
            Some(address) => address.clone(),
            None => return Ok(None),
        },
    };
    let listener = TcpListener::bind(address.as_str())
        .await
        .with_context(|| format!("cannot listen on {address} (--api.listen-address)"))?;
    tracing::info!(address = %address, "inventory API listening");
    Ok(Some(listener))
}

async fn bind_all(addresses: &[String]) -> anyhow::Result<Vec<TcpListener>> {
    let mut listeners = Vec::new();
    for address in addresses {
        let listener = TcpListener::bind(address.as_str())
            .await
            .with_context(|| format!("cannot listen on {address} (--web.listen-address)"))?;
        listeners.push(listener);
    }
    Ok(listeners)
}

/// `--web.config.file`, read once per listener (each rereads it and reports on its own).
struct WebConfigFiles {
    web: Arc<WebConfigWatch>,
    api: Arc<WebConfigWatch>,
}

/// A bad web config file stops the start with the file and field named.
fn load_web_config(args: &ServeArgs) -> anyhow::Result<Option<WebConfigFiles>> {
    let Some(path) = &args.web_config_file else {
        return Ok(None);
    };
    let load = |listener| {
        WebConfigWatch::load(path, listener).map_err(|e| anyhow::anyhow!("--web.config.file {e}"))
    };
    let files = WebConfigFiles {
        web: load("web")?,
        api: load("api")?,
    };
    tracing::info!(
        file = %path.display(),
        tls = files.web.tls(),
        basic_auth = files.web.current().users.is_some(),
        "web config loaded"
    );
    Ok(Some(files))
}

fn spawn_http(
    listeners: Vec<TcpListener>,
    router: axum::Router,
    web_config: Option<Arc<WebConfigWatch>>,
    stop: CancellationToken,
) -> Vec<tokio::task::JoinHandle<std::io::Result<()>>> {
    listeners
        .into_iter()
        .map(|listener| {
            let stop = stop.clone();
            let router = router.clone();
            if let Some(web) = &web_config {
                let guard = Guard {
                    web: web.clone(),
                    auth: Auth::BasicAuthUsers,
                };
                return tokio::spawn(web::listener::serve(listener, router, guard, stop));
            }
            tokio::spawn(async move {
                axum::serve(listener, router)
                    .with_graceful_shutdown(async move { stop.cancelled().await })
                    .await
            })
        })
        .collect()
}

impl Server {
    /// Serves reloads until SIGTERM or SIGINT arrives.
    async fn run_until_signal(
        &mut self,
        mut reloads: mpsc::Receiver<ReloadRequest>,
    ) -> anyhow::Result<()> {
        let mut hangup = signal(SignalKind::hangup()).context("installing the SIGHUP handler")?;
        let mut terminate =
            signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
        let mut interrupt =
            signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
        loop {
            tokio::select! {
                _ = terminate.recv() => return Ok(()),
                _ = interrupt.recv() => return Ok(()),
                _ = hangup.recv() => {
                    let _ = self.reload();
                }
                Some(reply) = reloads.recv() => {
                    let _ = reply.send(self.reload());
                }
                snapshot = next_inventory(&mut self.inventory) => {
                    self.database_changed(snapshot);
                }
            }
        }
    }

    /// Waits a little for the first database read, so the first schedule already holds the
    /// database's targets. A database that does not answer does not hold the start up.
    async fn await_first_sync(&mut self, wait: Duration) {
        let Some(receiver) = self.inventory.as_mut() else {
            return;
        };
        let first = tokio::time::timeout(wait, receiver.wait_for(Option::is_some)).await;
        match first {
            Ok(Ok(snapshot)) => self.database_inventory = snapshot.clone(),
            _ => tracing::warn!(
                "the database inventory could not be read within {wait:?}; polling the config file's targets until it can"
            ),
        }
    }

    /// A new database inventory: rebuild the effective config and apply it.
    fn database_changed(&mut self, snapshot: Option<Arc<RawInventory>>) {
        self.database_inventory = snapshot;
        let summary = self.apply_effective();
        if summary.added + summary.changed + summary.removed > 0 {
            tracing::info!(
                "inventory updated from the database: {} added, {} changed, {} removed, {} unchanged",
                summary.added,
                summary.changed,
                summary.removed,
                summary.unchanged
            );
        }
    }

    fn file_config(&self) -> Arc<Config> {
        self.file_config
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The file's config plus the database inventory: this shard's part of it goes to the
    /// scheduler (which only touches targets that changed), all of it to /probe, so any shard
    /// answers /probe for any inventory name.
    fn apply_effective(&mut self) -> ApplySummary {
        let file = self.file_config();
        let merged = inventory::effective(&file, self.database_inventory.as_deref());
        self.changes.report(&merged);
        self.metrics
            .set_inventory_invalid_targets(merged.invalid_targets());
        let summary = self
            .scheduler
            .apply(&self.polling.scheduled(&merged.config));
        *self.config.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(merged.config);
        summary
    }

    /// Loads the config file again. A bad file changes nothing but the reload metrics.
    fn reload(&mut self) -> Result<String, String> {
        match config::load_file(&self.config_path) {
            Ok(new) => {
                if let Some(license) = &self.license {
                    license.reconfigure(&new.license);
                }
                *self.file_config.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(new);
                let summary = self.apply_effective();
                self.metrics.config_loaded(true, SystemTime::now());
                self.lifecycle.reload_finished(None);
                let text = format!(
                    "config reloaded: {} added, {} changed, {} removed, {} unchanged",
                    summary.added, summary.changed, summary.removed, summary.unchanged
                );
                tracing::info!("{text}");
                Ok(text)
            }
            Err(errors) => {
                let text = errors.to_string();
                self.metrics.config_loaded(false, SystemTime::now());
                self.lifecycle.reload_finished(Some(text.clone()));
                tracing::error!(
                    "config reload refused, the previous config keeps running: {}",
                    text.trim_end()
                );
                Err(text)
            }
        }
    }
}

/// The next database inventory; never resolves without a database or once the sync task
/// has ended (its last inventory stays in force).
async fn next_inventory(receiver: &mut Option<SyncedInventory>) -> Option<Arc<RawInventory>> {
    let Some(receiver) = receiver else {
        return std::future::pending().await;
    };
    match receiver.changed().await {
        Ok(()) => receiver.borrow_and_update().clone(),
        Err(_) => std::future::pending().await,
    }
}
