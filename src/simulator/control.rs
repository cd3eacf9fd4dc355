//! The simulator's control endpoint: `GET /scenario` and `PUT /scenario` (JSON) switch scenarios
//! at run time; `GET /routeros` lists the MikroTik devices' API addresses, `GET`/`PUT
//! /routeros/faults` reads and sets the API's fault knobs; `/metrics` is the simulator's own
//! counters as Prometheus text.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use super::agent::AgentStats;
use super::routeros::faults::{FaultState, Faults};
use super::routeros::server::ApiEndpoint;
use super::routeros::stats::ApiStats;
use super::scenario::ScenarioState;
use super::scenario::{Epoch, ScenarioRequest};
use super::service::SimClock;

/// What the handlers read.
#[derive(Clone)]
pub struct ControlState {
    pub scenarios: Arc<ScenarioState>,
    pub stats: Arc<AgentStats>,
    pub clock: SimClock,
    pub routeros: Arc<Vec<ApiEndpoint>>,
    pub routeros_faults: Arc<FaultState>,
    pub routeros_stats: Arc<ApiStats>,
}

/// The answer to `GET /scenario` and a successful `PUT /scenario`.
#[derive(Debug, Serialize)]
pub struct ScenarioStatus {
    pub scenario: ScenarioRequest,
    /// Simulated time the scenario started, seconds since the fleet started.
    pub since_seconds: f64,
    /// Simulated time now.
    pub now_seconds: f64,
    pub devices: u32,
    /// Devices not healthy under the scenario (0-based), in order.
    pub affected_devices: Vec<u32>,
}

impl ControlState {
    pub fn status(&self, epoch: &Epoch) -> ScenarioStatus {
        let devices = self.scenarios.fleet().devices;
        ScenarioStatus {
            scenario: epoch.plan.request.clone(),
            since_seconds: epoch.start.as_secs_f64(),
            now_seconds: self.clock.now().as_secs_f64(),
            devices,
            affected_devices: epoch.plan.affected_devices(devices),
        }
    }
}

pub fn router(state: ControlState) -> Router {
    Router::new()
        .route("/scenario", get(current).put(switch))
        .route("/routeros", get(routeros_endpoints))
        .route("/routeros/faults", get(current_faults).put(set_faults))
        .route("/metrics", get(metrics))
        .with_state(state)
}

async fn current(State(state): State<ControlState>) -> Json<ScenarioStatus> {
    Json(state.status(&state.scenarios.current()))
}

async fn switch(
    State(state): State<ControlState>,
    Json(request): Json<ScenarioRequest>,
) -> Response {
    let name = request.name;
    match state.scenarios.switch(request, state.clock.now()) {
        Ok(epoch) => {
            tracing::info!(scenario = %name, "scenario switched over the control endpoint");
            Json(state.status(&epoch)).into_response()
        }
        Err(error) => (
            StatusCode::BAD_REQUEST,
            Json(serde_json::json!({ "error": error.to_string() })),
        )
            .into_response(),
    }
}

async fn routeros_endpoints(State(state): State<ControlState>) -> Json<Vec<ApiEndpoint>> {
    Json(state.routeros.as_ref().clone())
}

async fn current_faults(State(state): State<ControlState>) -> Json<Faults> {
    Json(state.routeros_faults.current().as_ref().clone())
}

async fn set_faults(State(state): State<ControlState>, Json(faults): Json<Faults>) -> Response {
    match state.routeros_faults.set(faults) {
        Ok(faults) => {
            tracing::info!(faults = ?faults, "RouterOS API faults set over the control endpoint");
            Json(faults.as_ref().clone()).into_response()
        }
        Err(error) => (
            StatusCode::BAD_REQUEST,
            Json(serde_json::json!({ "error": error.to_string() })),
        )
            .into_response(),
    }
}

async fn metrics(State(state): State<ControlState>) -> Response {
    let body = render_metrics(&state);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

/// The simulator's counters in the classic Prometheus text format.
pub fn render_metrics(state: &ControlState) -> String {
    let stats = state.stats.snapshot();
    let epoch = state.scenarios.current();
    let devices = state.scenarios.fleet().devices;
    let mut out = String::new();
    let counters = [
        ("requests", "SNMP requests received", stats.requests),
        ("responses", "SNMP responses sent", stats.responses),
        ("varbinds", "Variable bindings answered", stats.varbinds),
        (
            "dropped",
            "Requests left unanswered by a scenario (router-down, packet-loss)",
            stats.dropped,
        ),
        (
            "decode_errors",
            "Datagrams that were not a well-formed SNMP request",
            stats.decode_errors,
        ),
        (
            "auth_failures",
            "Requests with a wrong community or failed SNMPv3 security",
            stats.auth_failures,
        ),
        (
            "too_big",
            "Responses that exceeded the message size and became tooBig",
            stats.too_big,
        ),
    ];
    for (name, help, value) in counters {
        let _ = write!(
            out,
            "# HELP ispmonitor_simulator_{name}_total {help}\n\
             # TYPE ispmonitor_simulator_{name}_total counter\n\
             ispmonitor_simulator_{name}_total {value}\n"
        );
    }
    for (name, help, value) in state.routeros_stats.rows() {
        let _ = write!(
            out,
            "# HELP ispmonitor_simulator_routeros_{name}_total {help}\n\
             # TYPE ispmonitor_simulator_routeros_{name}_total counter\n\
             ispmonitor_simulator_routeros_{name}_total {value}\n"
        );
    }
    let _ = write!(
        out,
        "# HELP ispmonitor_simulator_routeros_devices Simulated MikroTik devices serving the RouterOS API\n\
         # TYPE ispmonitor_simulator_routeros_devices gauge\n\
         ispmonitor_simulator_routeros_devices {}\n",
        state.routeros.len()
    );
    let affected = epoch.plan.affected_devices(devices).len();
    let _ = write!(
        out,
        "# HELP ispmonitor_simulator_devices Simulated devices served\n\
         # TYPE ispmonitor_simulator_devices gauge\n\
         ispmonitor_simulator_devices {devices}\n\
         # HELP ispmonitor_simulator_scenario_info The fleet-wide scenario in force; always 1\n\
         # TYPE ispmonitor_simulator_scenario_info gauge\n\
         ispmonitor_simulator_scenario_info{{scenario=\"{}\"}} 1\n\
         # HELP ispmonitor_simulator_affected_devices Devices not healthy under the scenarios in force\n\
         # TYPE ispmonitor_simulator_affected_devices gauge\n\
         ispmonitor_simulator_affected_devices {affected}\n\
         # HELP ispmonitor_simulator_scenario_start_seconds Simulated time the scenario in force started\n\
         # TYPE ispmonitor_simulator_scenario_start_seconds gauge\n\
         ispmonitor_simulator_scenario_start_seconds {}\n",
        epoch.plan.request.name,
        epoch.start.as_secs_f64(),
    );
    out
}
