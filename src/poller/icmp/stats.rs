//! A target's ICMP counters and RTT histogram, accumulated over the target's lifetime and turned
//! into samples after every probe (also after a probe without a single reply).

use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use super::IpVersion;
use crate::catalog::{desc, FamilyDesc};
use crate::poller::label_set::LabelSet;
use crate::poller::outcome::{FamilySamples, HistogramSnapshot, Sample, Value};

/// The ICMP families' descriptions and label name, looked up once: samples are rebuilt after
/// every probe (10,000 a second at scale), and a catalogue lookup hashes the family name.
struct Families {
    requests: Arc<FamilyDesc>,
    replies: Arc<FamilyDesc>,
    rtt: Arc<FamilyDesc>,
    /// `ip_version="4"` and `ip_version="6"`, rendered once and shared by every sample.
    v4_labels: LabelSet,
    v6_labels: LabelSet,
}

static FAMILIES: LazyLock<Families> = LazyLock::new(|| Families {
    requests: desc("ispmonitor_icmp_requests_total"),
    replies: desc("ispmonitor_icmp_replies_total"),
    rtt: desc("ispmonitor_icmp_rtt_seconds"),
    v4_labels: LabelSet::new([("ip_version", IpVersion::V4.as_str())]),
    v6_labels: LabelSet::new([("ip_version", IpVersion::V6.as_str())]),
});

/// RTT bucket bounds: fine from 50 µs (a LAN or loopback) to 5 s (a congested satellite hop).
pub const RTT_BUCKETS: &[f64] = &[
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 5.0,
];

/// Counters of one IP version.
#[derive(Debug, Clone, PartialEq)]
struct VersionStats {
    requests: u64,
    replies: u64,
    /// Per-bucket (not cumulative) RTT counts; the last slot is +Inf.
    rtt_counts: Vec<u64>,
    rtt_sum: f64,
    /// The histogram as last exported; rebuilt only after a reply changed it (a target that
    /// stopped answering exports the same one every poll).
    exported: Option<Arc<HistogramSnapshot>>,
}

impl Default for VersionStats {
    fn default() -> Self {
        VersionStats {
            requests: 0,
            replies: 0,
            rtt_counts: vec![0; RTT_BUCKETS.len() + 1],
            rtt_sum: 0.0,
            exported: None,
        }
    }
}

impl VersionStats {
    fn exported_histogram(&mut self) -> Arc<HistogramSnapshot> {
        let histogram = self.exported.get_or_insert_with(|| {
            Arc::new(Self::histogram(
                &self.rtt_counts,
                self.rtt_sum,
                self.replies,
            ))
        });
        histogram.clone()
    }

    fn histogram(rtt_counts: &[u64], rtt_sum: f64, replies: u64) -> HistogramSnapshot {
        let mut buckets = Vec::with_capacity(rtt_counts.len());
        let mut cumulative = 0;
        let bounds = RTT_BUCKETS.iter().copied().chain([f64::INFINITY]);
        for (bound, count) in bounds.zip(rtt_counts) {
            cumulative += count;
            buckets.push((bound, cumulative));
        }
        HistogramSnapshot {
            buckets,
            sum: rtt_sum,
            count: replies,
        }
    }
}

/// Everything a target has measured since its poller was created.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IcmpStats {
    by_version: BTreeMap<IpVersion, VersionStats>,
}

impl IcmpStats {
    /// One echo request went out.
    pub fn request_sent(&mut self, version: IpVersion) {
        self.by_version.entry(version).or_default().requests += 1;
    }

    /// Its Echo Reply came back after `rtt`.
    pub fn reply_received(&mut self, version: IpVersion, rtt: Duration) {
        let stats = self.by_version.entry(version).or_default();
        let seconds = rtt.as_secs_f64();
        stats.replies += 1;
        stats.rtt_sum += seconds;
        stats.exported = None;
        // `le` is inclusive: a value equal to a bound belongs to that bucket.
        stats.rtt_counts[RTT_BUCKETS.partition_point(|bound| *bound < seconds)] += 1;
    }

