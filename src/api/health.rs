//! The API's `/live`, `/ready` and `/health`: liveness never touches the database; readiness
//! pings it (cached for 2 s, 1 s timeout) and checks the schema version.

use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Json;
use serde_json::json;

use super::routes::{Access, Route};
use super::ApiState;
use crate::store::migrations::{self, SCHEMA_VERSION};
use crate::store::Store;

const PING_TIMEOUT: Duration = Duration::from_secs(1);
const CACHE_FOR: Duration = Duration::from_secs(2);

pub fn routes() -> Vec<Route> {
    vec![
        Route::new(Method::GET, "/live", Access::Public, || get(live)).doc(
            "health",
            "Liveness: the process answers (never touches the database)",
        ),
        Route::new(Method::GET, "/ready", Access::Public, || get(ready)).doc(
            "health",
            "Readiness: config loaded, database reachable at the expected schema",
        ),
        Route::new(Method::GET, "/health", Access::Public, || get(health)).doc(
            "health",
            "Every check explained as JSON; the status code follows readiness",
        ),
    ]
}

/// The last database check, shared by `/ready` and `/health`.
#[derive(Default)]
pub struct DbHealth {
    last: tokio::sync::Mutex<Option<(Instant, Result<i32, String>)>>,
}

impl DbHealth {
    /// The schema version, or why the database is not usable. At most one ping per 2 s.
    pub async fn check(&self, store: &Store) -> Result<i32, String> {
        let mut last = self.last.lock().await;
        if let Some((at, result)) = last.as_ref() {
            if at.elapsed() < CACHE_FOR {
                return result.clone();
            }
        }
        let result = probe(store).await;
        *last = Some((Instant::now(), result.clone()));
        result
    }
}

async fn probe(store: &Store) -> Result<i32, String> {
    let check = async {
        let client = store.client().await.map_err(|e| e.to_string())?;
        migrations::check_schema(&client)
            .await
            .map_err(|e| e.to_string())
    };
    tokio::time::timeout(PING_TIMEOUT, check)
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {PING_TIMEOUT:?}")))
}

async fn live() -> &'static str {
    "OK\n"
}

/// `Ok` when ready, else what is wrong.
async fn readiness(state: &ApiState) -> Result<(), String> {
    if state.lifecycle.shutting_down() {
        return Err("shutting down".into());
    }
    if !state.lifecycle.config_loaded() {
        return Err("config not loaded yet".into());
    }
    match &state.store {
        None => Ok(()),
        Some(store) => state
            .db_health
            .check(store)
            .await
            .map(|_| ())
            .map_err(|e| format!("database: {e}")),
    }
}

async fn ready(State(state): State<ApiState>) -> Response {
    match readiness(&state).await {
        Ok(()) => (StatusCode::OK, "OK\n").into_response(),
        Err(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {why}\n"),
        )
            .into_response(),
    }
}

async fn health(State(state): State<ApiState>) -> Response {
    let db = match &state.store {
        None => json!({"status": "not_configured"}),
        Some(store) => match state.db_health.check(store).await {
            Ok(version) => json!({"status": "ok", "schema_version": version,
                "expected_schema_version": SCHEMA_VERSION}),
            Err(error) => json!({"status": "failing", "error": error,
                "expected_schema_version": SCHEMA_VERSION}),
        },
    };
    let ready = readiness(&state).await;
    let status = if ready.is_ok() { "ok" } else { "degraded" };
    let body = json!({
        "status": status,
        "checks": {
            "config": {"status": if state.lifecycle.config_loaded() { "ok" } else { "failing" }},
            "db": db,
            "shutting_down": state.lifecycle.shutting_down(),
        }
    });
    let code = if ready.is_ok() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body)).into_response()
}
