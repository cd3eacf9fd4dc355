//! The poller follows the database inventory live (LISTEN/NOTIFY, no restart): devices written
//! with SQL are polled within seconds and stop being polled when deleted, next to the YAML
//! file's targets; sealed credentials open with the key; invalid rows are left out and
//! counted; and a database outage (a private PostgreSQL killed and restarted) leaves polling
//! untouched while the API's readiness and the sync timestamp tell the truth.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::api::{self, Api};
use common::http;
use common::inventory_sql::{delete_device_sql, v2c_credential_sql, Device};
use common::ispmonitor::{sample_value, Ispmonitor};
use common::postgres::TestDb;
use common::private_postgres::PrivatePostgres;
use common::simulator::Simulator;

/// A fast ICMP module, so loopback targets poll every second.
const PING: &str = "{type: icmp, count: 2, interval: 20ms, timeout: 300ms}";

fn write_config(dir: &Path, yaml: &str) -> PathBuf {
    let path = dir.join("ispmonitor.yaml");
    std::fs::write(&path, yaml).expect("write config");
    path
}

/// A config with the `ping` module, `database` settings and the given YAML targets.
fn config_yaml(database: &str, targets: &str) -> String {
    format!(
        "global: {{interval: 1s, timeout: 800ms}}\n\
         database: {database}\n\
         modules:\n  ping: {PING}\n\
         targets:\n{targets}"
    )
}

fn start(config: &Path, url: &str) -> Ispmonitor {
    Ispmonitor::start_with_env(
        config,
        &["--migrate"],
        &[
            ("ISPMONITOR_DATABASE_URL", url),
            ("ISPMONITOR_SECRET_KEY", api::SECRET_KEY),
        ],
    )
}

fn ping_device<'a>(name: &'a str, labels: &'a [(&'a str, &'a str)]) -> Device<'a> {
    Device {
        kind: "host",
        name,
        address: "127.0.0.1",
        credential: None,
        modules: &["ping"],
        labels,
    }
}

fn up(metrics: &str, target: &str, protocol: &str) -> Option<f64> {
    sample_value(
        metrics,
        &format!("ispmonitor_target_up{{target=\"{target}\",protocol=\"{protocol}\"}}"),
    )
}

fn inventory_targets(metrics: &str, kind: &str, source: &str) -> Option<f64> {
    sample_value(
        metrics,
        &format!("ispmonitor_inventory_targets{{kind=\"{kind}\",source=\"{source}\"}}"),
    )
}

fn has_target_info(metrics: &str, target: &str) -> bool {
    metrics.contains(&format!("ispmonitor_target_info{{target=\"{target}\","))
}

#[test]
fn a_database_device_is_polled_within_seconds_and_a_deletion_stops_it() {
    let db = TestDb::new();
    let dir = tempfile::tempdir().unwrap();
    // A resync only every hour: whatever arrives within seconds came by NOTIFY.
    let config = write_config(
        dir.path(),
        &config_yaml(
            "{resync_interval: 1h}",
            "  - {name: file-ping, address: \"127.0.0.1\", kind: host, modules: [ping]}\n",
        ),
    );
    let server = start(&config, &db.url());
    let before = server.wait_for_metrics("the file target polled", Duration::from_secs(10), |m| {
        up(m, "file-ping", "icmp") == Some(1.0)
    });
    assert_eq!(inventory_targets(&before, "host", "file"), Some(1.0));
    assert_eq!(inventory_targets(&before, "host", "database"), Some(0.0));

    // One transaction: a new device, and one named like the file's target (the file wins).
    let shadow = Device {
        address: "127.0.0.2",
        ..ping_device("file-ping", &[])
    };
    let added_at = Instant::now();
    db.psql(&format!(
        "{}{}",
        ping_device("db-ping", &[("site", "lab")]).insert_sql(),
        shadow.insert_sql()
    ));
    let metrics =
        server.wait_for_metrics("the database device polled", Duration::from_secs(10), |m| {
            up(m, "db-ping", "icmp") == Some(1.0)
        });
    let took = added_at.elapsed();
    assert!(took < Duration::from_secs(5), "took {took:?}");
    println!("a database device was polled {took:?} after its insert");
    assert!(metrics.contains(
        "ispmonitor_target_info{target=\"db-ping\",kind=\"host\",address=\"127.0.0.1\",site=\"lab\"} 1"
    ));
    assert!(
        metrics.contains(
            "ispmonitor_target_info{target=\"file-ping\",kind=\"host\",address=\"127.0.0.1\"} 1"
        ),
        "the file's target keeps its address"
    );
    assert_eq!(up(&metrics, "file-ping", "icmp"), Some(1.0));
    assert_eq!(inventory_targets(&metrics, "host", "file"), Some(1.0));
    assert_eq!(inventory_targets(&metrics, "host", "database"), Some(1.0));
    assert_eq!(
        sample_value(&metrics, "ispmonitor_inventory_sync_failures_total"),
        Some(0.0)
    );

    db.psql(&delete_device_sql("host", "db-ping"));
    let metrics = server.wait_for_metrics("the deleted device gone", Duration::from_secs(5), |m| {
        !has_target_info(m, "db-ping")
    });
    assert_eq!(up(&metrics, "db-ping", "icmp"), None);
    assert_eq!(inventory_targets(&metrics, "host", "database"), Some(0.0));
    assert_eq!(up(&metrics, "file-ping", "icmp"), Some(1.0));
    let logs = server.stop_and_logs();
    assert!(
        logs.contains(
            "database host \"file-ping\" left out: a target of the config file has that name"
        ),
        "{logs}"
    );
    // The start, the insert and the delete: each transaction's burst of notifications (one per
    // table it touched) is read once.
    assert_eq!(logs.matches("database inventory read").count(), 3, "{logs}");
}

