//! The effective config: the YAML file's config plus the database's valid targets and
//! credentials, validated against the file's modules, defaults and credentials.

use std::collections::{BTreeSet, HashMap, HashSet};

use crate::config::{
    validate_extra, Config, ConfigProblem, ExtraInventory, RawTarget, TargetSource,
};
use crate::store::inventory::{InvalidEntry, RawInventory};

/// What the poller runs on, and what of the database it left out.
pub struct Effective {
    pub config: Config,
    /// Database entries left out (devices and credentials), each with why.
    pub invalid: Vec<InvalidEntry>,
    /// Database devices named like a file target (`router "core-1"`): the file wins.
    pub shadowed: Vec<String>,
}

impl Effective {
    /// Database devices left out because they do not validate.
    pub fn invalid_targets(&self) -> usize {
        self.invalid.iter().filter(|e| e.is_device()).count()
    }

    pub fn database_targets(&self) -> usize {
        self.config
            .targets
            .iter()
            .filter(|t| t.source == TargetSource::Database)
            .count()
    }
}

/// The file's config plus the database inventory (`None`: no database, or not read yet).
/// A database credential named like a file credential is ignored (the file's wins), as is a
/// database device named like a file target; of two database devices with one name (a router
/// and a server), the first in (kind, name) order is kept.
pub fn effective(file: &Config, database: Option<&RawInventory>) -> Effective {
    let mut config = file.clone();
    let Some(database) = database else {
        return Effective {
            config,
            invalid: Vec::new(),
            shadowed: Vec::new(),
        };
    };
    let picked = pick_candidates(file, &database.targets);
    let validated = validate_extra(
        file,
        &ExtraInventory {
            credentials: &database.credentials,
            targets: &picked.candidates,
        },
    );
    let mut invalid = database.unreadable.clone();
    invalid.extend(picked.duplicates);
    let credential_names: Vec<&str> = database.credentials.keys().map(String::as_str).collect();
    invalid.extend(
        validated
            .problems
            .iter()
            .map(|p| entry_of(p, &picked.candidates, &credential_names)),
    );
    for (name, credential) in validated.credentials {
        config.credentials.entry(name).or_insert(credential);
    }
    for target in validated.targets {
        // The validator drops a broken credential silently from its targets (the file's
        // validation fails as a whole instead); here the target is left out and said why.
        match (&target.credential_name, &target.credential) {
            (Some(name), None) => invalid.push(InvalidEntry {
                kind: target.kind.as_str().to_string(),
                name: target.name.clone(),
                field: "credential".into(),
                message: format!("the credential {name:?} is invalid (see its own problem)"),
            }),
            _ => config.targets.push(target),
        }
    }
    invalid.sort();
    invalid.dedup();
    Effective {
        config,
        invalid,
        shadowed: picked.shadowed,
    }
}

/// Database targets that may join the file's, and those that may not.
struct Picked {
    candidates: Vec<RawTarget>,
    duplicates: Vec<InvalidEntry>,
    shadowed: Vec<String>,
}

fn pick_candidates(file: &Config, targets: &[RawTarget]) -> Picked {
    let file_names: HashSet<&str> = file.targets.iter().map(|t| t.name.as_str()).collect();
    let mut first_kind: HashMap<&str, &str> = HashMap::new();
    let mut picked = Picked {
        candidates: Vec::new(),
        duplicates: Vec::new(),
        shadowed: Vec::new(),
    };
    for target in targets {
        let name = target.name.as_deref().unwrap_or_default();
        let kind = target.kind.as_deref().unwrap_or_default();
        if file_names.contains(name) {
            picked.shadowed.push(format!("{kind} {name:?}"));
        } else if let Some(first) = first_kind.get(name) {
            picked.duplicates.push(InvalidEntry {
                kind: kind.to_string(),
                name: name.to_string(),
                field: "name".into(),
                message: format!(
                    "the {first} {name:?} has this name too; target names are unique across kinds"
                ),
            });
        } else {
            first_kind.insert(name, kind);
            picked.candidates.push(target.clone());
        }
    }
    picked
}

