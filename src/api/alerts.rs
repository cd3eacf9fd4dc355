//! `/api/v1/alerts`: Alertmanager's webhook (payload version 4) written to the alert history,
//! the history listed with filters, and the `ispmonitor_alerts_*` families kept fresh from the
//! database by a background task (a scrape never queries).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::extract::{RawQuery, State};
use axum::http::Method;
use axum::routing::{get, post};
use axum::Json;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::audit::parse_rfc3339;
use super::error::ApiError;
use super::extract::ApiJson;
use super::pagination::{Page, Paged, QueryParams};
use super::routes::{Access, Route};
use super::{timestamp, ApiState};
use crate::catalog::desc;
use crate::metrics::encode::Encoder;
use crate::metrics::source::MetricSource;
use crate::poller::outcome::Value;
use crate::store::alerts::{self, AlertFilter, AlertRecord, AlertRow, AlertStatus, Upserted};
use crate::store::tokens::Role;
use crate::store::Store;

/// How often `ispmonitor_alerts_active` is re-read from the database (besides after every
/// delivery): alerts whose `endsAt` passes stop counting within this time.
const REFRESH_EVERY: Duration = Duration::from_secs(10);
/// How often the alert history retention runs (and once at start).
const RETENTION_EVERY: Duration = Duration::from_secs(3600);
/// The payload version this receiver understands (Alertmanager 0.x has sent "4" since 2016).
const PAYLOAD_VERSION: &str = "4";
/// Longest fingerprint accepted (Alertmanager's are 16 hex digits).
const MAX_FINGERPRINT: usize = 128;
/// The `severity` values `ispmonitor_alerts_active` reports by name; anything else is
/// `other`, a missing label `none`, so a stray label value cannot create series.
const SEVERITIES: [&str; 5] = ["critical", "warning", "info", "none", "other"];

const VIEWER: Access = Access::Role(Role::Viewer);
const OPERATOR: Access = Access::Role(Role::Operator);

pub fn routes() -> Vec<Route> {
    vec![
        Route::new(Method::POST, "/api/v1/alerts/webhook", OPERATOR, || {
            post(webhook)
        })
        .doc(
            "alerts",
            "Alertmanager webhook receiver (payload version 4): upserts each alert by fingerprint and start",
        )
        .request::<WebhookPayload>()
        .response::<WebhookReceipt>(),
        Route::new(Method::GET, "/api/v1/alerts", VIEWER, || get(list))
            .doc(
                "alerts",
                "List the alert history, latest start first, filtered and paged",
            )
            .query::<AlertListQuery>()
            .response::<Paged<AlertView>>(),
    ]
}

// ---------------------------------------------------------------------------------------------
// The webhook

/// Alertmanager's webhook body. Unknown fields are ignored, so a newer Alertmanager that adds
/// some still delivers.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookPayload {
    /// Must be `"4"`.
    pub version: String,
    pub group_key: Option<String>,
    /// `firing` or `resolved`: the group's status (each alert has its own).
    pub status: Option<String>,
    pub receiver: Option<String>,
    #[serde(default)]
    pub group_labels: BTreeMap<String, String>,
    #[serde(default)]
    pub common_labels: BTreeMap<String, String>,
    #[serde(default)]
    pub common_annotations: BTreeMap<String, String>,
    #[serde(rename = "externalURL")]
    pub external_url: Option<String>,
    /// Alerts left out by the receiver's `max_alerts`.
    pub truncated_alerts: Option<u64>,
    pub alerts: Vec<WebhookAlert>,
}

/// One alert of a delivery.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookAlert {
    /// `firing` or `resolved`.
    pub status: String,
    /// Must hold a non-empty `alertname`; `severity` and `target` are kept in columns of their
    /// own for filtering.
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// RFC 3339.
    pub starts_at: String,
    /// RFC 3339; `0001-01-01T00:00:00Z` (Go's zero time) or absent means no end yet.
    pub ends_at: Option<String>,
    #[serde(rename = "generatorURL")]
    pub generator_url: Option<String>,
    /// Alertmanager's hash of the labels: with `startsAt`, it identifies the firing episode.
    pub fingerprint: String,
}

