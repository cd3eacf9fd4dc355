//! Stored credentials: the clear params (YAML field names) and the sealed secrets, by name.

use std::time::SystemTime;

use deadpool_postgres::GenericClient;
use serde_json::{Map, Value};

use super::StoreError;

/// One row of `credentials`. `secrets` is still sealed: open it with
/// `credential_fields::open(key, &name, secrets)`.
#[derive(Clone)]
pub struct CredentialRecord {
    pub id: i64,
    pub name: String,
    /// `snmp` or `ssh`.
    pub credential_type: String,
    pub params: Map<String, Value>,
    pub secrets: Option<Vec<u8>>,
    pub created_at: SystemTime,
    pub updated_at: SystemTime,
}

/// What a write stores. `secrets` is sealed already, under `name`.
pub struct CredentialRow<'a> {
    pub name: &'a str,
    pub credential_type: &'a str,
    pub params: &'a Map<String, Value>,
    pub secrets: Option<&'a [u8]>,
}

/// A row written by `upsert`: its id, and whether it is new.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Upserted {
    pub id: i64,
    pub inserted: bool,
}

const COLUMNS: &str = "id, name, type, params, secrets, created_at, updated_at";

fn from_row(row: &tokio_postgres::Row) -> CredentialRecord {
    let params = match row.get::<_, Value>("params") {
        Value::Object(map) => map,
        // Invariant: every writer stores an object; anything else reads as no params.
        _ => Map::new(),
    };
    CredentialRecord {
        id: row.get("id"),
        name: row.get("name"),
        credential_type: row.get("type"),
        params,
        secrets: row.get("secrets"),
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
    }
}

/// The credential named `name`; with `lock`, the row stays locked until the transaction ends.
pub async fn get(
    client: &impl GenericClient,
    name: &str,
    lock: bool,
) -> Result<Option<CredentialRecord>, StoreError> {
    let lock = if lock { " FOR UPDATE" } else { "" };
    let sql = format!("SELECT {COLUMNS} FROM credentials WHERE name = $1{lock}");
    let row = client.query_opt(&sql, &[&name]).await?;
    Ok(row.as_ref().map(from_row))
}

/// The credentials among `names` that exist, in name order.
pub async fn by_names(
    client: &impl GenericClient,
    names: &[String],
) -> Result<Vec<CredentialRecord>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM credentials WHERE name = ANY($1) ORDER BY name");
    let rows = client.query(&sql, &[&names]).await?;
    Ok(rows.iter().map(from_row).collect())
}

/// One page of credentials in name order, and how many there are in all.
pub async fn list(
    client: &impl GenericClient,
    limit: i64,
    offset: i64,
) -> Result<(Vec<CredentialRecord>, i64), StoreError> {
    let total: i64 = client
        .query_one("SELECT count(*) FROM credentials", &[])
        .await?
        .get(0);
    let sql = format!("SELECT {COLUMNS} FROM credentials ORDER BY name LIMIT $1 OFFSET $2");
    let rows = client.query(&sql, &[&limit, &offset]).await?;
    Ok((rows.iter().map(from_row).collect(), total))
}

/// Every credential, in name order (export).
pub async fn all(client: &impl GenericClient) -> Result<Vec<CredentialRecord>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM credentials ORDER BY name");
    let rows = client.query(&sql, &[]).await?;
    Ok(rows.iter().map(from_row).collect())
}

/// Inserts a credential; a name already taken answers `StoreError::Duplicate`.
pub async fn insert(
    client: &impl GenericClient,
    row: &CredentialRow<'_>,
) -> Result<CredentialRecord, StoreError> {
    let params = Value::Object(row.params.clone());
    let sql = format!(
        "INSERT INTO credentials (name, type, params, secrets) VALUES ($1, $2, $3, $4)
         RETURNING {COLUMNS}"
    );
    let inserted = client
        .query_one(
            &sql,
            &[&row.name, &row.credential_type, &params, &row.secrets],
        )
        .await?;
    Ok(from_row(&inserted))
}

/// Replaces the credential `id` (a rename included); a name already taken answers
/// `StoreError::Duplicate`.
pub async fn update(
    client: &impl GenericClient,
    id: i64,
    row: &CredentialRow<'_>,
) -> Result<CredentialRecord, StoreError> {
    let params = Value::Object(row.params.clone());
    let sql = format!(
        "UPDATE credentials SET name = $2, type = $3, params = $4, secrets = $5, updated_at = now()
         WHERE id = $1 RETURNING {COLUMNS}"
    );
    let updated = client
        .query_one(
            &sql,
            &[&id, &row.name, &row.credential_type, &params, &row.secrets],
        )
        .await?;
    Ok(from_row(&updated))
}

/// Inserts or replaces the credential named `row.name` (bulk import).
pub async fn upsert(
    client: &impl GenericClient,
    row: &CredentialRow<'_>,
) -> Result<Upserted, StoreError> {
    let params = Value::Object(row.params.clone());
    let written = client
        .query_one(
            "INSERT INTO credentials (name, type, params, secrets) VALUES ($1, $2, $3, $4)
             ON CONFLICT (name) DO UPDATE SET type = EXCLUDED.type, params = EXCLUDED.params,
                 secrets = EXCLUDED.secrets, updated_at = now()
             RETURNING id, (xmax = 0) AS inserted",
            &[&row.name, &row.credential_type, &params, &row.secrets],
        )
        .await?;
    Ok(Upserted {
        id: written.get("id"),
        inserted: written.get("inserted"),
    })
}

/// Deletes the credential `id`. Devices still using it make this `StoreError::InUse`.
pub async fn delete(client: &impl GenericClient, id: i64) -> Result<(), StoreError> {
    client
        .execute("DELETE FROM credentials WHERE id = $1", &[&id])
        .await?;
    Ok(())
}

/// How many devices use the credential `id`.
pub async fn count_users(client: &impl GenericClient, id: i64) -> Result<i64, StoreError> {
    let row = client
        .query_one(
            "SELECT count(*) FROM devices WHERE credential_id = $1",
            &[&id],
        )
        .await?;
    Ok(row.get(0))
}