#[test]
fn a_router_with_a_sealed_database_credential_is_polled_and_a_wrong_key_is_counted() {
    let community = "sync-s3cret-community";
    let sim = Simulator::start(1, &["--community", community]);
    let (_, sim_address) = sim.devices[0].clone();
    let db = TestDb::new();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &config_yaml("{resync_interval: 1h}", "  []\n"));
    let server = start(&config, &db.url());

    let other_key = "11".repeat(32);
    db.psql(&format!(
        "{}{}{}{}",
        v2c_credential_sql(api::SECRET_KEY, "sim-v2c", community),
        v2c_credential_sql(&other_key, "other-key", community),
        Device {
            kind: "router",
            name: "sim-r1",
            address: &sim_address,
            credential: Some("sim-v2c"),
            modules: &["system"],
            labels: &[("role", "core")],
        }
        .insert_sql(),
        Device {
            kind: "router",
            name: "locked-r2",
            address: &sim_address,
            credential: Some("other-key"),
            modules: &["system"],
            labels: &[],
        }
        .insert_sql(),
    ));
    let metrics = server.wait_for_metrics(
        "the simulated router polled with the database credential",
        Duration::from_secs(15),
        |m| up(m, "sim-r1", "snmp") == Some(1.0),
    );
    assert!(
        sample_value(
            &metrics,
            "ispmonitor_snmp_uptime_seconds{target=\"sim-r1\"}"
        )
        .is_some(),
        "device data arrived: {metrics}"
    );
    assert!(!has_target_info(&metrics, "locked-r2"));
    assert_eq!(inventory_targets(&metrics, "router", "database"), Some(1.0));
    assert_eq!(
        sample_value(&metrics, "ispmonitor_inventory_invalid_targets"),
        Some(1.0)
    );
    let health = server.get("/health").json();
    assert_eq!(health["checks"]["inventory"]["status"], "ok", "{health}");
    assert_eq!(health["checks"]["inventory"]["invalid_targets"], 1);

    let logs = server.stop_and_logs();
    assert!(
        logs.contains(
            "router \"locked-r2\": credential: the credential \"other-key\" cannot be read"
        ),
        "{logs}"
    );
    assert!(
        logs.contains("credential \"other-key\": secrets: "),
        "{logs}"
    );
    assert!(
        !logs.contains(community),
        "the community never reaches the log"
    );
    assert!(!logs.contains(api::SECRET_KEY));
}

#[test]
fn a_yaml_reload_validates_database_targets_again() {
    let db = TestDb::new();
    let dir = tempfile::tempdir().unwrap();
    let with_ping = config_yaml("{resync_interval: 1h}", "  []\n");
    let config = write_config(dir.path(), &with_ping);
    let server = start(&config, &db.url());
    db.psql(&ping_device("db-ping", &[]).insert_sql());
    server.wait_for_metrics("the database device polled", Duration::from_secs(10), |m| {
        up(m, "db-ping", "icmp") == Some(1.0)
    });

    // The module the device names disappears from the file: the device is left out, counted.
    write_config(
        dir.path(),
        "global: {interval: 1s, timeout: 800ms}\ntargets: []\n",
    );
    let reload = http::request("POST", &server.addr, "/-/reload", &[]).unwrap();
    assert_eq!(reload.status, 200, "{}", reload.text());
    let metrics = server.metrics();
    assert!(!has_target_info(&metrics, "db-ping"), "{metrics}");
    assert_eq!(
        sample_value(&metrics, "ispmonitor_inventory_invalid_targets"),
        Some(1.0)
    );

    write_config(dir.path(), &with_ping);
    let reload = http::request("POST", &server.addr, "/-/reload", &[]).unwrap();
    assert_eq!(reload.status, 200, "{}", reload.text());
    let metrics = server.wait_for_metrics("the device back", Duration::from_secs(10), |m| {
        up(m, "db-ping", "icmp") == Some(1.0)
    });
    assert_eq!(
        sample_value(&metrics, "ispmonitor_inventory_invalid_targets"),
        Some(0.0)
    );
    let logs = server.stop_and_logs();
    assert!(
        logs.contains("database inventory entry left out: host \"db-ping\": modules[0]: "),
        "{logs}"
    );
    assert!(logs.contains("every database inventory entry is valid again"));
}

