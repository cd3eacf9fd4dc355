//! Renders metric families as the classic Prometheus text format (0.0.4) or OpenMetrics 1.0.0.
//!
//! We render ourselves rather than through prometheus-client: that crate only writes
//! OpenMetrics, Prometheus' classic text format still needs its own renderer, and device
//! samples live in per-target snapshots that are cheaper to write out directly than to copy
//! into a registry on every scrape.

use std::fmt::Write as _;

use crate::poller::outcome::{FamilyDesc, HistogramSnapshot, MetricType, Value};

/// Exposition format chosen by content negotiation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `text/plain; version=0.0.4`
    Text,
    /// `application/openmetrics-text; version=1.0.0`
    OpenMetrics,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

/// Writes families and samples into a string buffer in one format.
pub struct Encoder {
    format: Format,
    out: String,
}

impl Encoder {
    pub fn new(format: Format) -> Self {
        Encoder {
            format,
            out: String::with_capacity(64 * 1024),
        }
    }

    /// Writes `# HELP` and `# TYPE` for a family. OpenMetrics names a counter family without
    /// its `_total` suffix; the classic format names it with the suffix.
    pub fn family(&mut self, desc: &FamilyDesc) {
        let name = self.family_name(desc);
        let type_name = match desc.metric_type {
            MetricType::Gauge => "gauge",
            MetricType::Counter => "counter",
            MetricType::Histogram => "histogram",
        };
        self.out.push_str("# HELP ");
        self.out.push_str(name);
        self.out.push(' ');
        escape_help(&mut self.out, &desc.help);
        self.out.push_str("\n# TYPE ");
        self.out.push_str(name);
        self.out.push(' ');
        self.out.push_str(type_name);
        self.out.push('\n');
    }

    fn family_name<'a>(&self, desc: &'a FamilyDesc) -> &'a str {
        match (self.format, desc.metric_type) {
            (Format::OpenMetrics, MetricType::Counter) => {
                desc.name.strip_suffix("_total").unwrap_or(&desc.name)
            }
            _ => &desc.name,
        }
    }

    /// Writes one sample line: `name{labels} value`. Labels are written in the order given.
    /// A histogram value becomes its `_bucket`, `_sum` and `_count` lines.
    pub fn sample<'l>(
        &mut self,
        name: &str,
        labels: impl IntoIterator<Item = (&'l str, &'l str)>,
        value: Value,
    ) {
        match value {
            Value::Int(v) => self.line(name, labels, Number::Int(v)),
            Value::Float(v) => self.line(name, labels, Number::Float(v)),
            Value::Histogram(h) => {
                let labels: Vec<(&str, &str)> = labels.into_iter().collect();
                self.histogram(name, &labels, &h);
            }
        }
    }

    /// Writes one histogram series: cumulative `_bucket{le}` lines, then `_sum` and `_count`.
    pub fn histogram(&mut self, name: &str, labels: &[(&str, &str)], h: &HistogramSnapshot) {
        let bucket = format!("{name}_bucket");
        for (bound, count) in &h.buckets {
            let le = format_le(*bound);
            let all = labels.iter().copied().chain([("le", le.as_str())]);
            self.line(&bucket, all, Number::Int(*count));
        }
        let sum = format!("{name}_sum");
        self.line(&sum, labels.iter().copied(), Number::Float(h.sum));
        let count = format!("{name}_count");
        self.line(&count, labels.iter().copied(), Number::Int(h.count));
    }

    fn line<'l>(
        &mut self,
        name: &str,
        labels: impl IntoIterator<Item = (&'l str, &'l str)>,
        value: Number,
    ) {
        self.out.push_str(name);
        let mut first = true;
        for (label, label_value) in labels {
            self.out.push(if first { '{' } else { ',' });
            first = false;
            self.out.push_str(label);
            self.out.push_str("=\"");
            escape_label_value(&mut self.out, label_value);
            self.out.push('"');
        }
        if !first {
            self.out.push('}');
        }
        self.out.push(' ');
        write_value(&mut self.out, value);
        self.out.push('\n');
    }

    /// Ends the exposition (`# EOF` for OpenMetrics) and returns the text.
    pub fn finish(mut self) -> String {
        if self.format == Format::OpenMetrics {
            self.out.push_str("# EOF\n");
        }
        self.out
    }
}

/// The number on one exposition line.
#[derive(Clone, Copy)]
enum Number {
    Int(u64),
    Float(f64),
}

