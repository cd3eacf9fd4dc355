//! Online re-validation: `POST {server_url}/validate` with the license id. 2xx is valid, 403 is
//! revoked, anything else (no answer, 5xx, a 404 from a misconfigured URL) is a failure that
//! the grace period absorbs.

use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::document::LicensePayload;
use super::status::ValidationRecord;
use crate::config::OnlineValidation;

/// What the license server said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Valid,
    Revoked,
    /// No usable answer, and why (never containing the URL, which may carry credentials).
    Failed(String),
}

impl Answer {
    /// The `result` label of `ispmonitor_license_validations_total`.
    pub fn label(&self) -> &'static str {
        match self {
            Answer::Valid => "success",
            Answer::Revoked => "revoked",
            Answer::Failed(_) => "failure",
        }
    }
}

/// The request body. Only what identifies the license and the product: no inventory data.
#[derive(Debug, Serialize)]
struct ValidateRequest<'a> {
    license_id: &'a str,
    customer: &'a str,
    plan: &'a str,
    product: &'static str,
    version: &'static str,
}

/// The HTTP client used for validation (rustls, webpki roots, no proxy magic beyond reqwest's
/// standard environment variables).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .user_agent(concat!("ispmonitor/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::limited(3))
        .build()
        .expect("the TLS backend initialises")
}

/// Asks the license server about `license`, within the configured timeout.
pub async fn ask(
    client: &reqwest::Client,
    settings: &OnlineValidation,
    license: &LicensePayload,
) -> Answer {
    let body = ValidateRequest {
        license_id: &license.license_id,
        customer: &license.customer,
        plan: &license.plan,
        product: "ispmonitor",
        version: crate::build_info::VERSION,
    };
    let url = format!("{}/validate", settings.server_url);
    let sent = client
        .post(url)
        .timeout(settings.timeout)
        .json(&body)
        .send()
        .await;
    match sent {
        Ok(response) if response.status().is_success() => Answer::Valid,
        Ok(response) if response.status() == reqwest::StatusCode::FORBIDDEN => Answer::Revoked,
        Ok(response) => Answer::Failed(format!(
            "the license server answered HTTP {}",
            response.status().as_u16()
        )),
        Err(error) => Answer::Failed(crate::error_text::one_line(&error.without_url())),
    }
}

/// Failures are retried sooner than the regular interval, so a short outage is over quickly.
const MAX_RETRY: Duration = Duration::from_secs(300);

/// Whether a validation is due at `now`.
pub fn due(record: &ValidationRecord, interval: Duration, now: SystemTime) -> bool {
    let Some(last) = record.last_attempt_at else {
        return true;
    };
    let wait = if record.failures == 0 {
        interval
    } else {
        interval.min(MAX_RETRY)
    };
    now.duration_since(last).is_ok_and(|since| since >= wait)
}

/// The record after `answer` at `now`.
pub fn record_after(
    previous: &ValidationRecord,
    answer: &Answer,
    now: SystemTime,
) -> ValidationRecord {
    match answer {
        Answer::Valid => ValidationRecord {
            last_attempt_at: Some(now),
            last_success_at: Some(now),
            failing_since: None,
            failures: 0,
            last_error: None,
            revoked_at: None,
        },
        Answer::Revoked => ValidationRecord {
            last_attempt_at: Some(now),
            revoked_at: previous.revoked_at.or(Some(now)),
            last_error: Some("the license server revoked this license (HTTP 403)".into()),
            ..previous.clone()
        },
        Answer::Failed(why) => ValidationRecord {
            last_attempt_at: Some(now),
            failing_since: previous.failing_since.or(Some(now)),
            failures: previous.failures.saturating_add(1),
            last_error: Some(why.clone()),
            ..previous.clone()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn due_after_the_interval_and_sooner_after_a_failure() {
        let t0 = SystemTime::UNIX_EPOCH + 1000 * HOUR;
        assert!(due(&ValidationRecord::default(), 24 * HOUR, t0));
        let ok = record_after(&ValidationRecord::default(), &Answer::Valid, t0);
        assert!(!due(&ok, 24 * HOUR, t0 + 23 * HOUR));
        assert!(due(&ok, 24 * HOUR, t0 + 24 * HOUR));
        let failed = record_after(&ok, &Answer::Failed("refused".into()), t0 + 24 * HOUR);
        assert!(!due(&failed, 24 * HOUR, t0 + 24 * HOUR + MAX_RETRY / 2));
        assert!(due(&failed, 24 * HOUR, t0 + 24 * HOUR + MAX_RETRY));
        // A clock that went backwards never makes a validation due early.
        assert!(!due(&ok, 24 * HOUR, t0 - HOUR));
    }

    #[test]
    fn failures_accumulate_from_the_first_and_a_success_clears_them() {
        let t0 = SystemTime::UNIX_EPOCH + 1000 * HOUR;
        let ok = record_after(&ValidationRecord::default(), &Answer::Valid, t0);
        let one = record_after(&ok, &Answer::Failed("a".into()), t0 + HOUR);
        let two = record_after(&one, &Answer::Failed("b".into()), t0 + 2 * HOUR);
        assert_eq!(two.failures, 2);
        assert_eq!(two.failing_since, Some(t0 + HOUR));
        assert_eq!(two.last_success_at, Some(t0));
        assert_eq!(two.last_error.as_deref(), Some("b"));
        let back = record_after(&two, &Answer::Valid, t0 + 3 * HOUR);
        assert_eq!(back.failures, 0);
        assert_eq!(back.failing_since, None);
        assert_eq!(back.last_success_at, Some(t0 + 3 * HOUR));
    }

    #[test]
    fn revocation_sticks_until_a_success() {
        let t0 = SystemTime::UNIX_EPOCH + 1000 * HOUR;
        let revoked = record_after(&ValidationRecord::default(), &Answer::Revoked, t0);
        assert_eq!(revoked.revoked_at, Some(t0));
        let unreachable = record_after(&revoked, &Answer::Failed("x".into()), t0 + HOUR);
        assert_eq!(unreachable.revoked_at, Some(t0));
        let again = record_after(&unreachable, &Answer::Revoked, t0 + 2 * HOUR);
        assert_eq!(again.revoked_at, Some(t0));
        let cleared = record_after(&again, &Answer::Valid, t0 + 3 * HOUR);
        assert_eq!(cleared.revoked_at, None);
    }
}
