//! `targets:` entries to validated targets, with their credential and modules resolved.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::address::parse_target_address;
use super::icmp_module::check_target_icmp;
use super::model::{Credential, Global, HostKeyPolicy, Module, Target, TargetKind, TargetSource};
use super::module::BUILT_IN_MODULE_NAMES;
use super::names::{check_object_name, check_user_label_name};
use super::raw::{RawCredential, RawModule, RawTarget};
use super::ssh_credential::parse_pinned_host_key;
use super::validate::{check_timeout_shorter, optional_duration, Problems, Shown};
use crate::poller::Protocol;

/// What targets refer to. `declared_*` hold every name written in the file, valid or not, so
/// that a target using a broken credential is not also told the credential is undefined.
pub struct References<'a> {
    pub global: &'a Global,
    pub credentials: &'a BTreeMap<String, Arc<Credential>>,
    pub declared_credentials: &'a BTreeMap<String, RawCredential>,
    pub modules: &'a BTreeMap<String, Arc<Module>>,
    pub declared_modules: &'a BTreeMap<String, RawModule>,
}

/// Validates every target; duplicate names are reported against the first occurrence.
pub fn validate_targets(
    raw: &[RawTarget],
    references: &References<'_>,
    problems: &mut Problems,
) -> Vec<Arc<Target>> {
    let mut first_seen: BTreeMap<&str, usize> = BTreeMap::new();
    let mut targets = Vec::new();
    for (i, target) in raw.iter().enumerate() {
        let path = format!("targets[{i}]");
        if let Some(name) = target.name.as_deref() {
            if let Some(first) = first_seen.get(name) {
                problems.add(
                    format!("{path}.name"),
                    format!("duplicate target name {name:?} (first at targets[{first}])"),
                );
            } else {
                first_seen.insert(name, i);
            }
        }
        if let Some(valid) = validate_target(&path, target, references, problems) {
            targets.push(Arc::new(valid));
        }
    }
    targets
}

fn validate_target(
    path: &str,
    raw: &RawTarget,
    references: &References<'_>,
    problems: &mut Problems,
) -> Option<Target> {
    let before = problems.len();
    let name = target_name(path, raw.name.as_deref(), problems);
    let address = target_address(path, raw.address.as_deref(), problems);
    let kind = target_kind(path, raw.kind.as_deref(), problems);
    let modules = target_modules(path, raw.modules.as_deref(), references, problems);
    let credential = target_credential(path, raw, references, problems);
    let (interval, timeout) = target_schedule(path, raw, references.global, problems);
    let labels = target_labels(path, raw.labels.as_ref(), problems);
    if let Some(modules) = &modules {
        check_target_icmp(path, modules, timeout, problems);
    }
    if problems.len() != before {
        return None;
    }
    let (address, host, port) = address?;
    Some(Target {
        name: name?,
        address,
        host,
        port,
        kind: kind?,
        modules: modules?,
        credential_name: raw.credential.clone(),
        credential,
        interval,
        timeout,
        labels,
        source: TargetSource::File,
    })
}

fn target_name(path: &str, name: Option<&str>, problems: &mut Problems) -> Option<String> {
    let Some(name) = name else {
        problems.add(format!("{path}.name"), "missing");
        return None;
    };
    check_object_name(name)
        .map_err(|message| problems.add(format!("{path}.name"), message))
        .ok()?;
    Some(name.to_string())
}

/// The address as written, its host and its port.
fn target_address(
    path: &str,
    address: Option<&str>,
    problems: &mut Problems,
) -> Option<(String, String, Option<u16>)> {
    let field = format!("{path}.address");
    let Some(address) = address else {
        problems.add(field, "missing (host, host:port or [ipv6]:port)");
        return None;
    };
    match parse_target_address(address) {
        Ok(parts) => Some((address.to_string(), parts.host, parts.port)),
        Err(message) => {
            problems.add(field, format!("{address:?} {message}"));
            None
        }
    }
}

fn target_kind(path: &str, kind: Option<&str>, problems: &mut Problems) -> Option<TargetKind> {
    let parsed = match kind {
        Some("router") => Some(TargetKind::Router),
        Some("server") => Some(TargetKind::Server),
        Some("host") => Some(TargetKind::Host),
        _ => None,
    };
    if parsed.is_none() {
        let message = match kind {
            Some(other) => format!("unknown kind {other:?} (use router, server or host)"),
            None => "missing (use router, server or host)".to_string(),
        };
        problems.add(format!("{path}.kind"), message);
    }
    parsed
}

fn target_modules(
    path: &str,
    names: Option<&[String]>,
    references: &References<'_>,
    problems: &mut Problems,
) -> Option<Vec<Arc<Module>>> {
    let names = names.unwrap_or_default();
    if names.is_empty() {
        problems.add(
            format!("{path}.modules"),
            format!(
                "no modules; list at least one (built-in: {})",
                BUILT_IN_MODULE_NAMES.join(", ")
            ),
        );
        return None;
    }
    let mut modules: Vec<Arc<Module>> = Vec::new();
    let mut all_found = true;
    for (i, name) in names.iter().enumerate() {
        let module_path = format!("{path}.modules[{i}]");
        if modules.iter().any(|module| &module.name == name) {
            problems.add(module_path, format!("module {name:?} is listed twice"));
            all_found = false;
        } else if let Some(module) = references.modules.get(name) {
            modules.push(Arc::clone(module));
        } else {
            all_found = false;
            if !references.declared_modules.contains_key(name) {
                problems.add(
                    module_path,
                    format!(
                        "module {name:?} is neither built-in ({}) nor defined under modules",
                        BUILT_IN_MODULE_NAMES.join(", ")
                    ),
                );
            }
        }
    }
    all_found.then_some(modules)
}