/// What a delivery did.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct WebhookReceipt {
    /// Alerts in the delivery.
    pub alerts: u64,
    pub firing: u64,
    pub resolved: u64,
    /// Episodes seen for the first time.
    pub created: u64,
    /// Episodes already stored, updated (a repeated delivery lands here).
    pub updated: u64,
}

/// Go's zero `time.Time`, which Alertmanager sends for "no end".
fn is_unset_time(text: &str) -> bool {
    text.is_empty() || text.starts_with("0001-01-01T")
}

fn alert_time(field: String, text: &str) -> Result<SystemTime, ApiError> {
    parse_rfc3339(text).map_err(|m| ApiError::validation(field, m))
}

fn check_fingerprint(field: String, fingerprint: &str) -> Result<(), ApiError> {
    let plain = fingerprint.chars().all(|c| c.is_ascii_alphanumeric());
    if fingerprint.is_empty() || fingerprint.len() > MAX_FINGERPRINT || !plain {
        return Err(ApiError::validation(
            field,
            format!("the fingerprint must be 1 to {MAX_FINGERPRINT} letters or digits"),
        ));
    }
    Ok(())
}

fn non_empty(text: Option<&String>) -> Option<&str> {
    text.map(String::as_str).filter(|t| !t.is_empty())
}

impl WebhookAlert {
    /// The row to write, or a 422 naming the field (`alerts[3].startsAt`).
    fn to_row(&self, index: usize) -> Result<AlertRow<'_>, ApiError> {
        let field = |name: &str| format!("alerts[{index}].{name}");
        let status = AlertStatus::parse(&self.status).ok_or_else(|| {
            ApiError::validation(
                field("status"),
                format!(
                    "{:?} is not an alert status (firing or resolved)",
                    self.status
                ),
            )
        })?;
        let alertname = non_empty(self.labels.get("alertname")).ok_or_else(|| {
            ApiError::validation(
                field("labels.alertname"),
                "every alert needs an alertname label",
            )
        })?;
        check_fingerprint(field("fingerprint"), &self.fingerprint)?;
        if is_unset_time(&self.starts_at) {
            return Err(ApiError::validation(
                field("startsAt"),
                "startsAt is not set",
            ));
        }
        let starts_at = alert_time(field("startsAt"), &self.starts_at)?;
        let ends_at = match self.ends_at.as_deref() {
            Some(text) if !is_unset_time(text) => Some(alert_time(field("endsAt"), text)?),
            _ => None,
        };
        if ends_at.is_some_and(|end| end < starts_at) {
            return Err(ApiError::validation(
                field("endsAt"),
                "endsAt is before startsAt",
            ));
        }
        Ok(AlertRow {
            fingerprint: &self.fingerprint,
            alertname,
            status,
            severity: non_empty(self.labels.get("severity")),
            target: non_empty(self.labels.get("target")),
            labels: serde_json::json!(self.labels),
            annotations: serde_json::json!(self.annotations),
            starts_at,
            ends_at,
            generator_url: non_empty(self.generator_url.as_ref()),
        })
    }
}

impl WebhookPayload {
    /// Every alert as a row, sorted by (fingerprint, start) so concurrent deliveries lock rows
    /// in the same order (no deadlock); alerts with the same key keep the delivery's order.
    fn rows(&self) -> Result<Vec<AlertRow<'_>>, ApiError> {
        if self.version != PAYLOAD_VERSION {
            return Err(ApiError::validation(
                "version",
                format!(
                    "payload version {:?} is not supported (Alertmanager's webhook sends \"4\")",
                    self.version.chars().take(20).collect::<String>()
                ),
            ));
        }
        let mut rows = self
            .alerts
            .iter()
            .enumerate()
            .map(|(i, alert)| alert.to_row(i))
            .collect::<Result<Vec<_>, _>>()?;
        rows.sort_by(|a, b| (a.fingerprint, a.starts_at).cmp(&(b.fingerprint, b.starts_at)));
        Ok(rows)
    }
}

