//! The API's own metrics: requests by route template and status, latency, requests in
//! flight, database pool connections and audit retention. Rendered on the exporter's
//! `/metrics` through `MetricSource`; labels are route templates, never raw paths.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

use crate::catalog::desc;
use crate::metrics::encode::Encoder;
use crate::metrics::histogram::Histogram;
use crate::metrics::source::MetricSource;
use crate::poller::outcome::{HistogramSnapshot, Value};
use crate::store::Store;

/// The `endpoint` of requests no route matched (404s): raw paths would let any client create
/// series at will.
pub const UNMATCHED: &str = "unmatched";

/// From a health probe (5 ms) to a bulk import of thousands of devices (seconds).
pub const HTTP_DURATION_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Routes that answer probes many times a minute: counted, but kept out of the access log.
const PROBES: [&str; 3] = ["/live", "/ready", "/health"];

type RequestKey = (&'static str, String, u16);
type DurationKey = (&'static str, String);

#[derive(Default)]
struct Tallies {
    requests: BTreeMap<RequestKey, u64>,
    durations: BTreeMap<DurationKey, Histogram>,
}

/// Counters shared by the request middleware (writers), the retention task and the
/// exporter's `/metrics` (reader).
pub struct ApiMetrics {
    tallies: Mutex<Tallies>,
    in_flight: AtomicI64,
    audit_deleted: AtomicU64,
    /// The pool whose connections `ispmonitor_db_connections` reports.
    store: Option<Store>,
}

impl ApiMetrics {
    pub fn new(store: Option<Store>) -> ApiMetrics {
        ApiMetrics {
            tallies: Mutex::default(),
            in_flight: AtomicI64::new(0),
            audit_deleted: AtomicU64::new(0),
            store,
        }
    }

    /// Records one answered request.
    pub fn observe(&self, answered: Answered<'_>) {
        let method = method_label(answered.method);
        let endpoint = answered.endpoint.to_string();
        let mut tallies = self.tallies.lock().unwrap_or_else(|e| e.into_inner());
        *tallies
            .requests
            .entry((method, endpoint.clone(), answered.status.as_u16()))
            .or_default() += 1;
        tallies
            .durations
            .entry((method, endpoint))
            .or_insert_with(|| Histogram::new(HTTP_DURATION_BUCKETS))
            .observe(answered.took.as_secs_f64());
    }

    /// Counts entries the retention task deleted.
    pub fn audit_entries_deleted(&self, n: u64) {
        self.audit_deleted.fetch_add(n, Ordering::Relaxed);
    }

    /// Marks a request in flight until the guard drops (also when the client goes away and
    /// the request future is dropped).
    fn enter(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self.clone())
    }

    fn snapshot(&self) -> (BTreeMap<RequestKey, u64>, BTreeMap<DurationKey, Histogram>) {
        let tallies = self.tallies.lock().unwrap_or_else(|e| e.into_inner());
        (tallies.requests.clone(), tallies.durations.clone())
    }
}

/// One answered request, as the metrics see it.
#[derive(Debug, Clone, Copy)]
pub struct Answered<'a> {
    pub method: &'a Method,
    /// The route template, or `unmatched`.
    pub endpoint: &'a str,
    pub status: StatusCode,
    pub took: Duration,
}

