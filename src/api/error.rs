//! `ApiError`: every failure the API answers, as `{"error": {"code", "message", "field"}}`.
//! 5xx answers never carry internal details; those go to the log with the request id.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use crate::store::StoreError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    /// Stable, machine-readable (`validation_failed`, `conflict`, `not_found`...).
    pub code: &'static str,
    pub message: String,
    /// The request field at fault (`address`, `modules[1]`, `rows[42].name`), if one is.
    pub field: Option<String>,
    /// Seconds, for 429 and 503.
    pub retry_after: Option<u64>,
}

#[derive(Serialize, schemars::JsonSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, schemars::JsonSchema)]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// How to turn on writes, repeated wherever they are refused for want of a database.
pub const CONFIGURE_DATABASE: &str = "no database is configured, so the API serves the YAML inventory read-only; \
set database.url (or database.url_file) in the config or ISPMONITOR_DATABASE_URL, run `ispmonitor migrate`, and restart";

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            field: None,
            retry_after: None,
        }
    }

    /// 422: a field has a bad value.
    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError {
            field: Some(field.into()),
            ..Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                message,
            )
        }
    }

    /// 400: the request cannot be read at all (not JSON, bad query string).
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 409: a duplicate name, an object still in use, or a read-only (file) object.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }

    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 403: the write would exceed the license's limits (the message names the limit and plan).
    pub fn license_limit(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "license_limit_exceeded", message)
    }

    pub fn unsupported_media_type(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            message,
        )
    }

    pub fn payload_too_large() -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "the request body is larger than api.max_body_bytes",
        )
    }

    pub fn too_many_requests(retry_after: u64) -> Self {
        ApiError {
            retry_after: Some(retry_after.max(1)),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "too many requests; slow down (api.rate_limit)",
            )
        }
    }

    /// 503: writes (and token-protected reads) without a database.
    pub fn no_database() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "database_not_configured",
            CONFIGURE_DATABASE,
        )
    }

    /// 503: the database is configured but not answering.
    pub fn database_unavailable() -> Self {
        ApiError {
            retry_after: Some(5),
            ..Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "database_unavailable",
                "the database is not answering; retry later",
            )
        }
    }

    /// 500: logs the cause (with the request's span) and answers without it.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!("internal error: {cause}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; see the server log",
        )
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(cause) => {
                tracing::warn!("database unavailable: {cause}");
                ApiError::database_unavailable()
            }
            StoreError::Duplicate { constraint } => {
                ApiError::conflict(format!("already exists ({constraint})"))
            }
            StoreError::InUse { constraint } => {
                ApiError::conflict(format!("still in use ({constraint})"))
            }
            StoreError::Secrets(message) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "secret_key_unavailable",
                message,
            ),
            other => ApiError::internal(other),
        }
    }
}

impl From<tokio_postgres::Error> for ApiError {
    fn from(error: tokio_postgres::Error) -> Self {
        StoreError::from(error).into()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_string(),
                message: self.message,
                field: self.field,
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        let headers = response.headers_mut();
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_validation_error_names_its_field_in_the_documented_shape() {
        let response = ApiError::validation("address", "not an address").into_response();
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"error": {"code": "validation_failed",
                "message": "not an address", "field": "address"}})
        );
    }

    #[tokio::test]
    async fn rate_limited_answers_carry_retry_after() {
        let response = ApiError::too_many_requests(3).into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "3");
    }
}
