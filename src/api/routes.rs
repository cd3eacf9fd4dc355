//! The route table: every API route with the role it needs and the shapes it takes and gives.
//! One table builds the axum router, drives the auth layer, generates the OpenAPI document and
//! feeds the role-matrix test, so none of them can drift from the others.

use axum::http::{Method, StatusCode};
use axum::routing::MethodRouter;
use schemars::{JsonSchema, Schema, SchemaGenerator};

use super::ApiState;
use crate::store::tokens::Role;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, no token (health endpoints, the OpenAPI document).
    Public,
    /// A token with at least this role.
    Role(Role),
}

/// Produces the JSON schema of a request or response type.
pub type SchemaFn = fn(&mut SchemaGenerator) -> Schema;

/// The schema of `T`, registered under its name in `components/schemas`.
pub fn schema<T: JsonSchema>(generator: &mut SchemaGenerator) -> Schema {
    generator.subschema_for::<T>()
}

/// One route. Build with `Route::new(...)` and the `query`/`request`/`response` setters.
pub struct Route {
    pub method: Method,
    /// axum syntax: `/api/v1/routers/{name}`.
    pub path: &'static str,
    pub access: Access,
    pub summary: &'static str,
    /// OpenAPI tag (the resource).
    pub tag: &'static str,
    pub handler: fn() -> MethodRouter<ApiState>,
    pub query: Option<SchemaFn>,
    pub request: Option<SchemaFn>,
    /// Content type of the request body when it is not JSON (`text/csv`).
    pub request_media: &'static str,
    pub response: Option<SchemaFn>,
    /// Content types of the success answer; `response` describes the JSON one.
    pub response_media: &'static [&'static str],
    pub success: StatusCode,
}

impl Route {
    pub fn new(
        method: Method,
        path: &'static str,
        access: Access,
        handler: fn() -> MethodRouter<ApiState>,
    ) -> Route {
        Route {
            method,
            path,
            access,
            summary: "",
            tag: "",
            handler,
            query: None,
            request: None,
            request_media: "application/json",
            response: None,
            response_media: &["application/json"],
            success: StatusCode::OK,
        }
    }

    pub fn doc(mut self, tag: &'static str, summary: &'static str) -> Route {
        self.tag = tag;
        self.summary = summary;
        self
    }

    pub fn query<T: JsonSchema>(mut self) -> Route {
        self.query = Some(schema::<T>);
        self
    }

    pub fn request<T: JsonSchema>(mut self) -> Route {
        self.request = Some(schema::<T>);
        self
    }

    pub fn request_media(mut self, media: &'static str) -> Route {
        self.request_media = media;
        self
    }

    pub fn response<T: JsonSchema>(mut self) -> Route {
        self.response = Some(schema::<T>);
        self
    }

    /// Answers in other formats too (`text/csv` exports): listed in the OpenAPI document.
    pub fn response_media(mut self, media: &'static [&'static str]) -> Route {
        self.response_media = media;
        self
    }

    pub fn success(mut self, status: StatusCode) -> Route {
        self.success = status;
        self
    }
}

/// Every route of the API. Each resource module contributes its own list.
pub fn all_routes() -> Vec<Route> {
    let mut routes = Vec::new();
    routes.extend(super::health::routes());
    routes.extend(super::tokens::routes());
    routes.extend(super::audit::routes());
    routes.extend(super::openapi::routes());
    routes.extend(super::devices::routes());
    routes.extend(super::credentials::routes());
    routes.extend(super::inventory::routes());
    routes.extend(super::sd::routes());
    routes.extend(super::license::routes());
    routes.extend(super::alerts::routes());
    routes
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_route_is_unique_documented_and_versioned() {
        let mut seen = HashSet::new();
        for route in all_routes() {
            assert!(
                seen.insert((route.method.clone(), route.path)),
                "{} {} twice",
                route.method,
                route.path
            );
            assert!(
                !route.summary.is_empty(),
                "{} {} has no summary",
                route.method,
                route.path
            );
            let public_health = route.access == Access::Public && !route.path.starts_with("/api/");
            assert!(
                public_health || route.path.starts_with("/api/v1/"),
                "{} is outside /api/v1/",
                route.path
            );
        }
    }
}
