//! `GET /api/v1/openapi.json`: the OpenAPI 3.1 document, generated from the route table (paths,
//! roles, summaries) and the schemars schemas of each route's query, body and answer. The
//! same document is checked in as docs/openapi.json (`ispmonitor openapi > docs/openapi.json`).

use std::collections::BTreeSet;
use std::sync::LazyLock;

use axum::http::{Method, StatusCode};
use axum::routing::get;
use axum::Json;
use schemars::generate::{SchemaGenerator, SchemaSettings};
use serde_json::{json, Map, Value};

use super::error::ErrorBody;
use super::routes::{all_routes, Access, Route};

const SCHEMAS: &str = "#/components/schemas/";

pub fn routes() -> Vec<Route> {
    vec![
        Route::new(Method::GET, "/api/v1/openapi.json", Access::Public, || {
            get(serve)
        })
        .doc("meta", "This OpenAPI 3.1 document")
        .response::<Value>(),
    ]
}

static DOCUMENT: LazyLock<Value> = LazyLock::new(document);

async fn serve() -> Json<Value> {
    Json(DOCUMENT.clone())
}

/// The document as docs/openapi.json holds it: pretty JSON and a final newline.
pub fn document_text() -> String {
    // Invariant: a serde_json::Value always serialises.
    let text = serde_json::to_string_pretty(&*DOCUMENT).unwrap_or_default();
    format!("{text}\n")
}

/// Builds the whole document.
pub fn document() -> Value {
    let settings = SchemaSettings::draft2020_12().with(|s| {
        s.definitions_path = "/components/schemas".into();
        s.meta_schema = None;
    });
    let mut generator = settings.into_generator();
    generator.subschema_for::<ErrorBody>();
    let mut paths = Map::new();
    let mut tags: Vec<&str> = Vec::new();
    for route in all_routes() {
        let operation = operation(&route, &mut generator);
        let item = paths
            .entry(openapi_path(route.path))
            .or_insert_with(|| json!({}));
        if let Value::Object(item) = item {
            item.insert(route.method.as_str().to_ascii_lowercase(), operation);
        }
        if !tags.contains(&route.tag) {
            tags.push(route.tag);
        }
    }
    let schemas = generator.take_definitions(true);
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "ispmonitor inventory API",
            "version": crate::build_info::VERSION,
            "description": "The inventory (routers, servers, credentials), API tokens and the audit log \
                of ispmonitor, on PostgreSQL. Send `Authorization: Bearer <token>`; the first admin \
                token comes from `ispmonitor token create --role admin --name NAME`. Errors answer \
                `{\"error\": {\"code\", \"message\", \"field\"}}`.",
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "tags": tags.iter().map(|t| json!({"name": t})).collect::<Vec<_>>(),
        "paths": paths,
        "components": {
            "schemas": schemas,
            "responses": error_responses(),
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API token (`ispm_...`) with the route's role or a higher one: \
                        viewer < operator < admin.",
                },
            },
        },
    })
}

/// axum and OpenAPI share `{name}`; a catch-all `{*rest}` becomes `{rest}`.
fn openapi_path(path: &str) -> String {
    path.replace("{*", "{")
}

fn path_params(path: &str) -> Vec<String> {
    path.split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
        .map(|name| name.trim_start_matches('*').to_string())
        .collect()
}

/// `getAuditExport`, `deleteTokensById`: the method and the path after `/api/v1`.
fn operation_id(method: &Method, path: &str) -> String {
    let mut id = method.as_str().to_ascii_lowercase();
    let rest = path.strip_prefix("/api/v1").unwrap_or(path);
    for word in rest.split(['/', '.', '-', '_']).filter(|w| !w.is_empty()) {
        let (prefix, word) = match word.strip_prefix('{').and_then(|w| w.strip_suffix('}')) {
            Some(param) => ("By", param.trim_start_matches('*')),
            None => ("", word),
        };
        id.push_str(prefix);
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            id.extend(first.to_uppercase());
            id.push_str(chars.as_str());
        }
    }
    id
}

