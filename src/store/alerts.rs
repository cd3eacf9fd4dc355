//! Alert history: Alertmanager's alerts, one row per firing episode (fingerprint, starts_at),
//! upserted on every delivery; listed with filters, counted for `ispmonitor_alerts_active`
//! and trimmed by the retention task.

use std::time::{Duration, SystemTime};

use deadpool_postgres::GenericClient;
use serde_json::Value;

use super::audit::Conditions;
use super::StoreError;

/// An alert's state as Alertmanager reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AlertStatus {
    Firing,
    Resolved,
}

impl AlertStatus {
    pub const ALL: [AlertStatus; 2] = [AlertStatus::Firing, AlertStatus::Resolved];

    pub fn as_str(self) -> &'static str {
        match self {
            AlertStatus::Firing => "firing",
            AlertStatus::Resolved => "resolved",
        }
    }

    pub fn parse(text: &str) -> Option<AlertStatus> {
        AlertStatus::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// One alert of a delivery, validated, as written.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRow<'a> {
    pub fingerprint: &'a str,
    pub alertname: &'a str,
    pub status: AlertStatus,
    /// The `severity` label, if any.
    pub severity: Option<&'a str>,
    /// The `target` label, if any.
    pub target: Option<&'a str>,
    /// Every label, as a JSON object of strings.
    pub labels: Value,
    pub annotations: Value,
    pub starts_at: SystemTime,
    /// `None` while Alertmanager has no end for it (a firing alert).
    pub ends_at: Option<SystemTime>,
    pub generator_url: Option<&'a str>,
}

/// What an upsert did to the episode's row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upserted {
    Created,
    Updated,
}

/// The last delivery wins: status, end, labels, annotations and link are replaced, and
/// `received_at` keeps the first delivery's time. `xmax = 0` is true only for a row this
/// statement inserted (an updated row carries the updating transaction's id).
const UPSERT: &str = "INSERT INTO alert_history
        (fingerprint, alertname, status, severity, target, labels, annotations, starts_at,
         ends_at, generator_url)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
     ON CONFLICT (fingerprint, starts_at) DO UPDATE SET
         alertname = EXCLUDED.alertname,
         status = EXCLUDED.status,
         severity = EXCLUDED.severity,
         target = EXCLUDED.target,
         labels = EXCLUDED.labels,
         annotations = EXCLUDED.annotations,
         ends_at = EXCLUDED.ends_at,
         generator_url = EXCLUDED.generator_url,
         updated_at = now()
     RETURNING (xmax = 0) AS created";

/// Writes one alert: a new episode's row, or the update of a known one (a repeated delivery
/// changes nothing but `updated_at`).
pub async fn upsert(
    client: &impl GenericClient,
    alert: &AlertRow<'_>,
) -> Result<Upserted, StoreError> {
    let statement = client.prepare_cached(UPSERT).await?;
    let row = client
        .query_one(
            &statement,
            &[
                &alert.fingerprint,
                &alert.alertname,
                &alert.status.as_str(),
                &alert.severity,
                &alert.target,
                &alert.labels,
                &alert.annotations,
                &alert.starts_at,
                &alert.ends_at,
                &alert.generator_url,
            ],
        )
        .await?;
    Ok(if row.get::<_, bool>("created") {
        Upserted::Created
    } else {
        Upserted::Updated
    })
}

/// One stored episode, as read back.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRecord {
    pub id: i64,
    pub fingerprint: String,
    pub alertname: String,
    pub status: AlertStatus,
    pub severity: Option<String>,
    pub target: Option<String>,
    pub labels: Value,
    pub annotations: Value,
    pub starts_at: SystemTime,
    pub ends_at: Option<SystemTime>,
    pub generator_url: Option<String>,
    pub received_at: SystemTime,
    pub updated_at: SystemTime,
    /// Firing and not past its end (by the database's clock).
    pub active: bool,
}

/// Which episodes a list reads. `None` does not filter; text filters match exactly.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertFilter {
    pub status: Option<AlertStatus>,
    pub severity: Option<String>,
    pub alertname: Option<String>,
    pub target: Option<String>,
    /// Episodes that started at or after this time.
    pub since: Option<SystemTime>,
    /// Episodes that started strictly before this time.
    pub until: Option<SystemTime>,
    /// `Some(true)`: firing and not ended; `Some(false)`: the others.
    pub active: Option<bool>,
}

/// "Active" in SQL: firing, with no end or an end still ahead.
const ACTIVE: &str = "(status = 'firing' AND (ends_at IS NULL OR ends_at > now()))";

