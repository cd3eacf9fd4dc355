//! `/api/v1/inventory/import` and `/export`: the database inventory in one document (JSON) or
//! one table (CSV), imported in one transaction (all or nothing), validated in memory first.

use std::collections::{BTreeMap, BTreeSet};

use axum::extract::{RawQuery, Request, State};
use axum::http::{header, HeaderMap, Method};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json};
use deadpool_postgres::GenericClient;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::auth::Caller;
use super::credentials::{self as api_credentials, CredentialBody, Prepared};
use super::devices::{self as api_devices, Candidate, DeviceBody};
use super::error::ApiError;
use super::extract::{parse_json, read_body};
use super::pagination::QueryParams;
use super::routes::{Access, Route};
use super::ApiState;
use crate::config::{Config, RawCredential, TargetKind};
use crate::store::audit::{self, AuditEntry};
use crate::store::credential_fields;
use crate::store::credentials::{self, CredentialRecord, CredentialRow};
use crate::store::devices::{self, BulkWrite, OnConflict};
use crate::store::tokens::Role;
use crate::store::{Store, StoreError};

const IMPORT: &str = "/api/v1/inventory/import";
const EXPORT: &str = "/api/v1/inventory/export";
/// The CSV columns, in the order export writes them. Import reads them by name.
const CSV_COLUMNS: [&str; 9] = [
    "kind",
    "name",
    "address",
    "credential",
    "modules",
    "labels",
    "interval",
    "timeout",
    "host_key",
];
const REQUIRED_CSV_COLUMNS: [&str; 4] = ["kind", "name", "address", "modules"];

pub fn routes() -> Vec<Route> {
    vec![
        Route::new(Method::POST, IMPORT, Access::Role(Role::Operator), || {
            post(import)
        })
        .doc(
            "inventory",
            "Import credentials, routers and servers (JSON, or CSV with Content-Type: text/csv) \
             in one transaction",
        )
        .query::<ImportQuery>()
        .request::<InventoryDocument>()
        .response::<ImportSummary>(),
        Route::new(Method::GET, EXPORT, Access::Role(Role::Viewer), || {
            get(export)
        })
        .doc(
            "inventory",
            "Export the database inventory in the import format (secrets left out)",
        )
        .query::<ExportQuery>()
        .response::<InventoryDocument>(),
    ]
}

/// The import (and JSON export) document. Each list is optional.
#[derive(Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InventoryDocument {
    #[serde(default)]
    pub credentials: Vec<CredentialBody>,
    #[serde(default)]
    pub routers: Vec<DeviceBody>,
    #[serde(default)]
    pub servers: Vec<DeviceBody>,
}

/// `POST /api/v1/inventory/import` parameters.
#[derive(schemars::JsonSchema)]
#[allow(dead_code)]
pub struct ImportQuery {
    /// `create` (default: any existing name is a 409) or `upsert` (existing ones are replaced).
    mode: Option<String>,
}

/// `GET /api/v1/inventory/export` parameters.
#[derive(schemars::JsonSchema)]
#[allow(dead_code)]
pub struct ExportQuery {
    /// `json` (default: credentials, routers, servers) or `csv` (devices only).
    format: Option<String>,
    /// `router` or `server`: only that kind's devices.
    kind: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Create,
    Upsert,
}

impl Mode {
    fn as_str(self) -> &'static str {
        match self {
            Mode::Create => "create",
            Mode::Upsert => "upsert",
        }
    }
}

/// What an import did.
#[derive(Debug, Default, Serialize, schemars::JsonSchema)]
pub struct Counts {
    pub created: usize,
    pub updated: usize,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ImportSummary {
    pub mode: Mode,
    pub credentials: Counts,
    pub routers: Counts,
    pub servers: Counts,
}

/// One credential or device of an import, with where it sits (`credentials[2]`, `routers[41]`,
/// `rows[42]`) to name it in errors.
struct Entry<T> {
    body: T,
    origin: String,
}

/// An import, whatever its format.
#[derive(Default)]
struct Import {
    credentials: Vec<Entry<CredentialBody>>,
    routers: Vec<Entry<DeviceBody>>,
    servers: Vec<Entry<DeviceBody>>,
}

impl Import {
    fn from_document(document: InventoryDocument) -> Import {
        let entries = |section: &str, bodies: Vec<DeviceBody>| {
            bodies
                .into_iter()
                .enumerate()
                .map(|(i, body)| Entry {
                    body,
                    origin: format!("{section}[{i}]"),
                })
                .collect()
        };
        Import {
            credentials: document
                .credentials
                .into_iter()
                .enumerate()
                .map(|(i, body)| Entry {
                    body,
                    origin: format!("credentials[{i}]"),
                })
                .collect(),
            routers: entries("routers", document.routers),
            servers: entries("servers", document.servers),
        }
    }

