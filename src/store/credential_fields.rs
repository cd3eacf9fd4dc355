//! Which credential fields are secrets, and how a stored credential (clear params + sealed
//! secrets) turns back into the YAML shape the config validator checks.

use serde_json::{Map, Value};

use super::secret_box::SecretKey;
use super::StoreError;
use crate::config::RawCredential;

/// Fields sealed at rest and never returned by the API (it answers `<field>_set: true`).
pub const SECRET_FIELDS: &[&str] = &[
    "community",
    "auth_password",
    "priv_password",
    "private_key",
    "passphrase",
    "password",
];

pub fn is_secret_field(name: &str) -> bool {
    SECRET_FIELDS.contains(&name)
}

/// Splits fields (YAML names) into those stored in clear and the secret ones.
pub fn split(fields: Map<String, Value>) -> (Map<String, Value>, Map<String, Value>) {
    fields
        .into_iter()
        .partition(|(name, _)| !is_secret_field(name))
}

/// Seals the secret fields for the credential `name`; `None` when there are none.
pub fn seal(key: &SecretKey, name: &str, secrets: &Map<String, Value>) -> Option<Vec<u8>> {
    if secrets.is_empty() {
        return None;
    }
    let plaintext = Value::Object(secrets.clone()).to_string();
    Some(key.seal(plaintext.as_bytes(), name))
}

/// Opens what `seal` stored; an empty map for a credential without secrets.
pub fn open(
    key: &SecretKey,
    name: &str,
    sealed: Option<&[u8]>,
) -> Result<Map<String, Value>, StoreError> {
    let Some(sealed) = sealed else {
        return Ok(Map::new());
    };
    let plaintext = key
        .open(sealed, name)
        .map_err(|e| StoreError::Secrets(format!("credential {name:?}: {e}")))?;
    match serde_json::from_slice(&plaintext) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(StoreError::Secrets(format!(
            "credential {name:?}: the sealed secrets are not a JSON object"
        ))),
    }
}

/// The YAML shape of a stored credential: `type`, the clear params and the opened secrets.
pub fn to_raw(
    credential_type: &str,
    params: &Map<String, Value>,
    secrets: &Map<String, Value>,
) -> Result<RawCredential, String> {
    let mut all = params.clone();
    all.extend(secrets.clone());
    all.insert("type".into(), Value::String(credential_type.into()));
    serde_json::from_value(Value::Object(all)).map_err(|e| e.to_string())
}

/// The API's view: clear params plus `<field>_set: true` for every secret that is set.
pub fn masked(
    params: &Map<String, Value>,
    secret_names: impl IntoIterator<Item = String>,
) -> Map<String, Value> {
    let mut view = params.clone();
    for name in secret_names {
        view.insert(format!("{name}_set"), Value::Bool(true));
    }
    view
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_are_split_sealed_and_turned_back_into_a_raw_credential() {
        let Value::Object(fields) = json!({"version": "3", "username": "mon",
            "security_level": "authPriv", "auth_protocol": "SHA", "auth_password": "authpass123",
            "priv_protocol": "AES", "priv_password": "privpass123"})
        else {
            unreachable!()
        };
        let (params, secrets) = split(fields);
        assert_eq!(secrets.len(), 2);
        assert!(!params.contains_key("auth_password"));
        let key = SecretKey::parse(&"11".repeat(32), "test").unwrap();
        let sealed = seal(&key, "core_v3", &secrets).unwrap();
        assert!(!String::from_utf8_lossy(&sealed).contains("authpass123"));
        let opened = open(&key, "core_v3", Some(&sealed)).unwrap();
        let raw = to_raw("snmp", &params, &opened).unwrap();
        assert_eq!(raw.auth_password.as_deref(), Some("authpass123"));
        assert_eq!(raw.credential_type.as_deref(), Some("snmp"));
        let view = masked(&params, opened.keys().cloned());
        assert_eq!(view["auth_password_set"], json!(true));
        assert!(!Value::Object(view).to_string().contains("privpass123"));
    }
}
