//! Credential secrets at rest: AES-256-GCM under the operator's key, bound to the credential.
//!
//! Sealed format: `[version 1][12-byte random nonce][ciphertext + 16-byte tag]`. The credential's
//! name is the associated data, so a sealed blob copied onto another credential does not open.

use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use rand::RngCore;

const VERSION: u8 = 1;
const NONCE_BYTES: usize = 12;
const KEY_BYTES: usize = 32;

/// The 256-bit key. `Debug` never shows it.
pub struct SecretKey {
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(<secret>)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretKeyError {
    #[error("{0}: must be 32 bytes written as base64 (44 characters) or hex (64 characters); generate one with `openssl rand -base64 32`")]
    BadFormat(&'static str),
    #[error("cannot read the secret key file {path:?}: {kind}")]
    Unreadable { path: String, kind: String },
    #[error("both ISPMONITOR_SECRET_KEY and ISPMONITOR_SECRET_KEY_FILE are set; use only one")]
    Ambiguous,
}

/// A sealed secret that does not open: another key, another credential, or a damaged blob.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the sealed secret does not open with this key (was it written with another ISPMONITOR_SECRET_KEY?)")]
pub struct OpenError;

impl SecretKey {
    /// Parses a key written as base64 (standard or URL-safe, padded or not) or hex. `source`
    /// names where it came from, for the error message; the key itself is never shown.
    pub fn parse(text: &str, source: &'static str) -> Result<SecretKey, SecretKeyError> {
        let text = text.trim();
        let bytes = decode_key(text).ok_or(SecretKeyError::BadFormat(source))?;
        if bytes.len() != KEY_BYTES {
            return Err(SecretKeyError::BadFormat(source));
        }
        let cipher =
            Aes256Gcm::new_from_slice(&bytes).map_err(|_| SecretKeyError::BadFormat(source))?;
        Ok(SecretKey { cipher })
    }

    /// The key in force: `ISPMONITOR_SECRET_KEY`, else `ISPMONITOR_SECRET_KEY_FILE`, else the
    /// config's `database.secret_key_file`; `None` when none is set.
    pub fn from_environment(
        config_file: Option<&Path>,
    ) -> Result<Option<SecretKey>, SecretKeyError> {
        let inline = non_empty_env("ISPMONITOR_SECRET_KEY");
        let file = non_empty_env("ISPMONITOR_SECRET_KEY_FILE");
        match (inline, file) {
            (Some(_), Some(_)) => Err(SecretKeyError::Ambiguous),
            (Some(key), None) => SecretKey::parse(&key, "ISPMONITOR_SECRET_KEY").map(Some),
            (None, Some(path)) => {
                SecretKey::read_file(Path::new(&path), "ISPMONITOR_SECRET_KEY_FILE").map(Some)
            }
            (None, None) => match config_file {
                Some(path) => SecretKey::read_file(path, "database.secret_key_file").map(Some),
                None => Ok(None),
            },
        }
    }

    fn read_file(path: &Path, source: &'static str) -> Result<SecretKey, SecretKeyError> {
        let text = std::fs::read_to_string(path).map_err(|e| SecretKeyError::Unreadable {
            path: path.display().to_string(),
            kind: e.kind().to_string(),
        })?;
        SecretKey::parse(&text, source)
    }

    /// Seals `plaintext`, bound to `context` (the credential's name).
    pub fn seal(&self, plaintext: &[u8], context: &str) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_BYTES];
        rand::rng().fill_bytes(&mut nonce);
        let payload = Payload {
            msg: plaintext,
            aad: context.as_bytes(),
        };
        // Invariant: AES-GCM encryption fails only for plaintexts over 64 GiB.
        let ciphertext = self
            .cipher
            .encrypt(&Nonce::from(nonce), payload)
            .expect("AES-GCM encrypts any secret of sane size");
        let mut sealed = Vec::with_capacity(1 + NONCE_BYTES + ciphertext.len());
        sealed.push(VERSION);
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ciphertext);
        sealed
    }

    /// Opens what `seal` produced with the same key and context.
    pub fn open(&self, sealed: &[u8], context: &str) -> Result<Vec<u8>, OpenError> {
        if sealed.len() < 1 + NONCE_BYTES || sealed[0] != VERSION {
            return Err(OpenError);
        }
        let (nonce, ciphertext) = sealed[1..].split_at(NONCE_BYTES);
        let payload = Payload {
            msg: ciphertext,
            aad: context.as_bytes(),
        };
        let nonce = Nonce::try_from(nonce).map_err(|_| OpenError)?;
        self.cipher.decrypt(&nonce, payload).map_err(|_| OpenError)
    }
}

fn non_empty_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn decode_key(text: &str) -> Option<Vec<u8>> {
    if text.len() == 2 * KEY_BYTES && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return data_encoding::HEXLOWER_PERMISSIVE
            .decode(text.as_bytes())
            .ok();
    }
    let unpadded = text.trim_end_matches('=');
    [data_encoding::BASE64_NOPAD, data_encoding::BASE64URL_NOPAD]
        .iter()
        .find_map(|encoding| encoding.decode(unpadded.as_bytes()).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";

    #[test]
    fn seal_and_open_round_trip_bound_to_the_context() {
        let key = SecretKey::parse(KEY, "test").unwrap();
        let sealed = key.seal(b"public-but-secret", "core_v2");
        assert!(!sealed.windows(6).any(|w| w == b"public"));
        assert_eq!(key.open(&sealed, "core_v2").unwrap(), b"public-but-secret");
        assert_eq!(key.open(&sealed, "other"), Err(OpenError));
    }

    #[test]
    fn another_key_or_a_flipped_bit_does_not_open() {
        let key = SecretKey::parse(KEY, "test").unwrap();
        let other = SecretKey::parse(&"ab".repeat(32), "test").unwrap();
        let mut sealed = key.seal(b"x", "c");
        assert_eq!(other.open(&sealed, "c"), Err(OpenError));
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        assert_eq!(key.open(&sealed, "c"), Err(OpenError));
        assert_eq!(key.open(&[1, 2, 3], "c"), Err(OpenError));
    }

    #[test]
    fn nonces_differ_between_seals() {
        let key = SecretKey::parse(KEY, "test").unwrap();
        assert_ne!(key.seal(b"x", "c"), key.seal(b"x", "c"));
    }

    #[test]
    fn keys_must_be_32_bytes_and_errors_hide_them() {
        let short = "c2hvcnQ=";
        let error = SecretKey::parse(short, "ISPMONITOR_SECRET_KEY").unwrap_err();
        assert!(error
            .to_string()
            .starts_with("ISPMONITOR_SECRET_KEY: must be 32 bytes"));
        assert!(!error.to_string().contains(short));
        assert!(SecretKey::parse(&"0f".repeat(32), "t").is_ok());
        assert!(SecretKey::parse(&"zz".repeat(32), "t").is_err());
    }
}
