//! The SNMP wire layer against the real simulator and net-snmp's snmpd: walks with several
//! requests in flight read exactly what a sequential walk reads, and an SNMPv3 engine is
//! discovered once per target however many polls, lanes and timeouts follow.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::simulator::Simulator;
use common::snmpd::{Snmpd, AUTH_PASSWORD, PRIV_PASSWORD, V3_USERS};
use ispmonitor::config::{
    AuthProtocol, Credential, KeyExtension, PrivProtocol, Secret, SecurityLevel, SnmpCredential,
    SnmpGlobal, SnmpV3Credential,
};
use ispmonitor::poller::snmp::pipeline;
use ispmonitor::poller::snmp::session::{Session, SessionSettings};
use ispmonitor::poller::snmp::sizing::BulkSizing;
use ispmonitor::poller::snmp::stats::SnmpTargetStats;
use ispmonitor::poller::snmp::walk;
use ispmonitor::poller::snmp::{SnmpJob, SnmpPoller};
use tokio::time::Instant;

/// ifTable and ifXTable columns whose values do not move while the device runs (no counters),
/// so two walks a moment apart must agree exactly.
fn steady_interface_columns() -> Vec<Vec<u32>> {
    let if_entry = [1, 3, 6, 1, 2, 1, 2, 2, 1];
    let if_x_entry = [1, 3, 6, 1, 2, 1, 31, 1, 1, 1];
    let mut roots: Vec<Vec<u32>> = [1, 2, 3, 4, 5, 6, 7]
        .iter()
        .map(|column| [&if_entry[..], &[*column]].concat())
        .collect();
    roots.extend(
        [1, 15, 18]
            .iter()
            .map(|column| [&if_x_entry[..], &[*column]].concat()),
    );
    roots
}

fn session(host: &str, port: u16, credential: SnmpCredential, in_flight: usize) -> Session {
    let mut session = Session::new(SessionSettings {
        host: host.into(),
        port: Some(port),
        credential,
        retries: 1,
        attempt_timeout: Duration::from_secs(2),
        stats: Arc::new(SnmpTargetStats::default()),
    });
    session.set_max_in_flight(in_flight);
    session.set_deadline(Instant::now() + Duration::from_secs(30));
    session
}

/// Walks the steady columns one request at a time and with `in_flight` chains, and checks the
/// rows are identical and numerous enough to take several requests per chain.
async fn assert_in_flight_walk_matches(
    host: &str,
    port: u16,
    credential: SnmpCredential,
    (in_flight, min_rows): (usize, usize),
) {
    let roots = steady_interface_columns();
    let mut sequential = session(host, port, credential.clone(), 1);
    let expected = walk::walk(&mut sequential, &roots, 5)
        .await
        .expect("sequential walk");
    let mut concurrent = session(host, port, credential, in_flight);
    let mut sizing = BulkSizing::default();
    let got = pipeline::walk(&mut concurrent, &roots, &mut sizing, 5)
        .await
        .expect("walk in flight");
    assert_eq!(got.len(), roots.len());
    assert!(expected[0].len() >= min_rows, "{} rows", expected[0].len());
    for (column, (got, expected)) in got.iter().zip(&expected).enumerate() {
        assert_eq!(got, expected, "column {column}");
    }
    // Chains ask for as many varbinds per request as the whole walk does, so the request count
    // stays close to the sequential one (rounding, and one end-of-column request per chain).
    let (sequential_requests, concurrent_requests) = (
        sequential.stats().requests_sent,
        concurrent.stats().requests_sent,
    );
    assert!(
        concurrent_requests <= sequential_requests * 5 / 4 + in_flight as u64,
        "{concurrent_requests} requests in flight against {sequential_requests} in a row"
    );
    // The lanes are kept for the next walk, which reads the same rows again.
    let again = pipeline::walk(&mut concurrent, &roots, &mut sizing, 5)
        .await
        .expect("second walk in flight");
    assert_eq!(again, got);
}

