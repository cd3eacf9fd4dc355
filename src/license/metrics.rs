//! The license families on `/metrics`, rendered from the service's memory (no I/O on scrape).

use std::time::{SystemTime, UNIX_EPOCH};

use super::service::LicenseService;
use super::status::LicenseState;
use crate::catalog::desc;
use crate::metrics::encode::Encoder;
use crate::metrics::source::MetricSource;
use crate::poller::outcome::Value;

fn unix(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// -1 for unlimited, as dashboards and rules expect.
fn limit(value: Option<u64>) -> Value {
    value.map_or(Value::Float(-1.0), Value::Int)
}

fn gauge(enc: &mut Encoder, name: &str, value: Option<Value>) {
    enc.family(&desc(name));
    if let Some(value) = value {
        enc.sample(name, [], value);
    }
}

impl MetricSource for LicenseService {
    fn encode(&self, enc: &mut Encoder) {
        let snapshot = self.snapshot();
        let status = &snapshot.status;
        gauge(
            enc,
            "ispmonitor_license_valid",
            Some(Value::Int(status.valid() as u64)),
        );
        let name = "ispmonitor_license_state";
        enc.family(&desc(name));
        for state in LicenseState::ALL {
            let on = (state == status.state) as u64;
            enc.sample(name, [("state", state.as_str())], Value::Int(on));
        }
        let name = "ispmonitor_license_info";
        enc.family(&desc(name));
        if let Some(license) = &status.license {
            let p = &license.payload;
            let labels = [
                ("license_id", p.license_id.as_str()),
                ("plan", p.plan.as_str()),
                ("customer", p.customer.as_str()),
            ];
            enc.sample(name, labels, Value::Int(1));
        }
        let days = status.days_until_expiry.map(Value::Float);
        gauge(enc, "ispmonitor_license_days_until_expiry", days);
        let expiry = status
            .license
            .as_ref()
            .map(|l| Value::Float(unix(l.validity.expires_at)));
        gauge(enc, "ispmonitor_license_expiry_timestamp_seconds", expiry);
        let limits = status.limits;
        let usage = snapshot.usage;
        gauge(
            enc,
            "ispmonitor_license_router_limit",
            Some(limit(limits.routers)),
        );
        gauge(
            enc,
            "ispmonitor_license_routers_used",
            usage.map(|u| Value::Int(u.routers)),
        );
        gauge(
            enc,
            "ispmonitor_license_server_limit",
            Some(limit(limits.servers)),
        );
        gauge(
            enc,
            "ispmonitor_license_servers_used",
            usage.map(|u| Value::Int(u.servers)),
        );
        gauge(
            enc,
            "ispmonitor_license_user_limit",
            Some(limit(limits.users)),
        );
        gauge(
            enc,
            "ispmonitor_license_users_used",
            usage.map(|u| Value::Int(u.users)),
        );
        let name = "ispmonitor_license_validations_total";
        enc.family(&desc(name));
        if snapshot.settings.online.is_some() {
            let counts = self.validation_counts();
            for (result, n) in [
                ("success", counts.success),
                ("revoked", counts.revoked),
                ("failure", counts.failure),
            ] {
                enc.sample(name, [("result", result)], Value::Int(n));
            }
        }
        let last_ok = snapshot
            .record
            .last_success_at
            .map(|t| Value::Float(unix(t)));
        gauge(
            enc,
            "ispmonitor_license_last_validation_success_timestamp_seconds",
            last_ok,
        );
        let grace = status.grace_until.map(|t| Value::Float(unix(t)));
        gauge(enc, "ispmonitor_license_grace_end_timestamp_seconds", grace);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Format;

    #[test]
    fn unlicensed_reports_itself_with_starter_limits() {
        let service = LicenseService::new(&Default::default(), None);
        let mut enc = Encoder::new(Format::Text);
        service.encode(&mut enc);
        let text = enc.finish();
        for line in [
            "ispmonitor_license_valid 0\n",
            "ispmonitor_license_state{state=\"unlicensed\"} 1\n",
            "ispmonitor_license_state{state=\"valid\"} 0\n",
            "ispmonitor_license_router_limit 10\n",
            "ispmonitor_license_routers_used 0\n",
            "ispmonitor_license_user_limit 5\n",
            "# TYPE ispmonitor_license_days_until_expiry gauge\n",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
        assert!(
            !text.contains("\nispmonitor_license_days_until_expiry "),
            "{text}"
        );
        assert!(
            !text.contains("ispmonitor_license_validations_total{"),
            "{text}"
        );
    }
}