/// Writes the delivery in one transaction. Not audited: Alertmanager repeats deliveries every
/// `group_interval`/`repeat_interval`, so the history itself is the record.
async fn webhook(
    State(state): State<ApiState>,
    ApiJson(payload): ApiJson<WebhookPayload>,
) -> Result<Json<WebhookReceipt>, ApiError> {
    let rows = payload.rows()?;
    let mut client = state.store()?.client().await?;
    let tx = client.transaction().await?;
    let mut receipt = WebhookReceipt::default();
    for row in &rows {
        receipt.alerts += 1;
        match row.status {
            AlertStatus::Firing => receipt.firing += 1,
            AlertStatus::Resolved => receipt.resolved += 1,
        }
        match alerts::upsert(&tx, row).await? {
            Upserted::Created => receipt.created += 1,
            Upserted::Updated => receipt.updated += 1,
        }
    }
    tx.commit().await?;
    state.alerts.delivered(&receipt);
    if let Some(left_out) = payload.truncated_alerts.filter(|n| *n > 0) {
        // Those alerts never reach the history: the receiver's max_alerts is too low.
        tracing::warn!(
            truncated = left_out,
            "Alertmanager left {left_out} alerts out of a delivery (webhook_configs max_alerts)"
        );
    }
    tracing::debug!(
        receiver = payload.receiver.as_deref().unwrap_or_default(),
        alerts = receipt.alerts,
        created = receipt.created,
        "alertmanager delivery stored"
    );
    Ok(Json(receipt))
}

// ---------------------------------------------------------------------------------------------
// The list

/// Parameters of `GET /api/v1/alerts`. Text filters match exactly.
#[derive(schemars::JsonSchema)]
#[allow(dead_code)]
pub struct AlertListQuery {
    /// `firing` or `resolved`.
    status: Option<String>,
    /// The `severity` label (`critical`, `warning`, `info`...).
    severity: Option<String>,
    alertname: Option<String>,
    /// The `target` label.
    target: Option<String>,
    /// RFC 3339; episodes that started at or after this time.
    since: Option<String>,
    /// RFC 3339; episodes that started before this time.
    until: Option<String>,
    /// `true`: firing and not past `ends_at`; `false`: every other episode.
    active: Option<bool>,
    /// 1 to 1000, default 100.
    limit: Option<u64>,
    offset: Option<u64>,
}

const LIST_PARAMS: &[&str] = &[
    "status",
    "severity",
    "alertname",
    "target",
    "since",
    "until",
    "active",
    "limit",
    "offset",
];

/// One firing episode of an alert.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct AlertView {
    pub id: i64,
    pub fingerprint: String,
    pub alertname: String,
    /// `firing` or `resolved`, as last delivered.
    pub status: String,
    /// Firing and not past `ends_at`.
    pub active: bool,
    pub severity: Option<String>,
    pub target: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// RFC 3339, UTC.
    pub starts_at: String,
    pub ends_at: Option<String>,
    pub generator_url: Option<String>,
    /// The first delivery of this episode.
    pub received_at: String,
    /// The last delivery of this episode.
    pub updated_at: String,
}

fn string_map(value: serde_json::Value) -> BTreeMap<String, String> {
    serde_json::from_value(value).unwrap_or_default()
}

impl From<AlertRecord> for AlertView {
    fn from(r: AlertRecord) -> Self {
        AlertView {
            id: r.id,
            fingerprint: r.fingerprint,
            alertname: r.alertname,
            status: r.status.as_str().to_string(),
            active: r.active,
            severity: r.severity,
            target: r.target,
            labels: string_map(r.labels),
            annotations: string_map(r.annotations),
            starts_at: timestamp(r.starts_at),
            ends_at: r.ends_at.map(timestamp),
            generator_url: r.generator_url,
            received_at: timestamp(r.received_at),
            updated_at: timestamp(r.updated_at),
        }
    }
}

fn time_param(params: &QueryParams, name: &str) -> Result<Option<SystemTime>, ApiError> {
    params
        .one(name)?
        .filter(|text| !text.is_empty())
        .map(|text| parse_rfc3339(text).map_err(|m| ApiError::validation(name, m)))
        .transpose()
}

