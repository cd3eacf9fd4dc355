//! `/proc/uptime`: seconds since boot (used for the boot time when `/proc/stat` has no `btime`).

use super::ParseError;

const SOURCE: &str = "/proc/uptime";

pub fn parse_uptime(text: &str) -> Result<f64, ParseError> {
    text.split_whitespace()
        .next()
        .and_then(|f| f.parse::<f64>().ok())
        .filter(|v| v.is_finite() && *v >= 0.0)
        .ok_or(ParseError::malformed(SOURCE, 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_seconds_since_boot() {
        assert_eq!(parse_uptime("350735.47 234388.90\n"), Ok(350735.47));
        assert!(parse_uptime("").is_err());
    }
}
