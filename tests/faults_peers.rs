//! Killed peers around the real `ispmonitor serve`: snmpd killed (SIGKILL) and restarted on its
//! port or frozen (SIGSTOP), sshd killed under a persistent SSH connection, the inventory's
//! PostgreSQL killed (a private cluster: the shared one on :5432 is never touched), the
//! Prometheus that scrapes the poller killed, and the poller itself killed with SIGKILL. Every
//! other target keeps being polled, a failing target shows no old values, and everything comes
//! back without anyone restarting the poller.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::api::{self, Api};
use common::faults::{
    assert_healthy, device_series, expected_from_agent, failure_reason, fixed_values, last_success,
    now_unix, up, watch, FIXED_MODULE,
};
use common::ispmonitor::{sample_value, Ispmonitor};
use common::postgres::TestDb;
use common::private_postgres::PrivatePostgres;
use common::prometheus::Prometheus;
use common::snmpd::Snmpd;
use common::sshd::{keygen, Sshd, SshdOptions, TEST_USER};
use serde_json::json;

fn write(dir: &Path, yaml: &str) -> PathBuf {
    let path = dir.join("ispmonitor.yaml");
    std::fs::write(&path, yaml).expect("write config");
    path
}

fn router(name: &str, agent: &Snmpd) -> String {
    format!(
        "  - {{name: {name}, address: \"{}\", kind: router, modules: [system, fixed], credential: v2}}\n",
        agent.address()
    )
}

/// The fixed-values module and a v2c credential, then `rest` (targets, database...).
fn snmp_config(global: &str, rest: &str) -> String {
    snmp_config_with(global, "", rest)
}

/// As `snmp_config`, with more credentials (YAML lines under `credentials:`).
fn snmp_config_with(global: &str, credentials: &str, rest: &str) -> String {
    format!(
        "global: {global}\n\
         credentials:\n  v2: {{type: snmp, version: 2c, community: public}}\n{credentials}\
         modules:\n{FIXED_MODULE}{rest}"
    )
}

/// Polls `check` every 100 ms until it holds, or panics naming `what`.
fn wait_until(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if check() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out waiting for {what}");
}

/// A target gone bad: down for `reason`, no device series, last success frozen and ageing.
fn assert_failed_without_stale_values(
    server: &Ispmonitor,
    target: &str,
    protocol: &str,
    reason: &str,
) {
    let down = server.wait_for_metrics(&format!("{target} down"), Duration::from_secs(6), |m| {
        up(m, target, protocol) == Some(0.0)
    });
    assert_eq!(
        failure_reason(&down, target, protocol).as_deref(),
        Some(reason)
    );
    assert_eq!(
        device_series(&down, target)
            .into_iter()
            .filter(|s| !s.starts_with("ispmonitor_server_ssh_connections_total"))
            .collect::<Vec<_>>(),
        Vec::<String>::new(),
        "{target} failed: none of its old values may be served"
    );
    let frozen = last_success(&down, target, protocol).expect("the last success stays visible");
    std::thread::sleep(Duration::from_millis(1500));
    let later = server.metrics();
    assert_eq!(last_success(&later, target, protocol), Some(frozen));
    assert!(now_unix() - frozen > 1.5);
}

