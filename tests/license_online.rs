//! Online license validation end to end: the real binary, the real PostgreSQL and a local
//! license server whose answers the tests switch (valid, revoked, broken, hanging, down), with
//! second-scale intervals so grace running out takes seconds.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use common::api::{self, Api};
use common::http::Response;
use common::ispmonitor::{binary, sample_value, Ispmonitor};
use common::license_server::{LicenseServer, Reply};
use common::postgres::TestDb;
use ispmonitor::license::document::{sign, LicensePayload};
use ispmonitor::license::keys::read_signing_key;
use serde_json::{json, Value};

/// The password in `license.server_url`: it must never show up in any output.
const SECRET: &str = "s3cret";
const USER: &str = "lic-user";
/// The professional plan's router limit, and the starter plan's.
const LICENSED_ROUTERS: u64 = 100;
const STARTER_ROUTERS: usize = 10;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/license")
        .join(name)
}

/// A professional license valid from yesterday for a year, signed with the test key.
fn license_text(license_id: &str) -> String {
    let now = SystemTime::now();
    let day = Duration::from_secs(24 * 3600);
    let payload = LicensePayload {
        license_id: license_id.into(),
        customer: "Example ISP".into(),
        plan: "professional".into(),
        max_routers: Some(LICENSED_ROUTERS),
        max_servers: Some(100),
        max_users: Some(25),
        features: vec![],
        issued_at: humantime::format_rfc3339_seconds(now - day).to_string(),
        expires_at: humantime::format_rfc3339_seconds(now + 365 * day).to_string(),
    };
    let key = read_signing_key(&fixture("test_signing_key.pem")).expect("the test signing key");
    sign(&payload, &key).expect("the payload signs")
}

/// The `license:` section's online settings and where the license comes from.
struct Online {
    grace_period: &'static str,
    /// `license.file` (otherwise the license is installed through the API).
    file: Option<PathBuf>,
}

const SHORT_GRACE: Online = Online {
    grace_period: "3s",
    file: None,
};

/// A config with one file credential for API routers and the given `license:` section.
fn config_yaml(server_url: &str, online: &Online) -> String {
    let file = online
        .file
        .as_ref()
        .map(|f| format!("  file: {}\n", f.display()))
        .unwrap_or_default();
    format!(
        "global:\n  interval: 1s\n  timeout: 500ms\n\
         credentials:\n  file_v2c:\n    type: snmp\n    version: 2c\n    community: public\n\
         targets: []\n\
         license:\n  public_key_file: {key}\n  server_url: {server_url}\n\
         \x20 validation_interval: 1s\n  grace_period: {grace}\n  validation_timeout: 1s\n{file}",
        key = fixture("test_public_key.pem").display(),
        grace = online.grace_period,
    )
}

/// A database, a license server and one `ispmonitor serve` (more on demand) with an admin token.
struct Env {
    licenses: LicenseServer,
    db: TestDb,
    _dir: tempfile::TempDir,
    config: PathBuf,
    admin_token: String,
}

impl Env {
    fn new(online: &Online) -> Env {
        let licenses = LicenseServer::start();
        let db = TestDb::new();
        api::migrate(&db.url());
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("ispmonitor.yaml");
        let url = licenses.url_with_credentials(USER, SECRET);
        std::fs::write(&config, config_yaml(&url, online)).expect("write the config");
        let admin_token = api::create_token(&db.url(), "admin", "license-admin");
        Env {
            licenses,
            db,
            _dir: dir,
            config,
            admin_token,
        }
    }

    /// One more `ispmonitor serve` on this database, on its own ports.
    fn serve(&self) -> Process {
        let url = self.db.url();
        let process = Ispmonitor::start_with_env(
            &self.config,
            &[],
            &[
                ("ISPMONITOR_DATABASE_URL", &url),
                ("ISPMONITOR_SECRET_KEY", api::SECRET_KEY),
            ],
        );
        Process {
            api: Api::new(&process.api_addr, Some(&self.admin_token)),
            process,
        }
    }

    /// The `license_state` row's columns, `|`-separated.
    fn row(&self, columns: &str) -> String {
        self.db
            .psql(&format!("SELECT {columns} FROM license_state WHERE id = 1"))
    }
}

/// A running `ispmonitor serve` and an admin client for its API.
struct Process {
    process: Ispmonitor,
    api: Api,
}

impl Process {
    /// `GET /api/v1/license`, checked for the secret.
    fn license(&self) -> Value {
        let r = self.api.get("/api/v1/license");
        expect(&r, 200);
        assert_no_secret("GET /api/v1/license", &r.text());
        r.json()
    }