    fn devices(&self, kind: TargetKind) -> &[Entry<DeviceBody>] {
        match kind {
            TargetKind::Server => &self.servers,
            _ => &self.routers,
        }
    }
}

const KINDS: [TargetKind; 2] = [TargetKind::Router, TargetKind::Server];

fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

async fn import(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    RawQuery(query): RawQuery,
    request: Request,
) -> Result<Json<ImportSummary>, ApiError> {
    let store = state.store()?;
    let params = QueryParams::parse(query.as_deref(), &["mode"])?;
    let mode = params
        .choice(
            "mode",
            &[("create", Mode::Create), ("upsert", Mode::Upsert)],
        )?
        .unwrap_or(Mode::Create);
    let import = read_import(request, &state).await?;
    let base = state.current_config();
    check_names(&base, &import)?;
    let mut client = store.client().await?;
    let tx = client.transaction().await?;
    let inputs = PlanInputs {
        store,
        base: &base,
        import: &import,
        mode,
    };
    let plan = Plan::build(&tx, &inputs).await?;
    let summary = plan.write(&tx, &inputs).await?;
    let added = super::license::Added {
        routers: summary.routers.created as u64,
        servers: summary.servers.created as u64,
        users: 0,
    };
    super::license::enforce(&tx, &state, added).await?;
    let entry = AuditEntry {
        actor: &caller.actor,
        action: "import",
        kind: "inventory",
        target: None,
        before: None,
        after: Some(audit_after(&import, &summary)),
    };
    audit::record(&tx, &entry).await?;
    tx.commit().await?;
    state.license.wake();
    tracing::info!(
        mode = mode.as_str(),
        credentials = import.credentials.len(),
        routers = import.routers.len(),
        servers = import.servers.len(),
        "inventory imported"
    );
    Ok(Json(summary))
}

/// The body, JSON or CSV by its Content-Type.
async fn read_import(request: Request, state: &ApiState) -> Result<Import, ApiError> {
    let media = content_type(request.headers());
    let bytes = read_body(request, state).await?;
    match media.as_str() {
        "application/json" => parse_json::<InventoryDocument>(&bytes)
            .map(Import::from_document)
            .map_err(api_credentials::mask_secret_error),
        "text/csv" => parse_csv(&bytes),
        _ => Err(ApiError::unsupported_media_type(
            "send the inventory as Content-Type: application/json or text/csv",
        )),
    }
}

/// Checks that need no database: credential names (well formed, once each, not the file's)
/// and device names (not a file target's of the same kind).
fn check_names(base: &Config, import: &Import) -> Result<(), ApiError> {
    let mut seen = BTreeSet::new();
    for entry in &import.credentials {
        let field = api_credentials::field_in(&entry.origin, "name");
        api_credentials::check_name(&entry.body.name)
            .map_err(|m| ApiError::validation(field.clone(), m))?;
        if !seen.insert(entry.body.name.as_str()) {
            return Err(ApiError::validation(
                field,
                format!("credential {:?} is listed twice", entry.body.name),
            ));
        }
        api_credentials::refuse_file_name(base, &entry.body.name, field)?;
    }
    for kind in KINDS {
        for entry in import.devices(kind) {
            let field = api_credentials::field_in(&entry.origin, "name");
            api_devices::refuse_file_name(base, &entry.body.name, field)?;
        }
    }
    Ok(())
}

/// An import checked against the database, ready to write.
struct Plan {
    /// The import's credentials, prepared and sealed, in import order.
    credentials: Vec<(Prepared, Option<Vec<u8>>)>,
    /// Stored credentials of the same names.
    existing: BTreeMap<String, CredentialRecord>,
    /// Ids of the database credentials devices use that the import does not carry.
    referenced_ids: BTreeMap<String, i64>,
}

/// What building a plan reads.
struct PlanInputs<'a> {
    store: &'a Store,
    base: &'a Config,
    import: &'a Import,
    mode: Mode,
}