fn write_value(out: &mut String, value: Number) {
    match value {
        // Integers are written exactly: a Counter64 keeps every digit on the wire.
        Number::Int(v) => {
            let _ = write!(out, "{v}");
        }
        Number::Float(v) if v.is_nan() => out.push_str("NaN"),
        Number::Float(v) if v == f64::INFINITY => out.push_str("+Inf"),
        Number::Float(v) if v == f64::NEG_INFINITY => out.push_str("-Inf"),
        Number::Float(v) => {
            let _ = write!(out, "{v}");
        }
    }
}

/// Escapes a label value: backslash, double quote and newline (ifAlias and sysDescr can hold
/// all three).
fn escape_label_value(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Escapes HELP text (backslash and newline; OpenMetrics also escapes double quotes, which
/// the classic parser accepts too).
fn escape_help(out: &mut String, help: &str) {
    for c in help.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Formats a bucket bound for the `le` label the way Prometheus expects (`0.5`, `1`, `+Inf`).
pub fn format_le(bound: f64) -> String {
    if bound.is_infinite() {
        "+Inf".to_string()
    } else {
        format!("{bound}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counter() -> std::sync::Arc<FamilyDesc> {
        FamilyDesc::new("ispmonitor_x_total", "Things.", MetricType::Counter)
    }

    #[test]
    fn openmetrics_counter_family_drops_total_and_ends_with_eof() {
        let mut e = Encoder::new(Format::OpenMetrics);
        e.family(&counter());
        e.sample("ispmonitor_x_total", [("target", "a")], Value::Int(3));
        let text = e.finish();
        assert_eq!(
            text,
            "# HELP ispmonitor_x Things.\n# TYPE ispmonitor_x counter\n\
             ispmonitor_x_total{target=\"a\"} 3\n# EOF\n"
        );
    }

    #[test]
    fn text_counter_family_keeps_total_and_has_no_eof() {
        let mut e = Encoder::new(Format::Text);
        e.family(&counter());
        e.sample("ispmonitor_x_total", [], Value::Int(3));
        assert_eq!(
            e.finish(),
            "# HELP ispmonitor_x_total Things.\n# TYPE ispmonitor_x_total counter\n\
             ispmonitor_x_total 3\n"
        );
    }

    #[test]
    fn label_values_are_escaped() {
        let mut e = Encoder::new(Format::Text);
        e.sample("m", [("alias", "a \"b\" \\ c\nd")], Value::Float(1.5));
        assert_eq!(e.finish(), "m{alias=\"a \\\"b\\\" \\\\ c\\nd\"} 1.5\n");
    }

    #[test]
    fn large_integers_keep_every_digit() {
        let mut e = Encoder::new(Format::Text);
        e.sample("m", [], Value::Int(u64::MAX));
        assert_eq!(e.finish(), "m 18446744073709551615\n");
    }

    #[test]
    fn histogram_values_expand_to_buckets_sum_and_count() {
        let h = HistogramSnapshot {
            buckets: vec![(0.001, 1), (0.5, 3), (f64::INFINITY, 4)],
            sum: 1.25,
            count: 4,
        };
        let desc = FamilyDesc::new("ispmonitor_rtt_seconds", "RTT", MetricType::Histogram);
        for format in [Format::Text, Format::OpenMetrics] {
            let mut e = Encoder::new(format);
            e.family(&desc);
            let value = Value::Histogram(std::sync::Arc::new(h.clone()));
            e.sample("ispmonitor_rtt_seconds", [("target", "a")], value);
            let text = e.finish();
            assert!(text.starts_with(
                "# HELP ispmonitor_rtt_seconds RTT\n# TYPE ispmonitor_rtt_seconds histogram\n\
                 ispmonitor_rtt_seconds_bucket{target=\"a\",le=\"0.001\"} 1\n\
                 ispmonitor_rtt_seconds_bucket{target=\"a\",le=\"0.5\"} 3\n\
                 ispmonitor_rtt_seconds_bucket{target=\"a\",le=\"+Inf\"} 4\n\
                 ispmonitor_rtt_seconds_sum{target=\"a\"} 1.25\n\
                 ispmonitor_rtt_seconds_count{target=\"a\"} 4\n"
            ));
        }
    }

    #[test]
    fn special_floats_use_prometheus_spelling() {
        let mut e = Encoder::new(Format::Text);
        e.sample("a", [], Value::Float(f64::NAN));
        e.sample("b", [], Value::Float(f64::INFINITY));
        e.sample("c", [], Value::Float(1e-7));
        assert_eq!(e.finish(), "a NaN\nb +Inf\nc 0.0000001\n");
        assert_eq!(format_le(f64::INFINITY), "+Inf");
        assert_eq!(format_le(0.25), "0.25");
    }
}