    /// Polls `GET /api/v1/license` until `pred` holds; panics with the last answer.
    fn wait_license(&self, what: &str, timeout: Duration, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let view = self.license();
            if pred(&view) {
                return view;
            }
            assert!(
                Instant::now() < deadline,
                "no {what} within {timeout:?}; last GET /api/v1/license: {view:#}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn wait_state(&self, state: &str, timeout: Duration) -> Value {
        self.wait_license(&format!("state {state}"), timeout, |v| v["state"] == state)
    }

    /// `/metrics`, checked for the secret.
    fn metrics(&self) -> String {
        let text = self.process.metrics();
        assert_no_secret("/metrics", &text);
        text
    }

    fn metric(&self, series: &str) -> Option<f64> {
        sample_value(&self.metrics(), series)
    }

    fn wait_metric(&self, series: &str, timeout: Duration, pred: impl Fn(f64) -> bool) -> f64 {
        let text = self.process.wait_for_metrics(series, timeout, |m| {
            sample_value(m, series).is_some_and(&pred)
        });
        assert_no_secret("/metrics", &text);
        sample_value(&text, series).expect("the series, as just waited for")
    }

    fn install(&self, text: &str) -> Response {
        self.api.put("/api/v1/license", &json!({ "license": text }))
    }

    fn create_router(&self, name: &str) -> Response {
        let body = json!({"name": name, "address": "127.0.0.1:9", "credential": "file_v2c",
            "modules": ["system"]});
        self.api.post("/api/v1/routers", &body)
    }

    /// Creates routers `r1..=rN`, which the license allows.
    fn create_routers(&self, n: usize) {
        for i in 1..=n {
            expect(&self.create_router(&format!("r{i}")), 201);
        }
    }

    /// Stops the process and checks its whole log for the secret.
    fn stop(self) -> String {
        let logs = self.process.stop_and_logs();
        assert_no_secret("the log", &logs);
        logs
    }
}

fn expect(r: &Response, status: u16) {
    assert_eq!(r.status, status, "{}", r.text());
}

/// The URL's password, in clear or as the Basic credentials reqwest sends.
fn assert_no_secret(place: &str, text: &str) {
    let basic = data_encoding::BASE64.encode(format!("{USER}:{SECRET}").as_bytes());
    for secret in [SECRET, basic.as_str()] {
        assert!(
            !text.contains(secret),
            "{secret:?} appears in {place}:\n{text}"
        );
    }
}

/// The sum of every sample of `family` whose labels contain `labels`.
fn sum_of(exposition: &str, family: &str, labels: &str) -> f64 {
    exposition
        .lines()
        .filter(|l| l.starts_with(&format!("{family}{{")) && l.contains(labels))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs_f64()
}

const SUCCESSES: &str = "ispmonitor_license_validations_total{result=\"success\"}";

#[test]
fn a_license_installed_through_the_api_is_validated_online() {
    let env = Env::new(&SHORT_GRACE);
    let server = env.serve();
    expect(&server.install(&license_text("lic-valid")), 200);

    // The PUT asked first, with the license's identity and the URL's credentials as Basic auth.
    let asked = env
        .licenses
        .wait_for("lic-valid", 1, Duration::from_secs(5));
    assert_eq!(asked.body["customer"], "Example ISP", "{}", asked.body);
    assert_eq!(asked.body["plan"], "professional", "{}", asked.body);
    assert_eq!(asked.body["product"], "ispmonitor", "{}", asked.body);
    let basic = data_encoding::BASE64.encode(format!("{USER}:{SECRET}").as_bytes());
    assert_eq!(asked.authorization, Some(format!("Basic {basic}")));

    let view = server.wait_license("a successful validation", Duration::from_secs(5), |v| {
        v["validation"]["last_success_at"].is_string()
    });
    assert_eq!(view["state"], "valid", "{view:#}");
    assert_eq!(view["valid"], true);
    assert_eq!(view["license"]["license_id"], "lic-valid");
    assert_eq!(view["limits"]["routers"], LICENSED_ROUTERS);
    let validation = &view["validation"];
    assert_eq!(validation["enabled"], true);
    assert_eq!(validation["failures"], 0);
    assert_eq!(validation["last_error"], Value::Null);
    assert_eq!(
        validation["server"],
        format!("http://127.0.0.1:{}", env.licenses.port())
    );

    // Validation goes on every interval (1 s), counted on /metrics.
    let first = server.wait_metric(SUCCESSES, Duration::from_secs(5), |n| n >= 1.0);
    let later = server.wait_metric(SUCCESSES, Duration::from_secs(5), |n| n >= first + 2.0);
    assert!(env.licenses.count("lic-valid") >= later as usize);
    let last_ok = server
        .metric("ispmonitor_license_last_validation_success_timestamp_seconds")
        .expect("the last success's timestamp");
    assert!((unix_now() - last_ok).abs() < 5.0, "{last_ok}");
    assert_eq!(server.metric("ispmonitor_license_valid"), Some(1.0));
    assert_eq!(
        server.metric("ispmonitor_license_validations_total{result=\"failure\"}"),
        Some(0.0)
    );
    assert_eq!(
        env.row("license_id, source, last_validation_ok_at > now() - interval '10 seconds', validation_failures"),
        "lic-valid|api|t|0"
    );
    server.stop();
}

#[test]
fn a_license_file_is_stored_and_validated_online() {
    let licenses_dir = tempfile::tempdir().expect("tempdir");
    let file = licenses_dir.path().join("ispmonitor.lic");
    let text = format!("# for Example ISP\n{}\n", license_text("lic-file"));
    std::fs::write(&file, text).expect("write the license file");
    let env = Env::new(&Online {
        file: Some(file),
        ..SHORT_GRACE
    });
    let server = env.serve();

    let asked = env.licenses.wait_for("lic-file", 1, Duration::from_secs(5));
    assert_eq!(asked.body["license_id"], "lic-file");
    let view = server.wait_license("a successful validation", Duration::from_secs(5), |v| {
        v["validation"]["last_success_at"].is_string()
    });
    assert_eq!(view["state"], "valid", "{view:#}");
    assert_eq!(view["source"], "file");
    assert_eq!(
        env.row("license_id, source, last_validation_ok_at IS NOT NULL"),
        "lic-file|file|t"
    );
    // The file is the license: the API cannot replace it.
    expect(&server.install(&license_text("lic-other")), 409);
    server.stop();
}

#[test]
fn a_revoked_license_falls_back_to_starter_limits_until_the_server_says_valid_again() {
    let env = Env::new(&SHORT_GRACE);
    let server = env.serve();
    expect(&server.install(&license_text("lic-rev")), 200);
    server.create_routers(STARTER_ROUTERS);

    env.licenses.answer("lic-rev", Reply::Revoked);
    let revoked = server.wait_state("revoked", Duration::from_secs(4));
    assert_eq!(revoked["valid"], false);
    assert_eq!(revoked["limits_plan"], "starter");
    assert_eq!(revoked["limits"]["routers"], STARTER_ROUTERS);
    assert_eq!(revoked["license"]["license_id"], "lic-rev");
    assert!(
        revoked["validation"]["revoked_at"].is_string(),
        "{revoked:#}"
    );
    let metrics = server.metrics();
    assert_eq!(
        sample_value(&metrics, "ispmonitor_license_valid"),
        Some(0.0)
    );
    assert_eq!(
        sample_value(&metrics, "ispmonitor_license_state{state=\"revoked\"}"),
        Some(1.0)
    );
    assert_eq!(
        sample_value(&metrics, "ispmonitor_license_router_limit"),
        Some(STARTER_ROUTERS as f64)
    );
    assert!(
        sample_value(
            &metrics,
            "ispmonitor_license_validations_total{result=\"revoked\"}"
        ) >= Some(1.0)
    );

    // An 11th router is refused, naming the state and the starter limit.
    let refused = server.create_router("r11");
    expect(&refused, 403);
    let error = &refused.json()["error"];
    assert_eq!(error["code"], "license_limit_exceeded");
    let message = error["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("revoked") && message.contains("10 routers"),
        "{message}"
    );

    // Polling carries on, and so does validation.
    let polls = sum_of(&metrics, "ispmonitor_polls_total", "protocol=\"snmp\"");
    server
        .process
        .wait_for_metrics("more SNMP polls", Duration::from_secs(5), |m| {
            sum_of(m, "ispmonitor_polls_total", "protocol=\"snmp\"")
                >= polls + STARTER_ROUTERS as f64
        });
    let asked = env.licenses.count("lic-rev");
    env.licenses
        .wait_for("lic-rev", asked + 1, Duration::from_secs(4));

    env.licenses.answer("lic-rev", Reply::Valid);
    let back = server.wait_state("valid", Duration::from_secs(4));
    assert_eq!(back["validation"]["revoked_at"], Value::Null);
    assert_eq!(back["limits"]["routers"], LICENSED_ROUTERS);
    expect(&server.create_router("r11"), 201);

    // A license the server revokes is refused at the PUT and changes nothing.
    env.licenses.answer("lic-bad", Reply::Revoked);
    let refused = server.install(&license_text("lic-bad"));
    expect(&refused, 422);
    assert_eq!(refused.json()["error"]["field"], "license");
    assert!(refused.text().contains("revoked"), "{}", refused.text());
    assert_eq!(env.licenses.count("lic-bad"), 1);
    let after = server.license();
    assert_eq!(after["license"]["license_id"], "lic-rev");
    assert_eq!(after["state"], "valid");
    assert_eq!(env.row("license_id, revoked_at IS NULL"), "lic-rev|t");
    server.stop();
}

#[test]
fn grace_runs_out_while_the_server_is_down_and_ends_when_it_is_back() {
    let mut env = Env::new(&SHORT_GRACE);
    let server = env.serve();
    expect(&server.install(&license_text("lic-grace")), 200);
    server.create_routers(STARTER_ROUTERS);
    server.wait_license("a successful validation", Duration::from_secs(5), |v| {
        v["validation"]["last_success_at"].is_string()
    });

    env.licenses.stop();
    let grace = server.wait_state("grace", Duration::from_secs(4));
    assert_eq!(grace["valid"], true);
    assert_eq!(grace["limits"]["routers"], LICENSED_ROUTERS);
    let validation = &grace["validation"];
    assert!(validation["failures"].as_u64() >= Some(1), "{grace:#}");
    assert!(validation["grace_until"].is_string(), "{grace:#}");
    let error = validation["last_error"].as_str().unwrap_or_default();
    assert!(error.contains("connect"), "{error}");
    assert!(
        !error.contains("127.0.0.1"),
        "the URL stays out of errors: {error}"
    );
    let metrics = server.metrics();
    assert_eq!(
        sample_value(&metrics, "ispmonitor_license_valid"),
        Some(1.0)
    );
    let grace_end = sample_value(&metrics, "ispmonitor_license_grace_end_timestamp_seconds")
        .expect("the grace end while in grace");
    assert!(
        grace_end > unix_now() - 1.0 && grace_end < unix_now() + 4.0,
        "{grace_end}"
    );
    // Still the license's limits: an 11th router is fine during grace.
    expect(&server.create_router("r11"), 201);

    // 3 s after the last success the grace period is over.
    let overdue = server.wait_state("validation_overdue", Duration::from_secs(5));
    assert!(
        unix_now() >= grace_end,
        "overdue before the grace period ended"
    );
    assert_eq!(overdue["valid"], false);
    assert_eq!(overdue["limits_plan"], "starter");
    assert!(overdue["message"]
        .as_str()
        .unwrap_or_default()
        .contains("grace period ended"));
    assert_eq!(server.metric("ispmonitor_license_valid"), Some(0.0));
    let refused = server.create_router("r12");
    expect(&refused, 403);
    assert!(
        refused.text().contains("validation_overdue"),
        "{}",
        refused.text()
    );
    assert!(server.metric("ispmonitor_license_validations_total{result=\"failure\"}") >= Some(2.0));

    env.licenses.resume();
    let back = server.wait_state("valid", Duration::from_secs(5));
    assert_eq!(back["validation"]["failures"], 0);
    assert_eq!(back["validation"]["grace_until"], Value::Null);
    assert_eq!(server.metric("ispmonitor_license_valid"), Some(1.0));
    expect(&server.create_router("r12"), 201);
    let logs = server.stop();
    assert!(logs.contains("online license validation failed"), "{logs}");
}

#[test]
fn a_broken_or_hanging_server_is_a_failure_the_grace_period_absorbs() {
    let env = Env::new(&Online {
        grace_period: "1h",
        file: None,
    });
    let server = env.serve();
    expect(&server.install(&license_text("lic-flaky")), 200);

    env.licenses.answer("lic-flaky", Reply::Error);
    let broken = server.wait_license("an HTTP 500 failure", Duration::from_secs(4), |v| {
        v["state"] == "grace"
            && v["validation"]["last_error"]
                .as_str()
                .is_some_and(|e| e.contains("HTTP 500"))
    });
    assert_eq!(broken["valid"], true);

    env.licenses.answer("lic-flaky", Reply::Hang);
    let asked = env.licenses.count("lic-flaky");
    env.licenses
        .wait_for("lic-flaky", asked + 1, Duration::from_secs(4));
    // The API answers while a validation hangs.
    let started = Instant::now();
    server.license();
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
    let hung = server.wait_license("a timeout", Duration::from_secs(4), |v| {
        v["validation"]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("timed out"))
    });
    assert_eq!(hung["state"], "grace");
    let failures = hung["validation"]["failures"].as_u64().unwrap_or_default();
    assert!(failures >= 2, "{hung:#}");
    assert!(server.metric("ispmonitor_license_validations_total{result=\"failure\"}") >= Some(2.0));

