//! `modules:` entries of `type: routeros` and the built-in `routeros` module: which parts of a
//! MikroTik router the API poll reads.

use std::collections::BTreeSet;

use super::model::{ModuleKind, RouterOsModule, RouterOsSection};
use super::raw::RawModule;
use super::validate::Problems;

/// The built-in RouterOS module: every section.
pub const BUILT_IN_ROUTEROS_MODULE: &str = "routeros";

/// The defaults of the built-in `routeros` module.
pub fn default_routeros_module() -> ModuleKind {
    ModuleKind::RouterOs(RouterOsModule {
        collect: RouterOsSection::ALL.into_iter().collect(),
    })
}

/// Validates a `type: routeros` module: only `collect` applies.
pub fn validate_routeros_module(
    path: &str,
    raw: &RawModule,
    problems: &mut Problems,
) -> Option<ModuleKind> {
    let before = problems.len();
    let foreign = [
        ("metrics", raw.metrics.is_some()),
        ("max_repetitions", raw.max_repetitions.is_some()),
        ("count", raw.count.is_some()),
        ("interval", raw.interval.is_some()),
        ("timeout", raw.timeout.is_some()),
        ("payload_size", raw.payload_size.is_some()),
        ("ip_protocol", raw.ip_protocol.is_some()),
        ("source_address", raw.source_address.is_some()),
        ("filesystems", raw.filesystems.is_some()),
        ("max_output_bytes", raw.max_output_bytes.is_some()),
    ];
    for (field, is_set) in foreign {
        if is_set {
            problems.add(
                format!("{path}.{field}"),
                "does not apply to routeros modules (they take collect)",
            );
        }
    }
    let collect = match raw.collect.as_deref() {
        None => RouterOsSection::ALL.into_iter().collect(),
        Some(names) => sections(path, names, problems),
    };
    (problems.len() == before).then_some(ModuleKind::RouterOs(RouterOsModule { collect }))
}

fn sections(path: &str, names: &[String], problems: &mut Problems) -> BTreeSet<RouterOsSection> {
    if names.is_empty() {
        problems.add(
            format!("{path}.collect"),
            format!("is empty; list some of {}", section_names()),
        );
    }
    let mut chosen = BTreeSet::new();
    for (i, name) in names.iter().enumerate() {
        match RouterOsSection::ALL
            .into_iter()
            .find(|s| s.as_str() == name)
        {
            Some(section) if !chosen.insert(section) => {
                problems.add(
                    format!("{path}.collect[{i}]"),
                    format!("{name:?} is listed twice"),
                );
            }
            Some(_) => {}
            None => problems.add(
                format!("{path}.collect[{i}]"),
                format!("unknown section {name:?} (use {})", section_names()),
            ),
        }
    }
    chosen
}

fn section_names() -> String {
    RouterOsSection::ALL.map(RouterOsSection::as_str).join(", ")
}
