//! `/api/v1/audit`: the audit log filtered and paged, and exported as CSV or JSON (admin
//! only); plus the background task that deletes entries past `api.audit_retention`.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, Method};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Json;
use futures_util::Stream;
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::error::ApiError;
use super::extract::ApiQuery;
use super::http_metrics::ApiMetrics;
use super::routes::{Access, Route};
use super::{timestamp, ApiState};
use crate::store::audit::{self, AuditFilter, AuditRecord, Cursor, Page};
use crate::store::tokens::Role;
use crate::store::{Store, StoreError};

const ADMIN: Access = Access::Role(Role::Admin);
const DEFAULT_LIMIT: i64 = 100;
const MAX_LIMIT: i64 = 1000;
/// Rows per database round trip of an export: memory stays bounded whatever the log's size.
const EXPORT_BATCH: i64 = 500;
/// How often the retention task runs (and once at start).
const RETENTION_EVERY: Duration = Duration::from_secs(3600);
const CSV_HEADER: [&str; 11] = [
    "id",
    "at",
    "actor",
    "token_id",
    "action",
    "kind",
    "target",
    "request_id",
    "source_address",
    "before",
    "after",
];

pub fn routes() -> Vec<Route> {
    vec![
        Route::new(Method::GET, "/api/v1/audit", ADMIN, || get(list))
            .doc(
                "audit",
                "List audit entries, newest first, filtered and paged",
            )
            .query::<AuditQuery>()
            .response::<AuditPage>(),
        Route::new(Method::GET, "/api/v1/audit/export", ADMIN, || get(export))
            .doc(
                "audit",
                "Export audit entries as CSV or JSON, oldest first (streamed, as an attachment)",
            )
            .query::<ExportQuery>()
            .response::<Vec<AuditItem>>()
            .response_media(&["application/json", "text/csv"]),
    ]
}

/// Filters of `GET /api/v1/audit`. Text filters match exactly.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Who made the change: a token name, or `cli`.
    pub actor: Option<String>,
    /// `create`, `update`, `delete`, `import`, `revoke`...
    pub action: Option<String>,
    /// `router`, `server`, `credential`, `token`, `inventory`...
    pub kind: Option<String>,
    /// The object's name (or id).
    pub target: Option<String>,
    /// The `X-Request-Id` of the request that made the change.
    pub request_id: Option<String>,
    /// RFC 3339 (`2024-05-01T00:00:00Z`); entries at or after this time.
    pub since: Option<String>,
    /// RFC 3339; entries before this time.
    pub until: Option<String>,
    /// Entries per page, 1 to 1000 (default 100).
    #[schemars(with = "Option<u32>", range(min = 1, max = 1000))]
    pub limit: Option<String>,
    /// Entries to skip (default 0).
    #[schemars(with = "Option<u64>")]
    pub offset: Option<String>,
}

/// Filters of `GET /api/v1/audit/export`.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    /// `json` (default: an array of entries) or `csv` (header row; `before`/`after` as JSON
    /// text).
    #[schemars(with = "Option<ExportFormat>")]
    pub format: Option<String>,
    pub actor: Option<String>,
    pub action: Option<String>,
    pub kind: Option<String>,
    pub target: Option<String>,
    pub request_id: Option<String>,
    /// RFC 3339; entries at or after this time.
    pub since: Option<String>,
    /// RFC 3339; entries before this time.
    pub until: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    Json,
    Csv,
}

/// One audit entry. `before` and `after` are the API's views of the object, which never
/// hold a secret.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct AuditItem {
    pub id: i64,
    /// RFC 3339, UTC.
    pub at: String,
    pub actor: String,
    pub token_id: Option<i64>,
    pub action: String,
    pub kind: String,
    pub target: Option<String>,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
    pub request_id: Option<String>,
    pub source_address: Option<String>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct AuditPage {
    pub items: Vec<AuditItem>,
    /// Entries matching the filters, over all pages.
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
}

