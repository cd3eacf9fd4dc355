//! Keeps the database inventory in step: a dedicated connection LISTENs on
//! `ispmonitor_inventory` (fired by the schema's triggers) and reloads after each burst of
//! notifications, with a full resync every `database.resync_interval` as a safety net. A lost
//! connection is re-established with capped backoff; meanwhile the last inventory stays
//! published, so the poller keeps polling everything it knew.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use futures_util::future::poll_fn;
use rand::Rng;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_postgres::AsyncMessage;
use tokio_util::sync::CancellationToken;

use crate::metrics::PollerMetrics;
use crate::store::inventory::{self, RawInventory, StoredInventory};
use crate::store::{Store, StoreError};

/// The channel the schema's triggers notify (0001_initial.sql).
pub const CHANNEL: &str = "ispmonitor_inventory";
const LISTEN: &str = "LISTEN ispmonitor_inventory";

/// The latest database inventory; `None` until the first successful read.
pub type SyncedInventory = watch::Receiver<Option<Arc<RawInventory>>>;

/// How the sync task paces itself.
#[derive(Debug, Clone, Copy)]
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
        }
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
}

impl Syncer {
    async fn run(mut self) {
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
        let changed = self.last.as_ref() != Some(&stored);
        tracing::debug!(
            changed,
            devices = stored.devices.len(),
            credentials = stored.credentials.len(),
            "database inventory read"
        );
        if !changed {
            return Ok(());
        }
        let raw = inventory::open(&stored, self.store.secret_key().ok());
        self.last = Some(stored);
        self.publish.send_replace(Some(Arc::new(raw)));
        Ok(())
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
