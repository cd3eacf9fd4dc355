//! Server host-key verification: an OpenSSH known_hosts file (plain, `[host]:port` and hashed
//! `|1|salt|hash` entries, wildcards, negation, `@revoked`), a pinned key, and accept-new.

use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use hmac::{Hmac, Mac};
use russh::keys::{Algorithm, PublicKey};
use sha1::Sha1;

use crate::config::HostKeyPolicy;

/// What the check concluded about the key a server presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Trusted,
    /// Known with another key (or this key is revoked): refused, never overwritten.
    Mismatch,
    /// Not in the known_hosts file and not accepted: refused.
    Unknown,
    /// Not in the file before, appended now (accept-new).
    Learned,
}

#[derive(Debug, thiserror::Error)]
pub enum HostKeyError {
    #[error("cannot read or write the known_hosts file: {0}")]
    File(std::io::ErrorKind),
}

/// The name known_hosts uses for a host: `host`, or `[host]:port` off port 22.
pub fn known_hosts_name(host: &str, port: u16) -> String {
    if port == 22 {
        host.to_string()
    } else {
        format!("[{host}]:{port}")
    }
}

/// Checks a server's key against the policy, appending it when accept-new allows.
pub fn verify(
    policy: &HostKeyPolicy,
    name: &str,
    key: &PublicKey,
) -> Result<Verdict, HostKeyError> {
    match policy {
        HostKeyPolicy::Pinned(pinned) => Ok(match PublicKey::from_openssh(pinned) {
            Ok(pinned) if pinned.key_data() == key.key_data() => Verdict::Trusted,
            _ => Verdict::Mismatch,
        }),
        HostKeyPolicy::KnownHosts { file, accept_new } => {
            verify_known_hosts(file, name, key, *accept_new)
        }
    }
}

/// Serialises accept-new appends of every target in the process, so two targets sharing a
/// file never interleave lines or add the same host twice.
static KNOWN_HOSTS_WRITE: Mutex<()> = Mutex::new(());

fn verify_known_hosts(
    file: &Path,
    name: &str,
    key: &PublicKey,
    accept_new: bool,
) -> Result<Verdict, HostKeyError> {
    let read = || std::fs::read_to_string(file).map_err(|e| HostKeyError::File(e.kind()));
    let verdict = check_known_hosts(&read()?, name, key);
    if verdict != Verdict::Unknown || !accept_new {
        return Ok(verdict);
    }
    let _guard = KNOWN_HOSTS_WRITE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let text = read()?;
    let verdict = check_known_hosts(&text, name, key);
    if verdict != Verdict::Unknown {
        return Ok(verdict);
    }
    let line = known_hosts_line(name, key);
    let separator = if text.is_empty() || text.ends_with('\n') {
        ""
    } else {
        "\n"
    };
    std::fs::OpenOptions::new()
        .append(true)
        .open(file)
        .and_then(|mut f| f.write_all(format!("{separator}{line}\n").as_bytes()))
        .map_err(|e| HostKeyError::File(e.kind()))?;
    Ok(Verdict::Learned)
}

fn known_hosts_line(name: &str, key: &PublicKey) -> String {
    let mut key = key.clone();
    key.set_comment("");
    let encoded = key.to_openssh().unwrap_or_default();
    format!("{name} {}", encoded.trim())
}

/// One usable line of a known_hosts file.
struct Entry<'a> {
    revoked: bool,
    patterns: &'a str,
    key: Option<PublicKey>,
}

fn entries(text: &str) -> impl Iterator<Item = Entry<'_>> {
    text.lines().filter_map(|line| {
        let mut fields = line.split_whitespace().peekable();
        let first = *fields.peek()?;
        if first.starts_with('#') {
            return None;
        }
        let marker = first.strip_prefix('@');
        if marker.is_some() {
            fields.next();
        }
        // Certificate authorities sign host certificates, which we do not use: skip them.
        if marker == Some("cert-authority") {
            return None;
        }
        let patterns = fields.next()?;
        let algorithm = fields.next()?;
        let base64 = fields.next()?;
        let key = PublicKey::from_openssh(&format!("{algorithm} {base64}")).ok();
        Some(Entry {
            revoked: marker == Some("revoked"),
            patterns,
            key,
        })
    })
}

