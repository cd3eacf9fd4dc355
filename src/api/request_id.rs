//! `X-Request-Id`: taken from the request when sane, generated otherwise, echoed in the
//! response and carried by the request's tracing span, so every log line of the request has it.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, MatchedPath, Request};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use rand::RngCore;
use tracing::Instrument;

pub const HEADER: &str = "x-request-id";
/// Longer ids from a client are replaced: they end up in logs and the audit table.
const MAX_ID_CHARS: usize = 128;

/// The request's id and peer, for handlers and the audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestContext {
    pub id: String,
    /// The TCP peer's IP address (the API does not trust forwarding headers).
    pub source: Option<String>,
}

fn generate() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    data_encoding::HEXLOWER.encode(&bytes)
}

/// Visible ASCII without spaces or quotes, so it is safe in logs, headers and CSV.
fn acceptable(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID_CHARS
        && id
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\' && b != b',')
}

pub async fn request_id(mut req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|id| acceptable(id))
        .map(str::to_string)
        .unwrap_or_else(generate);
    let source = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| peer.ip().to_string());
    let endpoint = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let span = tracing::info_span!("request", request_id = %id, method = %req.method(), endpoint = %endpoint);
    req.extensions_mut().insert(RequestContext {
        id: id.clone(),
        source,
    });
    let mut response = next.run(req).instrument(span).await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HEADER, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_ids_are_kept_only_when_safe() {
        assert!(acceptable("abc-123_X.y"));
        assert!(!acceptable(""));
        assert!(!acceptable("with space"));
        assert!(!acceptable("quote\"d"));
        assert!(!acceptable(&"x".repeat(MAX_ID_CHARS + 1)));
        let generated = generate();
        assert_eq!(generated.len(), 32);
        assert!(acceptable(&generated));
    }
}
