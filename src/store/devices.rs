//! Stored devices (routers, servers, hosts): one row each, with their modules in order and their
//! labels. Bulk writes go through UNNEST arrays: a few statements for thousands of devices.

use std::collections::{BTreeMap, HashMap};
use std::time::SystemTime;

use deadpool_postgres::GenericClient;

use super::StoreError;
use crate::config::TargetKind;

/// Which credential a device uses: a database one (by id), one of the YAML file's (by name), or
/// none (ICMP-only devices).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialRef {
    None,
    Database(i64),
    File(String),
}

/// What a write stores for one device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceFields {
    pub name: String,
    pub address: String,
    pub credential: CredentialRef,
    pub modules: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub interval: Option<String>,
    pub timeout: Option<String>,
    pub host_key: Option<String>,
}

/// One stored device as read back, its credential by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRecord {
    pub id: i64,
    pub kind: TargetKind,
    pub name: String,
    pub address: String,
    pub credential: Option<String>,
    pub modules: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub interval: Option<String>,
    pub timeout: Option<String>,
    pub host_key: Option<String>,
    pub created_at: SystemTime,
    pub updated_at: SystemTime,
}

/// Which devices a list returns. Every label pair must match (AND).
#[derive(Debug, Clone, Copy, Default)]
pub struct DeviceFilter<'a> {
    pub kind: Option<TargetKind>,
    pub labels: &'a [(String, String)],
    pub module: Option<&'a str>,
    pub name_prefix: Option<&'a str>,
}

/// What to do when a device of the same kind and name exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnConflict {
    /// `StoreError::Duplicate`.
    Fail,
    /// Replace it (bulk import in upsert mode).
    Replace,
}

/// Devices of one kind to write in one go.
pub struct BulkWrite<'a> {
    pub kind: TargetKind,
    pub rows: &'a [DeviceFields],
    pub on_conflict: OnConflict,
}

/// One device written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    pub id: i64,
    pub name: String,
    /// False when an existing device was replaced.
    pub inserted: bool,
    pub created_at: SystemTime,
    pub updated_at: SystemTime,
}

/// The kind as the `kind` column spells it.
pub fn parse_kind(text: &str) -> Option<TargetKind> {
    [TargetKind::Router, TargetKind::Server, TargetKind::Host]
        .into_iter()
        .find(|k| k.as_str() == text)
}

const SELECT: &str = "SELECT d.id, d.kind, d.name, d.address,
        coalesce(c.name, d.file_credential) AS credential,
        d.interval, d.timeout, d.host_key, d.created_at, d.updated_at,
        ARRAY(SELECT m.module FROM device_modules m WHERE m.device_id = d.id
              ORDER BY m.position) AS modules,
        ARRAY(SELECT l.name FROM device_labels l WHERE l.device_id = d.id
              ORDER BY l.name) AS label_names,
        ARRAY(SELECT l.value FROM device_labels l WHERE l.device_id = d.id
              ORDER BY l.name) AS label_values
    FROM devices d LEFT JOIN credentials c ON c.id = d.credential_id";

/// `$1` kind, `$2` module, `$3` name prefix, `$4`/`$5` label names/values.
const FILTER: &str = "WHERE ($1::text IS NULL OR d.kind = $1)
      AND ($2::text IS NULL OR EXISTS (SELECT 1 FROM device_modules m
                                       WHERE m.device_id = d.id AND m.module = $2))
      AND ($3::text IS NULL OR starts_with(d.name, $3))
      AND NOT EXISTS (SELECT 1 FROM unnest($4::text[], $5::text[]) AS f(name, value)
                      WHERE NOT EXISTS (SELECT 1 FROM device_labels l
                                        WHERE l.device_id = d.id AND l.name = f.name
                                          AND l.value = f.value))";

fn from_row(row: &tokio_postgres::Row) -> DeviceRecord {
    let names: Vec<String> = row.get("label_names");
    let values: Vec<String> = row.get("label_values");
    DeviceRecord {
        id: row.get("id"),
        // Invariant: the column's CHECK constraint only admits the three kinds.
        kind: parse_kind(row.get("kind")).unwrap_or(TargetKind::Host),
        name: row.get("name"),
        address: row.get("address"),
        credential: row.get("credential"),
        modules: row.get("modules"),
        labels: names.into_iter().zip(values).collect(),
        interval: row.get("interval"),
        timeout: row.get("timeout"),
        host_key: row.get("host_key"),
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
    }
}