fn text_param(params: &QueryParams, name: &str) -> Result<Option<String>, ApiError> {
    Ok(params
        .one(name)?
        .filter(|text| !text.is_empty())
        .map(str::to_string))
}

fn filter_from(params: &QueryParams) -> Result<AlertFilter, ApiError> {
    let statuses = [
        ("firing", AlertStatus::Firing),
        ("resolved", AlertStatus::Resolved),
    ];
    let filter = AlertFilter {
        status: params.choice("status", &statuses)?,
        severity: text_param(params, "severity")?,
        alertname: text_param(params, "alertname")?,
        target: text_param(params, "target")?,
        since: time_param(params, "since")?,
        until: time_param(params, "until")?,
        active: params.choice("active", &[("true", true), ("false", false)])?,
    };
    if let (Some(since), Some(until)) = (filter.since, filter.until) {
        if until <= since {
            return Err(ApiError::validation(
                "until",
                "until must be later than since",
            ));
        }
    }
    Ok(filter)
}

async fn list(
    State(state): State<ApiState>,
    RawQuery(query): RawQuery,
) -> Result<Json<Paged<AlertView>>, ApiError> {
    let params = QueryParams::parse(query.as_deref(), LIST_PARAMS)?;
    let filter = filter_from(&params)?;
    let page = Page::from_params(&params)?;
    let client = state.store()?.client().await?;
    // Invariant: Page keeps both below i64::MAX.
    let (records, total) =
        alerts::list(&client, &filter, page.limit as i64, page.offset as i64).await?;
    Ok(Json(Paged {
        items: records.into_iter().map(AlertView::from).collect(),
        total: total as u64,
        limit: page.limit,
        offset: page.offset,
    }))
}

// ---------------------------------------------------------------------------------------------
// Metrics and upkeep

/// `ispmonitor_alerts_received_total` (this process's accepted deliveries) and
/// `ispmonitor_alerts_active` (the database's, as last read by the upkeep task).
#[derive(Default)]
pub struct AlertMetrics {
    received_firing: AtomicU64,
    received_resolved: AtomicU64,
    /// Active episodes by severity; `None` until the database has been read once.
    active: Mutex<Option<BTreeMap<&'static str, u64>>>,
    /// Asks the upkeep task to re-read the active counts now.
    refresh: Notify,
}

/// The `severity` label value of a stored severity: named, `other` or `none`.
fn severity_label(severity: Option<&str>) -> &'static str {
    match severity {
        None | Some("") => "none",
        Some(s) => SEVERITIES[..3]
            .iter()
            .find(|known| **known == s)
            .copied()
            .unwrap_or("other"),
    }
}

impl AlertMetrics {
    /// Counts an accepted delivery (repeated alerts included) and asks for fresh counts.
    pub fn delivered(&self, receipt: &WebhookReceipt) {
        self.received_firing
            .fetch_add(receipt.firing, Ordering::Relaxed);
        self.received_resolved
            .fetch_add(receipt.resolved, Ordering::Relaxed);
        self.refresh.notify_one();
    }

    /// Replaces the active counts with the database's.
    fn set_active(&self, by_severity: &[(Option<String>, i64)]) {
        let mut counts: BTreeMap<&'static str, u64> = SEVERITIES.iter().map(|s| (*s, 0)).collect();
        for (severity, n) in by_severity {
            *counts
                .entry(severity_label(severity.as_deref()))
                .or_default() += (*n).max(0) as u64;
        }
        *self.active.lock().unwrap_or_else(|e| e.into_inner()) = Some(counts);
    }

