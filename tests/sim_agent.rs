//! The simulator's SNMP agent against real peers: net-snmp's command-line tools (v1, v2c, v3)
//! and the poller's own snmp2-based session read exactly what a `MibView` serves.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::netsnmp::{Auth, Peer};
use ispmonitor::config::Secret;
use ispmonitor::simulator::agent::{
    self, AgentSecurity, AgentSettings, AgentStats, Endpoint, UsmAuth, UsmPriv, UsmUser,
};
use ispmonitor::simulator::mib::{Lookup, MibView, Reaction, SimValue, StaticMib};
use tokio_util::sync::CancellationToken;

const COMMUNITY: &str = "simcommunity";
const AUTH_PASSWORD: &str = "simauthpass";
const PRIV_PASSWORD: &str = "simprivpass";
/// Objects live under the documentation enterprise (RFC 5612).
const BASE: &str = "1.3.6.1.4.1.32473.1";
const TABLE_ROWS: u32 = 100;

fn base_oid(suffix: &[u32]) -> Vec<u32> {
    let mut oid = vec![1, 3, 6, 1, 4, 1, 32473, 1];
    oid.extend_from_slice(suffix);
    oid
}

fn dotted(oid: &[u32]) -> String {
    oid.iter().map(u32::to_string).collect::<Vec<_>>().join(".")
}

/// Every value type, extremes included, plus a 3-column table of `TABLE_ROWS` rows.
fn fixture() -> Vec<(Vec<u32>, SimValue)> {
    let mut objects = vec![
        (base_oid(&[1, 1, 0]), SimValue::Integer(-42)),
        (base_oid(&[1, 2, 0]), SimValue::Integer(i32::MIN)),
        (
            base_oid(&[1, 3, 0]),
            SimValue::OctetString(b"edge-router-1".to_vec()),
        ),
        (base_oid(&[1, 4, 0]), SimValue::OctetString(Vec::new())),
        (
            base_oid(&[1, 5, 0]),
            SimValue::OctetString(vec![0, 1, 0xff, 0x80, 0x0a]),
        ),
        (
            base_oid(&[1, 6, 0]),
            SimValue::ObjectId(vec![1, 3, 6, 1, 4, 1, 9, 1, 4294967295]),
        ),
        (base_oid(&[1, 7, 0]), SimValue::IpAddress([192, 0, 2, 7])),
        (base_oid(&[1, 8, 0]), SimValue::Counter32(u32::MAX - 3)),
        (base_oid(&[1, 9, 0]), SimValue::Gauge32(1_000_000_000)),
        (base_oid(&[1, 10, 0]), SimValue::TimeTicks(123_456_789)),
        (
            base_oid(&[1, 11, 0]),
            SimValue::Counter64((1 << 63) + 12_345),
        ),
        (base_oid(&[1, 12, 0]), SimValue::Counter64(u64::MAX)),
        (base_oid(&[1, 13, 0]), SimValue::Integer(i32::MAX)),
    ];
    for row in 1..=TABLE_ROWS {
        objects.push((base_oid(&[2, 1, 1, row]), SimValue::Integer(row as i32)));
        objects.push((
            base_oid(&[2, 1, 2, row]),
            SimValue::OctetString(format!("GigabitEthernet0/{row}").into_bytes()),
        ));
        objects.push((
            base_oid(&[2, 1, 3, row]),
            SimValue::Counter64(u64::from(row) * 1_000_000_007_000),
        ));
    }
    objects
}

fn users() -> Vec<UsmUser> {
    let user = |name: &str, auth, privacy: Option<UsmPriv>| UsmUser {
        name: name.into(),
        auth,
        auth_password: Secret::new(AUTH_PASSWORD),
        privacy: privacy.map(|protocol| (protocol, Secret::new(PRIV_PASSWORD))),
    };
    vec![
        user("shaaes", UsmAuth::Sha1, Some(UsmPriv::Aes128)),
        user("md5des", UsmAuth::Md5, Some(UsmPriv::Des)),
        user("sha256aes", UsmAuth::Sha256, Some(UsmPriv::Aes128)),
        user("authonly", UsmAuth::Sha1, None),
    ]
}

