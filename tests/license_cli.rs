//! `ispmonitor license keygen | issue | inspect`, run as the real binary: signatures verify only
//! with a trusted key, tampering and other keys are refused, exit codes follow the state, and
//! private keys never show up in output or `--help`.

mod common;

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use common::ispmonitor::binary;
use data_encoding::BASE64URL_NOPAD;
use ispmonitor::license::keys;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/license")
        .join(name)
}

/// The fixture key pair: the binary does not trust it unless told to.
fn test_key() -> String {
    path_arg(&fixture("test_signing_key.pem"))
}

fn test_public_key() -> String {
    path_arg(&fixture("test_public_key.pem"))
}

fn path_arg(path: &Path) -> String {
    path.to_str().expect("UTF-8 path").to_string()
}

/// The exit code, stdout and stderr of `ispmonitor ARGS`, with no config from the environment.
fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(binary())
        .args(args)
        .env_remove("ISPMONITOR_CONFIG")
        .env_remove("RUST_LOG")
        .output()
        .expect("run ispmonitor");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (
        out.status.code().unwrap_or(-1),
        text(&out.stdout),
        text(&out.stderr),
    )
}

/// `license issue` with `args`, written to `dir/name`; must succeed.
fn issue(dir: &Path, name: &str, signing_key: &str, args: &[&str]) -> PathBuf {
    let path = dir.join(name);
    let output = path_arg(&path);
    let mut argv = vec![
        "license",
        "issue",
        "--signing-key",
        signing_key,
        "--output",
        &output,
    ];
    argv.extend_from_slice(args);
    let (code, stdout, stderr) = run(&argv);
    assert_eq!(code, 0, "issue failed: {stdout}{stderr}");
    path
}

fn professional(dir: &Path) -> PathBuf {
    issue(
        dir,
        "license.lic",
        &test_key(),
        &[
            "--plan",
            "professional",
            "--customer",
            "Example ISP",
            "--license-id",
            "LIC-CLI-TEST-1",
            "--max-users",
            "unlimited",
            "--feature",
            "api",
            "--feature",
            "sso",
        ],
    )
}

/// `license inspect FILE ARGS --output json`, parsed.
fn inspect_json(file: &Path, args: &[&str]) -> (i32, serde_json::Value) {
    let file = path_arg(file);
    let mut argv = vec!["license", "inspect", &file, "--output", "json"];
    argv.extend_from_slice(args);
    let (code, stdout, stderr) = run(&argv);
    let json = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}{stderr}"));
    (code, json)
}

fn fingerprint_of(public_key: &Path) -> String {
    keys::fingerprint(&keys::read_public_key(public_key).unwrap())
}

