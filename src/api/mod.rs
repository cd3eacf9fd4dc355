//! The inventory API (`/api/v1/...` on `api.listen_address`, default :8080): one router per
//! resource, all listed in the route table, behind request ids and bearer-token auth.

pub mod alerts;
pub mod audit;
pub mod auth;
pub mod credentials;
pub mod devices;
pub mod error;
pub mod extract;
pub mod health;
pub mod http_metrics;
pub mod inventory;
pub mod license;
pub mod openapi;
pub mod pagination;
pub mod rate_limit;
pub mod request_id;
pub mod routes;
pub mod sd;
pub mod tokens;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use axum::extract::DefaultBodyLimit;
use axum::http::Method;
use axum::{middleware, Router};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::license::service::LicenseService;
use crate::lifecycle::Lifecycle;
use crate::store::Store;
use error::ApiError;
use routes::Access;

/// What every handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct ApiState {
    /// `None` without a database: reads serve the YAML inventory, writes answer 503.
    pub store: Option<Store>,
    /// The config in force (the YAML file's), replaced on reload.
    pub config: Arc<RwLock<Arc<Config>>>,
    pub lifecycle: Arc<Lifecycle>,
    pub db_health: Arc<health::DbHealth>,
    /// Request counts and latencies, shown on the exporter's /metrics.
    pub metrics: Arc<http_metrics::ApiMetrics>,
    /// The license state, read on every inventory write.
    pub license: Arc<LicenseService>,
    /// Alertmanager deliveries and active alerts, shown on the exporter's /metrics.
    pub alerts: Arc<alerts::AlertMetrics>,
    rate_limiter: Arc<rate_limit::RateLimiter>,
    /// Route template -> method -> access, looked up on every request.
    access: Arc<HashMap<&'static str, HashMap<Method, Access>>>,
}

impl ApiState {
    pub fn new(
        store: Option<Store>,
        config: Arc<RwLock<Arc<Config>>>,
        lifecycle: Arc<Lifecycle>,
        license: Arc<LicenseService>,
    ) -> Self {
        let mut access: HashMap<&'static str, HashMap<Method, Access>> = HashMap::new();
        for route in routes::all_routes() {
            access
                .entry(route.path)
                .or_default()
                .insert(route.method, route.access);
        }
        ApiState {
            metrics: Arc::new(http_metrics::ApiMetrics::new(store.clone())),
            store,
            config,
            lifecycle,
            license,
            alerts: Arc::default(),
            db_health: Arc::default(),
            rate_limiter: Arc::default(),
            access: Arc::new(access),
        }
    }

    /// The database, or the 503 that explains how to configure one.
    pub fn store(&self) -> Result<&Store, ApiError> {
        self.store.as_ref().ok_or_else(ApiError::no_database)
    }

    pub fn current_config(&self) -> Arc<Config> {
        self.config
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The access a route needs; admin for anything not in the table (fail closed).
    pub fn access_for(&self, method: &Method, path: &str) -> Access {
        self.access
            .get(path)
            .and_then(|methods| methods.get(method))
            .copied()
            .unwrap_or(Access::Role(crate::store::tokens::Role::Admin))
    }
}

/// The whole API. Auth runs per matched route (unknown paths answer 404, not 401); outside it,
/// from the inside out: the body limit, rate limiting (before any token lookup), metrics and
/// the access log, and request ids wrapping everything.
pub fn router(state: ApiState, max_body_bytes: usize) -> Router {
    let mut router = Router::new();
    for route in routes::all_routes() {
        router = router.route(route.path, (route.handler)());
    }
    router
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::authorize,
        ))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(middleware::from_fn(refuse_nul_in_path))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            rate_limit::limit,
        ))
        .layer(middleware::from_fn_with_state(
            state.metrics.clone(),
            http_metrics::track,
        ))
        .layer(middleware::from_fn(request_id::request_id))
        .with_state(state)
}

/// PostgreSQL can neither store nor compare text holding U+0000: a `%00` in a path (a device or
/// credential name) is refused before any handler looks it up, instead of failing the query.
async fn refuse_nul_in_path(
    request: axum::extract::Request,
    next: middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    if request.uri().path().contains("%00") {
        return ApiError::bad_request("the path must not contain NUL characters (%00)")
            .into_response();
    }
    next.run(request).await
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such API route; see /api/v1/openapi.json")
}

/// Serves the API until `stop` is cancelled.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    stop: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move { stop.cancelled().await })
    .await
}

/// RFC 3339 UTC with milliseconds, as every timestamp in the API is written.
pub fn timestamp(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}
