//! PostgreSQL: the connection pool, migrations, and one file per aggregate. Knows nothing of
//! HTTP; the API maps `StoreError` to status codes.

pub mod alerts;
pub mod audit;
pub mod credential_fields;
pub mod credentials;
pub mod devices;
pub mod inventory;
pub mod license;
pub mod migrations;
pub mod secret_box;
pub mod tokens;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use tokio_postgres::error::SqlState;
use tokio_postgres::NoTls;

use crate::config::{Database, Secret};
pub use secret_box::SecretKey;

/// Rows of `table` whose `column` is older than `retention`, as the retention tasks delete them.
/// Both names are constants of this crate, never request input.
pub struct Aged {
    pub table: &'static str,
    pub column: &'static str,
    pub retention: Duration,
}

/// Rows deleted per statement: a big backlog never holds one long transaction.
const DELETE_BATCH: u64 = 10_000;

/// Deletes aged rows in batches, by the database's clock. Returns how many were deleted.
pub async fn delete_in_batches(
    client: &impl deadpool_postgres::GenericClient,
    aged: Aged,
) -> Result<u64, StoreError> {
    let sql = format!(
        "DELETE FROM {table} WHERE id IN (
             SELECT id FROM {table} WHERE {column} < now() - make_interval(secs => $1) LIMIT $2)",
        table = aged.table,
        column = aged.column,
    );
    let seconds = aged.retention.as_secs_f64();
    let limit = DELETE_BATCH as i64;
    let mut deleted = 0;
    loop {
        let n = client.execute(&sql, &[&seconds, &limit]).await?;
        deleted += n;
        if n < DELETE_BATCH {
            return Ok(deleted);
        }
    }
}

/// Why a store operation failed. Messages never contain the database URL or a secret.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No connection could be had (database down, pool exhausted, timeout).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A unique constraint refused the row; the constraint's name says which one.
    #[error("duplicate: {constraint}")]
    Duplicate { constraint: String },
    /// A foreign key refused the change (e.g. deleting a credential still in use).
    #[error("still referenced: {constraint}")]
    InUse { constraint: String },
    #[error("database schema is at version {found}, this build needs {expected}: run `ispmonitor migrate`")]
    SchemaTooOld { found: i32, expected: i32 },
    #[error("credential secrets cannot be read or written: {0}")]
    Secrets(String),
    #[error("database error: {0}")]
    Query(tokio_postgres::Error),
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(error: tokio_postgres::Error) -> Self {
        let Some(db) = error.as_db_error() else {
            // Connection-level failures (closed socket, I/O) mean the database went away.
            return if error.is_closed() {
                StoreError::Unavailable("connection closed".into())
            } else {
                StoreError::Query(error)
            };
        };
        let constraint = db.constraint().unwrap_or_default().to_string();
        match *db.code() {
            SqlState::UNIQUE_VIOLATION => StoreError::Duplicate { constraint },
            SqlState::FOREIGN_KEY_VIOLATION => StoreError::InUse { constraint },
            SqlState::ADMIN_SHUTDOWN
            | SqlState::CRASH_SHUTDOWN
            | SqlState::CANNOT_CONNECT_NOW
            | SqlState::CONNECTION_FAILURE => StoreError::Unavailable(db.message().to_string()),
            _ => StoreError::Query(error),
        }
    }
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(error: deadpool_postgres::PoolError) -> Self {
        use deadpool_postgres::PoolError;
        match error {
            // Opening a connection failed below SQL (refused, reset, DNS): the database is away.
            PoolError::Backend(e) if e.as_db_error().is_none() => {
                StoreError::Unavailable(e.to_string())
            }
            PoolError::Backend(e) => StoreError::from(e),
            PoolError::Timeout(_) => {
                StoreError::Unavailable("timed out waiting for a connection".into())
            }
            other => StoreError::Unavailable(other.to_string()),
        }
    }
}

/// The database: a pool for requests, the parsed settings for dedicated connections (LISTEN),
/// and the key that seals credential secrets.
#[derive(Clone)]
pub struct Store {
    pool: Pool,
    pg_config: Arc<tokio_postgres::Config>,
    secret_key: Option<Arc<SecretKey>>,
}

