//! `ispmonitor license keygen | issue | inspect`: the vendor's key pair, signed licenses, and
//! what a license file says; each computed apart from how it is printed.

use std::fs::{File, OpenOptions};
use std::io::{Read as _, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use data_encoding::BASE32_NOPAD;
use serde::Serialize;

use super::document::{self, LicensePayload, MAX_LICENSE_BYTES};
use super::keys::{self, KeyError, TrustedKeys};
use super::plan::Limits;
use super::status::{self, Installed, LicenseState, LicenseStatus, ValidationRecord};
use crate::cli::{
    InspectFormat, LicenseCommand, LicenseInspectArgs, LicenseIssueArgs, LicenseKeygenArgs,
};

/// Why a command could not do its work; names the flag or file, never quotes a key.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    Key(#[from] KeyError),
    /// A key file given by a flag: `--signing-key FILE: why`.
    #[error("{0} {1}")]
    KeyFlag(&'static str, KeyError),
    #[error("{flag} {path}: {what}")]
    File {
        flag: &'static str,
        path: String,
        what: String,
    },
    /// A flag value that cannot make a license.
    #[error("{0}")]
    Arg(String),
    #[error("--config: {0}")]
    Config(String),
}

fn file_error(flag: &'static str, path: &Path, what: impl ToString) -> CommandError {
    CommandError::File {
        flag,
        path: path.display().to_string(),
        what: what.to_string(),
    }
}

/// Runs one `license` command at `now`, prints its result and returns the exit status.
pub fn run(command: &LicenseCommand, now: SystemTime) -> u8 {
    let result = match command {
        LicenseCommand::Keygen(args) => keygen(args).map(|pair| print!("{}", keygen_text(&pair))),
        LicenseCommand::Issue(args) => issue(args, now).and_then(|issued| deliver(&issued, args)),
        LicenseCommand::Inspect(args) => return run_inspect(args, now),
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("ispmonitor: {e}");
            1
        }
    }
}

// ---------------------------------------------------------------------------------------------
// keygen

/// A key pair just written.
#[derive(Debug)]
pub struct NewKeyPair {
    pub private_key: PathBuf,
    pub public_key: PathBuf,
    pub fingerprint: String,
}

/// Writes a new pair, refusing to replace any existing file (a lost signing key cannot be
/// recovered, and every license signed with it would need re-issuing).
pub fn keygen(args: &LicenseKeygenArgs) -> Result<NewKeyPair, CommandError> {
    if args.private_key == args.public_key {
        return Err(CommandError::Arg(
            "--private-key and --public-key must be different files".into(),
        ));
    }
    // Both checked before anything is written, so a refusal leaves nothing behind.
    refuse_existing("--private-key", &args.private_key)?;
    refuse_existing("--public-key", &args.public_key)?;
    let (private_pem, public_pem) = keys::generate()?;
    write_new("--private-key", &args.private_key, &private_pem, 0o600)?;
    if let Err(e) = write_new("--public-key", &args.public_key, &public_pem, 0o644) {
        // Half a pair is useless; this file is ours (created exclusively just above).
        let _ = std::fs::remove_file(&args.private_key);
        return Err(e);
    }
    // Read back from disk: the fingerprint printed is the one of the file written.
    let public = keys::read_public_key(&args.public_key)?;
    Ok(NewKeyPair {
        private_key: args.private_key.clone(),
        public_key: args.public_key.clone(),
        fingerprint: keys::fingerprint(&public),
    })
}

fn refuse_existing(flag: &'static str, path: &Path) -> Result<(), CommandError> {
    // symlink_metadata: a dangling symlink exists too, and must not be followed.
    match path.symlink_metadata() {
        Ok(_) => Err(file_error(
            flag,
            path,
            "already exists; refusing to overwrite it",
        )),
        Err(_) => Ok(()),
    }
}

/// Creates `path` exclusively (O_EXCL: never through an existing file or symlink) with `mode`.
fn write_new(flag: &'static str, path: &Path, text: &str, mode: u32) -> Result<(), CommandError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => {
                file_error(flag, path, "already exists; refusing to overwrite it")
            }
            _ => file_error(flag, path, format!("cannot create: {e}")),
        })?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| file_error(flag, path, format!("cannot write: {e}")))
}

