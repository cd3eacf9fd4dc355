//! One device at one instant of simulated time: the scenario in force, the last reboot, and the
//! scenario segments since boot that shape its counters.

use std::time::Duration;

use crate::simulator::scenario::{Condition, Epoch, ScenarioKind};

/// What a request at time `secs` sees of one device's scenario history.
#[derive(Debug)]
pub struct Moment<'h> {
    pub device: u32,
    /// Simulated time, seconds since the fleet started.
    pub secs: f64,
    history: &'h [Epoch],
    /// When the device last rebooted (`None`: it has run since before the fleet started).
    pub boot: Option<f64>,
    /// The scenario the device is under now (`None`: healthy), and since when.
    pub condition: Option<Condition>,
    pub condition_since: f64,
}

/// One stretch of time under one condition, since boot.
#[derive(Debug, Clone, Copy)]
pub struct Segment {
    pub from: f64,
    pub to: f64,
    pub condition: Option<Condition>,
}

fn seconds(duration: Duration) -> f64 {
    duration.as_secs_f64()
}

impl<'h> Moment<'h> {
    pub fn new(device: u32, at: Duration, history: &'h [Epoch]) -> Moment<'h> {
        let secs = seconds(at);
        let mut moment = Moment {
            device,
            secs,
            history,
            boot: None,
            condition: None,
            condition_since: 0.0,
        };
        for (position, epoch) in history.iter().enumerate() {
            let start = seconds(epoch.start);
            if start > secs && position > 0 {
                break;
            }
            let condition = epoch.plan.condition(device).copied();
            moment.condition = condition;
            moment.condition_since = start;
            if let Some(reboot) = condition.filter(|c| c.kind == ScenarioKind::Reboot) {
                let end = moment.epoch_end(position).min(secs);
                moment.boot = Some(last_reboot(start, end, reboot.period));
            }
        }
        moment
    }

    fn epoch_end(&self, position: usize) -> f64 {
        self.history
            .get(position + 1)
            .map_or(f64::INFINITY, |next| seconds(next.start))
    }

    /// The segments between boot (or the fleet's start) and `until`, oldest first.
    pub fn segments(&self, until: f64) -> impl Iterator<Item = Segment> + '_ {
        let since = self.boot.unwrap_or(0.0);
        self.history
            .iter()
            .enumerate()
            .filter_map(move |(position, epoch)| {
                let from = seconds(epoch.start).max(since);
                let to = self.epoch_end(position).min(until);
                (to > from).then(|| Segment {
                    from,
                    to,
                    condition: epoch.plan.condition(self.device).copied(),
                })
            })
    }

    /// The start of the latest epoch since boot, up to now, in which the device is under
    /// `kind`, with its condition.
    pub fn latest(&self, kind: ScenarioKind) -> Option<(f64, Condition)> {
        let since = self.boot.unwrap_or(f64::NEG_INFINITY);
        self.history
            .iter()
            .rev()
            .filter(|epoch| {
                let start = seconds(epoch.start);
                start >= since && start <= self.secs
            })
            .find_map(|epoch| {
                let condition = epoch.plan.condition(self.device)?;
                (condition.kind == kind).then(|| (seconds(epoch.start), *condition))
            })
    }

    /// Whether the device is under `kind` now.
    pub fn is(&self, kind: ScenarioKind) -> bool {
        self.condition.is_some_and(|c| c.kind == kind)
    }
}

/// The last reboot of a `reboot` epoch from `start` seen at `end` (the epoch's end or now):
/// at the start, and every `period` after it when one is given.
fn last_reboot(start: f64, end: f64, period: Option<Duration>) -> f64 {
    match period.map(seconds).filter(|p| *p > 0.0) {
        Some(period) if end > start => start + ((end - start) / period).floor() * period,
        _ => start,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reboots_repeat_every_period() {
        assert_eq!(last_reboot(10.0, 10.0, None), 10.0);
        assert_eq!(last_reboot(10.0, 100.0, None), 10.0);
        let period = Some(Duration::from_secs(30));
        assert_eq!(last_reboot(10.0, 39.0, period), 10.0);
        assert_eq!(last_reboot(10.0, 40.0, period), 40.0);
        assert_eq!(last_reboot(10.0, 95.0, period), 70.0);
    }
}