struct InFlight(Arc<ApiMetrics>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A closed set of method labels: anything unusual is `other`.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Middleware: counts and times every request, and writes a debug access-log line (inside
/// the request's span, so it carries the request id) for everything but health probes.
pub async fn track(State(metrics): State<Arc<ApiMetrics>>, req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let endpoint = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| UNMATCHED.to_string());
    let started = Instant::now();
    let in_flight = metrics.enter();
    let response = next.run(req).await;
    drop(in_flight);
    let took = started.elapsed();
    metrics.observe(Answered {
        method: &method,
        endpoint: &endpoint,
        status: response.status(),
        took,
    });
    if !PROBES.contains(&endpoint.as_str()) {
        tracing::debug!(
            status = response.status().as_u16(),
            duration_seconds = took.as_secs_f64(),
            "request answered"
        );
    }
    response
}

fn snapshot_of(histogram: &Histogram) -> HistogramSnapshot {
    HistogramSnapshot {
        buckets: histogram.cumulative().collect(),
        sum: histogram.sum(),
        count: histogram.count(),
    }
}

impl MetricSource for ApiMetrics {
    fn encode(&self, enc: &mut Encoder) {
        let (requests, durations) = self.snapshot();
        let name = "ispmonitor_http_requests_total";
        enc.family(&desc(name));
        for ((method, endpoint, status), n) in &requests {
            let status = status.to_string();
            let labels = [
                ("method", *method),
                ("endpoint", endpoint.as_str()),
                ("status", status.as_str()),
            ];
            enc.sample(name, labels, Value::Int(*n));
        }
        let name = "ispmonitor_http_request_duration_seconds";
        enc.family(&desc(name));
        for ((method, endpoint), histogram) in &durations {
            let labels = [("method", *method), ("endpoint", endpoint.as_str())];
            enc.histogram(name, &labels, &snapshot_of(histogram));
        }
        let name = "ispmonitor_http_requests_in_flight";
        enc.family(&desc(name));
        let in_flight = self.in_flight.load(Ordering::Relaxed).max(0) as u64;
        enc.sample(name, [], Value::Int(in_flight));
        let name = "ispmonitor_db_connections";
        enc.family(&desc(name));
        if let Some(store) = &self.store {
            let counts = store.connection_counts();
            enc.sample(
                name,
                [("state", "active")],
                Value::Int(counts.active as u64),
            );
            enc.sample(name, [("state", "idle")], Value::Int(counts.idle as u64));
        }
        let name = "ispmonitor_audit_entries_deleted_total";
        enc.family(&desc(name));
        let deleted = self.audit_deleted.load(Ordering::Relaxed);
        enc.sample(name, [], Value::Int(deleted));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Format;

    #[test]
    fn requests_are_counted_by_template_and_status_with_closed_method_labels() {
        let metrics = Arc::new(ApiMetrics::new(None));
        let answered = |method: &Method, endpoint: &str, status: u16| {
            metrics.observe(Answered {
                method,
                endpoint,
                status: StatusCode::from_u16(status).unwrap(),
                took: Duration::from_millis(3),
            })
        };
        answered(&Method::GET, "/api/v1/tokens", 200);
        answered(&Method::GET, "/api/v1/tokens", 200);
        answered(&Method::GET, UNMATCHED, 404);
        answered(&Method::from_bytes(b"PROPFIND").unwrap(), UNMATCHED, 405);
        metrics.audit_entries_deleted(5);
        let guard = metrics.enter();
        let mut enc = Encoder::new(Format::Text);
        metrics.encode(&mut enc);
        drop(guard);
        let text = enc.finish();
        for line in [
            "ispmonitor_http_requests_total{method=\"GET\",endpoint=\"/api/v1/tokens\",status=\"200\"} 2\n",
            "ispmonitor_http_requests_total{method=\"GET\",endpoint=\"unmatched\",status=\"404\"} 1\n",
            "ispmonitor_http_requests_total{method=\"other\",endpoint=\"unmatched\",status=\"405\"} 1\n",
            "ispmonitor_http_request_duration_seconds_bucket{method=\"GET\",endpoint=\"/api/v1/tokens\",le=\"0.005\"} 2\n",
            "ispmonitor_http_request_duration_seconds_count{method=\"GET\",endpoint=\"/api/v1/tokens\"} 2\n",
            "ispmonitor_http_requests_in_flight 1\n",
            "ispmonitor_audit_entries_deleted_total 5\n",
            "# TYPE ispmonitor_db_connections gauge\n",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
        assert_eq!(metrics.in_flight.load(Ordering::Relaxed), 0);
    }
}