/// An in-process agent on its own runtime, stopped when dropped.
struct SimAgent {
    addrs: Vec<SocketAddr>,
    stats: Arc<AgentStats>,
    shutdown: CancellationToken,
    runtime: Option<tokio::runtime::Runtime>,
    persist: tempfile::TempDir,
}

impl SimAgent {
    fn start(devices: Vec<Arc<dyn MibView>>, max_message_size: usize) -> SimAgent {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let mut settings = AgentSettings::new(AgentSecurity {
            community: Secret::new(COMMUNITY),
            users: users(),
        });
        settings.max_message_size = max_message_size;
        let endpoints = devices
            .into_iter()
            .enumerate()
            .map(|(index, device)| Endpoint {
                addr: "127.0.0.1:0".parse().expect("address"),
                device,
                engine_id: agent::engine_id_for(index as u32),
            })
            .collect();
        let shutdown = CancellationToken::new();
        let agent = runtime
            .block_on(async {
                settings.epoch = tokio::time::Instant::now();
                agent::bind(endpoints, Arc::new(settings)).await
            })
            .expect("bind the agent");
        let (addrs, stats) = (agent.local_addrs(), agent.stats());
        runtime.spawn(agent.run(shutdown.clone()));
        SimAgent {
            addrs,
            stats,
            shutdown,
            runtime: Some(runtime),
            persist: tempfile::tempdir().expect("temp dir"),
        }
    }

    fn static_mib(max_message_size: usize) -> SimAgent {
        SimAgent::start(vec![Arc::new(StaticMib::new(fixture()))], max_message_size)
    }

    fn peer(&self, auth: Auth) -> Peer<'_> {
        self.peer_at(0, auth)
    }

    fn peer_at(&self, index: usize, auth: Auth) -> Peer<'_> {
        Peer {
            auth,
            target: self.addrs[index].to_string(),
            persist: self.persist.path(),
        }
    }
}

impl Drop for SimAgent {
    fn drop(&mut self) {
        self.shutdown.cancel();
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(Duration::from_secs(2));
        }
    }
}

fn v2c() -> Auth {
    Auth::V2c(COMMUNITY.into())
}

fn v1() -> Auth {
    Auth::V1(COMMUNITY.into())
}

fn v3(user: &str, level: &'static str, auth: &'static str, privacy: Option<&'static str>) -> Auth {
    Auth::V3 {
        user: user.into(),
        level,
        auth: (level != "noAuthNoPriv").then(|| (auth, AUTH_PASSWORD.to_string())),
        privacy: privacy.map(|protocol| (protocol, PRIV_PASSWORD.to_string())),
    }
}

/// How `snmpget -On -Oe -Ot` prints a value.
fn netsnmp_text(value: &SimValue) -> String {
    match value {
        SimValue::Integer(n) => format!("INTEGER: {n}"),
        SimValue::OctetString(bytes) if bytes.is_empty() => "\"\"".into(),
        SimValue::OctetString(bytes)
            if bytes.iter().all(|b| b.is_ascii_graphic() || *b == b' ') =>
        {
            format!("STRING: \"{}\"", String::from_utf8_lossy(bytes))
        }
        SimValue::OctetString(bytes) => {
            let hex: String = bytes.iter().map(|b| format!("{b:02X} ")).collect();
            format!("Hex-STRING: {hex}")
        }
        SimValue::ObjectId(oid) => format!("OID: .{}", dotted(oid)),
        SimValue::IpAddress([a, b, c, d]) => format!("IpAddress: {a}.{b}.{c}.{d}"),
        SimValue::Counter32(n) => format!("Counter32: {n}"),
        SimValue::Gauge32(n) => format!("Gauge32: {n}"),
        SimValue::TimeTicks(n) => n.to_string(),
        SimValue::Counter64(n) => format!("Counter64: {n}"),
    }
}

/// The fixture as net-snmp should print it, in walk order.
fn expected_pairs(filter: impl Fn(&SimValue) -> bool) -> Vec<(String, String)> {
    let mut objects = fixture();
    objects.sort_by(|a, b| a.0.cmp(&b.0));
    objects
        .iter()
        .filter(|(_, value)| filter(value))
        .map(|(oid, value)| (dotted(oid), netsnmp_text(value)))
        .collect()
}

