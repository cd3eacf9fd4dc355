//! What only a MikroTik's RouterOS API shows (PPPoE sessions, DHCP leases, conntrack, health),
//! derived from the device's seed and its API view, so the numbers follow the same clock and
//! scenario history as its SNMP answers.

use std::f64::consts::TAU;

use crate::simulator::device::ApiView;
use crate::simulator::scenario::ScenarioKind;
use crate::simulator::seed::Stream;

const DAY: f64 = 86_400.0;
/// Subscribers reconnect over the first minutes after a reboot, not all at once.
const RECONNECT_SECONDS: f64 = 180.0;
/// Conntrack tables are sized in steps of 16 Ki entries (RouterOS picks from the RAM size; the
/// simulator picks from the expected load so `session-spike` reaches the limit).
const CONNTRACK_STEP: u64 = 16_384;
const CONNTRACK_CEILING: u64 = 1_048_576;

/// DHCP lease statuses RouterOS reports, with the share of leases in each besides `bound`.
pub const LEASE_STATUSES: [(&str, f64); 6] = [
    ("bound", 0.0),
    ("waiting", 0.02),
    ("offered", 0.015),
    ("busy", 0.005),
    ("testing", 0.003),
    ("authorizing", 0.002),
];

/// The RouterOS-only character of one device, drawn once from its seed.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiModel {
    /// Mean PPPoE sessions over a day.
    pppoe_base: f64,
    daily_swing: f64,
    daily_phase: f64,
    /// L2TP sessions per PPPoE session (rows `?service=pppoe` leaves out).
    l2tp_share: f64,
    /// Tracked connections per session.
    per_session: f64,
    pub max_entries: u64,
    /// `session-spike`: sessions times this.
    spike: f64,
    /// `upstream-outage`: the share of sessions that stay up.
    outage_share: f64,
    lease_base: f64,
    temperature: f64,
    voltage: f64,
}

/// Sessions at one moment, by service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sessions {
    pub pppoe: u64,
    pub l2tp: u64,
}

impl Sessions {
    pub fn total(&self) -> u64 {
        self.pppoe + self.l2tp
    }
}

/// One `/system/health` row (RouterOS 7 style).
#[derive(Debug, Clone, PartialEq)]
pub struct Sensor {
    pub name: &'static str,
    pub value: String,
    /// `C`, `V`, `RPM`, or empty for a state.
    pub unit: &'static str,
}

impl ApiModel {
    pub fn new(seed: u64, device: u32) -> ApiModel {
        let stream = Stream::new(seed).child("routeros", u64::from(device));
        let pppoe_base = stream.range(0, 300.0, 3_000.0).floor();
        let daily_swing = stream.range(1, 0.2, 0.35);
        let per_session = stream.range(4, 50.0, 150.0);
        let peak = pppoe_base * (1.0 + daily_swing) * per_session;
        ApiModel {
            pppoe_base,
            daily_swing,
            daily_phase: stream.range(2, 0.0, DAY),
            l2tp_share: stream.range(3, 0.01, 0.04),
            per_session,
            max_entries: conntrack_limit(peak),
            spike: stream.range(5, 2.0, 3.0),
            outage_share: stream.range(6, 0.05, 0.10),
            lease_base: stream.range(7, 150.0, 1_500.0).floor(),
            temperature: stream.range(8, 38.0, 52.0),
            voltage: stream.range(9, 23.8, 24.3),
        }
    }

    /// The daily curve at `secs`: 1 +/- the swing.
    fn daily(&self, secs: f64) -> f64 {
        1.0 + self.daily_swing * (TAU * (secs + self.daily_phase) / DAY).sin()
    }

    pub fn sessions(&self, view: &ApiView) -> Sessions {
        let reconnected = (view.uptime_seconds as f64 / RECONNECT_SECONDS).min(1.0);
        let scenario = match view.condition.map(|c| c.kind) {
            Some(ScenarioKind::SessionSpike) => self.spike,
            Some(ScenarioKind::UpstreamOutage) => self.outage_share,
            _ => 1.0,
        };
        let pppoe = (self.pppoe_base * self.daily(view.secs) * reconnected * scenario).round();
        Sessions {
            pppoe: pppoe as u64,
            l2tp: (pppoe * self.l2tp_share).round() as u64,
        }
    }