#[test]
fn killed_and_frozen_snmpd_fail_alone_and_recover_by_themselves() {
    let mut killed = Snmpd::start_with(fixed_values());
    let frozen = Snmpd::start_with(fixed_values());
    let steady = Snmpd::start_with(fixed_values());
    let dir = tempfile::tempdir().unwrap();
    let targets = [
        router("killed", &killed),
        router("frozen", &frozen),
        router("steady", &steady),
    ]
    .concat();
    let config = write(
        dir.path(),
        &snmp_config(
            "{interval: 1s, timeout: 800ms, snmp: {retries: 0}}",
            &format!("targets:\n{targets}"),
        ),
    );
    let server = Ispmonitor::start(&config, &[]);
    let expected: BTreeMap<&str, BTreeMap<String, f64>> = [
        ("killed", expected_from_agent(&killed, "killed")),
        ("frozen", expected_from_agent(&frozen, "frozen")),
        ("steady", expected_from_agent(&steady, "steady")),
    ]
    .into();
    server.wait_for_metrics("every agent polled", Duration::from_secs(15), |m| {
        expected.keys().all(|t| up(m, t, "snmp") == Some(1.0))
    });

    // SIGKILL: the port closes, the kernel answers port unreachable.
    killed.kill();
    assert_failed_without_stale_values(&server, "killed", "snmp", "unreachable");
    watch(
        &server,
        Duration::from_secs(2),
        Duration::from_millis(200),
        |m| {
            assert_healthy(m, "steady", &expected["steady"], 2.5);
            assert_healthy(m, "frozen", &expected["frozen"], 2.5);
        },
    );
    killed.restart();
    let back = server.wait_for_metrics("the killed agent back", Duration::from_secs(5), |m| {
        up(m, "killed", "snmp") == Some(1.0)
    });
    assert_healthy(&back, "killed", &expected["killed"], 2.5);

    // SIGSTOP: alive, port open, silent.
    frozen.signal("STOP");
    assert_failed_without_stale_values(&server, "frozen", "snmp", "timeout");
    watch(
        &server,
        Duration::from_secs(2),
        Duration::from_millis(200),
        |m| {
            assert_healthy(m, "steady", &expected["steady"], 2.5);
            assert_healthy(m, "killed", &expected["killed"], 2.5);
        },
    );
    frozen.signal("CONT");
    let back = server.wait_for_metrics("the frozen agent back", Duration::from_secs(5), |m| {
        up(m, "frozen", "snmp") == Some(1.0)
    });
    for (target, values) in &expected {
        assert_healthy(&back, target, values, 2.5);
    }
}

/// An snmpd polled as `r1` and `sshd` polled as `web-1` (key login), both every second with
/// no SNMP retries: the config file's path and the agent.
fn router_and_server_config(sshd: &Sshd) -> (Snmpd, PathBuf) {
    let key = keygen(sshd.dir(), "id_ed25519", "ed25519", "");
    sshd.authorize(&key);
    let agent = Snmpd::start_with(fixed_values());
    let ssh_credential = format!(
        "  ssh: {{type: ssh, username: {TEST_USER}, private_key_file: {}, host_key: \"{}\"}}\n",
        key.display(),
        sshd.host_key()
    );
    let targets = format!(
        "targets:\n{}  - {{name: web-1, address: \"127.0.0.1:{}\", kind: server, modules: [linux], credential: ssh}}\n",
        router("r1", &agent),
        sshd.port
    );
    let config = write(
        sshd.dir(),
        &snmp_config_with(
            "{interval: 1s, timeout: 900ms, snmp: {retries: 0}}",
            &ssh_credential,
            &targets,
        ),
    );
    (agent, config)
}

#[test]
fn killed_sshd_fails_alone_and_the_connection_comes_back_by_itself() {
    let mut sshd = Sshd::start(SshdOptions::default());
    let (agent, config) = router_and_server_config(&sshd);
    let server = Ispmonitor::start(&config, &[]);
    let r1 = expected_from_agent(&agent, "r1");
    let first = server.wait_for_metrics("both targets up", Duration::from_secs(20), |m| {
        up(m, "web-1", "ssh") == Some(1.0) && up(m, "r1", "snmp") == Some(1.0)
    });
    let connections = |m: &str| {
        sample_value(
            m,
            "ispmonitor_server_ssh_connections_total{target=\"web-1\"}",
        )
    };
    assert_eq!(connections(&first), Some(1.0));

    // The server and every session process die: the kept connection is dead.
    sshd.kill();
    assert_failed_without_stale_values(&server, "web-1", "ssh", "unreachable");
    watch(
        &server,
        Duration::from_secs(2),
        Duration::from_millis(200),
        |m| {
            assert_healthy(m, "r1", &r1, 2.5);
        },
    );
    let killed_for = Instant::now();
    sshd.restart();
    // Reconnection backs off (1 s, 2 s, 4 s... with jitter): a few seconds at most here.
    let back = server.wait_for_metrics("the SSH target back", Duration::from_secs(15), |m| {
        up(m, "web-1", "ssh") == Some(1.0)
    });
    println!(
        "SSH target back {:?} after sshd restarted",
        killed_for.elapsed()
    );
    assert_eq!(
        connections(&back),
        Some(2.0),
        "one new connection, no storm"
    );
    assert!(sample_value(&back, "ispmonitor_server_cpus{target=\"web-1\"}").is_some());
    assert_healthy(&back, "r1", &r1, 2.5);
}

