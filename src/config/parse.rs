//! YAML text to the raw mirror with serde-saphyr; a parse error becomes one `ConfigProblem`.

use serde_saphyr::{MessageFormatter, UserMessageFormatter};

use super::raw::RawConfig;
use super::yaml_path::{path_at, LineColumn};
use super::ConfigProblem;

/// Parses the YAML document. serde-saphyr rejects unknown keys (through
/// `deny_unknown_fields`), duplicate keys and wrong types, and its default budget caps
/// alias expansion and nesting so a hostile file cannot exhaust memory.
pub fn parse_raw(yaml: &str) -> Result<RawConfig, ConfigProblem> {
    parse_yaml::<RawConfig>(yaml)
}

/// Any strictly typed YAML document (the web config file too), with the same error paths.
pub fn parse_yaml<T: serde::de::DeserializeOwned>(yaml: &str) -> Result<T, ConfigProblem> {
    // Snippets are off: they quote source lines, and a line may hold a secret.
    let options = serde_saphyr::options! { with_snippet: false };
    serde_saphyr::from_str_with_options::<T>(yaml, options)
        .map_err(|error| parse_problem(yaml, &error))
}

fn parse_problem(yaml: &str, error: &serde_saphyr::Error) -> ConfigProblem {
    // The user-facing formatter leaves out developer hints ("set DuplicateKeyPolicy...").
    let message = UserMessageFormatter.format_message(error.without_snippet());
    let message = without_control_characters(&message);
    let Some(location) = error.location() else {
        return ConfigProblem {
            path: String::new(),
            message,
        };
    };
    let position = LineColumn {
        line: location.line(),
        column: location.column(),
    };
    let where_ = format!("line {}, column {}", position.line, position.column);
    match path_at(yaml, position) {
        Some(path) if !path.is_empty() => ConfigProblem {
            path,
            message: format!("{message} ({where_})"),
        },
        _ => ConfigProblem {
            path: where_,
            message,
        },
    }
}

/// serde-saphyr asks callers of `format_message` to neutralise control characters before
/// printing: a scalar in a message could otherwise carry terminal escapes.
fn without_control_characters(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_key_names_path_and_position() {
        let problem = parse_raw("targets:\n  - {name: a, adress: b}\n").unwrap_err();
        assert_eq!(problem.path, "targets[0].adress");
        assert!(problem.message.contains("adress"), "{problem}");
        assert!(problem.message.contains("line 2, column 15"), "{problem}");
    }

    #[test]
    fn duplicate_key_is_rejected() {
        let problem = parse_raw("global:\n  interval: 1m\n  interval: 2m\n").unwrap_err();
        assert_eq!(problem.path, "global.interval");
        assert!(problem.message.contains("duplicate"), "{problem}");
    }

    #[test]
    fn syntax_error_gives_line_and_column() {
        let problem = parse_raw("targets: [\n").unwrap_err();
        assert!(problem.path.starts_with("line 1"), "{problem}");
    }

    #[test]
    fn empty_document_is_an_empty_config() {
        let raw = parse_raw("").unwrap();
        assert!(raw.targets.is_none());
    }
}