    /// Tracked connections: proportional to the sessions, never above max-entries.
    pub fn connections(&self, view: &ApiView) -> u64 {
        let sessions = self.sessions(view).total() as f64;
        let wiggle = 1.0 + 0.03 * (TAU * view.secs / 300.0).sin();
        ((sessions * self.per_session * wiggle).round() as u64).min(self.max_entries)
    }

    /// Leases per status, in `LEASE_STATUSES` order. Leases outlive an outage (their lease
    /// time is hours), so only the daily curve moves them.
    pub fn leases(&self, view: &ApiView) -> [u64; 6] {
        let total = (self.lease_base * (1.0 + (self.daily(view.secs) - 1.0) / 2.0)).round() as u64;
        let mut counts = [0u64; 6];
        for (slot, (_, share)) in counts.iter_mut().zip(LEASE_STATUSES).skip(1) {
            *slot = (total as f64 * share).round() as u64;
        }
        counts[0] = total - counts[1..].iter().sum::<u64>();
        counts
    }

    /// `/system/health` rows: temperatures follow the CPU load.
    pub fn health(&self, view: &ApiView) -> Vec<Sensor> {
        let heat = self.temperature + f64::from(view.cpu_load) * 0.15;
        let celsius = |offset: f64| format!("{:.0}", heat + offset);
        let fan = 4_000.0 + f64::from(view.cpu_load) * 30.0;
        vec![
            Sensor {
                name: "temperature",
                value: celsius(0.0),
                unit: "C",
            },
            Sensor {
                name: "cpu-temperature",
                value: celsius(11.0),
                unit: "C",
            },
            Sensor {
                name: "board-temperature1",
                value: celsius(-3.0),
                unit: "C",
            },
            Sensor {
                name: "board-temperature2",
                value: celsius(-5.0),
                unit: "C",
            },
            Sensor {
                name: "voltage",
                value: format!("{:.1}", self.voltage),
                unit: "V",
            },
            Sensor {
                name: "fan1-speed",
                value: format!("{fan:.0}"),
                unit: "RPM",
            },
            Sensor {
                name: "psu1-state",
                value: "ok".to_string(),
                unit: "",
            },
        ]
    }
}

/// The smallest multiple of 16 Ki at least 1.6 times the daily peak (at most 1 Mi): a healthy
/// router stays below two thirds of it, a 2-3x session spike reaches it.
fn conntrack_limit(peak: f64) -> u64 {
    let wanted = (peak * 1.6).ceil() as u64;
    (wanted.div_ceil(CONNTRACK_STEP) * CONNTRACK_STEP).clamp(CONNTRACK_STEP, CONNTRACK_CEILING)
}

/// How `/system/resource` writes an uptime.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UptimeFormat {
    /// What the API sends: `3w2d4h5m6s`, zero parts left out (`5m`, `0s` at boot).
    #[default]
    Letters,
    /// What the terminal and scripts show: `3w2d04:05:06`.
    Clock,
}