fn operation(route: &Route, generator: &mut SchemaGenerator) -> Value {
    let mut op = Map::new();
    op.insert(
        "operationId".into(),
        json!(operation_id(&route.method, route.path)),
    );
    op.insert("summary".into(), json!(route.summary));
    op.insert("tags".into(), json!([route.tag]));
    match route.access {
        Access::Public => {
            op.insert("description".into(), json!("Public: no token needed."));
            op.insert("security".into(), json!([]));
        }
        Access::Role(role) => {
            let text = format!("Needs a token with the {} role or higher.", role.as_str());
            op.insert("description".into(), json!(text));
            op.insert("security".into(), json!([{"bearerAuth": []}]));
            op.insert("x-ispmonitor-role".into(), json!(role.as_str()));
        }
    }
    let parameters = parameters(route, generator);
    if !parameters.is_empty() {
        op.insert("parameters".into(), Value::Array(parameters));
    }
    if let Some(body) = request_body(route, generator) {
        op.insert("requestBody".into(), body);
    }
    op.insert("responses".into(), responses(route, generator));
    Value::Object(op)
}

fn parameters(route: &Route, generator: &mut SchemaGenerator) -> Vec<Value> {
    let mut parameters: Vec<Value> = path_params(route.path)
        .into_iter()
        .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
        .collect();
    if let Some(query) = route.query {
        let schema = query(generator).to_value();
        parameters.extend(query_parameters(&schema, generator));
    }
    parameters
}

/// One parameter per property of the query type, which is then dropped from the components
/// (it describes a query string, not a JSON document).
fn query_parameters(schema: &Value, generator: &mut SchemaGenerator) -> Vec<Value> {
    let object = match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let name = reference.strip_prefix(SCHEMAS).unwrap_or(reference);
            generator
                .definitions_mut()
                .remove(name)
                .unwrap_or(Value::Null)
        }
        None => schema.clone(),
    };
    let required: BTreeSet<&str> = object
        .get("required")
        .and_then(Value::as_array)
        .map(|names| names.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let Some(properties) = object.get("properties").and_then(Value::as_object) else {
        return Vec::new();
    };
    properties
        .iter()
        .map(|(name, property)| {
            let mut property = without_null(property.clone());
            let description = property
                .as_object_mut()
                .and_then(|p| p.remove("description"));
            let mut parameter = json!({
                "name": name,
                "in": "query",
                "required": required.contains(name.as_str()),
                "schema": property,
            });
            if let (Some(d), Value::Object(p)) = (description, &mut parameter) {
                p.insert("description".into(), d);
            }
            parameter
        })
        .collect()
}

/// A query parameter is absent or has a value: `null` is not one of its types.
fn without_null(mut schema: Value) -> Value {
    let Value::Object(map) = &mut schema else {
        return schema;
    };
    if let Some(Value::Array(types)) = map.get_mut("type") {
        types.retain(|t| t != "null");
        if types.len() == 1 {
            let only = types.remove(0);
            map.insert("type".into(), only);
        }
    }
    let any_of = map.get("anyOf").and_then(Value::as_array).cloned();
    if let Some(alternatives) = any_of {
        let mut rest: Vec<Value> = alternatives
            .into_iter()
            .filter(|a| a.get("type").and_then(Value::as_str) != Some("null"))
            .collect();
        if rest.len() == 1 {
            map.remove("anyOf");
            if let Value::Object(only) = rest.remove(0) {
                map.extend(only);
            }
        }
    }
    schema
}

fn is_json(media: &str) -> bool {
    media == "application/json" || media.ends_with("+json")
}

fn request_body(route: &Route, generator: &mut SchemaGenerator) -> Option<Value> {
    let mut content = Map::new();
    if let Some(request) = route.request {
        content.insert(
            "application/json".into(),
            json!({"schema": request(generator)}),
        );
    }
    if !is_json(route.request_media) {
        content.insert(
            route.request_media.into(),
            json!({"schema": {"type": "string"}}),
        );
    }
    (!content.is_empty()).then(|| json!({"required": true, "content": content}))
}

fn responses(route: &Route, generator: &mut SchemaGenerator) -> Value {
    let mut responses = Map::new();
    let mut success = Map::new();
    let reason = route.success.canonical_reason().unwrap_or("Success");
    success.insert("description".into(), json!(reason));
    if route.success != StatusCode::NO_CONTENT {
        let mut content = Map::new();
        for media in route.response_media {
            if !is_json(media) {
                content.insert((*media).into(), json!({"schema": {"type": "string"}}));
            } else if let Some(response) = route.response {
                content.insert((*media).into(), json!({"schema": response(generator)}));
            }
        }
        if !content.is_empty() {
            success.insert("content".into(), Value::Object(content));
        }
    }
    responses.insert(route.success.as_u16().to_string(), Value::Object(success));
    for (status, name) in error_statuses(route) {
        let reference = format!("#/components/responses/{name}");
        responses.insert(status.to_string(), json!({"$ref": reference}));
    }
    Value::Object(responses)
}

