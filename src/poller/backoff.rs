//! Capped exponential backoff between failed connection attempts, shared by the pollers that
//! keep a connection per device (SSH, RouterOS API).

use std::time::Duration;

use tokio::time::Instant;

use super::outcome::FailureReason;

/// Capped exponential backoff with jitter between failed connection attempts: 1 s, 2 s, 4 s...
/// up to 5 min, each +-20 %. A poll due earlier fails at once with the previous reason instead
/// of knocking on a device that just refused us (RouterOS can lock out a user after failed
/// logins).
#[derive(Debug, Default)]
pub struct Backoff {
    failures: u32,
    not_before: Option<Instant>,
    last_reason: Option<FailureReason>,
}

const BACKOFF_BASE: Duration = Duration::from_secs(1);
const BACKOFF_CAP: Duration = Duration::from_secs(300);

impl Backoff {
    /// `Err` with the last reason while a wait is running.
    pub fn check(&self, now: Instant) -> Result<(), FailureReason> {
        match (self.not_before, self.last_reason) {
            (Some(not_before), Some(reason)) if now < not_before => Err(reason),
            _ => Ok(()),
        }
    }

    pub fn failed(&mut self, reason: FailureReason, now: Instant) {
        self.failures = self.failures.saturating_add(1);
        self.last_reason = Some(reason);
        self.not_before = Some(now + backoff_delay(self.failures, rand::random::<f64>()));
    }

    pub fn succeeded(&mut self) {
        *self = Backoff::default();
    }

    pub fn failures(&self) -> u32 {
        self.failures
    }
}

/// The wait after `failures` consecutive failures; `jitter` in 0..1 maps to -20 %..+20 %.
pub fn backoff_delay(failures: u32, jitter: f64) -> Duration {
    let exponent = failures.saturating_sub(1).min(16);
    let delay = BACKOFF_BASE.saturating_mul(1 << exponent).min(BACKOFF_CAP);
    delay.mul_f64(0.8 + 0.4 * jitter.clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(backoff_delay(1, 0.5), Duration::from_secs(1));
        assert_eq!(backoff_delay(3, 0.5), Duration::from_secs(4));
        assert_eq!(backoff_delay(30, 0.5), BACKOFF_CAP);
        assert_eq!(backoff_delay(1, 0.0), Duration::from_millis(800));
        assert_eq!(backoff_delay(1, 1.0), Duration::from_millis(1200));
    }

    #[test]
    fn backoff_reports_the_last_reason_until_it_expires() {
        let now = Instant::now();
        let mut backoff = Backoff::default();
        assert!(backoff.check(now).is_ok());
        backoff.failed(FailureReason::Auth, now);
        assert_eq!(backoff.check(now), Err(FailureReason::Auth));
        assert!(backoff.check(now + Duration::from_secs(2)).is_ok());
        backoff.succeeded();
        assert_eq!(backoff.failures(), 0);
    }
}
