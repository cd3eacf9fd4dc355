//! Secrets given inline or through a `*_file` twin; values never reach an error message.

use std::path::Path;

use super::secret::Secret;
use super::validate::Problems;

/// Where one secret field of one credential may come from.
pub struct SecretSource<'a> {
    /// Path of the credential, e.g. `credentials.core_v3`.
    pub parent_path: &'a str,
    /// Name of the inline field, e.g. `auth_password`; the file twin is `<field>_file`.
    pub field: &'a str,
    pub inline: Option<&'a str>,
    pub file: Option<&'a str>,
}

/// Resolves a secret from exactly one of its two sources. Relative file paths are read from
/// `base_dir` (the config file's directory) so a config and its secrets move together.
pub fn resolve_secret(
    source: &SecretSource<'_>,
    base_dir: &Path,
    problems: &mut Problems,
) -> Option<Secret> {
    let field_path = format!("{}.{}", source.parent_path, source.field);
    let file_path = format!("{field_path}_file");
    let value = match (source.inline, source.file) {
        (Some(_), Some(_)) => {
            problems.add(
                &file_path,
                format!("both {0} and {0}_file are set; use only one", source.field),
            );
            return None;
        }
        (None, None) => {
            problems.add(
                &field_path,
                format!("missing (set {0} or {0}_file)", source.field),
            );
            return None;
        }
        (Some(inline), None) => inline.to_string(),
        (None, Some(file)) => read_secret_file(file, base_dir)
            .map_err(|message| problems.add(&file_path, message))
            .ok()?,
    };
    if value.is_empty() {
        let where_ = if source.inline.is_some() {
            &field_path
        } else {
            &file_path
        };
        problems.add(where_, "is empty");
        return None;
    }
    Some(Secret::new(value))
}

/// Reads and trims a secret file. The error names the path and the OS error kind only: the
/// io::Error's own text is safe too, but the kind is all an operator needs.
fn read_secret_file(file: &str, base_dir: &Path) -> Result<String, String> {
    let path = base_dir.join(file);
    std::fs::read_to_string(&path)
        .map(|content| content.trim().to_string())
        .map_err(|error| {
            format!(
                "cannot read {:?}: {}",
                path.display().to_string(),
                error.kind()
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source<'a>(inline: Option<&'a str>, file: Option<&'a str>) -> SecretSource<'a> {
        SecretSource {
            parent_path: "credentials.c",
            field: "community",
            inline,
            file,
        }
    }

    #[test]
    fn inline_value_is_used() {
        let mut problems = Problems::default();
        let secret = resolve_secret(&source(Some("public"), None), Path::new("."), &mut problems);
        assert_eq!(secret.unwrap().expose(), "public");
        assert!(problems.is_empty());
    }

    #[test]
    fn file_is_trimmed_and_relative_to_base_dir() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("community"), "  s3cret-community\n").unwrap();
        let mut problems = Problems::default();
        let secret = resolve_secret(&source(None, Some("community")), dir.path(), &mut problems);
        assert_eq!(secret.unwrap().expose(), "s3cret-community");
    }

    #[test]
    fn both_missing_and_unreadable_are_problems() {
        let mut problems = Problems::default();
        assert!(
            resolve_secret(&source(Some("a"), Some("b")), Path::new("."), &mut problems).is_none()
        );
        assert!(resolve_secret(&source(None, None), Path::new("."), &mut problems).is_none());
        assert!(resolve_secret(
            &source(None, Some("/nonexistent/x")),
            Path::new("."),
            &mut problems
        )
        .is_none());
        let messages: Vec<String> = problems
            .into_vec()
            .iter()
            .map(ToString::to_string)
            .collect();
        assert!(
            messages[0].contains("credentials.c.community_file: both"),
            "{messages:?}"
        );
        assert!(
            messages[1].contains("credentials.c.community: missing"),
            "{messages:?}"
        );
        assert!(messages[2].contains("/nonexistent/x"), "{messages:?}");
        assert!(messages[2].contains("not found"), "{messages:?}");
    }
}
