//! Renders metric families as the classic Prometheus text format (0.0.4) or OpenMetrics 1.0.0.
//!
//! We render ourselves rather than through prometheus-client: that crate only writes
//! OpenMetrics, Prometheus' classic text format still needs its own renderer, and device
//! samples live in per-target snapshots that are cheaper to write out directly than to copy
//! into a registry on every scrape.

use std::io::Write as _;

use crate::poller::label_set::{escape_label_value, LabelSet};
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

/// Where a streaming encoder hands its chunks (each ends with a complete line).
pub trait ChunkSink: Send {
    /// Takes one chunk. Returns false when nobody wants more (the client went away): the
    /// encoder then stops producing.
    fn chunk(&mut self, bytes: Vec<u8>) -> bool;

    /// The exposition is complete (after the last chunk). Not called when it was cut short.
    fn end(&mut self) {}
}

/// Writes families and samples in one format, into one buffer or as a stream of chunks.
pub struct Encoder {
    format: Format,
    out: Vec<u8>,
    sink: Option<Box<dyn ChunkSink>>,
    chunk_bytes: usize,
    stopped: bool,
}

impl Encoder {
    /// An encoder that keeps the whole exposition; `finish` returns it.
    pub fn new(format: Format) -> Self {
        Encoder {
            format,
            out: Vec::with_capacity(64 * 1024),
            sink: None,
            chunk_bytes: usize::MAX,
            stopped: false,
        }
    }

    /// An encoder that hands the exposition to `sink` in chunks of about `chunk_bytes` (never
    /// splitting a line), so memory stays bounded whatever the number of series.
    pub fn streaming(format: Format, chunk_bytes: usize, sink: Box<dyn ChunkSink>) -> Self {
        Encoder {
            format,
            // A line may overshoot the chunk size a little; room for it avoids a regrowth.
            out: Vec::with_capacity(chunk_bytes + 4096),
            sink: Some(sink),
            chunk_bytes,
            stopped: false,
        }
    }

    /// The sink refused a chunk: whatever is written from now on is dropped. Long loops check
    /// this to stop early.
    pub fn is_stopped(&self) -> bool {
        self.stopped
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
        let out = &mut self.out;
        out.extend_from_slice(b"# HELP ");
        out.extend_from_slice(name.as_bytes());
        out.push(b' ');
        escape_help(out, &desc.help);
        out.extend_from_slice(b"\n# TYPE ");
        out.extend_from_slice(name.as_bytes());
        out.push(b' ');
        out.extend_from_slice(type_name.as_bytes());
        out.push(b'\n');
        self.line_done();
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

    /// Writes one stored series of a device family: `name{target="..",<labels>} value`. The
    /// target is given escaped (once per target and scrape) and the label set is already
    /// rendered, so this only copies bytes and formats the number.
    pub fn series(&mut self, name: &str, escaped_target: &str, labels: &LabelSet, value: &Value) {
        match value {
            Value::Int(v) => {
                self.series_line(name, "", escaped_target, labels, "", Number::Int(*v))
            }
            Value::Float(v) => {
                self.series_line(name, "", escaped_target, labels, "", Number::Float(*v))
            }
            Value::Histogram(h) => {
                for (bound, count) in &h.buckets {
                    let le = format!(",le=\"{}\"", format_le(*bound));
                    let n = Number::Int(*count);
                    self.series_line(name, "_bucket", escaped_target, labels, &le, n);
                }
                let sum = Number::Float(h.sum);
                self.series_line(name, "_sum", escaped_target, labels, "", sum);
                let count = Number::Int(h.count);
                self.series_line(name, "_count", escaped_target, labels, "", count);
            }
        }
    }

    /// `name suffix {target="t",labels extra} value`: `extra` is pre-rendered (`,le="0.5"`).
    fn series_line(
        &mut self,
        name: &str,
        suffix: &str,
        escaped_target: &str,
        labels: &LabelSet,
        extra: &str,
        value: Number,
    ) {
        let out = &mut self.out;
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(suffix.as_bytes());
        out.extend_from_slice(b"{target=\"");
        out.extend_from_slice(escaped_target.as_bytes());
        out.push(b'"');
        if !labels.is_empty() {
            out.push(b',');
            out.extend_from_slice(labels.as_str().as_bytes());
        }
        out.extend_from_slice(extra.as_bytes());
        out.extend_from_slice(b"} ");
        write_value(out, value);
        out.push(b'\n');
        self.line_done();
    }

    fn line<'l>(
        &mut self,
        name: &str,
        labels: impl IntoIterator<Item = (&'l str, &'l str)>,
        value: Number,
    ) {
        let out = &mut self.out;
        out.extend_from_slice(name.as_bytes());
        let mut first = true;
        for (label, label_value) in labels {
            out.push(if first { b'{' } else { b',' });
            first = false;
            out.extend_from_slice(label.as_bytes());
            out.extend_from_slice(b"=\"");
            out.extend_from_slice(escaped_label_value(label_value).as_bytes());
            out.push(b'"');
        }
        if !first {
            out.push(b'}');
        }
        out.push(b' ');
        write_value(out, value);
        out.push(b'\n');
        self.line_done();
    }

