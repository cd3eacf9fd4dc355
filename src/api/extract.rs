//! Request extractors whose failures are `ApiError`s: JSON bodies that name the bad field
//! (unknown fields included) and query strings checked the same way.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// A JSON body. Types should use `#[serde(deny_unknown_fields)]`: an unknown field is then a
/// 422 naming it, like any other bad field.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if !is_json(req.headers().get(header::CONTENT_TYPE)) {
            return Err(ApiError::unsupported_media_type(
                "send the body as JSON with Content-Type: application/json",
            ));
        }
        let bytes = read_body(req, state).await?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// The whole body, or 413 beyond `api.max_body_bytes`.
pub async fn read_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::payload_too_large()
        } else {
            ApiError::bad_request(format!("cannot read the request body: {rejection}"))
        }
    })
}

fn is_json(value: Option<&header::HeaderValue>) -> bool {
    let Some(mime) = value.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = mime.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case("application/json") || essence.ends_with("+json")
}

/// What a NUL character is refused with, wherever it appears.
pub const NUL_MESSAGE: &str = "must not contain NUL characters (U+0000)";

/// Parses JSON text into `T`; errors name the field by its path (`rows[3].address`).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if let Some(field) = field_with_nul(bytes) {
        return Err(ApiError::validation(field, NUL_MESSAGE));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        if !inner.is_data() {
            return ApiError::bad_request(format!("the body is not valid JSON: {inner}"));
        }
        let message = strip_position(&inner.to_string());
        ApiError::validation(field_of(&path, &message), message)
    })
}

/// The first string (or object key) of a JSON body holding U+0000, by its path. PostgreSQL's
/// text and jsonb cannot store it: without this check a `\u0000` in a label value or a user
/// name failed the write with a database error (a 500). Bodies without the escape are not
/// parsed twice.
fn field_with_nul(bytes: &[u8]) -> Option<String> {
    if !bytes.windows(6).any(|w| w == b"\\u0000") {
        return None;
    }
    let value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    nul_path(&value, "")
}

fn nul_path(value: &serde_json::Value, path: &str) -> Option<String> {
    use serde_json::Value;
    match value {
        Value::String(text) if text.contains('\0') => Some(if path.is_empty() {
            "body".into()
        } else {
            path.into()
        }),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| nul_path(item, &format!("{path}[{i}]"))),
        Value::Object(map) => map.iter().find_map(|(key, item)| {
            let here = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            if key.contains('\0') {
                Some(here)
            } else {
                nul_path(item, &here)
            }
        }),
        _ => None,
    }
}

/// serde's own message ends with " at line L column C"; the field says where instead.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

/// The field a serde message is about. serde_path_to_error's path already ends with an unknown
/// field's name; for a missing field it stops at the parent, so the name is added.
fn field_of(path: &str, message: &str) -> String {
    let parent = if path == "." { "" } else { path };
    let name_in = |start: &str| {
        message
            .strip_prefix(start)
            .and_then(|rest| rest.split('`').next())
            .map(str::to_string)
    };
    if let Some(name) = name_in("unknown field `") {
        return if parent.is_empty() {
            name
        } else {
            parent.to_string()
        };
    }
    match name_in("missing field `") {
        Some(name) if parent.is_empty() => name,
        Some(name) => format!("{parent}.{name}"),
        None if parent.is_empty() => "body".to_string(),
        None => parent.to_string(),
    }
}

/// A query string. Unknown parameters are refused when `T` denies unknown fields.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        if let Some(name) = parameter_with_nul(parts.uri.query()) {
            return Err(ApiError::validation(name, NUL_MESSAGE));
        }
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(ApiQuery(value)),
            Err(rejection) => {
                let text = rejection.body_text();
                let text = text
                    .strip_prefix("Failed to deserialize query string: ")
                    .unwrap_or(&text);
                let (path, message) = split_query_path(text);
                let message = message.to_string();
                let field = field_of(path, &message);
                let field = if field == "body" {
                    "query".to_string()
                } else {
                    field
                };
                Err(ApiError::validation(field, message))
            }
        }
    }
}