fn keygen_text(pair: &NewKeyPair) -> String {
    format!(
        "private key: {} (mode 0600: keep it secret, it signs licenses)\n\
         public key:  {}\n\
         fingerprint: {}\n",
        pair.private_key.display(),
        pair.public_key.display(),
        pair.fingerprint
    )
}

// ---------------------------------------------------------------------------------------------
// issue

/// A signed license: its payload and the license file's text.
#[derive(Debug)]
pub struct Issued {
    pub payload: LicensePayload,
    pub text: String,
}

/// Builds the payload from the flags, then signs it (the key is read only once the flags are
/// known to make a license).
pub fn issue(args: &LicenseIssueArgs, now: SystemTime) -> Result<Issued, CommandError> {
    let license_id = args.license_id.clone().unwrap_or_else(new_license_id);
    let payload = payload_from_args(args, license_id, now)?;
    let key = keys::read_signing_key(&args.signing_key)
        .map_err(|e| CommandError::KeyFlag("--signing-key", e))?;
    let text = document::sign(&payload, &key).map_err(|e| CommandError::Arg(e.to_string()))?;
    Ok(Issued { payload, text })
}

/// `LIC-` and 12 random base32 characters (60 bits: collisions are not a concern).
fn new_license_id() -> String {
    let random: [u8; 8] = rand::random();
    let text = BASE32_NOPAD.encode(&random);
    // Invariant: 8 bytes encode to 13 ASCII base32 characters.
    format!("LIC-{}", &text[..12])
}

/// The payload the flags describe, checked with errors that name the flag.
pub fn payload_from_args(
    args: &LicenseIssueArgs,
    license_id: String,
    now: SystemTime,
) -> Result<LicensePayload, CommandError> {
    check_license_id(&license_id)?;
    let customer = args.customer.trim();
    if customer.is_empty() || customer.chars().any(char::is_control) {
        return Err(CommandError::Arg(
            "--customer must be one non-empty line of text".into(),
        ));
    }
    let (issued_at, expires_at) = validity_from_args(args, now)?;
    let limits = limits_from_args(args);
    Ok(LicensePayload {
        license_id,
        customer: customer.to_string(),
        plan: args.plan.as_str().to_string(),
        max_routers: limits.routers,
        max_servers: limits.servers,
        max_users: limits.users,
        features: features_from_args(&args.features)?,
        issued_at: document::format_time(issued_at),
        expires_at: document::format_time(expires_at),
    })
}

fn check_license_id(id: &str) -> Result<(), CommandError> {
    if id.is_empty() || id.len() > 128 || !id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(CommandError::Arg(
            "--license-id must be 1 to 128 printable ASCII characters without spaces".into(),
        ));
    }
    Ok(())
}

/// The plan's limits, overridden flag by flag.
fn limits_from_args(args: &LicenseIssueArgs) -> Limits {
    let plan = args.plan.default_limits();
    Limits {
        routers: args.max_routers.map_or(plan.routers, |l| l.0),
        servers: args.max_servers.map_or(plan.servers, |l| l.0),
        users: args.max_users.map_or(plan.users, |l| l.0),
    }
}

/// Feature names as the code tests them: lowercase, digits, `-`, `_`, `.`; each once.
fn features_from_args(features: &[String]) -> Result<Vec<String>, CommandError> {
    let mut names: Vec<String> = Vec::new();
    for name in features {
        let ok = !name.is_empty()
            && name.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')
            });
        if !ok {
            return Err(CommandError::Arg(format!(
                "--feature {name:?}: use lowercase letters, digits, '-', '_' and '.'"
            )));
        }
        if !names.contains(name) {
            names.push(name.clone());
        }
    }
    Ok(names)
}