impl From<AuditRecord> for AuditItem {
    fn from(r: AuditRecord) -> Self {
        AuditItem {
            id: r.id,
            at: timestamp(r.at),
            actor: r.actor,
            token_id: r.token_id,
            action: r.action,
            kind: r.kind,
            target: r.target,
            before: r.before,
            after: r.after,
            request_id: r.request_id,
            source_address: r.source_address,
        }
    }
}

/// Parses an RFC 3339 time with `Z` or a numeric offset. A `+` that arrived unescaped in a
/// query string has become a space; it is read as `+`.
pub fn parse_rfc3339(text: &str) -> Result<SystemTime, String> {
    let bad = || {
        format!("{text:?} is not an RFC 3339 time (e.g. 2024-05-01T00:00:00Z or 2024-05-01T02:00:00+02:00)")
    };
    // RFC 3339 is ASCII; anything else is refused before the byte offsets below, which would
    // otherwise split a multi-byte character (a panic that dropped the connection).
    if !text.is_ascii() {
        return Err(bad());
    }
    let text = text.trim_start();
    let upper = text.to_ascii_uppercase();
    if upper.ends_with('Z') {
        return humantime::parse_rfc3339(&upper).map_err(|_| bad());
    }
    let split = upper.len().checked_sub(6).ok_or_else(bad)?;
    let (local, offset) = upper.split_at(split);
    let offset = offset.as_bytes();
    let sign = match offset[0] {
        b'+' | b' ' => 1,
        b'-' => -1,
        _ => return Err(bad()),
    };
    let digits = |a: u8, b: u8| -> Option<u64> {
        (a.is_ascii_digit() && b.is_ascii_digit()).then(|| u64::from((a - b'0') * 10 + (b - b'0')))
    };
    let (hours, minutes) = match (
        offset[3],
        digits(offset[1], offset[2]),
        digits(offset[4], offset[5]),
    ) {
        (b':', Some(h), Some(m)) if h < 24 && m < 60 => (h, m),
        _ => return Err(bad()),
    };
    let utc_clock = humantime::parse_rfc3339(&format!("{local}Z")).map_err(|_| bad())?;
    let shift = Duration::from_secs(hours * 3600 + minutes * 60);
    // Local time = UTC + offset, so UTC = local time - offset.
    let utc = if sign > 0 {
        utc_clock.checked_sub(shift)
    } else {
        utc_clock.checked_add(shift)
    };
    utc.ok_or_else(bad)
}

/// The filters shared by the list and the export, still as text.
struct FilterText {
    actor: Option<String>,
    action: Option<String>,
    kind: Option<String>,
    target: Option<String>,
    request_id: Option<String>,
    since: Option<String>,
    until: Option<String>,
}

/// An empty parameter (`actor=`) filters nothing, like an absent one.
fn given(value: Option<String>) -> Option<String> {
    value.filter(|v| !v.is_empty())
}

fn time_param(field: &str, value: Option<String>) -> Result<Option<SystemTime>, ApiError> {
    given(value)
        .map(|text| parse_rfc3339(&text).map_err(|m| ApiError::validation(field, m)))
        .transpose()
}

impl FilterText {
    fn parse(self) -> Result<AuditFilter, ApiError> {
        let since = time_param("since", self.since)?;
        let until = time_param("until", self.until)?;
        if let (Some(since), Some(until)) = (since, until) {
            if until <= since {
                return Err(ApiError::validation(
                    "until",
                    "until must be later than since",
                ));
            }
        }
        Ok(AuditFilter {
            actor: given(self.actor),
            action: given(self.action),
            kind: given(self.kind),
            target: given(self.target),
            request_id: given(self.request_id),
            since,
            until,
        })
    }
}

fn integer_param(
    field: &str,
    value: Option<String>,
    range: std::ops::RangeInclusive<i64>,
) -> Result<Option<i64>, ApiError> {
    let Some(text) = given(value) else {
        return Ok(None);
    };
    match text.parse::<i64>() {
        Ok(n) if range.contains(&n) => Ok(Some(n)),
        _ => Err(ApiError::validation(
            field,
            format!(
                "{:?} is not a whole number from {} to {}",
                text.chars().take(40).collect::<String>(),
                range.start(),
                range.end()
            ),
        )),
    }
}

