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

#[test]
fn explore_formats() {
    let agent = SimAgent::static_mib(1472);
    let peer = agent.peer(v2c());
    let out = peer.run("snmpwalk", &[], &[BASE]);
    println!("{}\n{}", out.stdout, out.stderr);
    let out = peer.run(
        "snmpget",
        &[],
        &[
            &format!("{BASE}.1.1.5"),
            &format!("{BASE}.9.9.0"),
            "1.3.6.1.6.3.10.2.1.3.0",
        ],
    );
    println!("{}\n{}", out.stdout, out.stderr);
    let out = peer.run("snmpgetnext", &[], &["1.3.6.1.6.3.15.1.1.6.0"]);
    println!("{}\n{}", out.stdout, out.stderr);
    let out = agent.peer(v1()).run(
        "snmpget",
        &[],
        &[&format!("{BASE}.1.1.0"), &format!("{BASE}.1.1.5")],
    );
    println!("{}\n{}", out.stdout, out.stderr);
    let out = agent
        .peer(v3("shaaes", "authPriv", "SHA", Some("AES")))
        .run("snmpget", &[], &[&format!("{BASE}.1.3.0")]);
    println!("v3 {}\n{}", out.stdout, out.stderr);
    println!("{:?}", agent.stats.snapshot());
    let _ = (
        Lookup::NoSuchObject,
        Reaction::Answer,
        AtomicU32::new(0).load(Ordering::Relaxed),
        dotted(&[1]),
    );
}