/// (issued_at, expires_at) in whole seconds, as the license writes them.
fn validity_from_args(
    args: &LicenseIssueArgs,
    now: SystemTime,
) -> Result<(SystemTime, SystemTime), CommandError> {
    let issued_at = whole_seconds(args.issued_at.unwrap_or(now));
    let expires_at = whole_seconds(
        args.expires_at
            .unwrap_or_else(|| document::after(issued_at, args.valid_for)),
    );
    if expires_at > issued_at {
        return Ok((issued_at, expires_at));
    }
    let flag = if args.expires_at.is_some() {
        "--expires-at"
    } else {
        "--valid-for"
    };
    Err(CommandError::Arg(format!(
        "{flag}: the license would expire at {} before it is valid (--issued-at {})",
        document::format_time(expires_at),
        document::format_time(issued_at)
    )))
}

fn whole_seconds(t: SystemTime) -> SystemTime {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => UNIX_EPOCH + std::time::Duration::from_secs(d.as_secs()),
        Err(_) => t,
    }
}

/// Prints the license file, or writes it to `--output` and says so.
fn deliver(issued: &Issued, args: &LicenseIssueArgs) -> Result<(), CommandError> {
    let Some(path) = &args.output else {
        print!("{}", issued.text);
        return Ok(());
    };
    std::fs::write(path, &issued.text)
        .map_err(|e| file_error("--output", path, format!("cannot write: {e}")))?;
    println!(
        "license {} for {} written to {} (valid {} to {})",
        issued.payload.license_id,
        issued.payload.customer,
        path.display(),
        issued.payload.issued_at,
        issued.payload.expires_at
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// inspect

/// What `license inspect` found.
#[derive(Debug)]
pub struct Inspection {
    pub file: PathBuf,
    /// Every key the signature was checked against: (fingerprint, origin).
    pub trusted_keys: Vec<(String, String)>,
    pub outcome: Outcome,
}

#[derive(Debug)]
pub enum Outcome {
    /// The signature verifies; the status (never online) says whether it is valid now.
    Verified(Box<LicenseStatus>),
    /// The file cannot be read (missing, too large, not text).
    Unreadable(String),
    /// Not a license, or the signature does not verify. `claimed` is what the payload says,
    /// when it decodes: shown, never trusted.
    Unverified {
        error: String,
        claimed: Option<Box<LicensePayload>>,
    },
}

impl Inspection {
    /// 0 verified and valid now, 1 not verified, 3 verified but expired or not yet valid (2 is
    /// clap's usage error).
    pub fn exit_code(&self) -> u8 {
        match &self.outcome {
            Outcome::Verified(status) if status.state == LicenseState::Valid => 0,
            Outcome::Verified(_) => 3,
            Outcome::Unreadable(_) | Outcome::Unverified { .. } => 1,
        }
    }

    pub fn state(&self) -> LicenseState {
        match &self.outcome {
            Outcome::Verified(status) => status.state,
            Outcome::Unreadable(_) | Outcome::Unverified { .. } => LicenseState::Invalid,
        }
    }
}

fn run_inspect(args: &LicenseInspectArgs, now: SystemTime) -> u8 {
    let keys = match inspect_keys(args) {
        Ok(keys) => keys,
        Err(e) => {
            match args.output {
                InspectFormat::Text => eprintln!("ispmonitor: {e}"),
                InspectFormat::Json => println!("{}", json_error(&args.file, &e.to_string())),
            }
            return 1;
        }
    };
    let inspection = inspect(&args.file, &keys, now);
    match args.output {
        InspectFormat::Text => print!("{}", inspection_text(&inspection)),
        InspectFormat::Json => println!("{}", inspection_json(&inspection)),
    }
    inspection.exit_code()
}

/// The built-in key, the config's `license.public_key_file` and `--public-key`.
pub fn inspect_keys(args: &LicenseInspectArgs) -> Result<TrustedKeys, CommandError> {
    let keys = match &args.config {
        Some(path) => {
            crate::config::load_file(path)
                .map_err(|e| CommandError::Config(e.to_string()))?
                .license
                .trusted_keys
        }
        None => TrustedKeys::load(None)?,
    };
    match &args.public_key {
        Some(path) => keys
            .and_file(path)
            .map_err(|e| CommandError::KeyFlag("--public-key", e)),
        None => Ok(keys),
    }
}

/// Reads and checks the license file at `now`.
pub fn inspect(file: &Path, keys: &TrustedKeys, now: SystemTime) -> Inspection {
    let outcome = match read_license(file) {
        Ok(text) => examine(&text, keys, now),
        Err(error) => Outcome::Unreadable(error),
    };
    Inspection {
        file: file.to_path_buf(),
        trusted_keys: keys
            .iter()
            .map(|k| (k.fingerprint(), k.origin.to_string()))
            .collect(),
        outcome,
    }
}

/// The file's text, refusing anything larger than a license before reading all of it.
fn read_license(path: &Path) -> Result<String, String> {
    let mut text = String::new();
    File::open(path)
        .and_then(|f| {
            f.take(MAX_LICENSE_BYTES as u64 + 1)
                .read_to_string(&mut text)
        })
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if text.len() > MAX_LICENSE_BYTES {
        return Err(format!(
            "{} is larger than a license ({MAX_LICENSE_BYTES} bytes at most)",
            path.display()
        ));
    }
    Ok(text)
}

fn examine(text: &str, keys: &TrustedKeys, now: SystemTime) -> Outcome {
    match document::verify(text, keys) {
        Ok(license) => Outcome::Verified(Box::new(status::evaluate(
            &Installed::Verified(Box::new(license)),
            &ValidationRecord::default(),
            None,
            now,
        ))),
        Err(e) => Outcome::Unverified {
            error: e.to_string(),
            claimed: document::decode_unverified(text).ok().map(Box::new),
        },
    }
}

/// For people. Every string from the file goes through `printable`: an unverified license is
/// attacker-controlled text, and must not drive the terminal.
pub fn inspection_text(inspection: &Inspection) -> String {
    let mut out = String::new();
    push_line(
        &mut out,
        "License file:",
        &inspection.file.display().to_string(),
    );
    match &inspection.outcome {
        Outcome::Verified(status) => verified_text(&mut out, status),
        Outcome::Unreadable(error) => {
            push_line(&mut out, "Error:", &printable(error));
            push_line(&mut out, "State:", LicenseState::Invalid.as_str());
        }
        Outcome::Unverified { error, claimed } => {
            let error = format!("DOES NOT VERIFY: {}", printable(error));
            push_line(&mut out, "Signature:", &error);
            for (i, (fingerprint, origin)) in inspection.trusted_keys.iter().enumerate() {
                let label = if i == 0 { "Trusted keys:" } else { "" };
                push_line(&mut out, label, &format!("{fingerprint} ({origin})"));
            }
            push_line(&mut out, "State:", LicenseState::Invalid.as_str());
            if let Some(claimed) = claimed {
                out.push_str(
                    "UNVERIFIED: what the file claims; none of it is trusted or in force:\n",
                );
                for (label, value) in payload_lines(claimed) {
                    push_line(&mut out, &format!("  UNVERIFIED {label}:"), &value);
                }
            }
        }
    }
    out
}

fn verified_text(out: &mut String, status: &LicenseStatus) {
    // Invariant: a verified status always carries its license.
    let Some(license) = &status.license else {
        return;
    };
    let signature = format!(
        "verified with the {} ({})",
        license.key_origin, license.key_fingerprint
    );
    push_line(out, "Signature:", &signature);
    push_line(out, "State:", status.state.as_str());
    push_line(out, "", &printable(&status.message));
    for (label, value) in payload_lines(&license.payload) {
        push_line(out, &format!("{label}:"), &value);
    }
    if let Some(days) = status.days_until_expiry {
        push_line(out, "Days left:", &days_left_text(days));
    }
}

fn push_line(out: &mut String, label: &str, value: &str) {
    out.push_str(&format!("{label:<13} {value}\n"));
}

/// (label, value) of every payload field, limits spelled out.
fn payload_lines(payload: &LicensePayload) -> Vec<(&'static str, String)> {
    let limit = |n: Option<u64>| n.map_or("unlimited".to_string(), |n| n.to_string());
    let features = if payload.features.is_empty() {
        "none".to_string()
    } else {
        payload.features.join(", ")
    };
    vec![
        ("License id", printable(&payload.license_id)),
        ("Customer", printable(&payload.customer)),
        ("Plan", printable(&payload.plan)),
        ("Max routers", limit(payload.max_routers)),
        ("Max servers", limit(payload.max_servers)),
        ("Max users", limit(payload.max_users)),
        ("Features", printable(&features)),
        ("Valid from", printable(&payload.issued_at)),
        ("Valid until", printable(&payload.expires_at)),
    ]
}

fn days_left_text(days: f64) -> String {
    if days >= 0.0 {
        format!("{days:.1}")
    } else {
        format!("none (expired {:.1} days ago)", -days)
    }
}

/// Control characters escaped (`\n`, `\u{1b}`...), everything else as it is.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// The `--output json` object: the same keys every time, `null` when not applicable.
#[derive(Debug, Serialize)]
struct JsonReport<'a> {
    file: String,
    verified: bool,
    state: &'static str,
    key_fingerprint: Option<&'a str>,
    key_origin: Option<String>,
    /// Only when verified.
    payload: Option<&'a LicensePayload>,
    /// What a license that does not verify claims: never to be trusted.
    claimed_payload: Option<&'a LicensePayload>,
    days_left: Option<f64>,
    message: Option<&'a str>,
    error: Option<&'a str>,
    trusted_keys: Vec<JsonKey<'a>>,
}

#[derive(Debug, Serialize)]
struct JsonKey<'a> {
    fingerprint: &'a str,
    origin: &'a str,
}

