//! `/api/v1/credentials`: SNMP and SSH credentials in the YAML field names, validated by the
//! config's own rules, secrets sealed at rest and never answered (`<field>_set: true` instead).

use std::collections::BTreeMap;

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Extension, Json};
use deadpool_postgres::GenericClient;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::auth::Caller;
use super::devices::Source;
use super::error::ApiError;
use super::extract::ApiJson;
use super::pagination::{self, Page, Paged, QueryParams};
use super::routes::{Access, Route};
use super::{timestamp, ApiState};
use crate::config::{
    self, Config, Credential, ExtraInventory, HostKeyPolicy, RawCredential, SnmpCredential, SshAuth,
};
use crate::store::audit::{self, AuditEntry};
use crate::store::credential_fields::{self, SECRET_FIELDS};
use crate::store::credentials::{self, CredentialRecord, CredentialRow};
use crate::store::tokens::Role;
use crate::store::{Store, StoreError};

const VIEWER: Access = Access::Role(Role::Viewer);
const OPERATOR: Access = Access::Role(Role::Operator);
const COLLECTION: &str = "/api/v1/credentials";
const ITEM: &str = "/api/v1/credentials/{name}";
const MAX_NAME_CHARS: usize = 128;

pub fn routes() -> Vec<Route> {
    vec![
        Route::new(Method::GET, COLLECTION, VIEWER, || get(list))
            .doc(
                "credentials",
                "List credentials (the YAML file's first), secrets masked",
            )
            .query::<CredentialListQuery>()
            .response::<Paged<CredentialView>>(),
        Route::new(Method::POST, COLLECTION, OPERATOR, || post(create))
            .doc(
                "credentials",
                "Create a credential; secrets are sealed at rest",
            )
            .request::<CredentialBody>()
            .response::<CredentialView>()
            .success(StatusCode::CREATED),
        Route::new(Method::GET, ITEM, VIEWER, || get(show))
            .doc("credentials", "One credential, secrets masked")
            .response::<CredentialView>(),
        Route::new(Method::PUT, ITEM, OPERATOR, || put(replace))
            .doc(
                "credentials",
                "Replace a credential (`<secret>_set: true` keeps a stored secret)",
            )
            .request::<CredentialBody>()
            .response::<CredentialView>(),
        Route::new(Method::DELETE, ITEM, OPERATOR, || delete(remove))
            .doc("credentials", "Delete a credential no device uses")
            .success(StatusCode::NO_CONTENT),
    ]
}

/// `GET /api/v1/credentials` parameters.
#[derive(schemars::JsonSchema)]
#[allow(dead_code)]
pub struct CredentialListQuery {
    /// 1 to 1000, default 100.
    limit: Option<u64>,
    offset: Option<u64>,
}

/// An SNMP version: `"1"`, `"2c"`, `"3"`, or the numbers 1 and 3.
#[derive(Clone, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum SnmpVersion {
    Text(String),
    Number(u64),
}

/// A credential as the YAML file's `credentials:` entry spells it, plus its `name`. Secrets
/// are given inline (`*_file` fields are refused: files live on the poller's disk).
/// `<secret>_set: true` keeps the secret already stored (PUT, import in upsert mode); export
/// writes it in place of each secret. No `Debug`: it holds secrets.
#[derive(Clone, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CredentialBody {
    pub name: String,
    /// `snmp`, `ssh` or `routeros`.
    #[serde(rename = "type")]
    pub credential_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<SnmpVersion>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub community: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_level: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_protocol: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_password: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priv_protocol: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priv_password: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_extension: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passphrase: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub known_hosts_file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accept_new_host_keys: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_key: Option<String>,
    /// RouterOS: API-SSL instead of the plain API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<bool>,
    /// RouterOS: a PEM file on the poller's disk (CAs, or the router's self-signed certificate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insecure_skip_verify: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub community_set: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_password_set: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priv_password_set: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_key_set: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passphrase_set: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_set: Option<bool>,
    // Accepted only to be refused with a message that says why.
    #[serde(default, skip_serializing)]
    #[schemars(skip)]
    pub community_file: Option<Value>,
    #[serde(default, skip_serializing)]
    #[schemars(skip)]
    pub auth_password_file: Option<Value>,
    #[serde(default, skip_serializing)]
    #[schemars(skip)]
    pub priv_password_file: Option<Value>,
    #[serde(default, skip_serializing)]
    #[schemars(skip)]
    pub private_key_file: Option<Value>,
    #[serde(default, skip_serializing)]
    #[schemars(skip)]
    pub passphrase_file: Option<Value>,
    #[serde(default, skip_serializing)]
    #[schemars(skip)]
    pub password_file: Option<Value>,
    #[serde(default, skip_serializing)]
    #[schemars(skip)]
    pub host_key_file: Option<Value>,
}