/// The device `name` of `kind`; with `lock`, its row stays locked until the transaction ends.
pub async fn get(
    client: &impl GenericClient,
    kind: TargetKind,
    name: &str,
    lock: bool,
) -> Result<Option<DeviceRecord>, StoreError> {
    let lock = if lock { " FOR UPDATE OF d" } else { "" };
    let sql = format!("{SELECT} WHERE d.kind = $1 AND d.name = $2{lock}");
    let row = client.query_opt(&sql, &[&kind.as_str(), &name]).await?;
    Ok(row.as_ref().map(from_row))
}

/// One page of matching devices ordered by name (then kind), and how many match in all.
pub async fn list(
    client: &impl GenericClient,
    filter: &DeviceFilter<'_>,
    limit: i64,
    offset: i64,
) -> Result<(Vec<DeviceRecord>, i64), StoreError> {
    let kind = filter.kind.map(TargetKind::as_str);
    let (names, values): (Vec<&str>, Vec<&str>) = filter
        .labels
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .unzip();
    let count_sql = format!("SELECT count(*) FROM devices d {FILTER}");
    let total: i64 = client
        .query_one(
            &count_sql,
            &[&kind, &filter.module, &filter.name_prefix, &names, &values],
        )
        .await?
        .get(0);
    let page_sql = format!("{SELECT} {FILTER} ORDER BY d.name, d.kind LIMIT $6 OFFSET $7");
    let rows = client
        .query(
            &page_sql,
            &[
                &kind,
                &filter.module,
                &filter.name_prefix,
                &names,
                &values,
                &limit,
                &offset,
            ],
        )
        .await?;
    Ok((rows.iter().map(from_row).collect(), total))
}

/// Every device (of `kind`, if given), ordered by kind and name (export).
pub async fn all(
    client: &impl GenericClient,
    kind: Option<TargetKind>,
) -> Result<Vec<DeviceRecord>, StoreError> {
    let sql = format!("{SELECT} WHERE ($1::text IS NULL OR d.kind = $1) ORDER BY d.kind, d.name");
    let rows = client.query(&sql, &[&kind.map(TargetKind::as_str)]).await?;
    Ok(rows.iter().map(from_row).collect())
}

