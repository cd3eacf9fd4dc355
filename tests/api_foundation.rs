//! The API's foundation against the real PostgreSQL: migrations (idempotent, concurrent, version
//! check at start), token bootstrap from the CLI, bearer auth, and the no-database mode.

mod common;

use std::path::Path;
use std::time::Duration;

use common::api::{self, Api};
use common::ispmonitor::Ispmonitor;
use common::postgres::TestDb;
use ispmonitor::store::migrations::SCHEMA_VERSION;

const CONFIG: &str = "tests/fixtures/api/empty.yaml";

#[test]
fn migrate_is_idempotent_and_concurrent_runs_serialise() {
    let db = TestDb::new();
    let url = db.url();
    let runs: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || api::cli(&url, &["migrate"]))
        })
        .collect();
    let outputs: Vec<String> = runs
        .into_iter()
        .map(|t| {
            let out = t.join().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).into_owned()
        })
        .collect();
    let migrated = outputs
        .iter()
        .filter(|o| o.contains("migrated from version 0"))
        .count();
    assert_eq!(
        migrated, 1,
        "exactly one run applies the migrations: {outputs:?}"
    );
    assert_eq!(
        db.psql("SELECT count(*) FROM ispmonitor_schema_migrations"),
        SCHEMA_VERSION.to_string()
    );
    assert!(api::migrate(&url).contains("nothing to do"));
}

#[test]
fn serve_refuses_a_schema_older_than_the_build_and_names_migrate() {
    let db = TestDb::new();
    let started = std::process::Command::new(common::ispmonitor::binary())
        .args([
            "serve",
            "--config",
            CONFIG,
            "--web.listen-address",
            "127.0.0.1:0",
            "--api.listen-address",
            "127.0.0.1:0",
        ])
        .env("ISPMONITOR_DATABASE_URL", db.url())
        .output()
        .unwrap();
    assert!(!started.status.success());
    let stderr = String::from_utf8_lossy(&started.stderr);
    assert!(stderr.contains("run `ispmonitor migrate`"), "{stderr}");
    assert!(stderr.contains("version 0"), "{stderr}");
}

#[test]
fn serve_with_migrate_flag_migrates_then_tokens_gate_the_api() {
    let db = TestDb::new();
    let url = db.url();
    let server = Ispmonitor::start_with_env(
        Path::new(CONFIG),
        &["--migrate"],
        &[
            ("ISPMONITOR_DATABASE_URL", &url),
            ("ISPMONITOR_SECRET_KEY", api::SECRET_KEY),
        ],
    );
    assert_eq!(
        db.psql("SELECT max(version) FROM ispmonitor_schema_migrations"),
        SCHEMA_VERSION.to_string()
    );
    let admin = api::create_token(&url, "admin", "bootstrap");
    assert!(admin.starts_with("ispm_"), "{admin}");
    assert_eq!(
        db.psql("SELECT count(*) FROM audit_log WHERE actor = 'cli' AND kind = 'token'"),
        "1"
    );
    assert_eq!(
        db.psql(&format!(
            "SELECT count(*) FROM api_tokens WHERE token_hash = sha256('{admin}'::bytea)"
        )),
        "1",
        "stored hashed"
    );

    let anonymous = Api::new(&server.api_addr, None);
    let r = anonymous.get("/api/v1/tokens");
    assert_eq!(r.status, 401, "{}", r.text());
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    assert_eq!(r.json()["error"]["code"], "unauthorized");
    let wrong = Api::new(&server.api_addr, Some("ispm_not-a-real-token"));
    assert_eq!(wrong.get("/api/v1/tokens").status, 401);

    let admin_api = Api::new(&server.api_addr, Some(&admin));
    let created = admin_api.post(
        "/api/v1/tokens",
        &serde_json::json!({"name": "grafana", "role": "viewer"}),
    );
    assert_eq!(created.status, 201, "{}", created.text());
    let viewer = created.json()["token"].as_str().unwrap().to_string();
    let listed = admin_api.get("/api/v1/tokens").json();
    assert!(
        !listed.to_string().contains(&viewer),
        "a token is shown once only"
    );
    assert_eq!(listed.as_array().unwrap().len(), 2);

    let viewer_api = Api::new(&server.api_addr, Some(&viewer));
    let r = viewer_api.get("/api/v1/tokens");
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("admin"));

    let dup = admin_api.post(
        "/api/v1/tokens",
        &serde_json::json!({"name": "grafana", "role": "viewer"}),
    );
    assert_eq!(dup.status, 409, "{}", dup.text());
    assert_eq!(dup.json()["error"]["field"], "name");
    let unknown = admin_api.post(
        "/api/v1/tokens",
        &serde_json::json!({"name": "x", "role": "viewer", "scope": 1}),
    );
    assert_eq!(unknown.status, 422);
    assert_eq!(unknown.json()["error"]["field"], "scope");

    let id = created.json()["id"].as_i64().unwrap();
    assert_eq!(
        admin_api.delete(&format!("/api/v1/tokens/{id}")).status,
        204
    );
    assert_eq!(
        viewer_api.get("/api/v1/tokens").status,
        401,
        "revoked at once"
    );

    let r = anonymous.get("/api/v1/tokens");
    let request_id = r.header("x-request-id").expect("a request id").to_string();
    assert_eq!(request_id.len(), 32);
    let req = common::http::Req {
        method: "GET",
        path: "/live",
        headers: &[("X-Request-Id", "trace-42")],
        body: b"",
    };
    let echoed = common::http::send(&server.api_addr, &req).unwrap();
    assert_eq!(echoed.header("x-request-id"), Some("trace-42"));
    let logs = server.stop_and_logs();
    assert!(
        !logs.contains(&admin) && !logs.contains(&viewer),
        "tokens never logged"
    );
    assert!(!logs.contains(api::SECRET_KEY));
}

#[test]
fn without_a_database_reads_are_open_and_writes_say_how_to_configure_one() {
    let server = Ispmonitor::start(Path::new(CONFIG), &[]);
    let api = Api::new(&server.api_addr, None);
    assert_eq!(api.get("/ready").status, 200);
    let health = api.get("/health").json();
    assert_eq!(health["checks"]["db"]["status"], "not_configured");
    let r = api.post(
        "/api/v1/tokens",
        &serde_json::json!({"name": "x", "role": "viewer"}),
    );
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "database_not_configured");
    assert!(r.json()["error"]["message"]
        .as_str()
        .unwrap()
        .contains("ISPMONITOR_DATABASE_URL"));
    // Even a body that would not validate: the missing database is the first thing to fix.
    let r = api.post("/api/v1/routers", &serde_json::json!({}));
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "database_not_configured");
    assert_eq!(api.get("/api/v1/nope").status, 404);
    drop(server);
    std::thread::sleep(Duration::from_millis(10));
}
