//! `/api/v1/tokens`: create (shown once), list, revoke. Admin only.

use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};

use super::auth::Caller;
use super::error::ApiError;
use super::extract::ApiJson;
use super::routes::{Access, Route};
use super::{timestamp, ApiState};
use crate::store::audit::{self, AuditEntry};
use crate::store::tokens::{self, NewToken, Role, TokenInfo};

const ADMIN: Access = Access::Role(Role::Admin);

pub fn routes() -> Vec<Route> {
    vec![
        Route::new(Method::GET, "/api/v1/tokens", ADMIN, || get(list))
            .doc("tokens", "List API tokens (never their values)")
            .response::<Vec<TokenView>>(),
        Route::new(Method::POST, "/api/v1/tokens", ADMIN, || post(create))
            .doc("tokens", "Create a token; its value is in this answer only")
            .request::<NewTokenBody>()
            .response::<CreatedToken>()
            .success(StatusCode::CREATED),
        Route::new(Method::DELETE, "/api/v1/tokens/{id}", ADMIN, || {
            delete(revoke)
        })
        .doc("tokens", "Revoke a token")
        .success(StatusCode::NO_CONTENT),
    ]
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTokenBody {
    /// Letters, digits, `.`, `_` and `-`; at most 64 characters; unique.
    pub name: String,
    pub role: Role,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct TokenView {
    pub id: i64,
    pub name: String,
    pub role: Role,
    /// The token's first characters, to recognise it.
    pub prefix: String,
    pub created_by: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct CreatedToken {
    #[serde(flatten)]
    pub info: TokenView,
    /// The token. Store it now: it cannot be shown again.
    pub token: String,
}

impl From<&TokenInfo> for TokenView {
    fn from(t: &TokenInfo) -> Self {
        TokenView {
            id: t.id,
            name: t.name.clone(),
            role: t.role,
            prefix: t.prefix.clone(),
            created_by: t.created_by.clone(),
            created_at: timestamp(t.created_at),
            last_used_at: t.last_used_at.map(timestamp),
            revoked_at: t.revoked_at.map(timestamp),
        }
    }
}

/// Token names end up in audit entries and logs: keep them short and plain.
pub fn check_token_name(name: &str) -> Result<(), String> {
    let plain = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if name.is_empty() || name.len() > 64 || !plain {
        return Err(format!(
            "{:?} is not a token name (1 to 64 letters, digits, '.', '_' or '-')",
            name.chars().take(80).collect::<String>()
        ));
    }
    Ok(())
}

async fn list(State(state): State<ApiState>) -> Result<Json<Vec<TokenView>>, ApiError> {
    let client = state.store()?.client().await?;
    let all = tokens::list(&client).await?;
    Ok(Json(all.iter().map(TokenView::from).collect()))
}

async fn create(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    ApiJson(body): ApiJson<NewTokenBody>,
) -> Result<Response, ApiError> {
    check_token_name(&body.name).map_err(|m| ApiError::validation("name", m))?;
    let mut client = state.store()?.client().await?;
    let tx = client.transaction().await?;
    let new = NewToken {
        name: &body.name,
        role: body.role,
        created_by: &caller.actor.name,
    };
    let issued = tokens::create(&tx, new).await.map_err(|e| match e {
        crate::store::StoreError::Duplicate { .. } => {
            ApiError::conflict(format!("a token named {:?} already exists", body.name))
                .with_field("name")
        }
        other => other.into(),
    })?;
    let users = super::license::Added {
        users: 1,
        ..Default::default()
    };
    super::license::enforce(&tx, &state, users).await?;
    let view = TokenView::from(&issued.info);
    let entry = AuditEntry {
        actor: &caller.actor,
        action: "create",
        kind: "token",
        target: Some(&body.name),
        before: None,
        after: Some(serde_json::to_value(&view).map_err(ApiError::internal)?),
    };
    audit::record(&tx, &entry).await?;
    tx.commit().await?;
    state.license.wake();
    let created = CreatedToken {
        info: view,
        token: issued.token.expose().to_string(),
    };
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

async fn revoke(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::validation("id", format!("{id:?} is not a token id")))?;
    let mut client = state.store()?.client().await?;
    let tx = client.transaction().await?;
    let before = tokens::revoke(&tx, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no token with id {id}")))?;
    let entry = AuditEntry {
        actor: &caller.actor,
        action: "revoke",
        kind: "token",
        target: Some(&before.name),
        before: Some(serde_json::to_value(TokenView::from(&before)).map_err(ApiError::internal)?),
        after: None,
    };
    audit::record(&tx, &entry).await?;
    tx.commit().await?;
    state.license.wake();
    Ok(StatusCode::NO_CONTENT)
}
