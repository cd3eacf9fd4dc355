//! Schema migrations embedded in the binary, applied in order inside one transaction under an
//! advisory lock, so concurrent `ispmonitor migrate` runs (several pods starting) serialise.

use deadpool_postgres::Client;

use super::StoreError;

struct Migration {
    version: i32,
    name: &'static str,
    sql: &'static str,
}

/// Every migration, oldest first. Never edit a released one: add the next.
const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "initial",
        sql: include_str!("migrations/0001_initial.sql"),
    },
    Migration {
        version: 2,
        name: "device_file_credential",
        sql: include_str!("migrations/0002_device_file_credential.sql"),
    },
    Migration {
        version: 3,
        name: "device_names_unique",
        sql: include_str!("migrations/0003_device_names_unique.sql"),
    },
    Migration {
        version: 4,
        name: "license_state",
        sql: include_str!("migrations/0004_license_state.sql"),
    },
    Migration {
        version: 5,
        name: "routeros_credentials",
        sql: include_str!("migrations/0005_routeros_credentials.sql"),
    },
];

/// The schema version this build runs on.
pub const SCHEMA_VERSION: i32 = 5;

/// Key of the advisory lock that serialises migrations ("ispmon" in ASCII).
const MIGRATION_LOCK: i64 = 0x6973_706d_6f6e;

const CREATE_VERSION_TABLE: &str = "CREATE TABLE IF NOT EXISTS ispmonitor_schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now())";

/// What `migrate` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrateReport {
    pub from: i32,
    pub to: i32,
    /// `version name` of each migration applied now (empty: nothing to do).
    pub applied: Vec<String>,
}

/// Applies every pending migration. A second run is a no-op.
pub async fn migrate(client: &mut Client) -> Result<MigrateReport, StoreError> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    tx.batch_execute(CREATE_VERSION_TABLE).await?;
    let from: i32 = tx
        .query_one(
            "SELECT coalesce(max(version), 0) FROM ispmonitor_schema_migrations",
            &[],
        )
        .await?
        .get(0);
    let mut applied = Vec::new();
    for migration in MIGRATIONS.iter().filter(|m| m.version > from) {
        tx.batch_execute(migration.sql).await?;
        tx.execute(
            "INSERT INTO ispmonitor_schema_migrations (version, name) VALUES ($1, $2)",
            &[&migration.version, &migration.name],
        )
        .await?;
        applied.push(format!("{} {}", migration.version, migration.name));
    }
    tx.commit().await?;
    Ok(MigrateReport {
        from,
        to: from.max(SCHEMA_VERSION),
        applied,
    })
}

/// The version the database is at; 0 for an empty database.
pub async fn schema_version(client: &Client) -> Result<i32, StoreError> {
    let row = client
        .query_one(
            "SELECT to_regclass('ispmonitor_schema_migrations') IS NOT NULL",
            &[],
        )
        .await?;
    if !row.get::<_, bool>(0) {
        return Ok(0);
    }
    let row = client
        .query_one(
            "SELECT coalesce(max(version), 0) FROM ispmonitor_schema_migrations",
            &[],
        )
        .await?;
    Ok(row.get(0))
}

/// Refuses a schema older than this build. A newer one is accepted (an older replica still
/// running during a rolling upgrade) and the caller logs it.
pub async fn check_schema(client: &Client) -> Result<i32, StoreError> {
    let found = schema_version(client).await?;
    if found < SCHEMA_VERSION {
        return Err(StoreError::SchemaTooOld {
            found,
            expected: SCHEMA_VERSION,
        });
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_consecutive_and_the_last_is_the_schema_version() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version, i as i32 + 1, "{}", m.name);
        }
        assert_eq!(MIGRATIONS.last().unwrap().version, SCHEMA_VERSION);
    }
}