/// Which database entry a validation problem is about: `targets[i].field` is the i-th
/// candidate, `credentials.NAME.field` a credential.
fn entry_of(
    problem: &ConfigProblem,
    candidates: &[RawTarget],
    credentials: &[&str],
) -> InvalidEntry {
    let entry = |kind: &str, name: &str, field: &str| InvalidEntry {
        kind: kind.to_string(),
        name: name.to_string(),
        field: field.to_string(),
        message: problem.message.clone(),
    };
    if let Some((index, field)) = target_path(&problem.path) {
        if let Some(target) = candidates.get(index) {
            let kind = target.kind.as_deref().unwrap_or_default();
            let name = target.name.as_deref().unwrap_or_default();
            return entry(kind, name, field);
        }
    }
    if let Some(rest) = problem.path.strip_prefix("credentials.") {
        // Names may hold dots: the longest credential name the path starts with is the one.
        let name = credentials
            .iter()
            .filter(|name| rest == **name || rest.starts_with(&format!("{name}.")))
            .max_by_key(|name| name.len());
        if let Some(name) = name {
            let field = rest[name.len()..].trim_start_matches('.');
            return entry("credential", name, field);
        }
    }
    entry("inventory", "", &problem.path)
}

/// `targets[3].modules[0]` -> (3, "modules[0]").
fn target_path(path: &str) -> Option<(usize, &str)> {
    let rest = path.strip_prefix("targets[")?;
    let (index, field) = rest.split_once(']')?;
    Some((index.parse().ok()?, field.trim_start_matches('.')))
}

/// Logs what the database contributes wrongly, once per change rather than on every resync.
#[derive(Default)]
pub struct ChangeLog {
    invalid: BTreeSet<String>,
    shadowed: BTreeSet<String>,
}