impl Plan {
    /// Validates the whole import (credentials, then routers, then servers) before any write.
    async fn build(client: &impl GenericClient, inputs: &PlanInputs<'_>) -> Result<Plan, ApiError> {
        let PlanInputs {
            store,
            base,
            import,
            mode,
        } = *inputs;
        let names: Vec<String> = import
            .credentials
            .iter()
            .map(|e| e.body.name.clone())
            .collect();
        let existing: BTreeMap<String, CredentialRecord> = credentials::by_names(client, &names)
            .await?
            .into_iter()
            .map(|r| (r.name.clone(), r))
            .collect();
        let mut prepared = Vec::new();
        let mut raw: BTreeMap<String, RawCredential> = BTreeMap::new();
        for entry in &import.credentials {
            let stored = match existing.get(&entry.body.name) {
                Some(record) if mode == Mode::Create => {
                    return Err(ApiError::conflict(format!(
                        "a credential named {:?} already exists (use ?mode=upsert to replace it)",
                        record.name
                    ))
                    .with_field(api_credentials::field_in(&entry.origin, "name")))
                }
                Some(record) => Some(api_credentials::open_secrets(store, record)?),
                None => None,
            };
            let ready =
                api_credentials::prepare(base, &entry.body, stored.as_ref(), &entry.origin)?;
            let shape =
                credential_fields::to_raw(&ready.credential_type, &ready.params, &ready.secrets)
                    .map_err(ApiError::internal)?;
            raw.insert(entry.body.name.clone(), shape);
            let sealed = api_credentials::seal(store, &entry.body.name, &ready.secrets)?;
            prepared.push((ready, sealed));
        }
        let referenced = referenced_names(import, base, &raw);
        let database =
            api_credentials::database_credentials(client, store, base, &referenced).await?;
        raw.extend(database.raw);
        for kind in KINDS {
            let candidates: Vec<Candidate<'_>> = import
                .devices(kind)
                .iter()
                .map(|e| Candidate {
                    body: &e.body,
                    origin: e.origin.clone(),
                })
                .collect();
            api_devices::check_devices(base, kind, &candidates, &raw)?;
        }
        if mode == Mode::Create {
            for kind in KINDS {
                refuse_existing_devices(client, kind, import.devices(kind)).await?;
            }
        }
        Ok(Plan {
            credentials: prepared,
            existing,
            referenced_ids: database.ids,
        })
    }

    async fn write(
        &self,
        client: &impl GenericClient,
        inputs: &PlanInputs<'_>,
    ) -> Result<ImportSummary, ApiError> {
        let (mut ids, credential_counts) = self.write_credentials(client, inputs.import).await?;
        ids.extend(self.referenced_ids.clone());
        let on_conflict = match inputs.mode {
            Mode::Create => OnConflict::Fail,
            Mode::Upsert => OnConflict::Replace,
        };
        let mut counts = Vec::new();
        for kind in KINDS {
            let batch = DeviceBatch {
                kind,
                entries: inputs.import.devices(kind),
                base: inputs.base,
                credential_ids: &ids,
                on_conflict,
            };
            counts.push(write_devices(client, &batch).await?);
        }
        let servers = counts.pop().unwrap_or_default();
        let routers = counts.pop().unwrap_or_default();
        Ok(ImportSummary {
            mode: inputs.mode,
            credentials: credential_counts,
            routers,
            servers,
        })
    }

    /// Writes the credentials; their ids by name.
    async fn write_credentials(
        &self,
        client: &impl GenericClient,
        import: &Import,
    ) -> Result<(BTreeMap<String, i64>, Counts), ApiError> {
        let mut ids = BTreeMap::new();
        let mut counts = Counts::default();
        for (entry, (ready, sealed)) in import.credentials.iter().zip(&self.credentials) {
            let name = &entry.body.name;
            if let Some(record) = self.existing.get(name) {
                if record.credential_type != ready.credential_type {
                    let field = api_credentials::field_in(&entry.origin, "type");
                    api_credentials::refuse_type_change(client, record, field).await?;
                }
            }
            let row = CredentialRow {
                name,
                credential_type: &ready.credential_type,
                params: &ready.params,
                secrets: sealed.as_deref(),
            };
            let written = credentials::upsert(client, &row)
                .await
                .map_err(|e| raced(e, &entry.origin))?;
            if written.inserted {
                counts.created += 1;
            } else {
                counts.updated += 1;
            }
            ids.insert(name.clone(), written.id);
        }
        Ok((ids, counts))
    }
}

