//! `GET /api/v1/sd`: Prometheus HTTP service discovery over the effective inventory (the YAML
//! file's targets plus the database's valid ones), one target group per device, shaped for
//! the `/probe` multi-target pattern; `?shard=N&of=M` lists one poller shard's targets.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::Method;
use axum::routing::get;
use axum::Json;
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::extract::ApiQuery;
use super::routes::{Access, Route};
use super::ApiState;
use crate::config::{Config, Target, TargetKind};
use crate::inventory::Shard;
use crate::store::inventory;
use crate::store::tokens::Role;

pub fn routes() -> Vec<Route> {
    vec![Route::new(
        Method::GET,
        "/api/v1/sd",
        Access::Role(Role::Viewer),
        || get(service_discovery),
    )
    .doc(
        "service discovery",
        "Prometheus HTTP service discovery (http_sd_configs): every target as a target group \
         for the /probe multi-target pattern; `shard` and `of` list one poller shard's part",
    )
    .query::<SdQuery>()
    .response::<Vec<TargetGroup>>()]
}

/// Filters; without any, every target is listed.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SdQuery {
    /// `router`, `server` or `host`.
    pub kind: Option<String>,
    /// Only targets polled with this module; `__param_module` is then this module alone.
    pub module: Option<String>,
    /// Only the targets shard `shard` of `of` polls (the pollers' own split, by rendezvous
    /// hashing of the target name); needs `of`.
    pub shard: Option<u32>,
    /// How many shards split the inventory (with `shard`).
    pub of: Option<u32>,
}

/// One http_sd target group: one device.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct TargetGroup {
    /// The device's address, as written in the inventory.
    pub targets: Vec<String>,
    /// `__param_target` (the inventory name, which /probe resolves with its credential),
    /// `__param_module`, `__meta_ispmonitor_kind`, `__meta_ispmonitor_source`,
    /// `__meta_ispmonitor_name`, and the device's own labels.
    pub labels: BTreeMap<String, String>,
}

async fn service_discovery(
    State(state): State<ApiState>,
    ApiQuery(query): ApiQuery<SdQuery>,
) -> Result<Json<Vec<TargetGroup>>, ApiError> {
    let file = state.current_config();
    let kind = query.kind.as_deref().map(parse_kind).transpose()?;
    let shard = parse_shard(query.shard, query.of)?;
    if let Some(module) = &query.module {
        if !file.modules.contains_key(module) {
            let known: Vec<&str> = file.modules.keys().map(String::as_str).collect();
            return Err(ApiError::validation(
                "module",
                format!("unknown module {module:?} (known: {})", known.join(", ")),
            ));
        }
    }
    let targets = effective_targets(&state, &file).await?;
    let groups = targets
        .iter()
        .filter(|t| kind.is_none_or(|k| t.kind == k))
        .filter(|t| {
            query
                .module
                .as_ref()
                .is_none_or(|m| t.modules.iter().any(|module| &module.name == m))
        })
        .filter(|t| shard.owns(&t.name))
        .map(|t| target_group(t, query.module.as_deref()))
        .collect();
    Ok(Json(groups))
}

fn parse_kind(kind: &str) -> Result<TargetKind, ApiError> {
    match kind {
        "router" => Ok(TargetKind::Router),
        "server" => Ok(TargetKind::Server),
        "host" => Ok(TargetKind::Host),
        other => Err(ApiError::validation(
            "kind",
            format!("unknown kind {other:?} (use router, server or host)"),
        )),
    }
}

/// `shard` and `of` come together; without them every shard's targets are listed.
fn parse_shard(shard: Option<u32>, of: Option<u32>) -> Result<Shard, ApiError> {
    match (shard, of) {
        (None, None) => Ok(Shard::ALL),
        (Some(_), None) => Err(ApiError::validation(
            "of",
            "shard needs of (the shard count)",
        )),
        (None, Some(_)) => Err(ApiError::validation("shard", "of needs shard (0-based)")),
        (Some(_), Some(0)) => Err(ApiError::validation("of", "of must be at least 1")),
        (Some(ordinal), Some(total)) if ordinal >= total => Err(ApiError::validation(
            "shard",
            format!(
                "shard {ordinal} is out of range for of={total} (0..{})",
                total - 1
            ),
        )),
        (Some(ordinal), Some(total)) => Ok(Shard { ordinal, total }),
    }
}

/// The file's targets plus the database's valid ones, read now (so a device added a moment
/// ago is listed), validated exactly as the poller validates them.
async fn effective_targets(state: &ApiState, file: &Config) -> Result<Vec<Arc<Target>>, ApiError> {
    let Some(store) = &state.store else {
        return Ok(file.targets.clone());
    };
    let mut client = store.client().await?;
    let stored = inventory::load(&mut client).await?;
    let raw = inventory::open(&stored, store.secret_key().ok());
    Ok(crate::inventory::effective(file, Some(&raw)).config.targets)
}

fn target_group(target: &Target, module: Option<&str>) -> TargetGroup {
    let modules = match module {
        Some(module) => module.to_string(),
        None => target
            .modules
            .iter()
            .map(|m| m.name.as_str())
            .collect::<Vec<_>>()
            .join(","),
    };
    // The device's labels first: the fixed ones cannot be overridden (labels never start
    // with `__`, so they cannot collide anyway).
    let mut labels = target.labels.clone();
    labels.insert("__param_target".into(), target.name.clone());
    labels.insert("__param_module".into(), modules);
    labels.insert("__meta_ispmonitor_kind".into(), target.kind.as_str().into());
    labels.insert(
        "__meta_ispmonitor_source".into(),
        target.source.as_str().into(),
    );
    labels.insert("__meta_ispmonitor_name".into(), target.name.clone());
    TargetGroup {
        targets: vec![target.address.clone()],
        labels,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_carries_the_probe_parameters_meta_labels_and_device_labels() {
        let config = crate::config::load_str(
            "targets:\n  - {name: ping-1, address: \"127.0.0.1\", kind: host, modules: [icmp], labels: {site: ams1}}\n",
            std::path::Path::new("."),
        )
        .unwrap();
        let group = target_group(&config.targets[0], None);
        let json = serde_json::to_value(&group).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"targets": ["127.0.0.1"], "labels": {
                "__param_target": "ping-1", "__param_module": "icmp",
                "__meta_ispmonitor_kind": "host", "__meta_ispmonitor_source": "file",
                "__meta_ispmonitor_name": "ping-1", "site": "ams1"}})
        );
        assert_eq!(
            target_group(&config.targets[0], Some("icmp")).labels["__param_module"],
            "icmp"
        );
    }

    #[test]
    fn shard_parameters_are_checked_and_named() {
        assert_eq!(parse_shard(None, None).unwrap(), Shard::ALL);
        assert_eq!(
            parse_shard(Some(2), Some(3)).unwrap(),
            Shard {
                ordinal: 2,
                total: 3
            }
        );
        let field = |shard, of| parse_shard(shard, of).unwrap_err().field;
        assert_eq!(field(Some(3), Some(3)).as_deref(), Some("shard"));
        assert_eq!(field(Some(0), Some(0)).as_deref(), Some("of"));
        assert_eq!(field(Some(0), None).as_deref(), Some("of"));
        assert_eq!(field(None, Some(3)).as_deref(), Some("shard"));
    }

    #[test]
    fn kinds_are_checked_and_named() {
        assert_eq!(parse_kind("server").unwrap(), TargetKind::Server);
        let error = parse_kind("switch").unwrap_err();
        assert_eq!(error.field.as_deref(), Some("kind"));
    }
}
