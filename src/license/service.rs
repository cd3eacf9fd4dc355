//! The license service: keeps the installed license, its validation record and the inventory
//! usage current (from `license.file`, the database and the license server) and answers the
//! API, enforcement and `/metrics` from memory. Nothing here can stop polling.

use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::document::{verify, LicenseError, VerifiedLicense, MAX_LICENSE_BYTES};
use super::online::{self, Answer};
use super::status::{
    evaluate, Installed, LicenseState, LicenseStatus, OnlinePolicy, ValidationRecord,
};
use crate::config::License as Settings;
use crate::store::license::{self as stored, Source, StoredLicense, Usage};
use crate::store::{Store, StoreError};

/// How often the service re-reads the database and the file (and, at most, checks whether a
/// validation is due).
const TICK: Duration = Duration::from_secs(5);

/// What the service holds between ticks.
#[derive(Debug, Clone)]
struct Held {
    /// The license text last read, to skip verifying the same text again.
    text: Option<String>,
    installed: Installed,
    source: Option<Source>,
    installed_at: Option<SystemTime>,
    record: ValidationRecord,
    /// `None` until the database was counted once.
    usage: Option<Usage>,
}

impl Default for Held {
    fn default() -> Self {
        Held {
            text: None,
            installed: Installed::None,
            source: None,
            installed_at: None,
            record: ValidationRecord::default(),
            usage: None,
        }
    }
}

/// Everything known about the license at one instant.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub status: LicenseStatus,
    pub source: Option<Source>,
    pub installed_at: Option<SystemTime>,
    pub record: ValidationRecord,
    pub usage: Option<Usage>,
    pub settings: Arc<Settings>,
}

/// Validations by result, for `ispmonitor_license_validations_total`.
#[derive(Debug, Default, Clone, Copy)]
pub struct ValidationCounts {
    pub success: u64,
    pub revoked: u64,
    pub failure: u64,
}

/// Why a license cannot be installed through the API. Nothing changes in any of these cases.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error("the license is managed by the config file (license.file = {0}); replace that file and reload instead")]
    ManagedByFile(String),
    #[error("{0}")]
    Invalid(LicenseError),
    /// Verifies, but cannot be used now (expired, not yet valid).
    #[error("{0}")]
    NotUsable(String),
    #[error("the license server revoked license {0} (HTTP 403); it was not installed")]
    Revoked(String),
}

/// A verified license ready to be written, with the result of its first online validation.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub license: VerifiedLicense,
    pub record: Option<ValidationRecord>,
}

pub struct LicenseService {
    settings: RwLock<Arc<Settings>>,
    store: Option<Store>,
    held: RwLock<Held>,
    client: reqwest::Client,
    wake: Notify,
    counts: Mutex<ValidationCounts>,
    /// The state last logged, so transitions are logged once.
    logged: Mutex<Option<LicenseState>>,
}

impl LicenseService {
    pub fn new(settings: &Settings, store: Option<Store>) -> Arc<LicenseService> {
        let held = Held {
            // Without a database, the API inventory is empty: nothing to count.
            usage: store.is_none().then(Usage::default),
            ..Held::default()
        };
        Arc::new(LicenseService {
            settings: RwLock::new(Arc::new(settings.clone())),
            store,
            held: RwLock::new(held),
            client: online::client(),
            wake: Notify::new(),
            counts: Mutex::default(),
            logged: Mutex::default(),
        })
    }