/// `serve --migrate` against `url`, with the test's sealing key.
fn serve_with_database(config: &Path, url: &str) -> Ispmonitor {
    Ispmonitor::start_with_env(
        config,
        &["--migrate"],
        &[
            ("ISPMONITOR_DATABASE_URL", url),
            ("ISPMONITOR_SECRET_KEY", api::SECRET_KEY),
        ],
    )
}

/// A router written through the API, polled with the file's `v2` credential.
fn api_router(name: &str, agent: &Snmpd) -> serde_json::Value {
    json!({"name": name, "address": agent.address(), "credential": "v2",
        "modules": ["system", "fixed"]})
}

fn last_sync(metrics: &str) -> f64 {
    sample_value(
        metrics,
        "ispmonitor_inventory_last_sync_success_timestamp_seconds",
    )
    .expect("the sync timestamp")
}

fn sync_failures(metrics: &str) -> f64 {
    sample_value(metrics, "ispmonitor_inventory_sync_failures_total").unwrap_or(0.0)
}

#[test]
fn killed_postgres_leaves_polling_alone_and_everything_recovers_by_itself() {
    let pg = PrivatePostgres::start();
    let agent = Snmpd::start_with(fixed_values());
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        &snmp_config(
            "{interval: 1s, timeout: 800ms, snmp: {retries: 0}}",
            &format!(
                "database: {{resync_interval: 1s, connect_timeout: 1s}}\ntargets:\n{}",
                router("file-r", &agent)
            ),
        ),
    );
    let server = serve_with_database(&config, &pg.url());
    let operator = Api::new(
        &server.api_addr,
        Some(&api::create_token(&pg.url(), "operator", "ops")),
    );
    let created = operator.post("/api/v1/routers", &api_router("api-r1", &agent));
    assert_eq!(created.status, 201, "{}", created.text());
    let expected: BTreeMap<&str, BTreeMap<String, f64>> = [
        ("file-r", expected_from_agent(&agent, "file-r")),
        ("api-r1", expected_from_agent(&agent, "api-r1")),
    ]
    .into();
    server.wait_for_metrics("both routers polled", Duration::from_secs(15), |m| {
        up(m, "file-r", "snmp") == Some(1.0) && up(m, "api-r1", "snmp") == Some(1.0)
    });
    let synced_before = last_sync(&server.metrics());
    wait_until("a resync", Duration::from_secs(5), || {
        last_sync(&server.metrics()) > synced_before
    });

    pg.kill_postmaster();
    let api = Api::new(&server.api_addr, None);
    wait_until("the API to turn unready", Duration::from_secs(10), || {
        api.get("/ready").status == 503
    });
    wait_until("a counted sync failure", Duration::from_secs(10), || {
        sync_failures(&server.metrics()) > 0.0
    });
    let frozen = last_sync(&server.metrics());
    // Several resync periods without a database: the last known inventory keeps being polled.
    watch(
        &server,
        Duration::from_secs(3),
        Duration::from_millis(250),
        |m| {
            for (target, values) in &expected {
                assert_healthy(m, target, values, 2.5);
            }
            assert_eq!(last_sync(m), frozen, "no sync without the database");
        },
    );
    assert_eq!(
        api.get("/live").status,
        200,
        "liveness never asks the database"
    );
    assert_eq!(server.get("/live").status, 200);
    assert_eq!(server.get("/ready").status, 200, "the poller stays ready");
    let refused = operator.post("/api/v1/routers", &api_router("api-r2", &agent));
    assert_eq!(refused.status, 503, "{}", refused.text());
    assert_eq!(refused.json()["error"]["code"], "database_unavailable");

    let restarted = Instant::now();
    pg.start_again();
    wait_until("the API ready again", Duration::from_secs(15), || {
        api.get("/ready").status == 200
    });
    let created = operator.post("/api/v1/routers", &api_router("api-r2", &agent));
    assert_eq!(created.status, 201, "{}", created.text());
    let after = server.wait_for_metrics(
        "a router written after the outage polled",
        Duration::from_secs(15),
        |m| up(m, "api-r2", "snmp") == Some(1.0),
    );
    println!(
        "database back and in use {:?} after its restart",
        restarted.elapsed()
    );
    assert!(
        last_sync(&after) > frozen,
        "the sync timestamp advances again"
    );
    for (target, values) in &expected {
        assert_healthy(&after, target, values, 2.5);
    }
    let logs = server.stop_and_logs();
    assert!(logs.contains("inventory database unavailable"), "{logs}");
    assert!(
        logs.contains("inventory database reachable again"),
        "{logs}"
    );
}

