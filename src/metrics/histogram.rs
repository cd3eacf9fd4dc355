//! A fixed-bucket histogram for the poller's own timings (cumulative on encode).

/// Bucket counts, sum and count of observations. Not thread-safe: keep it behind a lock.
#[derive(Debug, Clone)]
pub struct Histogram {
    bounds: &'static [f64],
    /// counts[i] = observations <= bounds[i] and > bounds[i-1]; the last slot is +Inf.
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Self {
        Histogram {
            bounds,
            counts: vec![0; bounds.len() + 1],
            sum: 0.0,
            count: 0,
        }
    }

    pub fn observe(&mut self, value: f64) {
        let slot = self.bounds.partition_point(|b| *b < value);
        self.counts[slot] += 1;
        self.sum += value;
        self.count += 1;
    }

    /// (upper bound, cumulative count) pairs, ending with +Inf.
    pub fn cumulative(&self) -> impl Iterator<Item = (f64, u64)> + '_ {
        let bounds = self
            .bounds
            .iter()
            .copied()
            .chain(std::iter::once(f64::INFINITY));
        bounds.zip(self.counts.iter().scan(0u64, |acc, c| {
            *acc += c;
            Some(*acc)
        }))
    }

    pub fn sum(&self) -> f64 {
        self.sum
    }

    pub fn count(&self) -> u64 {
        self.count
    }
}

/// Poll durations: finer below 100 ms (ICMP, LAN SNMP), up to the 30 s a poll may last.
pub const POLL_DURATION_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Scheduling lag: how late a poll started. Healthy is far below 100 ms.
pub const SCHEDULE_LAG_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_land_in_cumulative_buckets() {
        let mut h = Histogram::new(&[0.1, 1.0]);
        h.observe(0.05);
        h.observe(0.1); // le is inclusive
        h.observe(0.5);
        h.observe(7.0);
        let got: Vec<_> = h.cumulative().collect();
        assert_eq!(got, vec![(0.1, 2), (1.0, 3), (f64::INFINITY, 4)]);
        assert_eq!(h.count(), 4);
        assert!((h.sum() - 7.65).abs() < 1e-9);
    }
}