/// The names among `names` already taken by devices of `kind`.
pub async fn existing_names(
    client: &impl GenericClient,
    kind: TargetKind,
    names: &[&str],
) -> Result<Vec<String>, StoreError> {
    let rows = client
        .query(
            "SELECT name FROM devices WHERE kind = $1 AND name = ANY($2)",
            &[&kind.as_str(), &names],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// The two columns a `CredentialRef` is stored in.
fn credential_columns(credential: &CredentialRef) -> (Option<i64>, Option<&str>) {
    match credential {
        CredentialRef::None => (None, None),
        CredentialRef::Database(id) => (Some(*id), None),
        CredentialRef::File(name) => (None, Some(name.as_str())),
    }
}

/// Writes many devices of one kind with one statement for the devices and one per child table.
pub async fn write_many(
    client: &impl GenericClient,
    bulk: &BulkWrite<'_>,
) -> Result<Vec<Written>, StoreError> {
    let mut columns = DeviceColumns::default();
    for row in bulk.rows {
        columns.push(row);
    }
    let on_conflict = match bulk.on_conflict {
        OnConflict::Fail => "",
        OnConflict::Replace => {
            "ON CONFLICT (kind, name) DO UPDATE SET address = EXCLUDED.address,
                 credential_id = EXCLUDED.credential_id,
                 file_credential = EXCLUDED.file_credential, interval = EXCLUDED.interval,
                 timeout = EXCLUDED.timeout, host_key = EXCLUDED.host_key, updated_at = now()"
        }
    };
    let sql = format!(
        "INSERT INTO devices (kind, name, address, credential_id, file_credential, interval,
                              timeout, host_key)
         SELECT $1::text, * FROM unnest($2::text[], $3::text[], $4::int8[], $5::text[],
                                        $6::text[], $7::text[], $8::text[])
         {on_conflict}
         RETURNING id, name, (xmax = 0) AS inserted, created_at, updated_at"
    );
    let rows = client
        .query(
            &sql,
            &[
                &bulk.kind.as_str(),
                &columns.names,
                &columns.addresses,
                &columns.credential_ids,
                &columns.file_credentials,
                &columns.intervals,
                &columns.timeouts,
                &columns.host_keys,
            ],
        )
        .await?;
    let written: Vec<Written> = rows
        .iter()
        .map(|r| Written {
            id: r.get("id"),
            name: r.get("name"),
            inserted: r.get("inserted"),
            created_at: r.get("created_at"),
            updated_at: r.get("updated_at"),
        })
        .collect();
    let replaced: Vec<i64> = written
        .iter()
        .filter(|w| !w.inserted)
        .map(|w| w.id)
        .collect();
    delete_children(client, &replaced).await?;
    let ids: HashMap<&str, i64> = written.iter().map(|w| (w.name.as_str(), w.id)).collect();
    let with_ids: Vec<(i64, &DeviceFields)> = bulk
        .rows
        .iter()
        .filter_map(|row| ids.get(row.name.as_str()).map(|id| (*id, row)))
        .collect();
    insert_children(client, &with_ids).await?;
    Ok(written)
}

/// Replaces the device `id` (a rename included); a name already taken answers
/// `StoreError::Duplicate`. Returns its creation and update times.
pub async fn update(
    client: &impl GenericClient,
    id: i64,
    fields: &DeviceFields,
) -> Result<(SystemTime, SystemTime), StoreError> {
    let (credential_id, file_credential) = credential_columns(&fields.credential);
    let row = client
        .query_one(
            "UPDATE devices SET name = $2, address = $3, credential_id = $4,
                 file_credential = $5, interval = $6, timeout = $7, host_key = $8,
                 updated_at = now()
             WHERE id = $1 RETURNING created_at, updated_at",
            &[
                &id,
                &fields.name,
                &fields.address,
                &credential_id,
                &file_credential,
                &fields.interval,
                &fields.timeout,
                &fields.host_key,
            ],
        )
        .await?;
    delete_children(client, &[id]).await?;
    insert_children(client, &[(id, fields)]).await?;
    Ok((row.get("created_at"), row.get("updated_at")))
}

/// Deletes the device `id` (its modules and labels go with it).
pub async fn delete(client: &impl GenericClient, id: i64) -> Result<(), StoreError> {
    client
        .execute("DELETE FROM devices WHERE id = $1", &[&id])
        .await?;
    Ok(())
}

async fn delete_children(client: &impl GenericClient, ids: &[i64]) -> Result<(), StoreError> {
    if ids.is_empty() {
        return Ok(());
    }
    client
        .execute(
            "DELETE FROM device_modules WHERE device_id = ANY($1)",
            &[&ids],
        )
        .await?;
    client
        .execute(
            "DELETE FROM device_labels WHERE device_id = ANY($1)",
            &[&ids],
        )
        .await?;
    Ok(())
}

/// Inserts the modules (with their positions) and labels of devices whose ids are known.
async fn insert_children(
    client: &impl GenericClient,
    devices: &[(i64, &DeviceFields)],
) -> Result<(), StoreError> {
    let (mut module_ids, mut modules, mut positions) = (Vec::new(), Vec::new(), Vec::new());
    let (mut label_ids, mut label_names, mut label_values) = (Vec::new(), Vec::new(), Vec::new());
    for (id, fields) in devices {
        for (position, module) in fields.modules.iter().enumerate() {
            module_ids.push(*id);
            modules.push(module.as_str());
            // Invariant: the API caps modules far below i32::MAX.
            positions.push(i32::try_from(position).unwrap_or(i32::MAX));
        }
        for (name, value) in &fields.labels {
            label_ids.push(*id);
            label_names.push(name.as_str());
            label_values.push(value.as_str());
        }
    }
    if !module_ids.is_empty() {
        client
            .execute(
                "INSERT INTO device_modules (device_id, module, position)
                 SELECT * FROM unnest($1::int8[], $2::text[], $3::int4[])",
                &[&module_ids, &modules, &positions],
            )
            .await?;
    }
    if !label_ids.is_empty() {
        client
            .execute(
                "INSERT INTO device_labels (device_id, name, value)
                 SELECT * FROM unnest($1::int8[], $2::text[], $3::text[])",
                &[&label_ids, &label_names, &label_values],
            )
            .await?;
    }
    Ok(())
}

/// The device columns of a bulk insert, one array per column.
#[derive(Default)]
struct DeviceColumns<'a> {
    names: Vec<&'a str>,
    addresses: Vec<&'a str>,
    credential_ids: Vec<Option<i64>>,
    file_credentials: Vec<Option<&'a str>>,
    intervals: Vec<Option<&'a str>>,
    timeouts: Vec<Option<&'a str>>,
    host_keys: Vec<Option<&'a str>>,
}

impl<'a> DeviceColumns<'a> {
    fn push(&mut self, row: &'a DeviceFields) {
        let (credential_id, file_credential) = credential_columns(&row.credential);
        self.names.push(&row.name);
        self.addresses.push(&row.address);
        self.credential_ids.push(credential_id);
        self.file_credentials.push(file_credential);
        self.intervals.push(row.interval.as_deref());
        self.timeouts.push(row.timeout.as_deref());
        self.host_keys.push(row.host_key.as_deref());
    }
}