/// The Unix time of the newest sample of `promql`'s first series, if any.
fn newest_sample_time(prom: &Prometheus, promql: &str) -> Option<f64> {
    prom.first_value(&format!("timestamp({promql})"))?
        .parse()
        .ok()
}

#[test]
fn killed_prometheus_leaves_the_poller_alone_and_its_successor_scrapes_again() {
    let agent = Snmpd::start_with(fixed_values());
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        &snmp_config(
            "{interval: 1s, timeout: 800ms}",
            &format!("targets:\n{}", router("r1", &agent)),
        ),
    );
    let server = Ispmonitor::start(&config, &[]);
    let r1 = expected_from_agent(&agent, "r1");
    let mut prom = Prometheus::start("ispmonitor", &[&server.addr]);
    prom.wait_for_value("up{job=\"ispmonitor\"}", "1", Duration::from_secs(30));
    prom.wait_for_value(
        "ispmonitor_target_up{target=\"r1\"}",
        "1",
        Duration::from_secs(30),
    );

    prom.kill();
    watch(
        &server,
        Duration::from_secs(3),
        Duration::from_millis(250),
        |m| {
            assert_healthy(m, "r1", &r1, 2.5);
        },
    );
    assert_eq!(server.get("/ready").status, 200);

    let restarted_at = now_unix();
    prom.restart();
    // The write-ahead log brings back old samples: wait for ones scraped after the restart.
    wait_until(
        "a scrape by the new Prometheus",
        Duration::from_secs(30),
        || newest_sample_time(&prom, "up{job=\"ispmonitor\"}").is_some_and(|t| t > restarted_at),
    );
    assert_eq!(
        prom.first_value("up{job=\"ispmonitor\"}").as_deref(),
        Some("1")
    );
    wait_until(
        "fresh poll results in the new Prometheus",
        Duration::from_secs(10),
        || {
            newest_sample_time(&prom, "ispmonitor_target_up{target=\"r1\"}")
                .is_some_and(|t| t > restarted_at)
        },
    );
    assert_eq!(
        prom.first_value("ispmonitor_target_up{target=\"r1\"}")
            .as_deref(),
        Some("1")
    );
    let value = prom.first_value("ispmonitor_fault_fixed_scalar{target=\"r1\"}");
    assert_eq!(value.as_deref(), Some("424242"));
}