/// The error answers a route can give, by what it takes and who may call it.
fn error_statuses(route: &Route) -> Vec<(u16, &'static str)> {
    let api = route.path.starts_with("/api/");
    let has_body = route.request.is_some() || !is_json(route.request_media);
    let takes_input = has_body || route.query.is_some() || route.path.contains('{');
    let mutation =
        [Method::POST, Method::PUT, Method::PATCH, Method::DELETE].contains(&route.method);
    let protected = matches!(route.access, Access::Role(_));
    let candidates = [
        (400, "BadRequest", has_body),
        (401, "Unauthorized", protected),
        (403, "Forbidden", protected),
        (404, "NotFound", route.path.contains('{')),
        (409, "Conflict", api && mutation),
        (413, "PayloadTooLarge", has_body),
        (415, "UnsupportedMediaType", has_body),
        (422, "ValidationFailed", takes_input),
        (429, "TooManyRequests", api),
        (500, "Internal", api),
        (503, "Unavailable", api && protected),
    ];
    candidates
        .into_iter()
        .filter(|(_, _, applies)| *applies)
        .map(|(status, name, _)| (status, name))
        .collect()
}

fn error_responses() -> Value {
    let body = json!({"application/json": {"schema": {"$ref": format!("{SCHEMAS}ErrorBody")}}});
    let plain = |description: &str| json!({"description": description, "content": body});
    let mut responses = Map::new();
    for (name, description) in [
        (
            "BadRequest",
            "The body cannot be read (not JSON, not UTF-8)",
        ),
        ("Forbidden", "The token's role is below the route's"),
        ("NotFound", "No such object"),
        (
            "Conflict",
            "A duplicate name, an object still in use, or one defined in the config file",
        ),
        (
            "PayloadTooLarge",
            "The body is larger than api.max_body_bytes",
        ),
        (
            "UnsupportedMediaType",
            "The body's Content-Type is not one the route takes",
        ),
        (
            "ValidationFailed",
            "A field or parameter has a bad value; `field` names it",
        ),
        (
            "Internal",
            "An internal error; details are in the server log under the request id",
        ),
    ] {
        responses.insert(name.into(), plain(description));
    }
    responses.insert(
        "Unauthorized".into(),
        json!({"description": "No token, or an unknown or revoked one", "content": body,
            "headers": {"WWW-Authenticate": {"schema": {"type": "string", "const": "Bearer"}}}}),
    );
    let retry_after = json!({"description": "Seconds to wait before trying again",
        "schema": {"type": "integer", "minimum": 1}});
    responses.insert(
        "TooManyRequests".into(),
        json!({"description": "Over the rate limit of the token or the source address (api.rate_limit)",
            "content": body, "headers": {"Retry-After": retry_after}}),
    );
    responses.insert(
        "Unavailable".into(),
        json!({"description": "No database is configured, or it is not answering",
            "content": body, "headers": {"Retry-After": retry_after}}),
    );
    Value::Object(responses)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_ids_follow_method_and_path() {
        assert_eq!(
            operation_id(&Method::GET, "/api/v1/audit/export"),
            "getAuditExport"
        );
        assert_eq!(
            operation_id(&Method::DELETE, "/api/v1/tokens/{id}"),
            "deleteTokensById"
        );
        assert_eq!(
            operation_id(&Method::GET, "/api/v1/openapi.json"),
            "getOpenapiJson"
        );
        assert_eq!(operation_id(&Method::GET, "/live"), "getLive");
        assert_eq!(
            path_params("/api/v1/routers/{name}/x/{*rest}"),
            ["name", "rest"]
        );
    }

    #[test]
    fn query_parameters_lose_their_null_type() {
        assert_eq!(
            without_null(json!({"type": ["string", "null"]})),
            json!({"type": "string"})
        );
        assert_eq!(
            without_null(json!({"anyOf": [{"$ref": "#/x"}, {"type": "null"}], "description": "d"})),
            json!({"$ref": "#/x", "description": "d"})
        );
    }

    #[test]
    fn docs_openapi_json_is_up_to_date() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/openapi.json");
        let on_disk = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            on_disk == document_text(),
            "docs/openapi.json is stale: run `cargo run -q -- openapi > docs/openapi.json`"
        );
    }
}
