//! `ispmonitor diagnostics` against real peers: net-snmp's snmpd (v2c and v3), OpenSSH's sshd,
//! PostgreSQL (reachable, unreachable, not migrated), ICMP to loopback and a dead target. The
//! report must name each check's result, print every secret as `<secret>`, and exit 0 only
//! when everything answered.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::api::SECRET_KEY;
use common::inventory_sql::{v2c_credential_sql, Device};
use common::ispmonitor::{binary, free_tcp_port};
use common::postgres::TestDb;
use common::snmpd::{free_udp_port, Snmpd, SnmpdOptions};
use common::sshd::{Sshd, SshdOptions, TEST_PASSWORD, TEST_USER};
use serde_json::Value;

const COMMUNITY: &str = "diag-community-Q7v2";
const AUTH_PASSWORD: &str = "diag-auth-pw-K3m9";
const PRIV_PASSWORD: &str = "diag-priv-pw-T8x4";
const DB_COMMUNITY: &str = "diag-db-community-W5n1";
const DB_PASSWORD: &str = "diag-db-pw-H2c6";

/// An agent that knows this test's own community and v3 user besides the harness's.
fn agent() -> Snmpd {
    Snmpd::start_with(SnmpdOptions {
        extra_config: vec![
            format!("rocommunity {COMMUNITY} 127.0.0.1"),
            format!("rocommunity {DB_COMMUNITY} 127.0.0.1"),
            format!("createUser diaguser SHA \"{AUTH_PASSWORD}\" AES \"{PRIV_PASSWORD}\""),
            "rouser diaguser priv".into(),
        ],
        scripts: Vec::new(),
    })
}

fn diagnostics(config: &Path, output: &str, env: &[(&str, &str)]) -> Output {
    Command::new(binary())
        .args([
            "diagnostics",
            "--timeout",
            "2s",
            "--output",
            output,
            "--config",
        ])
        .arg(config)
        .env_remove("RUST_LOG")
        .env_remove("ISPMONITOR_DATABASE_URL")
        .env_remove("ISPMONITOR_SECRET_KEY")
        .envs(env.iter().copied())
        .output()
        .expect("run ispmonitor diagnostics")
}

fn parse_report(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn check<'a>(report: &'a Value, target: &str, protocol: &str) -> &'a Value {
    report["targets"]
        .as_array()
        .expect("targets")
        .iter()
        .find(|c| c["target"] == target && c["protocol"] == protocol)
        .unwrap_or_else(|| panic!("no {protocol} check of {target} in {report:#}"))
}