/// The audit entry's `after`: the counts and the names, never a secret.
fn audit_after(import: &Import, summary: &ImportSummary) -> Value {
    let names = |entries: &[Entry<DeviceBody>]| -> Vec<String> {
        entries.iter().map(|e| e.body.name.clone()).collect()
    };
    let credential_names: Vec<&str> = import
        .credentials
        .iter()
        .map(|e| e.body.name.as_str())
        .collect();
    json!({
        "mode": summary.mode,
        "credentials": {"created": summary.credentials.created,
            "updated": summary.credentials.updated, "names": credential_names},
        "routers": {"created": summary.routers.created, "updated": summary.routers.updated,
            "names": names(&import.routers)},
        "servers": {"created": summary.servers.created, "updated": summary.servers.updated,
            "names": names(&import.servers)},
    })
}

/// A concurrent writer took a name between the checks and the write.
fn raced(error: StoreError, origin: &str) -> ApiError {
    match error {
        StoreError::Duplicate { .. } => ApiError::conflict(
            "a name in this import was created by another request meanwhile; nothing was imported",
        )
        .with_field(origin.to_string()),
        other => other.into(),
    }
}

/// Credential names devices use that are neither the file's nor the import's.
fn referenced_names(
    import: &Import,
    base: &Config,
    imported: &BTreeMap<String, RawCredential>,
) -> Vec<String> {
    let mut names = BTreeSet::new();
    for kind in KINDS {
        for entry in import.devices(kind) {
            if let Some(name) = &entry.body.credential {
                if !imported.contains_key(name) && !base.credentials.contains_key(name) {
                    names.insert(name.clone());
                }
            }
        }
    }
    names.into_iter().collect()
}

/// In create mode, the first device (in import order) whose name is taken is a 409 naming it.
async fn refuse_existing_devices(
    client: &impl GenericClient,
    kind: TargetKind,
    entries: &[Entry<DeviceBody>],
) -> Result<(), ApiError> {
    if entries.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = entries.iter().map(|e| e.body.name.as_str()).collect();
    let taken: BTreeSet<String> = devices::existing_names(client, kind, &names)
        .await?
        .into_iter()
        .collect();
    match entries.iter().find(|e| taken.contains(&e.body.name)) {
        Some(entry) => Err(ApiError::conflict(format!(
            "a {} named {:?} already exists (use ?mode=upsert to replace it)",
            kind.as_str(),
            entry.body.name
        ))
        .with_field(api_credentials::field_in(&entry.origin, "name"))),
        None => Ok(()),
    }
}

/// Devices of one kind to write.
struct DeviceBatch<'a> {
    kind: TargetKind,
    entries: &'a [Entry<DeviceBody>],
    base: &'a Config,
    credential_ids: &'a BTreeMap<String, i64>,
    on_conflict: OnConflict,
}

async fn write_devices(
    client: &impl GenericClient,
    batch: &DeviceBatch<'_>,
) -> Result<Counts, ApiError> {
    let mut counts = Counts::default();
    let Some(first) = batch.entries.first() else {
        return Ok(counts);
    };
    let rows: Vec<_> = batch
        .entries
        .iter()
        .map(|e| e.body.fields(batch.base, batch.credential_ids))
        .collect();
    let bulk = BulkWrite {
        kind: batch.kind,
        rows: &rows,
        on_conflict: batch.on_conflict,
    };
    let written = devices::write_many(client, &bulk)
        .await
        .map_err(|e| raced(e, &first.origin))?;
    for device in &written {
        if device.inserted {
            counts.created += 1;
        } else {
            counts.updated += 1;
        }
    }
    Ok(counts)
}

/// A device row of the CSV format: which column holds what.
struct CsvColumns {
    index: BTreeMap<&'static str, usize>,
}

impl CsvColumns {
    fn from_header(header: &csv::StringRecord) -> Result<CsvColumns, ApiError> {
        let mut index = BTreeMap::new();
        for (i, name) in header.iter().enumerate() {
            let Some(known) = CSV_COLUMNS.iter().find(|c| **c == name) else {
                return Err(ApiError::validation(
                    "header",
                    format!(
                        "unknown CSV column {name:?} (columns: {})",
                        CSV_COLUMNS.join(",")
                    ),
                ));
            };
            if index.insert(*known, i).is_some() {
                return Err(ApiError::validation(
                    "header",
                    format!("CSV column {name:?} appears twice"),
                ));
            }
        }
        if let Some(missing) = REQUIRED_CSV_COLUMNS
            .iter()
            .find(|c| !index.contains_key(*c))
        {
            return Err(ApiError::validation(
                "header",
                format!(
                    "the CSV header has no {missing:?} column (columns: {})",
                    CSV_COLUMNS.join(",")
                ),
            ));
        }
        Ok(CsvColumns { index })
    }