/// A credential as answered: its clear fields and `<secret>_set: true` for each secret set.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct CredentialView {
    pub name: String,
    #[serde(rename = "type")]
    pub credential_type: String,
    pub source: Source,
    /// The non-secret YAML fields (`version`, `username`, `auth_protocol`...) and
    /// `<secret>_set: true` for each secret that is set.
    #[serde(flatten)]
    pub fields: Map<String, Value>,
    /// `null` for the YAML file's credentials.
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

/// A credential's fields ready to store: the clear params and the secrets (not sealed yet).
pub struct Prepared {
    pub credential_type: String,
    pub params: Map<String, Value>,
    pub secrets: Map<String, Value>,
}

/// Names a field of the request: `community` for a single body, `credentials[2].community` in
/// an import (`origin` is then `credentials[2]`).
pub fn field_in(origin: &str, field: &str) -> String {
    match (origin.is_empty(), field.is_empty()) {
        (true, true) => "body".to_string(),
        (true, false) => field.to_string(),
        (false, true) => origin.to_string(),
        (false, false) => format!("{origin}.{field}"),
    }
}

/// serde quotes some bad values in its messages: for a secret field, say only what is wrong.
pub fn mask_secret_error(mut error: ApiError) -> ApiError {
    let last = error
        .field
        .as_deref()
        .and_then(|f| f.rsplit('.').next())
        .map(|f| f.split('[').next().unwrap_or(f).to_string());
    if let Some(field) = last.filter(|f| credential_fields::is_secret_field(f)) {
        error.message = format!("{field} must be a string (the value is not shown)");
    }
    error
}

/// Credential names end up in URLs, audit entries and as the sealing context.
pub fn check_name(name: &str) -> Result<(), String> {
    let plain = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'));
    if name.is_empty() || name.len() > MAX_NAME_CHARS || !plain {
        return Err(format!(
            "{:?} is not a credential name (1 to {MAX_NAME_CHARS} letters, digits, _ . : -)",
            name.chars().take(MAX_NAME_CHARS + 8).collect::<String>()
        ));
    }
    Ok(())
}

impl CredentialBody {
    /// The `*_file` field set, if any: the API refuses them.
    fn file_field(&self) -> Option<&'static str> {
        [
            ("community_file", self.community_file.is_some()),
            ("auth_password_file", self.auth_password_file.is_some()),
            ("priv_password_file", self.priv_password_file.is_some()),
            ("private_key_file", self.private_key_file.is_some()),
            ("passphrase_file", self.passphrase_file.is_some()),
            ("password_file", self.password_file.is_some()),
            ("host_key_file", self.host_key_file.is_some()),
        ]
        .into_iter()
        .find(|(_, set)| *set)
        .map(|(name, _)| name)
    }

    /// The YAML fields (without name and type; `version` as text) and the secrets to keep.
    fn yaml_fields(&self) -> Result<(Map<String, Value>, Vec<String>), ApiError> {
        let Value::Object(mut fields) = serde_json::to_value(self).map_err(ApiError::internal)?
        else {
            return Err(ApiError::internal("a credential body is not a JSON object"));
        };
        fields.remove("name");
        fields.remove("type");
        if let Some(Value::Number(n)) = fields.get("version") {
            let text = n.to_string();
            fields.insert("version".into(), Value::String(text));
        }
        let mut keep = Vec::new();
        for secret in SECRET_FIELDS {
            if fields.remove(&format!("{secret}_set")) == Some(Value::Bool(true)) {
                keep.push(secret.to_string());
            }
        }
        Ok((fields, keep))
    }
}

