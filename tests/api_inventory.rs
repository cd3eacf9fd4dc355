//! The inventory API against the real PostgreSQL and the real binary: CRUD of routers, servers
//! and credentials, validation naming the field, duplicates, concurrent creates, bulk import and
//! export (JSON and CSV), pagination and filters, the YAML targets read-only, audit entries, and
//! secrets that never leave the server in clear.

mod common;

use std::path::Path;
use std::time::Instant;

use common::api::{self, Api};
use common::http::{self, Response};
use common::ispmonitor::Ispmonitor;
use common::postgres::TestDb;
use ispmonitor::store::credential_fields;
use ispmonitor::store::SecretKey;
use serde_json::{json, Value};

const CONFIG: &str = "tests/fixtures/api/inventory.yaml";

const COMMUNITY: &str = "c0mmunity-Secret-7781";
const AUTH_PASSWORD: &str = "authPass-Secret-5521";
const PRIV_PASSWORD: &str = "privPass-Secret-9932";
const SSH_PASSWORD: &str = "sshPass-Secret-4410";
/// In the YAML fixture.
const FILE_SECRETS: [&str; 2] = ["file-community-Zq81", "file-ssh-password-Xy12"];
const HOST_KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAVf+L8TZtb4SJUZiuUXinOj3BsK/zpFpUPBivvU6Bix";

/// A server on a fresh database, with an operator and a viewer token.
struct Env {
    db: TestDb,
    server: Ispmonitor,
    operator: Api,
    viewer: Api,
    operator_token: String,
}

impl Env {
    fn start() -> Env {
        Env::start_on(TestDb::new())
    }

    /// With an enterprise license installed (the fixture trusts the test key): for the tests
    /// that write more routers than the starter limits allow.
    fn start_unlimited() -> Env {
        let db = TestDb::new();
        api::migrate(&db.url());
        common::license::store_license(&db, &common::license::unlimited("LIC-INVENTORY"));
        Env::start_on(db)
    }

    fn start_on(db: TestDb) -> Env {
        let url = db.url();
        let server = Ispmonitor::start_with_env(
            Path::new(CONFIG),
            &["--migrate"],
            &[
                ("ISPMONITOR_DATABASE_URL", &url),
                ("ISPMONITOR_SECRET_KEY", api::SECRET_KEY),
            ],
        );
        let operator_token = api::create_token(&url, "operator", "ops");
        let viewer_token = api::create_token(&url, "viewer", "grafana");
        Env {
            operator: Api::new(&server.api_addr, Some(&operator_token)),
            viewer: Api::new(&server.api_addr, Some(&viewer_token)),
            operator_token,
            db,
            server,
        }
    }

    /// The three credentials every test uses: SNMP v2c, SNMP v3 authPriv, SSH password.
    fn create_credentials(&self) {
        for body in [v2c("v2"), v3("v3"), ssh("ssh")] {
            let r = self.operator.post("/api/v1/credentials", &body);
            expect(&r, 201);
        }
    }

    /// One request (`"PUT /api/v1/..."`) with a chosen `X-Request-Id`.
    fn send_with_id(&self, request: &str, body: &Value, request_id: &str) -> Response {
        let (method, path) = request.split_once(' ').expect("METHOD PATH");
        let auth = format!("Bearer {}", self.operator_token);
        let text = body.to_string();
        let req = http::Req {
            method,
            path,
            headers: &[
                ("Authorization", &auth),
                ("Content-Type", "application/json"),
                ("X-Request-Id", request_id),
            ],
            body: text.as_bytes(),
        };
        http::send(&self.server.api_addr, &req).expect("request")
    }
}

fn expect(r: &Response, status: u16) {
    assert_eq!(r.status, status, "{}", r.text());
}

/// A 4xx answer's `error.field`.
fn field_of(r: &Response, status: u16) -> String {
    expect(r, status);
    r.json()["error"]["field"]
        .as_str()
        .unwrap_or_else(|| panic!("no field in {}", r.text()))
        .to_string()
}

fn v2c(name: &str) -> Value {
    json!({"name": name, "type": "snmp", "version": "2c", "community": COMMUNITY})
}

fn v3(name: &str) -> Value {
    json!({"name": name, "type": "snmp", "version": 3, "username": "monitor",
        "security_level": "authPriv", "auth_protocol": "SHA256", "auth_password": AUTH_PASSWORD,
        "priv_protocol": "AES", "priv_password": PRIV_PASSWORD})
}

fn ssh(name: &str) -> Value {
    json!({"name": name, "type": "ssh", "username": "monitor", "password": SSH_PASSWORD,
        "host_key": HOST_KEY})
}

fn router(name: &str, address: &str) -> Value {
    json!({"name": name, "address": address, "credential": "v2",
        "modules": ["system", "if_mib"], "labels": {"site": "ams1", "role": "core"}})
}

fn server(name: &str, address: &str) -> Value {
    json!({"name": name, "address": address, "credential": "ssh", "modules": ["linux"],
        "labels": {"site": "ams1"}, "interval": "1m", "timeout": "20s"})
}

/// The fields of a device body, as a view must repeat them.
fn assert_view_has(view: &Value, body: &Value) {
    for (field, value) in body.as_object().unwrap() {
        assert_eq!(&view[field], value, "{field} in {view}");
    }
}