    fn active_snapshot(&self) -> Option<BTreeMap<&'static str, u64>> {
        self.active
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

impl MetricSource for AlertMetrics {
    fn encode(&self, enc: &mut Encoder) {
        let name = "ispmonitor_alerts_active";
        enc.family(&desc(name));
        for (severity, n) in self.active_snapshot().unwrap_or_default() {
            enc.sample(name, [("severity", severity)], Value::Int(n));
        }
        let name = "ispmonitor_alerts_received_total";
        enc.family(&desc(name));
        for (status, counter) in [
            (AlertStatus::Firing, &self.received_firing),
            (AlertStatus::Resolved, &self.received_resolved),
        ] {
            let n = counter.load(Ordering::Relaxed);
            enc.sample(name, [("status", status.as_str())], Value::Int(n));
        }
    }
}

/// Keeps `ispmonitor_alerts_active` fresh (every `REFRESH_EVERY` and after each delivery) and
/// deletes history rows unchanged for `retention` (at start, then hourly), until `stop`.
pub fn spawn_alert_upkeep(
    store: Store,
    metrics: Arc<AlertMetrics>,
    retention: Duration,
    stop: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut refresh = tokio::time::interval(REFRESH_EVERY);
        refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut trim = tokio::time::interval(RETENTION_EVERY);
        trim.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = refresh.tick() => refresh_active(&store, &metrics).await,
                _ = metrics.refresh.notified() => refresh_active(&store, &metrics).await,
                _ = trim.tick() => trim_history(&store, retention).await,
            }
        }
    })
}

async fn refresh_active(store: &Store, metrics: &AlertMetrics) {
    let counts = async {
        let client = store.client().await?;
        alerts::active_by_severity(&client).await
    }
    .await;
    match counts {
        Ok(counts) => metrics.set_active(&counts),
        // The last counts stay: the database being away does not end the alerts.
        Err(e) => tracing::debug!("cannot count active alerts: {e}"),
    }
}