impl<'a> JsonReport<'a> {
    fn empty(file: &Path) -> JsonReport<'a> {
        JsonReport {
            file: file.display().to_string(),
            verified: false,
            state: LicenseState::Invalid.as_str(),
            key_fingerprint: None,
            key_origin: None,
            payload: None,
            claimed_payload: None,
            days_left: None,
            message: None,
            error: None,
            trusted_keys: Vec::new(),
        }
    }
}

pub fn inspection_json(inspection: &Inspection) -> String {
    let mut report = JsonReport::empty(&inspection.file);
    report.state = inspection.state().as_str();
    report.trusted_keys = inspection
        .trusted_keys
        .iter()
        .map(|(fingerprint, origin)| JsonKey {
            fingerprint,
            origin,
        })
        .collect();
    match &inspection.outcome {
        Outcome::Verified(status) => {
            let license = status.license.as_ref();
            report.verified = true;
            report.key_fingerprint = license.map(|l| l.key_fingerprint.as_str());
            report.key_origin = license.map(|l| l.key_origin.to_string());
            report.payload = license.map(|l| &l.payload);
            report.days_left = status
                .days_until_expiry
                .map(|d| (d * 100.0).round() / 100.0);
            report.message = Some(&status.message);
        }
        Outcome::Unreadable(error) => report.error = Some(error),
        Outcome::Unverified { error, claimed } => {
            report.claimed_payload = claimed.as_deref();
            report.error = Some(error);
        }
    }
    to_json(&report)
}

