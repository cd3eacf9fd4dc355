//! Traffic as a smooth, always-positive rate whose integral has a closed form, so a counter's
//! value at any time is computed in O(1): mean x (1 + a daily sine + a five-minute sine).

use std::f64::consts::TAU;

const DAY: f64 = 86_400.0;
const FIVE_MINUTES: f64 = 300.0;

/// A rate in units per second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Wave {
    pub mean: f64,
    /// Relative amplitude of the daily component (the sum of amplitudes stays below 1, so the
    /// rate never reaches zero and counters only go up).
    pub daily: f64,
    pub fast: f64,
    /// Phases in seconds.
    pub daily_phase: f64,
    pub fast_phase: f64,
}

impl Wave {
    pub const IDLE: Wave = Wave {
        mean: 0.0,
        daily: 0.0,
        fast: 0.0,
        daily_phase: 0.0,
        fast_phase: 0.0,
    };

    /// A nearly flat rate (a saturated link): 1 % wiggle.
    pub fn flat(mean: f64, phase: f64) -> Wave {
        Wave {
            mean,
            daily: 0.0,
            fast: 0.01,
            daily_phase: 0.0,
            fast_phase: phase,
        }
    }

    /// The rate at time `t` (seconds).
    pub fn rate(&self, t: f64) -> f64 {
        let daily = self.daily * (TAU * (t + self.daily_phase) / DAY).sin();
        let fast = self.fast * (TAU * (t + self.fast_phase) / FIVE_MINUTES).sin();
        self.mean * (1.0 + daily + fast)
    }

    /// The integral of the rate from `from` to `to` (seconds, `from` <= `to`).
    pub fn integral(&self, from: f64, to: f64) -> f64 {
        if to <= from || self.mean == 0.0 {
            return 0.0;
        }
        let swing = |amplitude: f64, period: f64, phase: f64| {
            let k = TAU / period;
            amplitude / k * ((k * (from + phase)).cos() - (k * (to + phase)).cos())
        };
        let value = self.mean
            * ((to - from)
                + swing(self.daily, DAY, self.daily_phase)
                + swing(self.fast, FIVE_MINUTES, self.fast_phase));
        value.max(0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wave() -> Wave {
        Wave {
            mean: 1e9,
            daily: 0.5,
            fast: 0.2,
            daily_phase: 1234.0,
            fast_phase: 17.0,
        }
    }

    #[test]
    fn integral_matches_a_numeric_sum_of_the_rate() {
        let w = wave();
        let (from, to) = (100.0, 700.0);
        let steps = 60_000;
        let dt = (to - from) / steps as f64;
        let numeric: f64 = (0..steps)
            .map(|i| w.rate(from + (i as f64 + 0.5) * dt) * dt)
            .sum();
        let exact = w.integral(from, to);
        assert!(
            (numeric - exact).abs() / exact < 1e-6,
            "{numeric} vs {exact}"
        );
    }

    #[test]
    fn rate_stays_positive_so_integrals_only_grow() {
        let w = wave();
        let mut last = 0.0;
        for step in 1..5_000 {
            let t = f64::from(step) * 37.0;
            assert!(w.rate(t) > 0.0);
            let value = w.integral(0.0, t);
            assert!(value >= last);
            last = value;
        }
        assert_eq!(Wave::IDLE.integral(0.0, 100.0), 0.0);
    }
}
