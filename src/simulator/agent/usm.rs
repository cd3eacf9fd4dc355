//! USM cryptography (RFC 3414, 3826, 7860): password-to-key once per password, keys localised
//! per engine on demand, HMAC digests, DES-CBC and AES-128-CFB privacy.

use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{AsyncStreamCipher, BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use hmac::{Hmac, Mac};
use sha2::Digest;

use super::{AgentError, UsmAuth, UsmPriv, UsmUser};

/// RFC 3414 A.2: the password is repeated over one megabyte before hashing.
const PASSWORD_EXPANSION: usize = 1_048_576;

/// net-snmp and RFC 3414 11.2 refuse shorter passwords.
pub const MIN_PASSWORD_LEN: usize = 8;

/// The privacy parameters field (salt) is always 8 bytes for DES and AES.
pub const SALT_LEN: usize = 8;

/// A digest truncated to the protocol's length (at most 48 bytes, HMAC-SHA-512).
pub type MacBytes = ([u8; 64], usize);

impl UsmAuth {
    /// The digest carried in msgAuthenticationParameters.
    pub fn mac_len(self) -> usize {
        match self {
            UsmAuth::Md5 | UsmAuth::Sha1 => 12,
            UsmAuth::Sha224 => 16,
            UsmAuth::Sha256 => 24,
            UsmAuth::Sha384 => 32,
            UsmAuth::Sha512 => 48,
        }
    }

    /// Ku: the key derived from a password, independent of the engine.
    pub fn password_to_key(self, password: &[u8]) -> Vec<u8> {
        match self {
            UsmAuth::Md5 => expand::<md5::Md5>(password),
            UsmAuth::Sha1 => expand::<sha1::Sha1>(password),
            UsmAuth::Sha224 => expand::<sha2::Sha224>(password),
            UsmAuth::Sha256 => expand::<sha2::Sha256>(password),
            UsmAuth::Sha384 => expand::<sha2::Sha384>(password),
            UsmAuth::Sha512 => expand::<sha2::Sha512>(password),
        }
    }

    /// Kul: Ku localised to one engine, H(Ku || engineID || Ku).
    pub fn localize(self, key: &[u8], engine_id: &[u8]) -> Vec<u8> {
        match self {
            UsmAuth::Md5 => localize::<md5::Md5>(key, engine_id),
            UsmAuth::Sha1 => localize::<sha1::Sha1>(key, engine_id),
            UsmAuth::Sha224 => localize::<sha2::Sha224>(key, engine_id),
            UsmAuth::Sha256 => localize::<sha2::Sha256>(key, engine_id),
            UsmAuth::Sha384 => localize::<sha2::Sha384>(key, engine_id),
            UsmAuth::Sha512 => localize::<sha2::Sha512>(key, engine_id),
        }
    }

    /// The truncated HMAC of a message given in pieces (so a received message can be checked
    /// with its digest field replaced by zeros, without copying it).
    pub fn mac(self, key: &[u8], parts: &[&[u8]]) -> MacBytes {
        let full = match self {
            UsmAuth::Md5 => hmac_of::<Hmac<md5::Md5>>(key, parts),
            UsmAuth::Sha1 => hmac_of::<Hmac<sha1::Sha1>>(key, parts),
            UsmAuth::Sha224 => hmac_of::<Hmac<sha2::Sha224>>(key, parts),
            UsmAuth::Sha256 => hmac_of::<Hmac<sha2::Sha256>>(key, parts),
            UsmAuth::Sha384 => hmac_of::<Hmac<sha2::Sha384>>(key, parts),
            UsmAuth::Sha512 => hmac_of::<Hmac<sha2::Sha512>>(key, parts),
        };
        (full.0, self.mac_len())
    }
}

fn expand<D: Digest>(password: &[u8]) -> Vec<u8> {
    let mut hasher = D::new();
    let mut chunk = [0u8; 64];
    let mut position = 0;
    for _ in 0..PASSWORD_EXPANSION / chunk.len() {
        for byte in chunk.iter_mut() {
            *byte = password[position % password.len()];
            position += 1;
        }
        hasher.update(chunk);
    }
    hasher.finalize().to_vec()
}

fn localize<D: Digest>(key: &[u8], engine_id: &[u8]) -> Vec<u8> {
    D::new()
        .chain_update(key)
        .chain_update(engine_id)
        .chain_update(key)
        .finalize()
        .to_vec()
}

fn hmac_of<M: Mac + hmac::digest::KeyInit>(key: &[u8], parts: &[&[u8]]) -> MacBytes {
    let mut out = [0u8; 64];
    // HMAC accepts keys of any length, so this never fails.
    let Ok(mut mac) = <M as hmac::digest::KeyInit>::new_from_slice(key) else {
        return (out, 0);
    };
    for part in parts {
        mac.update(part);
    }
    let digest = mac.finalize().into_bytes();
    let len = digest.len().min(out.len());
    out[..len].copy_from_slice(&digest[..len]);
    (out, len)
}

/// Compares digests without an early exit (no timing hint about how much matched).
pub fn digests_equal(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Why privacy failed: the Report is usmStatsDecryptionErrors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecryptionError;

/// The engine boots and time that feed the AES IV, and the salt.
#[derive(Debug, Clone, Copy)]
pub struct PrivParams<'a> {
    pub boots: u32,
    pub time: u32,
    pub salt: &'a [u8],
}

impl UsmPriv {
    /// The ciphertext size for this much plaintext (DES pads to whole blocks).
    pub fn encrypted_len(self, plain_len: usize) -> usize {
        match self {
            UsmPriv::Des => plain_len.div_ceil(8) * 8,
            UsmPriv::Aes128 => plain_len,
        }
    }

    /// Encrypts `data` in place (already padded to `encrypted_len`).
    pub fn encrypt(
        self,
        key: &[u8],
        params: PrivParams<'_>,
        data: &mut [u8],
    ) -> Result<(), DecryptionError> {
        match self {
            UsmPriv::Aes128 => {
                let iv = aes_iv(params)?;
                let cipher = cfb_mode::Encryptor::<aes::Aes128>::new_from_slices(
                    key.get(..16).ok_or(DecryptionError)?,
                    &iv,
                )
                .map_err(|_| DecryptionError)?;
                cipher.encrypt(data);
            }
            UsmPriv::Des => {
                let (key, iv) = des_key_iv(key, params)?;
                let length = data.len();
                cbc::Encryptor::<des::Des>::new_from_slices(key, &iv)
                    .map_err(|_| DecryptionError)?
                    .encrypt_padded_mut::<NoPadding>(data, length)
                    .map_err(|_| DecryptionError)?;
            }
        }
        Ok(())
    }

    /// Decrypts `data` in place.
    pub fn decrypt(
        self,
        key: &[u8],
        params: PrivParams<'_>,
        data: &mut [u8],
    ) -> Result<(), DecryptionError> {
        match self {
            UsmPriv::Aes128 => {
                let iv = aes_iv(params)?;
                let cipher = cfb_mode::Decryptor::<aes::Aes128>::new_from_slices(
                    key.get(..16).ok_or(DecryptionError)?,
                    &iv,
                )
                .map_err(|_| DecryptionError)?;
                cipher.decrypt(data);
            }
            UsmPriv::Des => {
                if data.len() % 8 != 0 {
                    return Err(DecryptionError);
                }
                let (key, iv) = des_key_iv(key, params)?;
                cbc::Decryptor::<des::Des>::new_from_slices(key, &iv)
                    .map_err(|_| DecryptionError)?
                    .decrypt_padded_mut::<NoPadding>(data)
                    .map_err(|_| DecryptionError)?;
            }
        }
        Ok(())
    }
}

/// RFC 3826 3.1.2.1: IV = engine boots || engine time || salt.
fn aes_iv(params: PrivParams<'_>) -> Result<[u8; 16], DecryptionError> {
    if params.salt.len() != SALT_LEN {
        return Err(DecryptionError);
    }
    let mut iv = [0u8; 16];
    iv[..4].copy_from_slice(&params.boots.to_be_bytes());
    iv[4..8].copy_from_slice(&params.time.to_be_bytes());
    iv[8..].copy_from_slice(params.salt);
    Ok(iv)
}

/// RFC 3414 8.1.1: the key is the first 8 bytes, the IV the last 8 XOR the salt.
fn des_key_iv<'k>(
    key: &'k [u8],
    params: PrivParams<'_>,
) -> Result<(&'k [u8], [u8; 8]), DecryptionError> {
    if params.salt.len() != SALT_LEN || key.len() < 16 {
        return Err(DecryptionError);
    }
    let mut iv = [0u8; 8];
    for (i, byte) in iv.iter_mut().enumerate() {
        *byte = key[8 + i] ^ params.salt[i];
    }
    Ok((&key[..8], iv))
}

