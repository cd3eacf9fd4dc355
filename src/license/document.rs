//! The license document: a JSON payload signed with Ed25519, written as one line
//! `ISPM1.<base64url payload>.<base64url signature>`, optionally preceded by `#` comment lines
//! for humans. Comments are not signed and never read: only the verified payload counts.
//!
//! The signature covers the payload's exact bytes (after a domain prefix), so no JSON
//! canonicalisation is needed and editing a single byte breaks it.

use std::time::{Duration, SystemTime};

use data_encoding::BASE64URL_NOPAD;
use ed25519_dalek::{Signature, Signer as _, SigningKey};
use serde::{Deserialize, Serialize};

use super::keys::{KeyOrigin, TrustedKeys};
use super::plan::Limits;

/// Marks the format and version of the one signed line.
const PREFIX: &str = "ISPM1";
/// Signed before the payload, so a signature made for anything else never verifies here.
const DOMAIN: &[u8] = b"ispmonitor-license-v1\0";
/// Licenses are small; anything larger is not one (and is refused before decoding).
pub const MAX_LICENSE_BYTES: usize = 16 * 1024;

/// What a license says. Every field is required: a missing limit must never read as unlimited.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LicensePayload {
    pub license_id: String,
    pub customer: String,
    /// `starter`, `professional`, `enterprise` (or another plan name the vendor sells).
    pub plan: String,
    /// `null` is unlimited.
    #[serde(deserialize_with = "Option::deserialize")]
    pub max_routers: Option<u64>,
    #[serde(deserialize_with = "Option::deserialize")]
    pub max_servers: Option<u64>,
    #[serde(deserialize_with = "Option::deserialize")]
    pub max_users: Option<u64>,
    pub features: Vec<String>,
    /// RFC 3339; the license is not valid before.
    pub issued_at: String,
    /// RFC 3339; the license is not valid after.
    pub expires_at: String,
}

impl LicensePayload {
    pub fn limits(&self) -> Limits {
        Limits {
            routers: self.max_routers,
            servers: self.max_servers,
            users: self.max_users,
        }
    }

    /// The payload's own consistency, checked after the signature (and by `license issue`).
    pub fn check(&self) -> Result<Validity, LicenseError> {
        let invalid = |what: String| Err(LicenseError::Payload(what));
        if self.license_id.trim().is_empty() || self.license_id.len() > 128 {
            return invalid("license_id must be 1 to 128 characters".into());
        }
        if self.plan.is_empty()
            || !self
                .plan
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        {
            return invalid(format!("plan {:?} is not a plan name", self.plan));
        }
        let issued_at = parse_time("issued_at", &self.issued_at)?;
        let expires_at = parse_time("expires_at", &self.expires_at)?;
        if expires_at <= issued_at {
            return invalid(format!(
                "expires_at {} is not after issued_at {}",
                self.expires_at, self.issued_at
            ));
        }
        Ok(Validity {
            issued_at,
            expires_at,
        })
    }
}

/// When a license is valid: from `issued_at` to `expires_at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    pub issued_at: SystemTime,
    pub expires_at: SystemTime,
}

fn parse_time(field: &str, text: &str) -> Result<SystemTime, LicenseError> {
    humantime::parse_rfc3339(text).map_err(|e| {
        LicenseError::Payload(format!("{field} {text:?} is not an RFC 3339 UTC time: {e}"))
    })
}

/// Why a text is not a usable license.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LicenseError {
    #[error("not an ispmonitor license: {0}")]
    Malformed(String),
    /// Tampered with, or signed by a key this build does not trust.
    #[error("the signature does not verify with any trusted key (the license was altered or signed by another key)")]
    BadSignature,
    #[error("the license payload is invalid: {0}")]
    Payload(String),
}

/// A license whose signature verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedLicense {
    pub payload: LicensePayload,
    pub validity: Validity,
    /// The fingerprint of the key that verified it.
    pub key_fingerprint: String,
    pub key_origin: KeyOrigin,
    /// The signed line, as installed (comments dropped).
    pub text: String,
}