/// Checks a credential body against the config's rules. `stored` holds the secrets already
/// stored under this name (PUT, upsert), which `<secret>_set: true` keeps. `origin` names the
/// body in errors.
pub fn prepare(
    base: &Config,
    body: &CredentialBody,
    stored: Option<&Map<String, Value>>,
    origin: &str,
) -> Result<Prepared, ApiError> {
    check_name(&body.name).map_err(|m| ApiError::validation(field_in(origin, "name"), m))?;
    if let Some(field) = body.file_field() {
        let inline = field.trim_end_matches("_file");
        return Err(ApiError::validation(
            field_in(origin, field),
            format!(
                "{field} is not accepted by the API: files live on the poller's disk; \
                 send the value inline as {inline}"
            ),
        ));
    }
    let (fields, keep) = body.yaml_fields()?;
    let (params, mut secrets) = credential_fields::split(fields);
    for secret in keep {
        let marker = field_in(origin, &format!("{secret}_set"));
        if secrets.contains_key(&secret) {
            return Err(ApiError::validation(
                marker,
                format!("{secret} and {secret}_set are both given; send one"),
            ));
        }
        let value = stored
            .and_then(|s| s.get(&secret))
            .ok_or_else(|| {
                ApiError::validation(
                    marker,
                    format!("there is no stored {secret} to keep: send {secret} itself"),
                )
            })?
            .clone();
        secrets.insert(secret, value);
    }
    let prepared = Prepared {
        credential_type: body.credential_type.clone(),
        params,
        secrets,
    };
    validate(base, &body.name, &prepared, origin)?;
    Ok(prepared)
}

/// Runs the config validator on one credential; the first problem becomes a 422.
fn validate(base: &Config, name: &str, prepared: &Prepared, origin: &str) -> Result<(), ApiError> {
    let raw = credential_fields::to_raw(
        &prepared.credential_type,
        &prepared.params,
        &prepared.secrets,
    )
    .map_err(|m| ApiError::validation(field_in(origin, ""), m))?;
    let credentials = BTreeMap::from([(name.to_string(), raw)]);
    let checked = config::validate_extra(
        base,
        &ExtraInventory {
            credentials: &credentials,
            targets: &[],
        },
    );
    let Some(problem) = checked.problems.first() else {
        return Ok(());
    };
    let prefix = format!("credentials.{name}");
    let rest = problem.path.strip_prefix(&prefix).unwrap_or_default();
    let field = rest.strip_prefix('.').unwrap_or(rest);
    Err(ApiError::validation(
        field_in(origin, field),
        problem.message.clone(),
    ))
}

/// Opens a stored credential's secrets (an empty map when it has none, without needing the key).
pub fn open_secrets(
    store: &Store,
    record: &CredentialRecord,
) -> Result<Map<String, Value>, ApiError> {
    if record.secrets.is_none() {
        return Ok(Map::new());
    }
    let key = store.secret_key()?;
    Ok(credential_fields::open(
        key,
        &record.name,
        record.secrets.as_deref(),
    )?)
}

/// A stored credential in its YAML shape, for validating the devices that use it.
pub fn open_raw(store: &Store, record: &CredentialRecord) -> Result<RawCredential, ApiError> {
    let secrets = open_secrets(store, record)?;
    credential_fields::to_raw(&record.credential_type, &record.params, &secrets).map_err(|e| {
        ApiError::internal(format!(
            "stored credential {:?} does not read back: {e}",
            record.name
        ))
    })
}

/// Seals `secrets` under `name`; no key is needed when there are none.
pub fn seal(
    store: &Store,
    name: &str,
    secrets: &Map<String, Value>,
) -> Result<Option<Vec<u8>>, ApiError> {
    if secrets.is_empty() {
        return Ok(None);
    }
    Ok(credential_fields::seal(store.secret_key()?, name, secrets))
}

