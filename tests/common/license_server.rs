//! A license server for tests: `POST /validate` on 127.0.0.1 whose answer per license id is
//! switched at run time (200, 403, 500, hang, or the port closed), recording every request.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use axum::{Json, Router};
use tokio::runtime::Runtime;
use tokio::task::JoinHandle;

/// How the server answers a license id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// 200: the license is good.
    Valid,
    /// 403: the license is revoked.
    Revoked,
    /// 500: the server is broken.
    Error,
    /// No answer at all (longer than any validation timeout in the tests).
    Hang,
}

/// One `POST /validate` the server received.
#[derive(Debug, Clone)]
pub struct Received {
    pub at: SystemTime,
    pub license_id: String,
    pub body: serde_json::Value,
    pub authorization: Option<String>,
}

#[derive(Default)]
struct Shared {
    /// The answer for ids without their own; `None` is `Valid`.
    default: Option<Reply>,
    by_license: HashMap<String, Reply>,
    received: Vec<Received>,
}

type Handle = Arc<Mutex<Shared>>;

/// The server, on its own runtime. The port stays the same across `stop` and `resume`.
pub struct LicenseServer {
    runtime: Option<Runtime>,
    addr: SocketAddr,
    shared: Handle,
    serving: Option<JoinHandle<()>>,
}

impl LicenseServer {
    /// Listens on a free port of 127.0.0.1, answering 200 to every license.
    pub fn start() -> LicenseServer {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local address");
        let mut server = LicenseServer {
            runtime: Some(runtime),
            addr,
            shared: Handle::default(),
            serving: None,
        };
        server.serve(listener);
        server
    }

    fn runtime(&self) -> &Runtime {
        // Invariant: only `drop` takes the runtime.
        self.runtime.as_ref().expect("the runtime lives until drop")
    }

    fn serve(&mut self, listener: tokio::net::TcpListener) {
        let app = Router::new()
            .route("/validate", post(validate))
            .with_state(self.shared.clone());
        let serving = self.runtime().spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        self.serving = Some(serving);
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http://USER:PASSWORD@127.0.0.1:PORT`, the base URL for `license.server_url`.
    pub fn url_with_credentials(&self, user: &str, password: &str) -> String {
        format!("http://{user}:{password}@{}", self.addr)
    }

    /// The answer for every license without one of its own.
    pub fn answer_all(&self, reply: Reply) {
        self.lock().default = Some(reply);
    }

    /// The answer for one license id.
    pub fn answer(&self, license_id: &str, reply: Reply) {
        self.lock().by_license.insert(license_id.to_string(), reply);
    }

    /// Closes the port: connections are refused until `resume`.
    pub fn stop(&mut self) {
        if let Some(serving) = self.serving.take() {
            serving.abort();
            let _ = self.runtime().block_on(serving);
        }
    }

    /// Listens again on the same port.
    pub fn resume(&mut self) {
        if self.serving.is_some() {
            return;
        }
        let listener = self
            .runtime()
            .block_on(tokio::net::TcpListener::bind(self.addr))
            .expect("bind the same port again");
        self.serve(listener);
    }

    /// Every request so far, oldest first.
    pub fn received(&self) -> Vec<Received> {
        self.lock().received.clone()
    }

    /// How many requests were about `license_id`.
    pub fn count(&self, license_id: &str) -> usize {
        self.lock()
            .received
            .iter()
            .filter(|r| r.license_id == license_id)
            .count()
    }

    /// Waits until the server received `n` requests about `license_id`; returns the last.
    pub fn wait_for(&self, license_id: &str, n: usize, timeout: Duration) -> Received {
        let deadline = Instant::now() + timeout;
        loop {
            let about: Vec<Received> = self
                .received()
                .into_iter()
                .filter(|r| r.license_id == license_id)
                .collect();
            if about.len() >= n {
                return about.last().cloned().expect("n >= 1 requests");
            }
            assert!(
                Instant::now() < deadline,
                "the license server received {} of {n} requests about {license_id} within {timeout:?}",
                about.len()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for LicenseServer {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            // Hanging handlers are simply dropped.
            runtime.shutdown_background();
        }
    }
}

async fn validate(
    State(shared): State<Handle>,
    headers: HeaderMap,
    Json(body): Json<serde_json::Value>,
) -> axum::response::Response {
    let license_id = body["license_id"].as_str().unwrap_or_default().to_string();
    let reply = {
        let mut shared = shared.lock().unwrap_or_else(|e| e.into_inner());
        shared.received.push(Received {
            at: SystemTime::now(),
            license_id: license_id.clone(),
            authorization: headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
            body,
        });
        shared
            .by_license
            .get(&license_id)
            .copied()
            .or(shared.default)
            .unwrap_or(Reply::Valid)
    };
    let status = match reply {
        Reply::Valid => StatusCode::OK,
        Reply::Revoked => StatusCode::FORBIDDEN,
        Reply::Error => StatusCode::INTERNAL_SERVER_ERROR,
        Reply::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            StatusCode::GATEWAY_TIMEOUT
        }
    };
    // No keep-alive: once stopped, no pooled connection can still reach a handler.
    let body = serde_json::json!({ "license_id": license_id, "status": status.as_u16() });
    (status, [(header::CONNECTION, "close")], Json(body)).into_response()
}
