//! `/proc/loadavg`: the 1, 5 and 15 minute load averages.

use super::ParseError;

const SOURCE: &str = "/proc/loadavg";

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoadAvg {
    pub load1: f64,
    pub load5: f64,
    pub load15: f64,
}

pub fn parse_loadavg(text: &str) -> Result<LoadAvg, ParseError> {
    let mut fields = text.split_whitespace();
    let mut next = || -> Result<f64, ParseError> {
        fields
            .next()
            .and_then(|f| f.parse::<f64>().ok())
            .filter(|v| v.is_finite() && *v >= 0.0)
            .ok_or(ParseError::malformed(SOURCE, 0))
    };
    Ok(LoadAvg {
        load1: next()?,
        load5: next()?,
        load15: next()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_three_averages() {
        let load = parse_loadavg("0.52 0.58 0.59 2/461 12345\n").unwrap();
        assert_eq!((load.load1, load.load5, load.load15), (0.52, 0.58, 0.59));
        assert!(parse_loadavg("0.52 0.58\n").is_err());
        assert!(parse_loadavg("NaN 1 1\n").is_err());
    }
}
