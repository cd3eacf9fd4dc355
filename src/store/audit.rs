//! The audit log: who changed what, written in the same transaction as the change; read back
//! by page or in batches for export, and trimmed by the retention task.

use std::time::{Duration, SystemTime};

use deadpool_postgres::GenericClient;
use serde_json::Value;
use tokio_postgres::types::ToSql;

use super::StoreError;

/// Who is acting, and through which request. Built by the API's auth layer (or `cli`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The token's name, or `cli` / `anonymous`.
    pub name: String,
    pub token_id: Option<i64>,
    pub request_id: Option<String>,
    pub source_address: Option<String>,
}

impl Actor {
    /// The command line (`ispmonitor token create`...).
    pub fn cli() -> Actor {
        Actor {
            name: "cli".into(),
            token_id: None,
            request_id: None,
            source_address: None,
        }
    }
}

/// One mutation. `before`/`after` are the API's JSON views, which never hold a secret (they
/// say `"community_set": true` instead).
#[derive(Debug, Clone)]
pub struct AuditEntry<'a> {
    pub actor: &'a Actor,
    /// `create`, `update`, `delete`, `import`, `revoke`...
    pub action: &'a str,
    /// `router`, `server`, `credential`, `token`, `license`, `inventory`...
    pub kind: &'a str,
    /// The object's name (or id), if the action concerns one.
    pub target: Option<&'a str>,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// Writes one entry. Call it with the transaction that makes the change, so both commit or
/// neither does.
pub async fn record(client: &impl GenericClient, entry: &AuditEntry<'_>) -> Result<(), StoreError> {
    client
        .execute(
            "INSERT INTO audit_log
                 (actor, token_id, action, kind, target, before, after, request_id, source_address)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            &[
                &entry.actor.name,
                &entry.actor.token_id,
                &entry.action,
                &entry.kind,
                &entry.target,
                &entry.before,
                &entry.after,
                &entry.actor.request_id,
                &entry.actor.source_address,
            ],
        )
        .await?;
    Ok(())
}

/// One stored entry, as read back.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    pub id: i64,
    pub at: SystemTime,
    pub actor: String,
    pub token_id: Option<i64>,
    pub action: String,
    pub kind: String,
    pub target: Option<String>,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub request_id: Option<String>,
    pub source_address: Option<String>,
}

/// Which entries a query reads. `None` does not filter; text filters match exactly.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub kind: Option<String>,
    pub target: Option<String>,
    pub request_id: Option<String>,
    /// Entries at or after this time.
    pub since: Option<SystemTime>,
    /// Entries strictly before this time.
    pub until: Option<SystemTime>,
}

/// A window of the newest-first list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub limit: i64,
    pub offset: i64,
}

/// Where an export stands: the last entry sent, in (at, id) order.
pub type Cursor = (SystemTime, i64);

const COLUMNS: &str =
    "id, at, actor, token_id, action, kind, target, before, after, request_id, source_address";

/// A WHERE clause with its parameters, numbered in order (the alert history builds its
/// filters with it too).
#[derive(Default)]
pub(super) struct Conditions<'a> {
    pub(super) clauses: Vec<String>,
    pub(super) params: Vec<&'a (dyn ToSql + Sync)>,
}

impl<'a> Conditions<'a> {
    pub(super) fn push(&mut self, condition: &str, value: &'a (dyn ToSql + Sync)) {
        self.params.push(value);
        let n = self.params.len();
        self.clauses.push(condition.replace('?', &format!("${n}")));
    }

    pub(super) fn sql(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.clauses.join(" AND "))
        }
    }

    /// The next parameter's placeholder (`$n`) once `value` is added.
    pub(super) fn param(&mut self, value: &'a (dyn ToSql + Sync)) -> String {
        self.params.push(value);
        format!("${}", self.params.len())
    }
}

impl AuditFilter {
    fn conditions(&self) -> Conditions<'_> {
        let mut c = Conditions::default();
        let text = [
            ("actor = ?", &self.actor),
            ("action = ?", &self.action),
            ("kind = ?", &self.kind),
            ("target = ?", &self.target),
            ("request_id = ?", &self.request_id),
        ];
        for (condition, value) in text {
            if let Some(value) = value {
                c.push(condition, value);
            }
        }
        if let Some(since) = &self.since {
            c.push("at >= ?", since);
        }
        if let Some(until) = &self.until {
            c.push("at < ?", until);
        }
        c
    }
}

fn from_row(row: &tokio_postgres::Row) -> AuditRecord {
    AuditRecord {
        id: row.get("id"),
        at: row.get("at"),
        actor: row.get("actor"),
        token_id: row.get("token_id"),
        action: row.get("action"),
        kind: row.get("kind"),
        target: row.get("target"),
        before: row.get("before"),
        after: row.get("after"),
        request_id: row.get("request_id"),
        source_address: row.get("source_address"),
    }
}

/// One page of matching entries, newest first, and how many match in all.
pub async fn list(
    client: &impl GenericClient,
    filter: &AuditFilter,
    page: Page,
) -> Result<(Vec<AuditRecord>, i64), StoreError> {
    let mut c = filter.conditions();
    let count_sql = format!("SELECT count(*) FROM audit_log{}", c.sql());
    let total: i64 = client.query_one(&count_sql, &c.params).await?.get(0);
    let where_sql = c.sql();
    let limit = c.param(&page.limit);
    let offset = c.param(&page.offset);
    let sql = format!(
        "SELECT {COLUMNS} FROM audit_log{where_sql}
         ORDER BY at DESC, id DESC LIMIT {limit} OFFSET {offset}"
    );
    let rows = client.query(&sql, &c.params).await?;
    Ok((rows.iter().map(from_row).collect(), total))
}

/// The next `limit` matching entries after `after`, oldest first (an export walks the log with
/// this, one bounded batch at a time, without holding a transaction open).
pub async fn batch_after(
    client: &impl GenericClient,
    filter: &AuditFilter,
    after: Option<Cursor>,
    limit: i64,
) -> Result<Vec<AuditRecord>, StoreError> {
    let mut c = filter.conditions();
    if let Some((at, id)) = &after {
        let at = c.param(at);
        let id = c.param(id);
        c.clauses.push(format!("(at, id) > ({at}, {id})"));
    }
    let where_sql = c.sql();
    let limit = c.param(&limit);
    let sql = format!("SELECT {COLUMNS} FROM audit_log{where_sql} ORDER BY at, id LIMIT {limit}");
    let rows = client.query(&sql, &c.params).await?;
    Ok(rows.iter().map(from_row).collect())
}

/// Deletes entries older than `retention` (by the database's clock), in batches. Returns how
/// many were deleted.
pub async fn delete_older_than(
    client: &impl GenericClient,
    retention: Duration,
) -> Result<u64, StoreError> {
    super::delete_in_batches(
        client,
        super::Aged {
            table: "audit_log",
            column: "at",
            retention,
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_become_numbered_conditions_in_a_fixed_order() {
        let filter = AuditFilter {
            actor: Some("admin".into()),
            kind: Some("token".into()),
            since: Some(SystemTime::UNIX_EPOCH),
            ..AuditFilter::default()
        };
        let mut c = filter.conditions();
        assert_eq!(
            c.sql(),
            " WHERE actor = $1 AND kind = $2 AND at >= $3".to_string()
        );
        assert_eq!(c.param(&1i64), "$4");
        assert_eq!(AuditFilter::default().conditions().sql(), "");
    }
}