/// The signed line's (payload, signature) parts.
fn signed_parts(license: &Path) -> (String, String) {
    let text = std::fs::read_to_string(license).unwrap();
    let line = text.lines().find(|l| l.starts_with("ISPM1.")).unwrap();
    let parts: Vec<&str> = line.split('.').collect();
    assert_eq!(parts.len(), 3, "{line}");
    (parts[1].to_string(), parts[2].to_string())
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

#[test]
fn an_issued_license_verifies_with_the_public_key_it_was_signed_for() {
    let dir = tempfile::tempdir().unwrap();
    let license = professional(dir.path());
    let (code, stdout, stderr) = run(&[
        "license",
        "inspect",
        &path_arg(&license),
        "--public-key",
        &test_public_key(),
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let fingerprint = fingerprint_of(&fixture("test_public_key.pem"));
    for expected in [
        "Signature:    verified with the key file",
        &fingerprint,
        "State:        valid",
        "License id:   LIC-CLI-TEST-1",
        "Customer:     Example ISP",
        "Plan:         professional",
        "Max routers:  100",
        "Max servers:  100",
        "Max users:    unlimited",
        "Features:     api, sso",
        "Valid from:",
        "Valid until:",
        "Days left:    365.0",
    ] {
        assert!(stdout.contains(expected), "lacks {expected:?}:\n{stdout}");
    }
    assert!(!stdout.contains("UNVERIFIED"), "{stdout}");

    let (code, json) = inspect_json(&license, &["--public-key", &test_public_key()]);
    assert_eq!(code, 0, "{json}");
    assert_eq!(json["verified"], true);
    assert_eq!(json["state"], "valid");
    assert_eq!(json["key_fingerprint"], fingerprint.as_str());
    assert_eq!(json["payload"]["license_id"], "LIC-CLI-TEST-1");
    assert_eq!(json["payload"]["max_routers"], 100);
    assert!(json["payload"]["max_users"].is_null(), "{json}");
    assert!(
        json["error"].is_null() && json["claimed_payload"].is_null(),
        "{json}"
    );
    let days = json["days_left"].as_f64().unwrap();
    assert!((364.9..=365.0).contains(&days), "{days}");
}

#[test]
fn the_test_key_is_not_trusted_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let license = professional(dir.path());
    let (code, stdout, _) = run(&["license", "inspect", &path_arg(&license)]);
    assert_eq!(code, 1, "{stdout}");
    assert!(stdout.contains("DOES NOT VERIFY"), "{stdout}");
    assert!(stdout.contains("does not verify"), "{stdout}");
    assert!(stdout.contains("(built-in key)"), "{stdout}");
    // What it claims is still shown, marked.
    assert!(
        stdout.contains("UNVERIFIED Customer: Example ISP"),
        "{stdout}"
    );
    assert!(!stdout.contains("State:        valid"), "{stdout}");

    let (code, json) = inspect_json(&license, &[]);
    assert_eq!(code, 1);
    assert_eq!(json["verified"], false);
    assert_eq!(json["state"], "invalid");
    assert!(json["payload"].is_null(), "{json}");
    assert!(json["key_fingerprint"].is_null(), "{json}");
    assert_eq!(json["claimed_payload"]["license_id"], "LIC-CLI-TEST-1");
    assert_eq!(json["trusted_keys"].as_array().unwrap().len(), 1, "{json}");
}

#[test]
fn a_tampered_payload_does_not_verify() {
    let dir = tempfile::tempdir().unwrap();
    let license = professional(dir.path());
    let (payload, signature) = signed_parts(&license);

    // One byte of the base64 payload changed.
    let mut bytes = payload.clone().into_bytes();
    let i = bytes.len() / 2;
    bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
    let edited = String::from_utf8(bytes).unwrap();
    let one_byte = dir.path().join("one_byte.lic");
    std::fs::write(&one_byte, format!("ISPM1.{edited}.{signature}\n")).unwrap();

    // The JSON decoded, a limit raised, encoded again.
    let json = String::from_utf8(BASE64URL_NOPAD.decode(payload.as_bytes()).unwrap()).unwrap();
    let raised = json.replace("\"max_routers\":100", "\"max_routers\":100000");
    assert_ne!(raised, json);
    let reencoded = dir.path().join("reencoded.lic");
    let forged = BASE64URL_NOPAD.encode(raised.as_bytes());
    std::fs::write(&reencoded, format!("ISPM1.{forged}.{signature}\n")).unwrap();

    for file in [&one_byte, &reencoded] {
        let (code, stdout, _) = run(&[
            "license",
            "inspect",
            &path_arg(file),
            "--public-key",
            &test_public_key(),
        ]);
        assert_eq!(code, 1, "{file:?}: {stdout}");
        assert!(stdout.contains("does not verify"), "{file:?}: {stdout}");
    }
    let (_, stdout, _) = run(&[
        "license",
        "inspect",
        &path_arg(&reencoded),
        "--public-key",
        &test_public_key(),
    ]);
    assert!(
        stdout.contains("UNVERIFIED Max routers: 100000"),
        "{stdout}"
    );
}

#[test]
fn a_license_from_another_key_verifies_only_with_that_key() {
    let dir = tempfile::tempdir().unwrap();
    let private = path_arg(&dir.path().join("other.pem"));
    let public = path_arg(&dir.path().join("other.pub"));
    let (code, keygen_out, stderr) = run(&[
        "license",
        "keygen",
        "--private-key",
        &private,
        "--public-key",
        &public,
    ]);
    assert_eq!(code, 0, "{keygen_out}{stderr}");
    let license = issue(
        dir.path(),
        "other.lic",
        &private,
        &["--plan", "enterprise", "--customer", "Other ISP"],
    );

    let (code, json) = inspect_json(&license, &["--public-key", &test_public_key()]);
    assert_eq!(code, 1, "{json}");
    assert!(
        json["error"].as_str().unwrap().contains("does not verify"),
        "{json}"
    );

    let (code, json) = inspect_json(&license, &["--public-key", &public]);
    assert_eq!(code, 0, "{json}");
    let fingerprint = json["key_fingerprint"].as_str().unwrap().to_string();
    assert_eq!(fingerprint, fingerprint_of(Path::new(&public)));
    assert!(
        keygen_out.contains(&format!("fingerprint: {fingerprint}")),
        "{keygen_out}"
    );
    assert_eq!(json["key_origin"], format!("key file {public}"));
    assert!(json["payload"]["max_routers"].is_null(), "{json}");
}

#[test]
fn the_config_key_is_trusted_with_config() {
    let dir = tempfile::tempdir().unwrap();
    let license = professional(dir.path());
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        format!("license:\n  public_key_file: {}\n", test_public_key()),
    )
    .unwrap();
    let (code, json) = inspect_json(&license, &["--config", &path_arg(&config)]);
    assert_eq!(code, 0, "{json}");
    assert_eq!(
        json["key_origin"],
        format!("key file {}", test_public_key())
    );
    // A config that cannot load is an error naming it, not a silent fallback.
    std::fs::write(&config, "license:\n  public_key_file: missing.pem\n").unwrap();
    let (code, json) = inspect_json(&license, &["--config", &path_arg(&config)]);
    assert_eq!(code, 1, "{json}");
    let error = json["error"].as_str().unwrap();
    assert!(
        error.contains("--config") && error.contains("missing.pem"),
        "{error}"
    );
}

#[test]
fn an_expired_license_verifies_but_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    let license = issue(
        dir.path(),
        "expired.lic",
        &test_key(),
        &[
            "--plan",
            "starter",
            "--customer",
            "Late ISP",
            "--issued-at",
            "2020-01-01T00:00:00Z",
            "--expires-at",
            "2021-01-01T00:00:00Z",
        ],
    );
    let (code, stdout, _) = run(&[
        "license",
        "inspect",
        &path_arg(&license),
        "--public-key",
        &test_public_key(),
    ]);
    assert_eq!(code, 3, "{stdout}");
    assert!(stdout.contains("State:        expired"), "{stdout}");
    assert!(
        stdout.contains("expired on 2021-01-01T00:00:00Z"),
        "{stdout}"
    );
    assert!(stdout.contains("Days left:    none (expired"), "{stdout}");
    let (code, json) = inspect_json(&license, &["--public-key", &test_public_key()]);
    assert_eq!(code, 3);
    assert_eq!(json["verified"], true);
    assert_eq!(json["state"], "expired");
    assert!(json["days_left"].as_f64().unwrap() < -365.0, "{json}");
}