async fn trim_history(store: &Store, retention: Duration) {
    let age = humantime::format_duration(retention);
    let deleted = async {
        let client = store.client().await?;
        alerts::delete_older_than(&client, retention).await
    }
    .await;
    match deleted {
        Ok(0) => tracing::debug!("alert retention: no history older than {age}"),
        Ok(n) => tracing::info!(
            deleted = n,
            "alert retention: deleted {n} alert history rows unchanged for {age}"
        ),
        Err(e) => tracing::warn!("alert retention failed, next try in an hour: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Format;

    fn alert(status: &str, starts_at: &str, ends_at: &str) -> serde_json::Value {
        serde_json::json!({
            "status": status,
            "labels": {"alertname": "TargetDown", "severity": "critical", "target": "r1"},
            "annotations": {"summary": "r1 is down"},
            "startsAt": starts_at,
            "endsAt": ends_at,
            "generatorURL": "http://prometheus:9090/graph?g0.expr=up",
            "fingerprint": "a1b2c3d4e5f60718"
        })
    }

    fn payload(alerts: Vec<serde_json::Value>) -> WebhookPayload {
        let body = serde_json::json!({
            "version": "4", "groupKey": "{}:{alertname=\"TargetDown\"}", "status": "firing",
            "receiver": "ispmonitor", "groupLabels": {}, "commonLabels": {},
            "commonAnnotations": {}, "externalURL": "http://alertmanager:9093",
            "truncatedAlerts": 0, "someFutureField": true, "alerts": alerts
        });
        serde_json::from_value(body).unwrap()
    }

    fn error_field(p: WebhookPayload) -> String {
        p.rows().unwrap_err().field.unwrap()
    }

    #[test]
    fn alertmanager_payloads_become_rows() {
        let p = payload(vec![
            alert(
                "resolved",
                "2024-05-01T12:00:00.123456789+02:00",
                "2024-05-01T10:05:00Z",
            ),
            alert("firing", "2024-05-01T09:00:00Z", "0001-01-01T00:00:00Z"),
        ]);
        let rows = p.rows().unwrap();
        assert_eq!(rows.len(), 2);
        // Sorted by start within the fingerprint.
        assert_eq!(rows[0].status, AlertStatus::Firing);
        assert_eq!(rows[0].ends_at, None);
        let resolved = &rows[1];
        assert_eq!(
            resolved.starts_at,
            humantime::parse_rfc3339("2024-05-01T10:00:00.123456789Z").unwrap()
        );
        assert_eq!(
            resolved.ends_at,
            Some(humantime::parse_rfc3339("2024-05-01T10:05:00Z").unwrap())
        );
        assert_eq!(resolved.alertname, "TargetDown");
        assert_eq!(resolved.severity, Some("critical"));
        assert_eq!(resolved.target, Some("r1"));
        assert_eq!(resolved.labels["target"], "r1");
        assert_eq!(resolved.annotations["summary"], "r1 is down");
    }

    #[test]
    fn bad_alerts_are_named_by_index_and_field() {
        let ok = || alert("firing", "2024-05-01T09:00:00Z", "0001-01-01T00:00:00Z");
        let with = |key: &str, value: serde_json::Value| {
            let mut a = ok();
            a[key] = value;
            payload(vec![ok(), a])
        };
        assert_eq!(
            error_field(with("status", "pending".into())),
            "alerts[1].status"
        );
        assert_eq!(
            error_field(with("startsAt", "yesterday".into())),
            "alerts[1].startsAt"
        );
        assert_eq!(
            error_field(with("startsAt", "0001-01-01T00:00:00Z".into())),
            "alerts[1].startsAt"
        );
        assert_eq!(
            error_field(with("endsAt", "soon".into())),
            "alerts[1].endsAt"
        );
        assert_eq!(
            error_field(with("endsAt", "2024-05-01T08:00:00Z".into())),
            "alerts[1].endsAt"
        );
        assert_eq!(
            error_field(with("fingerprint", "".into())),
            "alerts[1].fingerprint"
        );
        assert_eq!(
            error_field(with("fingerprint", "a b".into())),
            "alerts[1].fingerprint"
        );
        assert_eq!(
            error_field(with("labels", serde_json::json!({"severity": "info"}))),
            "alerts[1].labels.alertname"
        );
        let mut old = payload(vec![ok()]);
        old.version = "3".into();
        assert_eq!(error_field(old), "version");
    }

    #[test]
    fn list_parameters_are_checked_by_name() {
        let field = |query: &str| {
            let params = QueryParams::parse(Some(query), LIST_PARAMS).unwrap();
            filter_from(&params).unwrap_err().field.unwrap()
        };
        assert_eq!(field("status=pending"), "status");
        assert_eq!(field("active=yes"), "active");
        assert_eq!(field("since=soon"), "since");
        assert_eq!(
            field("since=2024-05-02T00:00:00Z&until=2024-05-01T00:00:00Z"),
            "until"
        );
        let params = QueryParams::parse(
            Some("status=firing&active=true&severity=&target=r1"),
            LIST_PARAMS,
        )
        .unwrap();
        let filter = filter_from(&params).unwrap();
        assert_eq!(
            filter,
            AlertFilter {
                status: Some(AlertStatus::Firing),
                target: Some("r1".into()),
                active: Some(true),
                ..AlertFilter::default()
            }
        );
    }

    #[test]
    fn metrics_count_deliveries_and_bound_severities() {
        let metrics = AlertMetrics::default();
        let mut enc = Encoder::new(Format::Text);
        metrics.encode(&mut enc);
        let before = enc.finish();
        assert!(!before.contains("ispmonitor_alerts_active{"), "{before}");
        assert!(
            before.contains("ispmonitor_alerts_received_total{status=\"firing\"} 0\n"),
            "{before}"
        );
        let receipt = WebhookReceipt {
            alerts: 3,
            firing: 2,
            resolved: 1,
            ..WebhookReceipt::default()
        };
        metrics.delivered(&receipt);
        metrics.delivered(&receipt);
        metrics.set_active(&[
            (Some("critical".into()), 2),
            (Some("page-me".into()), 1),
            (Some("disaster".into()), 4),
            (None, 3),
        ]);
        let mut enc = Encoder::new(Format::Text);
        metrics.encode(&mut enc);
        let text = enc.finish();
        for line in [
            "ispmonitor_alerts_active{severity=\"critical\"} 2\n",
            "ispmonitor_alerts_active{severity=\"warning\"} 0\n",
            "ispmonitor_alerts_active{severity=\"other\"} 5\n",
            "ispmonitor_alerts_active{severity=\"none\"} 3\n",
            "ispmonitor_alerts_received_total{status=\"firing\"} 4\n",
            "ispmonitor_alerts_received_total{status=\"resolved\"} 2\n",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
    }
}