#[test]
fn routers_servers_and_credentials_round_trip_with_audit_entries() {
    let env = Env::start();
    env.create_credentials();

    // Credentials: created, listed masked, replaced keeping a stored secret, renamed.
    let v2 = env.viewer.get("/api/v1/credentials/v2");
    expect(&v2, 200);
    let v2 = v2.json();
    assert_eq!(v2["community_set"], true);
    assert_eq!(v2["version"], "2c");
    assert_eq!(v2["source"], "database");
    assert!(v2.get("community").is_none(), "{v2}");
    let v3_view = env.viewer.get("/api/v1/credentials/v3").json();
    assert_eq!(
        v3_view["version"], "3",
        "a JSON number is taken as the version"
    );
    assert_eq!(v3_view["auth_password_set"], true);
    assert_eq!(v3_view["priv_password_set"], true);
    let listed = env.viewer.get("/api/v1/credentials").json();
    assert_eq!(listed["total"], 5, "2 file + 3 database: {listed}");
    assert_eq!(listed["items"][0]["source"], "file");

    // Routers: create, read, replace, delete.
    let body = router("r1", "10.0.0.1");
    let created = env.operator.post("/api/v1/routers", &body);
    expect(&created, 201);
    assert_eq!(created.header("location"), Some("/api/v1/routers/r1"));
    let view = created.json();
    assert_view_has(&view, &body);
    assert_eq!(view["kind"], "router");
    assert_eq!(view["source"], "database");
    assert!(view["id"].as_i64().is_some() && view["created_at"].is_string());
    assert_eq!(env.viewer.get("/api/v1/routers/r1").json(), view);
    let replaced_body = json!({"name": "r1", "address": "[2001:db8::1]:1161", "credential": "v3",
        "modules": ["if_mib"], "labels": {"site": "fra1"}, "interval": "30s"});
    let replaced = env.send_with_id("PUT /api/v1/routers/r1", &replaced_body, "crud-put-1");
    expect(&replaced, 200);
    assert_view_has(&replaced.json(), &replaced_body);
    let reread = env.viewer.get("/api/v1/routers/r1").json();
    assert_eq!(
        reread["labels"],
        json!({"site": "fra1"}),
        "PUT replaces labels"
    );
    assert_eq!(reread["timeout"], Value::Null);

    // Servers, with a file credential on one of them.
    let body = server("s1", "db1.example.net:2222");
    expect(&env.operator.post("/api/v1/servers", &body), 201);
    assert_view_has(&env.viewer.get("/api/v1/servers/s1").json(), &body);
    let file_cred = json!({"name": "s2", "address": "10.0.1.2", "credential": "file_ssh",
        "modules": ["linux"]});
    expect(&env.operator.post("/api/v1/servers", &file_cred), 201);
    assert_eq!(
        env.db
            .psql("SELECT file_credential, credential_id IS NULL FROM devices WHERE name = 's2'"),
        "file_ssh|t"
    );
    let moved = json!({"name": "s1", "address": "10.0.1.1", "credential": "ssh",
        "modules": ["linux", "icmp"], "host_key": HOST_KEY});
    expect(&env.operator.put("/api/v1/servers/s1", &moved), 200);
    assert_eq!(
        env.db.psql(
            "SELECT string_agg(module, ',' ORDER BY position) FROM device_modules \
             JOIN devices ON devices.id = device_id WHERE name = 's1'"
        ),
        "linux,icmp"
    );

    // A credential in use cannot go; a PUT with `_set: true` keeps the stored secret.
    let in_use = env.operator.delete("/api/v1/credentials/ssh");
    expect(&in_use, 409);
    assert!(
        in_use.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("used by 1 device"),
        "{}",
        in_use.text()
    );
    let keep = json!({"name": "v2", "type": "snmp", "version": "2c", "community_set": true});
    expect(&env.operator.put("/api/v1/credentials/v2", &keep), 200);
    assert_eq!(open_secrets(&env.db, "v2")["community"], COMMUNITY);
    let renamed = json!({"name": "v2-renamed", "type": "snmp", "version": "1",
        "community_set": true});
    expect(&env.operator.put("/api/v1/credentials/v2", &renamed), 200);
    assert_eq!(
        open_secrets(&env.db, "v2-renamed")["community"],
        COMMUNITY,
        "a rename re-seals under the new name"
    );
    expect(&env.viewer.get("/api/v1/credentials/v2"), 404);

    // Deletes.
    let deleted = env.send_with_id("DELETE /api/v1/routers/r1", &json!({}), "crud-del-1");
    expect(&deleted, 204);
    expect(&env.viewer.get("/api/v1/routers/r1"), 404);
    expect(&env.operator.delete("/api/v1/routers/r1"), 404);
    expect(&env.operator.delete("/api/v1/servers/s1"), 204);
    expect(&env.operator.delete("/api/v1/credentials/ssh"), 204);
    expect(&env.viewer.get("/api/v1/credentials/ssh"), 404);

    // One audit entry per change, with before/after views and the request id.
    let audit = env.db.psql(
        "SELECT action || ':' || kind || ':' || target || ':' || (before IS NOT NULL) || ':' \
         || (after IS NOT NULL) || ':' || coalesce(request_id, '') || ':' || actor \
         FROM audit_log WHERE kind <> 'token' ORDER BY id",
    );
    let lines: Vec<&str> = audit.lines().collect();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("create:credential:v2:false:true:")),
        "{audit}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("update:router:r1:true:true:crud-put-1:ops")),
        "{audit}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("delete:router:r1:true:false:crud-del-1:ops")),
        "{audit}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("create:server:s2:false:true:")),
        "{audit}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("update:credential:v2:true:true:")),
        "{audit}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("delete:credential:ssh:true:false:")),
        "{audit}"
    );
    assert_eq!(lines.len(), 13, "{audit}");
    assert_eq!(
        env.db.psql(
            "SELECT before->>'address' || ' -> ' || (after->>'address') FROM audit_log \
             WHERE action = 'update' AND kind = 'router'"
        ),
        "10.0.0.1 -> [2001:db8::1]:1161"
    );
}

