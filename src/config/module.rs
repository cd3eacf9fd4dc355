//! Built-in modules and the custom SNMP modules under `modules:` (ICMP ones: icmp_module.rs).

use std::collections::BTreeMap;
use std::sync::Arc;

use super::icmp_module::{self, validate_icmp_module};
use super::model::{
    CustomMetric, CustomMetricType, CustomSnmpModule, Module, ModuleKind, SnmpModule,
};
use super::names::{check_label_name, check_metric_name, check_object_name, METRIC_PREFIX};
use super::oid::{format_oid, parse_oid};
use super::raw::{RawMetric, RawModule};
use super::routeros_module::{
    default_routeros_module, validate_routeros_module, BUILT_IN_ROUTEROS_MODULE,
};
use super::ssh_module::{default_ssh_module, validate_ssh_module, BUILT_IN_SSH_MODULE};
use super::validate::{int_in_range, Problems};

/// Modules every config has without declaring them.
pub const BUILT_IN_MODULE_NAMES: [&str; 7] = [
    "system",
    "if_mib",
    "host_resources",
    "bgp4",
    icmp_module::BUILT_IN_NAME,
    BUILT_IN_SSH_MODULE,
    BUILT_IN_ROUTEROS_MODULE,
];

fn built_in(name: &str) -> Option<SnmpModule> {
    match name {
        "system" => Some(SnmpModule::System),
        "if_mib" => Some(SnmpModule::IfMib),
        "host_resources" => Some(SnmpModule::HostResources),
        "bgp4" => Some(SnmpModule::Bgp4),
        _ => None,
    }
}

/// Built-in modules plus the valid custom ones.
pub fn validate_modules(
    raw: &BTreeMap<String, RawModule>,
    problems: &mut Problems,
) -> BTreeMap<String, Arc<Module>> {
    let mut modules: BTreeMap<String, Arc<Module>> = BUILT_IN_MODULE_NAMES
        .iter()
        .filter_map(|name| Some((name.to_string(), snmp_module(name, built_in(name)?))))
        .collect();
    modules.insert(
        icmp_module::BUILT_IN_NAME.to_string(),
        icmp_module::built_in(),
    );
    modules.insert(
        BUILT_IN_SSH_MODULE.to_string(),
        Arc::new(Module {
            name: BUILT_IN_SSH_MODULE.to_string(),
            kind: default_ssh_module(),
        }),
    );
    modules.insert(
        BUILT_IN_ROUTEROS_MODULE.to_string(),
        Arc::new(Module {
            name: BUILT_IN_ROUTEROS_MODULE.to_string(),
            kind: default_routeros_module(),
        }),
    );
    for (name, module) in raw {
        let path = format!("modules.{name}");
        if module.collect.is_some() && module.module_type.as_deref() != Some("routeros") {
            problems.add(
                format!("{path}.collect"),
                "only applies to routeros modules",
            );
        }
        match module.module_type.as_deref() {
            Some("routeros") => {
                let before = problems.len();
                check_module_name(&path, name, problems);
                let kind = validate_routeros_module(&path, module, problems);
                if let (Some(kind), true) = (kind, problems.len() == before) {
                    let name = name.clone();
                    modules.insert(name.clone(), Arc::new(Module { name, kind }));
                }
            }
            Some("icmp") => {
                check_module_name(&path, name, problems);
                if let Some(icmp) = validate_icmp_module(&path, module, problems) {
                    modules.insert(name.clone(), icmp_module::module(name, icmp));
                }
            }
            Some("ssh") => {
                if let Some(kind) = validate_named_ssh_module(&path, name, module, problems) {
                    let name = name.clone();
                    modules.insert(name.clone(), Arc::new(Module { name, kind }));
                }
            }
            _ => {
                if let Some(custom) = validate_custom_module(&path, name, module, problems) {
                    modules.insert(name.clone(), snmp_module(name, SnmpModule::Custom(custom)));
                }
            }
        }
    }
    modules
}

