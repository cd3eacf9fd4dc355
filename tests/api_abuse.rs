//! The API under hostile and heavy use, against the real binary and PostgreSQL: SQL-injection
//! strings in every list filter, malformed and oversized bodies, unicode and 10,000-character
//! names (clear 4xx, nothing written, no audit entry), a `wrk` flood against the rate limit
//! (/live keeps answering), and `wrk` reads beside concurrent writes (no errors, consistent
//! data afterwards).

mod common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::api::{self, Api};
use common::ispmonitor::Ispmonitor;
use common::postgres::TestDb;
use serde_json::{json, Value};

const ABUSE: &str = "tests/fixtures/api/abuse.yaml";
const FLOOD: &str = "tests/fixtures/api/flood.yaml";
/// `api.max_body_bytes` of the abuse fixture.
const BODY_LIMIT: usize = 65536;

/// A migrated database holding an unlimited license, the server on it, an admin token.
struct Setup {
    server: Ispmonitor,
    db: TestDb,
    admin: String,
}

impl Setup {
    fn start(config: &str) -> Setup {
        let db = TestDb::new();
        let url = db.url();
        api::migrate(&url);
        common::license::store_license(&db, &common::license::unlimited("LIC-ABUSE"));
        let server = Ispmonitor::start_with_env(
            Path::new(config),
            &[],
            &[
                ("ISPMONITOR_DATABASE_URL", &url),
                ("ISPMONITOR_SECRET_KEY", api::SECRET_KEY),
            ],
        );
        let admin = api::create_token(&url, "admin", "root");
        Setup { server, db, admin }
    }

    fn admin_api(&self) -> Api {
        Api::new(&self.server.api_addr, Some(&self.admin))
    }