/// The sealed secrets of a stored credential, opened with the test key.
fn open_secrets(db: &TestDb, name: &str) -> serde_json::Map<String, Value> {
    let hex = db.psql(&format!(
        "SELECT encode(secrets, 'hex') FROM credentials WHERE name = '{name}'"
    ));
    let sealed = data_encoding_hex(&hex);
    let key = SecretKey::parse(api::SECRET_KEY, "test").unwrap();
    credential_fields::open(&key, name, Some(&sealed)).unwrap()
}

fn data_encoding_hex(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn bad_requests_name_the_field_and_duplicates_conflict() {
    let env = Env::start();
    env.create_credentials();
    let post = |body: &Value| env.operator.post("/api/v1/routers", body);

    let with = |field: &str, value: Value| {
        let mut body = router("r1", "10.0.0.1");
        body[field] = value;
        body
    };

    assert_eq!(
        field_of(&post(&with("address", json!("10.0.0.999"))), 422),
        "address"
    );
    assert_eq!(
        field_of(&post(&with("address", json!("core1..net"))), 422),
        "address"
    );
    assert_eq!(
        field_of(&post(&with("modules", json!(["system", "nope"]))), 422),
        "modules[1]"
    );
    assert_eq!(
        field_of(&post(&with("colour", json!("red"))), 422),
        "colour"
    );
    assert_eq!(
        field_of(&post(&with("credential", json!("ssh"))), 422),
        "credential"
    );
    let wrong_type = post(&with("credential", json!("ssh")));
    assert!(
        wrong_type.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("ssh credential"),
        "{}",
        wrong_type.text()
    );
    assert_eq!(
        field_of(&post(&with("credential", json!("nope"))), 422),
        "credential"
    );
    assert_eq!(
        field_of(&post(&with("labels", json!({"bad-label": "x"}))), 422),
        "labels.bad-label"
    );
    assert_eq!(
        field_of(&post(&with("interval", json!("5s"))), 422),
        "interval"
    );
    let mut no_credential = router("r1", "10.0.0.1");
    no_credential.as_object_mut().unwrap().remove("credential");
    assert_eq!(field_of(&post(&no_credential), 422), "credential");
    let mut no_address = router("r1", "10.0.0.1");
    no_address.as_object_mut().unwrap().remove("address");
    assert_eq!(field_of(&post(&no_address), 422), "address");

    let file_field = json!({"name": "c1", "type": "snmp", "version": "2c",
        "community_file": "/etc/community"});
    let r = env.operator.post("/api/v1/credentials", &file_field);
    assert_eq!(field_of(&r, 422), "community_file");
    assert!(r.text().contains("inline"), "{}", r.text());
    let ssh_file = json!({"name": "c2", "type": "ssh", "username": "u",
        "private_key_file": "/root/.ssh/id_ed25519", "host_key": HOST_KEY});
    assert_eq!(
        field_of(&env.operator.post("/api/v1/credentials", &ssh_file), 422),
        "private_key_file"
    );
    let short = json!({"name": "c3", "type": "snmp", "version": "3", "username": "u",
        "security_level": "authNoPriv", "auth_protocol": "SHA", "auth_password": "seven77"});
    assert_eq!(
        field_of(&env.operator.post("/api/v1/credentials", &short), 422),
        "auth_password"
    );
    let bad_version = json!({"name": "c4", "type": "snmp", "version": 2, "community": "x"});
    assert_eq!(
        field_of(&env.operator.post("/api/v1/credentials", &bad_version), 422),
        "version"
    );
    let bad_name = json!({"name": "a b", "type": "snmp", "version": "1", "community": "x"});
    assert_eq!(
        field_of(&env.operator.post("/api/v1/credentials", &bad_name), 422),
        "name"
    );

    // Duplicates and the YAML file's names.
    expect(&post(&router("r1", "10.0.0.1")), 201);
    assert_eq!(field_of(&post(&router("r1", "10.0.0.2")), 409), "name");
    // Names are the poller's `target` label: unique across routers and servers too.
    let same_name_server = server("r1", "10.0.0.3");
    let clash = env.operator.post("/api/v1/servers", &same_name_server);
    assert_eq!(field_of(&clash, 409), "name");
    assert!(clash.text().contains("unique across"), "{}", clash.text());
    assert_eq!(
        field_of(&post(&router("yaml-core1", "10.0.0.9")), 409),
        "name"
    );
    assert_eq!(
        field_of(&env.operator.post("/api/v1/credentials", &v2c("v2")), 409),
        "name"
    );
    assert_eq!(
        field_of(
            &env.operator.post("/api/v1/credentials", &v2c("file_v2c")),
            409
        ),
        "name"
    );
    expect(
        &env.operator
            .post("/api/v1/routers", &router("r2", "10.0.0.2")),
        201,
    );
    assert_eq!(
        field_of(
            &env.operator
                .put("/api/v1/routers/r2", &router("r1", "10.0.0.2")),
            409
        ),
        "name",
        "a rename onto a taken name"
    );
    expect(
        &env.operator
            .put("/api/v1/routers/nope", &router("nope", "10.0.0.2")),
        404,
    );
    assert_eq!(
        env.db.psql("SELECT count(*) FROM devices"),
        "2",
        "no failed request wrote anything"
    );

    let xml = env.operator.request(
        "POST",
        "/api/v1/inventory/import",
        ("application/xml", b"<x/>"),
    );
    expect(&xml, 415);

    // Viewers read, operators write.
    expect(
        &env.viewer
            .post("/api/v1/routers", &router("r9", "10.0.0.9")),
        403,
    );
    expect(
        &Api::new(&env.server.api_addr, None).get("/api/v1/routers"),
        401,
    );
}

#[test]
fn yaml_targets_are_listed_read_only() {
    let env = Env::start();
    env.create_credentials();
    expect(
        &env.operator
            .post("/api/v1/routers", &router("a-db", "10.0.0.1")),
        201,
    );
    let listed = env.viewer.get("/api/v1/routers").json();
    assert_eq!(listed["total"], 2);
    let first = &listed["items"][0];
    assert_eq!(first["name"], "yaml-core1");
    assert_eq!(first["source"], "file");
    assert_eq!(first["id"], Value::Null);
    assert_eq!(first["credential"], "file_v2c");
    assert_eq!(first["labels"], json!({"site": "yaml"}));
    assert_eq!(listed["items"][1]["name"], "a-db", "file items first");
    let one = env.viewer.get("/api/v1/routers/yaml-core1");
    expect(&one, 200);
    assert_eq!(one.json()["source"], "file");
    expect(&env.viewer.get("/api/v1/servers/yaml-srv1"), 200);
    expect(&env.viewer.get("/api/v1/servers/yaml-core1"), 404);

    let put = env.operator.put(
        "/api/v1/routers/yaml-core1",
        &router("yaml-core1", "10.0.0.5"),
    );
    expect(&put, 409);
    assert!(put.text().contains("config file"), "{}", put.text());
    expect(&env.operator.delete("/api/v1/routers/yaml-core1"), 409);
    expect(&env.operator.delete("/api/v1/servers/yaml-srv1"), 409);
    expect(&env.operator.delete("/api/v1/credentials/file_v2c"), 409);
    let file_cred = env.viewer.get("/api/v1/credentials/file_v2c").json();
    assert_eq!(file_cred["source"], "file");
    assert_eq!(file_cred["community_set"], true);
}

#[test]
fn concurrent_creates_of_one_name_have_exactly_one_winner() {
    let env = Env::start();
    env.create_credentials();
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let api = env.operator.clone();
                scope.spawn(move || {
                    api.post(
                        "/api/v1/routers",
                        &router("race", &format!("10.0.0.{}", i + 1)),
                    )
                    .status
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        7,
        "{statuses:?}"
    );
    assert_eq!(
        env.db
            .psql("SELECT count(*) FROM devices WHERE name = 'race'"),
        "1"
    );
    assert_eq!(
        env.db
            .psql("SELECT count(*) FROM audit_log WHERE kind = 'router' AND target = 'race'"),
        "1"
    );
}

fn bulk_routers(prefix: &str, count: usize) -> Vec<Value> {
    (0..count)
        .map(|i| {
            json!({"name": format!("{prefix}-{i:05}"),
                "address": format!("10.{}.{}.{}", i / 65536, (i / 256) % 256, i % 256),
                "credential": "bulk", "modules": ["system", "if_mib"],
                "labels": {"site": format!("site{}", i % 10), "role": "edge"}})
        })
        .collect()
}

#[test]
fn bulk_import_of_5000_routers_is_one_fast_all_or_nothing_transaction() {
    let env = Env::start_unlimited();
    let document = json!({"credentials": [v2c("bulk")], "routers": bulk_routers("edge", 5000)});
    let started = Instant::now();
    let r = env.operator.post("/api/v1/inventory/import", &document);
    let took = started.elapsed();
    println!("imported 5,000 routers in {took:?}");
    expect(&r, 200);
    assert_eq!(
        r.json(),
        json!({"mode": "create", "credentials": {"created": 1, "updated": 0},
            "routers": {"created": 5000, "updated": 0}, "servers": {"created": 0, "updated": 0}})
    );
    assert!(took.as_secs_f64() < 3.0, "5,000 routers took {took:?}");
    let listed = env
        .viewer
        .get("/api/v1/routers?source=database&limit=1")
        .json();
    assert_eq!(listed["total"], 5000);
    assert_eq!(env.db.psql("SELECT count(*) FROM device_modules"), "10000");
    assert_eq!(
        env.db.psql(
            "SELECT count(*) || ':' || max(jsonb_array_length(after->'routers'->'names')) \
             FROM audit_log WHERE action = 'import'"
        ),
        "1:5000",
        "one audit entry per import"
    );
    assert_eq!(
        env.db
            .psql("SELECT count(*) FROM audit_log WHERE kind = 'router'"),
        "0"
    );

    // One bad row among 5,000 new ones: nothing imported, the row named.
    let mut routers = bulk_routers("core", 5000);
    routers[2999]["address"] = json!("10.0.0.300");
    let r = env
        .operator
        .post("/api/v1/inventory/import", &json!({"routers": routers}));
    assert_eq!(field_of(&r, 422), "routers[2999].address");
    assert_eq!(env.db.psql("SELECT count(*) FROM devices"), "5000");

    // CSV rows are numbered from 1 after the header.
    let mut csv = String::from("kind,name,address,credential,modules,labels,interval,timeout\n");
    for i in 1..=3000 {
        let address = if i == 3000 {
            "not an address"
        } else {
            "192.0.2.1"
        };
        csv.push_str(&format!("router,csv-{i},{address},bulk,system,site=x,,\n"));
    }
    let r = env.operator.request(
        "POST",
        "/api/v1/inventory/import",
        ("text/csv", csv.as_bytes()),
    );
    assert_eq!(field_of(&r, 422), "rows[3000].address");

    // Create mode refuses an existing name (naming the row); upsert replaces.
    let again = json!({"routers": bulk_routers("edge", 5000)});
    let r = env.operator.post("/api/v1/inventory/import", &again);
    assert_eq!(field_of(&r, 409), "routers[0].name");
    let mut changed = bulk_routers("edge", 5000);
    changed[7]["labels"] = json!({"site": "moved"});
    let started = Instant::now();
    let r = env.operator.post(
        "/api/v1/inventory/import?mode=upsert",
        &json!({"routers": changed}),
    );
    println!("upserted 5,000 routers in {:?}", started.elapsed());
    expect(&r, 200);
    assert_eq!(r.json()["routers"], json!({"created": 0, "updated": 5000}));
    assert_eq!(env.db.psql("SELECT count(*) FROM devices"), "5000");
    assert_eq!(env.db.psql("SELECT count(*) FROM device_labels"), "9999");
    let moved = env.viewer.get("/api/v1/routers/edge-00007").json();
    assert_eq!(moved["labels"], json!({"site": "moved"}));
    expect(
        &env.operator
            .post("/api/v1/inventory/import?mode=merge", &json!({})),
        422,
    );
}

#[test]
fn csv_and_json_exports_import_back() {
    let env = Env::start();
    env.create_credentials();
    let csv = "kind,name,address,credential,modules,labels,interval,timeout\n\
               router,c1,10.1.0.1,v2,system;if_mib,site=ams1;role=core,30s,\n\
               router,c2,core2.example.net:1161,v3,if_mib,site=fra1,,\n\
               router,c3,[2001:db8::3],,icmp,,,\n\
               server,s1,10.2.0.1,ssh,linux,site=ams1,1m,20s\n\
               server,s2,10.2.0.2,file_ssh,linux,,,\n";
    let r = env.operator.request(
        "POST",
        "/api/v1/inventory/import",
        ("text/csv", csv.as_bytes()),
    );
    expect(&r, 200);
    assert_eq!(r.json()["routers"]["created"], 3);
    assert_eq!(r.json()["servers"]["created"], 2);
    let c1 = env.viewer.get("/api/v1/routers/c1").json();
    assert_eq!(c1["modules"], json!(["system", "if_mib"]));
    assert_eq!(c1["labels"], json!({"site": "ams1", "role": "core"}));
    assert_eq!(c1["interval"], "30s");

    let exported = env.viewer.get("/api/v1/inventory/export?format=csv");
    expect(&exported, 200);
    assert!(exported
        .header("content-type")
        .unwrap()
        .starts_with("text/csv"));
    let text = exported.text();
    let mut lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines.remove(0),
        "kind,name,address,credential,modules,labels,interval,timeout,host_key"
    );
    let expected = [
        "router,c1,10.1.0.1,v2,system;if_mib,role=core;site=ams1,30s,,",
        "router,c2,core2.example.net:1161,v3,if_mib,site=fra1,,,",
        "router,c3,[2001:db8::3],,icmp,,,,",
        "server,s1,10.2.0.1,ssh,linux,site=ams1,1m,20s,",
        "server,s2,10.2.0.2,file_ssh,linux,,,,",
    ];
    assert_eq!(lines, expected);
    let routers_only = env
        .viewer
        .get("/api/v1/inventory/export?format=csv&kind=router");
    assert_eq!(routers_only.text().lines().count(), 4);

    // The CSV export re-imports as it is (upsert): nothing changes.
    let r = env.operator.request(
        "POST",
        "/api/v1/inventory/import?mode=upsert",
        ("text/csv", &exported.body),
    );
    expect(&r, 200);
    assert_eq!(r.json()["routers"], json!({"created": 0, "updated": 3}));
    assert_eq!(
        env.viewer.get("/api/v1/inventory/export?format=csv").text(),
        text
    );

    // The JSON export carries credentials without their secrets, marked, and devices.
    let json_export = env.viewer.get("/api/v1/inventory/export");
    expect(&json_export, 200);
    let document = json_export.json();
    assert_eq!(document["credentials"].as_array().unwrap().len(), 3);
    let v2 = &document["credentials"][1];
    assert_eq!(v2["name"], "v2");
    assert_eq!(v2["community_set"], true);
    assert!(v2.get("community").is_none());
    assert_eq!(document["routers"].as_array().unwrap().len(), 3);
    assert_eq!(document["servers"][1]["credential"], "file_ssh");

    // Into another database where the credentials exist: a clean upsert, the same inventory.
    let other = Env::start();
    other.create_credentials();
    let r = other
        .operator
        .post("/api/v1/inventory/import?mode=upsert", &document);
    expect(&r, 200);
    assert_eq!(r.json()["credentials"], json!({"created": 0, "updated": 3}));
    assert_eq!(r.json()["servers"], json!({"created": 2, "updated": 0}));
    assert_eq!(
        other
            .viewer
            .get("/api/v1/inventory/export?format=csv")
            .text(),
        text
    );
    assert_eq!(
        open_secrets(&other.db, "v3")["priv_password"],
        PRIV_PASSWORD
    );
    // ...and where they do not, the missing secret is named.
    let empty = Env::start();
    let r = empty
        .operator
        .post("/api/v1/inventory/import?mode=upsert", &document);
    assert_eq!(field_of(&r, 422), "credentials[0].password_set");
    assert_eq!(empty.db.psql("SELECT count(*) FROM credentials"), "0");
}

#[test]
fn pagination_and_filters_span_file_and_database_devices() {
    let env = Env::start_unlimited();
    env.create_credentials();
    let routers: Vec<Value> = (0..25)
        .map(|i| {
            let mut labels = json!({"site": if i % 2 == 0 { "ams1" } else { "fra1" }});
            if i % 5 == 0 {
                labels["role"] = json!("core");
            }
            let modules = if i % 3 == 0 {
                json!(["system", "bgp4"])
            } else {
                json!(["system"])
            };
            json!({"name": format!("r{i:02}"), "address": format!("10.0.0.{}", i + 1),
                "credential": "v2", "modules": modules, "labels": labels})
        })
        .collect();
    let servers = vec![server("s1", "10.9.0.1")];
    let r = env.operator.post(
        "/api/v1/inventory/import",
        &json!({"routers": routers, "servers": servers}),
    );
    expect(&r, 200);

    let names = |path: &str| -> (u64, Vec<String>) {
        let r = env.viewer.get(path);
        expect(&r, 200);
        let page = r.json();
        let names = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["name"].as_str().unwrap().to_string())
            .collect();
        (page["total"].as_u64().unwrap(), names)
    };
    let (total, first) = names("/api/v1/routers?limit=3");
    assert_eq!(total, 26, "25 database routers and the file's");
    assert_eq!(first, ["yaml-core1", "r00", "r01"]);
    let (_, second) = names("/api/v1/routers?limit=3&offset=3");
    assert_eq!(second, ["r02", "r03", "r04"]);
    let (_, last) = names("/api/v1/routers?limit=10&offset=20");
    assert_eq!(last, ["r19", "r20", "r21", "r22", "r23", "r24"]);
    let (total, none) = names("/api/v1/routers?offset=500");
    assert_eq!((total, none.len()), (26, 0));
    let default_page = env.viewer.get("/api/v1/routers").json();
    assert_eq!(
        (
            default_page["limit"].clone(),
            default_page["offset"].clone()
        ),
        (json!(100), json!(0))
    );

    let (total, core) = names("/api/v1/routers?label=role%3Dcore");
    assert_eq!(total, 5);
    assert_eq!(core, ["r00", "r05", "r10", "r15", "r20"]);
    let (_, core_ams) = names("/api/v1/routers?label=role=core&label=site=ams1");
    assert_eq!(core_ams, ["r00", "r10", "r20"], "labels AND");
    let (_, yaml) = names("/api/v1/routers?label=site=yaml");
    assert_eq!(yaml, ["yaml-core1"]);
    let (total, bgp) = names("/api/v1/routers?module=bgp4&limit=2");
    assert_eq!(
        (total, bgp),
        (9, vec!["r00".to_string(), "r03".to_string()])
    );
    let (total, _) = names("/api/v1/routers?source=file");
    assert_eq!(total, 1);
    let (total, _) = names("/api/v1/routers?source=database&label=site=ams1");
    assert_eq!(total, 13);
    let (_, prefixed) = names("/api/v1/routers?name_prefix=r1");
    assert_eq!(prefixed.len(), 10);
    let (total, all) = names("/api/v1/devices?label=site=ams1&limit=1000");
    assert_eq!(total, 14, "13 routers and s1: {all:?}");
    let (total, servers) = names("/api/v1/devices?kind=server");
    assert_eq!(
        (total, servers),
        (2, vec!["yaml-srv1".to_string(), "s1".to_string()])
    );

    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("offset=-1", "offset"),
        ("label=site", "label"),
        ("source=disk", "source"),
        ("colour=red", "colour"),
        ("kind=router", "kind"),
    ] {
        let r = env.viewer.get(&format!("/api/v1/routers?{query}"));
        assert_eq!(field_of(&r, 422), field, "{query}");
    }
    assert_eq!(
        field_of(&env.viewer.get("/api/v1/devices?kind=switch"), 422),
        "kind"
    );
}