/// The verdict of a known_hosts text for a name and key (pure). A line whose key does not
/// parse still counts as "the host is known" when it matches the name: refusing is safer.
pub fn check_known_hosts(text: &str, name: &str, key: &PublicKey) -> Verdict {
    let mut known = false;
    let mut trusted = false;
    for entry in entries(text) {
        let same_key = entry
            .key
            .as_ref()
            .is_some_and(|k| k.key_data() == key.key_data());
        if entry.revoked {
            if same_key {
                return Verdict::Mismatch;
            }
            continue;
        }
        if host_matches(entry.patterns, name) {
            known = true;
            trusted |= same_key;
        }
    }
    match (known, trusted) {
        (_, true) => Verdict::Trusted,
        (true, false) => Verdict::Mismatch,
        (false, false) => Verdict::Unknown,
    }
}

/// Algorithms of the keys known for this name, so the client asks the server for one of them
/// first (as OpenSSH does): a host known by its ECDSA key is not refused for offering ed25519.
pub fn known_algorithms(text: &str, name: &str) -> Vec<Algorithm> {
    let mut algorithms: Vec<Algorithm> = Vec::new();
    for entry in entries(text).filter(|e| !e.revoked && host_matches(e.patterns, name)) {
        if let Some(algorithm) = entry.key.map(|k| k.algorithm()) {
            if !algorithms.contains(&algorithm) {
                algorithms.push(algorithm);
            }
        }
    }
    algorithms
}

/// OpenSSH pattern-list semantics: any negated match (`!pattern`) excludes the host, else
/// any positive match includes it. Hashed entries match the exact name only.
fn host_matches(patterns: &str, name: &str) -> bool {
    if let Some(hashed) = patterns.strip_prefix("|1|") {
        return hashed_matches(hashed, name);
    }
    let mut matched = false;
    for pattern in patterns.split(',') {
        if let Some(negated) = pattern.strip_prefix('!') {
            if wildcard_matches(negated, name) {
                return false;
            }
        } else if wildcard_matches(pattern, name) {
            matched = true;
        }
    }
    matched
}

/// `|1|base64(salt)|base64(HMAC-SHA1(salt, name))`, as written by `ssh-keygen -H`.
fn hashed_matches(hashed: &str, name: &str) -> bool {
    let Some((salt, hash)) = hashed.split_once('|') else {
        return false;
    };
    let decode = |text: &str| data_encoding::BASE64.decode(text.as_bytes());
    let (Ok(salt), Ok(hash)) = (decode(salt), decode(hash)) else {
        return false;
    };
    let Ok(mut mac) = <Hmac<Sha1> as Mac>::new_from_slice(&salt) else {
        return false;
    };
    mac.update(name.as_bytes());
    mac.verify_slice(&hash).is_ok()
}