/// One user's engine-independent keys, derived once at bind.
#[derive(Clone)]
struct UserKeys {
    name: Vec<u8>,
    auth: UsmAuth,
    auth_key: Vec<u8>,
    privacy: Option<(UsmPriv, Vec<u8>)>,
}

/// A user's keys localised to one engine.
#[derive(Clone)]
pub struct LocalKeys {
    pub auth: UsmAuth,
    pub auth_key: Vec<u8>,
    pub privacy: Option<(UsmPriv, Vec<u8>)>,
}

/// The configured users with their Ku, shared by every endpoint.
#[derive(Clone, Default)]
pub struct UserTable {
    users: Vec<UserKeys>,
}

impl std::fmt::Debug for UserTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Keys are secrets: only the count is shown.
        write!(f, "UserTable({} users)", self.users.len())
    }
}

impl UserTable {
    /// Derives every user's keys (one 1 MB hash per password).
    pub fn new(users: &[UsmUser]) -> Result<Self, AgentError> {
        let mut table = Vec::with_capacity(users.len());
        for user in users {
            let short = |password: &str| password.len() < MIN_PASSWORD_LEN;
            let privacy_short = user
                .privacy
                .as_ref()
                .is_some_and(|(_, secret)| short(secret.expose()));
            if short(user.auth_password.expose()) || privacy_short {
                return Err(AgentError::ShortPassword {
                    user: user.name.clone(),
                });
            }
            table.push(UserKeys {
                name: user.name.as_bytes().to_vec(),
                auth: user.auth,
                auth_key: user
                    .auth
                    .password_to_key(user.auth_password.expose().as_bytes()),
                privacy: user.privacy.as_ref().map(|(protocol, secret)| {
                    (
                        *protocol,
                        user.auth.password_to_key(secret.expose().as_bytes()),
                    )
                }),
            });
        }
        Ok(UserTable { users: table })
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// The index of the user with this name.
    pub fn find(&self, name: &[u8]) -> Option<usize> {
        self.users.iter().position(|user| user.name == name)
    }

    /// Every user's keys localised to one engine (a few hashes; done once per endpoint, on
    /// its first v3 request).
    pub fn localize(&self, engine_id: &[u8]) -> Box<[LocalKeys]> {
        self.users
            .iter()
            .map(|user| LocalKeys {
                auth: user.auth,
                auth_key: user.auth.localize(&user.auth_key, engine_id),
                privacy: user
                    .privacy
                    .as_ref()
                    .map(|(protocol, key)| (*protocol, user.auth.localize(key, engine_id))),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// RFC 3414 A.3.1 and A.3.2: "maplesyrup" with engine 00..02.
    #[test]
    fn password_to_key_matches_rfc_3414_vectors() {
        let engine = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
        let md5 = UsmAuth::Md5.password_to_key(b"maplesyrup");
        assert_eq!(hex(&md5), "9faf3283884e92834ebc9847d8edd963");
        assert_eq!(
            hex(&UsmAuth::Md5.localize(&md5, &engine)),
            "526f5eed9fcce26f8964c2930787d82b"
        );
        let sha = UsmAuth::Sha1.password_to_key(b"maplesyrup");
        assert_eq!(hex(&sha), "9fb5cc0381497b3793528939ff788d5d79145211");
        assert_eq!(
            hex(&UsmAuth::Sha1.localize(&sha, &engine)),
            "6695febc9288e36282235fc7151f128497b38f3f"
        );
    }

    #[test]
    fn ciphers_round_trip_and_des_needs_whole_blocks() {
        let key = [7u8; 20];
        let salt = [1, 2, 3, 4, 5, 6, 7, 8];
        let params = PrivParams {
            boots: 1,
            time: 99,
            salt: &salt,
        };
        for protocol in [UsmPriv::Aes128, UsmPriv::Des] {
            let plain: Vec<u8> = (0..protocol.encrypted_len(45)).map(|i| i as u8).collect();
            let mut data = plain.clone();
            protocol.encrypt(&key, params, &mut data).unwrap();
            assert_ne!(data, plain);
            protocol.decrypt(&key, params, &mut data).unwrap();
            assert_eq!(data, plain);
        }
        assert_eq!(UsmPriv::Des.encrypted_len(45), 48);
        assert!(UsmPriv::Des.decrypt(&key, params, &mut [0u8; 7]).is_err());
        let short_salt = PrivParams {
            salt: &salt[..4],
            ..params
        };
        assert!(UsmPriv::Aes128
            .decrypt(&key, short_salt, &mut [0u8; 16])
            .is_err());
    }

    #[test]
    fn mac_lengths_and_comparison() {
        for auth in [
            UsmAuth::Md5,
            UsmAuth::Sha1,
            UsmAuth::Sha224,
            UsmAuth::Sha256,
            UsmAuth::Sha384,
            UsmAuth::Sha512,
        ] {
            let (bytes, len) = auth.mac(b"key", &[b"hello ", b"world"]);
            assert_eq!(len, auth.mac_len());
            assert_eq!(auth.mac(b"key", &[b"hello world"]).0[..len], bytes[..len]);
        }
        assert!(digests_equal(b"abc", b"abc"));
        assert!(!digests_equal(b"abc", b"abd"));
        assert!(!digests_equal(b"abc", b"ab"));
    }

    #[test]
    fn short_passwords_are_refused_and_keys_never_print() {
        let user = |password: &str| UsmUser {
            name: "u".into(),
            auth: UsmAuth::Sha1,
            auth_password: crate::config::Secret::new(password),
            privacy: None,
        };
        assert!(matches!(
            UserTable::new(&[user("short")]),
            Err(AgentError::ShortPassword { .. })
        ));
        let table = UserTable::new(&[user("longenough")]).unwrap();
        assert_eq!(format!("{table:?}"), "UserTable(1 users)");
        assert!(!format!("{:?}", user("supersecretpw")).contains("supersecret"));
    }
}