/// The database credentials devices refer to, by name, opened to their YAML shape, with their
/// ids. Names of the YAML file's credentials are skipped (the file's win) and unknown names
/// left for the validator to report.
pub struct DatabaseCredentials {
    pub raw: BTreeMap<String, RawCredential>,
    pub ids: BTreeMap<String, i64>,
}

pub async fn database_credentials(
    client: &impl GenericClient,
    store: &Store,
    base: &Config,
    names: &[String],
) -> Result<DatabaseCredentials, ApiError> {
    let wanted: Vec<String> = names
        .iter()
        .filter(|n| !base.credentials.contains_key(*n))
        .cloned()
        .collect();
    let mut found = DatabaseCredentials {
        raw: BTreeMap::new(),
        ids: BTreeMap::new(),
    };
    if wanted.is_empty() {
        return Ok(found);
    }
    for record in credentials::by_names(client, &wanted).await? {
        found
            .raw
            .insert(record.name.clone(), open_raw(store, &record)?);
        found.ids.insert(record.name.clone(), record.id);
    }
    Ok(found)
}

/// The view of a stored credential (its secrets opened only to list their names).
pub fn database_view(store: &Store, record: &CredentialRecord) -> Result<CredentialView, ApiError> {
    let secrets = open_secrets(store, record)?;
    Ok(CredentialView {
        name: record.name.clone(),
        credential_type: record.credential_type.clone(),
        source: Source::Database,
        fields: credential_fields::masked(&record.params, secrets.keys().cloned()),
        created_at: Some(timestamp(record.created_at)),
        updated_at: Some(timestamp(record.updated_at)),
    })
}

/// A stored credential in the import format, each secret replaced by `<secret>_set: true`.
pub fn export_body(store: &Store, record: &CredentialRecord) -> Result<CredentialBody, ApiError> {
    let view = database_view(store, record)?;
    let mut fields = view.fields;
    fields.insert("name".into(), Value::String(record.name.clone()));
    fields.insert("type".into(), Value::String(record.credential_type.clone()));
    serde_json::from_value(Value::Object(fields)).map_err(|e| {
        ApiError::internal(format!(
            "stored credential {:?} does not export: {e}",
            record.name
        ))
    })
}

/// The view of one of the YAML file's credentials, rebuilt from the validated model.
pub fn file_view(name: &str, credential: &Credential) -> CredentialView {
    let mut fields = Map::new();
    let mut set = |field: &str, value: Value| {
        fields.insert(field.to_string(), value);
    };
    let credential_type = match credential {
        Credential::Snmp(snmp) => {
            snmp_fields(snmp, &mut set);
            "snmp"
        }
        Credential::Ssh(ssh) => {
            set("username", Value::String(ssh.username.clone()));
            match &ssh.auth {
                SshAuth::PrivateKey { passphrase, .. } => {
                    set("private_key_set", Value::Bool(true));
                    if passphrase.is_some() {
                        set("passphrase_set", Value::Bool(true));
                    }
                }
                SshAuth::Password(_) => set("password_set", Value::Bool(true)),
                SshAuth::Agent => set("agent", Value::Bool(true)),
            }
            match &ssh.host_key {
                HostKeyPolicy::KnownHosts { file, accept_new } => {
                    set(
                        "known_hosts_file",
                        Value::String(file.display().to_string()),
                    );
                    set("accept_new_host_keys", Value::Bool(*accept_new));
                }
                HostKeyPolicy::Pinned(key) => set("host_key", Value::String(key.clone())),
            }
            "ssh"
        }
        Credential::RouterOs(routeros) => {
            set("username", Value::String(routeros.username.clone()));
            set("password_set", Value::Bool(true));
            set("tls", Value::Bool(routeros.tls.is_some()));
            if let Some(tls) = &routeros.tls {
                if let Some(name) = &tls.server_name {
                    set("server_name", Value::String(name.clone()));
                }
                if tls.insecure_skip_verify {
                    set("insecure_skip_verify", Value::Bool(true));
                }
            }
            "routeros"
        }
    };
    CredentialView {
        name: name.to_string(),
        credential_type: credential_type.to_string(),
        source: Source::File,
        fields,
        created_at: None,
        updated_at: None,
    }
}