fn all_output(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn diagnostics_checks_the_database_and_every_target_and_prints_secrets_as_placeholders() {
    let agent = agent();
    let sshd = Sshd::start(SshdOptions::default());
    let dead_udp = free_udp_port();
    let db = TestDb::new();
    common::api::migrate(&db.url());
    db.psql(&v2c_credential_sql(SECRET_KEY, "db_v2c", DB_COMMUNITY));
    let device = Device {
        kind: "router",
        name: "db-router",
        address: &format!("127.0.0.1:{}", agent.port),
        credential: Some("db_v2c"),
        modules: &["system"],
        labels: &[],
    };
    db.psql(&device.insert_sql());

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(
        dir.path().join("ssh_password"),
        format!("{TEST_PASSWORD}\n"),
    )
    .unwrap();
    std::fs::write(
        &config,
        format!(
            r#"
global: {{interval: 10s, timeout: 5s}}
credentials:
  v2: {{type: snmp, version: 2c, community: {COMMUNITY}}}
  v3: {{type: snmp, version: "3", username: diaguser, security_level: authPriv,
       auth_protocol: SHA, auth_password: {AUTH_PASSWORD}, priv_protocol: AES,
       priv_password: {PRIV_PASSWORD}}}
  ssh: {{type: ssh, username: {TEST_USER}, password_file: ssh_password,
        host_key: "{host_key}"}}
modules:
  ping: {{type: icmp, count: 3, interval: 100ms, timeout: 1s}}
targets:
  - {{name: snmp-v2, kind: router, address: "127.0.0.1:{port}", modules: [if_mib], credential: v2}}
  - {{name: snmp-v3, kind: router, address: "127.0.0.1:{port}", modules: [system], credential: v3}}
  - {{name: linux1, kind: server, address: "127.0.0.1:{ssh_port}", modules: [linux], credential: ssh}}
  - {{name: loopback, kind: host, address: 127.0.0.1, modules: [ping]}}
  - {{name: dead-snmp, kind: router, address: "127.0.0.1:{dead_udp}", modules: [system], credential: v2}}
"#,
            port = agent.port,
            ssh_port = sshd.port,
            host_key = sshd.host_key(),
        ),
    )
    .unwrap();
    let url = db
        .url()
        .replace("postgres@", &format!("postgres:{DB_PASSWORD}@"));
    let env = [
        ("ISPMONITOR_DATABASE_URL", url.as_str()),
        ("ISPMONITOR_SECRET_KEY", SECRET_KEY),
    ];

    let out = diagnostics(&config, "json", &env);
    let text = all_output(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a dead target fails the run: {text}"
    );
    let report = parse_report(&out);
    assert_eq!(report["ok"], false);

    // The database: reached, migrated, its inventory read.
    let database = &report["database"];
    assert_eq!(database["status"], "ok", "{database:#}");
    assert_eq!(
        database["schema_version"],
        database["expected_schema_version"]
    );
    assert_eq!(database["database_devices"], 1);

    // Every target, per protocol.
    let v2 = check(&report, "snmp-v2", "snmp");
    assert_eq!(v2["result"], "success", "{v2:#}");
    assert!(!v2["sys_name"].as_str().unwrap_or("").is_empty(), "{v2:#}");
    assert_eq!(check(&report, "snmp-v3", "snmp")["result"], "success");
    let ssh = check(&report, "linux1", "ssh");
    assert_eq!(ssh["result"], "success", "{ssh:#}");
    assert_eq!(check(&report, "loopback", "icmp")["result"], "success");
    let from_db = check(&report, "db-router", "snmp");
    assert_eq!(
        (&from_db["result"], &from_db["source"]),
        (&Value::from("success"), &Value::from("database"))
    );
    let dead = check(&report, "dead-snmp", "snmp");
    assert_eq!(dead["ok"], false);
    assert!(
        ["unreachable", "timeout"].contains(&dead["result"].as_str().unwrap()),
        "{dead:#}"
    );
    assert!(
        dead["seconds"].as_f64().unwrap() < 4.0,
        "bounded by --timeout"
    );
    assert_eq!(report["summary"]["failed"], 1);
    assert_eq!(report["summary"]["checks"], 7);

    // The effective config: every secret a placeholder, the rest as configured.
    let config_view = &report["config"];
    assert_eq!(config_view["credentials"]["v2"]["community"], "<secret>");
    assert_eq!(
        config_view["credentials"]["v3"]["auth_password"],
        "<secret>"
    );
    assert_eq!(
        config_view["credentials"]["v3"]["priv_password"],
        "<secret>"
    );
    assert_eq!(config_view["credentials"]["ssh"]["password"], "<secret>");
    assert_eq!(
        config_view["credentials"]["db_v2c"]["community"],
        "<secret>"
    );
    assert_eq!(config_view["database"]["url"], "<secret>");
    assert_eq!(
        config_view["database"]["connection"]["password"],
        "<secret>"
    );
    assert_eq!(
        config_view["database"]["url_source"],
        "ISPMONITOR_DATABASE_URL"
    );
    assert_eq!(config_view["database"]["secret_key"], "<secret>");
    assert_eq!(config_view["credentials"]["v3"]["username"], "diaguser");
    assert!(config_view["targets"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["name"] == "db-router" && t["source"] == "database"));
    for secret in [
        COMMUNITY,
        AUTH_PASSWORD,
        PRIV_PASSWORD,
        DB_COMMUNITY,
        DB_PASSWORD,
        TEST_PASSWORD,
        SECRET_KEY,
    ] {
        assert!(!text.contains(secret), "{secret} in the report:\n{text}");
    }

    // The human form says the same.
    let out = diagnostics(&config, "text", &env);
    let text = all_output(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("community: <secret>"), "{text}");
    assert!(text.contains("FAIL snmp dead-snmp"), "{text}");
    assert!(text.contains("ok   snmp snmp-v3"), "{text}");
    assert!(text.contains("ok   database: ok"), "{text}");
    assert!(text.contains("6 of 7 checks passed"), "{text}");
    for secret in [
        COMMUNITY,
        AUTH_PASSWORD,
        PRIV_PASSWORD,
        DB_PASSWORD,
        TEST_PASSWORD,
    ] {
        assert!(!text.contains(secret), "{secret} in the text report");
    }
}

#[test]
fn diagnostics_exits_0_when_everything_answers_and_no_database_is_configured() {
    let agent = agent();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "credentials:\n  v2: {{type: snmp, version: 2c, community: {COMMUNITY}}}\n\
             targets:\n  - {{name: r1, kind: router, address: \"127.0.0.1:{}\", modules: [system], credential: v2}}\n",
            agent.port
        ),
    )
    .unwrap();
    let out = diagnostics(&config, "json", &[]);
    let report = parse_report(&out);
    assert_eq!(out.status.code(), Some(0), "{report:#}");
    assert_eq!(report["ok"], true);
    assert_eq!(report["database"]["status"], "not_configured");
    assert_eq!(report["database"]["ok"], true);
    assert_eq!(check(&report, "r1", "snmp")["result"], "success");
    assert_eq!(report["config"]["database"]["url"], Value::Null);
}

