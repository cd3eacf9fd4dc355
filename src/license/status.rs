//! The license state as a pure function of what is installed, how online validation went and
//! the time: no I/O and an explicit `now`, so every transition is unit-tested with a
//! controllable clock.

use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::document::{days_until, format_time, VerifiedLicense};
use super::plan::{unlicensed_limits, Limits};

/// Vendor and customer clocks differ a little: a license issued a few minutes "in the future"
/// is already valid.
pub const CLOCK_SKEW: Duration = Duration::from_secs(300);

/// Where the license stands. Only `valid` and `grace` grant the license's limits; every other
/// state falls back to the starter limits. No state ever stops polling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LicenseState {
    /// No license installed.
    Unlicensed,
    Valid,
    /// Valid, but online validation is failing; the grace period has not run out yet.
    Grace,
    /// The license text does not verify (altered, or the trusted keys changed).
    Invalid,
    NotYetValid,
    Expired,
    /// The license server answered 403 for this license.
    Revoked,
    /// Online validation has failed for longer than the grace period.
    ValidationOverdue,
}

impl LicenseState {
    pub const ALL: [LicenseState; 8] = [
        LicenseState::Unlicensed,
        LicenseState::Valid,
        LicenseState::Grace,
        LicenseState::Invalid,
        LicenseState::NotYetValid,
        LicenseState::Expired,
        LicenseState::Revoked,
        LicenseState::ValidationOverdue,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LicenseState::Unlicensed => "unlicensed",
            LicenseState::Valid => "valid",
            LicenseState::Grace => "grace",
            LicenseState::Invalid => "invalid",
            LicenseState::NotYetValid => "not_yet_valid",
            LicenseState::Expired => "expired",
            LicenseState::Revoked => "revoked",
            LicenseState::ValidationOverdue => "validation_overdue",
        }
    }

    /// Whether the license's own limits apply.
    pub fn grants_license(self) -> bool {
        matches!(self, LicenseState::Valid | LicenseState::Grace)
    }
}

/// The installed license, as far as it could be read.
#[derive(Debug, Clone)]
pub enum Installed {
    None,
    Verified(Box<VerifiedLicense>),
    /// Text is installed but does not verify: why.
    Unusable(String),
}

/// Online validation's record, as stored in `license_state`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValidationRecord {
    pub last_attempt_at: Option<SystemTime>,
    pub last_success_at: Option<SystemTime>,
    /// The first failure since the last success (the grace baseline when there never was one).
    pub failing_since: Option<SystemTime>,
    /// Consecutive failures since the last success.
    pub failures: u64,
    pub last_error: Option<String>,
    pub revoked_at: Option<SystemTime>,
}

/// Online validation's settings; `None` when it is off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OnlinePolicy {
    pub grace: Duration,
}

/// Everything the API, the metrics and enforcement need to know.
#[derive(Debug, Clone)]
pub struct LicenseStatus {
    pub state: LicenseState,
    /// The limits in force: the license's while it grants them, the starter plan's otherwise.
    pub limits: Limits,
    /// The plan whose limits are in force (`starter` when falling back).
    pub limits_plan: String,
    pub license: Option<VerifiedLicense>,
    pub days_until_expiry: Option<f64>,
    /// When online validation runs out of grace (only while it is failing).
    pub grace_until: Option<SystemTime>,
    /// One sentence for people: the state, why, and what it means.
    pub message: String,
}

impl LicenseStatus {
    pub fn valid(&self) -> bool {
        self.state.grants_license()
    }
}