    /// The cell of `column`; `None` when the column is absent or the cell empty.
    fn cell<'r>(&self, record: &'r csv::StringRecord, column: &str) -> Option<&'r str> {
        self.index
            .get(column)
            .and_then(|i| record.get(*i))
            .filter(|cell| !cell.is_empty())
    }

    fn device(
        &self,
        record: &csv::StringRecord,
        origin: &str,
    ) -> Result<(TargetKind, DeviceBody), ApiError> {
        let field = |name: &str| api_credentials::field_in(origin, name);
        let kind = match self.cell(record, "kind") {
            Some("router") => TargetKind::Router,
            Some("server") => TargetKind::Server,
            other => {
                return Err(ApiError::validation(
                    field("kind"),
                    format!(
                        "{:?} is not a kind (use router or server)",
                        other.unwrap_or_default()
                    ),
                ))
            }
        };
        let text = |name: &str| self.cell(record, name).map(str::to_string);
        let modules = self
            .cell(record, "modules")
            .unwrap_or_default()
            .split(';')
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .map(str::to_string)
            .collect();
        let labels = parse_labels(self.cell(record, "labels").unwrap_or_default())
            .map_err(|m| ApiError::validation(field("labels"), m))?;
        let body = DeviceBody {
            name: text("name").unwrap_or_default(),
            address: text("address").unwrap_or_default(),
            credential: text("credential"),
            modules,
            labels,
            interval: text("interval"),
            timeout: text("timeout"),
            host_key: text("host_key"),
        };
        Ok((kind, body))
    }
}

/// `site=ams1;role=core` (names and values trimmed; a value cannot hold `;`).
fn parse_labels(cell: &str) -> Result<BTreeMap<String, String>, String> {
    let mut labels = BTreeMap::new();
    for pair in cell.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').ok_or_else(|| {
            format!("{pair:?} is not name=value (labels are name=value;name=value)")
        })?;
        let name = name.trim();
        if labels
            .insert(name.to_string(), value.trim().to_string())
            .is_some()
        {
            return Err(format!("label {name:?} is given twice"));
        }
    }
    Ok(labels)
}

fn format_labels(labels: &BTreeMap<String, String>) -> String {
    labels
        .iter()
        .map(|(n, v)| format!("{n}={v}"))
        .collect::<Vec<_>>()
        .join(";")
}

/// Reads the CSV format. Rows are numbered from 1 after the header: `rows[1]` is the first
/// device.
fn parse_csv(bytes: &[u8]) -> Result<Import, ApiError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(bytes);
    let header = reader
        .headers()
        .map_err(|e| ApiError::validation("header", format!("cannot read the CSV header: {e}")))?
        .clone();
    let columns = CsvColumns::from_header(&header)?;
    let mut import = Import::default();
    for (i, record) in reader.records().enumerate() {
        let origin = format!("rows[{}]", i + 1);
        let record = record.map_err(|e| ApiError::validation(origin.clone(), e.to_string()))?;
        // PostgreSQL cannot store U+0000: refused here rather than failing the write.
        if let Some(column) = record
            .iter()
            .position(|cell| cell.contains('\0'))
            .and_then(|i| header.get(i))
        {
            return Err(ApiError::validation(
                api_credentials::field_in(&origin, column),
                super::extract::NUL_MESSAGE,
            ));
        }
        let (kind, body) = columns.device(&record, &origin)?;
        let entry = Entry { body, origin };
        match kind {
            TargetKind::Server => import.servers.push(entry),
            _ => import.routers.push(entry),
        }
    }
    Ok(import)
}