#[test]
fn secrets_never_appear_in_answers_logs_audit_or_the_database_in_clear() {
    let env = Env::start();
    let secrets = [COMMUNITY, AUTH_PASSWORD, PRIV_PASSWORD, SSH_PASSWORD];
    let mut bodies = Vec::new();
    let mut keep = |r: Response| {
        bodies.push(r.text());
        r
    };
    for body in [v2c("v2"), v3("v3"), ssh("ssh")] {
        expect(&keep(env.operator.post("/api/v1/credentials", &body)), 201);
    }
    expect(
        &keep(
            env.operator
                .post("/api/v1/routers", &router("r1", "10.0.0.1")),
        ),
        201,
    );
    keep(env.viewer.get("/api/v1/credentials"));
    keep(env.viewer.get("/api/v1/credentials/v3"));
    keep(env.viewer.get("/api/v1/credentials/file_v2c"));
    keep(env.viewer.get("/api/v1/routers"));
    keep(env.viewer.get("/api/v1/inventory/export"));
    keep(env.viewer.get("/api/v1/inventory/export?format=csv"));
    expect(
        &keep(env.operator.put("/api/v1/credentials/v3", &v3("v3"))),
        200,
    );
    // Errors: a duplicate, a refused type, a value of the wrong type, a bad field beside it.
    keep(env.operator.post("/api/v1/credentials", &v2c("v2")));
    let mut wrong = v3("v4");
    wrong["auth_password"] = json!(55_214_477);
    let r = keep(env.operator.post("/api/v1/credentials", &wrong));
    assert_eq!(field_of(&r, 422), "auth_password");
    assert!(!r.text().contains("55214477"), "{}", r.text());
    let mut bad = v3("v5");
    bad["auth_protocol"] = json!("SHA999");
    assert_eq!(
        field_of(&keep(env.operator.post("/api/v1/credentials", &bad)), 422),
        "auth_protocol"
    );
    let mut bad_ssh = ssh("ssh2");
    bad_ssh["host_key"] = json!("not a key");
    keep(env.operator.post("/api/v1/credentials", &bad_ssh));
    let mut bulk_bad = v2c("v9");
    bulk_bad["community"] = json!([COMMUNITY]);
    let r = keep(env.operator.post(
        "/api/v1/inventory/import",
        &json!({"credentials": [bulk_bad]}),
    ));
    assert_eq!(field_of(&r, 422), "credentials[0].community");
    keep(env.operator.post(
        "/api/v1/inventory/import",
        &json!({"credentials": [v2c("v2")], "routers": [router("r1", "10.0.0.1")]}),
    ));

    for body in &bodies {
        for secret in secrets.iter().chain(FILE_SECRETS.iter()) {
            assert!(!body.contains(secret), "{secret} in an answer: {body}");
        }
    }
    for secret in secrets {
        let in_clear = env.db.psql(&format!(
            "SELECT count(*) FROM credentials WHERE params::text LIKE '%{secret}%' \
             OR position(convert_to('{secret}', 'UTF8') IN secrets) > 0"
        ));
        assert_eq!(in_clear, "0", "{secret} stored in clear");
        let audited = env.db.psql(&format!(
            "SELECT count(*) FROM audit_log WHERE before::text LIKE '%{secret}%' \
             OR after::text LIKE '%{secret}%'"
        ));
        assert_eq!(audited, "0", "{secret} in the audit log");
    }
    assert_eq!(
        env.db
            .psql("SELECT count(*) FROM credentials WHERE secrets IS NULL"),
        "0"
    );
    assert_eq!(open_secrets(&env.db, "v3")["auth_password"], AUTH_PASSWORD);
    let Env { server, .. } = env;
    let logs = server.stop_and_logs();
    assert!(!logs.is_empty());
    for secret in secrets.iter().chain(FILE_SECRETS.iter()) {
        assert!(!logs.contains(secret), "{secret} logged");
    }
    assert!(!logs.contains(api::SECRET_KEY));
}

