//! The whole path: routers written through the API (with a database credential, or with one of
//! the YAML file's credentials) are polled by the same process within seconds, a change of
//! labels reaches `ispmonitor_target_info`, a deletion stops the polling, and service discovery
//! lists what the poller polls.

mod common;

use std::time::Duration;

use common::api::{self, Api};
use common::ispmonitor::{sample_value, Ispmonitor};
use common::postgres::TestDb;
use common::simulator::Simulator;
use serde_json::json;

const COMMUNITY: &str = "e2e-s3cret-community";

fn up(metrics: &str, target: &str) -> Option<f64> {
    sample_value(
        metrics,
        &format!("ispmonitor_target_up{{target=\"{target}\",protocol=\"snmp\"}}"),
    )
}

#[test]
fn routers_written_through_the_api_are_polled_changed_and_dropped_without_a_restart() {
    let sim = Simulator::start(2, &["--community", COMMUNITY]);
    let db = TestDb::new();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ispmonitor.yaml");
    std::fs::write(
        &config,
        format!(
            "global: {{interval: 1s, timeout: 800ms}}\n\
             database: {{resync_interval: 1h}}\n\
             credentials:\n  file-v2c: {{type: snmp, version: 2c, community: {COMMUNITY}}}\n\
             targets: []\n"
        ),
    )
    .unwrap();
    let server = Ispmonitor::start_with_env(
        &config,
        &["--migrate"],
        &[
            ("ISPMONITOR_DATABASE_URL", &db.url()),
            ("ISPMONITOR_SECRET_KEY", api::SECRET_KEY),
        ],
    );
    let operator = Api::new(
        &server.api_addr,
        Some(&api::create_token(&db.url(), "operator", "ops")),
    );

    let credential =
        json!({"name": "db-v2c", "type": "snmp", "version": "2c", "community": COMMUNITY});
    assert_eq!(
        operator.post("/api/v1/credentials", &credential).status,
        201
    );
    let (_, first) = sim.devices[0].clone();
    let (_, second) = sim.devices[1].clone();
    let r1 = json!({"name": "api-r1", "address": first, "credential": "db-v2c",
        "modules": ["system"], "labels": {"site": "ams1"}});
    let r2 = json!({"name": "api-r2", "address": second, "credential": "file-v2c",
        "modules": ["system"]});
    for router in [&r1, &r2] {
        let created = operator.post("/api/v1/routers", router);
        assert_eq!(created.status, 201, "{}", created.text());
    }
    server.wait_for_metrics(
        "both API routers polled (database and file credential)",
        Duration::from_secs(15),
        |m| up(m, "api-r1") == Some(1.0) && up(m, "api-r2") == Some(1.0),
    );

    let mut changed = r1.clone();
    changed["labels"] = json!({"site": "fra2"});
    assert_eq!(operator.put("/api/v1/routers/api-r1", &changed).status, 200);
    server.wait_for_metrics(
        "the new label on target_info",
        Duration::from_secs(15),
        |m| {
            m.lines().any(|l| {
                l.starts_with("ispmonitor_target_info{target=\"api-r1\"")
                    && l.contains("site=\"fra2\"")
            })
        },
    );

    let sd = operator.get("/api/v1/sd?kind=router").json();
    let listed: Vec<&str> = sd
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["labels"]["__param_target"].as_str().unwrap())
        .collect();
    assert_eq!(listed.len(), 2, "{sd}");
    assert!(
        listed.contains(&"api-r1") && listed.contains(&"api-r2"),
        "{sd}"
    );

    assert_eq!(operator.delete("/api/v1/routers/api-r2").status, 204);
    // api-r1 was restarted by its change: wait for its next poll too.
    server.wait_for_metrics(
        "api-r2 dropped, api-r1 polled",
        Duration::from_secs(15),
        |m| !m.contains("target=\"api-r2\"") && up(m, "api-r1") == Some(1.0),
    );
    let logs = server.stop_and_logs();
    assert!(
        !logs.contains(COMMUNITY),
        "the community never reaches the log"
    );
}