    fn settings(&self) -> Arc<Settings> {
        self.settings
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn held(&self) -> Held {
        self.held.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn update(&self, change: impl FnOnce(&mut Held)) {
        change(&mut self.held.write().unwrap_or_else(|e| e.into_inner()));
    }

    /// The state now.
    pub fn snapshot(&self) -> Snapshot {
        self.snapshot_at(SystemTime::now())
    }

    pub fn snapshot_at(&self, now: SystemTime) -> Snapshot {
        let held = self.held();
        let settings = self.settings();
        let policy = settings.online.as_ref().map(|o| OnlinePolicy {
            grace: o.grace_period,
        });
        Snapshot {
            status: evaluate(&held.installed, &held.record, policy, now),
            source: held.source,
            installed_at: held.installed_at,
            record: held.record,
            usage: held.usage,
            settings,
        }
    }

    pub fn validation_counts(&self) -> ValidationCounts {
        *self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A config reload: new keys, file or validation settings take effect at once, and so does
    /// a `license.file` replaced before the reload (same settings, new content).
    pub fn reconfigure(&self, settings: &Settings) {
        let changed = {
            let mut current = self.settings.write().unwrap_or_else(|e| e.into_inner());
            let changed = **current != *settings;
            *current = Arc::new(settings.clone());
            changed
        };
        if changed {
            // Verify again with the new keys.
            self.update(|held| held.text = None);
        }
        self.wake.notify_one();
    }

    /// Re-reads the database soon (after an install, a create or a delete).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// The first read of the database and the file, before the API answers: until then the
    /// service knows nothing, and enforcement would apply the starter limits to a licensed
    /// installation (and `GET /api/v1/license` would say `unlicensed`) right after a restart.
    /// Bounded, so a slow database delays the API by at most one tick.
    pub async fn load(&self) {
        if tokio::time::timeout(TICK, self.refresh()).await.is_err() {
            tracing::warn!(
                "the license state was not read within {TICK:?}; the API starts with the starter limits until it is"
            );
        }
    }

    /// Runs until `stop`: refresh, validate when due, sleep.
    pub async fn run(self: Arc<Self>, stop: CancellationToken) {
        loop {
            self.refresh().await;
            self.validate_if_due().await;
            self.log_transition();
            let tick = self
                .settings()
                .online
                .as_ref()
                .map_or(TICK, |o| o.interval.min(TICK));
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(tick) => {}
                _ = self.wake.notified() => {}
            }
        }
    }

    /// Reads the license file (when configured), the database row and the usage counts.
    pub async fn refresh(&self) {
        let settings = self.settings();
        let stored = match &self.store {
            Some(store) => Some(load_stored(store).await),
            None => None,
        };
        match (&settings.file, stored) {
            (Some(file), stored) => self.refresh_from_file(file, &settings, stored).await,
            (None, Some(Ok(row))) => self.adopt_stored(row, &settings),
            (None, Some(Err(e))) => {
                tracing::debug!("license state not read from the database: {e}")
            }
            (None, None) => {}
        }
        if let Some(store) = &self.store {
            match count_usage(store).await {
                Ok(usage) => self.update(|held| held.usage = Some(usage)),
                Err(e) => tracing::debug!("license usage not counted: {e}"),
            }
        }
    }

    /// The database's license, verified unless it is the text already held.
    fn adopt_stored(&self, row: Option<StoredLicense>, settings: &Settings) {
        let held = self.held();
        let Some((row, text)) = row.and_then(|r| r.text.clone().map(|t| (r, t))) else {
            self.update(|held| {
                *held = Held {
                    usage: held.usage,
                    ..Held::default()
                }
            });
            return;
        };
        let installed = if held.text.as_deref() == Some(text.as_str()) {
            held.installed
        } else {
            read_license(&text, settings)
        };
        self.update(|held| {
            held.text = Some(text);
            held.installed = installed;
            held.source = row.source;
            held.installed_at = row.installed_at;
            held.record = row.record;
        });
    }

    /// `license.file` is the license: installed into the database when it changes, so every
    /// replica and the API see it; kept in memory when there is no database.
    async fn refresh_from_file(
        &self,
        file: &Path,
        settings: &Settings,
        stored: Option<Result<Option<StoredLicense>, StoreError>>,
    ) {
        let text = match read_file(file).await {
            Ok(text) => text,
            Err(why) => {
                self.update(|held| {
                    held.text = None;
                    held.installed = Installed::Unusable(why);
                    held.source = Some(Source::File);
                });
                return;
            }
        };
        let verified = verify(&text, &settings.trusted_keys);
        let (store, Some(Ok(row))) = (&self.store, stored) else {
            self.hold_file_license(text, verified);
            return;
        };
        let Ok(license) = &verified else {
            self.hold_file_license(text, verified);
            return;
        };
        let same = row.as_ref().and_then(|r| r.text.as_deref()) == Some(license.text.as_str());
        if same {
            return self.adopt_stored(row, settings);
        }
        let Some(store) = store else { return };
        match install_file_license(store, license).await {
            Ok(row) => {
                tracing::info!(license_id = %license.payload.license_id, "license installed from license.file");
                self.adopt_stored(row, settings)
            }
            Err(e) => {
                tracing::warn!("the license file could not be stored in the database: {e}");
                self.hold_file_license(text, verified);
            }
        }
    }

    /// A file license kept in memory only (no database, or one that cannot be written).
    fn hold_file_license(&self, text: String, verified: Result<VerifiedLicense, LicenseError>) {
        self.update(|held| {
            if held.text.as_deref() == Some(text.as_str()) && held.source == Some(Source::File) {
                return;
            }
            held.installed = match verified {
                Ok(license) => Installed::Verified(Box::new(license)),
                Err(e) => Installed::Unusable(format!("license.file: {e}")),
            };
            held.text = Some(text);
            held.source = Some(Source::File);
            held.installed_at = Some(SystemTime::now());
            held.record = ValidationRecord::default();
        });
    }

    /// Asks the license server when a validation is due, and records the answer.
    async fn validate_if_due(&self) {
        let settings = self.settings();
        let Some(online) = settings.online.as_ref() else {
            return;
        };
        let held = self.held();
        let Installed::Verified(license) = &held.installed else {
            return;
        };
        if !online::due(&held.record, online.interval, SystemTime::now()) {
            return;
        }
        let answer = online::ask(&self.client, online, &license.payload).await;
        self.count(&answer);
        let record = online::record_after(&held.record, &answer, SystemTime::now());
        log_answer(&license.payload.license_id, &answer);
        if let Some(store) = &self.store {
            if let Err(e) = save_validation(store, &license.payload.license_id, &record).await {
                tracing::warn!("the license validation could not be stored: {e}");
            }
        }
        self.update(|held| {
            if held.text.as_deref() == Some(license.text.as_str()) {
                held.record = record;
            }
        });
    }

    fn count(&self, answer: &Answer) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        match answer {
            Answer::Valid => counts.success += 1,
            Answer::Revoked => counts.revoked += 1,
            Answer::Failed(_) => counts.failure += 1,
        }
    }

    /// Checks a license given to the API: it verifies, can be used now, and (with online
    /// validation) is not revoked. Writes nothing: the caller stores it with its audit entry.
    pub async fn prepare(&self, text: &str) -> Result<Prepared, InstallError> {
        let settings = self.settings();
        if let Some(file) = &settings.file {
            return Err(InstallError::ManagedByFile(file.display().to_string()));
        }
        let license = verify(text, &settings.trusted_keys).map_err(InstallError::Invalid)?;
        let installed = Installed::Verified(Box::new(license.clone()));
        let now = SystemTime::now();
        let status = evaluate(&installed, &ValidationRecord::default(), None, now);
        let payload = &license.payload;
        match status.state {
            LicenseState::Expired => {
                return Err(InstallError::NotUsable(format!(
                    "license {} expired on {}; it was not installed",
                    payload.license_id, payload.expires_at
                )))
            }
            LicenseState::NotYetValid => {
                return Err(InstallError::NotUsable(format!(
                    "license {} is not valid before {} (issued_at); install it then",
                    payload.license_id, payload.issued_at
                )))
            }
            _ => {}
        }
        let Some(online) = settings.online.as_ref() else {
            return Ok(Prepared {
                license,
                record: None,
            });
        };
        let answer = online::ask(&self.client, online, &license.payload).await;
        self.count(&answer);
        log_answer(&license.payload.license_id, &answer);
        if answer == Answer::Revoked {
            return Err(InstallError::Revoked(license.payload.license_id));
        }
        let record = online::record_after(&ValidationRecord::default(), &answer, now);
        Ok(Prepared {
            license,
            record: Some(record),
        })
    }

    /// Logs a change of state once: info when it grants the license, warn otherwise.
    fn log_transition(&self) {
        let status = self.snapshot().status;
        let mut logged = self.logged.lock().unwrap_or_else(|e| e.into_inner());
        if *logged == Some(status.state) {
            return;
        }
        *logged = Some(status.state);
        if status.valid() {
            tracing::info!(state = status.state.as_str(), "{}", status.message);
        } else {
            tracing::warn!(state = status.state.as_str(), "{}", status.message);
        }
    }
}

fn log_answer(license_id: &str, answer: &Answer) {
    match answer {
        Answer::Valid => tracing::debug!(license_id, "license validated online"),
        Answer::Revoked => tracing::warn!(license_id, "the license server revoked this license"),
        Answer::Failed(why) => {
            tracing::warn!(license_id, "online license validation failed: {why}")
        }
    }
}

/// Verifies a stored or file text; a text that does not verify is held as unusable.
fn read_license(text: &str, settings: &Settings) -> Installed {
    match verify(text, &settings.trusted_keys) {
        Ok(license) => Installed::Verified(Box::new(license)),
        Err(e) => Installed::Unusable(e.to_string()),
    }
}

async fn read_file(path: &Path) -> Result<String, String> {
    let name = path.display();
    let bytes = tokio::fs::read(path)
        .await
        .map_err(|e| format!("license.file {name}: {e}"))?;
    if bytes.len() > MAX_LICENSE_BYTES {
        return Err(format!(
            "license.file {name}: larger than {MAX_LICENSE_BYTES} bytes"
        ));
    }
    String::from_utf8(bytes).map_err(|_| format!("license.file {name}: not UTF-8 text"))
}

async fn load_stored(store: &Store) -> Result<Option<StoredLicense>, StoreError> {
    stored::load(&store.client().await?).await
}

async fn count_usage(store: &Store) -> Result<Usage, StoreError> {
    stored::usage(&store.client().await?).await
}

async fn save_validation(
    store: &Store,
    license_id: &str,
    record: &ValidationRecord,
) -> Result<bool, StoreError> {
    stored::save_validation(&store.client().await?, license_id, record).await
}

async fn install_file_license(
    store: &Store,
    license: &VerifiedLicense,
) -> Result<Option<StoredLicense>, StoreError> {
    let client = store.client().await?;
    stored::install(
        &client,
        &license.text,
        &license.payload.license_id,
        Source::File,
    )
    .await?;
    stored::load(&client).await
}
