//! Configuration: the YAML file, its validation, and the validated model the program runs on.

pub mod address;
mod credential;
pub mod duration;
mod extra_inventory;
mod icmp_module;
pub mod model;
mod module;
mod names;
pub mod oid;
mod parse;
pub mod raw;
mod routeros_credential;
mod routeros_module;
pub mod secret;
mod secret_source;
mod server_sections;
mod ssh_credential;
mod ssh_module;
mod target;
mod validate;
mod yaml_path;

pub use extra_inventory::{validate_extra, ExtraInventory, ValidatedExtra};
pub use model::*;
pub use parse::parse_yaml;
pub use raw::{RawCredential, RawTarget};
pub use secret::Secret;
pub use server_sections::DEFAULT_API_LISTEN_ADDRESS;

use std::fmt;
use std::path::Path;

/// One problem found in a config file, with the YAML path it concerns
/// (e.g. `targets[3].credential`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    pub path: String,
    pub message: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Every problem found in a config file, reported at once.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors {
    /// The file the problems were found in, if it came from a file.
    pub file: Option<String>,
    pub problems: Vec<ConfigProblem>,
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        match &self.file {
            Some(file) => writeln!(f, "{file}: {n} problem(s):")?,
            None => writeln!(f, "{n} config problem(s):")?,
        }
        for p in &self.problems {
            writeln!(f, "  - {p}")?;
        }
        Ok(())
    }
}

/// Reads, parses and validates a config file. `*_file` secrets are read relative to the
/// file's directory.
pub fn load_file(path: &Path) -> Result<Config, ConfigErrors> {
    let file = Some(path.display().to_string());
    let yaml = std::fs::read_to_string(path).map_err(|error| ConfigErrors {
        file: file.clone(),
        problems: vec![ConfigProblem {
            path: String::new(),
            message: format!("cannot read the config file: {}", error.kind()),
        }],
    })?;
    let base_dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    load_str(&yaml, base_dir).map_err(|errors| ConfigErrors { file, ..errors })
}

/// Parses and validates YAML text; `base_dir` resolves relative `*_file` paths.
pub fn load_str(yaml: &str, base_dir: &Path) -> Result<Config, ConfigErrors> {
    let into_errors = |problems| ConfigErrors {
        file: None,
        problems,
    };
    let raw = parse::parse_raw(yaml).map_err(|problem| into_errors(vec![problem]))?;
    validate::validate(&raw, base_dir).map_err(into_errors)
}
