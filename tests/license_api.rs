//! Licensing end to end, against the real binary and PostgreSQL: the unlicensed starter limits,
//! installing a license through the API (refused texts change nothing), the limits enforced on
//! every write path (routers, servers, imports, tokens; concurrent creates included), the state
//! surviving a restart, `license.file` (database and memory), expiry, and polling that never
//! stops because of a license.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use common::api::{self, Api};
use common::http::{self, Response};
use common::ispmonitor::{free_tcp_port, sample_value, Ispmonitor};
use common::license::{self as lic, DAY, SELF_PING};
use common::postgres::TestDb;
use serde_json::{json, Value};

const TEN_SECONDS: Duration = Duration::from_secs(10);
/// Shorter than the license service's 5 s refresh: what shows by then came from the reload.
const RELOADED: Duration = Duration::from_secs(3);

/// A running `serve` on a fresh database, with its config and one token per role (three live
/// tokens: three users).
struct Env {
    db: TestDb,
    /// Holds the config file (and a license file) until the test ends.
    _dir: tempfile::TempDir,
    config: PathBuf,
    server: Ispmonitor,
    admin: Api,
    operator: Api,
    viewer: Api,
}

impl Env {
    /// Trusting the fixture key, with `targets` (YAML list items) next to the self-ping target.
    fn start(targets: &str) -> Env {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = lic::write_config(dir.path(), &lic::license_section(None), targets);
        Env::start_with(dir, config)
    }

    fn start_with(dir: tempfile::TempDir, config: PathBuf) -> Env {
        let db = TestDb::new();
        let server = serve(&config, &db);
        let url = db.url();
        let token = |role: &str| api::create_token(&url, role, &format!("{role}-token"));
        let (admin, operator, viewer) = (token("admin"), token("operator"), token("viewer"));
        Env {
            admin: Api::new(&server.api_addr, Some(&admin)),
            operator: Api::new(&server.api_addr, Some(&operator)),
            viewer: Api::new(&server.api_addr, Some(&viewer)),
            db,
            _dir: dir,
            config,
            server,
        }
    }

    /// `GET /api/v1/license` as the viewer.
    fn license(&self) -> Value {
        let r = self.viewer.get("/api/v1/license");
        self.check_answer(&r, 200);
        r.json()
    }

    /// `PUT /api/v1/license` as the admin.
    fn install(&self, text: &str) -> Response {
        let r = self
            .admin
            .put("/api/v1/license", &json!({ "license": text }));
        self.no_database_url_in(&r);
        r
    }

    fn check_answer(&self, r: &Response, status: u16) {
        assert_eq!(r.status, status, "{}", r.text());
        self.no_database_url_in(r);
    }

