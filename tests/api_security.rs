//! The API's security surface against the real PostgreSQL and the real binary: the role
//! matrix over the whole route table, the audit log API (filters, paging, CSV/JSON export,
//! retention), rate limits, HTTP metrics on the exporter's /metrics, the OpenAPI document,
//! request ids in JSON logs, and secrets kept out of `--help`.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime};

use common::api::{self, Api};
use common::http::{self, Response};
use common::ispmonitor::{sample_value, Ispmonitor};
use common::postgres::TestDb;
use ispmonitor::api::routes::{all_routes, Access};
use ispmonitor::store::tokens::Role;
use serde_json::{json, Value};

const NO_RATE_LIMIT: &str = "tests/fixtures/api/no_rate_limit.yaml";

/// A migrated database, the server on it, and an admin token made with the CLI. The server
/// is declared first so it stops before the database is dropped.
struct Setup {
    server: Ispmonitor,
    db: TestDb,
    admin: String,
}

impl Setup {
    fn start(config: &str, extra: &[&str]) -> Setup {
        let db = TestDb::new();
        let url = db.url();
        let args: Vec<&str> = ["--migrate"].iter().chain(extra).copied().collect();
        let server = Ispmonitor::start_with_env(
            Path::new(config),
            &args,
            &[
                ("ISPMONITOR_DATABASE_URL", &url),
                ("ISPMONITOR_SECRET_KEY", api::SECRET_KEY),
            ],
        );
        let admin = api::create_token(&url, "admin", "root");
        Setup { server, db, admin }
    }

    fn token(&self, role: &str, name: &str) -> String {
        api::create_token(&self.db.url(), role, name)
    }

    fn api(&self, token: Option<&str>) -> Api {
        Api::new(&self.server.api_addr, token)
    }

    fn admin_api(&self) -> Api {
        self.api(Some(&self.admin))
    }
}