fn snmp_fields(snmp: &SnmpCredential, set: &mut impl FnMut(&str, Value)) {
    let text = |s: &str| Value::String(s.to_string());
    let v3 = match snmp {
        SnmpCredential::V1 { .. } | SnmpCredential::V2c { .. } => {
            let version = if matches!(snmp, SnmpCredential::V1 { .. }) {
                "1"
            } else {
                "2c"
            };
            set("version", text(version));
            set("community_set", Value::Bool(true));
            return;
        }
        SnmpCredential::V3(v3) => v3,
    };
    set("version", text("3"));
    set("username", text(&v3.username));
    set("security_level", text(v3.security_level.config_name()));
    if let Some((protocol, _)) = &v3.auth {
        set("auth_protocol", text(protocol.config_name()));
        set("auth_password_set", Value::Bool(true));
    }
    if let Some((protocol, _)) = &v3.privacy {
        set("priv_protocol", text(protocol.config_name()));
        set("priv_password_set", Value::Bool(true));
    }
    if let Some(extension) = v3.key_extension {
        set("key_extension", text(extension.config_name()));
    }
    if !v3.context_name.is_empty() {
        set("context_name", text(&v3.context_name));
    }
}

/// 409 for a name the YAML file already uses.
pub fn refuse_file_name(base: &Config, name: &str, field: String) -> Result<(), ApiError> {
    if base.credentials.contains_key(name) {
        return Err(ApiError::conflict(format!(
            "a credential named {name:?} is defined in the config file; choose another name"
        ))
        .with_field(field));
    }
    Ok(())
}

fn duplicate(error: StoreError, name: &str, field: String) -> ApiError {
    match error {
        StoreError::Duplicate { .. } => {
            ApiError::conflict(format!("a credential named {name:?} already exists"))
                .with_field(field)
        }
        other => other.into(),
    }
}

fn to_json(view: &CredentialView) -> Result<Value, ApiError> {
    serde_json::to_value(view).map_err(ApiError::internal)
}

async fn list(
    State(state): State<ApiState>,
    RawQuery(query): RawQuery,
) -> Result<Json<Paged<CredentialView>>, ApiError> {
    let params = QueryParams::parse(query.as_deref(), &["limit", "offset"])?;
    let page = Page::from_params(&params)?;
    let base = state.current_config();
    let file: Vec<CredentialView> = base
        .credentials
        .iter()
        .map(|(name, credential)| file_view(name, credential))
        .collect();
    let split = pagination::split(page, file.len());
    let mut items: Vec<CredentialView> = file
        .into_iter()
        .skip(split.file.start)
        .take(split.file.len())
        .collect();
    let mut total = base.credentials.len() as u64;
    if let Some(store) = &state.store {
        let client = store.client().await?;
        // Invariant: Page caps both below i64::MAX.
        let (records, db_total) =
            credentials::list(&client, split.db_limit as i64, split.db_offset as i64).await?;
        for record in &records {
            items.push(database_view(store, record)?);
        }
        total += db_total as u64;
    }
    Ok(Json(Paged {
        items,
        total,
        limit: page.limit,
        offset: page.offset,
    }))
}

async fn show(
    State(state): State<ApiState>,
    Path(name): Path<String>,
) -> Result<Json<CredentialView>, ApiError> {
    let base = state.current_config();
    if let Some(credential) = base.credentials.get(&name) {
        return Ok(Json(file_view(&name, credential)));
    }
    let not_found = || ApiError::not_found(format!("no credential named {name:?}"));
    let store = state.store.as_ref().ok_or_else(not_found)?;
    let client = store.client().await?;
    let record = credentials::get(&client, &name, false)
        .await?
        .ok_or_else(not_found)?;
    Ok(Json(database_view(store, &record)?))
}