impl AuditQuery {
    fn parse(self) -> Result<(AuditFilter, Page), ApiError> {
        let limit = integer_param("limit", self.limit, 1..=MAX_LIMIT)?.unwrap_or(DEFAULT_LIMIT);
        let offset = integer_param("offset", self.offset, 0..=i64::MAX)?.unwrap_or(0);
        let filter = FilterText {
            actor: self.actor,
            action: self.action,
            kind: self.kind,
            target: self.target,
            request_id: self.request_id,
            since: self.since,
            until: self.until,
        }
        .parse()?;
        Ok((filter, Page { limit, offset }))
    }
}

impl ExportQuery {
    fn parse(self) -> Result<(AuditFilter, ExportFormat), ApiError> {
        let format = match given(self.format).as_deref() {
            None | Some("json") => ExportFormat::Json,
            Some("csv") => ExportFormat::Csv,
            Some(other) => {
                return Err(ApiError::validation(
                    "format",
                    format!("{other:?} is not an export format (csv or json)"),
                ))
            }
        };
        let filter = FilterText {
            actor: self.actor,
            action: self.action,
            kind: self.kind,
            target: self.target,
            request_id: self.request_id,
            since: self.since,
            until: self.until,
        }
        .parse()?;
        Ok((filter, format))
    }
}

async fn list(
    State(state): State<ApiState>,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> Result<Json<AuditPage>, ApiError> {
    let (filter, page) = query.parse()?;
    let client = state.store()?.client().await?;
    let (records, total) = audit::list(&client, &filter, page).await?;
    Ok(Json(AuditPage {
        items: records.into_iter().map(AuditItem::from).collect(),
        total,
        limit: page.limit,
        offset: page.offset,
    }))
}

impl ExportFormat {
    fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Json => "application/json",
            ExportFormat::Csv => "text/csv; charset=utf-8",
        }
    }

    fn extension(self) -> &'static str {
        match self {
            ExportFormat::Json => "json",
            ExportFormat::Csv => "csv",
        }
    }
}

async fn export(
    State(state): State<ApiState>,
    ApiQuery(query): ApiQuery<ExportQuery>,
) -> Result<Response, ApiError> {
    let (filter, format) = query.parse()?;
    let store = state.store()?.clone();
    // A database that is away answers 503 now, not as a cut-off download.
    drop(store.client().await?);
    let disposition = format!(
        "attachment; filename=\"ispmonitor-audit.{}\"",
        format.extension()
    );
    let headers = [
        (header::CONTENT_TYPE, format.content_type().to_string()),
        (header::CONTENT_DISPOSITION, disposition),
    ];
    let body = Body::from_stream(export_stream(Export::new(store, filter, format)));
    Ok((headers, body).into_response())
}

/// Where a streamed export stands.
struct Export {
    store: Store,
    filter: AuditFilter,
    format: ExportFormat,
    cursor: Option<Cursor>,
    rows: u64,
    finished: bool,
}

impl Export {
    fn new(store: Store, filter: AuditFilter, format: ExportFormat) -> Export {
        Export {
            store,
            filter,
            format,
            cursor: None,
            rows: 0,
            finished: false,
        }
    }

    /// The next piece of the document: the opening with the first batch, the closing with
    /// the last. A pooled connection is held only for one batch.
    async fn next_chunk(&mut self) -> Result<Bytes, StoreError> {
        let client = self.store.client().await?;
        let batch = audit::batch_after(&client, &self.filter, self.cursor, EXPORT_BATCH).await?;
        drop(client);
        let mut out = Vec::new();
        if self.rows == 0 && self.cursor.is_none() {
            self.open(&mut out);
        }
        self.finished = (batch.len() as i64) < EXPORT_BATCH;
        self.cursor = batch.last().map(|r| (r.at, r.id)).or(self.cursor);
        for record in batch {
            self.write_row(&mut out, record);
        }
        if self.finished {
            self.close(&mut out);
        }
        Ok(Bytes::from(out))
    }