/// What `Store::connect` needs besides the URL.
pub struct StoreSettings {
    pub pool_size: usize,
    pub connect_timeout: Duration,
    pub secret_key: Option<SecretKey>,
}

impl StoreSettings {
    pub fn from_config(database: &Database, secret_key: Option<SecretKey>) -> Self {
        StoreSettings {
            pool_size: database.pool_size,
            connect_timeout: database.connect_timeout,
            secret_key,
        }
    }
}

impl Store {
    /// Builds the pool. No connection is made yet: the first query connects, so a database
    /// that is down at start does not stop the process.
    pub fn connect(url: &Secret, settings: StoreSettings) -> Result<Store, StoreError> {
        // The parse error of tokio-postgres names the bad part, never the password.
        let mut pg_config = tokio_postgres::Config::from_str(url.expose())
            .map_err(|e| StoreError::Unavailable(format!("invalid database URL: {e}")))?;
        pg_config.connect_timeout(settings.connect_timeout);
        if pg_config.get_application_name().is_none() {
            pg_config.application_name("ispmonitor");
        }
        let manager = Manager::from_config(
            pg_config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(settings.pool_size)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(settings.connect_timeout))
            .create_timeout(Some(settings.connect_timeout))
            .recycle_timeout(Some(settings.connect_timeout))
            .build()
            .map_err(|e| StoreError::Unavailable(format!("cannot build the pool: {e}")))?;
        Ok(Store {
            pool,
            pg_config: Arc::new(pg_config),
            secret_key: settings.secret_key.map(Arc::new),
        })
    }

    /// A pooled connection.
    pub async fn client(&self) -> Result<Object, StoreError> {
        Ok(self.pool.get().await?)
    }

    /// A dedicated connection outside the pool (LISTEN needs one of its own). The caller must
    /// drive the returned connection future.
    pub async fn dedicated(
        &self,
    ) -> Result<
        (
            tokio_postgres::Client,
            tokio_postgres::Connection<tokio_postgres::Socket, tokio_postgres::tls::NoTlsStream>,
        ),
        StoreError,
    > {
        Ok(self.pg_config.connect(NoTls).await?)
    }

    /// The key sealing credential secrets; an error saying how to set one when absent.
    pub fn secret_key(&self) -> Result<&SecretKey, StoreError> {
        self.secret_key.as_deref().ok_or_else(|| {
            StoreError::Secrets(
                "no secret key configured: set ISPMONITOR_SECRET_KEY or ISPMONITOR_SECRET_KEY_FILE \
                 (32 random bytes, base64 or hex; e.g. `openssl rand -base64 32`)"
                    .into(),
            )
        })
    }

    pub fn has_secret_key(&self) -> bool {
        self.secret_key.is_some()
    }

    /// Connections in use and idle, for `ispmonitor_db_connections`.
    pub fn connection_counts(&self) -> ConnectionCounts {
        let status = self.pool.status();
        ConnectionCounts {
            active: status.size.saturating_sub(status.available),
            idle: status.available,
        }
    }

    /// Round trip to the database, bounded by `timeout`.
    pub async fn ping(&self, timeout: Duration) -> Result<(), StoreError> {
        let ping = async {
            let client = self.client().await?;
            client.simple_query("SELECT 1").await?;
            Ok::<(), StoreError>(())
        };
        tokio::time::timeout(timeout, ping)
            .await
            .map_err(|_| StoreError::Unavailable(format!("no answer within {timeout:?}")))?
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionCounts {
    pub active: usize,
    pub idle: usize,
}

/// The database URL in force: `ISPMONITOR_DATABASE_URL` wins over the config file.
pub fn database_url(database: &Database) -> Option<Secret> {
    match std::env::var("ISPMONITOR_DATABASE_URL") {
        Ok(url) if !url.trim().is_empty() => Some(Secret::new(url.trim())),
        _ => database.url.clone(),
    }
}