async fn create(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    body: Result<ApiJson<CredentialBody>, ApiError>,
) -> Result<Response, ApiError> {
    let store = state.store()?;
    let ApiJson(body) = body.map_err(mask_secret_error)?;
    let base = state.current_config();
    refuse_file_name(&base, &body.name, "name".into())?;
    let prepared = prepare(&base, &body, None, "")?;
    let sealed = seal(store, &body.name, &prepared.secrets)?;
    let mut client = store.client().await?;
    let tx = client.transaction().await?;
    let row = CredentialRow {
        name: &body.name,
        credential_type: &prepared.credential_type,
        params: &prepared.params,
        secrets: sealed.as_deref(),
    };
    let record = credentials::insert(&tx, &row)
        .await
        .map_err(|e| duplicate(e, &body.name, "name".into()))?;
    let view = database_view(store, &record)?;
    let entry = AuditEntry {
        actor: &caller.actor,
        action: "create",
        kind: "credential",
        target: Some(&body.name),
        before: None,
        after: Some(to_json(&view)?),
    };
    audit::record(&tx, &entry).await?;
    tx.commit().await?;
    let location = format!("{COLLECTION}/{}", body.name);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(view),
    )
        .into_response())
}

async fn replace(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    body: Result<ApiJson<CredentialBody>, ApiError>,
) -> Result<Json<CredentialView>, ApiError> {
    let store = state.store()?;
    let ApiJson(body) = body.map_err(mask_secret_error)?;
    let base = state.current_config();
    refuse_file_credential(&base, &name)?;
    refuse_file_name(&base, &body.name, "name".into())?;
    let mut client = store.client().await?;
    let tx = client.transaction().await?;
    let existing = credentials::get(&tx, &name, true)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no credential named {name:?}")))?;
    let stored = open_secrets(store, &existing)?;
    let prepared = prepare(&base, &body, Some(&stored), "")?;
    if prepared.credential_type != existing.credential_type {
        refuse_type_change(&tx, &existing, "type".into()).await?;
    }
    let sealed = seal(store, &body.name, &prepared.secrets)?;
    let row = CredentialRow {
        name: &body.name,
        credential_type: &prepared.credential_type,
        params: &prepared.params,
        secrets: sealed.as_deref(),
    };
    let before = database_view(store, &existing)?;
    let record = credentials::update(&tx, existing.id, &row)
        .await
        .map_err(|e| duplicate(e, &body.name, "name".into()))?;
    let after = database_view(store, &record)?;
    let entry = AuditEntry {
        actor: &caller.actor,
        action: "update",
        kind: "credential",
        target: Some(&name),
        before: Some(to_json(&before)?),
        after: Some(to_json(&after)?),
    };
    audit::record(&tx, &entry).await?;
    tx.commit().await?;
    Ok(Json(after))
}

/// Devices check their credential's protocol against their modules: a credential in use keeps
/// its type.
pub async fn refuse_type_change(
    client: &impl GenericClient,
    existing: &CredentialRecord,
    field: String,
) -> Result<(), ApiError> {
    let users = credentials::count_users(client, existing.id).await?;
    if users > 0 {
        return Err(ApiError::conflict(format!(
            "credential {:?} is used by {users} device(s), whose modules need a {} credential; \
             its type cannot change",
            existing.name, existing.credential_type
        ))
        .with_field(field));
    }
    Ok(())
}

fn refuse_file_credential(base: &Config, name: &str) -> Result<(), ApiError> {
    if base.credentials.contains_key(name) {
        return Err(ApiError::conflict(format!(
            "credential {name:?} is defined in the config file; change it there"
        )));
    }
    Ok(())
}

