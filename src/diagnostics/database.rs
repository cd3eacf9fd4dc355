//! The database check: connect, `SELECT 1`, the schema version against this build's, and the
//! database inventory (so the target checks cover it too).

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::config::{Config, Secret};
use crate::store::inventory::{self, RawInventory};
use crate::store::migrations::{self, SCHEMA_VERSION};
use crate::store::{self as store_mod, SecretKey, Store, StoreSettings};

/// What the database check found.
#[derive(Debug, Clone, Serialize)]
pub struct DatabaseCheck {
    /// `ok`, `not_configured`, `invalid_url`, `unreachable`, `schema_too_old`,
    /// `schema_newer`, `inventory_unreadable` or `secret_key_invalid`.
    pub status: &'static str,
    /// Whether `serve` could work with this database (`not_configured` is fine: the YAML
    /// inventory alone is a valid setup).
    pub ok: bool,
    pub message: String,
    pub schema_version: Option<i32>,
    pub expected_schema_version: i32,
    /// Devices read from the database inventory.
    pub database_devices: Option<usize>,
    pub seconds: f64,
}

/// The secret key in force, as far as the view may tell.
pub struct KeyState {
    pub key: Option<SecretKey>,
    /// `None` when a key is configured but cannot be read.
    pub set: Option<bool>,
    pub source: &'static str,
    pub error: Option<String>,
}

/// Reads the key the way `serve` does; an unreadable key is reported, not fatal.
pub fn secret_key(config: &Config) -> KeyState {
    let source = if non_empty_env("ISPMONITOR_SECRET_KEY") {
        "ISPMONITOR_SECRET_KEY"
    } else if non_empty_env("ISPMONITOR_SECRET_KEY_FILE") {
        "ISPMONITOR_SECRET_KEY_FILE"
    } else {
        "database.secret_key_file"
    };
    match SecretKey::from_environment(config.database.secret_key_file.as_deref()) {
        Ok(key) => KeyState {
            set: Some(key.is_some()),
            key,
            source,
            error: None,
        },
        Err(error) => KeyState {
            key: None,
            set: None,
            source,
            error: Some(error.to_string()),
        },
    }
}

fn non_empty_env(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| !v.trim().is_empty())
}

/// Where the URL in force comes from.
pub fn url_source() -> &'static str {
    if non_empty_env("ISPMONITOR_DATABASE_URL") {
        "ISPMONITOR_DATABASE_URL"
    } else {
        "database.url"
    }
}

/// The URL in force, as `serve` picks it.
pub fn url(config: &Config) -> Option<Secret> {
    store_mod::database_url(&config.database)
}

/// Checks the database within `timeout` and reads its inventory when the schema allows.
pub async fn check(
    config: &Config,
    url: Option<&Secret>,
    key: &KeyState,
    timeout: Duration,
) -> (DatabaseCheck, Option<RawInventory>) {
    let started = Instant::now();
    let mut check = DatabaseCheck {
        status: "ok",
        ok: true,
        message: String::new(),
        schema_version: None,
        expected_schema_version: SCHEMA_VERSION,
        database_devices: None,
        seconds: 0.0,
    };
    let Some(url) = url else {
        check.status = "not_configured";
        check.message = "no database configured (database.url or ISPMONITOR_DATABASE_URL): \
                         the YAML inventory only"
            .into();
        return (check, None);
    };
    let settings = StoreSettings {
        pool_size: 1,
        connect_timeout: config.database.connect_timeout.min(timeout),
        secret_key: None,
    };
    let inventory = match Store::connect(url, settings) {
        Ok(store) => probe(&store, key, timeout, &mut check).await,
        Err(error) => {
            fail(&mut check, "invalid_url", error.to_string());
            None
        }
    };
    check.seconds = started.elapsed().as_secs_f64();
    (check, inventory)
}

async fn probe(
    store: &Store,
    key: &KeyState,
    timeout: Duration,
    check: &mut DatabaseCheck,
) -> Option<RawInventory> {
    if let Err(error) = store.ping(timeout).await {
        fail(check, "unreachable", error.to_string());
        return None;
    }
    let version = match bounded(timeout, schema_version(store)).await {
        Ok(version) => version,
        Err(message) => {
            fail(check, "unreachable", message);
            return None;
        }
    };
    check.schema_version = Some(version);
    if version < SCHEMA_VERSION {
        fail(
            check,
            "schema_too_old",
            format!(
                "the schema is at version {version}, this build needs {SCHEMA_VERSION}: run `ispmonitor migrate`"
            ),
        );
        return None;
    }
    let inventory = bounded(timeout, read_inventory(store, key.key.as_ref())).await;
    if let Some(error) = &key.error {
        fail(check, "secret_key_invalid", error.clone());
    } else if version > SCHEMA_VERSION {
        // A newer schema is what a rolling upgrade looks like: serve runs, with a warning.
        check.status = "schema_newer";
        check.message =
            format!("the schema is at version {version}, newer than this build's {SCHEMA_VERSION}");
    }
    match inventory {
        Ok(raw) => {
            check.database_devices = Some(raw.targets.len());
            if check.message.is_empty() {
                check.message = format!(
                    "connected, schema version {version}, {} device(s) in the inventory",
                    raw.targets.len()
                );
            }
            Some(raw)
        }
        Err(message) => {
            fail(
                check,
                "inventory_unreadable",
                format!("cannot read the inventory: {message}"),
            );
            None
        }
    }
}

async fn bounded<T>(
    timeout: Duration,
    work: impl std::future::Future<Output = Result<T, String>>,
) -> Result<T, String> {
    tokio::time::timeout(timeout, work)
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {timeout:?}")))
}

async fn schema_version(store: &Store) -> Result<i32, String> {
    let client = store.client().await.map_err(|e| e.to_string())?;
    migrations::schema_version(&client)
        .await
        .map_err(|e| e.to_string())
}

async fn read_inventory(store: &Store, key: Option<&SecretKey>) -> Result<RawInventory, String> {
    let (mut client, connection) = store.dedicated().await.map_err(|e| e.to_string())?;
    let driver = tokio::spawn(connection);
    let stored = inventory::load(&mut client)
        .await
        .map_err(|e| e.to_string());
    drop(client);
    let _ = driver.await;
    Ok(inventory::open(&stored?, key))
}

fn fail(check: &mut DatabaseCheck, status: &'static str, message: String) {
    check.status = status;
    check.ok = false;
    check.message = message;
}