/// The signed line of a license file.
fn signed_line(text: &str) -> Result<&str, LicenseError> {
    if text.len() > MAX_LICENSE_BYTES {
        return Err(LicenseError::Malformed(format!(
            "{} bytes (a license is at most {MAX_LICENSE_BYTES})",
            text.len()
        )));
    }
    let mut lines = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'));
    let line = lines
        .next()
        .ok_or_else(|| LicenseError::Malformed("the text is empty".into()))?;
    if lines.next().is_some() {
        return Err(LicenseError::Malformed(
            "more than one non-comment line".into(),
        ));
    }
    Ok(line)
}

/// Checks the signature against every trusted key, then the payload. Nothing of the payload is
/// believed before the signature verifies.
pub fn verify(text: &str, keys: &TrustedKeys) -> Result<VerifiedLicense, LicenseError> {
    let line = signed_line(text)?;
    let (payload_b64, signature_b64) = split_line(line)?;
    let payload = decode_b64("payload", payload_b64)?;
    let signature = decode_b64("signature", signature_b64)?;
    let signature = Signature::from_slice(&signature)
        .map_err(|_| LicenseError::Malformed("the signature is not 64 bytes".into()))?;
    let message = signed_message(&payload);
    let key = keys
        .iter()
        .find(|k| k.key.verify_strict(&message, &signature).is_ok())
        .ok_or(LicenseError::BadSignature)?;
    let payload: LicensePayload = serde_json::from_slice(&payload)
        .map_err(|e| LicenseError::Payload(format!("signed, but not a license payload: {e}")))?;
    let validity = payload.check()?;
    Ok(VerifiedLicense {
        payload,
        validity,
        key_fingerprint: key.fingerprint(),
        key_origin: key.origin.clone(),
        text: line.to_string(),
    })
}

/// What a license claims, decoded WITHOUT checking its signature: only for showing a license
/// that does not verify (`license inspect`). Never base a decision on it.
pub fn decode_unverified(text: &str) -> Result<LicensePayload, LicenseError> {
    let (payload_b64, _) = split_line(signed_line(text)?)?;
    let payload = decode_b64("payload", payload_b64)?;
    serde_json::from_slice(&payload)
        .map_err(|e| LicenseError::Payload(format!("not a license payload: {e}")))
}

