//! `credentials:` entries to validated SNMP v1/v2c/v3 credentials (SSH ones are handed to
//! `ssh_credential`).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use super::model::{
    AuthProtocol, Credential, KeyExtension, PrivProtocol, SecurityLevel, SnmpCredential,
    SnmpV3Credential,
};
use super::raw::RawCredential;
use super::routeros_credential::{validate_routeros_credential, RouterOsContext};
use super::secret::Secret;
use super::secret_source::{resolve_secret, SecretSource};
use super::ssh_credential::{validate_ssh_credential, SshContext};
use super::validate::Problems;

/// net-snmp refuses shorter USM passwords (RFC 3414 recommends at least 8 characters).
const MIN_PASSWORD_CHARS: usize = 8;

/// What every check of one credential needs to know besides the raw entry.
struct Context<'a> {
    path: &'a str,
    base_dir: &'a Path,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SnmpVersion {
    V1,
    V2c,
    V3,
}

/// Validates every credential; only those without problems are returned.
pub fn validate_credentials(
    raw: &BTreeMap<String, RawCredential>,
    base_dir: &Path,
    problems: &mut Problems,
) -> BTreeMap<String, Arc<Credential>> {
    let mut credentials = BTreeMap::new();
    for (name, credential) in raw {
        let path = format!("credentials.{name}");
        let context = Context {
            path: &path,
            base_dir,
        };
        if let Some(valid) = validate_credential(&context, credential, problems) {
            credentials.insert(name.clone(), Arc::new(valid));
        }
    }
    credentials
}

fn validate_credential(
    context: &Context<'_>,
    raw: &RawCredential,
    problems: &mut Problems,
) -> Option<Credential> {
    let path = context.path;
    match raw.credential_type.as_deref() {
        Some("snmp") => reject_ssh_fields(path, raw, problems),
        Some("ssh") => {
            let ssh_context = SshContext {
                path,
                base_dir: context.base_dir,
            };
            return validate_ssh_credential(&ssh_context, raw, problems);
        }
        Some("routeros") => {
            let routeros_context = RouterOsContext {
                path,
                base_dir: context.base_dir,
            };
            return validate_routeros_credential(&routeros_context, raw, problems);
        }
        Some(other) => {
            problems.add(
                format!("{path}.type"),
                format!("unknown credential type {other:?} (supported: snmp, ssh, routeros)"),
            );
            return None;
        }
        None => {
            problems.add(
                format!("{path}.type"),
                "missing (supported: snmp, ssh, routeros)",
            );
            return None;
        }
    }
    let version = parse_version(raw.version.as_deref())
        .map_err(|message| problems.add(format!("{path}.version"), message))
        .ok()?;
    let credential = match version {
        SnmpVersion::V1 | SnmpVersion::V2c => {
            community_credential(context, raw, version, problems)?
        }
        SnmpVersion::V3 => SnmpCredential::V3(v3_credential(context, raw, problems)?),
    };
    Some(Credential::Snmp(credential))
}

/// SSH fields on an SNMP credential are reported rather than ignored: the user meant something.
fn reject_ssh_fields(path: &str, raw: &RawCredential, problems: &mut Problems) {
    let ssh_only = raw.ssh_fields_set();
    reject_fields(
        path,
        &ssh_only,
        "only applies to ssh credentials, not to this snmp credential",
        problems,
    );
    let password = [
        ("password", raw.password.is_some()),
        ("password_file", raw.password_file.is_some()),
    ];
    reject_fields(
        path,
        &password,
        "only applies to ssh and routeros credentials, not to this snmp credential",
        problems,
    );
    reject_fields(
        path,
        &raw.routeros_fields_set(),
        "only applies to routeros credentials, not to this snmp credential",
        problems,
    );
}

/// `1`, `2c` and `3`; YAML integers arrive here as their text, so `3` and `"3"` are the same.
fn parse_version(text: Option<&str>) -> Result<SnmpVersion, String> {
    match text.map(str::to_ascii_lowercase).as_deref() {
        Some("1") => Ok(SnmpVersion::V1),
        Some("2c") => Ok(SnmpVersion::V2c),
        Some("3") => Ok(SnmpVersion::V3),
        Some(other) => Err(format!("unknown SNMP version {other:?} (use 1, 2c or 3)")),
        None => Err("missing (use 1, 2c or 3)".to_string()),
    }
}