    fn open(&self, out: &mut Vec<u8>) {
        match self.format {
            ExportFormat::Json => out.push(b'['),
            ExportFormat::Csv => write_csv(out, CSV_HEADER.map(String::from)),
        }
    }

    fn close(&self, out: &mut Vec<u8>) {
        if self.format == ExportFormat::Json {
            out.extend_from_slice(b"\n]\n");
        }
    }

    fn write_row(&mut self, out: &mut Vec<u8>, record: AuditRecord) {
        let item = AuditItem::from(record);
        match self.format {
            ExportFormat::Json => {
                if self.rows > 0 {
                    out.push(b',');
                }
                out.push(b'\n');
                // Invariant: an AuditItem is strings, numbers and JSON values: it serialises.
                serde_json::to_writer(&mut *out, &item).unwrap_or_default();
            }
            ExportFormat::Csv => write_csv(out, csv_row(item)),
        }
        self.rows += 1;
    }
}

fn csv_row(item: AuditItem) -> [String; 11] {
    let json = |v: Option<serde_json::Value>| v.map(|v| v.to_string()).unwrap_or_default();
    [
        item.id.to_string(),
        item.at,
        item.actor,
        item.token_id.map(|id| id.to_string()).unwrap_or_default(),
        item.action,
        item.kind,
        item.target.unwrap_or_default(),
        item.request_id.unwrap_or_default(),
        item.source_address.unwrap_or_default(),
        json(item.before),
        json(item.after),
    ]
}

/// One CSV record, quoted where needed (commas, quotes and newlines in JSON text).
fn write_csv(out: &mut Vec<u8>, fields: [String; 11]) {
    let mut writer = csv::Writer::from_writer(Vec::new());
    // Invariant: writing to a Vec cannot fail.
    let _ = writer.write_record(&fields);
    if let Ok(bytes) = writer.into_inner() {
        out.extend_from_slice(&bytes);
    }
}

fn export_stream(export: Export) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send {
    futures_util::stream::unfold(export, |mut export| async move {
        if export.finished {
            return None;
        }
        match export.next_chunk().await {
            Ok(bytes) => Some((Ok(bytes), export)),
            Err(e) => {
                // The status line is gone: all that is left is to cut the download short.
                tracing::warn!("audit export stopped after {} rows: {e}", export.rows);
                export.finished = true;
                Some((Err(std::io::Error::other(e.to_string())), export))
            }
        }
    })
}

/// Deletes audit entries older than `retention` now and then every hour, until `stop`.
/// Counts deletions in `ispmonitor_audit_entries_deleted_total`.
pub fn spawn_audit_retention(
    store: Store,
    retention: Duration,
    metrics: Arc<ApiMetrics>,
    stop: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(RETENTION_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = every.tick() => trim(&store, retention, &metrics).await,
            }
        }
    })
}

/// `90d` rather than humantime's `2months 29days 2h 52m 48s`.
fn whole_days(d: Duration) -> String {
    match d.as_secs() {
        s if s > 0 && s % 86_400 == 0 && d.subsec_nanos() == 0 => format!("{}d", s / 86_400),
        _ => humantime::format_duration(d).to_string(),
    }
}

