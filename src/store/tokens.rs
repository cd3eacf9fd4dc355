//! API tokens: random, shown once, stored as a SHA-256 hash, with a role.

use std::time::SystemTime;

use deadpool_postgres::GenericClient;
use rand::RngCore;
use sha2::{Digest, Sha256};

use super::StoreError;
use crate::config::Secret;

/// What a token may do. Ordered: an admin may do everything an operator may, and so on.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads.
    Viewer,
    /// Reads and inventory writes.
    Operator,
    /// Everything: tokens, audit, license.
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Operator, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == text)
    }
}

/// Tokens start with this, so secret scanners and humans recognise them.
pub const TOKEN_PREFIX: &str = "ispm_";
/// Characters of the token kept in clear to recognise it in lists (`ispm_` + 6).
const SHOWN_PREFIX_CHARS: usize = 11;

/// A token as listed: never its value.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenInfo {
    pub id: i64,
    pub name: String,
    pub role: Role,
    pub prefix: String,
    pub created_by: String,
    pub created_at: SystemTime,
    pub last_used_at: Option<SystemTime>,
    pub revoked_at: Option<SystemTime>,
}

/// A token just created: the only time its value exists outside the caller's hands.
#[derive(Debug)]
pub struct IssuedToken {
    pub info: TokenInfo,
    pub token: Secret,
}

pub struct NewToken<'a> {
    pub name: &'a str,
    pub role: Role,
    /// Who created it: a token name, or `cli` for `ispmonitor token create`.
    pub created_by: &'a str,
}

/// 32 random bytes, URL-safe base64: 256 bits, so a plain SHA-256 of it cannot be brute-forced.
fn generate() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!(
        "{TOKEN_PREFIX}{}",
        data_encoding::BASE64URL_NOPAD.encode(&bytes)
    )
}

fn hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

const COLUMNS: &str = "id, name, role, prefix, created_by, created_at, last_used_at, revoked_at";

fn from_row(row: &tokio_postgres::Row) -> TokenInfo {
    TokenInfo {
        id: row.get("id"),
        name: row.get("name"),
        // Invariant: the column's CHECK constraint only admits the three role names.
        role: Role::parse(row.get("role")).unwrap_or(Role::Viewer),
        prefix: row.get("prefix"),
        created_by: row.get("created_by"),
        created_at: row.get("created_at"),
        last_used_at: row.get("last_used_at"),
        revoked_at: row.get("revoked_at"),
    }
}

/// Creates a token. A name already taken answers `StoreError::Duplicate`.
pub async fn create(
    client: &impl GenericClient,
    new: NewToken<'_>,
) -> Result<IssuedToken, StoreError> {
    let token = generate();
    let prefix: String = token.chars().take(SHOWN_PREFIX_CHARS).collect();
    let sql = format!(
        "INSERT INTO api_tokens (name, role, token_hash, prefix, created_by)
         VALUES ($1, $2, $3, $4, $5) RETURNING {COLUMNS}"
    );
    let row = client
        .query_one(
            &sql,
            &[
                &new.name,
                &new.role.as_str(),
                &hash(&token),
                &prefix,
                &new.created_by,
            ],
        )
        .await?;
    Ok(IssuedToken {
        info: from_row(&row),
        token: Secret::new(token),
    })
}

/// The live (not revoked) token with this value, if any.
pub async fn authenticate(
    client: &impl GenericClient,
    presented: &str,
) -> Result<Option<TokenInfo>, StoreError> {
    if !presented.starts_with(TOKEN_PREFIX) {
        return Ok(None);
    }
    let sql =
        format!("SELECT {COLUMNS} FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL");
    let row = client.query_opt(&sql, &[&hash(presented)]).await?;
    Ok(row.as_ref().map(from_row))
}

/// How stale `last_used_at` may get before a use is recorded again.
const TOUCH_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// Whether a use of this token should be written (`touch`): never used, or not for a minute.
pub fn needs_touch(token: &TokenInfo) -> bool {
    token
        .last_used_at
        .and_then(|at| at.elapsed().ok())
        .is_none_or(|age| age >= TOUCH_EVERY)
}

/// Records a use, at most once a minute per token (a write per request would be wasteful).
pub async fn touch(client: &impl GenericClient, id: i64) -> Result<(), StoreError> {
    client
        .execute(
            "UPDATE api_tokens SET last_used_at = now()
             WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')",
            &[&id],
        )
        .await?;
    Ok(())
}

pub async fn list(client: &impl GenericClient) -> Result<Vec<TokenInfo>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM api_tokens ORDER BY id");
    let rows = client.query(&sql, &[]).await?;
    Ok(rows.iter().map(from_row).collect())
}

pub async fn get(client: &impl GenericClient, id: i64) -> Result<Option<TokenInfo>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM api_tokens WHERE id = $1");
    let row = client.query_opt(&sql, &[&id]).await?;
    Ok(row.as_ref().map(from_row))
}

/// Revokes a token; returns it as it was before, or `None` if there is none with this id.
pub async fn revoke(client: &impl GenericClient, id: i64) -> Result<Option<TokenInfo>, StoreError> {
    let before = get(client, id).await?;
    if before.is_some() {
        client
            .execute(
                "UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1",
                &[&id],
            )
            .await?;
    }
    Ok(before)
}

/// Live tokens (license issue: users are counted as live tokens).
pub async fn count_live(client: &impl GenericClient) -> Result<i64, StoreError> {
    let row = client
        .query_one(
            "SELECT count(*) FROM api_tokens WHERE revoked_at IS NULL",
            &[],
        )
        .await?;
    Ok(row.get(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_prefixed_random_and_hash_to_32_bytes() {
        let (a, b) = (generate(), generate());
        assert!(a.starts_with(TOKEN_PREFIX));
        assert_eq!(a.len(), TOKEN_PREFIX.len() + 43);
        assert_ne!(a, b);
        assert_eq!(hash(&a).len(), 32);
        assert_ne!(hash(&a), hash(&b));
    }

    #[test]
    fn a_use_is_written_when_never_recorded_or_a_minute_old() {
        let mut token = TokenInfo {
            id: 1,
            name: "t".into(),
            role: Role::Viewer,
            prefix: "ispm_abc".into(),
            created_by: "cli".into(),
            created_at: SystemTime::now(),
            last_used_at: None,
            revoked_at: None,
        };
        assert!(needs_touch(&token));
        token.last_used_at = Some(SystemTime::now());
        assert!(!needs_touch(&token));
        token.last_used_at = Some(SystemTime::now() - TOUCH_EVERY);
        assert!(needs_touch(&token));
    }

    #[test]
    fn roles_are_ordered_and_parse_back() {
        assert!(Role::Admin > Role::Operator && Role::Operator > Role::Viewer);
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
        }
        assert_eq!(Role::parse("root"), None);
    }
}