/// The first query parameter whose name or value decodes to a string holding U+0000 (`%00`):
/// PostgreSQL refuses such text, so a filter holding one is a 422, not a database error.
pub fn parameter_with_nul(query: Option<&str>) -> Option<String> {
    form_urlencoded::parse(query?.as_bytes())
        .find(|(name, value)| name.contains('\0') || value.contains('\0'))
        .map(|(name, _)| name.replace('\0', ""))
}

/// axum reports a query error as `<path>: <message>` (`limit: invalid digit found in
/// string`); the path names the parameter. Without one the path is the query itself (`.`).
fn split_query_path(text: &str) -> (&str, &str) {
    let is_path = |p: &str| {
        !p.is_empty()
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '[' | ']'))
    };
    match text.split_once(": ") {
        Some((path, message)) if is_path(path) => (path, message),
        _ => (".", text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Row {
        name: String,
        port: Option<u16>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Rows {
        rows: Vec<Row>,
    }

    fn field(json: &str) -> (StatusCode, Option<String>) {
        let e = parse_json::<Rows>(json.as_bytes()).unwrap_err();
        (e.status, e.field)
    }

    #[test]
    fn bad_fields_are_named_by_their_path() {
        assert_eq!(
            field(r#"{"rows":[{"name":"a"},{"name":"b","colour":1}]}"#),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                Some("rows[1].colour".into())
            )
        );
        assert_eq!(
            field(r#"{"rows":[{"name":"a","port":70000}]}"#),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                Some("rows[0].port".into())
            )
        );
        assert_eq!(
            field(r#"{"rows":[{}]}"#),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                Some("rows[0].name".into())
            )
        );
        assert_eq!(
            field(r#"{"extra":1}"#),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("extra".into()))
        );
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Filters {
        kind: Option<String>,
        limit: Option<u32>,
    }

    async fn query_field(uri: &str) -> Option<String> {
        let request = axum::http::Request::builder().uri(uri).body(()).unwrap();
        let (mut parts, ()) = request.into_parts();
        let result = ApiQuery::<Filters>::from_request_parts(&mut parts, &()).await;
        result.err().and_then(|e| e.field)
    }

    #[tokio::test]
    async fn bad_query_parameters_are_named() {
        assert_eq!(query_field("/x?shard=1").await.as_deref(), Some("shard"));
        assert_eq!(query_field("/x?limit=-1").await.as_deref(), Some("limit"));
        assert_eq!(query_field("/x?kind=a&limit=5").await, None);
    }

    #[test]
    fn query_errors_name_the_parameter() {
        let field = |text| {
            let (path, message) = split_query_path(text);
            (field_of(path, message), message.to_string())
        };
        assert_eq!(
            field("colour: unknown field `colour`, expected `limit`"),
            (
                "colour".into(),
                "unknown field `colour`, expected `limit`".into()
            )
        );
        assert_eq!(field("limit: invalid digit found in string").0, "limit");
        assert_eq!(field("missing field `kind`").0, "kind");
        assert_eq!(field("invalid digit found in string").0, "body");
    }

    #[test]
    fn nul_characters_are_refused_naming_the_field() {
        let e = parse_json::<Rows>(br#"{"rows":[{"name":"a"},{"name":"b\u0000"}]}"#).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("rows[1].name"));
        assert_eq!(e.status, StatusCode::UNPROCESSABLE_ENTITY);
        // An escaped backslash before "u0000" is no NUL.
        assert!(parse_json::<Rows>(br#"{"rows":[{"name":"a\\u0000"}]}"#).is_ok());
        assert_eq!(
            parameter_with_nul(Some("limit=1&name_prefix=a%00b")).as_deref(),
            Some("name_prefix")
        );
        assert_eq!(parameter_with_nul(Some("name_prefix=%2500")), None);
    }

    #[test]
    fn text_that_is_not_json_is_a_bad_request() {
        assert_eq!(field("{not json").0, StatusCode::BAD_REQUEST);
        assert!(is_json(Some(&header::HeaderValue::from_static(
            "application/json; charset=utf-8"
        ))));
        assert!(!is_json(Some(&header::HeaderValue::from_static(
            "text/csv"
        ))));
    }
}
