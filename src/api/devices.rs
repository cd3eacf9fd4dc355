//! `/api/v1/routers`, `/api/v1/servers` and `/api/v1/devices`: the database's devices (read and
//! written) and the YAML file's targets (read only), validated with the config's own rules.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::extract::{FromRequestParts, MatchedPath, Path, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};

use super::auth::Caller;
use super::credentials::{database_credentials, field_in, DatabaseCredentials};
use super::error::ApiError;
use super::extract::ApiJson;
use super::pagination::{self, Page, Paged, QueryParams};
use super::routes::{Access, Route};
use super::{timestamp, ApiState};
use crate::config::duration::format_duration;
use crate::config::{
    self, Config, ConfigProblem, ExtraInventory, RawCredential, RawTarget, Target, TargetKind,
    TargetSource,
};
use crate::store::audit::{self, AuditEntry};
use crate::store::devices::{
    self, BulkWrite, CredentialRef, DeviceFields, DeviceFilter, DeviceRecord, OnConflict,
};
use crate::store::tokens::Role;
use crate::store::StoreError;

const VIEWER: Access = Access::Role(Role::Viewer);
const OPERATOR: Access = Access::Role(Role::Operator);
const ROUTERS: &str = "/api/v1/routers";
const ROUTER: &str = "/api/v1/routers/{name}";
const SERVERS: &str = "/api/v1/servers";
const SERVER: &str = "/api/v1/servers/{name}";
const DEVICES: &str = "/api/v1/devices";
const LIST_PARAMS: &[&str] = &[
    "limit",
    "offset",
    "label",
    "module",
    "source",
    "name_prefix",
];
const ALL_PARAMS: &[&str] = &[
    "limit",
    "offset",
    "label",
    "module",
    "source",
    "name_prefix",
    "kind",
];

/// The five routes of one device kind: its collection and its items.
struct KindRoutes {
    tag: &'static str,
    collection: &'static str,
    item: &'static str,
    list: &'static str,
    create: &'static str,
    show: &'static str,
    replace: &'static str,
    remove: &'static str,
}

const ROUTER_ROUTES: KindRoutes = KindRoutes {
    tag: "routers",
    collection: ROUTERS,
    item: ROUTER,
    list: "List routers: the config file's first, then the database's",
    create: "Create a router",
    show: "One router",
    replace: "Replace a router (database ones only)",
    remove: "Delete a router (database ones only)",
};

const SERVER_ROUTES: KindRoutes = KindRoutes {
    tag: "servers",
    collection: SERVERS,
    item: SERVER,
    list: "List servers: the config file's first, then the database's",
    create: "Create a server",
    show: "One server",
    replace: "Replace a server (database ones only)",
    remove: "Delete a server (database ones only)",
};

fn kind_routes(k: &KindRoutes) -> Vec<Route> {
    vec![
        Route::new(Method::GET, k.collection, VIEWER, || get(list))
            .doc(k.tag, k.list)
            .query::<DeviceListQuery>()
            .response::<Paged<DeviceView>>(),
        Route::new(Method::POST, k.collection, OPERATOR, || post(create))
            .doc(k.tag, k.create)
            .request::<DeviceBody>()
            .response::<DeviceView>()
            .success(StatusCode::CREATED),
        Route::new(Method::GET, k.item, VIEWER, || get(show))
            .doc(k.tag, k.show)
            .response::<DeviceView>(),
        Route::new(Method::PUT, k.item, OPERATOR, || put(replace))
            .doc(k.tag, k.replace)
            .request::<DeviceBody>()
            .response::<DeviceView>(),
        Route::new(Method::DELETE, k.item, OPERATOR, || delete(remove))
            .doc(k.tag, k.remove)
            .success(StatusCode::NO_CONTENT),
    ]
}

pub fn routes() -> Vec<Route> {
    let mut routes = kind_routes(&ROUTER_ROUTES);
    routes.extend(kind_routes(&SERVER_ROUTES));
    routes.push(
        Route::new(Method::GET, DEVICES, VIEWER, || get(list_all))
            .doc(
                "devices",
                "List devices of every kind, with the same filters",
            )
            .query::<AllDevicesQuery>()
            .response::<Paged<DeviceView>>(),
    );
    routes
}