    env.licenses.answer("lic-flaky", Reply::Valid);
    let back = server.wait_state("valid", Duration::from_secs(4));
    assert_eq!(back["validation"]["failures"], 0);
    assert_eq!(back["validation"]["last_error"], Value::Null);
    server.stop();
}

#[test]
fn revocation_and_the_last_success_survive_a_restart() {
    let mut env = Env::new(&SHORT_GRACE);
    let first = env.serve();
    expect(&first.install(&license_text("lic-persist")), 200);
    first.wait_license("a successful validation", Duration::from_secs(5), |v| {
        v["validation"]["last_success_at"].is_string()
    });
    env.licenses.answer("lic-persist", Reply::Revoked);
    let before = first.wait_state("revoked", Duration::from_secs(4));
    first.stop();

    // The license server is gone: only the database can say "revoked" now.
    env.licenses.stop();
    let second = env.serve();
    let after = second.license();
    assert_eq!(after["state"], "revoked", "{after:#}");
    assert_eq!(after["license"]["license_id"], "lic-persist");
    for field in ["last_success_at", "revoked_at"] {
        assert!(before["validation"][field].is_string(), "{before:#}");
        assert_eq!(
            after["validation"][field], before["validation"][field],
            "{field}"
        );
    }
    assert_eq!(
        second.metric("ispmonitor_license_state{state=\"revoked\"}"),
        Some(1.0)
    );
    assert!(second
        .metric("ispmonitor_license_last_validation_success_timestamp_seconds")
        .is_some());

    // An unreachable server does not lift a revocation.
    let failing = second.wait_license("a failed validation", Duration::from_secs(4), |v| {
        v["validation"]["failures"].as_u64() >= Some(1)
    });
    assert_eq!(failing["state"], "revoked", "{failing:#}");
    second.stop();
}

