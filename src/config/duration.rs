//! Prometheus-style durations (`30s`, `1m30s`, `500ms`) parsed to and printed from `Duration`.

use std::time::Duration;

/// Units from largest to smallest; a duration lists each at most once, in this order,
/// exactly as Prometheus does (so `1m30s` is valid and `30s1m` is not).
const UNITS: [(&str, u64); 7] = [
    ("y", 365 * 24 * 3600 * 1000),
    ("w", 7 * 24 * 3600 * 1000),
    ("d", 24 * 3600 * 1000),
    ("h", 3600 * 1000),
    ("m", 60 * 1000),
    ("s", 1000),
    ("ms", 1),
];

const EXAMPLES: &str = "use e.g. 30s, 1m, 1m30s, 500ms, 2h";

/// Parses a Prometheus duration. Zero (`0s`) parses; callers that need a positive value check.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let invalid = |why: &str| format!("{text:?} is not a valid duration: {why} ({EXAMPLES})");
    if text.is_empty() {
        return Err(invalid("empty"));
    }
    let mut rest = text;
    let mut next_unit = 0;
    let mut millis: u64 = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(invalid("expected a number"));
        }
        let (number, after) = rest.split_at(digits);
        let number: u64 = number.parse().map_err(|_| invalid("number too large"))?;
        let Some(unit_index) = unit_at_start(after) else {
            return Err(invalid("missing or unknown unit"));
        };
        if unit_index < next_unit {
            return Err(invalid("units must go from largest to smallest, each once"));
        }
        let (unit, unit_millis) = UNITS[unit_index];
        millis = number
            .checked_mul(unit_millis)
            .and_then(|m| m.checked_add(millis))
            .ok_or_else(|| invalid("too large"))?;
        next_unit = unit_index + 1;
        rest = &after[unit.len()..];
    }
    Ok(Duration::from_millis(millis))
}

/// Parses a duration that must be greater than zero (intervals and timeouts).
pub fn parse_positive_duration(text: &str) -> Result<Duration, String> {
    let duration = parse_duration(text)?;
    if duration.is_zero() {
        return Err(format!("{text:?} must be greater than zero"));
    }
    Ok(duration)
}

/// Which unit starts `text`; `ms` is tried before `m` so `500ms` is not read as minutes.
fn unit_at_start(text: &str) -> Option<usize> {
    if text.starts_with("ms") {
        return Some(6);
    }
    UNITS.iter().position(|(unit, _)| text.starts_with(unit))
}

/// Prints a duration the way it would be written in the config (`1m30s`, `500ms`).
pub fn format_duration(duration: Duration) -> String {
    let mut millis = duration.as_millis();
    if millis == 0 {
        return "0s".to_string();
    }
    let mut text = String::new();
    // Years and weeks are skipped: `1d` reads better than mixing in `w` for 7-day multiples.
    for (unit, unit_millis) in &UNITS[2..] {
        let unit_millis = u128::from(*unit_millis);
        let count = millis / unit_millis;
        if count > 0 {
            text.push_str(&format!("{count}{unit}"));
            millis %= unit_millis;
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_prometheus_durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86400)));
        assert_eq!(
            parse_duration("1h1m1s1ms"),
            Ok(Duration::from_millis(3_661_001))
        );
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn rejects_malformed_durations() {
        for bad in [
            "10", "-1s", "abc", "", "1.5s", "30s1m", "1m1m", "s", "10 s", "1x",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn intervals_must_be_positive() {
        let err = parse_positive_duration("0s").unwrap_err();
        assert!(err.contains("greater than zero"), "{err}");
        assert!(parse_positive_duration("1ms").is_ok());
    }

    #[test]
    fn formats_durations_compactly() {
        assert_eq!(format_duration(Duration::from_secs(60)), "1m");
        assert_eq!(format_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(format_duration(Duration::from_millis(500)), "500ms");
        assert_eq!(format_duration(Duration::from_secs(30)), "30s");
        assert_eq!(format_duration(Duration::ZERO), "0s");
    }
}