/// Polls `check` every 100 ms until it holds, or panics naming `what`.
fn wait_until(what: &str, timeout: Duration, check: impl Fn() -> bool) {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if check() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("timed out waiting for {what}");
}

fn last_sync(server: &Ispmonitor) -> f64 {
    sample_value(
        &server.metrics(),
        "ispmonitor_inventory_last_sync_success_timestamp_seconds",
    )
    .expect("the sync timestamp")
}

fn successful_polls(server: &Ispmonitor) -> f64 {
    sample_value(
        &server.metrics(),
        "ispmonitor_polls_total{protocol=\"icmp\",result=\"success\"}",
    )
    .unwrap_or(0.0)
}

#[test]
fn polling_rides_out_a_database_outage_and_changes_flow_again_after_it() {
    let pg = PrivatePostgres::start();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &config_yaml("{resync_interval: 1s, connect_timeout: 1s}", "  []\n"),
    );
    let server = start(&config, &pg.url());
    let api = Api::new(&server.api_addr, None);
    let token = api::create_token(&pg.url(), "viewer", "sd-reader");
    let viewer = Api::new(&server.api_addr, Some(&token));
    pg.psql(&ping_device("before-outage", &[]).insert_sql());
    server.wait_for_metrics("the database device polled", Duration::from_secs(10), |m| {
        up(m, "before-outage", "icmp") == Some(1.0)
    });
    let first = last_sync(&server);
    wait_until(
        "the sync timestamp to advance (1s resync)",
        Duration::from_secs(5),
        || last_sync(&server) > first,
    );
    assert_eq!(api.get("/ready").status, 200);

    pg.stop_immediately();
    wait_until("the API to turn unready", Duration::from_secs(10), || {
        api.get("/ready").status == 503
    });
    assert_eq!(
        api.get("/live").status,
        200,
        "liveness never depends on the database"
    );
    let health = api.get("/health");
    assert_eq!(health.status, 503);
    assert_eq!(health.json()["checks"]["db"]["status"], "failing");
    let refused = viewer.get("/api/v1/sd");
    assert_eq!(refused.status, 503, "{}", refused.text());
    assert_eq!(refused.json()["error"]["code"], "database_unavailable");
    assert!(refused.header("retry-after").is_some());
    wait_until("a counted sync failure", Duration::from_secs(10), || {
        sample_value(
            &server.metrics(),
            "ispmonitor_inventory_sync_failures_total",
        )
        .is_some_and(|n| n > 0.0)
    });
    let frozen = last_sync(&server);
    let polls = successful_polls(&server);
    // Several resync periods without the database: the timestamp must not move, polls must.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(last_sync(&server), frozen, "no sync without the database");
    assert!(successful_polls(&server) > polls, "polling goes on");
    let metrics = server.metrics();
    assert_eq!(up(&metrics, "before-outage", "icmp"), Some(1.0));
    assert_eq!(server.get("/ready").status, 200, "the poller stays ready");
    let health = server.get("/health");
    assert_eq!(health.status, 200);
    assert_eq!(health.json()["status"], "degraded");
    assert_eq!(health.json()["checks"]["inventory"]["status"], "failing");

    pg.start_again();
    wait_until("the API ready again", Duration::from_secs(15), || {
        api.get("/ready").status == 200
    });
    pg.psql(&ping_device("after-outage", &[]).insert_sql());
    let metrics = server.wait_for_metrics(
        "a change made after the outage polled",
        Duration::from_secs(45),
        |m| up(m, "after-outage", "icmp") == Some(1.0),
    );
    assert_eq!(up(&metrics, "before-outage", "icmp"), Some(1.0));
    assert!(last_sync(&server) > frozen);
    let listed = viewer.get("/api/v1/sd");
    assert_eq!(listed.status, 200, "{}", listed.text());
    assert_eq!(listed.json().as_array().map(Vec::len), Some(2));
    assert_eq!(
        server.get("/health").json()["checks"]["inventory"]["status"],
        "ok"
    );
    let logs = server.stop_and_logs();
    assert!(
        logs.contains("inventory database unavailable"),
        "the outage is logged: {logs}"
    );
    assert!(logs.contains("inventory database reachable again"));
}