#[test]
fn a_license_issued_for_tomorrow_is_not_yet_valid() {
    let dir = tempfile::tempdir().unwrap();
    let tomorrow = rfc3339(SystemTime::now() + Duration::from_secs(86_400));
    let license = issue(
        dir.path(),
        "tomorrow.lic",
        &test_key(),
        &[
            "--plan",
            "starter",
            "--customer",
            "Early ISP",
            "--issued-at",
            &tomorrow,
            "--valid-for",
            "30d",
        ],
    );
    let (code, json) = inspect_json(&license, &["--public-key", &test_public_key()]);
    assert_eq!(code, 3, "{json}");
    assert_eq!(json["verified"], true);
    assert_eq!(json["state"], "not_yet_valid");
    assert_eq!(json["payload"]["issued_at"], tomorrow.as_str());
    let (code, stdout, _) = run(&[
        "license",
        "inspect",
        &path_arg(&license),
        "--public-key",
        &test_public_key(),
    ]);
    assert_eq!(code, 3);
    assert!(stdout.contains("is not valid before"), "{stdout}");
}

#[test]
fn keygen_writes_a_private_key_for_the_owner_only_and_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let private = dir.path().join("vendor.pem");
    let public = dir.path().join("vendor.pub");
    let (code, stdout, stderr) = run(&[
        "license",
        "keygen",
        "--private-key",
        &path_arg(&private),
        "--public-key",
        &path_arg(&public),
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let mode = std::fs::metadata(&private).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{mode:o}");
    let private_pem = std::fs::read_to_string(&private).unwrap();
    assert!(private_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
    let body = private_pem.lines().nth(1).unwrap();
    assert!(body.len() > 40, "{body}");
    let output = format!("{stdout}{stderr}");
    assert!(!output.contains(body), "the private key was printed");
    assert!(!output.contains("BEGIN PRIVATE KEY"), "{output}");
    assert!(stdout.contains(&fingerprint_of(&public)), "{stdout}");

    // Again onto the same private key: refused, nothing changed, no public key created.
    let other_public = dir.path().join("other.pub");
    let (code, stdout, stderr) = run(&[
        "license",
        "keygen",
        "--private-key",
        &path_arg(&private),
        "--public-key",
        &path_arg(&other_public),
    ]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        stderr.contains("--private-key") && stderr.contains("refusing to overwrite"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_to_string(&private).unwrap(), private_pem);
    assert!(!other_public.exists());
    // An existing public key is refused before the private key is written.
    let new_private = dir.path().join("new.pem");
    let (code, _, stderr) = run(&[
        "license",
        "keygen",
        "--private-key",
        &path_arg(&new_private),
        "--public-key",
        &path_arg(&public),
    ]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("--public-key"), "{stderr}");
    assert!(!new_private.exists());
}

#[test]
fn openssl_generated_keys_sign_licenses() {
    let dir = tempfile::tempdir().unwrap();
    let private = dir.path().join("openssl.pem");
    let public = dir.path().join("openssl.pub");
    for args in [
        vec![
            "genpkey",
            "-algorithm",
            "ed25519",
            "-out",
            &path_arg(&private),
        ],
        vec![
            "pkey",
            "-in",
            &path_arg(&private),
            "-pubout",
            "-out",
            &path_arg(&public),
        ],
    ] {
        let out = Command::new("openssl").args(&args).output().unwrap();
        assert!(out.status.success(), "openssl {args:?}: {out:?}");
    }
    let license = issue(
        dir.path(),
        "openssl.lic",
        &path_arg(&private),
        &["--plan", "starter", "--customer", "OpenSSL ISP"],
    );
    let (code, json) = inspect_json(&license, &["--public-key", &path_arg(&public)]);
    assert_eq!(code, 0, "{json}");
    assert_eq!(json["key_fingerprint"], fingerprint_of(&public).as_str());
    assert_eq!(json["payload"]["max_routers"], 10);
}

#[test]
fn issue_names_the_flag_or_file_that_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let base = ["license", "issue", "--customer", "X", "--signing-key"];
    let cases: [(&[&str], &str); 4] = [
        (&["--plan", "gold"], "--plan"),
        (&["--plan", "starter", "--issued-at", "soon"], "--issued-at"),
        (
            &[
                "--plan",
                "starter",
                "--issued-at",
                "2026-06-01T00:00:00Z",
                "--expires-at",
                "2026-01-01T00:00:00Z",
            ],
            "--expires-at",
        ),
        (
            &["--plan", "starter", "--max-routers", "many"],
            "--max-routers",
        ),
    ];
    let key = test_key();
    for (extra, flag) in cases {
        let mut argv = base.to_vec();
        argv.push(&key);
        argv.extend_from_slice(extra);
        let (code, stdout, stderr) = run(&argv);
        assert_ne!(code, 0, "{extra:?}");
        assert!(stdout.is_empty(), "{extra:?}: {stdout}");
        assert!(stderr.contains(flag), "{extra:?}: {stderr}");
    }
    // A public key is not a signing key: the file is named, its content is not quoted.
    let public = test_public_key();
    let mut argv = base.to_vec();
    argv.extend_from_slice(&[&public, "--plan", "starter"]);
    let (code, stdout, stderr) = run(&argv);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        stderr.contains("--signing-key") && stderr.contains("test_public_key.pem"),
        "{stderr}"
    );
    let key_body = std::fs::read_to_string(fixture("test_public_key.pem")).unwrap();
    assert!(
        !stderr.contains(key_body.lines().nth(1).unwrap()),
        "{stderr}"
    );
    assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none());
}