#[test]
fn a_poller_killed_with_sigkill_comes_back_with_its_whole_inventory() {
    let db = TestDb::new();
    let agent = Snmpd::start_with(fixed_values());
    let dir = tempfile::tempdir().unwrap();
    let file_targets = [router("file-1", &agent), router("file-2", &agent)].concat();
    let config = write(
        dir.path(),
        &snmp_config(
            "{interval: 1s, timeout: 800ms}",
            &format!("database: {{resync_interval: 1h}}\ntargets:\n{file_targets}"),
        ),
    );
    let server = serve_with_database(&config, &db.url());
    let operator = Api::new(
        &server.api_addr,
        Some(&api::create_token(&db.url(), "operator", "ops")),
    );
    let credential =
        json!({"name": "db-v2c", "type": "snmp", "version": "2c", "community": "public"});
    assert_eq!(
        operator.post("/api/v1/credentials", &credential).status,
        201
    );
    let mut names: Vec<String> = Vec::new();
    for i in 1..=5 {
        let name = format!("api-{i}");
        let mut body = api_router(&name, &agent);
        if i % 2 == 0 {
            body["credential"] = json!("db-v2c");
        }
        let created = operator.post("/api/v1/routers", &body);
        assert_eq!(created.status, 201, "{}", created.text());
        names.push(name);
    }
    server.wait_for_metrics("the first routers polled", Duration::from_secs(15), |m| {
        names.iter().all(|n| up(m, n, "snmp") == Some(1.0))
    });
    // The last router is answered 201 and the process dies at once: an acknowledged write is
    // durable.
    let created = operator.post("/api/v1/routers", &api_router("api-last", &agent));
    assert_eq!(created.status, 201, "{}", created.text());
    server.signal("KILL");
    let (code, _) = server.wait_exit(Duration::from_secs(5));
    assert_eq!(code, None, "killed by a signal");
    names.push("api-last".into());
    names.extend(["file-1".to_string(), "file-2".to_string()]);

    let server = serve_with_database(&config, &db.url());
    let all = server.wait_for_metrics(
        "every router polled after the restart",
        Duration::from_secs(20),
        |m| names.iter().all(|n| up(m, n, "snmp") == Some(1.0)),
    );
    for name in &names {
        assert_healthy(&all, name, &expected_from_agent(&agent, name), 2.5);
    }
    assert_eq!(
        sample_value(
            &all,
            "ispmonitor_inventory_targets{kind=\"router\",source=\"database\"}"
        ),
        Some(6.0)
    );
    assert_eq!(
        sample_value(
            &all,
            "ispmonitor_inventory_targets{kind=\"router\",source=\"file\"}"
        ),
        Some(2.0)
    );
    let viewer = Api::new(
        &server.api_addr,
        Some(&api::create_token(&db.url(), "viewer", "after-restart")),
    );
    let listed = viewer.get("/api/v1/routers?source=database").json();
    assert_eq!(listed["total"], 6, "{listed}");
    let credentials = viewer.get("/api/v1/credentials").text();
    assert!(credentials.contains("\"db-v2c\""), "{credentials}");
}

/// A secret of a database credential that must never reach the cache file in clear.
const CACHE_CANARY: &str = "cache-canary-community-5e1f";

fn from_cache(metrics: &str) -> Option<f64> {
    sample_value(metrics, "ispmonitor_inventory_from_cache")
}

fn database_routers(metrics: &str) -> Option<f64> {
    sample_value(
        metrics,
        "ispmonitor_inventory_targets{kind=\"router\",source=\"database\"}",
    )
}

/// `serve` (no --migrate: the database may be down) with the test's database and key.
fn serve_during_outage(config: &Path, pg: &PrivatePostgres) -> Ispmonitor {
    let url = pg.url();
    Ispmonitor::start_with_env(
        config,
        &[],
        &[
            ("ISPMONITOR_DATABASE_URL", url.as_str()),
            ("ISPMONITOR_SECRET_KEY", api::SECRET_KEY),
        ],
    )
}