/// The target's credential. SNMP, SSH and RouterOS modules need a credential of their
/// protocol; ICMP needs none. A target has one credential, so those modules cannot be mixed on
/// one target (two targets with the same address do that). A target's own `host_key` pins the SSH
/// server's key, replacing the credential's host-key policy for this target only.
fn target_credential(
    path: &str,
    raw: &RawTarget,
    references: &References<'_>,
    problems: &mut Problems,
) -> Option<Arc<Credential>> {
    let field = format!("{path}.credential");
    let needed = needed_credential_protocol(path, raw, references, problems)?;
    if raw.host_key.is_some() && needed != Some(Protocol::Ssh) {
        problems.add(
            format!("{path}.host_key"),
            "only applies to targets with ssh modules",
        );
    }
    let Some(name) = raw.credential.as_deref() else {
        if let Some(protocol) = needed {
            let upper = protocol.as_str().to_ascii_uppercase();
            problems.add(
                field,
                format!(
                    "missing: the target has {upper} modules, which need a credential of type {}",
                    protocol.as_str()
                ),
            );
        }
        return None;
    };
    if !references.declared_credentials.contains_key(name) {
        problems.add(field, format!("{name:?} is not defined under credentials"));
        return None;
    }
    let credential = references.credentials.get(name)?;
    let has = credential.protocol();
    match needed {
        Some(protocol) if protocol != has => {
            problems.add(
                field,
                format!(
                    "{name:?} is an {} credential, but the target's modules need an {} credential",
                    has.as_str(),
                    protocol.as_str()
                ),
            );
            return None;
        }
        // ICMP-only targets need none; one given anyway is unused, not wrong.
        None | Some(_) => {}
    }
    with_target_host_key(path, credential, raw.host_key.as_deref(), problems)
}

/// The one protocol whose credential the target's modules need (`Ok(None)`: none needed);
/// `None` when modules of two credential protocols are mixed, which is reported.
fn needed_credential_protocol(
    path: &str,
    raw: &RawTarget,
    references: &References<'_>,
    problems: &mut Problems,
) -> Option<Option<Protocol>> {
    let mut needed: Vec<Protocol> = raw
        .modules
        .iter()
        .flatten()
        .filter_map(|module| references.modules.get(module))
        .map(|module| module.protocol())
        .filter(|protocol| *protocol != Protocol::Icmp)
        .collect();
    needed.sort();
    needed.dedup();
    match needed.as_slice() {
        [] => Some(None),
        [one] => Some(Some(*one)),
        several => {
            let names: Vec<&str> = several.iter().map(|p| p.as_str()).collect();
            problems.add(
                format!("{path}.modules"),
                format!(
                    "mixes {} modules, but a target has one credential; \
                     declare one target per protocol with the same address",
                    names.join(" and ")
                ),
            );
            None
        }
    }
}

/// A copy of the SSH credential whose host-key policy is the target's pinned key.
fn with_target_host_key(
    path: &str,
    credential: &Arc<Credential>,
    host_key: Option<&str>,
    problems: &mut Problems,
) -> Option<Arc<Credential>> {
    let (Some(text), Credential::Ssh(ssh)) = (host_key, credential.as_ref()) else {
        return Some(Arc::clone(credential));
    };
    let key = parse_pinned_host_key(text)
        .map_err(|message| problems.add(format!("{path}.host_key"), message))
        .ok()?;
    let mut ssh = ssh.clone();
    ssh.host_key = HostKeyPolicy::Pinned(key);
    Some(Arc::new(Credential::Ssh(ssh)))
}

/// Interval and timeout after applying the global defaults; the timeout must stay shorter.
fn target_schedule(
    path: &str,
    raw: &RawTarget,
    global: &Global,
    problems: &mut Problems,
) -> (std::time::Duration, std::time::Duration) {
    let interval_path = format!("{path}.interval");
    let timeout_path = format!("{path}.timeout");
    let interval = optional_duration(&interval_path, raw.interval.as_deref(), problems);
    let timeout = optional_duration(&timeout_path, raw.timeout.as_deref(), problems);
    // Only a target that sets its own schedule, validly, needs a check: inherited values were
    // checked under `global`, and a broken value was reported already.
    let own_values_valid =
        raw.interval.is_some() == interval.is_some() && raw.timeout.is_some() == timeout.is_some();
    let sets_own = raw.interval.is_some() || raw.timeout.is_some();
    let interval = interval.unwrap_or(global.interval);
    let timeout = timeout.unwrap_or(global.timeout);
    if !(own_values_valid && sets_own) {
        return (interval, timeout);
    }
    let shown_interval = Shown::new(interval, raw.interval.as_deref());
    let shown_timeout = Shown::new(timeout, raw.timeout.as_deref());
    if raw.timeout.is_some() {
        check_timeout_shorter(&timeout_path, &shown_timeout, &shown_interval, problems);
    } else if timeout >= interval {
        // Blame the field the user wrote: the timeout came from `global`.
        problems.add(
            interval_path,
            format!(
                "{} must be longer than the timeout {} (from global.timeout)",
                shown_interval.text, shown_timeout.text
            ),
        );
    }
    (interval, timeout)
}

fn target_labels(
    path: &str,
    labels: Option<&BTreeMap<String, String>>,
    problems: &mut Problems,
) -> BTreeMap<String, String> {
    let labels = labels.cloned().unwrap_or_default();
    for name in labels.keys() {
        if let Err(message) = check_user_label_name(name) {
            problems.add(format!("{path}.labels.{name}"), message);
        }
    }
    labels
}