async fn export(
    State(state): State<ApiState>,
    RawQuery(query): RawQuery,
) -> Result<Response, ApiError> {
    let params = QueryParams::parse(query.as_deref(), &["format", "kind"])?;
    let csv = params
        .choice("format", &[("json", false), ("csv", true)])?
        .unwrap_or(false);
    let kind = params.choice(
        "kind",
        &[
            ("router", TargetKind::Router),
            ("server", TargetKind::Server),
        ],
    )?;
    let store = state.store()?;
    let client = store.client().await?;
    let records = devices::all(&client, kind).await?;
    let of_kind = |kind: TargetKind| -> Vec<DeviceBody> {
        records
            .iter()
            .filter(|r| r.kind == kind)
            .map(DeviceBody::from_record)
            .collect()
    };
    let routers = of_kind(TargetKind::Router);
    let servers = of_kind(TargetKind::Server);
    if csv {
        let text = write_csv(&[
            (TargetKind::Router, &routers),
            (TargetKind::Server, &servers),
        ])?;
        let headers = [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"ispmonitor-inventory.csv\"",
            ),
        ];
        return Ok((headers, text).into_response());
    }
    let mut credentials_out = Vec::new();
    for record in credentials::all(&client).await? {
        credentials_out.push(api_credentials::export_body(store, &record)?);
    }
    let document = InventoryDocument {
        credentials: credentials_out,
        routers,
        servers,
    };
    let disposition = [(
        header::CONTENT_DISPOSITION,
        "attachment; filename=\"ispmonitor-inventory.json\"",
    )];
    Ok((disposition, Json(document)).into_response())
}

fn write_csv(groups: &[(TargetKind, &Vec<DeviceBody>)]) -> Result<Vec<u8>, ApiError> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer
        .write_record(CSV_COLUMNS)
        .map_err(ApiError::internal)?;
    for (kind, bodies) in groups {
        for body in bodies.iter() {
            let modules = body.modules.join(";");
            let labels = format_labels(&body.labels);
            let cells = [
                kind.as_str(),
                &body.name,
                &body.address,
                body.credential.as_deref().unwrap_or_default(),
                &modules,
                &labels,
                body.interval.as_deref().unwrap_or_default(),
                body.timeout.as_deref().unwrap_or_default(),
                body.host_key.as_deref().unwrap_or_default(),
            ];
            writer.write_record(cells).map_err(ApiError::internal)?;
        }
    }
    writer.into_inner().map_err(ApiError::internal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_are_read_by_column_name_and_numbered_from_one() {
        let text = "name,kind,address,modules,labels\n\
                    r1,router,10.0.0.1,system;if_mib,site=ams1;role=core\n\
                    s1,server,10.0.0.2,linux,\n";
        let import = parse_csv(text.as_bytes()).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(import.routers.len(), 1);
        assert_eq!(import.servers[0].origin, "rows[2]");
        let r1 = &import.routers[0].body;
        assert_eq!(r1.modules, vec!["system", "if_mib"]);
        assert_eq!(r1.labels["role"], "core");
        assert_eq!(r1.credential, None);
    }

    #[test]
    fn csv_problems_name_the_row_or_header() {
        let bad_kind =
            "kind,name,address,modules\nrouter,r1,10.0.0.1,system\nswitch,r2,10.0.0.2,system\n";
        let err = parse_csv(bad_kind.as_bytes()).err().unwrap();
        assert_eq!(err.field.as_deref(), Some("rows[2].kind"));
        let bad_labels = "kind,name,address,modules,labels\nrouter,r1,10.0.0.1,system,site\n";
        let err = parse_csv(bad_labels.as_bytes()).err().unwrap();
        assert_eq!(err.field.as_deref(), Some("rows[1].labels"));
        let unknown = "kind,name,address,modules,colour\n";
        assert_eq!(
            parse_csv(unknown.as_bytes())
                .err()
                .unwrap()
                .field
                .as_deref(),
            Some("header")
        );
        let short = "kind,name,address,modules\nrouter,r1\n";
        assert_eq!(
            parse_csv(short.as_bytes()).err().unwrap().field.as_deref(),
            Some("rows[1]")
        );
    }

    #[test]
    fn csv_export_reads_back_the_same() {
        let body = DeviceBody {
            name: "r1".into(),
            address: "[2001:db8::1]:161".into(),
            credential: Some("v2".into()),
            modules: vec!["system".into(), "if_mib".into()],
            labels: BTreeMap::from([("site".into(), "ams, 1".into())]),
            interval: Some("30s".into()),
            timeout: None,
            host_key: None,
        };
        let routers = vec![body.clone()];
        let text = write_csv(&[(TargetKind::Router, &routers)]).unwrap();
        let import = parse_csv(&text).unwrap_or_else(|e| panic!("{e:?}"));
        assert!(import.routers[0].body == body);
    }
}