async fn trim(store: &Store, retention: Duration, metrics: &ApiMetrics) {
    let age = whole_days(retention);
    let deleted = async {
        let client = store.client().await?;
        audit::delete_older_than(&client, retention).await
    }
    .await;
    match deleted {
        Ok(0) => tracing::debug!("audit retention: no entries older than {age}"),
        Ok(n) => {
            metrics.audit_entries_deleted(n);
            tracing::info!(
                deleted = n,
                "audit retention: deleted {n} entries older than {age}"
            );
        }
        Err(e) => tracing::warn!("audit retention failed, next try in an hour: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> SystemTime {
        humantime::parse_rfc3339(text).unwrap()
    }

    #[test]
    fn rfc3339_times_take_z_or_an_offset() {
        let t = utc("2024-05-01T10:00:00Z");
        assert_eq!(parse_rfc3339("2024-05-01T10:00:00Z"), Ok(t));
        assert_eq!(parse_rfc3339("2024-05-01t10:00:00z"), Ok(t));
        assert_eq!(parse_rfc3339("2024-05-01T12:00:00+02:00"), Ok(t));
        assert_eq!(
            parse_rfc3339("2024-05-01T12:00:00 02:00"),
            Ok(t),
            "+ decoded as space"
        );
        assert_eq!(parse_rfc3339("2024-05-01T05:30:00-04:30"), Ok(t));
        assert_eq!(
            parse_rfc3339("2024-05-01T10:00:00.250Z"),
            Ok(t + Duration::from_millis(250))
        );
        for bad in [
            "",
            "yesterday",
            "2024-05-01",
            "2024-05-01T10:00:00",
            "2024-05-01T10:00:00+2:00",
            "2024-05-01T10:00:00+24:00",
            "2024-13-01T10:00:00Z",
            "2024-05-01T10:00:00*02:00",
        ] {
            assert!(parse_rfc3339(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn bad_query_values_name_their_parameter() {
        let field = |q: AuditQuery| q.parse().unwrap_err().field.unwrap();
        let q = |f: fn(&mut AuditQuery)| {
            let mut q = AuditQuery::default();
            f(&mut q);
            q
        };
        assert_eq!(field(q(|q| q.since = Some("soon".into()))), "since");
        assert_eq!(field(q(|q| q.until = Some("2024-05-01".into()))), "until");
        assert_eq!(field(q(|q| q.limit = Some("0".into()))), "limit");
        assert_eq!(field(q(|q| q.limit = Some("1001".into()))), "limit");
        assert_eq!(field(q(|q| q.offset = Some("-1".into()))), "offset");
        let reversed = q(|q| {
            q.since = Some("2024-05-02T00:00:00Z".into());
            q.until = Some("2024-05-01T00:00:00Z".into());
        });
        assert_eq!(field(reversed), "until");
        let (filter, page) = q(|q| q.actor = Some(String::new())).parse().unwrap();
        assert_eq!(filter, AuditFilter::default());
        assert_eq!(
            page,
            Page {
                limit: DEFAULT_LIMIT,
                offset: 0
            }
        );
        let export = ExportQuery {
            format: Some("xml".into()),
            ..ExportQuery::default()
        };
        assert_eq!(export.parse().unwrap_err().field.as_deref(), Some("format"));
    }

    #[test]
    fn retention_reads_in_days() {
        assert_eq!(whole_days(Duration::from_secs(90 * 86_400)), "90d");
        assert_eq!(whole_days(Duration::from_secs(36 * 3600)), "1day 12h");
    }

    #[test]
    fn csv_rows_quote_json_text() {
        let item = AuditItem {
            id: 7,
            at: "2024-05-01T10:00:00.000Z".into(),
            actor: "admin".into(),
            token_id: Some(1),
            action: "update".into(),
            kind: "router".into(),
            target: Some("r1".into()),
            before: None,
            after: Some(serde_json::json!({"note": "a \"quoted\", value\nnext"})),
            request_id: Some("abc".into()),
            source_address: None,
        };
        let after = item.after.clone().unwrap();
        let mut out = Vec::new();
        write_csv(&mut out, csv_row(item));
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(out.as_slice());
        let record = reader.records().next().unwrap().unwrap();
        assert_eq!(record.len(), CSV_HEADER.len());
        assert_eq!(&record[0], "7");
        assert_eq!(&record[9], "");
        let parsed: serde_json::Value = serde_json::from_str(&record[10]).unwrap();
        assert_eq!(parsed, after);
    }
}
