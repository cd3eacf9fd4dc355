//! The `license_state` row (one at most) and the counts license limits are checked against.

use std::time::SystemTime;

use deadpool_postgres::GenericClient;

use super::StoreError;
use crate::license::status::ValidationRecord;

/// Key of the advisory lock that serialises limit checks ("lic" in ASCII): two requests at
/// the limit cannot both see room.
const LIMIT_LOCK: i64 = 0x6c_6963;

/// Where an installed license came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Api,
    File,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Api => "api",
            Source::File => "file",
        }
    }
}

/// The stored license and its validation record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredLicense {
    /// The signed line; `None` once removed.
    pub text: Option<String>,
    pub license_id: Option<String>,
    pub source: Option<Source>,
    pub installed_at: Option<SystemTime>,
    pub record: ValidationRecord,
}

/// The row, if there is one.
pub async fn load(client: &impl GenericClient) -> Result<Option<StoredLicense>, StoreError> {
    let row = client
        .query_opt(
            "SELECT license, license_id, source, installed_at, last_validation_at,
                    last_validation_ok_at, failing_since, validation_failures, last_error,
                    revoked_at
             FROM license_state WHERE id = 1",
            &[],
        )
        .await?;
    Ok(row.map(|r| StoredLicense {
        text: r.get("license"),
        license_id: r.get("license_id"),
        source: r.get::<_, Option<&str>>("source").map(|s| {
            if s == "file" {
                Source::File
            } else {
                Source::Api
            }
        }),
        installed_at: r.get("installed_at"),
        record: ValidationRecord {
            last_attempt_at: r.get("last_validation_at"),
            last_success_at: r.get("last_validation_ok_at"),
            failing_since: r.get("failing_since"),
            failures: r.get::<_, i64>("validation_failures").max(0) as u64,
            last_error: r.get("last_error"),
            revoked_at: r.get("revoked_at"),
        },
    }))
}

/// Installs a license: replaces the text and starts a fresh validation record.
pub async fn install(
    client: &impl GenericClient,
    text: &str,
    license_id: &str,
    source: Source,
) -> Result<(), StoreError> {
    client
        .execute(
            "INSERT INTO license_state (id, license, license_id, source, installed_at)
             VALUES (1, $1, $2, $3, now())
             ON CONFLICT (id) DO UPDATE SET license = EXCLUDED.license,
                 license_id = EXCLUDED.license_id, source = EXCLUDED.source,
                 installed_at = now(), last_validation_at = NULL,
                 last_validation_ok_at = NULL, failing_since = NULL,
                 validation_failures = 0, last_error = NULL, revoked_at = NULL",
            &[&text, &license_id, &source.as_str()],
        )
        .await?;
    Ok(())
}

/// Stores an online validation's record, unless another license was installed meanwhile.
pub async fn save_validation(
    client: &impl GenericClient,
    license_id: &str,
    record: &ValidationRecord,
) -> Result<bool, StoreError> {
    let failures = i64::try_from(record.failures).unwrap_or(i64::MAX);
    let updated = client
        .execute(
            "UPDATE license_state SET last_validation_at = $2, last_validation_ok_at = $3,
                 failing_since = $4, validation_failures = $5, last_error = $6, revoked_at = $7
             WHERE id = 1 AND license_id = $1",
            &[
                &license_id,
                &record.last_attempt_at,
                &record.last_success_at,
                &record.failing_since,
                &failures,
                &record.last_error,
                &record.revoked_at,
            ],
        )
        .await?;
    Ok(updated == 1)
}

/// What the API inventory holds, as license limits count it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct Usage {
    pub routers: u64,
    pub servers: u64,
    /// Live (unrevoked) API tokens.
    pub users: u64,
}

pub async fn usage(client: &impl GenericClient) -> Result<Usage, StoreError> {
    let row = client
        .query_one(
            "SELECT (SELECT count(*) FROM devices WHERE kind = 'router') AS routers,
                    (SELECT count(*) FROM devices WHERE kind = 'server') AS servers,
                    (SELECT count(*) FROM api_tokens WHERE revoked_at IS NULL) AS users",
            &[],
        )
        .await?;
    let count = |column: &str| row.get::<_, i64>(column).max(0) as u64;
    Ok(Usage {
        routers: count("routers"),
        servers: count("servers"),
        users: count("users"),
    })
}

/// Inside a transaction that just wrote: waits for every other limit check to finish, then
/// counts. Holding the lock until commit makes "write, then count" race-free: the next
/// transaction's count sees this one's rows.
pub async fn lock_and_count(client: &impl GenericClient) -> Result<Usage, StoreError> {
    client
        .execute("SELECT pg_advisory_xact_lock($1)", &[&LIMIT_LOCK])
        .await?;
    usage(client).await
}