#[test]
fn diagnostics_names_a_wrong_community_an_unreachable_database_and_an_old_schema() {
    let agent = agent();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "credentials:\n  wrong: {{type: snmp, version: 2c, community: not-the-community-R4}}\n\
             targets:\n  - {{name: r1, kind: router, address: \"127.0.0.1:{}\", modules: [system], credential: wrong}}\n",
            agent.port
        ),
    )
    .unwrap();
    let closed = format!(
        "postgres://postgres:{DB_PASSWORD}@127.0.0.1:{}/nothing",
        free_tcp_port()
    );
    let out = diagnostics(&config, "json", &[("ISPMONITOR_DATABASE_URL", &closed)]);
    let text = all_output(&out);
    let report = parse_report(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert_eq!(report["database"]["status"], "unreachable", "{report:#}");
    assert!(!report["database"]["message"].as_str().unwrap().is_empty());
    let r1 = check(&report, "r1", "snmp");
    assert_eq!(
        r1["result"], "timeout",
        "a wrong community is silence: {r1:#}"
    );
    assert!(
        r1["message"].as_str().unwrap().contains("community"),
        "{r1:#}"
    );
    assert!(!text.contains(DB_PASSWORD) && !text.contains("not-the-community-R4"));

    // A database that was never migrated.
    let db = TestDb::new();
    let out = diagnostics(&config, "json", &[("ISPMONITOR_DATABASE_URL", &db.url())]);
    let report = parse_report(&out);
    assert_eq!(report["database"]["status"], "schema_too_old", "{report:#}");
    assert_eq!(report["database"]["schema_version"], 0);
    assert!(report["database"]["message"]
        .as_str()
        .unwrap()
        .contains("ispmonitor migrate"));

    // An invalid config is exit 1 with the problem named.
    std::fs::write(&config, "targets: [{name: x}]\n").unwrap();
    let out = diagnostics(&config, "json", &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        all_output(&out).contains("targets[0]"),
        "{}",
        all_output(&out)
    );
}

#[test]
fn diagnostics_says_why_it_cannot_ping_without_the_privilege_to() {
    // `nobody` has no CAP_NET_RAW; with net.ipv4.ping_group_range excluding its group it may
    // open no ICMP socket at all. Where the range admits it, the echo simply succeeds.
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ping_group_range").unwrap();
    let bounds: Vec<i64> = range
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect();
    let nogroup = 65534;
    let dgram_allowed = bounds[0] <= nogroup && nogroup <= bounds[1];
    let dir = tempfile::tempdir().unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        "targets:\n  - {name: h1, kind: host, address: 127.0.0.1, modules: [icmp]}\n",
    )
    .unwrap();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = Command::new("runuser")
        .args([
            "-u",
            "nobody",
            "--",
            binary(),
            "diagnostics",
            "--timeout",
            "2s",
        ])
        .args(["--output", "json", "--config"])
        .arg(&config)
        .env_remove("ISPMONITOR_DATABASE_URL")
        .output()
        .expect("run diagnostics as nobody");
    let report = parse_report(&out);
    let h1 = check(&report, "h1", "icmp");
    if dgram_allowed {
        assert_eq!(h1["result"], "success", "{h1:#}");
        return;
    }
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(h1["result"], "icmp_not_permitted", "{h1:#}");
    let message = h1["message"].as_str().unwrap();
    assert!(
        message.contains("CAP_NET_RAW") && message.contains("ping_group_range"),
        "{message}"
    );
}

