//! Keeps a web config file in force and rereads it (and its certificate, key and CA files) when they change, so rotated certificates and passwords apply without a restart.

use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::catalog::desc;
use crate::metrics::encode::Encoder;
use crate::metrics::source::MetricSource;
use crate::poller::outcome::Value;

use super::web_config::{parse_file, WebConfigError, WebSettings};

/// What identifies one version of a file on disk: a rewrite or a symlink swap (Kubernetes
/// Secret volumes) changes at least one of these. `None`: the file could not be read.
type FileStamp = Option<(u64, u64, u64, i64, i64)>;

fn stamp(path: &Path) -> FileStamp {
    std::fs::metadata(path)
        .ok()
        .map(|m| (m.dev(), m.ino(), m.len(), m.mtime(), m.mtime_nsec()))
}

/// What the last reread looked at, to notice the next change.
struct Seen {
    files: Vec<PathBuf>,
    stamps: Vec<FileStamp>,
}

impl Seen {
    fn changed(&self) -> bool {
        self.files
            .iter()
            .map(|f| stamp(f))
            .ne(self.stamps.iter().copied())
    }
}

/// One listener's web config: the settings in force, and the reread state and metrics.
pub struct WebConfigWatch {
    path: PathBuf,
    /// `web` or `api`: the listener, as the metrics label it.
    listener: &'static str,
    current: RwLock<Arc<WebSettings>>,
    seen: Mutex<Seen>,
    tls_at_start: bool,
    last_reload_ok: AtomicBool,
    last_success_unix: AtomicU64,
    reload_failures: AtomicU64,
    handshake_failures: AtomicU64,
    auth_failures: AtomicU64,
}

impl WebConfigWatch {
    /// Loads the file at start: any problem is an error naming the file and field.
    pub fn load(
        path: &Path,
        listener: &'static str,
    ) -> Result<Arc<WebConfigWatch>, WebConfigError> {
        let (settings, seen) = read(path).map_err(|(error, _)| error)?;
        Ok(Arc::new(WebConfigWatch {
            path: path.to_path_buf(),
            listener,
            tls_at_start: settings.tls.is_some(),
            current: RwLock::new(Arc::new(settings)),
            seen: Mutex::new(seen),
            last_reload_ok: AtomicBool::new(true),
            last_success_unix: AtomicU64::new(unix_now()),
            reload_failures: AtomicU64::new(0),
            handshake_failures: AtomicU64::new(0),
            auth_failures: AtomicU64::new(0),
        }))
    }

    /// The settings in force, after rereading the files if any of them changed since the last
    /// look. A few `stat` calls when nothing changed; called per connection and per request.
    pub fn current(&self) -> Arc<WebSettings> {
        // Another thread rereading right now: use what is in force until it is done.
        if let Ok(mut seen) = self.seen.try_lock() {
            if seen.changed() {
                self.reread(&mut seen);
            }
        }
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Whether this listener speaks TLS (fixed at start).
    pub fn tls(&self) -> bool {
        self.tls_at_start
    }

    pub fn handshake_failed(&self) {
        self.handshake_failures.fetch_add(1, Ordering::Relaxed);
    }

    pub fn auth_failed(&self) {
        self.auth_failures.fetch_add(1, Ordering::Relaxed);
    }

    fn reread(&self, seen: &mut Seen) {
        let outcome = read(&self.path).and_then(|(settings, new_seen)| {
            if settings.tls.is_some() != self.tls_at_start {
                // The listener's protocol is chosen at start; switching would break every client.
                return Err((
                    WebConfigError {
                        file: self.path.display().to_string(),
                        field: "tls_server_config".into(),
                        message: "TLS can only be switched on or off by a restart".into(),
                    },
                    new_seen,
                ));
            }
            Ok((settings, new_seen))
        });
        match outcome {
            Ok((settings, new_seen)) => {
                *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(settings);
                *seen = new_seen;
                self.last_reload_ok.store(true, Ordering::Relaxed);
                self.last_success_unix.store(unix_now(), Ordering::Relaxed);
                tracing::info!(file = %self.path.display(), listener = self.listener, "web config reread");
            }
            Err((error, new_seen)) => {
                // Only retried once one of the files changes again: no log flood per request.
                *seen = new_seen;
                self.last_reload_ok.store(false, Ordering::Relaxed);
                self.reload_failures.fetch_add(1, Ordering::Relaxed);
                tracing::error!(
                    listener = self.listener,
                    "web config reread refused, the previous one stays in force: {error}"
                );
            }
        }
    }
}

/// Reads the file and what it points at. The stamps are taken before each file is read, so a
/// file rewritten while we read it is noticed on the next look (a certificate renewed between
/// reading the certificate and the key gives a mismatch now and a good reread next time).
fn read(path: &Path) -> Result<(WebSettings, Seen), (WebConfigError, Seen)> {
    let config_stamp = stamp(path);
    let only_config = |stamp| Seen {
        files: vec![path.to_path_buf()],
        stamps: vec![stamp],
    };
    let parsed = parse_file(path).map_err(|e| (e, only_config(config_stamp)))?;
    let mut files = vec![path.to_path_buf()];
    files.extend(parsed.referenced_files());
    let mut stamps = vec![config_stamp];
    stamps.extend(files[1..].iter().map(|f| stamp(f)));
    let seen = Seen { files, stamps };
    match parsed.build() {
        Ok(settings) => Ok((settings, seen)),
        Err(e) => Err((e, seen)),
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl MetricSource for WebConfigWatch {
    fn encode(&self, enc: &mut Encoder) {
        let labels = [("listener", self.listener)];
        let gauges = [
            (
                "ispmonitor_web_config_last_reload_successful",
                u64::from(self.last_reload_ok.load(Ordering::Relaxed)),
            ),
            (
                "ispmonitor_web_config_last_reload_success_timestamp_seconds",
                self.last_success_unix.load(Ordering::Relaxed),
            ),
            (
                "ispmonitor_web_config_reload_failures_total",
                self.reload_failures.load(Ordering::Relaxed),
            ),
            (
                "ispmonitor_web_tls_handshake_failures_total",
                self.handshake_failures.load(Ordering::Relaxed),
            ),
            (
                "ispmonitor_web_basic_auth_failures_total",
                self.auth_failures.load(Ordering::Relaxed),
            ),
        ];
        for (name, value) in gauges {
            enc.family(&desc(name));
            enc.sample(name, labels, Value::Int(value));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_rewrite_keeps_the_old_settings_until_the_file_changes_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("web.yml");
        std::fs::write(
            &path,
            "http_server_config: {headers: {X-Frame-Options: deny}}\n",
        )
        .unwrap();
        let watch = WebConfigWatch::load(&path, "web").unwrap();
        assert_eq!(watch.current().headers["x-frame-options"], "deny");

        std::fs::write(&path, "http_server_config: {headerz: {}}\n").unwrap();
        assert_eq!(watch.current().headers["x-frame-options"], "deny");
        assert!(!watch.last_reload_ok.load(Ordering::Relaxed));
        // Unchanged bad file: not retried, not counted again.
        watch.current();
        assert_eq!(watch.reload_failures.load(Ordering::Relaxed), 1);

        std::fs::write(
            &path,
            "http_server_config: {headers: {X-Frame-Options: sameorigin}}\n",
        )
        .unwrap();
        assert_eq!(watch.current().headers["x-frame-options"], "sameorigin");
        assert!(watch.last_reload_ok.load(Ordering::Relaxed));
    }
}