/// The signed line's base64 payload and signature.
fn split_line(line: &str) -> Result<(&str, &str), LicenseError> {
    let mut parts = line.split('.');
    let (Some(prefix), Some(payload_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(LicenseError::Malformed(format!(
            "expected {PREFIX}.<payload>.<signature>"
        )));
    };
    if prefix != PREFIX {
        return Err(LicenseError::Malformed(format!(
            "starts with {prefix:?}, expected {PREFIX}"
        )));
    }
    Ok((payload_b64, signature_b64))
}

fn decode_b64(what: &str, text: &str) -> Result<Vec<u8>, LicenseError> {
    BASE64URL_NOPAD
        .decode(text.as_bytes())
        .map_err(|_| LicenseError::Malformed(format!("the {what} is not base64url")))
}

fn signed_message(payload: &[u8]) -> Vec<u8> {
    let mut message = Vec::with_capacity(DOMAIN.len() + payload.len());
    message.extend_from_slice(DOMAIN);
    message.extend_from_slice(payload);
    message
}

/// Signs a payload (vendor side): the license file's text, a comment header then the line.
pub fn sign(payload: &LicensePayload, key: &SigningKey) -> Result<String, LicenseError> {
    payload.check()?;
    let json = serde_json::to_vec(payload).map_err(|e| LicenseError::Payload(e.to_string()))?;
    let signature = key.sign(&signed_message(&json));
    let limit = |n: Option<u64>| n.map_or("unlimited".to_string(), |n| n.to_string());
    Ok(format!(
        "# ispmonitor license {id} for {customer}\n\
         # plan {plan}: {routers} routers, {servers} servers, {users} users; valid {issued} to {expires}\n\
         # Comments are not signed; `ispmonitor license inspect FILE` shows what the license says.\n\
         {PREFIX}.{payload}.{signature}\n",
        id = payload.license_id,
        customer = payload.customer.replace(['\n', '\r'], " "),
        plan = payload.plan,
        routers = limit(payload.max_routers),
        servers = limit(payload.max_servers),
        users = limit(payload.max_users),
        issued = payload.issued_at,
        expires = payload.expires_at,
        payload = BASE64URL_NOPAD.encode(&json),
        signature = BASE64URL_NOPAD.encode(&signature.to_bytes()),
    ))
}

/// Whole days (fractional) from `now` until `expires_at`; negative once expired.
pub fn days_until(expires_at: SystemTime, now: SystemTime) -> f64 {
    match expires_at.duration_since(now) {
        Ok(left) => left.as_secs_f64() / 86_400.0,
        Err(past) => -(past.duration().as_secs_f64() / 86_400.0),
    }
}

/// RFC 3339 UTC, seconds precision, as licenses write times.
pub fn format_time(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// `now + d`, saturating far in the future.
pub fn after(now: SystemTime, d: Duration) -> SystemTime {
    now.checked_add(d).unwrap_or(now)
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use crate::license::keys::{read_signing_key, TrustedKey};
    use std::path::Path;

    pub fn test_signing_key() -> SigningKey {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/license");
        read_signing_key(&root.join("test_signing_key.pem")).unwrap()
    }

    pub fn payload(plan: &str, routers: Option<u64>) -> LicensePayload {
        LicensePayload {
            license_id: "LIC-TEST-1".into(),
            customer: "Example ISP".into(),
            plan: plan.into(),
            max_routers: routers,
            max_servers: routers,
            max_users: Some(25),
            features: vec!["api".into()],
            issued_at: "2026-01-01T00:00:00Z".into(),
            expires_at: "2027-01-01T00:00:00Z".into(),
        }
    }

    fn trusted() -> TrustedKeys {
        TrustedKeys::load(None).unwrap()
    }

    #[test]
    fn a_signed_license_verifies_and_reads_back() {
        let text = sign(&payload("professional", Some(100)), &test_signing_key()).unwrap();
        let verified = verify(&text, &trusted()).unwrap();
        assert_eq!(verified.payload, payload("professional", Some(100)));
        assert_eq!(verified.key_origin, KeyOrigin::Test);
        assert_eq!(verified.payload.limits().routers, Some(100));
        assert!(verified.text.starts_with("ISPM1.") && !verified.text.contains('#'));
    }

    #[test]
    fn any_change_to_the_payload_breaks_the_signature() {
        let text = sign(&payload("professional", Some(100)), &test_signing_key()).unwrap();
        let line = signed_line(&text).unwrap().to_string();
        let parts: Vec<&str> = line.split('.').collect();
        let json = BASE64URL_NOPAD.decode(parts[1].as_bytes()).unwrap();
        let edited = String::from_utf8(json)
            .unwrap()
            .replace("\"max_routers\":100", "\"max_routers\":100000");
        let forged = format!(
            "ISPM1.{}.{}",
            BASE64URL_NOPAD.encode(edited.as_bytes()),
            parts[2]
        );
        assert_eq!(verify(&forged, &trusted()), Err(LicenseError::BadSignature));
        // One flipped bit in the signature as well.
        let mut signature = BASE64URL_NOPAD.decode(parts[2].as_bytes()).unwrap();
        signature[10] ^= 1;
        let flipped = format!("ISPM1.{}.{}", parts[1], BASE64URL_NOPAD.encode(&signature));
        assert_eq!(
            verify(&flipped, &trusted()),
            Err(LicenseError::BadSignature)
        );
    }

    #[test]
    fn a_license_from_another_key_is_refused() {
        let other = SigningKey::from_bytes(&[7u8; 32]);
        let text = sign(&payload("enterprise", None), &other).unwrap();
        assert_eq!(verify(&text, &trusted()), Err(LicenseError::BadSignature));
        // ...unless the operator trusts that key explicitly.
        let keys = TrustedKeys::only(vec![TrustedKey {
            key: other.verifying_key(),
            origin: KeyOrigin::File("other.pem".into()),
        }]);
        assert!(verify(&text, &keys).is_ok());
    }

    #[test]
    fn malformed_texts_are_named() {
        for (text, expected) in [
            ("", "empty"),
            ("# only a comment\n", "empty"),
            ("ISPM1.abc", "expected ISPM1"),
            ("ISPM2.abc.def", "expected ISPM1"),
            ("ISPM1.!!!.def", "payload is not base64url"),
            ("ISPM1.YWJj.YWJj", "not 64 bytes"),
            ("ISPM1.a.b\nISPM1.a.b", "more than one"),
        ] {
            let error = verify(text, &trusted()).unwrap_err().to_string();
            assert!(error.contains(expected), "{text:?}: {error}");
        }
        let huge = "#".repeat(MAX_LICENSE_BYTES + 1);
        assert!(matches!(
            verify(&huge, &trusted()),
            Err(LicenseError::Malformed(_))
        ));
    }

    #[test]
    fn a_signed_but_inconsistent_payload_is_refused() {
        let key = test_signing_key();
        let mut backwards = payload("starter", Some(10));
        backwards.expires_at = "2025-01-01T00:00:00Z".into();
        assert!(matches!(
            sign(&backwards, &key),
            Err(LicenseError::Payload(_))
        ));
        // A payload missing a limit is refused even when signed (it must not read as unlimited).
        let json = br#"{"license_id":"x","customer":"c","plan":"starter","max_servers":1,"max_users":1,"features":[],"issued_at":"2026-01-01T00:00:00Z","expires_at":"2027-01-01T00:00:00Z"}"#;
        let signature = key.sign(&signed_message(json));
        let text = format!(
            "ISPM1.{}.{}",
            BASE64URL_NOPAD.encode(json),
            BASE64URL_NOPAD.encode(&signature.to_bytes())
        );
        let error = verify(&text, &trusted()).unwrap_err().to_string();
        assert!(error.contains("max_routers"), "{error}");
    }

    #[test]
    fn an_unverified_payload_decodes_but_does_not_verify() {
        let text = sign(&payload("starter", Some(10)), &test_signing_key()).unwrap();
        let line = signed_line(&text).unwrap().to_string();
        let parts: Vec<&str> = line.split('.').collect();
        let json = BASE64URL_NOPAD.decode(parts[1].as_bytes()).unwrap();
        let edited = String::from_utf8(json)
            .unwrap()
            .replace("Example ISP", "Forged ISP");
        let forged = format!(
            "ISPM1.{}.{}",
            BASE64URL_NOPAD.encode(edited.as_bytes()),
            parts[2]
        );
        assert_eq!(verify(&forged, &trusted()), Err(LicenseError::BadSignature));
        assert_eq!(decode_unverified(&forged).unwrap().customer, "Forged ISP");
        assert!(matches!(
            decode_unverified("ISPM1.YWJj.x"),
            Err(LicenseError::Payload(_))
        ));
        assert!(matches!(
            decode_unverified("nonsense"),
            Err(LicenseError::Malformed(_))
        ));
    }

    #[test]
    fn days_until_is_fractional_and_negative_after_expiry() {
        let expiry = humantime::parse_rfc3339("2027-01-01T00:00:00Z").unwrap();
        let noon_before = humantime::parse_rfc3339("2026-12-30T12:00:00Z").unwrap();
        assert_eq!(days_until(expiry, noon_before), 1.5);
        let day_after = humantime::parse_rfc3339("2027-01-02T00:00:00Z").unwrap();
        assert_eq!(days_until(expiry, day_after), -1.0);
    }
}
