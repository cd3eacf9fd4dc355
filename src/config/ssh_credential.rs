//! `credentials:` entries of `type: ssh`: username, exactly one auth method, exactly one
//! host-key method, keys decoded at load so a bad key or passphrase is a config error.

use std::path::Path;

use russh::keys::{decode_secret_key, PublicKey};

use super::model::{Credential, HostKeyPolicy, SshAuth, SshCredential};
use super::raw::RawCredential;
use super::secret::Secret;
use super::secret_source::{resolve_secret, SecretSource};
use super::validate::Problems;

/// Where a credential is and where its relative files are read from.
pub struct SshContext<'a> {
    pub path: &'a str,
    pub base_dir: &'a Path,
}

/// Validates one `type: ssh` credential. Every bad field is reported with its path; none of the
/// messages quotes a secret.
pub fn validate_ssh_credential(
    context: &SshContext<'_>,
    raw: &RawCredential,
    problems: &mut Problems,
) -> Option<Credential> {
    let before = problems.len();
    reject_snmp_fields(context.path, raw, problems);
    let username = ssh_username(context.path, raw.username.as_deref(), problems);
    let auth = ssh_auth(context, raw, problems);
    let host_key = host_key_policy(context, raw, problems);
    if problems.len() != before {
        return None;
    }
    Some(Credential::Ssh(SshCredential {
        username: username?,
        auth: auth?,
        host_key: host_key?,
    }))
}

fn reject_snmp_fields(path: &str, raw: &RawCredential, problems: &mut Problems) {
    let snmp_only = raw.snmp_fields_set();
    for (field, is_set) in snmp_only {
        if is_set {
            problems.add(
                format!("{path}.{field}"),
                "only applies to SNMP credentials, not to this ssh credential",
            );
        }
    }
    for (field, is_set) in raw.routeros_fields_set() {
        if is_set {
            problems.add(
                format!("{path}.{field}"),
                "only applies to routeros credentials, not to this ssh credential",
            );
        }
    }
}

fn ssh_username(path: &str, username: Option<&str>, problems: &mut Problems) -> Option<String> {
    match username {
        Some(name) if !name.is_empty() && !name.chars().any(char::is_control) => {
            Some(name.to_string())
        }
        Some(_) => {
            problems.add(
                format!("{path}.username"),
                "is empty or holds control characters",
            );
            None
        }
        None => {
            problems.add(format!("{path}.username"), "missing");
            None
        }
    }
}

const AUTH_CHOICES: &str = "private_key(_file), password(_file) or agent: true";

/// Exactly one of: a private key (with optional passphrase), a password, the ssh-agent.
fn ssh_auth(
    context: &SshContext<'_>,
    raw: &RawCredential,
    problems: &mut Problems,
) -> Option<SshAuth> {
    let path = context.path;
    let has_key = raw.private_key.is_some() || raw.private_key_file.is_some();
    let has_password = raw.password.is_some() || raw.password_file.is_some();
    let has_agent = raw.agent == Some(true);
    let chosen = [has_key, has_password, has_agent]
        .iter()
        .filter(|set| **set)
        .count();
    let has_passphrase = raw.passphrase.is_some() || raw.passphrase_file.is_some();
    if has_passphrase && !has_key {
        problems.add(
            format!("{path}.passphrase"),
            "is only used with private_key or private_key_file",
        );
    }
    if chosen == 0 {
        problems.add(
            format!("{path}.private_key"),
            format!("missing: choose one authentication method ({AUTH_CHOICES})"),
        );
        return None;
    }
    if chosen > 1 {
        problems.add(
            path,
            format!(
                "more than one authentication method is set; choose exactly one ({AUTH_CHOICES})"
            ),
        );
        return None;
    }
    if has_agent {
        return Some(SshAuth::Agent);
    }
    if has_password {
        let source = secret_source(path, "password", (&raw.password, &raw.password_file));
        return resolve_secret(&source, context.base_dir, problems).map(SshAuth::Password);
    }
    private_key_auth(context, raw, problems)
}

fn secret_source<'a>(
    parent_path: &'a str,
    field: &'a str,
    (inline, file): (&'a Option<String>, &'a Option<String>),
) -> SecretSource<'a> {
    SecretSource {
        parent_path,
        field,
        inline: inline.as_deref(),
        file: file.as_deref(),
    }
}

fn private_key_auth(
    context: &SshContext<'_>,
    raw: &RawCredential,
    problems: &mut Problems,
) -> Option<SshAuth> {
    let path = context.path;
    let key_source = secret_source(
        path,
        "private_key",
        (&raw.private_key, &raw.private_key_file),
    );
    let key = resolve_secret(&key_source, context.base_dir, problems)?;
    let passphrase = if raw.passphrase.is_some() || raw.passphrase_file.is_some() {
        let source = secret_source(path, "passphrase", (&raw.passphrase, &raw.passphrase_file));
        Some(resolve_secret(&source, context.base_dir, problems)?)
    } else {
        None
    };
    let key_field = if raw.private_key.is_some() {
        "private_key"
    } else {
        "private_key_file"
    };
    if let Err(message) = check_private_key(&key, passphrase.as_ref()) {
        let field = if message.contains("passphrase") && passphrase.is_some() {
            if raw.passphrase.is_some() {
                "passphrase"
            } else {
                "passphrase_file"
            }
        } else {
            key_field
        };
        problems.add(format!("{path}.{field}"), message);
        return None;
    }
    Some(SshAuth::PrivateKey { key, passphrase })
}