#[test]
fn without_a_database_the_yaml_inventory_is_read_only_and_without_a_key_secrets_are_refused() {
    let server = Ispmonitor::start(Path::new(CONFIG), &[]);
    let anonymous = Api::new(&server.api_addr, None);
    let routers = anonymous.get("/api/v1/routers");
    expect(&routers, 200);
    assert_eq!(routers.json()["total"], 1);
    assert_eq!(routers.json()["items"][0]["source"], "file");
    let devices = anonymous.get("/api/v1/devices").json();
    assert_eq!(devices["total"], 2);
    let credentials = anonymous.get("/api/v1/credentials");
    expect(&credentials, 200);
    assert_eq!(credentials.json()["total"], 2);
    for secret in FILE_SECRETS {
        assert!(!credentials.text().contains(secret));
    }
    expect(&anonymous.get("/api/v1/routers/yaml-core1"), 200);
    for r in [
        anonymous.post("/api/v1/routers", &router("r1", "10.0.0.1")),
        anonymous.put(
            "/api/v1/routers/yaml-core1",
            &router("yaml-core1", "10.0.0.1"),
        ),
        anonymous.delete("/api/v1/servers/yaml-srv1"),
        anonymous.post("/api/v1/credentials", &v2c("v2")),
        anonymous.post("/api/v1/inventory/import", &json!({})),
        anonymous.get("/api/v1/inventory/export"),
    ] {
        expect(&r, 503);
        assert_eq!(r.json()["error"]["code"], "database_not_configured");
    }
    drop(server);

    let db = TestDb::new();
    let url = db.url();
    let keyless = Ispmonitor::start_with_env(
        Path::new(CONFIG),
        &["--migrate"],
        &[("ISPMONITOR_DATABASE_URL", &url)],
    );
    let operator = Api::new(
        &keyless.api_addr,
        Some(&api::create_token(&url, "operator", "ops")),
    );
    let r = operator.post("/api/v1/credentials", &v2c("v2"));
    expect(&r, 503);
    assert_eq!(r.json()["error"]["code"], "secret_key_unavailable");
    assert!(r.text().contains("ISPMONITOR_SECRET_KEY"), "{}", r.text());
    let agent = json!({"name": "agent", "type": "ssh", "username": "u", "agent": true,
        "host_key": HOST_KEY});
    expect(&operator.post("/api/v1/credentials", &agent), 201);
    let on_file_credential = json!({"name": "r1", "address": "10.0.0.1",
        "credential": "file_v2c", "modules": ["system"]});
    expect(&operator.post("/api/v1/routers", &on_file_credential), 201);
}