async fn remove(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    let store = state.store()?;
    refuse_file_credential(&state.current_config(), &name)?;
    let mut client = store.client().await?;
    let tx = client.transaction().await?;
    let existing = credentials::get(&tx, &name, true)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no credential named {name:?}")))?;
    let users = credentials::count_users(&tx, existing.id).await?;
    if users > 0 {
        return Err(ApiError::conflict(format!(
            "credential {name:?} is used by {users} device(s); move them to another credential first"
        )));
    }
    let before = database_view(store, &existing)?;
    credentials::delete(&tx, existing.id).await?;
    let entry = AuditEntry {
        actor: &caller.actor,
        action: "delete",
        kind: "credential",
        target: Some(&name),
        before: Some(to_json(&before)?),
        after: None,
    };
    audit::record(&tx, &entry).await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn base() -> Config {
        config::load_str("targets: []\n", std::path::Path::new(".")).unwrap()
    }

    fn body(value: Value) -> CredentialBody {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn a_body_splits_into_params_and_secrets_with_a_numeric_version() {
        let prepared = prepare(
            &base(),
            &body(json!({"name": "v2", "type": "snmp", "version": 2, "community": "s3cret"})),
            None,
            "",
        );
        let err = prepared.err().unwrap();
        assert_eq!(err.field.as_deref(), Some("version"), "{}", err.message);
        let prepared = prepare(
            &base(),
            &body(
                json!({"name": "v3", "type": "snmp", "version": 3, "username": "mon",
                "security_level": "authPriv", "auth_protocol": "SHA", "auth_password": "authpass1",
                "priv_protocol": "AES", "priv_password": "privpass1"}),
            ),
            None,
            "",
        )
        .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(prepared.params["version"], json!("3"));
        assert_eq!(prepared.secrets.len(), 2);
        assert!(!Value::Object(prepared.params)
            .to_string()
            .contains("authpass1"));
    }

    #[test]
    fn file_fields_and_bad_values_name_their_field() {
        let err = prepare(
            &base(),
            &body(json!({"name": "c", "type": "snmp", "version": "2c", "community_file": "/x"})),
            None,
            "credentials[4]",
        )
        .err()
        .unwrap();
        assert_eq!(err.field.as_deref(), Some("credentials[4].community_file"));
        assert!(
            err.message.contains("inline as community"),
            "{}",
            err.message
        );
        let err = prepare(
            &base(),
            &body(
                json!({"name": "c", "type": "snmp", "version": "3", "username": "u",
                "security_level": "authNoPriv", "auth_protocol": "SHA", "auth_password": "short"}),
            ),
            None,
            "",
        )
        .err()
        .unwrap();
        assert_eq!(err.field.as_deref(), Some("auth_password"));
        assert!(!err.message.contains("pw7x"), "{}", err.message);
    }

    #[test]
    fn set_markers_keep_stored_secrets_only_when_there_are_some() {
        let marker =
            body(json!({"name": "c", "type": "snmp", "version": "2c", "community_set": true}));
        let err = prepare(&base(), &marker, None, "").err().unwrap();
        assert_eq!(err.field.as_deref(), Some("community_set"));
        let stored = Map::from_iter([("community".to_string(), json!("kept-value"))]);
        let prepared =
            prepare(&base(), &marker, Some(&stored), "").unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(prepared.secrets["community"], json!("kept-value"));
    }

    #[test]
    fn secret_type_errors_do_not_quote_the_value() {
        let err = crate::api::extract::parse_json::<CredentialBody>(
            br#"{"name":"c","type":"snmp","community":123456789}"#,
        )
        .err()
        .unwrap();
        let masked = mask_secret_error(err);
        assert_eq!(masked.field.as_deref(), Some("community"));
        assert!(!masked.message.contains("123456789"), "{}", masked.message);
    }

    #[test]
    fn file_credentials_are_shown_masked() {
        let base = config::load_str(
            "credentials:\n  v3: {type: snmp, version: 3, username: mon, security_level: authPriv, \
             auth_protocol: SHA256, auth_password: authpass99, priv_protocol: AES256, \
             priv_password: privpass99, key_extension: blumenthal}\ntargets: []\n",
            std::path::Path::new("."),
        )
        .unwrap();
        let view = file_view("v3", &base.credentials["v3"]);
        let text = serde_json::to_string(&view).unwrap();
        assert!(
            !text.contains("authpass99") && !text.contains("privpass99"),
            "{text}"
        );
        assert_eq!(view.fields["auth_password_set"], json!(true));
        assert_eq!(view.fields["auth_protocol"], json!("SHA256"));
        assert_eq!(view.fields["key_extension"], json!("blumenthal"));
    }
}
