//! Ed25519 keys: the public key built into the product, keys the operator trusts explicitly
//! (`license.public_key_file`), and the vendor's signing key (PKCS#8 PEM, as `openssl genpkey
//! -algorithm ed25519` writes it).

use std::fmt;
use std::path::{Path, PathBuf};

use data_encoding::BASE64_NOPAD;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey, EncodePublicKey};
use ed25519_dalek::{SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

/// The vendor's release public key. Its private half never enters this repository; a release
/// pipeline with another key replaces this file.
const EMBEDDED_PUBLIC_KEY_PEM: &str = include_str!("vendor_public_key.pem");

/// The test key pair's public half, trusted by unit-test builds only. Integration tests run the
/// real binary and must configure `license.public_key_file`, as an operator would.
#[cfg(test)]
const TEST_PUBLIC_KEY_PEM: &str = include_str!("../../tests/fixtures/license/test_public_key.pem");

/// Where a trusted key came from, shown by `license inspect` and the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyOrigin {
    /// Built into this binary.
    Embedded,
    /// Configured by the operator.
    File(PathBuf),
    /// The test fixture key (unit-test builds only).
    Test,
}

impl fmt::Display for KeyOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyOrigin::Embedded => f.write_str("built-in key"),
            KeyOrigin::File(path) => write!(f, "key file {}", path.display()),
            KeyOrigin::Test => f.write_str("test key"),
        }
    }
}

/// One public key a license may be signed with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedKey {
    pub key: VerifyingKey,
    pub origin: KeyOrigin,
}

impl TrustedKey {
    /// `SHA256:<base64>` of the raw 32-byte key, like OpenSSH fingerprints.
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.key)
    }
}

/// The keys this process accepts signatures from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedKeys {
    keys: Vec<TrustedKey>,
}

impl TrustedKeys {
    /// The built-in key plus, when configured, the operator's key file.
    pub fn load(public_key_file: Option<&Path>) -> Result<TrustedKeys, KeyError> {
        let mut keys = vec![TrustedKey {
            key: parse_public_pem(EMBEDDED_PUBLIC_KEY_PEM)
                .expect("the built-in license key is a valid Ed25519 public key"),
            origin: KeyOrigin::Embedded,
        }];
        #[cfg(test)]
        keys.push(TrustedKey {
            key: parse_public_pem(TEST_PUBLIC_KEY_PEM).expect("the test key parses"),
            origin: KeyOrigin::Test,
        });
        if let Some(path) = public_key_file {
            keys.push(TrustedKey {
                key: read_public_key(path)?,
                origin: KeyOrigin::File(path.to_path_buf()),
            });
        }
        Ok(TrustedKeys { keys })
    }

    /// These keys plus the one in `path` (`license inspect --public-key`). A key trusted already
    /// keeps its first origin, so it is listed once.
    pub fn and_file(mut self, path: &Path) -> Result<TrustedKeys, KeyError> {
        let key = read_public_key(path)?;
        if !self.keys.iter().any(|k| k.key == key) {
            self.keys.push(TrustedKey {
                key,
                origin: KeyOrigin::File(path.to_path_buf()),
            });
        }
        Ok(self)
    }

    /// Exactly these keys (tests).
    pub fn only(keys: Vec<TrustedKey>) -> TrustedKeys {
        TrustedKeys { keys }
    }

    pub fn iter(&self) -> impl Iterator<Item = &TrustedKey> {
        self.keys.iter()
    }
}

/// A key file that cannot be used, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {what}")]
    Parse { path: String, what: String },
    #[error("{0}")]
    Write(String),
}

fn parse_public_pem(pem: &str) -> Result<VerifyingKey, String> {
    VerifyingKey::from_public_key_pem(pem.trim())
        .map_err(|e| format!("not an Ed25519 public key in PEM (-----BEGIN PUBLIC KEY-----): {e}"))
}

fn read_text(path: &Path) -> Result<String, KeyError> {
    std::fs::read_to_string(path).map_err(|source| KeyError::Read {
        path: path.display().to_string(),
        source,
    })
}

/// An Ed25519 public key in SPKI PEM (`openssl pkey -pubout`).
pub fn read_public_key(path: &Path) -> Result<VerifyingKey, KeyError> {
    parse_public_pem(&read_text(path)?).map_err(|what| KeyError::Parse {
        path: path.display().to_string(),
        what,
    })
}

