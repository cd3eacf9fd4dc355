//! `basic_auth_users`: bcrypt-checked HTTP basic auth, with successful checks cached so scrapes do not pay bcrypt's cost every time.

use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use super::web_config::FieldError;

/// How many successful checks are remembered; past that the cache starts over (a handful of
/// scrapers use a handful of passwords, so this is only reached by churn).
const CACHE_ENTRIES: usize = 1024;

/// bcrypt checks running at once: a flood of wrong passwords queues here instead of taking
/// every blocking thread and core.
const CONCURRENT_CHECKS: usize = 2;

/// Users and their bcrypt hashes. No `Debug`: the hashes stay out of logs.
pub struct Users {
    hashes: BTreeMap<String, String>,
    /// Any user's hash: unknown users are checked against it so they cost the same time.
    decoy: String,
    /// SHA-256 of user, hash and password of checks that succeeded.
    verified: Mutex<HashSet<[u8; 32]>>,
    checks: Semaphore,
}

impl Users {
    /// Validates every hash's shape (not its password: that would cost a bcrypt run each).
    pub fn new(users: &BTreeMap<String, String>) -> Result<Users, FieldError> {
        for (user, hash) in users {
            check_hash_shape(hash).map_err(|why| {
                FieldError::new(format!("basic_auth_users.{user}"), why.to_string())
            })?;
        }
        let decoy = users.values().next().cloned().unwrap_or_default();
        Ok(Users {
            hashes: users.clone(),
            decoy,
            verified: Mutex::new(HashSet::new()),
            checks: Semaphore::new(CONCURRENT_CHECKS),
        })
    }

    /// Whether the request's `Authorization: Basic` header names a user with the right password.
    pub async fn allows(&self, headers: &HeaderMap) -> bool {
        let Some((user, password)) = basic_credentials(headers) else {
            return false;
        };
        let (hash, known) = match self.hashes.get(&user) {
            Some(hash) => (hash.clone(), true),
            None => (self.decoy.clone(), false),
        };
        let key = cache_key(&user, &hash, &password);
        if known && self.lock().contains(&key) {
            return true;
        }
        let Ok(_permit) = self.checks.acquire().await else {
            return false;
        };
        // bcrypt takes tens of milliseconds of CPU: off the async workers.
        let matches = tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash))
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or(false);
        if matches && known {
            let mut verified = self.lock();
            if verified.len() >= CACHE_ENTRIES {
                verified.clear();
            }
            verified.insert(key);
        }
        matches && known
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<[u8; 32]>> {
        self.verified.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The 401 that makes browsers and curl ask for credentials.
pub fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Basic")],
        "Unauthorized\n",
    )
        .into_response()
}

/// `$2a$`, `$2b$`, `$2x$` or `$2y$`, a cost of 4 to 31, then 53 characters of bcrypt's base64.
/// The message never quotes the hash.
fn check_hash_shape(hash: &str) -> Result<(), &'static str> {
    let parts: bcrypt::HashParts = hash.parse().map_err(|_| {
        "not a bcrypt hash (expected $2y$<cost>$<53 characters>, e.g. from htpasswd -nBC 10)"
    })?;
    if !(4..=31).contains(&parts.get_cost()) {
        return Err("the bcrypt cost must be between 4 and 31");
    }
    let tail = hash.rsplit('$').next().unwrap_or_default();
    let bcrypt_base64 = |c: char| c.is_ascii_alphanumeric() || c == '.' || c == '/';
    if !tail.chars().all(bcrypt_base64) {
        return Err("not a bcrypt hash: salt and hash must use bcrypt's base64 alphabet");
    }
    Ok(())
}

/// User and password from `Authorization: Basic base64(user:password)`.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = data_encoding::BASE64
        .decode(encoded.trim().as_bytes())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// Keyed on the stored hash too: a user whose hash changes is checked again.
fn cache_key(user: &str, hash: &str, password: &str) -> [u8; 32] {
    let mut digest = Sha256::new();
    for part in [user, hash, password] {
        digest.update((part.len() as u64).to_be_bytes());
        digest.update(part.as_bytes());
    }
    digest.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn auth(user: &str, password: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let token = data_encoding::BASE64.encode(format!("{user}:{password}").as_bytes());
        let value = HeaderValue::from_str(&format!("Basic {token}")).unwrap();
        headers.insert(header::AUTHORIZATION, value);
        headers
    }

    fn users() -> Users {
        let hash = bcrypt::hash("s3cret", 4).unwrap();
        Users::new(&BTreeMap::from([("prom".to_string(), hash)])).unwrap()
    }

    #[tokio::test]
    async fn right_password_passes_and_is_cached() {
        let users = users();
        assert!(users.allows(&auth("prom", "s3cret")).await);
        assert_eq!(users.lock().len(), 1);
        assert!(users.allows(&auth("prom", "s3cret")).await);
    }

    #[tokio::test]
    async fn wrong_password_unknown_user_and_no_header_fail() {
        let users = users();
        assert!(!users.allows(&auth("prom", "wrong")).await);
        // The decoy hash is prom's: the right password for an unknown user must still fail.
        assert!(!users.allows(&auth("nobody", "s3cret")).await);
        assert!(!users.allows(&HeaderMap::new()).await);
        assert!(users.lock().is_empty(), "failures are never cached");
    }

    #[test]
    fn malformed_hash_is_refused_without_quoting_it() {
        let map = BTreeMap::from([("prom".to_string(), "$2y$10$tooshort".to_string())]);
        let e = Users::new(&map).err().unwrap();
        assert_eq!(e.field, "basic_auth_users.prom");
        assert!(!e.message.contains("tooshort"), "{}", e.message);
        let plain = BTreeMap::from([("prom".to_string(), "password".to_string())]);
        assert!(Users::new(&plain).is_err());
    }
}
