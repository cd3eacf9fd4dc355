//! `modules:` entries of `type: ssh` and the built-in `linux` module: filesystem filters and
//! the output cap of the collection command.

use super::model::{FilesystemFilter, ModuleKind, SshModule};
use super::raw::{RawFilesystemFilter, RawModule};
use super::validate::{int_in_range, Problems};

/// The built-in SSH module: every default below.
pub const BUILT_IN_SSH_MODULE: &str = "linux";

/// Enough for /proc of a 256-CPU server with thousands of mounts, small enough that a hostile
/// server cannot make the poller hold much memory.
pub const DEFAULT_MAX_OUTPUT_BYTES: usize = 4 * 1024 * 1024;

/// Filesystems that hold no user data (kernel views, memory-backed, container layers, images).
pub const DEFAULT_EXCLUDED_FSTYPES: &[&str] = &[
    "autofs",
    "binfmt_misc",
    "bpf",
    "cgroup",
    "cgroup2",
    "configfs",
    "debugfs",
    "devpts",
    "devtmpfs",
    "efivarfs",
    "fuse.lxcfs",
    "fusectl",
    "hugetlbfs",
    "iso9660",
    "mqueue",
    "nsfs",
    "overlay",
    "proc",
    "pstore",
    "ramfs",
    "rpc_pipefs",
    "securityfs",
    "selinuxfs",
    "squashfs",
    "sysfs",
    "tmpfs",
    "tracefs",
];

/// Mountpoints of kernel interfaces and container runtimes' private mounts.
pub const DEFAULT_EXCLUDED_MOUNTPOINTS: &[&str] = &[
    "/dev",
    "/dev/*",
    "/proc",
    "/proc/*",
    "/sys",
    "/sys/*",
    "/run/credentials/*",
    "/var/lib/docker/*",
    "/var/lib/containers/*",
];

/// The defaults of the built-in `linux` module.
pub fn default_ssh_module() -> ModuleKind {
    ModuleKind::Ssh(SshModule {
        filesystems: filter_from(&RawFilesystemFilter::default()),
        max_output_bytes: DEFAULT_MAX_OUTPUT_BYTES,
    })
}

/// Validates a `type: ssh` module; SNMP-only keys are reported.
pub fn validate_ssh_module(
    path: &str,
    raw: &RawModule,
    problems: &mut Problems,
) -> Option<ModuleKind> {
    let before = problems.len();
    if raw.metrics.is_some() {
        problems.add(
            format!("{path}.metrics"),
            "only applies to snmp modules (ssh modules collect a fixed set)",
        );
    }
    if raw.max_repetitions.is_some() {
        problems.add(
            format!("{path}.max_repetitions"),
            "only applies to snmp modules",
        );
    }
    let max_output_bytes = match raw.max_output_bytes {
        Some(value) => int_in_range(
            &format!("{path}.max_output_bytes"),
            value,
            1024..=1024 * 1024 * 1024,
            problems,
        ),
        None => Some(DEFAULT_MAX_OUTPUT_BYTES),
    };
    let default_filter = RawFilesystemFilter::default();
    let raw_filter = raw.filesystems.as_ref().unwrap_or(&default_filter);
    check_mountpoint_patterns(&format!("{path}.filesystems"), raw_filter, problems);
    if problems.len() != before {
        return None;
    }
    Some(ModuleKind::Ssh(SshModule {
        filesystems: filter_from(raw_filter),
        max_output_bytes: max_output_bytes?,
    }))
}

fn check_mountpoint_patterns(path: &str, raw: &RawFilesystemFilter, problems: &mut Problems) {
    let lists = [
        ("include_mountpoints", &raw.include_mountpoints),
        ("exclude_mountpoints", &raw.exclude_mountpoints),
    ];
    for (field, list) in lists {
        for (i, pattern) in list.iter().flatten().enumerate() {
            if !pattern.starts_with('/') {
                problems.add(
                    format!("{path}.{field}[{i}]"),
                    format!("{pattern:?} is not an absolute path pattern (e.g. /srv/*)"),
                );
            }
        }
    }
}

/// A list the user set replaces the default one (so `exclude_fstypes: []` reports everything).
fn filter_from(raw: &RawFilesystemFilter) -> FilesystemFilter {
    let or_default = |list: &Option<Vec<String>>, default: &[&str]| {
        list.clone()
            .unwrap_or_else(|| default.iter().map(|s| s.to_string()).collect())
    };
    FilesystemFilter {
        include_fstypes: raw.include_fstypes.clone().unwrap_or_default(),
        exclude_fstypes: or_default(&raw.exclude_fstypes, DEFAULT_EXCLUDED_FSTYPES),
        include_mountpoints: raw.include_mountpoints.clone().unwrap_or_default(),
        exclude_mountpoints: or_default(&raw.exclude_mountpoints, DEFAULT_EXCLUDED_MOUNTPOINTS),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_exclude_pseudo_filesystems_and_user_lists_replace_them() {
        let ModuleKind::Ssh(module) = default_ssh_module() else {
            panic!("ssh module expected");
        };
        assert!(module
            .filesystems
            .exclude_fstypes
            .contains(&"tmpfs".to_string()));
        assert_eq!(module.max_output_bytes, DEFAULT_MAX_OUTPUT_BYTES);
        let raw = RawModule {
            filesystems: Some(RawFilesystemFilter {
                exclude_fstypes: Some(vec![]),
                ..Default::default()
            }),
            ..Default::default()
        };
        let mut problems = Problems::default();
        let Some(ModuleKind::Ssh(module)) = validate_ssh_module("modules.m", &raw, &mut problems)
        else {
            panic!("valid");
        };
        assert!(module.filesystems.exclude_fstypes.is_empty());
    }
}