/// `*` (any run) and `?` (one character), case-insensitively as OpenSSH does for host names.
fn wildcard_matches(pattern: &str, name: &str) -> bool {
    let pattern: Vec<char> = pattern.to_ascii_lowercase().chars().collect();
    let name: Vec<char> = name.to_ascii_lowercase().chars().collect();
    let (mut p, mut n) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while n < name.len() {
        match pattern.get(p) {
            Some('*') => {
                backtrack = Some((p, n));
                p += 1;
            }
            Some(c) if *c == '?' || *c == name[n] => {
                p += 1;
                n += 1;
            }
            _ => match backtrack {
                Some((star, matched)) => {
                    p = star + 1;
                    n = matched + 1;
                    backtrack = Some((star, matched + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    const ED25519: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAVf+L8TZtb4SJUZiuUXinOj3BsK/zpFpUPBivvU6Bix";
    const OTHER: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIRDwva/0XYDRR+xlisjFemGtFX0/YcFLHkRX/1mAzRj";

    fn key(text: &str) -> PublicKey {
        PublicKey::from_openssh(text).unwrap()
    }

    #[test]
    fn plain_port_and_wildcard_entries() {
        let text = format!("# comment\n\n[10.0.0.5]:2222 {ED25519}\nweb-*.example.net,!web-9.example.net {OTHER}\n");
        assert_eq!(
            check_known_hosts(&text, "[10.0.0.5]:2222", &key(ED25519)),
            Verdict::Trusted
        );
        assert_eq!(
            check_known_hosts(&text, "[10.0.0.5]:2222", &key(OTHER)),
            Verdict::Mismatch
        );
        assert_eq!(
            check_known_hosts(&text, "10.0.0.5", &key(ED25519)),
            Verdict::Unknown
        );
        assert_eq!(
            check_known_hosts(&text, "WEB-1.example.net", &key(OTHER)),
            Verdict::Trusted
        );
        assert_eq!(
            check_known_hosts(&text, "web-9.example.net", &key(OTHER)),
            Verdict::Unknown
        );
    }

    #[test]
    fn hashed_entry_as_written_by_ssh_keygen() {
        // `ssh-keygen -H` of "[127.0.0.1]:2222": salt and HMAC-SHA1 computed independently.
        let salt = [7u8; 20];
        let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(&salt).unwrap();
        mac.update(b"[127.0.0.1]:2222");
        let hash = mac.finalize().into_bytes();
        let encode = |bytes: &[u8]| data_encoding::BASE64.encode(bytes);
        let line = format!("|1|{}|{} {ED25519}\n", encode(&salt), encode(&hash));
        assert_eq!(
            check_known_hosts(&line, "[127.0.0.1]:2222", &key(ED25519)),
            Verdict::Trusted
        );
        assert_eq!(
            check_known_hosts(&line, "[127.0.0.1]:2223", &key(ED25519)),
            Verdict::Unknown
        );
    }

    #[test]
    fn revoked_key_is_refused_and_cert_authority_ignored() {
        let text = format!("@revoked * {ED25519}\n@cert-authority * {OTHER}\n");
        assert_eq!(
            check_known_hosts(&text, "h", &key(ED25519)),
            Verdict::Mismatch
        );
        assert_eq!(check_known_hosts(&text, "h", &key(OTHER)), Verdict::Unknown);
    }

    #[test]
    fn accept_new_appends_once_then_refuses_a_changed_key() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("known_hosts");
        std::fs::write(&file, "other-host ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAVf+L8TZtb4SJUZiuUXinOj3BsK/zpFpUPBivvU6Bix").unwrap();
        let policy = HostKeyPolicy::KnownHosts {
            file: file.clone(),
            accept_new: true,
        };
        let name = known_hosts_name("127.0.0.1", 2222);
        assert_eq!(
            verify(&policy, &name, &key(OTHER)).unwrap(),
            Verdict::Learned
        );
        assert_eq!(
            verify(&policy, &name, &key(OTHER)).unwrap(),
            Verdict::Trusted
        );
        assert_eq!(
            verify(&policy, &name, &key(ED25519)).unwrap(),
            Verdict::Mismatch
        );
        let text = std::fs::read_to_string(&file).unwrap();
        assert_eq!(text.lines().count(), 2, "{text}");
        assert!(
            text.ends_with(&format!("[127.0.0.1]:2222 {OTHER}\n")),
            "{text}"
        );
        assert_eq!(known_algorithms(&text, &name), [Algorithm::Ed25519]);
    }

    #[test]
    fn pinned_key() {
        let policy = HostKeyPolicy::Pinned(ED25519.to_string());
        assert_eq!(
            verify(&policy, "x", &key(ED25519)).unwrap(),
            Verdict::Trusted
        );
        assert_eq!(
            verify(&policy, "x", &key(OTHER)).unwrap(),
            Verdict::Mismatch
        );
    }

    #[test]
    fn wildcards() {
        assert!(wildcard_matches("*", "anything"));
        assert!(wildcard_matches("10.0.?.5", "10.0.1.5"));
        assert!(!wildcard_matches("10.0.?.5", "10.0.12.5"));
        assert!(wildcard_matches("a*b*c", "axxbyyc"));
        assert!(!wildcard_matches("a*b", "axxbyyc"));
    }
}
