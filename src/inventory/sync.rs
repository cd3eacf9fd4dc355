//! Keeps the database inventory in step: a dedicated connection LISTENs on
//! `ispmonitor_inventory` (fired by the schema's triggers) and reloads after each burst of
//! notifications, with a full resync every `database.resync_interval` as a safety net. A lost
//! connection is re-established with capped backoff; meanwhile the last inventory stays
//! published, so the poller keeps polling everything it knew. With
//! `database.inventory_cache_file` every changed inventory is also written to disk and read
//! back at start, so a poller restarted while the database is down keeps polling it too.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures_util::future::poll_fn;
use rand::Rng;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_postgres::AsyncMessage;
use tokio_util::sync::CancellationToken;

use super::cache;
use crate::metrics::PollerMetrics;
use crate::store::inventory::{self, RawInventory, StoredInventory};
use crate::store::{Store, StoreError};

/// The channel the schema's triggers notify (0001_initial.sql).
pub const CHANNEL: &str = "ispmonitor_inventory";
const LISTEN: &str = "LISTEN ispmonitor_inventory";

/// The latest database inventory; `None` until the first successful read.
pub type SyncedInventory = watch::Receiver<Option<Arc<RawInventory>>>;

/// How the sync task paces itself.
#[derive(Debug, Clone)]
pub struct SyncSettings {
    /// Full reload even without notifications (`database.resync_interval`).
    pub resync_interval: Duration,
    /// Quiet time after a notification before reloading, so a burst reloads once.
    pub debounce: Duration,
    /// Longest wait for quiet: a steady stream of changes still reloads this often.
    pub max_debounce: Duration,
    /// First and largest wait before reconnecting.
    pub min_backoff: Duration,
    pub max_backoff: Duration,
    /// Longest a LISTEN or a full read may take: a connection that stopped answering without
    /// closing (a cut network) is dropped and opened again.
    pub read_timeout: Duration,
    /// `database.inventory_cache_file`: where each changed inventory is kept on disk.
    pub cache_file: Option<PathBuf>,
}

impl SyncSettings {
    pub fn new(resync_interval: Duration) -> Self {
        SyncSettings {
            resync_interval,
            debounce: Duration::from_millis(200),
            max_debounce: Duration::from_secs(2),
            min_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            read_timeout: Duration::from_secs(30),
            cache_file: None,
        }
    }

    pub fn with_cache_file(mut self, cache_file: Option<PathBuf>) -> Self {
        self.cache_file = cache_file;
        self
    }
}

#[derive(Debug, thiserror::Error)]
enum SyncError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the connection to the database was lost")]
    ConnectionLost,
    #[error("the database did not answer within {0:?}")]
    Timeout(Duration),
}

impl From<tokio_postgres::Error> for SyncError {
    fn from(error: tokio_postgres::Error) -> Self {
        SyncError::Store(error.into())
    }
}

/// Starts the sync task. It publishes every changed inventory and stops with `stop`.
pub fn spawn_sync(
    store: Store,
    settings: SyncSettings,
    metrics: Arc<PollerMetrics>,
    stop: CancellationToken,
) -> (SyncedInventory, JoinHandle<()>) {
    let (publish, receiver) = watch::channel(None);
    let task = Syncer {
        store,
        settings,
        metrics,
        stop,
        publish,
        last: None,
        healthy: true,
        cache_current: false,
        cache_failing: false,
    };
    (receiver, tokio::spawn(task.run()))
}

struct Syncer {
    store: Store,
    settings: SyncSettings,
    metrics: Arc<PollerMetrics>,
    stop: CancellationToken,
    publish: watch::Sender<Option<Arc<RawInventory>>>,
    /// The rows last published, to publish only changes.
    last: Option<StoredInventory>,
    /// Whether the last attempt worked; failures and recoveries are logged once each.
    healthy: bool,
    /// The cache file holds `last`; when not, the next successful read (re)writes it, so a
    /// failed write is retried even if the database does not change.
    cache_current: bool,
    /// The last cache write failed; failures and recoveries are logged once each.
    cache_failing: bool,
}