fn snmp_module(name: &str, module: SnmpModule) -> Arc<Module> {
    Arc::new(Module {
        name: name.to_string(),
        kind: ModuleKind::Snmp(module),
    })
}

fn validate_named_ssh_module(
    path: &str,
    name: &str,
    raw: &RawModule,
    problems: &mut Problems,
) -> Option<ModuleKind> {
    let before = problems.len();
    check_module_name(path, name, problems);
    let kind = validate_ssh_module(path, raw, problems);
    (problems.len() == before).then_some(kind).flatten()
}

fn validate_custom_module(
    path: &str,
    name: &str,
    raw: &RawModule,
    problems: &mut Problems,
) -> Option<CustomSnmpModule> {
    let before = problems.len();
    check_module_name(path, name, problems);
    match raw.module_type.as_deref() {
        Some("snmp") => {}
        Some(other) => problems.add(
            format!("{path}.type"),
            format!("unknown module type {other:?} (supported: snmp, ssh, icmp, routeros)"),
        ),
        None => problems.add(
            format!("{path}.type"),
            "missing (supported: snmp, ssh, icmp, routeros)",
        ),
    }
    for field in icmp_module::fields_set(raw) {
        problems.add(
            format!("{path}.{field}"),
            "is an ICMP field; only for type: icmp",
        );
    }
    for (field, is_set) in [
        ("filesystems", raw.filesystems.is_some()),
        ("max_output_bytes", raw.max_output_bytes.is_some()),
    ] {
        if is_set {
            problems.add(format!("{path}.{field}"), "only applies to ssh modules");
        }
    }
    let max_repetitions = raw.max_repetitions.and_then(|value| {
        int_in_range(
            &format!("{path}.max_repetitions"),
            value,
            1..=1000,
            problems,
        )
    });
    let metrics = validate_metrics(path, raw.metrics.as_deref(), problems);
    (problems.len() == before).then_some(CustomSnmpModule {
        metrics,
        max_repetitions,
    })
}

fn check_module_name(path: &str, name: &str, problems: &mut Problems) {
    if BUILT_IN_MODULE_NAMES.contains(&name) {
        problems.add(
            path,
            format!("{name:?} is a built-in module; choose another name"),
        );
    }
    if let Err(message) = check_object_name(name) {
        problems.add(path, message);
    }
}

fn validate_metrics(
    path: &str,
    raw: Option<&[RawMetric]>,
    problems: &mut Problems,
) -> Vec<CustomMetric> {
    let metrics_path = format!("{path}.metrics");
    let raw = raw.unwrap_or_default();
    if raw.is_empty() {
        problems.add(&metrics_path, "a module needs at least one metric");
    }
    let mut first_seen: BTreeMap<String, String> = BTreeMap::new();
    let mut metrics = Vec::new();
    for (i, metric) in raw.iter().enumerate() {
        let metric_path = format!("{metrics_path}[{i}]");
        let Some(valid) = validate_metric(&metric_path, metric, problems) else {
            continue;
        };
        if let Some(first) = first_seen.get(&valid.name) {
            problems.add(
                format!("{metric_path}.name"),
                format!(
                    "duplicate metric {:?} in this module (first at {first})",
                    valid.name
                ),
            );
            continue;
        }
        first_seen.insert(valid.name.clone(), metric_path);
        metrics.push(valid);
    }
    metrics
}