/// GET with extra headers (a request id, a token).
fn get_with(addr: &str, path: &str, headers: &[(&str, &str)]) -> Response {
    let req = http::Req {
        method: "GET",
        path,
        headers,
        body: b"",
    };
    http::send(addr, &req).unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

const DAY: Duration = Duration::from_secs(86_400);

// ---------------------------------------------------------------------------------------------
// Role matrix

/// Path parameters filled with a value no object has, so no call changes anything that exists.
fn dummy_path(template: &str) -> String {
    template
        .split('/')
        .map(|segment| {
            if segment.starts_with('{') {
                "999999"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[test]
fn every_route_answers_401_403_or_passes_by_role() {
    let setup = Setup::start(NO_RATE_LIMIT, &[]);
    let tokens = [
        (Role::Viewer, setup.token("viewer", "matrix-viewer")),
        (Role::Operator, setup.token("operator", "matrix-operator")),
        (Role::Admin, setup.admin.clone()),
    ];
    let routes = all_routes();
    let table: Vec<(String, &str)> = routes
        .iter()
        .map(|r| (r.method.to_string(), r.path))
        .collect();
    for known in [("GET", "/api/v1/audit"), ("GET", "/api/v1/openapi.json")] {
        assert!(
            table.iter().any(|(m, p)| m == known.0 && *p == known.1),
            "{known:?} missing from the route table"
        );
    }
    let mut problems = Vec::new();
    let mut calls = 0;
    for route in &routes {
        let path = dummy_path(route.path);
        let method = route.method.as_str();
        let body: &[u8] = if ["POST", "PUT", "PATCH"].contains(&method) {
            b"{}"
        } else {
            b""
        };
        let callers = std::iter::once((None, None)).chain(
            tokens
                .iter()
                .map(|(role, token)| (Some(*role), Some(token.as_str()))),
        );
        for (role, token) in callers {
            let status = setup
                .api(token)
                .request(method, &path, ("application/json", body))
                .status;
            calls += 1;
            let who = role.map(Role::as_str).unwrap_or("no token");
            let expected = match (route.access, role) {
                (Access::Public, _) => "anything but 401/403",
                (Access::Role(_), None) => "401",
                (Access::Role(needed), Some(have)) if have < needed => "403",
                (Access::Role(_), Some(_)) => "anything but 401/403",
            };
            let ok = match expected {
                "401" => status == 401,
                "403" => status == 403,
                _ => status != 401 && status != 403,
            };
            if !ok {
                problems.push(format!(
                    "{method} {path} as {who}: {status}, expected {expected}"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert_eq!(calls, routes.len() * 4);
}

// ---------------------------------------------------------------------------------------------
// Audit API

fn audit(api: &Api, query: &str) -> Value {
    let r = api.get(&format!("/api/v1/audit{query}"));
    assert_eq!(r.status, 200, "{query}: {}", r.text());
    r.json()
}

fn total(page: &Value) -> i64 {
    page["total"].as_i64().expect("total")
}

fn csv_records(body: &[u8]) -> Vec<csv::StringRecord> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(body)
        .records()
        .map(|r| r.expect("a CSV record"))
        .collect()
}

#[test]
fn the_audit_log_filters_pages_and_exports() {
    let setup = Setup::start(NO_RATE_LIMIT, &[]);
    let admin = setup.admin_api();
    let auth = format!("Bearer {}", setup.admin);
    let mut secrets = vec![setup.admin.clone()];
    for (name, role, request_id) in [
        ("grafana", "viewer", "req-grafana-1"),
        ("ops", "operator", "req-ops-1"),
    ] {
        let body = json!({"name": name, "role": role}).to_string();
        let req = http::Req {
            method: "POST",
            path: "/api/v1/tokens",
            headers: &[
                ("Authorization", &auth),
                ("Content-Type", "application/json"),
                ("X-Request-Id", request_id),
            ],
            body: body.as_bytes(),
        };
        let created = http::send(&setup.server.api_addr, &req).unwrap();
        assert_eq!(created.status, 201, "{}", created.text());
        secrets.push(created.json()["token"].as_str().unwrap().to_string());
    }
    let tokens = admin.get("/api/v1/tokens").json();
    let grafana = tokens
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "grafana")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    assert_eq!(
        admin.delete(&format!("/api/v1/tokens/{grafana}")).status,
        204
    );
    // An older entry whose JSON holds quotes, a comma and a newline: CSV must quote it.
    let tricky = json!({"note": "a \"quoted\", value\nnext line", "rows": 2});
    setup.db.psql(&format!(
        "INSERT INTO audit_log (at, actor, action, kind, target, after)
         VALUES (now() - interval '2 days', 'importer', 'import', 'inventory', NULL, '{}')",
        tricky.to_string().replace('\'', "''")
    ));

    // Everything, newest first.
    let all = audit(&admin, "");
    assert_eq!(total(&all), 5, "{all}");
    let items = all["items"].as_array().unwrap();
    assert_eq!(items[0]["action"], "revoke");
    assert_eq!(items[0]["target"], "grafana");
    assert_eq!(items[0]["before"]["role"], "viewer");
    assert_eq!(items[4]["actor"], "importer");
    let times: Vec<&str> = items.iter().map(|i| i["at"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "{times:?}");
    for secret in &secrets {
        assert!(
            !all.to_string().contains(secret.as_str()),
            "a token value in the audit log"
        );
    }

    // Filters.
    let by_cli = audit(&admin, "?actor=cli");
    assert_eq!(total(&by_cli), 1);
    assert_eq!(by_cli["items"][0]["target"], "root");
    assert_eq!(total(&audit(&admin, "?action=revoke")), 1);
    assert_eq!(total(&audit(&admin, "?kind=token")), 4);
    assert_eq!(total(&audit(&admin, "?kind=token&actor=root")), 3);
    let ops = audit(&admin, "?target=ops");
    assert_eq!(total(&ops), 1);
    assert_eq!(ops["items"][0]["request_id"], "req-ops-1");
    assert_eq!(ops["items"][0]["source_address"], "127.0.0.1");
    assert_eq!(ops["items"][0]["actor"], "root");
    assert_eq!(total(&audit(&admin, "?request_id=req-grafana-1")), 1);
    let yesterday = rfc3339(SystemTime::now() - DAY);
    assert_eq!(total(&audit(&admin, &format!("?since={yesterday}"))), 4);
    assert_eq!(total(&audit(&admin, &format!("?until={yesterday}"))), 1);
    // The same instant with an offset, its `+` escaped, and unescaped (a space by then).
    let local = rfc3339(SystemTime::now() - DAY + Duration::from_secs(7200));
    let offset = local.replace('Z', "+02:00").replace('+', "%2B");
    assert_eq!(total(&audit(&admin, &format!("?since={offset}"))), 4);
    let raw_plus = local.replace('Z', "+02:00");
    assert_eq!(total(&audit(&admin, &format!("?until={raw_plus}"))), 1);

    // Pages.
    let page = audit(&admin, "?limit=2&offset=1");
    assert_eq!(
        (total(&page), &page["limit"], &page["offset"]),
        (5, &json!(2), &json!(1))
    );
    let ids: Vec<&Value> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| &i["id"])
        .collect();
    assert_eq!(ids, vec![&items[1]["id"], &items[2]["id"]]);
    assert_eq!(
        audit(&admin, "?offset=10")["items"],
        json!([]),
        "past the end"
    );

    // Bad parameters name themselves.
    for (query, field) in [
        ("?since=yesterday", "since"),
        ("?until=2024-05-01", "until"),
        ("?limit=0", "limit"),
        ("?limit=5000", "limit"),
        ("?offset=-3", "offset"),
        ("?colour=red", "colour"),
    ] {
        let r = admin.get(&format!("/api/v1/audit{query}"));
        assert_eq!(r.status, 422, "{query}: {}", r.text());
        assert_eq!(r.json()["error"]["field"], field, "{query}");
    }

    // Admin only.
    let ops_token = setup.token("operator", "ops2");
    assert_eq!(setup.api(Some(&ops_token)).get("/api/v1/audit").status, 403);
    assert_eq!(
        setup
            .api(Some(&ops_token))
            .get("/api/v1/audit/export?format=csv")
            .status,
        403
    );
    assert_eq!(setup.api(None).get("/api/v1/audit").status, 401);

    // CSV export: header row, oldest first, JSON columns quoted.
    let r = admin.get("/api/v1/audit/export?format=csv&kind=token");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("text/csv; charset=utf-8"));
    assert_eq!(
        r.header("content-disposition"),
        Some("attachment; filename=\"ispmonitor-audit.csv\"")
    );
    let rows = csv_records(&r.body);
    assert_eq!(
        rows[0].iter().collect::<Vec<_>>(),
        [
            "id",
            "at",
            "actor",
            "token_id",
            "action",
            "kind",
            "target",
            "request_id",
            "source_address",
            "before",
            "after"
        ]
    );
    // Four token entries before ops2 was created, plus ops2's own.
    assert_eq!(rows.len(), 1 + 5);
    assert_eq!(&rows[1][2], "cli");
    assert_eq!(&rows[5][6], "ops2");
    let everything = admin.get("/api/v1/audit/export?format=csv");
    let rows = csv_records(&everything.body);
    assert_eq!(&rows[1][2], "importer", "oldest first");
    let after: Value = serde_json::from_str(&rows[1][10]).unwrap();
    assert_eq!(after, tricky);
    assert_eq!(&rows[1][9], "", "no before");

    // JSON export: the same entries as the list, oldest first.
    let r = admin.get(&format!(
        "/api/v1/audit/export?format=json&since={yesterday}"
    ));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert!(r
        .header("content-disposition")
        .unwrap()
        .starts_with("attachment"));
    let exported = r.json();
    let exported = exported.as_array().unwrap();
    assert_eq!(exported.len(), 5);
    assert_eq!(exported[0]["actor"], "cli");
    assert_eq!(
        exported[1], items[2],
        "the list's and the export's entries agree"
    );
    let bad = admin.get("/api/v1/audit/export?format=xml");
    assert_eq!(bad.status, 422);
    assert_eq!(bad.json()["error"]["field"], "format");
    let empty = admin.get("/api/v1/audit/export?actor=nobody");
    assert_eq!(empty.json(), json!([]));

    // A log larger than one batch streams whole, each entry once, in order.
    setup.db.psql(
        "INSERT INTO audit_log (at, actor, action, kind, target)
         SELECT now() - interval '1 hour' + g * interval '1 millisecond', 'bulk', 'update', 'router',
                'r' || g
         FROM generate_series(1, 1234) AS g",
    );
    let r = admin.get("/api/v1/audit/export?format=csv&actor=bulk");
    let rows = csv_records(&r.body);
    assert_eq!(rows.len(), 1 + 1234);
    let targets: Vec<&str> = rows[1..].iter().map(|r| &r[6]).collect();
    let expected: Vec<String> = (1..=1234).map(|g| format!("r{g}")).collect();
    assert_eq!(targets, expected);
    let r = admin.get("/api/v1/audit/export?actor=bulk");
    assert_eq!(r.json().as_array().unwrap().len(), 1234);
    assert_eq!(total(&audit(&admin, "?actor=bulk&limit=1000")), 1234);
}

#[test]
fn audit_retention_deletes_old_entries_at_start_and_counts_them() {
    let db = TestDb::new();
    let url = db.url();
    api::migrate(&url);
    db.psql(
        "INSERT INTO audit_log (at, actor, action, kind, target)
         SELECT now() - age, 'old', 'update', 'router', 'r' || extract(day from age)
         FROM unnest(ARRAY[interval '100 days', interval '30 days', interval '10 days',
                           interval '1 day', interval '1 hour']) AS age",
    );
    let server = Ispmonitor::start_with_env(
        Path::new("tests/fixtures/api/audit_retention_7d.yaml"),
        &[],
        &[
            ("ISPMONITOR_DATABASE_URL", &url),
            ("ISPMONITOR_SECRET_KEY", api::SECRET_KEY),
        ],
    );
    server.wait_for_metrics("the retention task", Duration::from_secs(20), |m| {
        sample_value(m, "ispmonitor_audit_entries_deleted_total") == Some(3.0)
    });
    assert_eq!(
        db.psql("SELECT string_agg(target, ',' ORDER BY at) FROM audit_log"),
        "r1,r0"
    );
    let logs = server.stop_and_logs();
    assert!(
        logs.contains("audit retention: deleted 3 entries older than 7d"),
        "{logs}"
    );
}

// ---------------------------------------------------------------------------------------------
// Rate limits

/// One HTTP/1.0 GET from a chosen local address (all of 127.0.0.0/8 is this host).
fn get_from(source: &str, addr: &str, path: &str, token: Option<&str>) -> (u16, Option<String>) {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    let local: SocketAddr = format!("{source}:0").parse().unwrap();
    socket.bind(&local.into()).unwrap();
    let remote: SocketAddr = addr.parse().unwrap();
    socket.connect(&remote.into()).unwrap();
    let mut stream: TcpStream = socket.into();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let req = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n{auth}\r\n");
    stream.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status");
    let retry_after = text.lines().take_while(|l| !l.is_empty()).find_map(|l| {
        l.to_ascii_lowercase()
            .strip_prefix("retry-after:")
            .map(|v| v.trim().to_string())
    });
    (status, retry_after)
}

/// `Retry-After` of a 429 from a 0.05/s bucket: whole seconds, at most 20.
fn assert_retry_after(value: Option<String>) {
    let seconds: u64 = value.expect("Retry-After").parse().expect("whole seconds");
    assert!((1..=20).contains(&seconds), "Retry-After: {seconds}");
}

#[test]
fn an_address_over_its_limit_gets_429_and_others_do_not() {
    let setup = Setup::start("tests/fixtures/api/rate_per_address.yaml", &[]);
    let addr = &setup.server.api_addr;
    for _ in 0..3 {
        let (status, _) = get_from("127.0.0.1", addr, "/api/v1/openapi.json", None);
        assert_eq!(status, 200);
    }
    let (status, retry_after) = get_from("127.0.0.1", addr, "/api/v1/openapi.json", None);
    assert_eq!(status, 429);
    assert_retry_after(retry_after);
    let limited = setup.api(None).get("/api/v1/nope");
    assert_eq!(limited.status, 429, "unknown paths are limited too");
    assert_eq!(limited.json()["error"]["code"], "rate_limited");
    assert!(limited.header("x-request-id").is_some());
    // Health probes never are.
    for path in ["/live", "/ready", "/health", "/live", "/ready", "/health"] {
        assert_eq!(get_from("127.0.0.1", addr, path, None).0, 200, "{path}");
    }
    // Another address has a bucket of its own, tokens or not.
    assert_eq!(
        get_from("127.0.0.2", addr, "/api/v1/openapi.json", None).0,
        200
    );
    let (status, _) = get_from("127.0.0.2", addr, "/api/v1/tokens", Some(&setup.admin));
    assert_eq!(status, 200);
    let metrics = setup.server.metrics();
    let refused = sample_value(
        &metrics,
        "ispmonitor_http_requests_total{method=\"GET\",endpoint=\"/api/v1/openapi.json\",status=\"429\"}",
    );
    assert_eq!(refused, Some(1.0), "{metrics}");
}

#[test]
fn a_token_over_its_limit_gets_429_before_any_lookup_and_others_do_not() {
    let setup = Setup::start("tests/fixtures/api/rate_per_token.yaml", &[]);
    let other = setup.token("admin", "other");
    let api = setup.admin_api();
    for _ in 0..3 {
        assert_eq!(api.get("/api/v1/tokens").status, 200);
    }
    let r = api.get("/api/v1/tokens");
    assert_eq!(r.status, 429, "{}", r.text());
    assert_retry_after(r.header("retry-after").map(str::to_string));
    assert_eq!(setup.api(Some(&other)).get("/api/v1/tokens").status, 200);
    // No token: only the (disabled) address limit applies.
    for _ in 0..5 {
        assert_eq!(setup.api(None).get("/api/v1/tokens").status, 401);
    }
    // A made-up token is limited like any other, before the database is asked about it.
    let bogus = setup.api(Some("ispm_made-up"));
    let statuses: Vec<u16> = (0..4).map(|_| bogus.get("/api/v1/tokens").status).collect();
    assert_eq!(statuses, [401, 401, 401, 429]);
}

// ---------------------------------------------------------------------------------------------
// HTTP metrics

fn promtool_findings(text: &str) -> Vec<String> {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool is installed by scripts/install-peers.sh");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    report
        .lines()
        .filter(|l| {
            l.contains("ispmonitor_http_")
                || l.contains("ispmonitor_db_")
                || l.contains("ispmonitor_audit_")
        })
        .map(str::to_string)
        .collect()
}

#[test]
fn api_metrics_use_route_templates_on_the_exporters_metrics() {
    let setup = Setup::start(NO_RATE_LIMIT, &[]);
    let admin = setup.admin_api();
    assert_eq!(admin.get("/api/v1/tokens").status, 200);
    assert_eq!(admin.get("/api/v1/tokens").status, 200);
    assert_eq!(admin.delete("/api/v1/tokens/424242").status, 404);
    assert_eq!(admin.get("/api/v1/no-such/sekrit-path").status, 404);
    assert_eq!(setup.api(None).get("/live").status, 200);

    let text = setup.server.metrics();
    let value = |series: &str| sample_value(&text, series);
    assert_eq!(
        value("ispmonitor_http_requests_total{method=\"GET\",endpoint=\"/api/v1/tokens\",status=\"200\"}"),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        value("ispmonitor_http_requests_total{method=\"DELETE\",endpoint=\"/api/v1/tokens/{id}\",status=\"404\"}"),
        Some(1.0)
    );
    assert_eq!(
        value(
            "ispmonitor_http_requests_total{method=\"GET\",endpoint=\"unmatched\",status=\"404\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        value("ispmonitor_http_requests_total{method=\"GET\",endpoint=\"/live\",status=\"200\"}"),
        Some(1.0)
    );
    assert!(
        !text.contains("424242") && !text.contains("sekrit"),
        "raw paths leaked"
    );
    assert_eq!(
        value("ispmonitor_http_request_duration_seconds_count{method=\"GET\",endpoint=\"/api/v1/tokens\"}"),
        Some(2.0)
    );
    assert_eq!(
        value("ispmonitor_http_request_duration_seconds_bucket{method=\"GET\",endpoint=\"/api/v1/tokens\",le=\"+Inf\"}"),
        Some(2.0)
    );
    assert_eq!(value("ispmonitor_http_requests_in_flight"), Some(0.0));
    let idle = value("ispmonitor_db_connections{state=\"idle\"}").expect("idle connections");
    let active = value("ispmonitor_db_connections{state=\"active\"}").expect("active connections");
    assert!(
        idle >= 1.0 && idle + active <= 8.0,
        "idle {idle}, active {active}"
    );
    assert_eq!(value("ispmonitor_audit_entries_deleted_total"), Some(0.0));
    let findings = promtool_findings(&text);
    assert!(findings.is_empty(), "promtool check metrics: {findings:?}");

    let om = get_with(
        &setup.server.addr,
        "/metrics",
        &[("Accept", "application/openmetrics-text; version=1.0.0")],
    )
    .text();
    assert!(om.contains("# TYPE ispmonitor_http_requests counter\n"));
    assert!(om.ends_with("# EOF\n"), "one EOF, at the end");
    assert_eq!(om.matches("# EOF").count(), 1);
}

// ---------------------------------------------------------------------------------------------
// OpenAPI

/// Every `$ref` in `node`, with where it was found.
fn refs<'a>(node: &'a Value, at: String, out: &mut Vec<(String, &'a str)>) {
    match node {
        Value::Object(map) => {
            for (key, value) in map {
                if key == "$ref" {
                    if let Some(target) = value.as_str() {
                        out.push((at.clone(), target));
                    }
                } else {
                    refs(value, format!("{at}/{key}"), out);
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                refs(item, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn the_openapi_document_covers_every_route_and_matches_docs() {
    let setup = Setup::start(NO_RATE_LIMIT, &[]);
    let r = setup.api(None).get("/api/v1/openapi.json");
    assert_eq!(r.status, 200, "public: {}", r.text());
    assert!(r
        .header("content-type")
        .unwrap()
        .starts_with("application/json"));
    let served = r.json();
    let on_disk: Value = serde_json::from_str(
        &std::fs::read_to_string("docs/openapi.json").expect("docs/openapi.json"),
    )
    .unwrap();
    assert!(
        served == on_disk,
        "docs/openapi.json differs from the served document: run `cargo run -q -- openapi > docs/openapi.json`"
    );

    assert_eq!(served["openapi"], "3.1.0");
    assert_eq!(
        served["components"]["securitySchemes"]["bearerAuth"]["scheme"],
        "bearer"
    );
    let mut operation_ids = std::collections::HashSet::new();
    let mut documented = 0;
    for route in all_routes() {
        let method = route.method.as_str().to_ascii_lowercase();
        let op = &served["paths"][route.path][&method];
        let what = format!("{} {}", route.method, route.path);
        assert!(op.is_object(), "{what} missing from the document");
        documented += 1;
        let id = op["operationId"].as_str().expect("operationId");
        assert!(operation_ids.insert(id.to_string()), "{id} twice");
        assert_eq!(op["summary"], route.summary, "{what}");
        assert_eq!(op["tags"], json!([route.tag]), "{what}");
        match route.access {
            Access::Public => assert_eq!(op["security"], json!([]), "{what}"),
            Access::Role(role) => {
                assert_eq!(op["security"], json!([{"bearerAuth": []}]), "{what}");
                assert_eq!(op["x-ispmonitor-role"], role.as_str(), "{what}");
                assert!(op["responses"]["401"].is_object(), "{what}");
                assert!(op["responses"]["403"].is_object(), "{what}");
            }
        }
        let params: Vec<&str> = op["parameters"]
            .as_array()
            .map(|p| p.iter().filter_map(|p| p["name"].as_str()).collect())
            .unwrap_or_default();
        for segment in route.path.split('/') {
            if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                assert!(
                    params.contains(&name),
                    "{what}: path parameter {name} undocumented"
                );
            }
        }
        assert!(
            op["responses"][route.success.as_u16().to_string()].is_object(),
            "{what}: no {} answer",
            route.success
        );
        if route.request.is_some() {
            assert!(
                op["requestBody"]["content"].is_object(),
                "{what}: no request body"
            );
        }
    }
    let in_document: usize = served["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|item| item.as_object().unwrap().len())
        .sum();
    assert_eq!(in_document, documented, "operations that are not routes");
    let audit_params: Vec<&str> = served["paths"]["/api/v1/audit"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for name in [
        "actor", "action", "kind", "since", "until", "limit", "offset",
    ] {
        assert!(audit_params.contains(&name), "audit parameter {name}");
    }
    assert!(
        served["paths"]["/api/v1/audit/export"]["get"]["responses"]["200"]["content"]["text/csv"]
            .is_object()
    );

    let mut found = Vec::new();
    refs(&served, String::new(), &mut found);
    assert!(found.len() > 10);
    for (at, target) in found {
        let pointer = target
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("{at}: external $ref {target}"));
        assert!(
            served.pointer(pointer).is_some(),
            "{at}: $ref {target} does not resolve"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Request ids in JSON logs

#[test]
fn json_log_lines_of_a_request_carry_its_request_id() {
    let setup = Setup::start(NO_RATE_LIMIT, &["--log.format", "json"]);
    let r = get_with(
        &setup.server.api_addr,
        "/api/v1/audit?since=not-a-time",
        &[
            ("X-Request-Id", "abc123"),
            ("Authorization", &format!("Bearer {}", setup.admin)),
        ],
    );
    assert_eq!(r.status, 422);
    assert_eq!(r.header("x-request-id"), Some("abc123"));
    let r = get_with(
        &setup.server.api_addr,
        "/api/v1/tokens",
        &[
            ("X-Request-Id", "def456"),
            ("Authorization", "Bearer ispm_nope"),
        ],
    );
    assert_eq!(r.status, 401);
    let logs = setup.server.stderr_now();
    let lines: Vec<Value> = logs
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    for line in &lines {
        for key in ["timestamp", "level", "target"] {
            assert!(line.get(key).is_some(), "{key} missing: {line}");
        }
    }
    let statements = lines.iter().filter(|l| {
        l["level"] == "DEBUG"
            && l["target"]
                .as_str()
                .unwrap_or("")
                .starts_with("tokio_postgres")
    });
    assert_eq!(
        statements.count(),
        0,
        "SQL statements and their parameters stay out of debug logs"
    );
    let of_request = |id: &str| -> Vec<&Value> {
        lines
            .iter()
            .filter(|l| l["span"]["request_id"] == id)
            .collect()
    };
    let first = of_request("abc123");
    assert!(
        first
            .iter()
            .any(|l| l["message"] == "request answered" && l["status"] == 422),
        "no access line with request_id abc123 in:\n{logs}"
    );
    assert!(first
        .iter()
        .all(|l| l["span"]["endpoint"] == "/api/v1/audit"));
    let second = of_request("def456");
    assert!(
        second.iter().any(|l| l["status"] == 401),
        "no line with request_id def456 in:\n{logs}"
    );
    // Nothing logged about these requests lacks their id.
    for line in &lines {
        let text = line.to_string();
        if text.contains("/api/v1/audit") || text.contains("not-a-time") {
            assert_eq!(line["span"]["request_id"], "abc123", "{line}");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// --help

/// Every subcommand path (`serve`, `token create`...), from the CLI definition itself.
fn subcommand_paths(command: &clap::Command, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    out.push(prefix.clone());
    for sub in command.get_subcommands() {
        let mut path = prefix.clone();
        path.push(sub.get_name().to_string());
        subcommand_paths(sub, path, out);
    }
}

#[test]
fn help_never_shows_the_database_url_or_the_secret_key() {
    use clap::CommandFactory;
    let url = "postgres://ispm:Pa55w0rd-in-url@db.example:5432/ispm";
    let key = api::SECRET_KEY;
    let mut paths = Vec::new();
    subcommand_paths(&ispmonitor::cli::Cli::command(), Vec::new(), &mut paths);
    assert!(paths.iter().any(|p| p == &["serve"]));
    assert!(paths.iter().any(|p| p == &["token", "create"]));
    for path in paths {
        let out = Command::new(common::ispmonitor::binary())
            .args(&path)
            .arg("--help")
            .env("ISPMONITOR_DATABASE_URL", url)
            .env("ISPMONITOR_SECRET_KEY", key)
            .output()
            .unwrap();
        assert!(out.status.success(), "{path:?} --help failed");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains("Usage"), "{path:?}: {text}");
        for secret in ["Pa55w0rd", key] {
            assert!(
                !text.contains(secret),
                "{path:?} --help shows {secret}:\n{text}"
            );
        }
    }
}