/// Compares entry by entry, so a failure names the first differing OID.
fn assert_same_entries(actual: &[(String, String)], expected: &[(String, String)], what: &str) {
    for (index, (got, want)) in actual.iter().zip(expected).enumerate() {
        assert_eq!(got, want, "{what}: entry {index} differs");
    }
    assert_eq!(actual.len(), expected.len(), "{what}: entry count");
}

fn all(_: &SimValue) -> bool {
    true
}

#[test]
fn v2c_walks_read_exactly_the_served_objects_in_order() {
    let agent = SimAgent::static_mib(1472);
    let peer = agent.peer(v2c());
    let expected = expected_pairs(all);
    assert_eq!(expected.len(), 13 + 3 * TABLE_ROWS as usize);
    assert_same_entries(&peer.pairs("snmpwalk", &[], &[BASE]), &expected, "snmpwalk");
    for repetitions in ["-Cr1", "-Cr7", "-Cr50", "-Cr1000"] {
        let walked = peer.pairs("snmpbulkwalk", &[repetitions], &[BASE]);
        assert_same_entries(&walked, &expected, repetitions);
    }
    let stats = agent.stats.snapshot();
    assert_eq!(stats.requests, stats.responses);
    assert_eq!(
        (stats.decode_errors, stats.auth_failures, stats.too_big),
        (0, 0, 0)
    );
}

#[test]
fn v2c_get_and_getnext_of_every_value_type() {
    let agent = SimAgent::static_mib(1472);
    let peer = agent.peer(v2c());
    let scalars: Vec<(Vec<u32>, SimValue)> = fixture().into_iter().take(13).collect();
    let oids: Vec<String> = scalars.iter().map(|(oid, _)| dotted(oid)).collect();
    let oid_refs: Vec<&str> = oids.iter().map(String::as_str).collect();
    let expected: Vec<(String, String)> = scalars
        .iter()
        .map(|(oid, value)| (dotted(oid), netsnmp_text(value)))
        .collect();
    assert_same_entries(&peer.pairs("snmpget", &[], &oid_refs), &expected, "snmpget");
    // GETNEXT of each object's parent lands on the object itself.
    let parents: Vec<String> = scalars
        .iter()
        .map(|(oid, _)| dotted(&oid[..oid.len() - 1]))
        .collect();
    let parent_refs: Vec<&str> = parents.iter().map(String::as_str).collect();
    assert_same_entries(
        &peer.pairs("snmpgetnext", &[], &parent_refs),
        &expected,
        "snmpgetnext",
    );
}

#[test]
fn v2c_exceptions_print_as_net_snmp_prints_them() {
    let agent = SimAgent::static_mib(1472);
    let peer = agent.peer(v2c());
    let missing_instance = format!("{BASE}.1.1.5");
    let missing_object = format!("{BASE}.9.9.0");
    let pairs = peer.pairs("snmpget", &[], &[&missing_instance, &missing_object]);
    assert_eq!(
        pairs,
        [
            (
                missing_instance,
                "No Such Instance currently exists at this OID".to_string()
            ),
            (
                missing_object,
                "No Such Object available on this agent at this OID".to_string()
            ),
        ]
    );
    // The engine's own objects come last in this MIB (1.3.6.1.6.3.15.1.1.6.0).
    let last = "1.3.6.1.6.3.15.1.1.6.0";
    let pairs = peer.pairs("snmpgetnext", &[], &[last]);
    assert_eq!(
        pairs,
        [(
            last.to_string(),
            "No more variables left in this MIB View (It is past the end of the MIB tree)"
                .to_string()
        )]
    );
    // snmpEngineID is readable and is the endpoint's engine id.
    let pairs = peer.pairs("snmpget", &["-Ox"], &["1.3.6.1.6.3.10.2.1.1.0"]);
    let hex: String = agent::engine_id_for(0)
        .iter()
        .map(|b| format!("{b:02X} "))
        .collect();
    assert_eq!(
        pairs[0].1.trim_end(),
        format!("Hex-STRING: {hex}").trim_end()
    );
}