#[test]
fn two_api_processes_on_one_database_share_the_license_and_its_validations() {
    let env = Env::new(&SHORT_GRACE);
    let one = env.serve();
    expect(&one.install(&license_text("lic-shared")), 200);
    one.wait_license("a successful validation", Duration::from_secs(5), |v| {
        v["validation"]["last_success_at"].is_string()
    });
    let window = Duration::from_secs(6);
    let alone = requests_during(&env.licenses, "lic-shared", window);

    let two = env.serve();
    let seen = two.wait_license(
        "the license installed on the other process",
        Duration::from_secs(6),
        |v| v["state"] == "valid" && v["license"]["license_id"] == "lic-shared",
    );
    assert!(
        seen["validation"]["last_success_at"].is_string(),
        "{seen:#}"
    );
    let together = requests_during(&env.licenses, "lic-shared", window);
    // Each process alone would validate every interval: twice the requests. Sharing the
    // record through the database keeps it near one process's rate.
    assert!(
        alone >= 2,
        "one process validated {alone} times in {window:?}"
    );
    assert!(
        together <= alone + alone / 2 + 1,
        "two processes validated {together} times in {window:?}, one alone {alone}"
    );
    // A later install on the second process reaches the first.
    expect(&two.install(&license_text("lic-shared-2")), 200);
    one.wait_license(
        "the license installed on the other process",
        Duration::from_secs(6),
        |v| v["license"]["license_id"] == "lic-shared-2",
    );
    one.stop();
    two.stop();
}

/// How many validation requests about `license_id` arrive during `window`.
fn requests_during(licenses: &LicenseServer, license_id: &str, window: Duration) -> usize {
    let before = licenses.count(license_id);
    std::thread::sleep(window);
    licenses.count(license_id) - before
}

#[test]
fn check_config_names_a_license_server_url_that_is_not_http() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("bad.yaml");
    let online = Online {
        grace_period: "3s",
        file: None,
    };
    let url = format!("ftp://{USER}:{SECRET}@licenses.example.com");
    std::fs::write(&config, config_yaml(&url, &online)).expect("write the config");
    let out = Command::new(binary())
        .args(["check-config", "--config"])
        .arg(&config)
        .output()
        .expect("run ispmonitor check-config");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert!(stderr.contains("license.server_url"), "{stderr}");
    assert_no_secret("check-config's output", &format!("{stdout}{stderr}"));
}
