//! Content negotiation for expositions: OpenMetrics or classic text from `Accept`, gzip from
//! `Accept-Encoding`.

use std::io::Write as _;

use crate::metrics::Format;

/// One media range of an `Accept` header with its quality.
fn media_ranges(accept: &str) -> impl Iterator<Item = (String, f32)> + '_ {
    accept.split(',').filter_map(|part| {
        let mut params = part.split(';');
        let media = params.next()?.trim().to_ascii_lowercase();
        if media.is_empty() {
            return None;
        }
        let q = params
            .filter_map(|p| p.trim().strip_prefix("q=").map(str::to_string))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        Some((media, q))
    })
}

/// Picks the format: OpenMetrics when the scraper asks for it at least as strongly as for
/// plain text, the classic text format otherwise (also when there is no `Accept`).
pub fn choose_format(accept: Option<&str>) -> Format {
    let Some(accept) = accept else {
        return Format::Text;
    };
    let mut openmetrics = 0.0f32;
    let mut text = 0.0f32;
    for (media, q) in media_ranges(accept) {
        match media.as_str() {
            "application/openmetrics-text" => openmetrics = openmetrics.max(q),
            "text/plain" | "text/*" | "*/*" => text = text.max(q),
            _ => {}
        }
    }
    if openmetrics > 0.0 && openmetrics >= text {
        Format::OpenMetrics
    } else {
        Format::Text
    }
}

/// Whether the client accepts a gzip-encoded body.
pub fn wants_gzip(accept_encoding: Option<&str>) -> bool {
    let Some(header) = accept_encoding else {
        return false;
    };
    media_ranges(header).any(|(coding, q)| (coding == "gzip" || coding == "x-gzip") && q > 0.0)
}

/// Compresses a body with gzip. Fast level: the scrape is on the clock, the network is not.
pub fn gzip(body: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 4),
        flate2::Compression::fast(),
    );
    enc.write_all(body)?;
    enc.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_3_default_accept_gets_openmetrics() {
        let accept = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,\
                      application/openmetrics-text;version=0.0.1;q=0.5,\
                      text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,\
                      text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
        assert_eq!(choose_format(Some(accept)), Format::OpenMetrics);
    }

    #[test]
    fn plain_or_missing_accept_gets_text() {
        assert_eq!(choose_format(None), Format::Text);
        assert_eq!(choose_format(Some("text/plain")), Format::Text);
        assert_eq!(choose_format(Some("*/*")), Format::Text);
        let prefers_text = "text/plain;q=0.9,application/openmetrics-text;q=0.5";
        assert_eq!(choose_format(Some(prefers_text)), Format::Text);
        let refuses_om = "application/openmetrics-text;q=0";
        assert_eq!(choose_format(Some(refuses_om)), Format::Text);
    }

    #[test]
    fn gzip_is_detected_with_quality() {
        assert!(wants_gzip(Some("gzip")));
        assert!(wants_gzip(Some("deflate, gzip;q=0.5")));
        assert!(!wants_gzip(Some("gzip;q=0")));
        assert!(!wants_gzip(Some("identity")));
        assert!(!wants_gzip(None));
    }

    #[test]
    fn gzip_round_trips() {
        let body = b"ispmonitor_target_up{target=\"a\"} 1\n".repeat(100);
        let packed = gzip(&body).unwrap();
        assert!(packed.len() < body.len());
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&packed[..]), &mut out)
            .unwrap();
        assert_eq!(out, body);
    }
}
