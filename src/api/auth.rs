//! Bearer-token authentication and the role check. Each route's required role comes from the
//! route table; a route missing from it is treated as admin-only (fail closed).

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::request_id::RequestContext;
use super::routes::Access;
use super::ApiState;
use crate::store::audit::Actor;
use crate::store::tokens::{self, Role};

/// Who is calling. Handlers take it as `Extension<Caller>`.
#[derive(Debug, Clone)]
pub struct Caller {
    pub actor: Actor,
    /// `None` when no token was needed or checked (public routes; reads without a database).
    pub role: Option<Role>,
}

fn bearer(req: &Request) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

pub async fn authorize(State(state): State<ApiState>, mut req: Request, next: Next) -> Response {
    let context = req.extensions().get::<RequestContext>().cloned();
    let method = if req.method() == Method::HEAD {
        Method::GET
    } else {
        req.method().clone()
    };
    let path = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string());
    let access = path
        .as_deref()
        .map(|p| state.access_for(&method, p))
        .unwrap_or(Access::Role(Role::Admin));
    let mut actor = Actor {
        name: "anonymous".into(),
        token_id: None,
        request_id: context.as_ref().map(|c| c.id.clone()),
        source_address: context.and_then(|c| c.source),
    };
    let role = match access {
        Access::Public => None,
        // Without a database there are no tokens: reads of the YAML inventory stay open (the
        // same facts are on /metrics) and every write answers 503 before its body is even read,
        // so a client learns first that it needs a database, not that its body has a typo.
        Access::Role(_) if state.store.is_none() && method != Method::GET => {
            return ApiError::no_database().into_response();
        }
        Access::Role(_) if state.store.is_none() => None,
        Access::Role(needed) => match check_token(&state, bearer(&req), needed).await {
            Ok(token) => {
                actor.name = token.name;
                actor.token_id = Some(token.id);
                Some(token.role)
            }
            Err(error) => return error.into_response(),
        },
    };
    req.extensions_mut().insert(Caller { actor, role });
    next.run(req).await
}

async fn check_token(
    state: &ApiState,
    presented: Option<&str>,
    needed: Role,
) -> Result<tokens::TokenInfo, ApiError> {
    let presented = presented.ok_or_else(|| {
        ApiError::unauthorized("an API token is required: send Authorization: Bearer <token>")
    })?;
    let store = state.store()?;
    let client = store.client().await?;
    let token = tokens::authenticate(&client, presented)
        .await?
        .ok_or_else(|| ApiError::unauthorized("the API token is unknown or revoked"))?;
    if token.role < needed {
        return Err(ApiError::forbidden(format!(
            "this needs the {} role; the token {:?} has {}",
            needed.as_str(),
            token.name,
            token.role.as_str()
        )));
    }
    // One write a minute per token at most: skip the round trip while the last use is fresh.
    if tokens::needs_touch(&token) {
        if let Err(e) = tokens::touch(&client, token.id).await {
            tracing::debug!("cannot record the token's last use: {e}");
        }
    }
    Ok(token)
}
