//! The exporter's HTTP server: `/metrics`, `/probe`, health endpoints, reload and a landing page.

pub mod basic_auth;
mod health;
pub mod listener;
pub mod negotiate;
mod probe;
pub mod stream;
pub mod tls;
pub mod watch;
pub mod web_config;

use std::sync::{Arc, RwLock};

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use tokio::sync::{mpsc, oneshot};

use crate::config::Config;
use crate::lifecycle::Lifecycle;
use crate::metrics::collector::{write_metrics, ProcessFacts};
use crate::metrics::source::MetricSource;
use crate::metrics::{Format, PollerMetrics};
use crate::poller::results::Results;

/// A reload asked for over HTTP: the app answers with a summary or the config's errors.
pub type ReloadRequest = oneshot::Sender<Result<String, String>>;

/// What the handlers read. Cheap to clone.
#[derive(Clone)]
pub struct WebState {
    pub results: Arc<Results>,
    pub metrics: Arc<PollerMetrics>,
    /// The config in force (replaced on a successful reload).
    pub config: Arc<RwLock<Arc<Config>>>,
    pub lifecycle: Arc<Lifecycle>,
    pub reload: mpsc::Sender<ReloadRequest>,
    pub facts: ProcessFacts,
    /// Families from elsewhere in the process (the inventory API's), after the poller's.
    pub sources: Vec<Arc<dyn MetricSource>>,
}

impl WebState {
    pub fn current_config(&self) -> Arc<Config> {
        self.config
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// All routes of the exporter.
pub fn router(state: WebState) -> Router {
    Router::new()
        .route("/", get(health::landing_page))
        .route("/metrics", get(metrics))
        .route("/probe", get(probe::probe))
        .route("/live", get(health::live))
        .route("/-/healthy", get(health::live))
        .route("/ready", get(health::ready))
        .route("/-/ready", get(health::ready))
        .route("/health", get(health::health))
        .route("/-/reload", post(reload))
        .with_state(state)
}

/// `/metrics`: rendered from a snapshot (Arcs) while it is sent, in bounded chunks, so the
/// process never holds the whole exposition; see `stream`.
async fn metrics(State(state): State<WebState>, headers: HeaderMap) -> Response {
    let format = negotiate::choose_format(header_str(&headers, header::ACCEPT));
    let gzip = negotiate::wants_gzip(header_str(&headers, header::ACCEPT_ENCODING));
    let targets = state.results.snapshot();
    let metrics = state.metrics.clone();
    let facts = state.facts;
    let sources = state.sources.clone();
    let body = stream::rendered_body(format, gzip, move |enc| {
        write_metrics(enc, &targets, &metrics, facts);
        for source in &sources {
            if enc.is_stopped() {
                return;
            }
            source.encode(enc);
        }
    });
    (exposition_headers(format, gzip), body).into_response()
}

/// The exact Content-Type, the encoding, and what the answer depends on.
fn exposition_headers(format: Format, gzip: bool) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let content_type = HeaderValue::from_static(format.content_type());
    headers.insert(header::CONTENT_TYPE, content_type);
    if gzip {
        headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    let vary = HeaderValue::from_static("Accept, Accept-Encoding");
    headers.insert(header::VARY, vary);
    headers
}

/// An exposition already rendered whole (`/probe`: one target), gzip-compressed when asked for.
pub(crate) fn exposition(format: Format, body: String, request: &HeaderMap) -> Response {
    if negotiate::wants_gzip(header_str(request, header::ACCEPT_ENCODING)) {
        if let Ok(packed) = negotiate::gzip(body.as_bytes()) {
            return (exposition_headers(format, true), Body::from(packed)).into_response();
        }
    }
    (exposition_headers(format, false), body).into_response()
}

pub(crate) fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

async fn reload(State(state): State<WebState>) -> Response {
    let (reply, answer) = oneshot::channel();
    if state.reload.send(reply).await.is_err() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response();
    }
    match answer.await {
        Ok(Ok(summary)) => (StatusCode::OK, format!("{summary}\n")).into_response(),
        Ok(Err(errors)) => {
            (StatusCode::INTERNAL_SERVER_ERROR, format!("{errors}\n")).into_response()
        }
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response(),
    }
}