    /// A digest of every inventory, token and audit row: any write changes it.
    fn checksum(&self) -> String {
        let tables = [
            "credentials",
            "devices",
            "device_modules",
            "device_labels",
            "api_tokens",
            "audit_log",
            "license_state",
        ];
        tables
            .iter()
            .map(|table| {
                let digest = self.db.psql(&format!(
                    "SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') FROM {table} t"
                ));
                format!("{table}={digest}")
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Percent-encodes a query value (every byte outside unreserved characters).
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The start of a long text, for failure messages.
fn short(text: &str) -> String {
    text.chars().take(200).collect()
}

/// The strings an attacker puts in filters.
const HOSTILE: &[&str] = &[
    "' OR 1=1 --",
    "'; DROP TABLE devices; --",
    "\" OR \"\"=\"",
    "1; SELECT pg_sleep(5)",
    "%",
    "_",
    "\\",
    "%' OR name LIKE '%",
    "core\0",
    "\0",
    "ams1\u{202e}1sma",
    "🚀",
    "e\u{301}",
    "$1",
    "NULL",
];

/// Seeds a credential and routers whose names none of the hostile strings can match.
fn seed(api: &Api) {
    let credential = json!({"name": "seed_v2", "type": "snmp", "version": "2c", "community": "seed-community-1"});
    assert_eq!(api.post("/api/v1/credentials", &credential).status, 201);
    for name in ["core1", "core2", "edge1"] {
        let body = json!({"name": name, "address": "192.0.2.1", "credential": "seed_v2",
                          "modules": ["system"], "labels": {"site": "ams1"}});
        let r = api.post("/api/v1/routers", &body);
        assert_eq!(r.status, 201, "{}", r.text());
    }
}

/// An error body names what is wrong: a message, and the field for a 422.
fn assert_clear_error(r: &common::http::Response, what: &str) {
    let body = r.json();
    let message = body["error"]["message"].as_str().unwrap_or("");
    assert!(!message.is_empty(), "{what}: no message in {body}");
    if r.status == 422 {
        assert!(
            body["error"]["field"].is_string(),
            "{what}: no field in {body}"
        );
    }
}

#[test]
fn hostile_filters_answer_a_clear_4xx_or_a_correct_empty_list_and_change_nothing() {
    let setup = Setup::start(ABUSE);
    let admin = setup.admin_api();
    seed(&admin);
    let before = setup.checksum();
    let lists: &[(&str, &[&str])] = &[
        (
            "/api/v1/routers",
            &[
                "label",
                "module",
                "source",
                "name_prefix",
                "limit",
                "offset",
            ],
        ),
        (
            "/api/v1/servers",
            &["label", "module", "source", "name_prefix"],
        ),
        (
            "/api/v1/devices",
            &["label", "module", "source", "name_prefix", "kind"],
        ),
        ("/api/v1/credentials", &["limit", "offset"]),
        (
            "/api/v1/audit",
            &[
                "actor",
                "action",
                "kind",
                "target",
                "request_id",
                "since",
                "until",
                "limit",
            ],
        ),
        (
            "/api/v1/audit/export",
            &["actor", "action", "kind", "target", "format"],
        ),
        (
            "/api/v1/alerts",
            &[
                "status",
                "severity",
                "alertname",
                "target",
                "since",
                "active",
            ],
        ),
        ("/api/v1/inventory/export", &["format", "kind"]),
    ];
    let mut problems = Vec::new();
    let mut requests = 0;
    for (path, params) in lists {
        for param in *params {
            for hostile in HOSTILE {
                let value = if *param == "label" {
                    format!("site={hostile}")
                } else {
                    hostile.to_string()
                };
                let url = format!("{path}?{param}={}", encode(&value));
                let r = admin.get(&url);
                requests += 1;
                match r.status {
                    200 => {
                        // A filter that matched: only if it really is the seeded data's.
                        let body = r.json();
                        let matched = body["total"]
                            .as_u64()
                            .or_else(|| body.as_array().map(|a| a.len() as u64));
                        let harmless_page = ["limit", "offset"].contains(param);
                        if matched.unwrap_or(0) != 0 && !harmless_page {
                            problems.push(format!(
                                "{url}: 200 with matches: {}",
                                short(&body.to_string())
                            ));
                        }
                    }
                    400 | 422 => assert_clear_error(&r, &url),
                    status => problems.push(format!("{url}: {status} {}", short(&r.text()))),
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // The right filters still work after all that.
    let ams = admin
        .get("/api/v1/routers?label=site%3Dams1&name_prefix=core")
        .json();
    assert_eq!(ams["total"], 2, "{ams}");
    assert_eq!(
        setup.checksum(),
        before,
        "a hostile filter changed the data"
    );
    println!("hostile filters: {requests} requests, no 5xx, data unchanged");
}

/// One request with a raw body; tolerates the server answering (and closing) before the whole
/// body is written, as it may for a 413.
fn raw_request(setup: &Setup, method: &str, path: &str, body: (&str, &[u8])) -> (u16, String) {
    let (addr, token) = (&setup.server.api_addr, &setup.admin);
    let (content_type, body) = body;
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let head = format!(
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).unwrap();
    let _ = stream.write_all(body);
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{method} {path}: no status in {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

#[test]
fn bad_bodies_are_refused_naming_the_field_and_write_nothing() {
    let setup = Setup::start(ABUSE);
    let admin = setup.admin_api();
    seed(&admin);
    let before = setup.checksum();
    let long = "r".repeat(10_000);
    let router = |name: &str| json!({"name": name, "address": "192.0.2.1", "credential": "seed_v2", "modules": ["system"]});
    let mut with_label = router("lbl1");
    with_label["labels"] = json!({"site": "a\u{0}b"});
    let mut nul_address = router("nul1");
    nul_address["address"] = json!("192.0.2.1\u{0}");
    let mut long_label_name = router("lbl2");
    long_label_name["labels"] = json!({ long.clone(): "x" });
    // (path, body, expected status, expected field)
    let json_cases: Vec<(&str, String, u16, &str)> = vec![
        ("/api/v1/routers", "{not json".into(), 400, ""),
        ("/api/v1/routers", "{\"name\": \"x\",".into(), 400, ""),
        ("/api/v1/routers", "[]".into(), 422, "body"),
        ("/api/v1/routers", "null".into(), 422, "body"),
        (
            "/api/v1/routers",
            json!({"name": 5, "address": "192.0.2.1", "modules": ["system"]}).to_string(),
            422,
            "name",
        ),
        (
            "/api/v1/routers",
            json!({"name": "x", "address": "192.0.2.1", "modules": "system"}).to_string(),
            422,
            "modules",
        ),
        (
            "/api/v1/routers",
            json!({"name": "x", "address": ["192.0.2.1"], "modules": ["system"]}).to_string(),
            422,
            "address",
        ),
        (
            "/api/v1/routers",
            json!({"name": "x", "address": "192.0.2.1", "modules": ["system"], "labels": {"a": 1}})
                .to_string(),
            422,
            "labels.a",
        ),
        (
            "/api/v1/routers",
            json!({"name": "x", "address": "192.0.2.1", "modules": ["system"], "colour": "red"})
                .to_string(),
            422,
            "colour",
        ),
        ("/api/v1/routers", router(&long).to_string(), 422, "name"),
        (
            "/api/v1/routers",
            router("🚀router").to_string(),
            422,
            "name",
        ),
        (
            "/api/v1/routers",
            router("core\u{202e}1").to_string(),
            422,
            "name",
        ),
        (
            "/api/v1/routers",
            router("e\u{301}dge").to_string(),
            422,
            "name",
        ),
        (
            "/api/v1/routers",
            router("nul\u{0}name").to_string(),
            422,
            "name",
        ),
        (
            "/api/v1/routers",
            router("' OR 1=1 --").to_string(),
            422,
            "name",
        ),
        (
            "/api/v1/routers",
            with_label.to_string(),
            422,
            "labels.site",
        ),
        ("/api/v1/routers", nul_address.to_string(), 422, "address"),
        ("/api/v1/routers", long_label_name.to_string(), 422, ""),
        (
            "/api/v1/servers",
            json!({"name": long, "address": "192.0.2.1", "modules": ["icmp"]}).to_string(),
            422,
            "name",
        ),
        (
            "/api/v1/credentials",
            json!({"name": long, "type": "snmp", "version": "2c", "community": "c"}).to_string(),
            422,
            "name",
        ),
        (
            "/api/v1/credentials",
            json!({"name": "c\u{0}", "type": "snmp", "version": "2c", "community": "c"})
                .to_string(),
            422,
            "name",
        ),
        (
            "/api/v1/credentials",
            json!({"name": "v3x", "type": "snmp", "version": "3", "username": "u\u{0}",
            "security_level": "noAuthNoPriv"})
            .to_string(),
            422,
            "username",
        ),
        (
            "/api/v1/credentials",
            json!({"name": "v2x", "type": "snmp", "version": 2.5, "community": "c"}).to_string(),
            422,
            "version",
        ),
        (
            "/api/v1/tokens",
            json!({"name": long, "role": "viewer"}).to_string(),
            422,
            "name",
        ),
        (
            "/api/v1/tokens",
            json!({"name": "t🚀", "role": "viewer"}).to_string(),
            422,
            "name",
        ),
        (
            "/api/v1/tokens",
            json!({"name": "t1", "role": "root"}).to_string(),
            422,
            "role",
        ),
        (
            "/api/v1/inventory/import",
            json!({"routers": [router(&long)]}).to_string(),
            422,
            "routers[0].name",
        ),
        (
            "/api/v1/inventory/import",
            json!({"routers": {"a": 1}}).to_string(),
            422,
            "routers",
        ),
    ];
    let mut problems = Vec::new();
    for (path, body, status, field) in &json_cases {
        let (got, full_answer) =
            raw_request(&setup, "POST", path, ("application/json", body.as_bytes()));
        let answer = short(&full_answer);
        let parsed: Value = serde_json::from_str(&full_answer).unwrap_or(Value::Null);
        let shown: String = body.chars().take(80).collect();
        if got != *status {
            problems.push(format!(
                "POST {path} {shown:?}: {got}, expected {status}: {}",
                short(&answer)
            ));
            continue;
        }
        if parsed["error"]["message"].as_str().unwrap_or("").is_empty() {
            problems.push(format!(
                "POST {path} {shown:?}: no message: {}",
                short(&answer)
            ));
        }
        if !field.is_empty() && parsed["error"]["field"] != *field {
            problems.push(format!(
                "POST {path} {shown:?}: field {}, expected {field}",
                parsed["error"]["field"]
            ));
        }
    }
    // A PUT of an existing router with a bad body changes nothing either.
    let (got, full_answer) = raw_request(
        &setup,
        "PUT",
        "/api/v1/routers/core1",
        ("application/json", router(&long).to_string().as_bytes()),
    );
    let answer = short(&full_answer);
    if got != 422 {
        problems.push(format!(
            "PUT core1 with a 10,000-character name: {got} {answer}"
        ));
    }
    // NUL in a path segment (a name), a CSV cell, or a JSON key.
    for (method, path) in [
        ("GET", "/api/v1/routers/core1%00"),
        ("PUT", "/api/v1/routers/a%00"),
        ("DELETE", "/api/v1/routers/%00"),
        ("DELETE", "/api/v1/credentials/seed_v2%00"),
        ("GET", "/api/v1/credentials/%00"),
    ] {
        let (got, full_answer) = raw_request(
            &setup,
            method,
            path,
            ("application/json", router("x").to_string().as_bytes()),
        );
        let answer = short(&full_answer);
        if got != 400 {
            problems.push(format!("{method} {path}: {got}, expected 400: {answer}"));
        }
    }
    let csv = "kind,name,address,modules,labels\nrouter,csv1,192.0.2.1,icmp,site=a\u{0}b\n";
    let (got, full_answer) = raw_request(
        &setup,
        "POST",
        "/api/v1/inventory/import",
        ("text/csv", csv.as_bytes()),
    );
    let answer = short(&full_answer);
    if got != 422 || !answer.contains("rows[1].labels") {
        problems.push(format!("CSV with NUL: {got} {answer}"));
    }
    let key = json!({"name": "k1", "address": "192.0.2.1", "modules": ["icmp"], "labels": {"a\u{0}": "b"}});
    let (got, full_answer) = raw_request(
        &setup,
        "POST",
        "/api/v1/routers",
        ("application/json", key.to_string().as_bytes()),
    );
    let answer = short(&full_answer);
    if got != 422 {
        problems.push(format!("label name with NUL: {got} {answer}"));
    }
    // A body that is not JSON at all, declared as something else.
    let (got, _) = raw_request(&setup, "POST", "/api/v1/routers", ("text/plain", b"name=x"));
    if got != 415 {
        problems.push(format!("text/plain body: {got}, expected 415"));
    }
    let (got, _) = raw_request(
        &setup,
        "POST",
        "/api/v1/routers",
        ("application/json", b"\xff\xfe{\"name\":1}"),
    );
    if got != 400 {
        problems.push(format!("invalid UTF-8 body: {got}, expected 400"));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert_eq!(
        setup.checksum(),
        before,
        "a refused body changed the data or wrote an audit entry"
    );
}

#[test]
fn oversized_bodies_get_413_and_write_nothing() {
    let setup = Setup::start(ABUSE);
    let admin = setup.admin_api();
    seed(&admin);
    let before = setup.checksum();
    let padding = "x".repeat(BODY_LIMIT + 1);
    let big_router = json!({"name": "big", "address": "192.0.2.1", "modules": ["system"], "labels": {"note": padding}}).to_string();
    let big_csv = format!(
        "kind,name,address,modules\n{}",
        "router,r,192.0.2.1,system\n".repeat(BODY_LIMIT / 20)
    );
    let huge = vec![b' '; 8 * 1024 * 1024];
    let cases: Vec<(&str, &str, &str, &[u8])> = vec![
        (
            "POST",
            "/api/v1/routers",
            "application/json",
            big_router.as_bytes(),
        ),
        (
            "PUT",
            "/api/v1/routers/core1",
            "application/json",
            big_router.as_bytes(),
        ),
        (
            "POST",
            "/api/v1/credentials",
            "application/json",
            big_router.as_bytes(),
        ),
        (
            "POST",
            "/api/v1/tokens",
            "application/json",
            big_router.as_bytes(),
        ),
        (
            "POST",
            "/api/v1/inventory/import",
            "text/csv",
            big_csv.as_bytes(),
        ),
        (
            "POST",
            "/api/v1/inventory/import",
            "application/json",
            &huge,
        ),
        ("PUT", "/api/v1/license", "application/json", &huge),
    ];
    for (method, path, content_type, body) in cases {
        let (status, full_answer) = raw_request(&setup, method, path, (content_type, body));
        let answer = short(&full_answer);
        assert_eq!(
            status,
            413,
            "{method} {path} with {} bytes: {answer}",
            body.len()
        );
        if !answer.is_empty() {
            let parsed: Value = serde_json::from_str(&full_answer).unwrap_or(Value::Null);
            assert_eq!(parsed["error"]["code"], "payload_too_large", "{answer}");
        }
    }
    // Just under the limit is fine.
    let fits = json!({"name": "fits", "address": "192.0.2.1", "credential": "seed_v2", "modules": ["system"],
                      "labels": {"note": "x".repeat(BODY_LIMIT - 400)}});
    assert_eq!(admin.post("/api/v1/routers", &fits).status, 201);
    assert_eq!(admin.delete("/api/v1/routers/fits").status, 204);
    let after = setup.checksum();
    let changed: Vec<&str> = before
        .split(' ')
        .zip(after.split(' '))
        .filter(|(b, a)| b != a)
        .map(|(b, _)| b.split('=').next().unwrap())
        .collect();
    assert_eq!(
        changed,
        ["audit_log"],
        "only the two accepted writes' audit entries are new"
    );
}

/// A wrk Lua script that counts answers by status and prints them at the end.
const COUNTING_SCRIPT: &str = r#"
local threads = {}
function setup(thread)
  table.insert(threads, thread)
end
function init(args)
  accepted, limited, failed = 0, 0, 0
  if args[1] ~= nil then
    wrk.headers["Authorization"] = "Bearer " .. args[1]
  end
end
function response(status, headers, body)
  if status == 429 then
    limited = limited + 1
  elseif status >= 200 and status < 300 then
    accepted = accepted + 1
  else
    failed = failed + 1
  end
end
function done(summary, latency, requests)
  local a, l, f = 0, 0, 0
  for _, t in ipairs(threads) do
    a = a + t:get("accepted")
    l = l + t:get("limited")
    f = f + t:get("failed")
  end
  io.write(string.format("COUNTS accepted=%d limited=%d failed=%d requests=%d seconds=%.3f socket_errors=%d\n",
    a, l, f, summary.requests, summary.duration / 1e6,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
"#;

/// What one wrk run counted.
#[derive(Debug, Default)]
struct WrkCounts {
    accepted: u64,
    limited: u64,
    failed: u64,
    requests: u64,
    seconds: f64,
    socket_errors: u64,
}

fn require_wrk() {
    let found = Command::new("wrk").arg("--version").output().is_ok();
    assert!(
        found,
        "wrk is missing: run scripts/install-peers.sh (Debian package wrk)"
    );
}

/// Runs wrk with the counting script against `url` for `seconds`.
fn run_wrk(url: &str, token: Option<&str>, connections: u32, seconds: u32) -> WrkCounts {
    require_wrk();
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("count.lua");
    std::fs::write(&script, COUNTING_SCRIPT).unwrap();
    let mut command = Command::new("wrk");
    command
        .args([
            "-t",
            "2",
            "-c",
            &connections.to_string(),
            "-d",
            &format!("{seconds}s"),
            "--timeout",
            "5s",
            "-s",
        ])
        .arg(&script)
        .arg(url);
    if let Some(token) = token {
        command.args(["--", token]);
    }
    let out = command.output().expect("run wrk");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "wrk failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    println!("wrk {url}:\n{stdout}");
    let line = stdout
        .lines()
        .find(|l| l.starts_with("COUNTS "))
        .unwrap_or_else(|| panic!("no counts: {stdout}"));
    let fields: BTreeMap<&str, &str> = line[7..]
        .split(' ')
        .filter_map(|kv| kv.split_once('='))
        .collect();
    let number = |name: &str| fields[name].parse::<f64>().unwrap();
    WrkCounts {
        accepted: number("accepted") as u64,
        limited: number("limited") as u64,
        failed: number("failed") as u64,
        requests: number("requests") as u64,
        seconds: number("seconds"),
        socket_errors: number("socket_errors") as u64,
    }
}

/// GETs `/live` every 50 ms until `stop`, returning the statuses and the slowest answer.
fn watch_live(
    addr: String,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<(Vec<u16>, Duration)> {
    std::thread::spawn(move || {
        let mut statuses = Vec::new();
        let mut slowest = Duration::ZERO;
        while !stop.load(Ordering::Relaxed) {
            let started = Instant::now();
            let status = common::http::get(&addr, "/live")
                .map(|r| r.status)
                .unwrap_or(0);
            slowest = slowest.max(started.elapsed());
            statuses.push(status);
            std::thread::sleep(Duration::from_millis(50));
        }
        (statuses, slowest)
    })
}

#[test]
fn the_address_rate_limit_holds_under_a_wrk_flood_and_live_keeps_answering() {
    let setup = Setup::start(FLOOD);
    let viewer = api::create_token(&setup.db.url(), "viewer", "flood");
    let (rate, burst) = (50.0, 25.0);
    let stop = Arc::new(AtomicBool::new(false));
    let live = watch_live(setup.server.api_addr.clone(), stop.clone());
    let url = format!("http://{}/api/v1/routers", setup.server.api_addr);
    let counts = run_wrk(&url, Some(&viewer), 32, 6);
    stop.store(true, Ordering::Relaxed);
    let (live_statuses, slowest) = live.join().unwrap();

    let allowed = burst + rate * counts.seconds;
    println!(
        "flood: {} requests in {:.1}s ({:.0}/s offered), {} accepted ({:.1}/s, limit {rate}/s + burst {burst}), {} refused with 429",
        counts.requests,
        counts.seconds,
        counts.requests as f64 / counts.seconds,
        counts.accepted,
        counts.accepted as f64 / counts.seconds,
        counts.limited
    );
    assert_eq!(
        counts.failed, 0,
        "answers other than 2xx and 429: {counts:?}"
    );
    assert!(
        counts.limited > counts.accepted,
        "the flood was not limited: {counts:?}"
    );
    assert!(
        (counts.accepted as f64) <= allowed * 1.02 + 2.0,
        "{} accepted, at most {allowed:.0} allowed: {counts:?}",
        counts.accepted
    );
    assert!(
        (counts.accepted as f64) >= rate * counts.seconds * 0.8,
        "the limit let through far less than its rate: {counts:?}"
    );
    assert!(live_statuses.len() >= 20, "{live_statuses:?}");
    assert!(
        live_statuses.iter().all(|s| *s == 200),
        "/live during the flood: {live_statuses:?}"
    );
    assert!(
        slowest < Duration::from_secs(1),
        "/live took {slowest:?} during the flood"
    );
    println!(
        "/live: {} probes during the flood, all 200, slowest {slowest:?}",
        live_statuses.len()
    );
}

/// What one writer thread did, for the consistency check.
#[derive(Default)]
struct WriterLog {
    /// Routers that should exist, with their last written `rev` label.
    alive: BTreeMap<String, String>,
    creates: u64,
    updates: u64,
    deletes: u64,
    errors: Vec<String>,
}

fn writer(api: Api, id: usize, rounds: usize) -> WriterLog {
    let mut log = WriterLog::default();
    for i in 0..rounds {
        let name = format!("w{id}-{i}");
        let body = |rev: &str| {
            json!({"name": name, "address": format!("192.0.2.{}", 1 + i % 200),
            "credential": "seed_v2", "modules": ["system"], "labels": {"rev": rev, "writer": id.to_string()}})
        };
        let r = api.post("/api/v1/routers", &body("1"));
        if r.status != 201 {
            log.errors
                .push(format!("create {name}: {} {}", r.status, r.text()));
            continue;
        }
        log.creates += 1;
        let r = api.put(&format!("/api/v1/routers/{name}"), &body("2"));
        if r.status != 200 {
            log.errors
                .push(format!("update {name}: {} {}", r.status, r.text()));
            log.alive.insert(name, "1".into());
            continue;
        }
        log.updates += 1;
        if i % 3 == 0 {
            let r = api.delete(&format!("/api/v1/routers/{name}"));
            if r.status != 204 {
                log.errors
                    .push(format!("delete {name}: {} {}", r.status, r.text()));
                log.alive.insert(name, "2".into());
                continue;
            }
            log.deletes += 1;
        } else {
            log.alive.insert(name, "2".into());
        }
    }
    log
}

#[test]
fn wrk_reads_beside_concurrent_writes_see_no_errors_and_the_data_stays_consistent() {
    let setup = Setup::start(ABUSE);
    let admin = setup.admin_api();
    seed(&admin);
    let seeded = 3;
    let operator = api::create_token(&setup.db.url(), "operator", "writers");
    let viewer = api::create_token(&setup.db.url(), "viewer", "readers");
    let audit_before: u64 = setup
        .db
        .psql("SELECT count(*) FROM audit_log WHERE kind = 'router'")
        .parse()
        .unwrap();

    let url = format!("http://{}/api/v1/routers?limit=1000", setup.server.api_addr);
    let reader = std::thread::spawn(move || run_wrk(&url, Some(&viewer), 8, 10));
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    let writers: Vec<_> = (0..4)
        .map(|id| {
            let api = Api::new(&setup.server.api_addr, Some(&operator));
            std::thread::spawn(move || writer(api, id, 30))
        })
        .collect();
    let logs: Vec<WriterLog> = writers.into_iter().map(|w| w.join().unwrap()).collect();
    let write_time = started.elapsed();
    let reads = reader.join().unwrap();

    let errors: Vec<&String> = logs.iter().flat_map(|l| &l.errors).collect();
    assert!(errors.is_empty(), "writes failed: {errors:?}");
    assert_eq!(reads.failed + reads.limited, 0, "reads failed: {reads:?}");
    assert_eq!(reads.socket_errors, 0, "{reads:?}");
    let (creates, updates, deletes) = logs.iter().fold((0, 0, 0), |(c, u, d), l| {
        (c + l.creates, u + l.updates, d + l.deletes)
    });
    println!(
        "load: {} reads in {:.1}s ({:.0}/s) beside {} writes in {:.1}s ({:.0}/s); no errors",
        reads.requests,
        reads.seconds,
        reads.requests as f64 / reads.seconds,
        creates + updates + deletes,
        write_time.as_secs_f64(),
        (creates + updates + deletes) as f64 / write_time.as_secs_f64()
    );

    // Afterwards: count = creates - deletes, each router as last written, one audit entry per write.
    let listed = admin
        .get("/api/v1/routers?source=database&limit=1000")
        .json();
    assert_eq!(
        listed["total"].as_u64().unwrap(),
        seeded + creates - deletes,
        "{listed}"
    );
    let by_name: BTreeMap<String, Value> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| (item["name"].as_str().unwrap().to_string(), item.clone()))
        .collect();
    for log in &logs {
        for (name, rev) in &log.alive {
            let item = by_name
                .get(name)
                .unwrap_or_else(|| panic!("{name} missing"));
            assert_eq!(item["labels"]["rev"], *rev, "{item}");
        }
    }
    let audit_after: u64 = setup
        .db
        .psql("SELECT count(*) FROM audit_log WHERE kind = 'router'")
        .parse()
        .unwrap();
    assert_eq!(
        audit_after - audit_before,
        creates + updates + deletes,
        "one audit entry per write"
    );
    let per_action = setup.db.psql(
        "SELECT string_agg(action || '=' || n, ',' ORDER BY action) FROM \
         (SELECT action, count(*) AS n FROM audit_log WHERE kind = 'router' AND actor = 'writers' GROUP BY action) a",
    );
    assert_eq!(
        per_action,
        format!("create={creates},delete={deletes},update={updates}")
    );
    let orphans = setup.db.psql(
        "SELECT count(*) FROM device_labels l LEFT JOIN devices d ON d.id = l.device_id WHERE d.id IS NULL",
    );
    assert_eq!(orphans, "0");
}