#[test]
fn diagnostics_help_documents_the_exit_status() {
    let out = Command::new(binary())
        .args(["diagnostics", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for line in [
        "Exit status:",
        "0  the database (if configured) and every target answered",
        "1  a check failed",
        "--output",
        "--timeout",
        "--concurrency",
    ] {
        assert!(help.contains(line), "{line:?} missing from:\n{help}");
    }
}

#[test]
fn diagnostics_checks_routeros_targets_and_explains_a_refused_login_and_an_untrusted_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = common::certs::self_signed(dir.path(), "router", "IP:127.1.0.1");
    let (cert_arg, key_arg) = (cert.display().to_string(), key.display().to_string());
    let sim = common::simulator::Simulator::start(
        1,
        &[
            "--mikrotik-devices",
            "0",
            "--routeros-tls-cert",
            &cert_arg,
            "--routeros-tls-key",
            &key_arg,
        ],
    );
    let endpoint = &sim.routeros_endpoints()[0];
    let plain = endpoint["address"].as_str().unwrap();
    let tls = endpoint["tls_address"].as_str().unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        format!(
            "credentials:\n\
             \x20 good: {{type: routeros, username: simuser, password: apipass123}}\n\
             \x20 wrong: {{type: routeros, username: simuser, password: diag-routeros-pw-J6p2}}\n\
             \x20 untrusted: {{type: routeros, username: simuser, password: apipass123, tls: true}}\n\
             \x20 pinned: {{type: routeros, username: simuser, password: apipass123, tls: true, ca_file: {cert_arg}}}\n\
             targets:\n\
             \x20 - {{name: ok-api, kind: router, address: \"{plain}\", modules: [routeros], credential: good}}\n\
             \x20 - {{name: wrong-api, kind: router, address: \"{plain}\", modules: [routeros], credential: wrong}}\n\
             \x20 - {{name: untrusted-api, kind: router, address: \"{tls}\", modules: [routeros], credential: untrusted}}\n\
             \x20 - {{name: pinned-api, kind: router, address: \"{tls}\", modules: [routeros], credential: pinned}}\n"
        ),
    )
    .unwrap();
    let out = diagnostics(&config, "json", &[]);
    let text = all_output(&out);
    let report = parse_report(&out);
    assert_eq!(out.status.code(), Some(1), "two checks fail: {text}");
    assert_eq!(
        check(&report, "ok-api", "routeros")["result"],
        "success",
        "{report:#}"
    );
    assert_eq!(
        check(&report, "pinned-api", "routeros")["result"],
        "success",
        "{report:#}"
    );
    let wrong = check(&report, "wrong-api", "routeros");
    assert_eq!(wrong["result"], "auth", "{wrong:#}");
    assert!(
        wrong["message"].as_str().unwrap().contains("api policy"),
        "{wrong:#}"
    );
    let untrusted = check(&report, "untrusted-api", "routeros");
    assert_eq!(untrusted["result"], "tls_error", "{untrusted:#}");
    assert!(
        untrusted["message"].as_str().unwrap().contains("ca_file"),
        "{untrusted:#}"
    );
    let credentials = &report["config"]["credentials"];
    assert_eq!(
        credentials["wrong"]["password"], "<secret>",
        "{credentials:#}"
    );
    assert_eq!(
        credentials["pinned"]["ca_certificates"], 1,
        "{credentials:#}"
    );
    assert!(!text.contains("diag-routeros-pw-J6p2") && !text.contains("apipass123"));
}