/// Where an object is defined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// The YAML config file: read only through the API.
    File,
    Database,
}

/// A router or server as the YAML file's `targets:` entry spells it (the kind comes from the
/// route).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceBody {
    /// Letters, digits, `_ . : -`; unique per kind.
    pub name: String,
    /// IPv4, IPv6 or DNS name, with an optional port (`host:port`, `[v6]:port`).
    pub address: String,
    /// A credential of the database or of the config file; required when a module needs one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
    /// Built-in (`system`, `if_mib`, `host_resources`, `bgp4`, `icmp`, `linux`) or the config
    /// file's modules, in polling order.
    pub modules: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Overrides `global.interval` (`30s`, `1m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// SSH: the server's pinned public key (`ssh-ed25519 AAAA...`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_key: Option<String>,
}

/// A device as answered.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct DeviceView {
    /// `null` for the config file's targets.
    pub id: Option<i64>,
    /// `router`, `server` or `host`.
    pub kind: String,
    pub source: Source,
    pub name: String,
    pub address: String,
    pub credential: Option<String>,
    pub modules: Vec<String>,
    pub labels: BTreeMap<String, String>,
    /// As written; for the config file's targets, the interval in force.
    pub interval: Option<String>,
    pub timeout: Option<String>,
    pub host_key: Option<String>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

/// List parameters of `/api/v1/routers` and `/api/v1/servers`.
#[derive(schemars::JsonSchema)]
#[allow(dead_code)]
pub struct DeviceListQuery {
    /// 1 to 1000, default 100.
    limit: Option<u64>,
    offset: Option<u64>,
    /// `name=value`; repeat for several (all must match).
    label: Option<Vec<String>>,
    /// Devices polled with this module.
    module: Option<String>,
    /// `file` or `database`.
    source: Option<String>,
    name_prefix: Option<String>,
}

/// List parameters of `/api/v1/devices`.
#[derive(schemars::JsonSchema)]
#[allow(dead_code)]
pub struct AllDevicesQuery {
    #[serde(flatten)]
    common: DeviceListQuery,
    /// `router`, `server` or `host`.
    kind: Option<String>,
}

impl DeviceView {
    pub fn from_record(record: &DeviceRecord) -> DeviceView {
        DeviceView {
            id: Some(record.id),
            kind: record.kind.as_str().to_string(),
            source: Source::Database,
            name: record.name.clone(),
            address: record.address.clone(),
            credential: record.credential.clone(),
            modules: record.modules.clone(),
            labels: record.labels.clone(),
            interval: record.interval.clone(),
            timeout: record.timeout.clone(),
            host_key: record.host_key.clone(),
            created_at: Some(timestamp(record.created_at)),
            updated_at: Some(timestamp(record.updated_at)),
        }
    }

    /// A config file's target. The file's own spelling is gone after validation: interval and
    /// timeout are the values in force, and a pinned host key shows on its credential.
    pub fn from_file(target: &Target) -> DeviceView {
        DeviceView {
            id: None,
            kind: target.kind.as_str().to_string(),
            source: Source::File,
            name: target.name.clone(),
            address: target.address.clone(),
            credential: target.credential_name.clone(),
            modules: target.modules.iter().map(|m| m.name.clone()).collect(),
            labels: target.labels.clone(),
            interval: Some(format_duration(target.interval)),
            timeout: Some(format_duration(target.timeout)),
            host_key: None,
            created_at: None,
            updated_at: None,
        }
    }

    fn json(&self) -> Result<serde_json::Value, ApiError> {
        serde_json::to_value(self).map_err(ApiError::internal)
    }
}

impl DeviceBody {
    pub fn from_record(record: &DeviceRecord) -> DeviceBody {
        DeviceBody {
            name: record.name.clone(),
            address: record.address.clone(),
            credential: record.credential.clone(),
            modules: record.modules.clone(),
            labels: record.labels.clone(),
            interval: record.interval.clone(),
            timeout: record.timeout.clone(),
            host_key: record.host_key.clone(),
        }
    }

    fn raw_target(&self, kind: TargetKind) -> RawTarget {
        RawTarget {
            name: Some(self.name.clone()),
            address: Some(self.address.clone()),
            kind: Some(kind.as_str().to_string()),
            modules: Some(self.modules.clone()),
            credential: self.credential.clone(),
            interval: self.interval.clone(),
            timeout: self.timeout.clone(),
            labels: Some(self.labels.clone()),
            host_key: self.host_key.clone(),
        }
    }

    /// What is stored, the credential resolved as the validator resolved it (file first).
    pub fn fields(&self, base: &Config, ids: &BTreeMap<String, i64>) -> DeviceFields {
        let credential = match self.credential.as_deref() {
            None => CredentialRef::None,
            Some(name) if base.credentials.contains_key(name) => CredentialRef::File(name.into()),
            // Invariant: validation found the name among the file's or these credentials.
            Some(name) => ids
                .get(name)
                .map_or(CredentialRef::None, |id| CredentialRef::Database(*id)),
        };
        DeviceFields {
            name: self.name.clone(),
            address: self.address.clone(),
            credential,
            modules: self.modules.clone(),
            labels: self.labels.clone(),
            interval: self.interval.clone(),
            timeout: self.timeout.clone(),
            host_key: self.host_key.clone(),
        }
    }
}

/// One device of a request: its body, and where it sits (`""` for a single body, `routers[3]`
/// or `rows[42]` in an import) to name its fields in errors.
pub struct Candidate<'a> {
    pub body: &'a DeviceBody,
    pub origin: String,
}

/// Validates devices of one kind with the config's rules against the file's modules and
/// defaults, the file's credentials and `credentials`; the first problem becomes a 422.
pub fn check_devices(
    base: &Config,
    kind: TargetKind,
    candidates: &[Candidate<'_>],
    credentials: &BTreeMap<String, RawCredential>,
) -> Result<(), ApiError> {
    let targets: Vec<RawTarget> = candidates.iter().map(|c| c.body.raw_target(kind)).collect();
    let checked = config::validate_extra(
        base,
        &ExtraInventory {
            credentials,
            targets: &targets,
        },
    );
    for problem in &checked.problems {
        if let Some(error) = target_problem(problem, candidates) {
            return Err(error);
        }
        if let Some(error) = credential_problem(problem, candidates, credentials) {
            return Err(error);
        }
    }
    Ok(())
}

/// A problem of one of the candidates, named by its request field.
fn target_problem(problem: &ConfigProblem, candidates: &[Candidate<'_>]) -> Option<ApiError> {
    let (index, rest) = split_target_path(&problem.path);
    let candidate = candidates.get(index?)?;
    Some(ApiError::validation(
        field_in(&candidate.origin, rest),
        problem.message.clone(),
    ))
}

/// A stored credential that no longer validates (its known_hosts file went away...): the
/// validator skips the devices using it silently, so the first of them is told here.
fn credential_problem(
    problem: &ConfigProblem,
    candidates: &[Candidate<'_>],
    credentials: &BTreeMap<String, RawCredential>,
) -> Option<ApiError> {
    let rest = problem.path.strip_prefix("credentials.")?;
    let name = credentials
        .keys()
        .find(|name| rest == name.as_str() || rest.starts_with(&format!("{name}.")))?;
    let user = candidates
        .iter()
        .find(|c| c.body.credential.as_ref() == Some(name))?;
    Some(ApiError::validation(
        field_in(&user.origin, "credential"),
        format!("credential {name:?} cannot be used: {problem}"),
    ))
}

/// `targets[12].modules[0]` → `(Some(12), "modules[0]")`.
fn split_target_path(path: &str) -> (Option<usize>, &str) {
    let Some(rest) = path.strip_prefix("targets[") else {
        return (None, path);
    };
    let Some((index, rest)) = rest.split_once(']') else {
        return (None, path);
    };
    (index.parse().ok(), rest.strip_prefix('.').unwrap_or(rest))
}

/// The config file's target of `kind` named `name`.
pub fn file_target<'a>(base: &'a Config, kind: TargetKind, name: &str) -> Option<&'a Arc<Target>> {
    base.targets
        .iter()
        .find(|t| t.kind == kind && t.name == name)
}

/// 409 for a name a config file target has, whatever its kind: the name is the poller's
/// `target` label, so it must be unique across kinds.
pub fn refuse_file_name(base: &Config, name: &str, field: String) -> Result<(), ApiError> {
    if let Some(target) = base.targets.iter().find(|t| t.name == name) {
        return Err(ApiError::conflict(format!(
            "a {} named {name:?} is defined in the config file; choose another name",
            target.kind.as_str()
        ))
        .with_field(field));
    }
    Ok(())
}

/// The device a `/{name}` route addresses: its kind (from the route template) and its name.
struct DevicePath {
    kind: TargetKind,
    name: String,
}

impl<S: Send + Sync> FromRequestParts<S> for DevicePath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let kind = parts
            .extensions
            .get::<MatchedPath>()
            .map_or(TargetKind::Router, kind_of);
        let Path(name) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|rejection| ApiError::bad_request(rejection.body_text()))?;
        Ok(DevicePath { kind, name })
    }
}

/// The kind a route serves, from its path template.
fn kind_of(path: &MatchedPath) -> TargetKind {
    if path.as_str().starts_with(SERVERS) {
        TargetKind::Server
    } else {
        TargetKind::Router
    }
}

fn plural(kind: TargetKind) -> &'static str {
    match kind {
        TargetKind::Router => "routers",
        TargetKind::Server => "servers",
        TargetKind::Host => "hosts",
    }
}

/// What a list asks for.
struct Listing {
    page: Page,
    kind: Option<TargetKind>,
    labels: Vec<(String, String)>,
    module: Option<String>,
    name_prefix: Option<String>,
    source: Option<Source>,
}

impl Listing {
    fn from_params(params: &QueryParams, kind: Option<TargetKind>) -> Result<Listing, ApiError> {
        let kind = match kind {
            Some(kind) => Some(kind),
            None => params.choice(
                "kind",
                &[
                    ("router", TargetKind::Router),
                    ("server", TargetKind::Server),
                    ("host", TargetKind::Host),
                ],
            )?,
        };
        let mut labels = BTreeSet::new();
        for pair in params.all("label") {
            let (name, value) = pair.split_once('=').ok_or_else(|| {
                ApiError::validation("label", format!("{pair:?} is not name=value"))
            })?;
            labels.insert((name.to_string(), value.to_string()));
        }
        Ok(Listing {
            page: Page::from_params(params)?,
            kind,
            labels: labels.into_iter().collect(),
            module: params.one("module")?.map(str::to_string),
            name_prefix: params.one("name_prefix")?.map(str::to_string),
            source: params.choice(
                "source",
                &[("file", Source::File), ("database", Source::Database)],
            )?,
        })
    }

    fn matches_file(&self, target: &Target) -> bool {
        self.kind.is_none_or(|k| k == target.kind)
            && self
                .labels
                .iter()
                .all(|(n, v)| target.labels.get(n) == Some(v))
            && self
                .module
                .as_deref()
                .is_none_or(|m| target.modules.iter().any(|module| module.name == m))
            && self
                .name_prefix
                .as_deref()
                .is_none_or(|p| target.name.starts_with(p))
    }
}

async fn list(
    State(state): State<ApiState>,
    path: MatchedPath,
    RawQuery(query): RawQuery,
) -> Result<Json<Paged<DeviceView>>, ApiError> {
    let params = QueryParams::parse(query.as_deref(), LIST_PARAMS)?;
    let listing = Listing::from_params(&params, Some(kind_of(&path)))?;
    list_devices(&state, &listing).await.map(Json)
}

async fn list_all(
    State(state): State<ApiState>,
    RawQuery(query): RawQuery,
) -> Result<Json<Paged<DeviceView>>, ApiError> {
    let params = QueryParams::parse(query.as_deref(), ALL_PARAMS)?;
    let listing = Listing::from_params(&params, None)?;
    list_devices(&state, &listing).await.map(Json)
}

/// The config file's matching targets (by name), then the database's; one page of both.
async fn list_devices(state: &ApiState, listing: &Listing) -> Result<Paged<DeviceView>, ApiError> {
    let base = state.current_config();
    let mut file: Vec<&Arc<Target>> = if listing.source == Some(Source::Database) {
        Vec::new()
    } else {
        base.targets
            .iter()
            .filter(|t| t.source == TargetSource::File && listing.matches_file(t))
            .collect()
    };
    file.sort_by(|a, b| (&a.name, a.kind).cmp(&(&b.name, b.kind)));
    let split = pagination::split(listing.page, file.len());
    let mut items: Vec<DeviceView> = file[split.file.clone()]
        .iter()
        .map(|t| DeviceView::from_file(t))
        .collect();
    let mut total = file.len() as u64;
    let store = match &state.store {
        Some(store) if listing.source != Some(Source::File) => store,
        _ => return Ok(paged(items, total, listing.page)),
    };
    let filter = DeviceFilter {
        kind: listing.kind,
        labels: &listing.labels,
        module: listing.module.as_deref(),
        name_prefix: listing.name_prefix.as_deref(),
    };
    let client = store.client().await?;
    // Invariant: Page keeps both below i64::MAX.
    let (records, db_total) = devices::list(
        &client,
        &filter,
        split.db_limit as i64,
        split.db_offset as i64,
    )
    .await?;
    items.extend(records.iter().map(DeviceView::from_record));
    total += db_total as u64;
    Ok(paged(items, total, listing.page))
}

fn paged(items: Vec<DeviceView>, total: u64, page: Page) -> Paged<DeviceView> {
    Paged {
        items,
        total,
        limit: page.limit,
        offset: page.offset,
    }
}

async fn show(
    State(state): State<ApiState>,
    DevicePath { kind, name }: DevicePath,
) -> Result<Json<DeviceView>, ApiError> {
    let base = state.current_config();
    if let Some(target) = file_target(&base, kind, &name) {
        return Ok(Json(DeviceView::from_file(target)));
    }
    let not_found = || ApiError::not_found(format!("no {} named {name:?}", kind.as_str()));
    let store = state.store.as_ref().ok_or_else(not_found)?;
    let client = store.client().await?;
    let record = devices::get(&client, kind, &name, false)
        .await?
        .ok_or_else(not_found)?;
    Ok(Json(DeviceView::from_record(&record)))
}

fn duplicate(error: StoreError, kind: TargetKind, name: &str) -> ApiError {
    match error {
        StoreError::Duplicate { constraint } if constraint == "devices_name_unique" => {
            ApiError::conflict(format!(
                "a device named {name:?} already exists (names are unique across routers and servers)"
            ))
            .with_field("name")
        }
        StoreError::Duplicate { .. } => {
            ApiError::conflict(format!("a {} named {name:?} already exists", kind.as_str()))
                .with_field("name")
        }
        other => other.into(),
    }
}

/// The database credentials a device names (none when it names the file's or none).
async fn credentials_of(
    client: &impl deadpool_postgres::GenericClient,
    state: &ApiState,
    base: &Config,
    body: &DeviceBody,
) -> Result<DatabaseCredentials, ApiError> {
    let names: Vec<String> = body.credential.iter().cloned().collect();
    database_credentials(client, state.store()?, base, &names).await
}

async fn create(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    path: MatchedPath,
    ApiJson(body): ApiJson<DeviceBody>,
) -> Result<Response, ApiError> {
    let store = state.store()?;
    let kind = kind_of(&path);
    let base = state.current_config();
    refuse_file_name(&base, &body.name, "name".into())?;
    let mut client = store.client().await?;
    let tx = client.transaction().await?;
    let credentials = credentials_of(&tx, &state, &base, &body).await?;
    let candidate = Candidate {
        body: &body,
        origin: String::new(),
    };
    check_devices(&base, kind, &[candidate], &credentials.raw)?;
    let rows = [body.fields(&base, &credentials.ids)];
    let bulk = BulkWrite {
        kind,
        rows: &rows,
        on_conflict: OnConflict::Fail,
    };
    let written = devices::write_many(&tx, &bulk)
        .await
        .map_err(|e| duplicate(e, kind, &body.name))?;
    let Some(written) = written.first() else {
        return Err(ApiError::internal("an insert returned no row"));
    };
    super::license::enforce(&tx, &state, added(kind, 1)).await?;
    let record = DeviceRecord {
        id: written.id,
        kind,
        name: body.name.clone(),
        address: body.address.clone(),
        credential: body.credential.clone(),
        modules: body.modules.clone(),
        labels: body.labels.clone(),
        interval: body.interval.clone(),
        timeout: body.timeout.clone(),
        host_key: body.host_key.clone(),
        created_at: written.created_at,
        updated_at: written.updated_at,
    };
    let view = DeviceView::from_record(&record);
    let entry = AuditEntry {
        actor: &caller.actor,
        action: "create",
        kind: kind.as_str(),
        target: Some(&body.name),
        before: None,
        after: Some(view.json()?),
    };
    audit::record(&tx, &entry).await?;
    tx.commit().await?;
    state.license.wake();
    let location = format!("/api/v1/{}/{}", plural(kind), body.name);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(view),
    )
        .into_response())
}

/// `n` new devices of `kind`, as license limits count them (hosts are not limited).
pub fn added(kind: TargetKind, n: usize) -> super::license::Added {
    let n = n as u64;
    match kind {
        TargetKind::Router => super::license::Added {
            routers: n,
            ..Default::default()
        },
        TargetKind::Server => super::license::Added {
            servers: n,
            ..Default::default()
        },
        TargetKind::Host => Default::default(),
    }
}

/// 409 for a config file target: the API does not write the file.
fn refuse_file_target(base: &Config, kind: TargetKind, name: &str) -> Result<(), ApiError> {
    if file_target(base, kind, name).is_some() {
        return Err(ApiError::conflict(format!(
            "{} {name:?} is defined in the config file; change it there",
            kind.as_str()
        )));
    }
    Ok(())
}

async fn replace(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    DevicePath { kind, name }: DevicePath,
    ApiJson(body): ApiJson<DeviceBody>,
) -> Result<Json<DeviceView>, ApiError> {
    let store = state.store()?;
    let base = state.current_config();
    refuse_file_target(&base, kind, &name)?;
    refuse_file_name(&base, &body.name, "name".into())?;
    let mut client = store.client().await?;
    let tx = client.transaction().await?;
    let existing = devices::get(&tx, kind, &name, true)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no {} named {name:?}", kind.as_str())))?;
    let credentials = credentials_of(&tx, &state, &base, &body).await?;
    let candidate = Candidate {
        body: &body,
        origin: String::new(),
    };
    check_devices(&base, kind, &[candidate], &credentials.raw)?;
    let fields = body.fields(&base, &credentials.ids);
    let (created_at, updated_at) = devices::update(&tx, existing.id, &fields)
        .await
        .map_err(|e| duplicate(e, kind, &body.name))?;
    let after = DeviceRecord {
        name: body.name.clone(),
        address: body.address.clone(),
        credential: body.credential.clone(),
        modules: body.modules.clone(),
        labels: body.labels.clone(),
        interval: body.interval.clone(),
        timeout: body.timeout.clone(),
        host_key: body.host_key.clone(),
        created_at,
        updated_at,
        ..existing.clone()
    };
    let view = DeviceView::from_record(&after);
    let entry = AuditEntry {
        actor: &caller.actor,
        action: "update",
        kind: kind.as_str(),
        target: Some(&name),
        before: Some(DeviceView::from_record(&existing).json()?),
        after: Some(view.json()?),
    };
    audit::record(&tx, &entry).await?;
    tx.commit().await?;
    Ok(Json(view))
}

async fn remove(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    DevicePath { kind, name }: DevicePath,
) -> Result<StatusCode, ApiError> {
    let store = state.store()?;
    refuse_file_target(&state.current_config(), kind, &name)?;
    let mut client = store.client().await?;
    let tx = client.transaction().await?;
    let existing = devices::get(&tx, kind, &name, true)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no {} named {name:?}", kind.as_str())))?;
    devices::delete(&tx, existing.id).await?;
    let entry = AuditEntry {
        actor: &caller.actor,
        action: "delete",
        kind: kind.as_str(),
        target: Some(&name),
        before: Some(DeviceView::from_record(&existing).json()?),
        after: None,
    };
    audit::record(&tx, &entry).await?;
    tx.commit().await?;
    state.license.wake();
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn base() -> Config {
        config::load_str(
            "credentials:\n  v2: {type: snmp, version: 2c, community: c0mm}\n\
             targets:\n  - {name: core1, address: 10.0.0.1, kind: router, modules: [system], credential: v2}\n",
            std::path::Path::new("."),
        )
        .unwrap()
    }

    fn body(value: serde_json::Value) -> DeviceBody {
        serde_json::from_value(value).unwrap()
    }

    fn check(bodies: &[DeviceBody], origin: &str) -> Result<(), ApiError> {
        let candidates: Vec<Candidate<'_>> = bodies
            .iter()
            .enumerate()
            .map(|(i, body)| Candidate {
                body,
                origin: if origin.is_empty() {
                    String::new()
                } else {
                    format!("{origin}[{i}]")
                },
            })
            .collect();
        check_devices(&base(), TargetKind::Router, &candidates, &BTreeMap::new())
    }

    #[test]
    fn problems_name_the_request_field() {
        let good = body(
            json!({"name": "r1", "address": "10.0.0.2", "modules": ["if_mib"],
            "credential": "v2", "labels": {"site": "ams1"}}),
        );
        assert!(check(std::slice::from_ref(&good), "").is_ok());
        let bad_address = DeviceBody {
            address: "10.0.0.999".into(),
            ..good.clone()
        };
        let err = check(&[bad_address], "").unwrap_err();
        assert_eq!(err.field.as_deref(), Some("address"), "{}", err.message);
        let unknown_module = DeviceBody {
            modules: vec!["nope".into()],
            ..good.clone()
        };
        let second = DeviceBody {
            name: "r2".into(),
            ..unknown_module
        };
        let err = check(&[good.clone(), second], "routers").unwrap_err();
        assert_eq!(err.field.as_deref(), Some("routers[1].modules[0]"));
        let no_credential = DeviceBody {
            credential: None,
            ..good
        };
        let err = check(&[no_credential], "").unwrap_err();
        assert_eq!(err.field.as_deref(), Some("credential"));
    }

    #[test]
    fn a_stored_credential_that_no_longer_validates_is_blamed_on_the_device() {
        let broken: RawCredential = serde_json::from_value(json!({"type": "ssh",
            "username": "u", "agent": true, "known_hosts_file": "/nonexistent/known_hosts"}))
        .unwrap();
        let credentials = BTreeMap::from([("gone".to_string(), broken)]);
        let server = body(
            json!({"name": "s1", "address": "10.0.0.3", "modules": ["linux"],
            "credential": "gone"}),
        );
        let candidates = [Candidate {
            body: &server,
            origin: "servers[0]".into(),
        }];
        let err =
            check_devices(&base(), TargetKind::Server, &candidates, &credentials).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("servers[0].credential"));
        assert!(err.message.contains("known_hosts_file"), "{}", err.message);
    }

    #[test]
    fn file_targets_are_found_by_kind_and_name() {
        let base = base();
        assert!(file_target(&base, TargetKind::Router, "core1").is_some());
        assert!(file_target(&base, TargetKind::Server, "core1").is_none());
        let err = refuse_file_name(&base, "core1", "name".into()).unwrap_err();
        assert_eq!(err.status, StatusCode::CONFLICT);
        let view = DeviceView::from_file(&base.targets[0]);
        assert_eq!(view.source, Source::File);
        assert_eq!(view.interval.as_deref(), Some("1m"));
    }

    #[test]
    fn target_paths_split_into_index_and_field() {
        assert_eq!(
            split_target_path("targets[12].modules[0]"),
            (Some(12), "modules[0]")
        );
        assert_eq!(split_target_path("targets[3]"), (Some(3), ""));
    }
}
