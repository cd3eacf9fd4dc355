//! Health endpoints (`/live`, `/ready`, `/health` and the `/-/` aliases) and the landing page.

use std::time::SystemTime;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::WebState;
use crate::metrics::PollerMetrics;

/// Liveness: the process answers. Touches nothing external, never fails while serving.
pub async fn live() -> &'static str {
    "OK\n"
}

/// Readiness: config loaded and the first schedule running; 503 while shutting down.
pub async fn ready(State(state): State<WebState>) -> Response {
    let l = &state.lifecycle;
    if l.ready() {
        (StatusCode::OK, "OK\n").into_response()
    } else if l.shutting_down() {
        (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: config or schedule not started yet\n",
        )
            .into_response()
    }
}

fn unix_seconds(t: Option<SystemTime>) -> Option<f64> {
    t?.duration_since(SystemTime::UNIX_EPOCH)
        .ok()
        .map(|d| d.as_secs_f64())
}

/// Every check explained, as JSON. The status code follows readiness.
pub async fn health(State(state): State<WebState>) -> Response {
    let l = &state.lifecycle;
    let targets = state.results.snapshot();
    let polled = targets
        .iter()
        .filter(|t| t.records.values().any(Option::is_some))
        .count();
    let last_reload_error = l.last_reload_error();
    let checks = json!({
        "config": {
            "status": if l.config_loaded() { "ok" } else { "failing" },
            "last_reload": if last_reload_error.is_some() { "failed" } else { "ok" },
            "last_reload_error": last_reload_error,
            "last_reload_at": unix_seconds(l.last_reload_at()),
        },
        "scheduler": {
            "status": if l.scheduling() { "ok" } else { "failing" },
            "targets": targets.len(),
            "targets_polled_at_least_once": polled,
        },
        "shutdown": {
            "status": if l.shutting_down() { "failing" } else { "ok" },
        },
        "inventory": inventory_check(&state.metrics),
    });
    let ready = l.ready();
    // A database outage degrades but does not unready the poller: it keeps its last inventory.
    let degraded = last_reload_error.is_some() || state.metrics.inventory_sync_failing();
    let status = match (ready, degraded) {
        (false, _) => "unavailable",
        (true, true) => "degraded",
        (true, false) => "ok",
    };
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(json!({"status": status, "checks": checks}))).into_response()
}

/// Where the inventory comes from and how its last database sync went.
fn inventory_check(metrics: &PollerMetrics) -> serde_json::Value {
    if !metrics.database_inventory() {
        return json!({"status": "ok", "source": "file"});
    }
    let failing = metrics.inventory_sync_failing();
    json!({
        "status": if failing { "failing" } else { "ok" },
        "source": "file+database",
        "last_sync_success_at": metrics.inventory_sync_seconds(),
        "sync_failures": metrics.inventory_sync_failures(),
        "invalid_targets": metrics.inventory_invalid_targets(),
    })
}

pub async fn landing_page() -> Html<String> {
    Html(format!(
        "<!doctype html>\n<html><head><title>ispmonitor</title></head><body>\n\
         <h1>ispmonitor</h1>\n<p>Prometheus-native SNMP poller, version {}</p>\n<ul>\n\
         <li><a href=\"/metrics\">Metrics</a></li>\n\
         <li><a href=\"/probe?target=127.0.0.1&amp;module=system&amp;credential=public_v2\">Probe example</a></li>\n\
         <li><a href=\"/health\">Health</a></li>\n</ul>\n</body></html>\n",
        crate::build_info::VERSION
    ))
}
