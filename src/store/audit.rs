//! The audit log: who changed what, written in the same transaction as the change.

use deadpool_postgres::GenericClient;
use serde_json::Value;

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