fn community_credential(
    context: &Context<'_>,
    raw: &RawCredential,
    version: SnmpVersion,
    problems: &mut Problems,
) -> Option<SnmpCredential> {
    let v3_only = [
        ("username", raw.username.is_some()),
        ("security_level", raw.security_level.is_some()),
        ("auth_protocol", raw.auth_protocol.is_some()),
        ("auth_password", raw.auth_password.is_some()),
        ("auth_password_file", raw.auth_password_file.is_some()),
        ("priv_protocol", raw.priv_protocol.is_some()),
        ("priv_password", raw.priv_password.is_some()),
        ("priv_password_file", raw.priv_password_file.is_some()),
        ("key_extension", raw.key_extension.is_some()),
        ("context_name", raw.context_name.is_some()),
    ];
    let version_name = if version == SnmpVersion::V1 {
        "v1"
    } else {
        "v2c"
    };
    let misplaced = reject_fields(
        context.path,
        &v3_only,
        &format!("only applies to SNMP v3, not to this {version_name} credential"),
        problems,
    );
    let community = resolve_secret(
        &SecretSource {
            parent_path: context.path,
            field: "community",
            inline: raw.community.as_deref(),
            file: raw.community_file.as_deref(),
        },
        context.base_dir,
        problems,
    )?;
    if misplaced {
        return None;
    }
    Some(match version {
        SnmpVersion::V1 => SnmpCredential::V1 { community },
        _ => SnmpCredential::V2c { community },
    })
}

/// Reports each field that is set but does not belong; true if there was any.
fn reject_fields(path: &str, fields: &[(&str, bool)], why: &str, problems: &mut Problems) -> bool {
    let mut any = false;
    for (field, is_set) in fields {
        if *is_set {
            problems.add(format!("{path}.{field}"), why);
            any = true;
        }
    }
    any
}

fn v3_credential(
    context: &Context<'_>,
    raw: &RawCredential,
    problems: &mut Problems,
) -> Option<SnmpV3Credential> {
    let path = context.path;
    let community_fields = [
        ("community", raw.community.is_some()),
        ("community_file", raw.community_file.is_some()),
    ];
    let misplaced = reject_fields(
        path,
        &community_fields,
        "does not apply to SNMP v3 (v3 authenticates with username and passwords)",
        problems,
    );
    let username = match raw.username.as_deref() {
        Some(name) if !name.is_empty() => Some(name.to_string()),
        Some(_) => {
            problems.add(format!("{path}.username"), "is empty");
            None
        }
        None => {
            problems.add(format!("{path}.username"), "missing (required for SNMP v3)");
            None
        }
    };
    let security_level = parse_security_level(raw.security_level.as_deref())
        .map_err(|message| problems.add(format!("{path}.security_level"), message))
        .ok();
    let (auth, privacy) = match security_level {
        Some(level) => (
            auth_part(context, raw, level, problems),
            priv_part(context, raw, level, problems),
        ),
        None => (None, None),
    };
    let key_extension = key_extension_part(context, raw, security_level, problems);
    let level = security_level?;
    let complete = !misplaced
        && (level == SecurityLevel::NoAuthNoPriv || auth.as_ref().is_some_and(Option::is_some))
        && (level != SecurityLevel::AuthPriv || privacy.as_ref().is_some_and(Option::is_some));
    if !complete {
        return None;
    }
    Some(SnmpV3Credential {
        username: username?,
        security_level: level,
        auth: auth.flatten(),
        privacy: privacy.flatten(),
        key_extension: key_extension.ok()?,
        context_name: raw.context_name.clone().unwrap_or_default(),
    })
}