fn json_error(file: &Path, error: &str) -> String {
    to_json(&JsonReport {
        error: Some(error),
        ..JsonReport::empty(file)
    })
}

fn to_json(report: &JsonReport<'_>) -> String {
    // Invariant: the report holds strings, numbers and booleans only, which always serialise.
    serde_json::to_string_pretty(report).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use crate::license::document::tests::{payload, test_signing_key};
    use clap::Parser as _;

    fn at(text: &str) -> SystemTime {
        humantime::parse_rfc3339(text).unwrap()
    }

    fn issue_args(extra: &[&str]) -> Result<LicenseIssueArgs, clap::Error> {
        let mut argv = vec![
            "ispmonitor",
            "license",
            "issue",
            "--signing-key",
            "k.pem",
            "--customer",
            "Example ISP",
        ];
        argv.extend_from_slice(extra);
        match Cli::try_parse_from(argv)?.command {
            Command::License(LicenseCommand::Issue(args)) => Ok(*args),
            other => panic!("parsed as {other:?}"),
        }
    }

    fn issued(extra: &[&str]) -> Result<LicensePayload, CommandError> {
        let args = issue_args(extra).unwrap();
        payload_from_args(&args, "LIC-1".into(), at("2026-03-01T12:00:00.750Z"))
    }

    #[test]
    fn limits_default_to_the_plan_and_can_be_overridden() {
        let starter = issued(&["--plan", "starter"]).unwrap();
        assert_eq!(
            (starter.max_routers, starter.max_servers, starter.max_users),
            (Some(10), Some(10), Some(5))
        );
        let custom = issued(&[
            "--plan",
            "professional",
            "--max-routers",
            "250",
            "--max-users",
            "unlimited",
        ])
        .unwrap();
        assert_eq!(custom.plan, "professional");
        assert_eq!(
            (custom.max_routers, custom.max_servers, custom.max_users),
            (Some(250), Some(100), None)
        );
        let enterprise = issued(&["--plan", "enterprise", "--max-servers", "7"]).unwrap();
        assert_eq!(
            (enterprise.max_routers, enterprise.max_servers),
            (None, Some(7))
        );
    }

    #[test]
    fn bad_values_are_refused_naming_the_flag() {
        for (extra, flag) in [
            (&["--plan", "gold"][..], "--plan"),
            (
                &["--plan", "starter", "--max-routers", "ten"][..],
                "--max-routers",
            ),
            (&["--plan", "starter", "--max-users=-1"][..], "--max-users"),
            (
                &["--plan", "starter", "--issued-at", "yesterday"][..],
                "--issued-at",
            ),
            (
                &["--plan", "starter", "--expires-at", "2026-13-01T00:00:00Z"][..],
                "--expires-at",
            ),
            (
                &["--plan", "starter", "--valid-for", "0s"][..],
                "--valid-for",
            ),
            (
                &[
                    "--plan",
                    "starter",
                    "--valid-for",
                    "1d",
                    "--expires-at",
                    "2027-01-01T00:00:00Z",
                ][..],
                "--expires-at",
            ),
        ] {
            let error = issue_args(extra).unwrap_err().to_string();
            assert!(error.contains(flag), "{extra:?}: {error}");
        }
    }

    #[test]
    fn the_validity_window_defaults_to_a_year_from_now_in_whole_seconds() {
        let default = issued(&["--plan", "starter"]).unwrap();
        assert_eq!(default.issued_at, "2026-03-01T12:00:00Z");
        assert_eq!(default.expires_at, "2027-03-01T12:00:00Z");
        let short = issued(&[
            "--plan",
            "starter",
            "--issued-at",
            "2026-01-01T00:00:00Z",
            "--valid-for",
            "30d",
        ])
        .unwrap();
        assert_eq!(short.expires_at, "2026-01-31T00:00:00Z");
        let fixed = issued(&["--plan", "starter", "--expires-at", "2026-06-01T00:00:00Z"]).unwrap();
        assert_eq!(fixed.expires_at, "2026-06-01T00:00:00Z");
    }

    #[test]
    fn a_license_ending_before_it_starts_is_refused() {
        let error = issued(&[
            "--plan",
            "starter",
            "--issued-at",
            "2026-06-01T00:00:00Z",
            "--expires-at",
            "2026-06-01T00:00:00Z",
        ])
        .unwrap_err()
        .to_string();
        assert!(error.starts_with("--expires-at"), "{error}");
    }

    #[test]
    fn customer_id_and_features_are_checked() {
        let mut blank = issue_args(&["--plan", "starter"]).unwrap();
        for customer in [" ", "two\nlines"] {
            blank.customer = customer.into();
            let error = payload_from_args(&blank, "LIC-1".into(), SystemTime::now()).unwrap_err();
            assert!(error.to_string().contains("--customer"), "{error}");
        }
        let error = issued(&["--plan", "starter", "--feature", "Bad Name"]).unwrap_err();
        assert!(error.to_string().contains("--feature"), "{error}");
        let features = issued(&[
            "--plan",
            "starter",
            "--feature",
            "api",
            "--feature",
            "sso",
            "--feature",
            "api",
        ])
        .unwrap()
        .features;
        assert_eq!(features, ["api", "sso"]);
        let args = issue_args(&["--plan", "starter"]).unwrap();
        let error = payload_from_args(&args, "has space".into(), SystemTime::now()).unwrap_err();
        assert!(error.to_string().contains("--license-id"), "{error}");
    }

    #[test]
    fn generated_license_ids_are_random_base32() {
        let (a, b) = (new_license_id(), new_license_id());
        assert_ne!(a, b);
        assert_eq!(a.len(), 16, "{a}");
        assert!(a.starts_with("LIC-"));
        assert!(a[4..]
            .bytes()
            .all(|c| c.is_ascii_uppercase() || (b'2'..=b'7').contains(&c)));
    }

    fn inspect_text(text: &str, now: &str) -> Inspection {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("license.lic");
        std::fs::write(&path, text).unwrap();
        inspect(&path, &TrustedKeys::load(None).unwrap(), at(now))
    }

    #[test]
    fn inspection_states_map_to_exit_codes() {
        let text =
            document::sign(&payload("professional", Some(100)), &test_signing_key()).unwrap();
        let valid = inspect_text(&text, "2026-06-01T00:00:00Z");
        assert_eq!((valid.state(), valid.exit_code()), (LicenseState::Valid, 0));
        let expired = inspect_text(&text, "2027-06-01T00:00:00Z");
        assert_eq!(
            (expired.state(), expired.exit_code()),
            (LicenseState::Expired, 3)
        );
        let early = inspect_text(&text, "2025-06-01T00:00:00Z");
        assert_eq!(
            (early.state(), early.exit_code()),
            (LicenseState::NotYetValid, 3)
        );
        let garbage = inspect_text("hello", "2026-06-01T00:00:00Z");
        assert_eq!(
            (garbage.state(), garbage.exit_code()),
            (LicenseState::Invalid, 1)
        );
    }

    #[test]
    fn unverified_text_is_marked_and_cannot_drive_the_terminal() {
        let mut claim = payload("enterprise", None);
        claim.customer = "Evil\u{1b}[2J ISP".into();
        let other = ed25519_dalek::SigningKey::from_bytes(&[9u8; 32]);
        let text = document::sign(&claim, &other).unwrap();
        let inspection = inspect_text(&text, "2026-06-01T00:00:00Z");
        let printed = inspection_text(&inspection);
        assert!(printed.contains("DOES NOT VERIFY"), "{printed}");
        assert!(
            printed.contains("UNVERIFIED Customer: Evil\\u{1b}[2J ISP"),
            "{printed}"
        );
        assert!(!printed.contains('\u{1b}'));
        let json: serde_json::Value = serde_json::from_str(&inspection_json(&inspection)).unwrap();
        assert_eq!(json["verified"], false);
        assert_eq!(json["state"], "invalid");
        assert!(json["payload"].is_null());
        assert_eq!(json["claimed_payload"]["plan"], "enterprise");
        assert!(json["error"].as_str().unwrap().contains("does not verify"));
    }

    #[test]
    fn inspect_takes_the_file_and_its_options() {
        let cli = Cli::try_parse_from([
            "ispmonitor",
            "license",
            "inspect",
            "x.lic",
            "--public-key",
            "p.pem",
            "--output",
            "json",
        ])
        .unwrap();
        let Command::License(LicenseCommand::Inspect(args)) = cli.command else {
            panic!("inspect")
        };
        assert_eq!(args.file, Path::new("x.lic"));
        assert_eq!(args.public_key.as_deref(), Some(Path::new("p.pem")));
        assert_eq!(args.output, InspectFormat::Json);
        assert!(
            Cli::try_parse_from(["ispmonitor", "license", "inspect", "x", "--output", "yaml"])
                .is_err()
        );
    }
}