impl Syncer {
    async fn run(mut self) {
        self.load_cache().await;
        let mut backoff = self.settings.min_backoff;
        let stop = self.stop.clone();
        loop {
            let result = tokio::select! {
                _ = stop.cancelled() => return,
                result = self.session(&mut backoff) => result,
            };
            if let Err(error) = result {
                self.failed(&error);
            }
            let wait = jittered(backoff);
            backoff = (backoff * 2).min(self.settings.max_backoff);
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// One connection's life: LISTEN, read, then read again on notifications and on every
    /// resync tick, until the connection fails.
    async fn session(&mut self, backoff: &mut Duration) -> Result<(), SyncError> {
        let (mut client, connection) = self.store.dedicated().await?;
        let (notify, mut notifications) = mpsc::unbounded_channel();
        let driver = tokio::spawn(drive(connection, notify));
        // LISTEN before the first read: a change committed in between is not missed.
        let result = async {
            bounded(self.settings.read_timeout, client.batch_execute(LISTEN)).await??;
            self.reload(&mut client).await?;
            *backoff = self.settings.min_backoff;
            let mut resync = tokio::time::interval_at(
                Instant::now() + self.settings.resync_interval,
                self.settings.resync_interval,
            );
            resync.set_missed_tick_behavior(MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    note = notifications.recv() => {
                        if note.is_none() {
                            return Err(SyncError::ConnectionLost);
                        }
                        if !quiet(&mut notifications, &self.settings).await {
                            return Err(SyncError::ConnectionLost);
                        }
                    }
                    _ = resync.tick() => {}
                }
                self.reload(&mut client).await?;
                resync.reset();
            }
        }
        .await;
        driver.abort();
        result
    }

    /// Reads the whole inventory and publishes it when it changed.
    async fn reload(&mut self, client: &mut tokio_postgres::Client) -> Result<(), SyncError> {
        let stored = bounded(self.settings.read_timeout, inventory::load(client)).await??;
        self.metrics.inventory_synced(SystemTime::now());
        if !self.healthy {
            tracing::info!(
                "inventory database reachable again; devices: {}",
                stored.devices.len()
            );
            self.healthy = true;
        }
        // Whatever the cache said, the database's answer is now in force.
        self.metrics.set_inventory_from_cache(false);
        let changed = self.last.as_ref() != Some(&stored);
        tracing::debug!(
            changed,
            devices = stored.devices.len(),
            credentials = stored.credentials.len(),
            "database inventory read"
        );
        if changed {
            let raw = inventory::open(&stored, self.store.secret_key().ok());
            self.last = Some(stored);
            self.publish.send_replace(Some(Arc::new(raw)));
            self.cache_current = false;
        }
        self.save_cache().await;
        Ok(())
    }

    /// Publishes the cache file's inventory, if there is a usable one, before the database
    /// is asked: the poller polls it at once even when the database is down. A missing,
    /// unreadable or corrupt file is logged and ignored.
    async fn load_cache(&mut self) {
        let Some(path) = self.settings.cache_file.clone() else {
            return;
        };
        let read = {
            let path = path.clone();
            tokio::task::spawn_blocking(move || cache::read(&path)).await
        };
        let cached = match read {
            Ok(Ok(Some(cached))) => cached,
            Ok(Ok(None)) => {
                tracing::info!(
                    "no inventory cache file {} yet; it is written after the first database read",
                    path.display()
                );
                return;
            }
            Ok(Err(error)) => {
                tracing::warn!(
                    "inventory cache file {} ignored: {error}; waiting for the database",
                    path.display()
                );
                return;
            }
            Err(error) => {
                tracing::warn!(
                    "reading the inventory cache file {} failed: {error}",
                    path.display()
                );
                return;
            }
        };
        let raw = inventory::open(&cached.inventory, self.store.secret_key().ok());
        tracing::info!(
            "inventory loaded from cache file {} ({} devices, written at {}); the database's content replaces it as soon as it answers",
            path.display(),
            cached.inventory.devices.len(),
            humantime::format_rfc3339_seconds(cached.written_at)
        );
        self.metrics.set_inventory_from_cache(true);
        self.last = Some(cached.inventory);
        self.cache_current = true;
        self.publish.send_replace(Some(Arc::new(raw)));
    }

    /// Writes the last inventory read to the cache file unless it already holds it. A failure
    /// is counted and logged (once until a write works again) and never stops the sync.
    async fn save_cache(&mut self) {
        let Some(path) = self.settings.cache_file.clone() else {
            return;
        };
        let Some(stored) = self.last.as_ref().filter(|_| !self.cache_current) else {
            return;
        };
        let bytes = cache::encode(stored, SystemTime::now());
        let target = path.clone();
        let written = tokio::task::spawn_blocking(move || cache::write_atomically(&target, &bytes))
            .await
            .unwrap_or_else(|error| Err(io::Error::other(error.to_string())));
        self.metrics.inventory_cache_written(written.is_ok());
        match written {
            Ok(()) => {
                self.cache_current = true;
                if self.cache_failing {
                    tracing::info!("inventory cache file {} written again", path.display());
                    self.cache_failing = false;
                }
            }
            Err(error) if !self.cache_failing => {
                tracing::warn!(
                    "cannot write the inventory cache file {}: {error}; polling and the database sync carry on, the write is retried after each read",
                    path.display()
                );
                self.cache_failing = true;
            }
            Err(error) => tracing::debug!(
                "inventory cache file {} still not writable: {error}",
                path.display()
            ),
        }
    }

    fn failed(&mut self, error: &SyncError) {
        self.metrics.inventory_sync_failed();
        if self.healthy {
            tracing::warn!(
                "inventory database unavailable ({error}); polling continues with the last known inventory, retrying"
            );
            self.healthy = false;
        } else {
            tracing::debug!("inventory database still unavailable: {error}");
        }
    }
}

/// Waits until no notification came for `debounce` (at most `max_debounce`), swallowing the
/// burst. `false` when the connection went away meanwhile.
async fn quiet(notifications: &mut mpsc::UnboundedReceiver<()>, settings: &SyncSettings) -> bool {
    let give_up = Instant::now() + settings.max_debounce;
    loop {
        let until = (Instant::now() + settings.debounce).min(give_up);
        match tokio::time::timeout_at(until, notifications.recv()).await {
            Err(_) => return true,
            Ok(None) => return false,
            Ok(Some(())) if Instant::now() >= give_up => return true,
            Ok(Some(())) => {}
        }
    }
}

/// `future`, or a timeout error after `limit`.
async fn bounded<F: std::future::Future>(
    limit: Duration,
    future: F,
) -> Result<F::Output, SyncError> {
    tokio::time::timeout(limit, future)
        .await
        .map_err(|_| SyncError::Timeout(limit))
}

/// Drives the connection, forwarding notifications. Returns (dropping `notify`, which tells
/// the session) when the connection ends.
async fn drive<S, T>(
    mut connection: tokio_postgres::Connection<S, T>,
    notify: mpsc::UnboundedSender<()>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    loop {
        match poll_fn(|cx| connection.poll_message(cx)).await {
            Some(Ok(AsyncMessage::Notification(_))) => {
                if notify.send(()).is_err() {
                    return;
                }
            }
            Some(Ok(_)) => {}
            Some(Err(error)) => {
                tracing::debug!("inventory connection ended: {error}");
                return;
            }
            None => return,
        }
    }
}

/// `wait` ± 20 %, so pollers that lost the same database do not reconnect in lockstep.
fn jittered(wait: Duration) -> Duration {
    let factor = rand::rng().random_range(0.8..1.2);
    wait.mul_f64(factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sends a notification every `gap`, `n` times, then waits for `quiet`; returns how long
    /// `quiet` took and what it answered.
    async fn burst(n: u32, gap: Duration, close: bool) -> (Duration, bool) {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let settings = SyncSettings::new(Duration::from_secs(60));
        let sender = tokio::spawn(async move {
            for _ in 0..n {
                tokio::time::sleep(gap).await;
                let _ = tx.send(());
            }
            if !close {
                std::future::pending::<()>().await;
            }
        });
        let started = Instant::now();
        let answer = quiet(&mut rx, &settings).await;
        sender.abort();
        (started.elapsed(), answer)
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_is_swallowed_until_it_goes_quiet() {
        // Ten notifications 100 ms apart: done 200 ms after the last one.
        let (took, answer) = burst(10, Duration::from_millis(100), false).await;
        assert!(answer);
        assert_eq!(took, Duration::from_millis(1200));
        // A stream that never stops still reloads every max_debounce.
        let (took, answer) = burst(1000, Duration::from_millis(50), false).await;
        assert!(answer);
        assert_eq!(took, Duration::from_secs(2));
        // The connection ending meanwhile is told.
        let (_, answer) = burst(1, Duration::from_millis(10), true).await;
        assert!(!answer);
    }

    #[test]
    fn listen_names_the_channel() {
        assert_eq!(LISTEN, format!("LISTEN {CHANNEL}"));
    }

    #[test]
    fn jitter_stays_within_a_fifth() {
        for _ in 0..100 {
            let d = jittered(Duration::from_secs(10));
            assert!(
                d >= Duration::from_secs(8) && d <= Duration::from_secs(12),
                "{d:?}"
            );
        }
    }
}