#[test]
fn v1_has_no_such_name_and_no_counter64() {
    let agent = SimAgent::static_mib(1472);
    let peer = agent.peer(v1());
    let not_counter64 = |value: &SimValue| !matches!(value, SimValue::Counter64(_));
    let walked = peer.pairs("snmpwalk", &[], &[BASE]);
    assert_same_entries(&walked, &expected_pairs(not_counter64), "v1 snmpwalk");
    let present = format!("{BASE}.1.1.0");
    let missing = format!("{BASE}.1.1.5");
    let output = peer.run("snmpget", &[], &[&present, &missing]);
    assert!(output.stderr.contains("(noSuchName)"), "{}", output.stderr);
    // error-index 2 names the second varbind.
    assert!(
        output
            .stderr
            .contains(&format!("Failed object: .{missing}")),
        "{}",
        output.stderr
    );
    // The end of the MIB is noSuchName too.
    let output = peer.run("snmpgetnext", &[], &["1.3.6.1.6.3.15.1.1.6.0"]);
    assert!(output.stderr.contains("(noSuchName)"), "{}", output.stderr);
    // GETBULK does not exist in v1: crafted by hand, it is dropped and counted.
    let before = agent.stats.snapshot().decode_errors;
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("socket");
    socket
        .set_read_timeout(Some(Duration::from_millis(300)))
        .expect("timeout");
    socket.send_to(&v1_getbulk(), agent.addrs[0]).expect("send");
    let mut buffer = [0u8; 2048];
    assert!(
        socket.recv_from(&mut buffer).is_err(),
        "v1 GETBULK was answered"
    );
    assert_eq!(agent.stats.snapshot().decode_errors, before + 1);
}

/// A v1 message carrying a GETBULK PDU (valid BER, invalid SNMP).
fn v1_getbulk() -> Vec<u8> {
    let community = COMMUNITY.as_bytes();
    let varbind = [0x30, 0x07, 0x06, 0x03, 0x2b, 0x06, 0x01, 0x05, 0x00];
    let mut pdu = vec![
        0x02,
        0x01,
        0x01,
        0x02,
        0x01,
        0x00,
        0x02,
        0x01,
        0x0a,
        0x30,
        varbind.len() as u8,
    ];
    pdu.extend_from_slice(&varbind);
    let mut body = vec![0x02, 0x01, 0x00, 0x04, community.len() as u8];
    body.extend_from_slice(community);
    body.extend_from_slice(&[0xa5, pdu.len() as u8]);
    body.extend_from_slice(&pdu);
    let mut message = vec![0x30, body.len() as u8];
    message.extend_from_slice(&body);
    message
}

#[test]
fn v3_every_security_level_reads_the_same_values() {
    let agent = SimAgent::static_mib(1472);
    let expected = expected_pairs(all);
    let variants = [
        v3("shaaes", "authPriv", "SHA", Some("AES")),
        v3("md5des", "authPriv", "MD5", Some("DES")),
        v3("sha256aes", "authPriv", "SHA-256", Some("AES")),
        v3("authonly", "authNoPriv", "SHA", None),
        v3("shaaes", "authNoPriv", "SHA", None),
        v3("authonly", "noAuthNoPriv", "SHA", None),
    ];
    for auth in variants {
        let label = format!("{auth:?}");
        let peer = agent.peer(auth);
        let walked = peer.pairs("snmpbulkwalk", &["-Cr25"], &[BASE]);
        assert_same_entries(&walked, &expected, &label);
        let got = peer.pairs(
            "snmpget",
            &[],
            &[&format!("{BASE}.1.12.0"), &format!("{BASE}.1.5.0")],
        );
        assert_eq!(got, [expected[11].clone(), expected[4].clone()], "{label}");
    }
    let stats = agent.stats.snapshot();
    assert_eq!((stats.decode_errors, stats.auth_failures), (0, 0));
    // Each tool run discovered the engine first: usmStatsUnknownEngineIDs counts them.
    let discoveries = agent
        .peer(v2c())
        .pairs("snmpget", &[], &["1.3.6.1.6.3.15.1.1.4.0"]);
    let count: u32 = discoveries[0]
        .1
        .trim_start_matches("Counter32: ")
        .parse()
        .expect("counter");
    assert!(count >= 6, "usmStatsUnknownEngineIDs = {count}");
}