#[test]
fn a_poller_restarted_during_a_database_outage_polls_the_file_and_catches_up_by_itself() {
    let pg = PrivatePostgres::start();
    let agent = Snmpd::start_with(fixed_values());
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir(&state).unwrap();
    let cache_file = state.join("inventory.json");
    let database = |cache: &str| {
        snmp_config(
            "{interval: 1s, timeout: 800ms}",
            &format!(
                "database: {{resync_interval: 1s, connect_timeout: 1s{cache}}}\ntargets:\n{}",
                router("file-r", &agent)
            ),
        )
    };
    let with_cache = write(
        dir.path(),
        &database(", inventory_cache_file: state/inventory.json"),
    );
    let without_cache = dir.path().join("without-cache.yaml");
    std::fs::write(&without_cache, database("")).unwrap();

    let server = serve_with_database(&with_cache, &pg.url());
    let operator = Api::new(
        &server.api_addr,
        Some(&api::create_token(&pg.url(), "operator", "ops")),
    );
    // api-r1 polls with a database credential, so its sealed secret must open from the cache.
    for credential in [
        json!({"name": "db-v2c", "type": "snmp", "version": "2c", "community": "public"}),
        json!({"name": "db-canary", "type": "snmp", "version": "2c", "community": CACHE_CANARY}),
    ] {
        let created = operator.post("/api/v1/credentials", &credential);
        assert_eq!(created.status, 201, "{}", created.text());
    }
    let mut r1 = api_router("api-r1", &agent);
    r1["credential"] = json!("db-v2c");
    for body in [r1, api_router("api-gone", &agent)] {
        let created = operator.post("/api/v1/routers", &body);
        assert_eq!(created.status, 201, "{}", created.text());
    }
    server.wait_for_metrics("the API routers polled", Duration::from_secs(15), |m| {
        up(m, "api-r1", "snmp") == Some(1.0) && up(m, "api-gone", "snmp") == Some(1.0)
    });
    wait_until(
        "the cache file to hold both routers",
        Duration::from_secs(10),
        || {
            std::fs::read_to_string(&cache_file)
                .is_ok_and(|text| text.contains("\"api-r1\"") && text.contains("\"api-gone\""))
        },
    );
    let written = server.metrics();
    assert!(sample_value(&written, "ispmonitor_inventory_cache_writes_total") >= Some(1.0));
    assert_eq!(
        sample_value(&written, "ispmonitor_inventory_cache_write_failures_total"),
        Some(0.0)
    );
    assert_eq!(from_cache(&written), Some(0.0), "the database is in force");
    let text = std::fs::read_to_string(&cache_file).unwrap();
    assert!(text.contains("\"db-canary\""), "{text}");
    assert!(
        !text.contains(CACHE_CANARY),
        "a clear secret in the cache: {text}"
    );
    assert!(
        !text.contains("public"),
        "a clear secret in the cache: {text}"
    );
    server.signal("KILL");
    let _ = server.wait_exit(Duration::from_secs(5));

    // While no poller watches, a router is deleted; then the database goes away too.
    pg.psql("DELETE FROM devices WHERE name = 'api-gone'");
    pg.kill_postmaster();
    let file_r = expected_from_agent(&agent, "file-r");
    let api_r1 = expected_from_agent(&agent, "api-r1");

    // Without the option (the old behaviour): only the file's router is known.
    let server = serve_during_outage(&without_cache, &pg);
    server.wait_for_metrics("the file's router polled", Duration::from_secs(10), |m| {
        up(m, "file-r", "snmp") == Some(1.0)
    });
    watch(
        &server,
        Duration::from_secs(2),
        Duration::from_millis(250),
        |m| {
            assert_healthy(m, "file-r", &file_r, 2.5);
            assert_eq!(
                up(m, "api-r1", "snmp"),
                None,
                "no cache, no database routers"
            );
            assert_eq!(database_routers(m), Some(0.0));
            assert_eq!(from_cache(m), Some(0.0));
        },
    );
    server.signal("KILL");
    let _ = server.wait_exit(Duration::from_secs(5));

    // With the option: the cached inventory is polled at once, exact values included.
    let started = Instant::now();
    let server = serve_during_outage(&with_cache, &pg);
    server.wait_for_metrics(
        "the cached routers polled without a database",
        Duration::from_secs(10),
        |m| {
            ["file-r", "api-r1", "api-gone"]
                .iter()
                .all(|t| up(m, t, "snmp") == Some(1.0))
        },
    );
    println!(
        "every cached router polled {:?} after a start without its database",
        started.elapsed()
    );
    watch(
        &server,
        Duration::from_secs(2),
        Duration::from_millis(250),
        |m| {
            assert_healthy(m, "file-r", &file_r, 2.5);
            assert_healthy(m, "api-r1", &api_r1, 2.5);
            assert_eq!(
                from_cache(m),
                Some(1.0),
                "the inventory came from the cache"
            );
            assert_eq!(database_routers(m), Some(2.0));
            assert_eq!(last_sync(m), 0.0, "no database read yet");
        },
    );
    assert!(
        sync_failures(&server.metrics()) > 0.0,
        "the database is still down"
    );
    let logs = server.stderr_now();
    assert!(
        logs.contains(&format!(
            "inventory loaded from cache file {} (2 devices, written at ",
            cache_file.display()
        )),
        "{logs}"
    );

    // The database back: its content wins (api-gone goes), the gauge returns to 0.
    pg.start_again();
    let back = server.wait_for_metrics(
        "the database's content in force again",
        Duration::from_secs(20),
        |m| from_cache(m) == Some(0.0) && up(m, "api-gone", "snmp").is_none(),
    );
    assert!(last_sync(&back) > 0.0, "the sync timestamp advances");
    assert_eq!(database_routers(&back), Some(1.0));
    assert_healthy(&back, "api-r1", &api_r1, 2.5);
    assert_healthy(&back, "file-r", &file_r, 2.5);
    wait_until(
        "the cache file rewritten without api-gone",
        Duration::from_secs(10),
        || std::fs::read_to_string(&cache_file).is_ok_and(|text| !text.contains("\"api-gone\"")),
    );
    let logs = server.stop_and_logs();
    assert!(!logs.contains(CACHE_CANARY), "{logs}");
    let leftovers: Vec<_> = std::fs::read_dir(&state)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers, vec![std::ffi::OsString::from("inventory.json")]);
}