/// The security level, spelled as in net-snmp (`authPriv`), in any letter case.
fn parse_security_level(text: Option<&str>) -> Result<SecurityLevel, String> {
    const CHOICES: &str = "noAuthNoPriv, authNoPriv or authPriv";
    match text.map(str::to_ascii_lowercase).as_deref() {
        Some("noauthnopriv") => Ok(SecurityLevel::NoAuthNoPriv),
        Some("authnopriv") => Ok(SecurityLevel::AuthNoPriv),
        Some("authpriv") => Ok(SecurityLevel::AuthPriv),
        Some(_) => Err(format!(
            "unknown security level {:?} (use {CHOICES})",
            text.unwrap_or_default()
        )),
        None => Err(format!("missing (use {CHOICES})")),
    }
}

/// Auth protocol and password. Outer `None`: not wanted at this level (or wrongly given);
/// `Some(None)`: wanted but invalid; `Some(Some(..))`: valid.
type Part<P> = Option<Option<(P, Secret)>>;

fn auth_part(
    context: &Context<'_>,
    raw: &RawCredential,
    level: SecurityLevel,
    problems: &mut Problems,
) -> Part<AuthProtocol> {
    let fields = [
        ("auth_protocol", raw.auth_protocol.is_some()),
        ("auth_password", raw.auth_password.is_some()),
        ("auth_password_file", raw.auth_password_file.is_some()),
    ];
    if level == SecurityLevel::NoAuthNoPriv {
        reject_fields(
            context.path,
            &fields,
            "is not used with security_level noAuthNoPriv",
            problems,
        );
        return None;
    }
    let protocol = required_choice(
        context.path,
        &AUTH_PROTOCOL,
        raw.auth_protocol.as_deref(),
        problems,
    );
    let password = password(
        context,
        "auth_password",
        (
            raw.auth_password.as_deref(),
            raw.auth_password_file.as_deref(),
        ),
        problems,
    );
    Some(protocol.zip(password))
}

fn priv_part(
    context: &Context<'_>,
    raw: &RawCredential,
    level: SecurityLevel,
    problems: &mut Problems,
) -> Part<PrivProtocol> {
    let fields = [
        ("priv_protocol", raw.priv_protocol.is_some()),
        ("priv_password", raw.priv_password.is_some()),
        ("priv_password_file", raw.priv_password_file.is_some()),
    ];
    if level != SecurityLevel::AuthPriv {
        // Silently ignoring these would leave traffic unencrypted that the user meant to encrypt.
        reject_fields(
            context.path,
            &fields,
            "is only used with security_level authPriv",
            problems,
        );
        return None;
    }
    let protocol = required_choice(
        context.path,
        &PRIV_PROTOCOL,
        raw.priv_protocol.as_deref(),
        problems,
    );
    let password = password(
        context,
        "priv_password",
        (
            raw.priv_password.as_deref(),
            raw.priv_password_file.as_deref(),
        ),
        problems,
    );
    Some(protocol.zip(password))
}

/// An enumerated field: its name, the accepted spellings for messages, and its parser.
struct Choice<T> {
    field: &'static str,
    choices: &'static str,
    parse: fn(&str) -> Option<T>,
}

const AUTH_PROTOCOL: Choice<AuthProtocol> = Choice {
    field: "auth_protocol",
    choices: "MD5, SHA, SHA224, SHA256, SHA384 or SHA512",
    parse: parse_auth_protocol,
};

const PRIV_PROTOCOL: Choice<PrivProtocol> = Choice {
    field: "priv_protocol",
    choices: "DES, AES, AES192 or AES256",
    parse: parse_priv_protocol,
};

/// Parses a required enumerated field, reporting it missing or unknown.
fn required_choice<T>(
    path: &str,
    choice: &Choice<T>,
    text: Option<&str>,
    problems: &mut Problems,
) -> Option<T> {
    let field_path = format!("{path}.{}", choice.field);
    let Some(text) = text else {
        problems.add(field_path, format!("missing (use {})", choice.choices));
        return None;
    };
    let parsed = (choice.parse)(text);
    if parsed.is_none() {
        problems.add(
            field_path,
            format!("unknown value {text:?} (use {})", choice.choices),
        );
    }
    parsed
}