/// An uptime in RouterOS's notation.
pub fn format_uptime(seconds: u64, format: UptimeFormat) -> String {
    let weeks = seconds / (7 * 86_400);
    let days = seconds / 86_400 % 7;
    let (hours, minutes, secs) = (seconds / 3_600 % 24, seconds / 60 % 60, seconds % 60);
    let mut out = String::new();
    if weeks > 0 {
        out.push_str(&format!("{weeks}w"));
    }
    if days > 0 {
        out.push_str(&format!("{days}d"));
    }
    match format {
        UptimeFormat::Clock => out.push_str(&format!("{hours:02}:{minutes:02}:{secs:02}")),
        UptimeFormat::Letters => {
            for (value, unit) in [(hours, 'h'), (minutes, 'm'), (secs, 's')] {
                if value > 0 {
                    out.push_str(&format!("{value}{unit}"));
                }
            }
            if out.is_empty() {
                out.push_str("0s");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulator::scenario::{Condition, ScenarioKind};
    use std::time::Duration;

    fn view(secs: f64, uptime: u64, kind: Option<ScenarioKind>) -> ApiView {
        ApiView {
            secs,
            uptime_seconds: uptime,
            boot: None,
            condition: kind.map(|kind| Condition {
                kind,
                delay: Duration::ZERO,
                loss: 0.0,
                period: None,
            }),
            condition_since: 0.0,
            interfaces: Vec::new(),
            cpu_load: 20,
            cpus: 4,
            memory_total: 1,
            memory_free: 1,
            hdd_total: 1,
            hdd_free: 1,
        }
    }

    #[test]
    fn uptimes_are_written_both_ways() {
        let t = 3 * 7 * 86_400 + 2 * 86_400 + 4 * 3_600 + 5 * 60 + 6;
        assert_eq!(format_uptime(t, UptimeFormat::Letters), "3w2d4h5m6s");
        assert_eq!(format_uptime(t, UptimeFormat::Clock), "3w2d04:05:06");
        assert_eq!(format_uptime(300, UptimeFormat::Letters), "5m");
        assert_eq!(format_uptime(0, UptimeFormat::Letters), "0s");
        assert_eq!(format_uptime(86_400, UptimeFormat::Clock), "1d00:00:00");
    }

    #[test]
    fn the_same_seed_gives_the_same_router_and_others_differ() {
        assert_eq!(ApiModel::new(1, 8), ApiModel::new(1, 8));
        assert_ne!(ApiModel::new(1, 8), ApiModel::new(1, 9));
        assert_ne!(ApiModel::new(1, 8), ApiModel::new(2, 8));
    }

    #[test]
    fn sessions_follow_the_day_and_the_scenarios() {
        for device in 0..50 {
            let model = ApiModel::new(3, device);
            let day = view(1_000.0, 1e6 as u64, None);
            let normal = model.sessions(&day);
            assert!((200..5_000).contains(&normal.pppoe), "{normal:?}");
            assert!(normal.l2tp < normal.pppoe / 10);
            let spike =
                model.sessions(&view(1_000.0, 1e6 as u64, Some(ScenarioKind::SessionSpike)));
            assert!(spike.pppoe >= 2 * normal.pppoe - 1 && spike.pppoe <= 3 * normal.pppoe + 1);
            let outage = model.sessions(&view(
                1_000.0,
                1e6 as u64,
                Some(ScenarioKind::UpstreamOutage),
            ));
            let share = outage.pppoe as f64 / normal.pppoe as f64;
            assert!((0.045..=0.105).contains(&share), "{share}");
            // Twelve hours later the curve has moved.
            assert_ne!(model.sessions(&view(44_200.0, 1e6 as u64, None)), normal);
            // Right after a reboot, few have reconnected yet.
            let booted = model.sessions(&view(1_000.0, 18, None));
            assert!(booted.pppoe <= normal.pppoe / 9);
        }
    }

    #[test]
    fn conntrack_stays_below_its_limit_when_healthy_and_nears_it_in_a_spike() {
        for device in 0..50 {
            let model = ApiModel::new(4, device);
            assert_eq!(model.max_entries % CONNTRACK_STEP, 0);
            assert!(model.max_entries <= CONNTRACK_CEILING);
            let mut healthiest = 0.0f64;
            let mut spiked = 0.0f64;
            for hour in 0..24 {
                let secs = f64::from(hour) * 3_600.0;
                let healthy = model.connections(&view(secs, 1e6 as u64, None));
                healthiest = healthiest.max(healthy as f64 / model.max_entries as f64);
                let spike = view(secs, 1e6 as u64, Some(ScenarioKind::SessionSpike));
                spiked = spiked.max(model.connections(&spike) as f64 / model.max_entries as f64);
            }
            assert!(healthiest < 0.7, "device {device}: {healthiest}");
            assert!(spiked > 0.75, "device {device}: {spiked}");
        }
    }

    #[test]
    fn leases_are_mostly_bound_and_add_up() {
        let model = ApiModel::new(5, 2);
        let counts = model.leases(&view(500.0, 1e6 as u64, None));
        let total: u64 = counts.iter().sum();
        assert!(counts[0] as f64 > 0.9 * total as f64, "{counts:?}");
        assert!(counts[1] > 0, "{counts:?}");
        let outage = model.leases(&view(500.0, 1e6 as u64, Some(ScenarioKind::UpstreamOutage)));
        assert_eq!(outage, counts);
    }

    #[test]
    fn health_has_temperatures_and_a_voltage() {
        let model = ApiModel::new(6, 1);
        let rows = model.health(&view(0.0, 100, None));
        let value = |name: &str| {
            rows.iter()
                .find(|s| s.name == name)
                .map(|s| s.value.parse::<f64>().unwrap())
                .unwrap()
        };
        assert!((30.0..80.0).contains(&value("temperature")));
        assert!(value("cpu-temperature") > value("temperature"));
        assert!((23.0..25.0).contains(&value("voltage")));
        assert_eq!(rows.iter().find(|s| s.name == "voltage").unwrap().unit, "V");
    }
}