#[test]
fn wrong_community_times_out_and_wrong_v3_secrets_fail() {
    let agent = SimAgent::static_mib(1472);
    let oid = format!("{BASE}.1.1.0");
    let output = agent
        .peer(Auth::V2c("wrong".into()))
        .run("snmpget", &[], &[&oid]);
    assert!(!output.success);
    assert!(output.stderr.contains("Timeout"), "{}", output.stderr);
    assert_eq!(agent.stats.snapshot().auth_failures, 1);

    let mut wrong_auth = v3("shaaes", "authPriv", "SHA", Some("AES"));
    if let Auth::V3 { auth, .. } = &mut wrong_auth {
        *auth = Some(("SHA", "not-the-password".into()));
    }
    let output = agent.peer(wrong_auth).run("snmpget", &[], &[&oid]);
    assert!(!output.success);
    assert!(
        output.stderr.contains("Authentication failure"),
        "{}",
        output.stderr
    );

    let mut wrong_privacy = v3("shaaes", "authPriv", "SHA", Some("AES"));
    if let Auth::V3 { privacy, .. } = &mut wrong_privacy {
        *privacy = Some(("AES", "not-the-password".into()));
    }
    let output = agent.peer(wrong_privacy).run("snmpget", &[], &[&oid]);
    assert!(
        !output.success,
        "a wrong privacy password decrypted: {}",
        output.stdout
    );

    let output = agent
        .peer(v3("nobody", "authNoPriv", "SHA", None))
        .run("snmpget", &[], &[&oid]);
    assert!(!output.success);
    assert!(
        output.stderr.contains("Unknown user name"),
        "{}",
        output.stderr
    );

    let output = agent
        .peer(v3("authonly", "authPriv", "SHA", Some("AES")))
        .run("snmpget", &[], &[&oid]);
    assert!(!output.success);
    assert!(
        output.stderr.contains("Unsupported security level"),
        "{}",
        output.stderr
    );

    // The usmStats counters say what happened: unsupported level, unknown user, wrong digest,
    // decryption error (1.3.6.1.6.3.15.1.1.{1,3,5,6}.0).
    let peer = agent.peer(v2c());
    let counters = peer.pairs(
        "snmpget",
        &[],
        &[
            "1.3.6.1.6.3.15.1.1.1.0",
            "1.3.6.1.6.3.15.1.1.3.0",
            "1.3.6.1.6.3.15.1.1.5.0",
            "1.3.6.1.6.3.15.1.1.6.0",
        ],
    );
    let values: Vec<&str> = counters.iter().map(|(_, value)| value.as_str()).collect();
    assert_eq!(
        values,
        [
            "Counter32: 1",
            "Counter32: 1",
            "Counter32: 1",
            "Counter32: 1"
        ]
    );
    assert_eq!(agent.stats.snapshot().auth_failures, 5);
}

#[test]
fn too_big_get_and_trimmed_getbulk() {
    // A small agent limit (the SNMP minimum every agent must accept, 484 bytes).
    let agent = SimAgent::static_mib(484);
    let peer = agent.peer(v2c());
    let names: Vec<String> = (1..=30).map(|row| format!("{BASE}.2.1.2.{row}")).collect();
    let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let output = peer.run("snmpget", &[], &name_refs);
    assert!(
        output.stderr.contains("(tooBig)"),
        "{}\n{}",
        output.stdout,
        output.stderr
    );
    assert_eq!(agent.stats.snapshot().too_big, 1);

    // GETBULK of 100 rows is trimmed to what fits in 484 bytes, never tooBig.
    let column = format!("{BASE}.2.1.2");
    let rows = peer.pairs("snmpbulkget", &["-Cn0", "-Cr100"], &[&column]);
    assert!(rows.len() > 5 && rows.len() < 30, "{} varbinds", rows.len());
    let expected = expected_pairs(all);
    let start = expected
        .iter()
        .position(|(oid, _)| oid.starts_with(&column))
        .expect("column");
    assert_same_entries(&rows, &expected[start..start + rows.len()], "trimmed bulk");
    // Exactly as many as fit: one more varbind would have crossed 484 bytes.
    // (net-snmp's random request-id takes 1 to 4 bytes.)
    let fitting = varbinds_fitting(484, 4)..=varbinds_fitting(484, 1);
    assert!(
        fitting.contains(&rows.len()),
        "{} varbinds, expected {fitting:?}",
        rows.len()
    );
    // A full bulk walk still reads everything, in small steps.
    assert_same_entries(
        &peer.pairs("snmpbulkwalk", &["-Cr100"], &[BASE]),
        &expected,
        "bulkwalk at 484",
    );
    assert_eq!(agent.stats.snapshot().too_big, 1);
}

