//! `/api/v1/license`: the license state for any role, installing one for admins, and the
//! limit check every inventory or token write runs inside its transaction.

use axum::extract::State;
use axum::http::Method;
use axum::routing::{get, put};
use axum::{Extension, Json};
use deadpool_postgres::GenericClient;
use serde::{Deserialize, Serialize};

use super::auth::Caller;
use super::error::ApiError;
use super::extract::ApiJson;
use super::routes::{Access, Route};
use super::{timestamp, ApiState};
use crate::license::plan::Limits;
use crate::license::service::{InstallError, Snapshot};
use crate::license::status::{LicenseState, LicenseStatus};
use crate::store::audit::{self, AuditEntry};
use crate::store::license::{self as stored, Source, Usage};
use crate::store::tokens::Role;

pub fn routes() -> Vec<Route> {
    vec![
        Route::new(
            Method::GET,
            "/api/v1/license",
            Access::Role(Role::Viewer),
            || get(show),
        )
        .doc("license", "The license: state, plan, limits, usage, expiry and validation")
        .response::<LicenseView>(),
        Route::new(
            Method::PUT,
            "/api/v1/license",
            Access::Role(Role::Admin),
            || put(install),
        )
        .doc(
            "license",
            "Install a signed license (refused, changing nothing, unless it verifies and is usable now)",
        )
        .request::<InstallBody>()
        .response::<LicenseView>(),
    ]
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InstallBody {
    /// The license file's content (`# comment` lines allowed) or its `ISPM1.` line alone.
    pub license: String,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct LicenseView {
    pub state: LicenseState,
    /// Whether the license grants its limits (state `valid` or `grace`).
    pub valid: bool,
    /// The state in one sentence.
    pub message: String,
    /// `api`, `file`, or null when nothing is installed.
    pub source: Option<String>,
    pub license: Option<LicenseFacts>,
    pub days_until_expiry: Option<f64>,
    /// The limits in force (null is unlimited): the license's while it is valid, otherwise
    /// the starter plan's.
    pub limits: Limits,
    /// The plan whose limits are in force.
    pub limits_plan: String,
    /// The API inventory and live tokens; null until counted. Config-file devices do not count.
    pub usage: Option<Usage>,
    pub installed_at: Option<String>,
    pub validation: ValidationView,
}

/// What the verified license says.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct LicenseFacts {
    pub license_id: String,
    pub customer: String,
    pub plan: String,
    pub max_routers: Option<u64>,
    pub max_servers: Option<u64>,
    pub max_users: Option<u64>,
    pub features: Vec<String>,
    pub issued_at: String,
    pub expires_at: String,
    /// `SHA256:...` of the key whose signature verified.
    pub key_fingerprint: String,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ValidationView {
    /// Whether online validation is configured (`license.server_url`).
    pub enabled: bool,
    /// The license server's origin (scheme, host, port), never its path or credentials.
    pub server: Option<String>,
    pub interval_seconds: Option<u64>,
    pub grace_period_seconds: Option<u64>,
    pub last_attempt_at: Option<String>,
    pub last_success_at: Option<String>,
    /// Consecutive failures since the last success.
    pub failures: u64,
    pub last_error: Option<String>,
    /// While validation is failing: when the grace period ends.
    pub grace_until: Option<String>,
    pub revoked_at: Option<String>,
}

impl LicenseView {
    pub fn from_snapshot(snapshot: &Snapshot) -> LicenseView {
        let status = &snapshot.status;
        let online = snapshot.settings.online.as_ref();
        let record = &snapshot.record;
        LicenseView {
            state: status.state,
            valid: status.valid(),
            message: status.message.clone(),
            source: snapshot.source.map(|s| s.as_str().to_string()),
            license: status.license.as_ref().map(|l| {
                let p = &l.payload;
                LicenseFacts {
                    license_id: p.license_id.clone(),
                    customer: p.customer.clone(),
                    plan: p.plan.clone(),
                    max_routers: p.max_routers,
                    max_servers: p.max_servers,
                    max_users: p.max_users,
                    features: p.features.clone(),
                    issued_at: p.issued_at.clone(),
                    expires_at: p.expires_at.clone(),
                    key_fingerprint: l.key_fingerprint.clone(),
                }
            }),
            days_until_expiry: status.days_until_expiry,
            limits: status.limits,
            limits_plan: status.limits_plan.clone(),
            usage: snapshot.usage,
            installed_at: snapshot.installed_at.map(timestamp),
            validation: ValidationView {
                enabled: online.is_some(),
                server: online.map(|o| origin_of(&o.server_url)),
                interval_seconds: online.map(|o| o.interval.as_secs()),
                grace_period_seconds: online.map(|o| o.grace_period.as_secs()),
                last_attempt_at: record.last_attempt_at.map(timestamp),
                last_success_at: record.last_success_at.map(timestamp),
                failures: record.failures,
                last_error: record.last_error.clone(),
                grace_until: status.grace_until.map(timestamp),
                revoked_at: record.revoked_at.map(timestamp),
            },
        }
    }
}

/// `https://user:token@lic.example.com/v1?k=x` -> `https://lic.example.com`.
fn origin_of(url: &str) -> String {
    reqwest::Url::parse(url)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default()
}

async fn show(State(state): State<ApiState>) -> Json<LicenseView> {
    Json(LicenseView::from_snapshot(&state.license.snapshot()))
}

async fn install(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<InstallBody>,
) -> Result<Json<LicenseView>, ApiError> {
    let store = state.store()?;
    let prepared = state
        .license
        .prepare(&body.license)
        .await
        .map_err(install_error)?;
    let license = &prepared.license;
    let id = &license.payload.license_id;
    let mut client = store.client().await?;
    let tx = client.transaction().await?;
    let before = stored::load(&tx).await?.and_then(|row| row.license_id);
    stored::install(&tx, &license.text, id, Source::Api).await?;
    if let Some(record) = &prepared.record {
        stored::save_validation(&tx, id, record).await?;
    }
    let entry = AuditEntry {
        actor: &caller.actor,
        action: "install",
        kind: "license",
        target: Some(id),
        before: before.map(|id| serde_json::json!({ "license_id": id })),
        after: Some(serde_json::json!({
            "license_id": id,
            "plan": license.payload.plan,
            "customer": license.payload.customer,
            "expires_at": license.payload.expires_at,
        })),
    };
    audit::record(&tx, &entry).await?;
    tx.commit().await?;
    tracing::info!(license_id = %id, plan = %license.payload.plan, "license installed through the API");
    state.license.refresh().await;
    Ok(Json(LicenseView::from_snapshot(&state.license.snapshot())))
}

fn install_error(error: InstallError) -> ApiError {
    match error {
        InstallError::ManagedByFile(_) => ApiError::conflict(error.to_string()),
        InstallError::Invalid(_) | InstallError::NotUsable(_) | InstallError::Revoked(_) => {
            ApiError::validation("license", error.to_string())
        }
    }
}

/// How many objects a write just created.
#[derive(Debug, Clone, Copy, Default)]
pub struct Added {
    pub routers: u64,
    pub servers: u64,
    pub users: u64,
}

/// Inside the writing transaction, after the write: 403 when it took the inventory beyond the
/// limits in force, so the caller's transaction rolls back and nothing changes. Objects that
/// were already there beyond a (lowered) limit do not block writes that add none.
pub async fn enforce(
    client: &impl GenericClient,
    state: &ApiState,
    added: Added,
) -> Result<(), ApiError> {
    if added.routers + added.servers + added.users == 0 {
        return Ok(());
    }
    let used = stored::lock_and_count(client).await?;
    let status = state.license.snapshot().status;
    let checks = [
        (
            "routers",
            added.routers,
            used.routers,
            status.limits.routers,
        ),
        (
            "servers",
            added.servers,
            used.servers,
            status.limits.servers,
        ),
        (
            "users (API tokens)",
            added.users,
            used.users,
            status.limits.users,
        ),
    ];
    for (what, added, used, limit) in checks {
        let Some(limit) = limit else { continue };
        if added > 0 && used > limit {
            let over = Over {
                what,
                limit,
                would_be: used,
            };
            return Err(ApiError::license_limit(over.message(&status)));
        }
    }
    Ok(())
}

/// A limit a write went beyond.
struct Over<'a> {
    what: &'a str,
    limit: u64,
    would_be: u64,
}

impl Over<'_> {
    fn message(&self, status: &LicenseStatus) -> String {
        let (what, limit, plan) = (self.what, self.limit, &status.limits_plan);
        let whose = if status.state.grants_license() {
            format!("the {plan} plan's license allows {limit} {what}")
        } else {
            format!(
                "the license is {} so the {plan} plan's limits apply: {limit} {what}",
                status.state.as_str()
            )
        };
        format!(
            "license limit reached: {whose}, and this request would make {}; nothing was \
             changed (see GET /api/v1/license)",
            self.would_be
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(state: LicenseState, plan: &str) -> LicenseStatus {
        let installed = crate::license::status::Installed::None;
        let record = Default::default();
        let now = std::time::SystemTime::now();
        LicenseStatus {
            state,
            limits_plan: plan.into(),
            ..crate::license::status::evaluate(&installed, &record, None, now)
        }
    }

    #[test]
    fn limit_messages_name_the_limit_and_the_plan() {
        let over = Over {
            what: "routers",
            limit: 100,
            would_be: 101,
        };
        let valid = over.message(&status(LicenseState::Valid, "professional"));
        assert!(
            valid.contains("professional plan's license allows 100 routers"),
            "{valid}"
        );
        assert!(valid.contains("would make 101"), "{valid}");
        let over = Over {
            what: "routers",
            limit: 10,
            would_be: 11,
        };
        let none = over.message(&status(LicenseState::Unlicensed, "starter"));
        assert!(
            none.contains("unlicensed") && none.contains("starter plan"),
            "{none}"
        );
    }

    #[test]
    fn the_server_origin_hides_credentials_and_path() {
        assert_eq!(
            origin_of("https://user:secret@lic.example.com:8443/v1?token=x"),
            "https://lic.example.com:8443"
        );
    }
}
