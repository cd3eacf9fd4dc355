//! Serves a router under a web config file: one task per connection (so a client that never finishes its TLS handshake holds up nobody), TLS, basic auth and the configured headers.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, Response};
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tower_service::Service as _;

use super::basic_auth;
use super::watch::WebConfigWatch;

/// How long a client may take to complete its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a client may take to send a request's headers (slow-loris guard).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Paths that answer without basic auth: kubelet probes and load balancers carry no password.
const OPEN_PATHS: &[&str] = &["/live", "/-/healthy", "/ready", "/-/ready", "/health"];

/// Whether `basic_auth_users` guards this listener (the API has bearer tokens instead).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    BasicAuthUsers,
    Ignored,
}

/// What guards a listener: the web config in force and whether its users apply.
#[derive(Clone)]
pub struct Guard {
    pub web: Arc<WebConfigWatch>,
    pub auth: Auth,
}

/// Serves `router` until `stop` is cancelled, then lets open requests finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    guard: Guard,
    stop: CancellationToken,
) -> std::io::Result<()> {
    let Guard { web, auth } = guard;
    let graceful = GracefulShutdown::new();
    loop {
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // EMFILE and friends: wait a little rather than spin.
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.cancelled() => break,
        };
        let connection = Connection {
            router: router.clone(),
            web: web.clone(),
            auth,
            remote,
        };
        tokio::spawn(connection.run(stream, graceful.watcher()));
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

struct Connection {
    router: Router,
    web: Arc<WebConfigWatch>,
    auth: Auth,
    remote: SocketAddr,
}

impl Connection {
    async fn run(self, stream: TcpStream, watcher: Watcher) {
        let _ = stream.set_nodelay(true);
        // Rereads the files if they changed: a rotated certificate serves this connection.
        let settings = self.web.current();
        let Some(tls) = settings.tls.clone() else {
            return self.serve_http(stream, watcher).await;
        };
        let acceptor = tokio_rustls::TlsAcceptor::from(tls);
        match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
            Ok(Ok(tls_stream)) => self.serve_http(tls_stream, watcher).await,
            Ok(Err(error)) => {
                self.web.handshake_failed();
                tracing::debug!(remote = %self.remote, %error, "TLS handshake failed");
            }
            Err(_) => {
                self.web.handshake_failed();
                tracing::debug!(remote = %self.remote, "TLS handshake timed out");
            }
        }
    }

    async fn serve_http<S>(self, stream: S, watcher: Watcher)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let this = Arc::new(self);
        let service = hyper::service::service_fn(move |request: Request<Incoming>| {
            let this = this.clone();
            async move { Ok::<_, Infallible>(this.answer(request).await) }
        });
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_READ_TIMEOUT);
        let connection = builder.serve_connection(TokioIo::new(stream), service);
        if let Err(error) = watcher.watch(connection).await {
            tracing::debug!(%error, "HTTP connection ended with an error");
        }
    }

    /// Basic auth (outside the open paths), then the router, then the configured headers.
    async fn answer(&self, mut request: Request<Incoming>) -> Response<Body> {
        let settings = self.web.current();
        let guarded =
            self.auth == Auth::BasicAuthUsers && !OPEN_PATHS.contains(&request.uri().path());
        let mut response = match (&settings.users, guarded) {
            (Some(users), true) if !users.allows(request.headers()).await => {
                self.web.auth_failed();
                basic_auth::unauthorized()
            }
            _ => {
                request.extensions_mut().insert(ConnectInfo(self.remote));
                let mut router = self.router.clone();
                // A Router is always ready: no poll_ready needed (axum::serve does the same).
                match router.call(request.map(Body::new)).await {
                    Ok(response) => response,
                    Err(never) => match never {},
                }
            }
        };
        for (name, value) in &settings.headers {
            response.headers_mut().insert(name, value.clone());
        }
        response
    }
}