fn simulator_credential(sim: &Simulator, device: usize) -> (String, u16, SnmpCredential) {
    let config = ispmonitor::config::load_file(&sim.config).expect("fleet config");
    let target = &config.targets[device];
    let credential = match target.credential.as_deref() {
        Some(Credential::Snmp(credential)) => credential.clone(),
        other => panic!("no SNMP credential: {other:?}"),
    };
    (
        target.host.clone(),
        target.port.expect("simulated devices have ports"),
        credential,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn walks_in_flight_read_what_a_sequential_walk_reads_from_the_simulator() {
    let sim = Simulator::start(
        2,
        &[
            "--interfaces",
            "300",
            "--write-config.snmp-version",
            "mixed",
        ],
    );
    for device in 0..2 {
        let (host, port, credential) = simulator_credential(&sim, device);
        assert_in_flight_walk_matches(&host, port, credential, (4, 300)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn walks_in_flight_read_what_a_sequential_walk_reads_from_snmpd() {
    let agent = Snmpd::start();
    let v2c = SnmpCredential::V2c {
        community: Secret::new("public"),
    };
    assert_in_flight_walk_matches("127.0.0.1", agent.port, v2c, (3, 1)).await;
    let v3 = v3_credential("sha256aes256");
    assert_in_flight_walk_matches("127.0.0.1", agent.port, v3, (3, 1)).await;
}

fn v3_credential(user: &str) -> SnmpCredential {
    let user = V3_USERS
        .iter()
        .find(|candidate| candidate.name == user)
        .expect("known user");
    let auth = match user.auth {
        Some("SHA-256") => AuthProtocol::Sha256,
        Some("SHA") => AuthProtocol::Sha1,
        other => panic!("not used here: {other:?}"),
    };
    let (privacy, key_extension) = match user.privacy {
        Some("AES") => (PrivProtocol::Aes128, None),
        Some("AES-256") => (PrivProtocol::Aes256, Some(KeyExtension::Blumenthal)),
        other => panic!("not used here: {other:?}"),
    };
    SnmpCredential::V3(SnmpV3Credential {
        username: user.name.into(),
        security_level: SecurityLevel::AuthPriv,
        auth: Some((auth, Secret::new(AUTH_PASSWORD))),
        privacy: Some((privacy, Secret::new(PRIV_PASSWORD))),
        key_extension,
        context_name: String::new(),
    })
}

/// A poller of the simulator's v3 device (if_mib + system) with `in_flight` requests allowed.
fn simulator_poller(sim: &Simulator, device: usize, in_flight: usize) -> SnmpPoller {
    let config = ispmonitor::config::load_file(&sim.config).expect("fleet config");
    let target = config.targets[device].clone();
    let Some(Credential::Snmp(credential)) = target.credential.as_deref().cloned() else {
        panic!("no SNMP credential");
    };
    SnmpPoller::new(SnmpJob {
        modules: target.modules.clone(),
        target,
        credential,
        settings: SnmpGlobal {
            max_requests_in_flight: in_flight,
            retries: 0,
            ..config.global.snmp.clone()
        },
        timeout: Duration::from_secs(2),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v3_engine_is_discovered_once_across_polls_lanes_and_timeouts() {
    let sim = Simulator::start(1, &["--write-config.snmp-version", "3"]);
    let mut poller = simulator_poller(&sim, 0, 4);
    assert_eq!(poller.poll().await.result, Ok(()));

    let (status, body) = sim.put_scenario(r#"{"name": "router-down", "devices": [0]}"#);
    assert_eq!(status, 200, "{body}");
    let down = poller.poll().await;
    assert!(down.result.is_err(), "{down:?}");
    let (status, body) = sim.put_scenario(r#"{"name": "healthy"}"#);
    assert_eq!(status, 200, "{body}");

    for _ in 0..3 {
        let outcome = poller.poll().await;
        assert_eq!(outcome.result, Ok(()), "{outcome:?}");
    }
    let stats = poller.stats();
    assert!(stats.timeouts >= 1, "{stats:?}");
    assert_eq!(stats.engine_discoveries, 1, "{stats:?}");
}
