//! Licenses for integration tests: payloads signed with the fixture key (or a key made on the
//! spot), tampered copies, and config files whose `license:` section makes the real binary
//! trust the fixture key as an operator's `license.public_key_file` would.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use data_encoding::BASE64URL_NOPAD;
use ed25519_dalek::pkcs8::DecodePrivateKey;
use ed25519_dalek::SigningKey;
use ispmonitor::license::document::{self, LicensePayload};
use ispmonitor::license::keys;

pub const DAY: Duration = Duration::from_secs(86_400);

/// A fast ICMP module, so loopback targets are polled every second.
pub const PING_MODULE: &str = "{type: icmp, count: 2, interval: 20ms, timeout: 300ms}";

/// The YAML target every config of [`write_config`] polls: proof that polling goes on.
pub const SELF_PING: &str = "self-ping";

pub fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/license")
}

pub fn fixture_public_key() -> PathBuf {
    fixture_dir().join("test_public_key.pem")
}

pub fn fixture_signing_key() -> SigningKey {
    keys::read_signing_key(&fixture_dir().join("test_signing_key.pem"))
        .expect("the fixture signing key")
}

/// `SHA256:...` of the fixture key, as the API shows the key that verified a license.
pub fn fixture_fingerprint() -> String {
    keys::fingerprint(&keys::read_public_key(&fixture_public_key()).expect("the fixture key"))
}

/// A key pair nobody trusts, made with the crate's own generator.
pub fn generated_signing_key() -> SigningKey {
    let (private_pem, _public_pem) = keys::generate().expect("generate a key pair");
    SigningKey::from_pkcs8_pem(&private_pem).expect("the generated key reads back")
}

/// RFC 3339 UTC seconds, as licenses write times.
pub fn time(t: SystemTime) -> String {
    document::format_time(t)
}

/// A license valid from an hour ago for 30 days; servers limited like routers, 25 users.
pub fn payload(license_id: &str, plan: &str, max_routers: Option<u64>) -> LicensePayload {
    let now = SystemTime::now();
    LicensePayload {
        license_id: license_id.into(),
        customer: "Example ISP B.V.".into(),
        plan: plan.into(),
        max_routers,
        max_servers: max_routers,
        max_users: Some(25),
        features: vec!["api".into()],
        issued_at: time(now - Duration::from_secs(3600)),
        expires_at: time(now + 30 * DAY),
    }
}

/// The license file's text (comment header and signed line), signed with the fixture key.
pub fn sign(payload: &LicensePayload) -> String {
    sign_with(payload, &fixture_signing_key())
}

pub fn sign_with(payload: &LicensePayload, key: &SigningKey) -> String {
    document::sign(payload, key).expect("sign the license")
}

/// The `ISPM1.<payload>.<signature>` line of a license file.
pub fn signed_line(text: &str) -> &str {
    text.lines()
        .find(|l| l.starts_with("ISPM1."))
        .expect("a signed line")
}

/// The signed line with one character of its base64 payload changed (still valid base64url).
pub fn with_payload_byte_changed(text: &str) -> String {
    let line = signed_line(text);
    let payload_start = line.find('.').expect("a payload") + 1;
    let at = payload_start + 20;
    let old = &line[at..at + 1];
    let new = if old == "A" { "B" } else { "A" };
    format!("{}{new}{}", &line[..at], &line[at + 1..])
}

/// The signed line with its payload decoded, edited as JSON text and encoded again, keeping
/// the original signature: what a customer raising their own limits would try.
pub fn with_payload_edited(text: &str, edit: impl Fn(&str) -> String) -> String {
    let parts: Vec<&str> = signed_line(text).split('.').collect();
    let json = BASE64URL_NOPAD
        .decode(parts[1].as_bytes())
        .expect("the payload is base64url");
    let edited = edit(&String::from_utf8(json).expect("the payload is UTF-8"));
    format!(
        "ISPM1.{}.{}",
        BASE64URL_NOPAD.encode(edited.as_bytes()),
        parts[2]
    )
}

/// A YAML string literal for a path.
fn quoted(path: &Path) -> String {
    format!("{:?}", path.display().to_string())
}

/// `license:` trusting the fixture key, with `license.file` when given.
pub fn license_section(file: Option<&Path>) -> String {
    let key = quoted(&fixture_public_key());
    match file {
        Some(file) => format!(
            "license: {{public_key_file: {key}, file: {}}}\n",
            quoted(file)
        ),
        None => format!("license: {{public_key_file: {key}}}\n"),
    }
}

/// Writes `dir/ispmonitor.yaml`: 1 s polling, the `ping` module, the [`SELF_PING`] host target
/// plus `targets` (YAML list items), and `license` (a whole section, or "" for none).
pub fn write_config(dir: &Path, license: &str, targets: &str) -> PathBuf {
    let path = dir.join("ispmonitor.yaml");
    let yaml = format!(
        "global: {{interval: 1s, timeout: 800ms}}\n\
         {license}\
         modules:\n  ping: {PING_MODULE}\n\
         targets:\n  - {{name: {SELF_PING}, address: \"127.0.0.1\", kind: host, modules: [ping]}}\n\
         {targets}"
    );
    std::fs::write(&path, yaml).expect("write the config");
    path
}

/// Stores `text`'s signed line as the installed license straight into a migrated database (no
/// audit entry, no token needed): for tests whose subject is not licensing but that need more
/// than the starter limits. The next `serve` starts with it.
pub fn store_license(db: &super::postgres::TestDb, payload: &LicensePayload) {
    let text = sign(payload);
    db.psql(&format!(
        "INSERT INTO license_state (id, license, license_id, source, installed_at) \
         VALUES (1, '{}', '{}', 'api', now())",
        signed_line(&text),
        payload.license_id.replace('\'', "''")
    ));
}

/// An enterprise license: no limits.
pub fn unlimited(license_id: &str) -> LicensePayload {
    LicensePayload {
        max_users: None,
        ..payload(license_id, "enterprise", None)
    }
}