/// The state at `now`.
pub fn evaluate(
    installed: &Installed,
    record: &ValidationRecord,
    online: Option<OnlinePolicy>,
    now: SystemTime,
) -> LicenseStatus {
    let license = match installed {
        Installed::None => {
            return fallback(
                LicenseState::Unlicensed,
                None,
                "no license is installed: the starter limits apply to the API inventory".into(),
                now,
            )
        }
        Installed::Unusable(why) => {
            return fallback(
                LicenseState::Invalid,
                None,
                format!("the installed license is not usable ({why}); the starter limits apply"),
                now,
            )
        }
        Installed::Verified(license) => license.as_ref(),
    };
    let validity = license.validity;
    if let Some(revoked_at) = record.revoked_at {
        let message = format!(
            "license {} was revoked by the license server ({}); the starter limits apply",
            license.payload.license_id,
            format_time(revoked_at)
        );
        return fallback(LicenseState::Revoked, Some(license), message, now);
    }
    if now + CLOCK_SKEW < validity.issued_at {
        let message = format!(
            "license {} is not valid before {}; the starter limits apply until then",
            license.payload.license_id, license.payload.issued_at
        );
        return fallback(LicenseState::NotYetValid, Some(license), message, now);
    }
    if now >= validity.expires_at {
        let message = format!(
            "license {} expired on {}; the starter limits apply to the API inventory, polling continues",
            license.payload.license_id, license.payload.expires_at
        );
        return fallback(LicenseState::Expired, Some(license), message, now);
    }
    match online.and_then(|policy| grace_deadline(record, policy)) {
        Some(deadline) if now >= deadline => {
            let message = format!(
                "license {} could not be validated online since {} and the grace period ended {}: {}; the starter limits apply",
                license.payload.license_id,
                record.last_success_at.map_or("it was installed".into(), format_time),
                format_time(deadline),
                record.last_error.as_deref().unwrap_or("no answer"),
            );
            fallback(LicenseState::ValidationOverdue, Some(license), message, now)
        }
        Some(deadline) => {
            let message = format!(
                "license {} is valid, but online validation is failing ({}); the grace period ends {}",
                license.payload.license_id,
                record.last_error.as_deref().unwrap_or("no answer"),
                format_time(deadline)
            );
            LicenseStatus {
                grace_until: Some(deadline),
                ..granted(LicenseState::Grace, license, message, now)
            }
        }
        None => {
            let message = format!(
                "license {} ({}) is valid until {}",
                license.payload.license_id, license.payload.plan, license.payload.expires_at
            );
            granted(LicenseState::Valid, license, message, now)
        }
    }
}

/// While online validation is failing: when the grace period ends. Counted from the last
/// successful validation, or from the first failure when there never was one.
fn grace_deadline(record: &ValidationRecord, policy: OnlinePolicy) -> Option<SystemTime> {
    if record.failures == 0 {
        return None;
    }
    let baseline = record.last_success_at.or(record.failing_since)?;
    Some(baseline.checked_add(policy.grace).unwrap_or(baseline))
}

fn granted(
    state: LicenseState,
    license: &VerifiedLicense,
    message: String,
    now: SystemTime,
) -> LicenseStatus {
    LicenseStatus {
        state,
        limits: license.payload.limits(),
        limits_plan: license.payload.plan.clone(),
        license: Some(license.clone()),
        days_until_expiry: Some(days_until(license.validity.expires_at, now)),
        grace_until: None,
        message,
    }
}

