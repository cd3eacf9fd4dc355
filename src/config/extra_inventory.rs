//! Credentials and targets that do not come from the YAML file (the PostgreSQL inventory),
//! validated with the same rules as the file's, against the file's defaults and modules.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use super::credential::validate_credentials;
use super::model::{Config, Credential, Target, TargetSource};
use super::raw::{RawCredential, RawTarget};
use super::target::{validate_targets, References};
use super::validate::Problems;
use super::ConfigProblem;

/// Inventory entries in their YAML shape.
pub struct ExtraInventory<'a> {
    pub credentials: &'a BTreeMap<String, RawCredential>,
    pub targets: &'a [RawTarget],
}

/// What survived validation, and every problem. Problem paths are `credentials.<name>.<field>`
/// and `targets[<i>].<field>`, `i` being the index in `ExtraInventory::targets`.
#[derive(Debug, Default)]
pub struct ValidatedExtra {
    pub credentials: BTreeMap<String, Arc<Credential>>,
    pub targets: Vec<Arc<Target>>,
    pub problems: Vec<ConfigProblem>,
}

/// Validates database entries. A target may use a database credential or one of the file's
/// (secrets kept in a mounted file, devices managed through the API); a database credential
/// with a file credential's name is refused by the API, and the file's wins here. Modules are
/// the file's (built-in and configured ones).
/// `*_file` fields are resolved against the current directory, so callers that do not want
/// them (the API) reject them first.
pub fn validate_extra(base: &Config, extra: &ExtraInventory<'_>) -> ValidatedExtra {
    let mut problems = Problems::default();
    let credentials = validate_credentials(extra.credentials, Path::new("."), &mut problems);
    let mut usable = credentials.clone();
    usable.extend(base.credentials.iter().map(|(k, v)| (k.clone(), v.clone())));
    // Names only: a target naming a file credential must not be told it is undefined.
    let mut declared: BTreeMap<String, RawCredential> = base
        .credentials
        .keys()
        .map(|name| (name.clone(), RawCredential::default()))
        .collect();
    declared.extend(
        extra
            .credentials
            .iter()
            .map(|(k, v)| (k.clone(), v.clone())),
    );
    let no_modules = BTreeMap::new();
    let references = References {
        global: &base.global,
        credentials: &usable,
        declared_credentials: &declared,
        modules: &base.modules,
        declared_modules: &no_modules,
    };
    let targets = validate_targets(extra.targets, &references, &mut problems)
        .into_iter()
        .map(|t| {
            Arc::new(Target {
                source: TargetSource::Database,
                ..(*t).clone()
            })
        })
        .collect();
    ValidatedExtra {
        credentials,
        targets,
        problems: problems.into_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Config {
        super::super::load_str("targets: []\n", Path::new(".")).unwrap()
    }

    fn raw<T: serde::de::DeserializeOwned>(json: serde_json::Value) -> T {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn database_targets_validate_against_file_modules_and_database_credentials() {
        let credentials = BTreeMap::from([(
            "v2".to_string(),
            raw::<RawCredential>(
                serde_json::json!({"type": "snmp", "version": "2c", "community": "c0mm"}),
            ),
        )]);
        let targets = vec![
            raw::<RawTarget>(serde_json::json!({
                "name": "r1", "address": "10.0.0.1", "kind": "router",
                "modules": ["if_mib"], "credential": "v2", "labels": {"site": "ams1"}})),
            raw::<RawTarget>(serde_json::json!({
                "name": "r2", "address": "10.0.0.999", "kind": "router",
                "modules": ["nope"], "credential": "v2"})),
        ];
        let valid = validate_extra(
            &base(),
            &ExtraInventory {
                credentials: &credentials,
                targets: &targets,
            },
        );
        assert_eq!(valid.targets.len(), 1);
        assert_eq!(valid.targets[0].source, TargetSource::Database);
        assert_eq!(valid.targets[0].labels["site"], "ams1");
        let paths: Vec<&str> = valid.problems.iter().map(|p| p.path.as_str()).collect();
        assert!(paths.contains(&"targets[1].address"), "{paths:?}");
        assert!(paths.contains(&"targets[1].modules[0]"), "{paths:?}");
    }

    #[test]
    fn database_targets_may_use_the_files_credentials() {
        let base = super::super::load_str(
            "credentials:\n  filecred: {type: snmp, version: 2c, community: c0mm}\ntargets: []\n",
            Path::new("."),
        )
        .unwrap();
        let targets = vec![raw::<RawTarget>(serde_json::json!({
            "name": "r1", "address": "10.0.0.1", "kind": "router",
            "modules": ["system"], "credential": "filecred"}))];
        let valid = validate_extra(
            &base,
            &ExtraInventory {
                credentials: &BTreeMap::new(),
                targets: &targets,
            },
        );
        assert!(valid.problems.is_empty(), "{:?}", valid.problems);
        assert_eq!(valid.targets.len(), 1);
        assert!(
            valid.credentials.is_empty(),
            "only database credentials are returned"
        );
    }
}