/// Decodes the key as the poller will, so that a key the poller cannot use is refused at load.
/// The messages are fixed texts: the decoder's own could quote parts of the key.
pub fn check_private_key(key: &Secret, passphrase: Option<&Secret>) -> Result<(), String> {
    if decode_secret_key(key.expose(), passphrase.map(Secret::expose)).is_ok() {
        return Ok(());
    }
    if passphrase.is_some() {
        return Err(
            "cannot decrypt the private key with this passphrase (wrong passphrase or corrupt key)"
                .to_string(),
        );
    }
    match decode_secret_key(key.expose(), None) {
        Err(russh::keys::Error::KeyIsEncrypted) => {
            Err("the private key is encrypted: set passphrase or passphrase_file".to_string())
        }
        _ => {
            Err("is not a private key in OpenSSH or PEM format (ed25519, ECDSA or RSA)".to_string())
        }
    }
}

const HOST_KEY_CHOICES: &str = "known_hosts_file, host_key or host_key_file";

/// Exactly one of: a known_hosts file (optionally accept-new), a pinned key inline or in a file.
fn host_key_policy(
    context: &SshContext<'_>,
    raw: &RawCredential,
    problems: &mut Problems,
) -> Option<HostKeyPolicy> {
    let path = context.path;
    let has_known_hosts = raw.known_hosts_file.is_some();
    let has_pinned = raw.host_key.is_some() || raw.host_key_file.is_some();
    let accept_new = raw.accept_new_host_keys == Some(true);
    if accept_new && !has_known_hosts {
        problems.add(
            format!("{path}.accept_new_host_keys"),
            "needs known_hosts_file (new keys are remembered there)",
        );
    }
    match (has_known_hosts, has_pinned) {
        (false, false) => {
            problems.add(
                format!("{path}.known_hosts_file"),
                format!(
                    "missing: choose how host keys are verified ({HOST_KEY_CHOICES}); \
                     unknown host keys are never accepted silently"
                ),
            );
            None
        }
        (true, true) => {
            problems.add(
                path,
                format!(
                    "more than one host-key method is set; choose exactly one ({HOST_KEY_CHOICES})"
                ),
            );
            None
        }
        (true, false) => known_hosts_policy(context, raw, accept_new, problems),
        (false, true) => {
            let source = secret_source(path, "host_key", (&raw.host_key, &raw.host_key_file));
            let text = resolve_secret(&source, context.base_dir, problems)?;
            let field = if raw.host_key.is_some() {
                "host_key"
            } else {
                "host_key_file"
            };
            let key = parse_pinned_host_key(text.expose())
                .map_err(|message| problems.add(format!("{path}.{field}"), message))
                .ok()?;
            Some(HostKeyPolicy::Pinned(key))
        }
    }
}

fn known_hosts_policy(
    context: &SshContext<'_>,
    raw: &RawCredential,
    accept_new: bool,
    problems: &mut Problems,
) -> Option<HostKeyPolicy> {
    let field = format!("{}.known_hosts_file", context.path);
    let file = context
        .base_dir
        .join(raw.known_hosts_file.as_deref().unwrap_or_default());
    let shown = file.display().to_string();
    if let Err(error) = std::fs::read_to_string(&file) {
        problems.add(field, format!("cannot read {shown:?}: {}", error.kind()));
        return None;
    }
    if accept_new {
        // Opening for append writes nothing; it proves new keys can be remembered.
        let writable = std::fs::OpenOptions::new().append(true).open(&file);
        if let Err(error) = writable {
            problems.add(
                field,
                format!(
                    "accept_new_host_keys needs {shown:?} to be writable: {}",
                    error.kind()
                ),
            );
            return None;
        }
    }
    Some(HostKeyPolicy::KnownHosts { file, accept_new })
}

/// A pinned key in `authorized_keys` form (`ssh-ed25519 AAAA... [comment]`), normalised to
/// `algorithm base64` so it compares cleanly.
pub fn parse_pinned_host_key(text: &str) -> Result<String, String> {
    let mut fields = text.split_whitespace();
    let (Some(algorithm), Some(base64)) = (fields.next(), fields.next()) else {
        return Err("is not a public key (expected \"ssh-ed25519 AAAA...\")".to_string());
    };
    let normalised = format!("{algorithm} {base64}");
    PublicKey::from_openssh(&normalised)
        .map_err(|_| "is not a valid public key (expected \"ssh-ed25519 AAAA...\")".to_string())?;
    Ok(normalised)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinned_key_is_normalised_and_checked() {
        let key =
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAVf+L8TZtb4SJUZiuUXinOj3BsK/zpFpUPBivvU6Bix";
        assert_eq!(
            parse_pinned_host_key(&format!("  {key}  root@host\n")).unwrap(),
            key
        );
        assert!(parse_pinned_host_key("ssh-ed25519").is_err());
        assert!(parse_pinned_host_key("ssh-ed25519 AAAAnotbase64!").is_err());
    }

    #[test]
    fn garbage_key_is_refused_without_quoting_it() {
        let message = check_private_key(&Secret::new("hunter2-not-a-key"), None).unwrap_err();
        assert!(!message.contains("hunter2"), "{message}");
    }
}