#[test]
fn help_shows_exit_codes_and_no_key_material() {
    let private_pem = std::fs::read_to_string(fixture("test_signing_key.pem")).unwrap();
    let private_body = private_pem.lines().nth(1).unwrap();
    for path in [
        &["license"][..],
        &["license", "keygen"],
        &["license", "issue"],
        &["license", "inspect"],
    ] {
        let mut argv = path.to_vec();
        argv.push("--help");
        let out = Command::new(binary())
            .args(&argv)
            // A key in the environment must not leak into --help either.
            .env("ISPMONITOR_CONFIG", fixture("test_signing_key.pem"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{argv:?}");
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(help.contains("Usage"), "{argv:?}: {help}");
        assert!(!help.contains(private_body), "{argv:?} shows the key");
        assert!(!help.contains("BEGIN"), "{argv:?}: {help}");
    }
    let (_, help, _) = run(&["license", "inspect", "--help"]);
    for expected in [
        "Exit status",
        "0  the signature verifies",
        "3  the signature verifies, but",
    ] {
        assert!(help.contains(expected), "lacks {expected:?}:\n{help}");
    }
}

#[test]
fn inspect_of_a_missing_file_exits_1_naming_it() {
    let (code, stdout, _) = run(&["license", "inspect", "/nonexistent/license.lic"]);
    assert_eq!(code, 1, "{stdout}");
    assert!(
        stdout.contains("cannot read /nonexistent/license.lic"),
        "{stdout}"
    );
}