const COLUMNS: &str = "id, fingerprint, alertname, status, severity, target, labels, annotations,
    starts_at, ends_at, generator_url, received_at, updated_at";

impl AlertFilter {
    fn conditions(&self) -> Conditions<'_> {
        let mut c = Conditions::default();
        if let Some(status) = self.status {
            // A closed enum: its text is safe inline.
            c.clauses.push(format!("status = '{}'", status.as_str()));
        }
        let text = [
            ("severity = ?", &self.severity),
            ("alertname = ?", &self.alertname),
            ("target = ?", &self.target),
        ];
        for (condition, value) in text {
            if let Some(value) = value {
                c.push(condition, value);
            }
        }
        if let Some(since) = &self.since {
            c.push("starts_at >= ?", since);
        }
        if let Some(until) = &self.until {
            c.push("starts_at < ?", until);
        }
        match self.active {
            Some(true) => c.clauses.push(ACTIVE.to_string()),
            Some(false) => c.clauses.push(format!("NOT {ACTIVE}")),
            None => {}
        }
        c
    }
}

fn from_row(row: &tokio_postgres::Row) -> AlertRecord {
    let status: &str = row.get("status");
    AlertRecord {
        id: row.get("id"),
        fingerprint: row.get("fingerprint"),
        alertname: row.get("alertname"),
        // Invariant: the table's CHECK allows only these two.
        status: AlertStatus::parse(status).unwrap_or(AlertStatus::Firing),
        severity: row.get("severity"),
        target: row.get("target"),
        labels: row.get("labels"),
        annotations: row.get("annotations"),
        starts_at: row.get("starts_at"),
        ends_at: row.get("ends_at"),
        generator_url: row.get("generator_url"),
        received_at: row.get("received_at"),
        updated_at: row.get("updated_at"),
        active: row.get("active"),
    }
}

/// One page of matching episodes, latest start first, and how many match in all.
pub async fn list(
    client: &impl GenericClient,
    filter: &AlertFilter,
    limit: i64,
    offset: i64,
) -> Result<(Vec<AlertRecord>, i64), StoreError> {
    let mut c = filter.conditions();
    let count_sql = format!("SELECT count(*) FROM alert_history{}", c.sql());
    let total: i64 = client.query_one(&count_sql, &c.params).await?.get(0);
    let where_sql = c.sql();
    let limit = c.param(&limit);
    let offset = c.param(&offset);
    let sql = format!(
        "SELECT {COLUMNS}, {ACTIVE} AS active FROM alert_history{where_sql}
         ORDER BY starts_at DESC, id DESC LIMIT {limit} OFFSET {offset}"
    );
    let rows = client.query(&sql, &c.params).await?;
    Ok((rows.iter().map(from_row).collect(), total))
}

/// Active episodes by their `severity` label (`None`: no such label).
pub async fn active_by_severity(
    client: &impl GenericClient,
) -> Result<Vec<(Option<String>, i64)>, StoreError> {
    let sql =
        format!("SELECT severity, count(*) FROM alert_history WHERE {ACTIVE} GROUP BY severity");
    let rows = client.query(&sql, &[]).await?;
    Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
}

/// Deletes episodes whose row has not changed for `retention` (by the database's clock):
/// resolved ones, and firing ones Alertmanager stopped re-sending long ago. Returns how many.
pub async fn delete_older_than(
    client: &impl GenericClient,
    retention: Duration,
) -> Result<u64, StoreError> {
    super::delete_in_batches(
        client,
        super::Aged {
            table: "alert_history",
            column: "updated_at",
            retention,
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_become_numbered_conditions_with_active_as_sql() {
        let filter = AlertFilter {
            status: Some(AlertStatus::Firing),
            target: Some("r1".into()),
            since: Some(SystemTime::UNIX_EPOCH),
            active: Some(true),
            ..AlertFilter::default()
        };
        let mut c = filter.conditions();
        assert_eq!(
            c.sql(),
            format!(" WHERE status = 'firing' AND target = $1 AND starts_at >= $2 AND {ACTIVE}")
        );
        assert_eq!(c.param(&1i64), "$3");
        let inactive = AlertFilter {
            active: Some(false),
            ..AlertFilter::default()
        };
        assert_eq!(inactive.conditions().sql(), format!(" WHERE NOT {ACTIVE}"));
        assert_eq!(AlertFilter::default().conditions().sql(), "");
    }

    #[test]
    fn statuses_round_trip() {
        for status in AlertStatus::ALL {
            assert_eq!(AlertStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(AlertStatus::parse("pending"), None);
    }
}
