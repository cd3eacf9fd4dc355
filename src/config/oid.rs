//! Numeric OIDs as written in custom modules (`1.3.6.1.2.1.1.3`, optional leading dot).

/// Parses a dotted numeric OID into its sub-identifiers.
pub fn parse_oid(text: &str) -> Result<Vec<u32>, String> {
    let dotted = text.strip_prefix('.').unwrap_or(text);
    let invalid = |why: &str| format!("{text:?} is not a numeric OID: {why}");
    if dotted.is_empty() {
        return Err(invalid("empty"));
    }
    let parts = dotted
        .split('.')
        .map(|part| {
            parse_sub_identifier(part).ok_or_else(|| invalid(&format!("bad part {part:?}")))
        })
        .collect::<Result<Vec<u32>, String>>()?;
    if parts.len() < 2 {
        return Err(invalid("needs at least two sub-identifiers"));
    }
    Ok(parts)
}

/// Digits only (no sign, no spaces), within u32 as SNMP requires.
fn parse_sub_identifier(part: &str) -> Option<u32> {
    if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    part.parse().ok()
}

/// The OID in canonical dotted form, without a leading dot.
pub fn format_oid(oid: &[u32]) -> String {
    oid.iter().map(u32::to_string).collect::<Vec<_>>().join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_numeric_oids() {
        assert_eq!(
            parse_oid("1.3.6.1.2.1.1.3"),
            Ok(vec![1, 3, 6, 1, 2, 1, 1, 3])
        );
        assert_eq!(parse_oid(".1.3.6"), Ok(vec![1, 3, 6]));
        assert_eq!(parse_oid("1.4294967295"), Ok(vec![1, u32::MAX]));
    }

    #[test]
    fn rejects_malformed_oids() {
        for bad in [
            "",
            ".",
            "1",
            "1..3",
            "1.3.",
            "1.3.x",
            "1.4294967296",
            "iso.3.6",
            "1.-3",
            "1.+3",
            " 1.3",
        ] {
            assert!(parse_oid(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn formats_without_leading_dot() {
        assert_eq!(format_oid(&[1, 3, 6, 1]), "1.3.6.1");
    }
}