/// How many rows of the interface-name column fit in a v2c response of `limit` bytes, counted
/// by hand from the BER layout (independently of the agent's own size code), for a
/// request-id of `id_len` bytes.
fn varbinds_fitting(limit: usize, id_len: usize) -> usize {
    let tlv = |content: usize| {
        1 + if content < 128 {
            1
        } else if content < 256 {
            2
        } else {
            3
        } + content
    };
    // 1.3.6.1.4.1.32473.1.2.1.2.ROW: 0x2b, 6 1 4 1, 32473 in three bytes, 1 2 1 2, ROW < 128.
    let oid_len = 1 + 4 + 3 + 4 + 1;
    let head = tlv(1) + tlv(COMMUNITY.len());
    let fixed = tlv(id_len) + tlv(1) + tlv(1);
    let mut varbinds = 0;
    let mut count = 0;
    for row in 1..=TABLE_ROWS {
        let value = format!("GigabitEthernet0/{row}").len();
        let varbind = tlv(tlv(oid_len) + tlv(value));
        if tlv(head + tlv(fixed + tlv(varbinds + varbind))) > limit {
            break;
        }
        varbinds += varbind;
        count += 1;
    }
    count
}

/// A device that reacts in a fixed way and counts the requests it saw.
struct ReactingMib {
    inner: StaticMib,
    reaction: Reaction,
    seen: AtomicU32,
}

impl ReactingMib {
    fn new(reaction: Reaction) -> Arc<ReactingMib> {
        Arc::new(ReactingMib {
            inner: StaticMib::new(fixture()),
            reaction,
            seen: AtomicU32::new(0),
        })
    }
}

impl MibView for ReactingMib {
    fn get(&self, oid: &[u32], at: Duration) -> Lookup {
        self.inner.get(oid, at)
    }

    fn next(&self, oid: &[u32], at: Duration) -> Option<(Vec<u32>, SimValue)> {
        self.inner.next(oid, at)
    }

    fn reaction(&self, _at: Duration) -> Reaction {
        self.seen.fetch_add(1, Ordering::Relaxed);
        self.reaction
    }
}

#[test]
fn dropped_requests_get_no_answer_and_delays_block_nobody() {
    let delay = Duration::from_millis(800);
    let dead = ReactingMib::new(Reaction::Drop);
    let slow = ReactingMib::new(Reaction::Delay(delay));
    let healthy = ReactingMib::new(Reaction::Answer);
    let devices: Vec<Arc<dyn MibView>> = vec![dead.clone(), slow.clone(), healthy.clone()];
    let agent = SimAgent::start(devices, 1472);
    let oid = format!("{BASE}.1.3.0");

    let output = agent.peer_at(0, v2c()).run("snmpget", &[], &[&oid]);
    assert!(output.stderr.contains("Timeout"), "{}", output.stderr);
    assert_eq!(dead.seen.load(Ordering::Relaxed), 1);
    assert_eq!(agent.stats.snapshot().dropped, 1);

    // Two requests to the slow device and one to the healthy one, all at once: the healthy
    // one answers at once, and the slow device's two answers overlap instead of queueing.
    std::thread::scope(|scope| {
        let slow_runs: Vec<_> = (0..2)
            .map(|_| {
                scope.spawn(|| {
                    let started = std::time::Instant::now();
                    let pairs = agent
                        .peer_at(1, v2c())
                        .pairs("snmpget", &["-t", "5"], &[&oid]);
                    (started.elapsed(), pairs)
                })
            })
            .collect();
        let started = std::time::Instant::now();
        let pairs = agent.peer_at(2, v2c()).pairs("snmpget", &[], &[&oid]);
        let healthy_time = started.elapsed();
        assert_eq!(pairs[0].1, "STRING: \"edge-router-1\"");
        assert!(
            healthy_time < delay / 2,
            "healthy device took {healthy_time:?}"
        );
        for run in slow_runs {
            let (elapsed, pairs) = run.join().expect("slow snmpget");
            assert_eq!(pairs[0].1, "STRING: \"edge-router-1\"");
            assert!(elapsed >= delay, "answered after {elapsed:?}");
            assert!(elapsed < delay * 2, "delayed answers queued: {elapsed:?}");
        }
    });
    assert_eq!(slow.seen.load(Ordering::Relaxed), 2);
}