fn fallback(
    state: LicenseState,
    license: Option<&VerifiedLicense>,
    message: String,
    now: SystemTime,
) -> LicenseStatus {
    LicenseStatus {
        state,
        limits: unlicensed_limits(),
        limits_plan: "starter".into(),
        license: license.cloned(),
        days_until_expiry: license.map(|l| days_until(l.validity.expires_at, now)),
        grace_until: None,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::license::document::tests::{payload, test_signing_key};
    use crate::license::document::{sign, verify};
    use crate::license::keys::TrustedKeys;

    fn at(text: &str) -> SystemTime {
        humantime::parse_rfc3339(text).unwrap()
    }

    /// A professional license valid through 2026.
    fn professional() -> Installed {
        let text = sign(&payload("professional", Some(100)), &test_signing_key()).unwrap();
        Installed::Verified(Box::new(
            verify(&text, &TrustedKeys::load(None).unwrap()).unwrap(),
        ))
    }

    const HOUR: Duration = Duration::from_secs(3600);
    const GRACE: Option<OnlinePolicy> = Some(OnlinePolicy {
        grace: Duration::from_secs(72 * 3600),
    });

    #[test]
    fn unlicensed_and_unusable_fall_back_to_starter_limits() {
        let now = at("2026-06-01T00:00:00Z");
        let status = evaluate(&Installed::None, &ValidationRecord::default(), None, now);
        assert_eq!(status.state, LicenseState::Unlicensed);
        assert!(!status.valid());
        assert_eq!(status.limits.routers, Some(10));
        assert_eq!(status.limits_plan, "starter");
        assert_eq!(status.days_until_expiry, None);
        let status = evaluate(
            &Installed::Unusable("bad signature".into()),
            &ValidationRecord::default(),
            None,
            now,
        );
        assert_eq!(status.state, LicenseState::Invalid);
        assert!(
            status.message.contains("bad signature"),
            "{}",
            status.message
        );
    }

    #[test]
    fn the_validity_window_is_issued_at_to_expires_at() {
        let record = ValidationRecord::default();
        let inside = evaluate(&professional(), &record, None, at("2026-06-01T00:00:00Z"));
        assert_eq!(inside.state, LicenseState::Valid);
        assert_eq!(inside.limits.routers, Some(100));
        assert_eq!(inside.limits_plan, "professional");
        let early = evaluate(&professional(), &record, None, at("2025-12-31T23:00:00Z"));
        assert_eq!(early.state, LicenseState::NotYetValid);
        assert_eq!(early.limits.routers, Some(10));
        // Within the clock skew, already valid.
        let skewed = evaluate(&professional(), &record, None, at("2025-12-31T23:57:00Z"));
        assert_eq!(skewed.state, LicenseState::Valid);
        let last_second = evaluate(&professional(), &record, None, at("2026-12-31T23:59:59Z"));
        assert_eq!(last_second.state, LicenseState::Valid);
        let expired = evaluate(&professional(), &record, None, at("2027-01-01T00:00:00Z"));
        assert_eq!(expired.state, LicenseState::Expired);
        assert_eq!(expired.limits.routers, Some(10));
        assert_eq!(expired.days_until_expiry, Some(0.0));
        assert!(expired.message.contains("polling continues"));
    }

    #[test]
    fn grace_runs_from_the_last_success_and_then_runs_out() {
        let ok = at("2026-06-01T00:00:00Z");
        let failing = ValidationRecord {
            last_attempt_at: Some(ok + 10 * HOUR),
            last_success_at: Some(ok),
            failing_since: Some(ok + HOUR),
            failures: 3,
            last_error: Some("connection refused".into()),
            revoked_at: None,
        };
        let during = evaluate(&professional(), &failing, GRACE, ok + 71 * HOUR);
        assert_eq!(during.state, LicenseState::Grace);
        assert!(during.valid());
        assert_eq!(during.limits.routers, Some(100));
        assert_eq!(during.grace_until, Some(ok + 72 * HOUR));
        let after = evaluate(&professional(), &failing, GRACE, ok + 72 * HOUR);
        assert_eq!(after.state, LicenseState::ValidationOverdue);
        assert!(!after.valid());
        assert_eq!(after.limits.routers, Some(10));
        assert!(
            after.message.contains("connection refused"),
            "{}",
            after.message
        );
        // Offline validation off: the same record means nothing.
        let offline = evaluate(&professional(), &failing, None, ok + 1000 * HOUR);
        assert_eq!(offline.state, LicenseState::Valid);
        // A success clears the failure.
        let recovered = ValidationRecord {
            failures: 0,
            failing_since: None,
            last_success_at: Some(ok + 80 * HOUR),
            ..failing.clone()
        };
        let back = evaluate(&professional(), &recovered, GRACE, ok + 80 * HOUR);
        assert_eq!(back.state, LicenseState::Valid);
    }

    #[test]
    fn without_any_success_grace_counts_from_the_first_failure() {
        let first = at("2026-06-01T00:00:00Z");
        let never = ValidationRecord {
            last_attempt_at: Some(first),
            failing_since: Some(first),
            failures: 1,
            ..Default::default()
        };
        let policy = Some(OnlinePolicy { grace: HOUR });
        assert_eq!(
            evaluate(&professional(), &never, policy, first + HOUR / 2).state,
            LicenseState::Grace
        );
        assert_eq!(
            evaluate(&professional(), &never, policy, first + HOUR).state,
            LicenseState::ValidationOverdue
        );
    }

    #[test]
    fn grace_ends_exactly_at_its_deadline() {
        let ok = at("2026-06-01T00:00:00Z");
        let grace = Duration::from_secs(3);
        let failing = ValidationRecord {
            last_attempt_at: Some(ok + Duration::from_secs(2)),
            last_success_at: Some(ok),
            failing_since: Some(ok + Duration::from_secs(1)),
            failures: 2,
            last_error: Some("connection refused".into()),
            revoked_at: None,
        };
        let policy = Some(OnlinePolicy { grace });
        let deadline = ok + grace;
        let just_before = evaluate(
            &professional(),
            &failing,
            policy,
            deadline - Duration::from_nanos(1),
        );
        assert_eq!(just_before.state, LicenseState::Grace);
        assert_eq!(just_before.grace_until, Some(deadline));
        let at_deadline = evaluate(&professional(), &failing, policy, deadline);
        assert_eq!(at_deadline.state, LicenseState::ValidationOverdue);
        assert_eq!(at_deadline.grace_until, None);
        assert_eq!(at_deadline.limits_plan, "starter");
        // A clock that went backwards before the last success is still within grace.
        let earlier = evaluate(
            &professional(),
            &failing,
            policy,
            ok - Duration::from_secs(60),
        );
        assert_eq!(earlier.state, LicenseState::Grace);
    }

    #[test]
    fn expiry_wins_over_a_running_grace_period() {
        let ok = at("2026-12-31T00:00:00Z");
        let failing = ValidationRecord {
            last_attempt_at: Some(ok + HOUR),
            last_success_at: Some(ok),
            failing_since: Some(ok + HOUR),
            failures: 1,
            last_error: Some("HTTP 500".into()),
            revoked_at: None,
        };
        let before = evaluate(&professional(), &failing, GRACE, ok + 23 * HOUR);
        assert_eq!(before.state, LicenseState::Grace);
        let expired = evaluate(&professional(), &failing, GRACE, ok + 24 * HOUR);
        assert_eq!(expired.state, LicenseState::Expired);
        assert_eq!(expired.grace_until, None);
    }

    #[test]
    fn a_revoked_license_stays_revoked_while_the_server_is_unreachable() {
        let ok = at("2026-06-01T00:00:00Z");
        let revoked_then_unreachable = ValidationRecord {
            last_attempt_at: Some(ok + 2 * HOUR),
            last_success_at: Some(ok),
            failing_since: Some(ok + 2 * HOUR),
            failures: 1,
            last_error: Some("connection refused".into()),
            revoked_at: Some(ok + HOUR),
        };
        for now in [ok + 2 * HOUR, ok + 100 * HOUR] {
            let status = evaluate(&professional(), &revoked_then_unreachable, GRACE, now);
            assert_eq!(status.state, LicenseState::Revoked, "at {now:?}");
            assert!(!status.valid());
        }
    }

    #[test]
    fn revocation_wins_over_everything_but_an_uninstalled_license() {
        let now = at("2026-06-01T00:00:00Z");
        let revoked = ValidationRecord {
            revoked_at: Some(now),
            last_success_at: Some(now),
            ..Default::default()
        };
        let status = evaluate(&professional(), &revoked, GRACE, now);
        assert_eq!(status.state, LicenseState::Revoked);
        assert_eq!(status.limits.routers, Some(10));
        assert!(status.license.is_some());
    }

    #[test]
    fn days_until_expiry_is_reported_while_valid() {
        let status = evaluate(
            &professional(),
            &ValidationRecord::default(),
            None,
            at("2026-12-02T00:00:00Z"),
        );
        assert_eq!(status.days_until_expiry, Some(30.0));
    }
}