/// Auth protocols in any letter case; `SHA` means SHA-1 as in net-snmp.
fn parse_auth_protocol(text: &str) -> Option<AuthProtocol> {
    match text.to_ascii_uppercase().as_str() {
        "MD5" => Some(AuthProtocol::Md5),
        "SHA" | "SHA1" => Some(AuthProtocol::Sha1),
        "SHA224" => Some(AuthProtocol::Sha224),
        "SHA256" => Some(AuthProtocol::Sha256),
        "SHA384" => Some(AuthProtocol::Sha384),
        "SHA512" => Some(AuthProtocol::Sha512),
        _ => None,
    }
}

/// Privacy protocols in any letter case; `AES` means AES-128 as in net-snmp.
fn parse_priv_protocol(text: &str) -> Option<PrivProtocol> {
    match text.to_ascii_uppercase().as_str() {
        "DES" => Some(PrivProtocol::Des),
        "AES" | "AES128" => Some(PrivProtocol::Aes128),
        "AES192" => Some(PrivProtocol::Aes192),
        "AES256" => Some(PrivProtocol::Aes256),
        _ => None,
    }
}

/// A USM password from inline text or its file, at least `MIN_PASSWORD_CHARS` long.
fn password(
    context: &Context<'_>,
    field: &str,
    (inline, file): (Option<&str>, Option<&str>),
    problems: &mut Problems,
) -> Option<Secret> {
    let source = SecretSource {
        parent_path: context.path,
        field,
        inline,
        file,
    };
    let secret = resolve_secret(&source, context.base_dir, problems)?;
    if secret.expose().chars().count() < MIN_PASSWORD_CHARS {
        let where_ = if inline.is_some() {
            field.to_string()
        } else {
            format!("{field}_file")
        };
        problems.add(
            format!("{}.{where_}", context.path),
            format!("must be at least {MIN_PASSWORD_CHARS} characters (net-snmp refuses shorter passwords)"),
        );
        return None;
    }
    Some(secret)
}

/// The key-extension choice. It is required exactly when the privacy key (AES-192/256) is
/// longer than the auth digest, because then the two vendors' extension methods differ and
/// picking the wrong one makes every request time out.
fn key_extension_part(
    context: &Context<'_>,
    raw: &RawCredential,
    level: Option<SecurityLevel>,
    problems: &mut Problems,
) -> Result<Option<KeyExtension>, ()> {
    let path = format!("{}.key_extension", context.path);
    let chosen = match raw
        .key_extension
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("blumenthal") => Some(KeyExtension::Blumenthal),
        Some("reeder") => Some(KeyExtension::Reeder),
        Some(_) => {
            problems.add(
                &path,
                format!(
                    "unknown key extension {:?} (use blumenthal or reeder)",
                    raw.key_extension.as_deref().unwrap_or_default()
                ),
            );
            return Err(());
        }
        None => None,
    };
    // Judged on the protocols alone, so the hint appears even while a password is still wrong.
    let auth = raw.auth_protocol.as_deref().and_then(parse_auth_protocol);
    let privacy = raw.priv_protocol.as_deref().and_then(parse_priv_protocol);
    let (Some(SecurityLevel::AuthPriv), Some(auth), Some(privacy)) = (level, auth, privacy) else {
        return Ok(chosen);
    };
    if chosen.is_none() && digest_bytes(auth) < key_bytes(privacy) {
        problems.add(
            &path,
            format!(
                "missing: priv_protocol {} with auth_protocol {} needs a key extension method; \
                 use blumenthal for net-snmp's AES-256 or reeder for Cisco's AES-256-C \
                 (the wrong one makes every request time out)",
                raw.priv_protocol.as_deref().unwrap_or_default(),
                raw.auth_protocol.as_deref().unwrap_or_default(),
            ),
        );
        return Err(());
    }
    Ok(chosen)
}

fn digest_bytes(auth: AuthProtocol) -> usize {
    match auth {
        AuthProtocol::Md5 => 16,
        AuthProtocol::Sha1 => 20,
        AuthProtocol::Sha224 => 28,
        AuthProtocol::Sha256 => 32,
        AuthProtocol::Sha384 => 48,
        AuthProtocol::Sha512 => 64,
    }
}

fn key_bytes(privacy: PrivProtocol) -> usize {
    match privacy {
        PrivProtocol::Des | PrivProtocol::Aes128 => 16,
        PrivProtocol::Aes192 => 24,
        PrivProtocol::Aes256 => 32,
    }
}