#[test]
fn malformed_datagrams_are_counted_and_never_answered() {
    let agent = SimAgent::static_mib(1472);
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("socket");
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let mut garbage: Vec<Vec<u8>> = vec![
        Vec::new(),
        vec![0x30],
        vec![0x30, 0x84, 0xff, 0xff, 0xff, 0xff],
        vec![0x30, 0x80, 0x02, 0x01, 0x01, 0x00, 0x00],
        vec![0xff; 1000],
    ];
    // Every truncation of a valid request.
    let valid = v1_getbulk();
    garbage.extend((1..valid.len()).map(|cut| valid[..cut].to_vec()));
    // Pseudo-random bytes behind a SEQUENCE header claiming a huge length.
    let mut state: u32 = 0x1234_5678;
    for _ in 0..50 {
        let mut datagram = vec![0x30, 0x83, 0x7f, 0xff, 0xff];
        for _ in 0..64 {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            datagram.push(state as u8);
        }
        garbage.push(datagram);
    }
    for datagram in &garbage {
        socket.send_to(datagram, agent.addrs[0]).expect("send");
    }
    let mut buffer = [0u8; 2048];
    assert!(
        socket.recv_from(&mut buffer).is_err(),
        "garbage was answered"
    );
    // Every datagram, the empty one included, is read and counted.
    let stats = agent.stats.snapshot();
    assert_eq!(stats.decode_errors, garbage.len() as u64);
    assert_eq!(stats.responses, 0);
    // And the agent still serves.
    let pairs = agent
        .peer(v2c())
        .pairs("snmpget", &[], &[&format!("{BASE}.1.1.0")]);
    assert_eq!(pairs[0].1, "INTEGER: -42");
}

#[test]
fn many_endpoints_each_with_its_own_engine_and_a_named_bind_error() {
    let devices: Vec<Arc<dyn MibView>> = (0..50)
        .map(|_| Arc::new(StaticMib::new(fixture())) as Arc<dyn MibView>)
        .collect();
    let agent = SimAgent::start(devices, 1472);
    let ports: std::collections::BTreeSet<u16> = agent.addrs.iter().map(SocketAddr::port).collect();
    assert_eq!(ports.len(), 50);
    for index in [0, 17, 49] {
        let pairs = agent
            .peer_at(index, v3("shaaes", "authPriv", "SHA", Some("AES")))
            .pairs(
                "snmpget",
                &["-Ox"],
                &["1.3.6.1.6.3.10.2.1.1.0", "1.3.6.1.6.3.10.2.1.2.0"],
            );
        let hex: String = agent::engine_id_for(index as u32)
            .iter()
            .map(|b| format!("{b:02X} "))
            .collect();
        assert_eq!(
            pairs[0].1.trim_end(),
            format!("Hex-STRING: {hex}").trim_end()
        );
        assert_eq!(pairs[1].1, "INTEGER: 1");
    }

    // Binding an address that is taken fails and names the address.
    let taken = std::net::UdpSocket::bind("127.0.0.1:0").expect("socket");
    let addr = taken.local_addr().expect("address");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let endpoint = Endpoint {
        addr,
        device: Arc::new(StaticMib::new(fixture())),
        engine_id: agent::engine_id_for(0),
    };
    let security = AgentSecurity {
        community: Secret::new(COMMUNITY),
        users: Vec::new(),
    };
    let result = runtime.block_on(async {
        agent::bind(vec![endpoint], Arc::new(AgentSettings::new(security))).await
    });
    let error = result.err().expect("bind must fail").to_string();
    assert!(error.starts_with(&format!("{addr}: ")), "{error}");
    assert!(error.contains("in use"), "{error}");
}

mod poller_cross_check {
    //! The poller's own client (snmp2 underneath) reads the agent: same values as served.

    use ispmonitor::poller::snmp::rows::ColumnRows;