impl ChangeLog {
    pub fn report(&mut self, effective: &Effective) {
        let invalid: BTreeSet<String> = effective.invalid.iter().map(|e| e.to_string()).collect();
        for entry in invalid.difference(&self.invalid) {
            tracing::warn!("database inventory entry left out: {entry}");
        }
        if invalid.is_empty() && !self.invalid.is_empty() {
            tracing::info!("every database inventory entry is valid again");
        }
        let shadowed: BTreeSet<String> = effective.shadowed.iter().cloned().collect();
        for entry in shadowed.difference(&self.shadowed) {
            tracing::warn!(
                "database {entry} left out: a target of the config file has that name, and the file wins"
            );
        }
        self.invalid = invalid;
        self.shadowed = shadowed;
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;

    use super::*;
    use crate::config::RawCredential;

    fn file() -> Config {
        crate::config::load_str(
            "credentials:\n  filecred: {type: snmp, version: 2c, community: c0mm}\n\
             targets:\n  - {name: core-1, address: 10.0.0.1, kind: router, modules: [system], credential: filecred}\n",
            Path::new("."),
        )
        .unwrap()
    }

    fn target(kind: &str, name: &str, modules: &[&str], credential: Option<&str>) -> RawTarget {
        RawTarget {
            name: Some(name.into()),
            address: Some("10.0.0.9".into()),
            kind: Some(kind.into()),
            modules: Some(modules.iter().map(|m| m.to_string()).collect()),
            credential: credential.map(String::from),
            ..RawTarget::default()
        }
    }

    fn credential(json: serde_json::Value) -> RawCredential {
        serde_json::from_value(json).unwrap()
    }

    fn names(config: &Config) -> Vec<(String, TargetSource)> {
        config
            .targets
            .iter()
            .map(|t| (t.name.clone(), t.source))
            .collect()
    }

    #[test]
    fn without_a_database_the_file_is_the_inventory() {
        let merged = effective(&file(), None);
        assert_eq!(
            names(&merged.config),
            vec![("core-1".into(), TargetSource::File)]
        );
        assert!(merged.invalid.is_empty());
    }

    #[test]
    fn valid_database_targets_join_the_files_and_the_file_wins_on_names() {
        let database = RawInventory {
            credentials: BTreeMap::from([
                (
                    "dbcred".to_string(),
                    credential(
                        serde_json::json!({"type": "snmp", "version": "2c", "community": "x"}),
                    ),
                ),
                (
                    "filecred".to_string(),
                    credential(
                        serde_json::json!({"type": "snmp", "version": "1", "community": "other"}),
                    ),
                ),
            ]),
            targets: vec![
                target("router", "core-1", &["system"], Some("dbcred")),
                target("router", "edge-1", &["if_mib"], Some("dbcred")),
                target("host", "ping-1", &["icmp"], None),
                target("router", "edge-2", &["system"], Some("filecred")),
            ],
            unreadable: Vec::new(),
        };
        let merged = effective(&file(), Some(&database));
        assert_eq!(
            names(&merged.config),
            vec![
                ("core-1".into(), TargetSource::File),
                ("edge-1".into(), TargetSource::Database),
                ("ping-1".into(), TargetSource::Database),
                ("edge-2".into(), TargetSource::Database),
            ]
        );
        assert_eq!(merged.shadowed, vec!["router \"core-1\"".to_string()]);
        assert!(merged.invalid.is_empty(), "{:?}", merged.invalid);
        assert_eq!(merged.database_targets(), 3);
        // The file's credential keeps its name: edge-2 polls with the file's SNMP community.
        let edge2 = &merged.config.targets[3];
        let file_community = crate::config::Credential::Snmp(crate::config::SnmpCredential::V2c {
            community: crate::config::Secret::new("c0mm"),
        });
        assert_eq!(edge2.credential.as_deref(), Some(&file_community));
        assert!(merged.config.credentials.contains_key("dbcred"));
    }

    #[test]
    fn invalid_rows_are_left_out_and_named_with_their_field() {
        let database = RawInventory {
            credentials: BTreeMap::from([(
                "v3".to_string(),
                credential(
                    serde_json::json!({"type": "snmp", "version": "3", "username": "u",
                    "security_level": "authNoPriv", "auth_protocol": "SHA", "auth_password": "tiny1"}),
                ),
            )]),
            targets: vec![
                target("router", "r-module", &["nope"], Some("filecred")),
                target("router", "r-cred", &["system"], Some("v3")),
                target("router", "twin", &["icmp"], None),
                target("server", "twin", &["icmp"], None),
                target("router", "ok", &["icmp"], None),
            ],
            unreadable: Vec::new(),
        };
        let merged = effective(&file(), Some(&database));
        let shown: Vec<String> = merged.invalid.iter().map(|e| e.to_string()).collect();
        let has = |prefix: &str| shown.iter().any(|s| s.starts_with(prefix));
        assert!(has("router \"r-module\": modules[0]: "), "{shown:?}");
        assert!(
            has("router \"r-cred\": credential: the credential \"v3\" is invalid"),
            "{shown:?}"
        );
        assert!(has("credential \"v3\": auth_password: "), "{shown:?}");
        assert!(
            has("server \"twin\": name: the router \"twin\" has this name too"),
            "{shown:?}"
        );
        assert!(
            !shown.concat().contains("tiny1"),
            "no secret in the problems"
        );
        assert_eq!(merged.invalid_targets(), 3);
        let kept: Vec<_> = names(&merged.config).into_iter().map(|(n, _)| n).collect();
        assert_eq!(kept, vec!["core-1", "twin", "ok"]);
        assert_eq!(
            merged.config.targets[1].kind,
            crate::config::TargetKind::Router
        );
    }

    #[test]
    fn target_paths_are_split_into_index_and_field() {
        assert_eq!(
            target_path("targets[12].modules[0]"),
            Some((12, "modules[0]"))
        );
        assert_eq!(target_path("targets[0].labels.x"), Some((0, "labels.x")));
        assert_eq!(target_path("credentials.a.b"), None);
    }
}