fn validate_metric(path: &str, raw: &RawMetric, problems: &mut Problems) -> Option<CustomMetric> {
    let before = problems.len();
    let metric_type = match raw.metric_type.as_deref() {
        Some("gauge") => Some(CustomMetricType::Gauge),
        Some("counter") => Some(CustomMetricType::Counter),
        Some(other) => {
            problems.add(
                format!("{path}.type"),
                format!("unknown metric type {other:?} (use gauge or counter)"),
            );
            None
        }
        None => {
            problems.add(format!("{path}.type"), "missing (use gauge or counter)");
            None
        }
    };
    let name = required(path, "name", raw.name.as_deref(), problems).and_then(|name| {
        exposed_name(name, metric_type)
            .map_err(|m| problems.add(format!("{path}.name"), m))
            .ok()
    });
    let oid = required(path, "oid", raw.oid.as_deref(), problems).and_then(|oid| {
        parse_oid(oid)
            .map_err(|m| problems.add(format!("{path}.oid"), m))
            .ok()
    });
    let index = validate_index_labels(path, raw.index.as_deref().unwrap_or_default(), problems);
    if problems.len() != before {
        return None;
    }
    let (name, oid, metric_type) = (name?, oid?, metric_type?);
    let help = raw.help.clone().unwrap_or_else(|| {
        format!(
            "{} from OID {}",
            raw.name.as_deref().unwrap_or_default(),
            format_oid(&oid)
        )
    });
    Some(CustomMetric {
        name,
        help,
        oid,
        metric_type,
        index,
    })
}

fn required<'a>(
    path: &str,
    field: &str,
    value: Option<&'a str>,
    problems: &mut Problems,
) -> Option<&'a str> {
    if value.is_none() {
        problems.add(format!("{path}.{field}"), "missing");
    }
    value
}

/// The family name we expose: our prefix, and `_total` on counters as OpenMetrics requires.
/// A gauge named `_total` would read as a counter on every dashboard, so it is refused.
pub fn exposed_name(name: &str, metric_type: Option<CustomMetricType>) -> Result<String, String> {
    check_metric_name(name)?;
    match metric_type {
        Some(CustomMetricType::Gauge) if name.ends_with("_total") => Err(format!(
            "{name:?} is a gauge; only counters may end in _total"
        )),
        Some(CustomMetricType::Counter) if !name.ends_with("_total") => {
            Ok(format!("{METRIC_PREFIX}{name}_total"))
        }
        _ => Ok(format!("{METRIC_PREFIX}{name}")),
    }
}

fn validate_index_labels(path: &str, labels: &[String], problems: &mut Problems) -> Vec<String> {
    let mut valid = Vec::new();
    for (i, label) in labels.iter().enumerate() {
        let label_path = format!("{path}.index[{i}]");
        if let Err(message) = check_label_name(label) {
            problems.add(label_path, message);
        } else if label == "target" {
            problems.add(
                label_path,
                "\"target\" is reserved: every series already carries the target's name",
            );
        } else if valid.contains(label) {
            problems.add(label_path, format!("index label {label:?} is listed twice"));
        } else {
            valid.push(label.clone());
        }
    }
    valid
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposed_names_get_prefix_and_counter_suffix() {
        assert_eq!(
            exposed_name("temp_celsius", Some(CustomMetricType::Gauge)).unwrap(),
            "ispmonitor_temp_celsius"
        );
        assert_eq!(
            exposed_name("errors", Some(CustomMetricType::Counter)).unwrap(),
            "ispmonitor_errors_total"
        );
        assert_eq!(
            exposed_name("errors_total", Some(CustomMetricType::Counter)).unwrap(),
            "ispmonitor_errors_total"
        );
        assert!(exposed_name("errors_total", Some(CustomMetricType::Gauge)).is_err());
        assert!(exposed_name("ispmonitor_x", Some(CustomMetricType::Gauge)).is_err());
    }

    #[test]
    fn built_ins_are_always_present() {
        let mut problems = Problems::default();
        let modules = validate_modules(&BTreeMap::new(), &mut problems);
        assert!(problems.is_empty());
        assert_eq!(modules["if_mib"].kind, ModuleKind::Snmp(SnmpModule::IfMib));
        assert_eq!(modules.len(), BUILT_IN_MODULE_NAMES.len());
    }
}
