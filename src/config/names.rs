//! Rules for the names users choose: targets, labels and custom metric names.

/// Labels that ispmonitor or Prometheus set themselves; a user label with one of these names
/// would collide with them on every series.
pub const RESERVED_LABEL_NAMES: [&str; 6] =
    ["target", "kind", "address", "job", "instance", "protocol"];

/// Prefix of every family we expose; users give metric names without it.
pub const METRIC_PREFIX: &str = "ispmonitor_";

/// Longest target, credential or module name: a DNS name's limit (names are often FQDNs). It
/// also bounds every label value, URL and error message built from a name.
pub const MAX_NAME_LEN: usize = 253;

/// Longest user label name.
pub const MAX_LABEL_NAME_LEN: usize = 128;

/// A name as an error message quotes it: at most 64 characters of it.
fn quoted(name: &str) -> String {
    if name.chars().count() <= 64 {
        format!("{name:?}")
    } else {
        let start: String = name.chars().take(64).collect();
        format!("{start:?}... ({} characters)", name.chars().count())
    }
}

/// Target and module names: 1 to 253 of `[A-Za-z0-9_.:-]` (they end up in label values and
/// URLs).
pub fn check_object_name(name: &str) -> Result<(), String> {
    if name.len() > MAX_NAME_LEN {
        return Err(format!(
            "{} is too long (at most {MAX_NAME_LEN} characters)",
            quoted(name)
        ));
    }
    let valid = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'));
    if valid {
        Ok(())
    } else {
        Err(format!(
            "{} is not a valid name (use letters, digits and _ . : -)",
            quoted(name)
        ))
    }
}

/// Prometheus label name syntax `^[a-zA-Z_][a-zA-Z0-9_]*$`, without the `__` prefix that
/// Prometheus reserves for internal labels.
pub fn check_label_name(name: &str) -> Result<(), String> {
    if name.len() > MAX_LABEL_NAME_LEN {
        return Err(format!(
            "{} is too long for a label name (at most {MAX_LABEL_NAME_LEN} characters)",
            quoted(name)
        ));
    }
    let mut bytes = name.bytes();
    let valid = bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !valid {
        return Err(format!(
            "{} is not a valid label name (must match ^[a-zA-Z_][a-zA-Z0-9_]*$)",
            quoted(name)
        ));
    }
    if name.starts_with("__") {
        return Err(format!(
            "{name:?}: label names starting with __ are reserved by Prometheus"
        ));
    }
    Ok(())
}

/// A free-form target label: a valid label name that is not one we set ourselves.
pub fn check_user_label_name(name: &str) -> Result<(), String> {
    check_label_name(name)?;
    if RESERVED_LABEL_NAMES.contains(&name) {
        return Err(format!(
            "{name:?} is a reserved label name (reserved: {})",
            RESERVED_LABEL_NAMES.join(", ")
        ));
    }
    Ok(())
}

/// A custom metric name as the user writes it: `^[a-z_][a-z0-9_]*$`, without our prefix.
pub fn check_metric_name(name: &str) -> Result<(), String> {
    let mut bytes = name.bytes();
    let valid = bytes
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b == b'_')
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !valid {
        return Err(format!(
            "{name:?} is not a valid metric name (must match ^[a-z_][a-z0-9_]*$)"
        ));
    }
    if name.starts_with(METRIC_PREFIX) {
        return Err(format!(
            "{name:?} must not start with {METRIC_PREFIX:?}: the prefix is added automatically"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_names() {
        assert!(check_object_name("core-1.ams:a_b").is_ok());
        assert!(check_object_name("").is_err());
        assert!(check_object_name("core 1").is_err());
        assert!(check_object_name("core/1").is_err());
        assert!(check_object_name(&"a".repeat(MAX_NAME_LEN)).is_ok());
        let long = check_object_name(&"a".repeat(10_000)).unwrap_err();
        assert!(long.contains("too long") && long.len() < 200, "{long}");
        let unicode = check_object_name(&"é".repeat(100)).unwrap_err();
        assert!(unicode.len() < 300, "{unicode}");
        assert!(check_label_name(&"l".repeat(MAX_LABEL_NAME_LEN + 1)).is_err());
    }

    #[test]
    fn label_names() {
        assert!(check_label_name("site").is_ok());
        assert!(check_label_name("_x9").is_ok());
        assert!(check_label_name("9site").is_err());
        assert!(check_label_name("si-te").is_err());
        assert!(check_label_name("").is_err());
        assert!(check_label_name("__meta").is_err());
    }

    #[test]
    fn user_labels_avoid_reserved_names() {
        assert!(check_user_label_name("role").is_ok());
        for reserved in RESERVED_LABEL_NAMES {
            assert!(check_user_label_name(reserved).is_err(), "{reserved}");
        }
    }

    #[test]
    fn metric_names() {
        assert!(check_metric_name("entity_temperature_celsius").is_ok());
        assert!(check_metric_name("Temperature").is_err());
        assert!(check_metric_name("1temp").is_err());
        assert!(check_metric_name("temp:c").is_err());
        assert!(check_metric_name("ispmonitor_temp").is_err());
    }
}