/// An Ed25519 private key in PKCS#8 PEM (`openssl genpkey -algorithm ed25519`). The error never
/// quotes the file's content.
pub fn read_signing_key(path: &Path) -> Result<SigningKey, KeyError> {
    let text = read_text(path)?;
    SigningKey::from_pkcs8_pem(text.trim()).map_err(|_| KeyError::Parse {
        path: path.display().to_string(),
        what: "not an Ed25519 private key in PKCS#8 PEM (-----BEGIN PRIVATE KEY-----)".into(),
    })
}

/// A new key pair as (private PKCS#8 PEM, public SPKI PEM).
pub fn generate() -> Result<(String, String), KeyError> {
    let secret: [u8; 32] = rand::random();
    let signing = SigningKey::from_bytes(&secret);
    let private = signing
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| KeyError::Write(format!("encoding the private key: {e}")))?;
    let public = signing
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| KeyError::Write(format!("encoding the public key: {e}")))?;
    Ok((private.to_string(), public))
}

pub fn fingerprint(key: &VerifyingKey) -> String {
    let digest = Sha256::digest(key.as_bytes());
    format!("SHA256:{}", BASE64_NOPAD.encode(&digest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_pairs_read_back_and_match() {
        let dir = tempfile::tempdir().unwrap();
        let (private, public) = generate().unwrap();
        assert!(private.starts_with("-----BEGIN PRIVATE KEY-----"));
        std::fs::write(dir.path().join("k"), &private).unwrap();
        std::fs::write(dir.path().join("k.pub"), &public).unwrap();
        let signing = read_signing_key(&dir.path().join("k")).unwrap();
        let verifying = read_public_key(&dir.path().join("k.pub")).unwrap();
        assert_eq!(signing.verifying_key(), verifying);
    }

    #[test]
    fn the_fixture_pair_matches_and_test_builds_trust_it() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/license");
        let signing = read_signing_key(&root.join("test_signing_key.pem")).unwrap();
        let keys = TrustedKeys::load(None).unwrap();
        let origins: Vec<_> = keys.iter().map(|k| k.origin.clone()).collect();
        assert_eq!(origins, [KeyOrigin::Embedded, KeyOrigin::Test]);
        assert_eq!(keys.iter().nth(1).unwrap().key, signing.verifying_key());
        // The built-in key is not the test key: release builds never accept test licenses.
        assert_ne!(keys.iter().next().unwrap().key, signing.verifying_key());
    }

    #[test]
    fn bad_key_files_are_named_without_their_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.pem");
        std::fs::write(
            &path,
            "-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        let error = read_signing_key(&path).unwrap_err().to_string();
        assert!(error.contains("bad.pem"), "{error}");
        assert!(!error.contains("c2VjcmV0"), "{error}");
        let error = TrustedKeys::load(Some(&dir.path().join("missing.pem")))
            .unwrap_err()
            .to_string();
        assert!(error.contains("missing.pem"), "{error}");
    }

    #[test]
    fn a_key_file_is_added_once() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/license");
        let dir = tempfile::tempdir().unwrap();
        let (_, public) = generate().unwrap();
        std::fs::write(dir.path().join("other.pub"), public).unwrap();
        let keys = TrustedKeys::load(None)
            .unwrap()
            .and_file(&dir.path().join("other.pub"))
            .unwrap();
        assert_eq!(keys.iter().count(), 3);
        assert_eq!(
            keys.iter().last().unwrap().origin,
            KeyOrigin::File(dir.path().join("other.pub"))
        );
        // The test key is trusted already (test build): it keeps its origin.
        let again = keys.and_file(&root.join("test_public_key.pem")).unwrap();
        assert_eq!(again.iter().count(), 3);
        assert!(TrustedKeys::load(None)
            .unwrap()
            .and_file(&dir.path().join("missing.pem"))
            .is_err());
    }

    #[test]
    fn fingerprints_are_stable() {
        let key = parse_public_pem(EMBEDDED_PUBLIC_KEY_PEM).unwrap();
        let fp = fingerprint(&key);
        assert!(fp.starts_with("SHA256:") && fp.len() == 7 + 43, "{fp}");
        assert_eq!(fp, fingerprint(&key));
    }
}
