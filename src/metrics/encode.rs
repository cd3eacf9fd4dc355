//! Renders metric families as the classic Prometheus text format (0.0.4) or OpenMetrics 1.0.0.
//!
//! We render ourselves rather than through prometheus-client: that crate only writes
//! OpenMetrics, Prometheus' classic text format still needs its own renderer, and device
//! samples live in per-target snapshots that are cheaper to write out directly than to copy
//! into a registry on every scrape.

use std::io::Write as _;

use crate::poller::label_set::{escape_label_value, needs_escaping, LabelSet};
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
    /// label set is already rendered and `series` carries the rest of the line's start, so this
    /// only copies bytes and formats the number.
    pub fn series(&mut self, series: &SeriesStart, labels: &LabelSet, value: &Value) {
        match value {
            Value::Int(v) => self.series_line(&series.name_and_target, labels, Number::Int(*v)),
            Value::Float(v) => self.series_line(&series.name_and_target, labels, Number::Float(*v)),
            Value::Histogram(h) => self.histogram_series(series, labels, h),
        }
    }

    /// `<start>,<labels>} value`, where `start` is `name{target="t"`.
    fn series_line(&mut self, start: &str, labels: &LabelSet, value: Number) {
        let out = &mut self.out;
        out.extend_from_slice(start.as_bytes());
        if !labels.is_empty() {
            out.push(b',');
            out.extend_from_slice(labels.as_str().as_bytes());
        }
        out.extend_from_slice(b"} ");
        write_value(out, value);
        out.push(b'\n');
        self.line_done();
    }

    /// A stored histogram: `_bucket` lines with `le` after the other labels, `_sum`, `_count`.
    fn histogram_series(&mut self, series: &SeriesStart, labels: &LabelSet, h: &HistogramSnapshot) {
        let start = |suffix: &str| series.with_suffix(suffix);
        let bucket = start("_bucket");
        for (bound, count) in &h.buckets {
            let le = format!("le=\"{}\"", format_le(*bound));
            let all = if labels.is_empty() {
                le
            } else {
                format!("{},{le}", labels.as_str())
            };
            let all = LabelSet::from_rendered(all);
            self.series_line(&bucket, &all, Number::Int(*count));
        }
        self.series_line(&start("_sum"), labels, Number::Float(h.sum));
        self.series_line(&start("_count"), labels, Number::Int(h.count));
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

/// The start of every line of one family for one target (`name{target="t"`), built once per
/// (family, target) and scrape instead of once per series.
pub struct SeriesStart {
    name: String,
    escaped_target: String,
    name_and_target: String,
}

impl SeriesStart {
    pub fn new(name: &str, target: &str) -> Self {
        let escaped_target = escaped_label_value(target).into_owned();
        let name_and_target = format!("{name}{{target=\"{escaped_target}\"");
        SeriesStart {
            name: name.to_string(),
            escaped_target,
            name_and_target,
        }
    }

    /// The start for a histogram's `_bucket`, `_sum` or `_count` lines.
    fn with_suffix(&self, suffix: &str) -> String {
        format!("{}{suffix}{{target=\"{}\"", self.name, self.escaped_target)
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

/// Decimal digits of an integer without going through `fmt`, two at a time (most device
/// series are counters, and this is the hottest part of a scrape after copying label text).
fn push_u64(out: &mut Vec<u8>, mut v: u64) {
    const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
        2021222324252627282930313233343536373839\
        4041424344454647484950515253545556575859\
        6061626364656667686970717273747576777879\
        8081828384858687888990919293949596979899";
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    while v >= 100 {
        let pair = (v % 100) as usize * 2;
        v /= 100;
        start -= 2;
        digits[start..start + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    }
    if v >= 10 {
        let pair = v as usize * 2;
        start -= 2;
        digits[start..start + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    } else {
        start -= 1;
        digits[start] = b'0' + v as u8;
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
    if needs_escaping(name) {
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

    /// What the encoder wrote per sample before label sets were cached: `target` first, then
    /// the sample's pairs, escaped at scrape time. The cached path must match it byte for byte.
    fn rendered_per_sample(format: Format, series: &Series) -> String {
        let Series(name, target, pairs, value) = *series;
        let mut e = Encoder::new(format);
        let labels = [("target", target)]
            .into_iter()
            .chain(pairs.iter().copied());
        e.sample(name, labels, value.clone());
        e.finish()
    }

    /// One series of the byte-identity test: name, target, label pairs, value.
    #[derive(Clone, Copy)]
    struct Series<'a>(&'a str, &'a str, &'a [(&'a str, &'a str)], &'a Value);

    fn rendered_cached(format: Format, series: &Series) -> String {
        let Series(name, target, pairs, value) = *series;
        let mut e = Encoder::new(format);
        let labels = LabelSet::new(pairs.iter().copied());
        e.series(&SeriesStart::new(name, target), &labels, value);
        e.finish()
    }

    #[test]
    fn cached_label_sets_render_byte_for_byte_like_per_sample_labels() {
        let histogram = Value::Histogram(std::sync::Arc::new(HistogramSnapshot {
            buckets: vec![(0.0005, 0), (0.25, 7), (1.0, 9), (f64::INFINITY, 10)],
            sum: 3.125,
            count: 10,
        }));
        let values = [
            Value::Int(0),
            Value::Int(7),
            Value::Int(10),
            Value::Int(99),
            Value::Int(100),
            Value::Int(1_234_567_890_123),
            Value::Int(u64::MAX),
            Value::Float(0.0),
            Value::Float(-0.0),
            Value::Float(-3.0),
            Value::Float(1e-7),
            Value::Float(1_700_000_000.25),
            Value::Float(f64::NAN),
            Value::Float(f64::INFINITY),
            Value::Float(f64::NEG_INFINITY),
            histogram,
        ];
        let label_cases: [&[(&str, &str)]; 4] = [
            &[],
            &[("interface", "Gi0/1")],
            &[
                ("interface", "Gi0/1"),
                ("alias", "uplink \"ISP\" \\ 2\nline"),
                ("type", ""),
            ],
            &[(
                "sys_descr",
                "Cisco IOS Software, Version 15.2(4)M — ünïcode",
            )],
        ];
        let targets = ["core-1", "10.0.0.1:161", "odd \"target\"\\\n"];
        for format in [Format::Text, Format::OpenMetrics] {
            for name in [
                "ispmonitor_interface_receive_bytes_total",
                "ispmonitor_snmp_uptime_seconds",
            ] {
                for target in targets {
                    for pairs in label_cases {
                        for value in &values {
                            let series = Series(name, target, pairs, value);
                            assert_eq!(
                                rendered_cached(format, &series),
                                rendered_per_sample(format, &series),
                                "{format:?} {name} {target:?} {pairs:?} {value:?}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn integers_render_like_display_at_every_length() {
        let mut v = 1u64;
        let mut cases = vec![0, 9, 10, 11, 99, 100, 101, u64::MAX, u64::MAX - 1];
        for _ in 0..20 {
            cases.extend([v - 1, v, v + 1, v.wrapping_mul(7) / 3]);
            v = v.saturating_mul(10);
        }
        for n in cases {
            let mut out = Vec::new();
            push_u64(&mut out, n);
            assert_eq!(String::from_utf8(out).unwrap(), n.to_string());
        }
    }

    #[test]
    fn a_streaming_encoder_hands_over_whole_lines_and_stops_when_refused() {
        struct Collect(std::sync::Arc<std::sync::Mutex<Vec<Vec<u8>>>>, usize);
        impl ChunkSink for Collect {
            fn chunk(&mut self, bytes: Vec<u8>) -> bool {
                let mut chunks = self.0.lock().unwrap();
                chunks.push(bytes);
                chunks.len() < self.1
            }
        }
        let chunks = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut e = Encoder::streaming(Format::Text, 64, Box::new(Collect(chunks.clone(), 3)));
        for i in 0..100 {
            e.sample("ispmonitor_x", [("i", "v")], Value::Int(i));
        }
        assert!(e.is_stopped());
        e.finish();
        let chunks = chunks.lock().unwrap();
        assert_eq!(chunks.len(), 3, "nothing handed over after the refusal");
        for chunk in chunks.iter() {
            assert!(chunk.len() >= 64 && chunk.ends_with(b"\n"));
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