    /// The three ICMP families, one series per IP version used so far (none before the first
    /// request).
    pub fn families(&mut self) -> Vec<FamilySamples> {
        if self.by_version.is_empty() {
            return Vec::new();
        }
        let families = &*FAMILIES;
        let versions = self.by_version.len();
        let mut requests = Vec::with_capacity(versions);
        let mut replies = Vec::with_capacity(versions);
        let mut rtt = Vec::with_capacity(versions);
        for (version, stats) in &mut self.by_version {
            requests.push(version_sample(*version, Value::Int(stats.requests)));
            replies.push(version_sample(*version, Value::Int(stats.replies)));
            let histogram = Value::Histogram(stats.exported_histogram());
            rtt.push(version_sample(*version, histogram));
        }
        vec![
            family(&families.requests, requests),
            family(&families.replies, replies),
            family(&families.rtt, rtt),
        ]
    }
}

fn family(desc: &Arc<FamilyDesc>, samples: Vec<Sample>) -> FamilySamples {
    FamilySamples {
        desc: desc.clone(),
        samples,
    }
}

/// One series labelled with its IP version.
fn version_sample(version: IpVersion, value: Value) -> Sample {
    let labels = match version {
        IpVersion::V4 => &FAMILIES.v4_labels,
        IpVersion::V6 => &FAMILIES.v6_labels,
    };
    Sample {
        labels: labels.clone(),
        value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value_of(families: &[FamilySamples], name: &str) -> Value {
        let family = families
            .iter()
            .find(|f| &*f.desc.name == name)
            .expect("family present");
        family.samples[0].value.clone()
    }

    #[test]
    fn nothing_is_exported_before_the_first_request() {
        assert!(IcmpStats::default().families().is_empty());
    }

    #[test]
    fn counters_and_histogram_accumulate() {
        let mut stats = IcmpStats::default();
        for _ in 0..4 {
            stats.request_sent(IpVersion::V4);
        }
        stats.reply_received(IpVersion::V4, Duration::from_micros(50));
        stats.reply_received(IpVersion::V4, Duration::from_millis(3));
        stats.reply_received(IpVersion::V4, Duration::from_secs(6));
        let families = stats.families();
        assert_eq!(
            value_of(&families, "ispmonitor_icmp_requests_total"),
            Value::Int(4)
        );
        assert_eq!(
            value_of(&families, "ispmonitor_icmp_replies_total"),
            Value::Int(3)
        );
        let Value::Histogram(h) = value_of(&families, "ispmonitor_icmp_rtt_seconds") else {
            panic!("histogram expected");
        };
        assert_eq!(h.count, 3);
        assert!((h.sum - 6.00305).abs() < 1e-9, "{}", h.sum);
        assert_eq!(h.buckets.len(), RTT_BUCKETS.len() + 1);
        assert_eq!(h.buckets[0], (0.00005, 1), "50 µs is inside le=0.00005");
        let at = |bound: f64| h.buckets.iter().find(|(b, _)| *b == bound).unwrap().1;
        assert_eq!(at(0.0025), 1);
        assert_eq!(at(0.005), 2);
        assert_eq!(at(5.0), 2);
        assert_eq!(at(f64::INFINITY), 3);
    }

    #[test]
    fn the_histogram_is_rebuilt_only_after_a_reply() {
        let mut stats = IcmpStats::default();
        stats.request_sent(IpVersion::V4);
        stats.reply_received(IpVersion::V4, Duration::from_millis(1));
        let histogram = |stats: &mut IcmpStats| match value_of(
            &stats.families(),
            "ispmonitor_icmp_rtt_seconds",
        ) {
            Value::Histogram(h) => h,
            other => panic!("histogram expected: {other:?}"),
        };
        let first = histogram(&mut stats);
        stats.request_sent(IpVersion::V4);
        let lost = histogram(&mut stats);
        assert!(Arc::ptr_eq(&first, &lost), "no reply: the same histogram");
        stats.request_sent(IpVersion::V4);
        stats.reply_received(IpVersion::V4, Duration::from_millis(2));
        let answered = histogram(&mut stats);
        assert!(!Arc::ptr_eq(&first, &answered));
        assert_eq!(answered.count, 2);
    }

    #[test]
    fn versions_are_separate_series() {
        let mut stats = IcmpStats::default();
        stats.request_sent(IpVersion::V4);
        stats.request_sent(IpVersion::V6);
        stats.reply_received(IpVersion::V6, Duration::from_millis(1));
        let families = stats.families();
        let replies = &families[1];
        let by_version: Vec<(String, Value)> = replies
            .samples
            .iter()
            .map(|s| (s.labels.values()[0].clone(), s.value.clone()))
            .collect();
        let expected = vec![("4".into(), Value::Int(0)), ("6".into(), Value::Int(1))];
        assert_eq!(by_version, expected);
    }
}