    /// After every complete line: hand a full chunk to the sink.
    fn line_done(&mut self) {
        if self.out.len() >= self.chunk_bytes {
            self.flush();
        }
    }

    fn flush(&mut self) {
        let Some(sink) = self.sink.as_mut() else {
            return;
        };
        if self.stopped {
            self.out.clear();
            return;
        }
        let chunk = std::mem::replace(&mut self.out, Vec::with_capacity(self.chunk_bytes + 4096));
        if !sink.chunk(chunk) {
            self.stopped = true;
        }
    }

    /// Ends the exposition (`# EOF` for OpenMetrics). Returns the text; a streaming encoder
    /// hands the rest to its sink and returns an empty string.
    pub fn finish(mut self) -> String {
        if self.format == Format::OpenMetrics {
            self.out.extend_from_slice(b"# EOF\n");
        }
        if self.sink.is_some() {
            if !self.out.is_empty() {
                self.flush();
            }
            if let Some(sink) = self.sink.as_mut().filter(|_| !self.stopped) {
                sink.end();
            }
            return String::new();
        }
        // Invariant: only `&str` pieces and ASCII digits were ever written.
        String::from_utf8(self.out).expect("the exposition is UTF-8")
    }
}

/// The number on one exposition line.
#[derive(Clone, Copy)]
enum Number {
    Int(u64),
    Float(f64),
}

fn write_value(out: &mut Vec<u8>, value: Number) {
    match value {
        // Integers are written exactly: a Counter64 keeps every digit on the wire.
        Number::Int(v) => push_u64(out, v),
        Number::Float(v) if v.is_nan() => out.extend_from_slice(b"NaN"),
        Number::Float(v) if v == f64::INFINITY => out.extend_from_slice(b"+Inf"),
        Number::Float(v) if v == f64::NEG_INFINITY => out.extend_from_slice(b"-Inf"),
        Number::Float(v) => {
            // Writing into a Vec cannot fail.
            let _ = write!(out, "{v}");
        }
    }
}

/// Decimal digits of an integer without going through `fmt` (most device series are counters,
/// and this is the hottest part of a scrape after copying label text).
fn push_u64(out: &mut Vec<u8>, mut v: u64) {
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    loop {
        start -= 1;
        digits[start] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[start..]);
}

/// Escapes HELP text (backslash and newline; OpenMetrics also escapes double quotes, which
/// the classic parser accepts too).
fn escape_help(out: &mut Vec<u8>, help: &str) {
    for c in help.chars() {
        match c {
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            c => {
                let mut utf8 = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
            }
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

/// A label value (such as a target name) as label text: escaped only when it needs to be
/// (most values do not, and then nothing is copied).
pub fn escaped_label_value(name: &str) -> std::borrow::Cow<'_, str> {
    if name.contains(['\\', '"', '\n']) {
        let mut text = String::with_capacity(name.len() + 2);
        escape_label_value(&mut text, name);
        std::borrow::Cow::Owned(text)
    } else {
        std::borrow::Cow::Borrowed(name)
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