    use ispmonitor::config::{
        AuthProtocol, PrivProtocol, SecurityLevel, SnmpCredential, SnmpV3Credential,
    };
    use ispmonitor::poller::snmp::session::{Session, SessionSettings};
    use ispmonitor::poller::snmp::value::SnmpValue;
    use ispmonitor::poller::snmp::walk;

    use super::*;

    fn poller_value(value: &SimValue) -> SnmpValue {
        match value {
            SimValue::Integer(n) => SnmpValue::Integer(i64::from(*n)),
            SimValue::OctetString(bytes) => SnmpValue::OctetString(bytes.clone()),
            SimValue::ObjectId(oid) => SnmpValue::ObjectIdentifier(oid.clone()),
            SimValue::IpAddress(ip) => SnmpValue::IpAddress(*ip),
            SimValue::Counter32(n) => SnmpValue::Counter32(*n),
            SimValue::Gauge32(n) => SnmpValue::Unsigned32(*n),
            SimValue::TimeTicks(n) => SnmpValue::Timeticks(*n),
            SimValue::Counter64(n) => SnmpValue::Counter64(*n),
        }
    }

    fn session(addr: SocketAddr, credential: SnmpCredential) -> Session {
        let mut session = Session::new(SessionSettings {
            host: addr.ip().to_string(),
            port: Some(addr.port()),
            credential,
            retries: 0,
            attempt_timeout: Duration::from_secs(2),
            stats: Default::default(),
        });
        session.set_deadline(tokio::time::Instant::now() + Duration::from_secs(20));
        session
    }

    async fn read_everything(addr: SocketAddr, credential: SnmpCredential) {
        let mut session = session(addr, credential);
        let objects = fixture();
        // Scalars by GET, several per PDU.
        let scalars: Vec<Vec<u32>> = objects
            .iter()
            .take(13)
            .map(|(oid, _)| oid.clone())
            .collect();
        let got = walk::get(&mut session, &scalars, 5)
            .await
            .expect("GET scalars");
        for (oid, value) in objects.iter().take(13) {
            assert_eq!(got.get(oid), Some(&poller_value(value)), "{}", dotted(oid));
        }
        // The three table columns walked together with GETBULK.
        let roots: Vec<Vec<u32>> = (1..=3).map(|column| base_oid(&[2, 1, column])).collect();
        let columns = walk::walk(&mut session, &roots, 20)
            .await
            .expect("walk table");
        for (root, rows) in roots.iter().zip(columns) {
            let expected: ColumnRows = objects
                .iter()
                .filter(|(oid, _)| oid.starts_with(root))
                .map(|(oid, value)| (oid[root.len()..].to_vec(), poller_value(value)))
                .collect();
            assert_eq!(rows.len(), TABLE_ROWS as usize);
            assert_eq!(rows, expected, "column {}", dotted(root));
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn poller_session_reads_the_served_values_over_v2c_and_v3() {
        let agent = tokio::task::spawn_blocking(|| SimAgent::static_mib(1472))
            .await
            .expect("start");
        let addr = agent.addrs[0];
        read_everything(
            addr,
            SnmpCredential::V2c {
                community: Secret::new(COMMUNITY),
            },
        )
        .await;
        for (user, auth, privacy) in [
            ("shaaes", AuthProtocol::Sha1, Some(PrivProtocol::Aes128)),
            ("md5des", AuthProtocol::Md5, Some(PrivProtocol::Des)),
            (
                "sha256aes",
                AuthProtocol::Sha256,
                Some(PrivProtocol::Aes128),
            ),
            ("authonly", AuthProtocol::Sha1, None),
        ] {
            let credential = SnmpCredential::V3(SnmpV3Credential {
                username: user.into(),
                security_level: if privacy.is_some() {
                    SecurityLevel::AuthPriv
                } else {
                    SecurityLevel::AuthNoPriv
                },
                auth: Some((auth, Secret::new(AUTH_PASSWORD))),
                privacy: privacy.map(|protocol| (protocol, Secret::new(PRIV_PASSWORD))),
                key_extension: None,
                context_name: String::new(),
            });
            read_everything(addr, credential).await;
        }
        let stats = agent.stats.snapshot();
        assert_eq!((stats.decode_errors, stats.auth_failures), (0, 0));
        tokio::task::spawn_blocking(move || drop(agent))
            .await
            .expect("stop");
    }
}