const ROUTEROS_PASSWORD: &str = "rosPass-Secret-6023";

#[test]
fn routeros_credentials_and_routers_go_through_the_api_sealed_and_validated() {
    let env = Env::start();
    let body = json!({"name": "mikrotik", "type": "routeros", "username": "monitor",
        "password": ROUTEROS_PASSWORD, "tls": true, "insecure_skip_verify": true});
    let created = env.operator.post("/api/v1/credentials", &body);
    expect(&created, 201);
    assert!(
        !created.text().contains(ROUTEROS_PASSWORD),
        "{}",
        created.text()
    );
    let view = env.viewer.get("/api/v1/credentials/mikrotik").json();
    assert_eq!(view["type"], "routeros");
    assert_eq!(view["password_set"], true, "{view}");
    assert_eq!(view["tls"], true, "{view}");
    assert_eq!(view["insecure_skip_verify"], true, "{view}");
    assert!(view.get("password").is_none(), "{view}");
    assert_eq!(
        open_secrets(&env.db, "mikrotik")["password"],
        ROUTEROS_PASSWORD
    );
    let in_clear = env.db.psql(&format!(
        "SELECT count(*) FROM credentials WHERE params::text LIKE '%{ROUTEROS_PASSWORD}%'"
    ));
    assert_eq!(in_clear, "0", "the password is sealed, not in params");

    // A router polled over the API; the schema (version 5) takes the new type.
    let edge = json!({"name": "edge-1-api", "address": "10.0.0.1", "credential": "mikrotik",
        "modules": ["routeros"]});
    expect(&env.operator.post("/api/v1/routers", &edge), 201);
    let mixed = json!({"name": "edge-2", "address": "10.0.0.2", "credential": "mikrotik",
        "modules": ["routeros", "if_mib"]});
    assert_eq!(
        field_of(&env.operator.post("/api/v1/routers", &mixed), 422),
        "modules"
    );

    // Bad bodies name the field and change nothing.
    let before = env.db.psql("SELECT count(*) FROM credentials");
    let cases = [
        (
            json!({"name": "r2", "type": "routeros", "username": "monitor"}),
            "password",
        ),
        (
            json!({"name": "r3", "type": "routeros", "username": "monitor",
                "password": ROUTEROS_PASSWORD, "server_name": "edge.example"}),
            "server_name",
        ),
        (
            json!({"name": "r4", "type": "routeros", "username": "a=b",
                "password": ROUTEROS_PASSWORD}),
            "username",
        ),
        (
            json!({"name": "r5", "type": "routeros", "username": "monitor",
                "password": ROUTEROS_PASSWORD, "community": "public"}),
            "community",
        ),
    ];
    for (bad, field) in cases {
        let r = env.operator.post("/api/v1/credentials", &bad);
        assert_eq!(field_of(&r, 422), field, "{bad}");
        assert!(!r.text().contains(ROUTEROS_PASSWORD), "{}", r.text());
    }
    assert_eq!(env.db.psql("SELECT count(*) FROM credentials"), before);
    let Env { server, .. } = env;
    assert!(!server.stop_and_logs().contains(ROUTEROS_PASSWORD));
}