    /// The license API never tells the database's address.
    fn no_database_url_in(&self, r: &Response) {
        let text = r.text();
        for secret in [self.db.url().as_str(), self.db.name.as_str(), "postgres://"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
    }

    /// One number from SQL.
    fn count(&self, sql: &str) -> u64 {
        let out = self.db.psql(sql);
        out.parse()
            .unwrap_or_else(|_| panic!("{sql}: not a number: {out}"))
    }

    fn routers_in_database(&self) -> u64 {
        self.count("SELECT count(*) FROM devices WHERE kind = 'router'")
    }

    fn audit_rows(&self, action: &str, kind: &str) -> u64 {
        self.count(&format!(
            "SELECT count(*) FROM audit_log WHERE action = '{action}' AND kind = '{kind}'"
        ))
    }

    fn create_router(&self, name: &str) -> Response {
        self.operator.post("/api/v1/routers", &device(name))
    }

    fn create_routers(&self, names: impl IntoIterator<Item = String>) {
        for name in names {
            let r = self.create_router(&name);
            assert_eq!(r.status, 201, "{name}: {}", r.text());
        }
    }

    fn import(&self, query: &str, body: (&str, &[u8])) -> Response {
        let path = format!("/api/v1/inventory/import{query}");
        self.operator.request("POST", &path, body)
    }

    /// Waits until the license view satisfies `check` and returns it.
    fn wait_for_license(
        &self,
        what: &str,
        within: Duration,
        check: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let view = self.license();
            if check(&view) {
                return view;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {view}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// `serve --migrate` on `db`, with the secret key.
fn serve(config: &Path, db: &TestDb) -> Ispmonitor {
    serve_with(config, db, &[])
}

fn serve_with(config: &Path, db: &TestDb, extra: &[&str]) -> Ispmonitor {
    let args: Vec<&str> = ["--migrate"].iter().chain(extra).copied().collect();
    Ispmonitor::start_with_env(
        config,
        &args,
        &[
            ("ISPMONITOR_DATABASE_URL", &db.url()),
            ("ISPMONITOR_SECRET_KEY", api::SECRET_KEY),
        ],
    )
}

/// POSTs `body` until the API accepts the connection (it may not listen yet) and returns the
/// first answer.
fn first_answer(api: &Api, path: &str, body: &Value) -> Response {
    let deadline = Instant::now() + TEN_SECONDS * 2;
    let auth = format!("Bearer {}", api.token.as_deref().unwrap_or_default());
    let text = body.to_string();
    let request = http::Req {
        method: "POST",
        path,
        headers: &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        body: text.as_bytes(),
    };
    loop {
        match http::send(&api.addr, &request) {
            Ok(answer) => return answer,
            Err(e) => assert!(
                Instant::now() < deadline,
                "{} never answered: {e}",
                api.addr
            ),
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// A router or server body polled by ICMP on loopback (no credential needed).
fn device(name: &str) -> Value {
    json!({"name": name, "address": "127.0.0.1", "modules": ["ping"], "labels": {"site": "lab"}})
}

fn names(prefix: &str, range: std::ops::RangeInclusive<u32>) -> impl Iterator<Item = String> {
    let prefix = prefix.to_string();
    range.map(move |i| format!("{prefix}{i:02}"))
}

/// A 403 for a license limit whose message contains every one of `words`.
fn assert_limit_refusal(r: &Response, words: &[&str]) {
    assert_eq!(r.status, 403, "{}", r.text());
    let error = &r.json()["error"];
    assert_eq!(error["code"], "license_limit_exceeded", "{error}");
    let message = error["message"].as_str().expect("a message");
    for word in words {
        assert!(message.contains(word), "{word:?} missing from {message}");
    }
}

/// A 422 on `field` whose message contains `words`.
fn assert_refused_field(r: &Response, field: &str, words: &str) {
    assert_eq!(r.status, 422, "{}", r.text());
    let error = &r.json()["error"];
    assert_eq!(error["field"], field, "{error}");
    let message = error["message"].as_str().expect("a message");
    assert!(message.contains(words), "{words:?} missing from {message}");
}

/// A license view without the field that moves with the clock.
fn without_clock(mut view: Value) -> Value {
    view.as_object_mut().unwrap().remove("days_until_expiry");
    view
}

fn metric(metrics: &str, series: &str) -> Option<f64> {
    sample_value(metrics, series)
}

fn state_is(metrics: &str, state: &str) -> bool {
    metric(
        metrics,
        &format!("ispmonitor_license_state{{state=\"{state}\"}}"),
    ) == Some(1.0)
}

fn successful_icmp_polls(server: &Ispmonitor) -> f64 {
    metric(
        &server.metrics(),
        "ispmonitor_polls_total{protocol=\"icmp\",result=\"success\"}",
    )
    .unwrap_or(0.0)
}

/// The YAML self-ping target is up and keeps being polled (its success count grows).
fn assert_polling_continues(server: &Ispmonitor) {
    let before = successful_icmp_polls(server);
    let metrics = server.wait_for_metrics("more ICMP polls", Duration::from_secs(10), |m| {
        metric(
            m,
            "ispmonitor_polls_total{protocol=\"icmp\",result=\"success\"}",
        )
        .unwrap_or(0.0)
            >= before + 2.0
    });
    let up = format!("ispmonitor_target_up{{target=\"{SELF_PING}\",protocol=\"icmp\"}}");
    assert_eq!(metric(&metrics, &up), Some(1.0), "{metrics}");
}

#[test]
fn unlicensed_starter_limits_apply_to_the_api_inventory_and_not_to_the_yaml_file() {
    let yaml_routers: String = names("yaml-r", 1..=12)
        .map(|n| {
            format!("  - {{name: {n}, address: \"127.0.0.1\", kind: router, modules: [ping]}}\n")
        })
        .collect();
    let env = Env::start(&yaml_routers);

    // The tokens were created by the CLI after the start: counted on the next refresh (5 s).
    let view = env.wait_for_license("three users counted", TEN_SECONDS, |v| {
        v["usage"]["users"] == 3
    });
    assert_eq!(view["state"], "unlicensed");
    assert_eq!(view["valid"], false);
    assert_eq!(view["source"], Value::Null);
    assert_eq!(view["license"], Value::Null);
    assert_eq!(view["limits_plan"], "starter");
    assert_eq!(
        view["limits"],
        json!({"routers": 10, "servers": 10, "users": 5})
    );
    assert_eq!(
        view["usage"],
        json!({"routers": 0, "servers": 0, "users": 3})
    );
    assert_eq!(view["validation"]["enabled"], false);
    let metrics = env.server.metrics();
    assert_eq!(metric(&metrics, "ispmonitor_license_valid"), Some(0.0));
    assert!(state_is(&metrics, "unlicensed"), "{metrics}");
    assert_eq!(
        metric(&metrics, "ispmonitor_license_router_limit"),
        Some(10.0)
    );
    assert_eq!(
        metric(&metrics, "ispmonitor_license_routers_used"),
        Some(0.0)
    );

    // Twelve routers in the YAML file, and still room for ten through the API.
    env.create_routers(names("api-r", 1..=10));
    let refused = env.create_router("api-r11");
    assert_limit_refusal(
        &refused,
        &["10 routers", "starter", "unlicensed", "would make 11"],
    );
    env.no_database_url_in(&refused);
    assert_eq!(env.routers_in_database(), 10);
    assert_eq!(env.audit_rows("create", "router"), 10);
    assert_eq!(
        env.count("SELECT count(*) FROM audit_log WHERE target = 'api-r11'"),
        0
    );
    let listed = env.viewer.get("/api/v1/routers?limit=100").json();
    assert_eq!(listed["total"], 22, "{listed}");

    let view = env.wait_for_license("10 routers used", TEN_SECONDS, |v| {
        v["usage"]["routers"] == 10
    });
    assert_eq!(view["state"], "unlicensed");
    env.server
        .wait_for_metrics("10 routers used", Duration::from_secs(10), |m| {
            metric(m, "ispmonitor_license_routers_used") == Some(10.0)
        });
}

#[test]
fn an_installed_license_is_shown_measured_audited_and_its_router_limit_enforced() {
    let env = Env::start("");
    let payload = lic::payload("LIC-PRO-1", "professional", Some(3));
    let r = env.install(&lic::sign(&payload));
    env.check_answer(&r, 200);
    let installed = r.json();
    assert_eq!(installed["state"], "valid");
    assert_eq!(installed["valid"], true);
    assert_eq!(installed["source"], "api");
    assert!(installed["installed_at"].is_string(), "{installed}");

    let view = env.license();
    let facts = &view["license"];
    assert_eq!(facts["license_id"], "LIC-PRO-1");
    assert_eq!(facts["customer"], payload.customer.as_str());
    assert_eq!(facts["plan"], "professional");
    assert_eq!(facts["max_routers"], 3);
    assert_eq!(facts["max_users"], 25);
    assert_eq!(facts["expires_at"], payload.expires_at.as_str());
    assert_eq!(facts["issued_at"], payload.issued_at.as_str());
    assert_eq!(
        facts["key_fingerprint"],
        lic::fixture_fingerprint().as_str()
    );
    assert_eq!(
        view["limits"],
        json!({"routers": 3, "servers": 3, "users": 25})
    );
    assert_eq!(view["limits_plan"], "professional");
    assert_eq!(view["installed_at"], installed["installed_at"]);
    let days = view["days_until_expiry"]
        .as_f64()
        .expect("days until expiry");
    assert!((29.9..=30.0).contains(&days), "{days}");

    let metrics = env.server.metrics();
    assert_eq!(metric(&metrics, "ispmonitor_license_valid"), Some(1.0));
    assert!(state_is(&metrics, "valid") && !state_is(&metrics, "unlicensed"));
    assert_eq!(
        metric(&metrics, "ispmonitor_license_router_limit"),
        Some(3.0)
    );
    let days = metric(&metrics, "ispmonitor_license_days_until_expiry").expect("days metric");
    assert!((29.9..=30.0).contains(&days), "{days}");
    let info = "ispmonitor_license_info{license_id=\"LIC-PRO-1\",plan=\"professional\",customer=\"Example ISP B.V.\"}";
    assert_eq!(metric(&metrics, info), Some(1.0), "{metrics}");

    let audit = env.db.psql(
        "SELECT actor || ' ' || coalesce(target, '') || ' ' || (after->>'plan') \
         FROM audit_log WHERE action = 'install' AND kind = 'license'",
    );
    assert_eq!(audit, "admin-token LIC-PRO-1 professional");
    assert_eq!(
        env.db
            .psql("SELECT license_id || ' ' || source FROM license_state"),
        "LIC-PRO-1 api"
    );

    env.create_routers(names("r", 1..=3));
    let refused = env.create_router("r04");
    assert_limit_refusal(&refused, &["3 routers", "professional", "would make 4"]);
    assert_eq!(env.routers_in_database(), 3);
    assert_eq!(env.audit_rows("create", "router"), 3);
}

#[test]
fn imports_beyond_the_limit_import_nothing_and_upserts_of_existing_routers_pass_at_it() {
    let env = Env::start("");
    let r = env.install(&lic::sign(&lic::payload(
        "LIC-IMP",
        "professional",
        Some(3),
    )));
    env.check_answer(&r, 200);
    env.create_routers(["r01".to_string()]);
    let json_body = |routers: Vec<Value>| json!({ "routers": routers }).to_string();
    let four = json_body(names("r", 1..=4).map(|n| device(&n)).collect());
    let csv = |rows: &[&str]| {
        let mut text = "kind,name,address,modules,labels\n".to_string();
        for name in rows {
            text.push_str(&format!("router,{name},127.0.0.1,ping,site=csv\n"));
        }
        text
    };

    let refusals = [
        (
            "",
            (
                "application/json",
                json_body(vec![device("r02"), device("r03"), device("r04")]),
            ),
        ),
        ("?mode=upsert", ("application/json", four.clone())),
        ("", ("text/csv", csv(&["r02", "r03", "r04"]))),
        (
            "?mode=upsert",
            ("text/csv", csv(&["r01", "r02", "r03", "r04"])),
        ),
    ];
    for (query, (media, body)) in &refusals {
        let r = env.import(query, (*media, body.as_bytes()));
        assert_limit_refusal(&r, &["3 routers", "professional", "would make 4"]);
        assert_eq!(env.routers_in_database(), 1, "{query} {media}");
    }
    let r01 = env.viewer.get("/api/v1/routers/r01").json();
    assert_eq!(
        r01["labels"],
        json!({"site": "lab"}),
        "the refused upsert changed nothing"
    );
    assert_eq!(env.audit_rows("import", "inventory"), 0);

    // Up to the limit, then upserts that only update existing routers, in both formats.
    let r = env.import(
        "?mode=upsert",
        ("text/csv", csv(&["r01", "r02", "r03"]).as_bytes()),
    );
    env.check_answer(&r, 200);
    assert_eq!(r.json()["routers"], json!({"created": 2, "updated": 1}));
    let mut moved: Vec<Value> = names("r", 1..=3).map(|n| device(&n)).collect();
    for router in &mut moved {
        router["labels"] = json!({"site": "moved"});
    }
    let r = env.import(
        "?mode=upsert",
        ("application/json", json_body(moved).as_bytes()),
    );
    env.check_answer(&r, 200);
    assert_eq!(r.json()["routers"], json!({"created": 0, "updated": 3}));
    let r = env.import(
        "?mode=upsert",
        ("text/csv", csv(&["r03", "r01"]).as_bytes()),
    );
    env.check_answer(&r, 200);
    assert_eq!(r.json()["routers"], json!({"created": 0, "updated": 2}));
    assert_eq!(env.routers_in_database(), 3);
    assert_eq!(env.audit_rows("import", "inventory"), 3);
    let r = env.import("", ("text/csv", csv(&["r04"]).as_bytes()));
    assert_limit_refusal(&r, &["3 routers"]);
}

#[test]
fn servers_and_api_tokens_are_limited_but_the_cli_token_command_is_not() {
    let env = Env::start("");
    let mut payload = lic::payload("LIC-SRV", "professional", Some(50));
    payload.max_servers = Some(2);
    payload.max_users = Some(5);
    env.check_answer(&env.install(&lic::sign(&payload)), 200);

    for name in ["s01", "s02"] {
        let r = env.operator.post("/api/v1/servers", &device(name));
        assert_eq!(r.status, 201, "{}", r.text());
    }
    let refused = env.operator.post("/api/v1/servers", &device("s03"));
    assert_limit_refusal(&refused, &["2 servers", "professional", "would make 3"]);
    assert_eq!(
        env.count("SELECT count(*) FROM devices WHERE kind = 'server'"),
        2
    );
    // Routers have their own limit.
    env.create_routers(["r01".to_string()]);

    // Three CLI tokens exist; two more through the API make five.
    let token = |name: &str| json!({"name": name, "role": "viewer"});
    let mut created = Vec::new();
    for name in ["api-1", "api-2"] {
        let r = env.admin.post("/api/v1/tokens", &token(name));
        assert_eq!(r.status, 201, "{}", r.text());
        created.push(r.json()["id"].as_i64().expect("an id"));
    }
    let refused = env.admin.post("/api/v1/tokens", &token("api-3"));
    assert_limit_refusal(&refused, &["5 users", "professional", "would make 6"]);
    assert_eq!(env.count("SELECT count(*) FROM api_tokens"), 5);
    assert_eq!(
        env.count("SELECT count(*) FROM audit_log WHERE target = 'api-3'"),
        0
    );

    // The CLI is the operator's own way in (bootstrap, recovery): it is not limited.
    let extra = api::create_token(&env.db.url(), "viewer", "cli-extra");
    assert!(extra.starts_with("ispm_"), "{extra}");
    assert_eq!(
        env.count("SELECT count(*) FROM api_tokens WHERE revoked_at IS NULL"),
        6
    );
    env.server
        .wait_for_metrics("6 users counted", Duration::from_secs(10), |m| {
            metric(m, "ispmonitor_license_users_used") == Some(6.0)
        });
    assert_limit_refusal(
        &env.admin.post("/api/v1/tokens", &token("api-3")),
        &["5 users", "would make 7"],
    );
    // Revoked tokens do not count.
    for id in created {
        let r = env.admin.delete(&format!("/api/v1/tokens/{id}"));
        assert!(r.status < 300, "{}", r.text());
    }
    let r = env.admin.post("/api/v1/tokens", &token("api-3"));
    assert_eq!(r.status, 201, "{}", r.text());
}

#[test]
fn concurrent_creates_for_the_last_slot_have_exactly_one_winner() {
    let env = Env::start("");
    env.create_routers(names("r", 1..=9));
    let racers: Vec<_> = names("race-", 1..=8)
        .map(|name| {
            let operator = env.operator.clone();
            std::thread::spawn(move || operator.post("/api/v1/routers", &device(&name)))
        })
        .collect();
    let answers: Vec<Response> = racers.into_iter().map(|t| t.join().unwrap()).collect();
    let created = answers.iter().filter(|r| r.status == 201).count();
    let refused: Vec<&Response> = answers.iter().filter(|r| r.status == 403).collect();
    assert_eq!(
        (created, refused.len()),
        (1, 7),
        "{:?}",
        answers.iter().map(Response::text).collect::<Vec<_>>()
    );
    for r in refused {
        assert_limit_refusal(r, &["10 routers", "starter"]);
    }
    assert_eq!(env.routers_in_database(), 10);
    assert_eq!(env.audit_rows("create", "router"), 10);
}

#[test]
fn refused_licenses_change_nothing_and_only_admins_install() {
    let env = Env::start("");
    let good = lic::sign(&lic::payload("LIC-KEEP", "professional", Some(3)));
    env.check_answer(&env.install(&good), 200);
    let before = env.license();

    let now = SystemTime::now();
    let mut expired = lic::payload("LIC-OLD", "enterprise", None);
    expired.issued_at = lic::time(now - 60 * DAY);
    expired.expires_at = lic::time(now - DAY);
    let mut early = lic::payload("LIC-EARLY", "enterprise", None);
    early.issued_at = lic::time(now + DAY);
    early.expires_at = lic::time(now + 60 * DAY);
    let raised = lic::with_payload_edited(&good, |json| {
        let edited = json.replace("\"max_routers\":3,", "\"max_routers\":3000,");
        assert_ne!(edited, json, "the edit applies");
        edited
    });
    let other_key = lic::generated_signing_key();
    let foreign = lic::sign_with(&lic::payload("LIC-FOREIGN", "enterprise", None), &other_key);
    let refusals = [
        (lic::with_payload_byte_changed(&good), "does not verify"),
        (raised, "does not verify"),
        (foreign, "does not verify"),
        (lic::sign(&expired), "expired"),
        (lic::sign(&early), "not valid before"),
        ("hello, license".to_string(), "not an ispmonitor license"),
        ("# only a comment\n".to_string(), "empty"),
    ];
    for (text, why) in &refusals {
        assert_refused_field(&env.install(text), "license", why);
    }
    let unknown = env
        .admin
        .put("/api/v1/license", &json!({"license": good, "force": true}));
    assert_refused_field(&unknown, "force", "");
    let missing = env.admin.put("/api/v1/license", &json!({}));
    assert_refused_field(&missing, "license", "");
    for api in [&env.viewer, &env.operator] {
        let r = api.put("/api/v1/license", &json!({ "license": good }));
        assert_eq!(r.status, 403, "{}", r.text());
        assert_eq!(r.json()["error"]["code"], "forbidden");
    }

    assert_eq!(
        without_clock(env.license()),
        without_clock(before),
        "nothing changed"
    );
    assert_eq!(env.audit_rows("install", "license"), 1);
    assert_eq!(
        env.db
            .psql("SELECT count(*) || ' ' || max(license_id) FROM license_state"),
        "1 LIC-KEEP"
    );
}

#[test]
fn a_license_signed_with_the_test_key_does_not_verify_with_release_trust_only() {
    let dir = tempfile::tempdir().unwrap();
    let config = lic::write_config(dir.path(), "", "");
    let env = Env::start_with(dir, config);
    let text = lic::sign(&lic::payload("LIC-TEST-KEY", "enterprise", None));
    assert_refused_field(&env.install(&text), "license", "does not verify");
    assert_eq!(env.license()["state"], "unlicensed");
    assert_eq!(
        env.count("SELECT count(*) FROM license_state WHERE license IS NOT NULL"),
        0
    );
}

#[test]
fn the_installed_license_and_its_limits_survive_a_restart() {
    let env = Env::start("");
    env.check_answer(
        &env.install(&lic::sign(&lic::payload(
            "LIC-RESTART",
            "professional",
            Some(3),
        ))),
        200,
    );
    env.create_routers(names("r", 1..=3));
    let before = env.license();
    let Env {
        db,
        config,
        server,
        viewer,
        operator,
        ..
    } = env;
    server.stop_and_logs();

    // The first request the restarted API answers is a create beyond the license's limit: it
    // must not find the starter limits of a service that has not read the database yet.
    let api_addr = format!("127.0.0.1:{}", free_tcp_port());
    let first = {
        let operator = Api::new(&api_addr, operator.token.as_deref());
        std::thread::spawn(move || first_answer(&operator, "/api/v1/routers", &device("r04")))
    };
    let server = serve_with(&config, &db, &["--api.listen-address", &api_addr]);
    assert_limit_refusal(&first.join().unwrap(), &["3 routers", "professional"]);
    // Right after start, with no waiting, /metrics knows the license too.
    let metrics = server.metrics();
    assert_eq!(
        metric(&metrics, "ispmonitor_license_valid"),
        Some(1.0),
        "{metrics}"
    );
    assert_eq!(
        metric(&metrics, "ispmonitor_license_router_limit"),
        Some(3.0)
    );
    assert_eq!(
        db.psql("SELECT count(*) FROM devices WHERE kind = 'router'"),
        "3"
    );
    let viewer = Api::new(&server.api_addr, viewer.token.as_deref());
    let after = viewer.get("/api/v1/license").json();
    for field in [
        "state",
        "source",
        "license",
        "installed_at",
        "limits",
        "limits_plan",
    ] {
        assert_eq!(after[field], before[field], "{field}");
    }
    assert_eq!(after["license"]["license_id"], "LIC-RESTART");
}

#[test]
fn a_license_file_is_installed_replaced_on_reload_and_a_corrupt_one_only_falls_back() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ispmonitor.lic");
    std::fs::write(
        &file,
        lic::sign(&lic::payload("LIC-FILE-A", "professional", Some(3))),
    )
    .unwrap();
    let config = lic::write_config(dir.path(), &lic::license_section(Some(&file)), "");
    let env = Env::start_with(dir, config);
    let view = env.license();
    assert_eq!(view["state"], "valid", "{view}");
    assert_eq!(view["source"], "file");
    assert_eq!(view["license"]["license_id"], "LIC-FILE-A");
    assert_eq!(
        env.db
            .psql("SELECT license_id || ' ' || source FROM license_state"),
        "LIC-FILE-A file"
    );
    let mut unlimited = lic::payload("LIC-FILE-B", "enterprise", None);
    unlimited.max_users = None;
    let b = lic::sign(&unlimited);
    let r = env.install(&b);
    env.check_answer(&r, 409);
    assert!(r.text().contains("license.file"), "{}", r.text());
    assert_eq!(env.audit_rows("install", "license"), 0);

    std::fs::write(&file, &b).unwrap();
    env.server.signal("HUP");
    let view = env.wait_for_license("license B", RELOADED, |v| {
        v["license"]["license_id"] == "LIC-FILE-B"
    });
    assert_eq!(view["state"], "valid");
    assert_eq!(
        view["limits"],
        json!({"routers": null, "servers": null, "users": null})
    );
    env.server
        .wait_for_metrics("unlimited routers", Duration::from_secs(5), |m| {
            metric(m, "ispmonitor_license_router_limit") == Some(-1.0)
        });
    assert_eq!(
        env.db
            .psql("SELECT license_id || ' ' || source FROM license_state"),
        "LIC-FILE-B file"
    );

    std::fs::write(&file, lic::with_payload_byte_changed(&b)).unwrap();
    env.server.signal("HUP");
    let view = env.wait_for_license("the corrupt file", RELOADED, |v| v["state"] == "invalid");
    assert_eq!(view["valid"], false);
    assert_eq!(view["limits_plan"], "starter");
    let message = view["message"].as_str().unwrap();
    assert!(
        message.contains("license.file") && message.contains("does not verify"),
        "{message}"
    );
    let metrics = env.server.metrics();
    assert_eq!(metric(&metrics, "ispmonitor_license_valid"), Some(0.0));
    assert!(state_is(&metrics, "invalid"), "{metrics}");
    assert_eq!(
        metric(&metrics, "ispmonitor_license_router_limit"),
        Some(10.0)
    );
    assert_polling_continues(&env.server);
}

#[test]
fn without_a_database_the_license_file_is_held_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ispmonitor.lic");
    std::fs::write(
        &file,
        lic::sign(&lic::payload("LIC-MEM", "professional", Some(7))),
    )
    .unwrap();
    let config = lic::write_config(dir.path(), &lic::license_section(Some(&file)), "");
    let server = Ispmonitor::start(&config, &[]);
    let anonymous = Api::new(&server.api_addr, None);
    let view = anonymous.get("/api/v1/license").json();
    assert_eq!(view["state"], "valid", "{view}");
    assert_eq!(view["source"], "file");
    assert_eq!(view["license"]["license_id"], "LIC-MEM");
    assert_eq!(
        view["usage"],
        json!({"routers": 0, "servers": 0, "users": 0})
    );
    let metrics = server.metrics();
    assert_eq!(
        metric(&metrics, "ispmonitor_license_valid"),
        Some(1.0),
        "{metrics}"
    );
    assert_eq!(
        metric(&metrics, "ispmonitor_license_router_limit"),
        Some(7.0)
    );
    let r = anonymous.put("/api/v1/license", &json!({"license": "x"}));
    assert_eq!(
        (r.status, r.json()["error"]["code"].clone()),
        (503, json!("database_not_configured"))
    );
}

#[test]
fn an_expired_license_falls_back_to_starter_limits_while_polling_continues() {
    let env = Env::start("");
    let mut payload = lic::payload("LIC-SHORT", "professional", Some(20));
    let expires = SystemTime::now() + Duration::from_secs(6);
    payload.expires_at = lic::time(expires);
    env.check_answer(&env.install(&lic::sign(&payload)), 200);
    // Beyond the starter limit while the license is valid.
    env.create_routers(names("r", 1..=11));

    let view = env.wait_for_license("expiry", TEN_SECONDS, |v| v["state"] == "expired");
    assert_eq!(view["valid"], false);
    assert_eq!(view["limits_plan"], "starter");
    assert_eq!(view["limits"]["routers"], 10);
    assert_eq!(view["license"]["license_id"], "LIC-SHORT");
    assert!(view["days_until_expiry"].as_f64().unwrap() < 0.0, "{view}");
    let metrics = env.server.metrics();
    assert_eq!(metric(&metrics, "ispmonitor_license_valid"), Some(0.0));
    assert!(state_is(&metrics, "expired"), "{metrics}");
    assert_eq!(
        metric(&metrics, "ispmonitor_license_router_limit"),
        Some(10.0)
    );
    let refused = env.create_router("r12");
    assert_limit_refusal(
        &refused,
        &["expired", "starter", "10 routers", "would make 12"],
    );
    assert_eq!(env.routers_in_database(), 11);

    // The routers beyond the starter limit are still polled, and so is the YAML file.
    assert_polling_continues(&env.server);
    env.server
        .wait_for_metrics("r11 polled", Duration::from_secs(10), |m| {
            metric(m, "ispmonitor_target_up{target=\"r11\",protocol=\"icmp\"}") == Some(1.0)
        });
}