#[test]
fn a_frozen_sshd_times_out_alone_and_polling_resumes_when_it_thaws() {
    let sshd = Sshd::start(SshdOptions::default());
    let (agent, config) = router_and_server_config(&sshd);
    let server = Ispmonitor::start(&config, &[]);
    let r1 = expected_from_agent(&agent, "r1");
    server.wait_for_metrics("both targets up", Duration::from_secs(20), |m| {
        up(m, "web-1", "ssh") == Some(1.0) && up(m, "r1", "snmp") == Some(1.0)
    });

    // The kept connection stays open, but nothing answers on it.
    sshd.signal_all("STOP");
    assert_failed_without_stale_values(&server, "web-1", "ssh", "timeout");
    watch(
        &server,
        Duration::from_secs(2),
        Duration::from_millis(200),
        |m| {
            assert_healthy(m, "r1", &r1, 2.5);
        },
    );
    let thawed = Instant::now();
    sshd.signal_all("CONT");
    let back = server.wait_for_metrics("the SSH target back", Duration::from_secs(15), |m| {
        up(m, "web-1", "ssh") == Some(1.0)
    });
    println!("SSH target back {:?} after sshd thawed", thawed.elapsed());
    assert!(sample_value(&back, "ispmonitor_server_cpus{target=\"web-1\"}").is_some());
    assert_healthy(&back, "r1", &r1, 2.5);
}
