//! `ispmonitor healthcheck`: one GET against a health endpoint, for container HEALTHCHECKs in
//! images that have no curl (distroless).

use std::time::Duration;

use anyhow::{bail, Context};

/// The exporter's liveness endpoint on its default port.
pub const DEFAULT_URL: &str = "http://127.0.0.1:9090/-/healthy";

/// How long the whole request may take: a health check that hangs is a failed health check.
pub const TIMEOUT: Duration = Duration::from_secs(2);

/// GETs `url`: `Ok` on a 2xx answer, an error with a one-line reason otherwise.
pub async fn check(url: &str) -> anyhow::Result<()> {
    let shown = redacted(url);
    let parsed = reqwest::Url::parse(url).with_context(|| format!("--url {shown}: not a URL"))?;
    let response = client()
        .get(parsed)
        .send()
        .await
        // reqwest's errors repeat the URL, user info included: ours names it redacted instead.
        .map_err(|e| anyhow::anyhow!("GET {shown}: {}", reason(&e.without_url())))?;
    let status = response.status();
    if !status.is_success() {
        bail!("GET {shown}: HTTP {status}");
    }
    Ok(())
}

/// No proxies (the target is the container itself, whatever HTTP_PROXY says) and no redirects
/// (a health endpoint answers, it does not send us elsewhere).
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .user_agent(concat!(
            "ispmonitor-healthcheck/",
            env!("CARGO_PKG_VERSION")
        ))
        .timeout(TIMEOUT)
        .connect_timeout(TIMEOUT)
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("the TLS backend initialises")
}

/// The error and its causes on one line ("error sending request: connection refused").
fn reason(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        return format!("no answer within {}s", TIMEOUT.as_secs());
    }
    crate::error_text::one_line(error)
}

/// `url` without a password in its user info, fit for a log line.
fn redacted(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("redacted"));
            parsed.to_string()
        }
        Ok(parsed) => parsed.to_string(),
        Err(_) if url.contains('@') => "(the URL given)".to_string(),
        Err(_) => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_in_the_url_are_not_shown() {
        let shown = redacted("http://admin:hunter2@127.0.0.1:9090/-/healthy");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("127.0.0.1:9090/-/healthy"), "{shown}");
    }

    #[test]
    fn plain_urls_are_shown_as_given() {
        assert_eq!(redacted(DEFAULT_URL), DEFAULT_URL);
    }

    #[tokio::test]
    async fn a_url_that_does_not_parse_is_named() {
        let error = check("not a url").await.unwrap_err().to_string();
        assert!(error.contains("not a URL"), "{error}");
    }
}
