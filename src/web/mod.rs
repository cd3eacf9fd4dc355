//! The exporter's HTTP server: `/metrics`, `/probe`, health endpoints, reload and a landing page.

mod health;
pub mod negotiate;
mod probe;

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
use crate::metrics::encode::Encoder;
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

async fn metrics(State(state): State<WebState>, headers: HeaderMap) -> Response {
    let format = negotiate::choose_format(header_str(&headers, header::ACCEPT));
    let targets = state.results.snapshot();
    // Encoding 10k targets takes a while: keep it off the async worker threads.
    let metrics = state.metrics.clone();
    let facts = state.facts;
    let sources = state.sources.clone();
    let body = tokio::task::spawn_blocking(move || {
        let mut enc = Encoder::new(format);
        write_metrics(&mut enc, &targets, &metrics, facts);
        for source in &sources {
            source.encode(&mut enc);
        }
        enc.finish()
    })
    .await;
    match body {
        Ok(body) => exposition(format, body, &headers),
        Err(e) => {
            tracing::error!("rendering /metrics failed: {e}");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "rendering metrics failed\n",
            )
                .into_response()
        }
    }
}

/// An exposition response with the exact Content-Type, gzip-compressed when asked for.
pub(crate) fn exposition(format: Format, body: String, request: &HeaderMap) -> Response {
    let content_type = HeaderValue::from_static(format.content_type());
    if negotiate::wants_gzip(header_str(request, header::ACCEPT_ENCODING)) {
        if let Ok(packed) = negotiate::gzip(body.as_bytes()) {
            let headers = [
                (header::CONTENT_TYPE, content_type),
                (header::CONTENT_ENCODING, HeaderValue::from_static("gzip")),
                (
                    header::VARY,
                    HeaderValue::from_static("Accept, Accept-Encoding"),
                ),
            ];
            return (headers, Body::from(packed)).into_response();
        }
    }
    let headers = [
        (header::CONTENT_TYPE, content_type),
        (
            header::VARY,
            HeaderValue::from_static("Accept, Accept-Encoding"),
        ),
    ];
    (headers, body).into_response()
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
