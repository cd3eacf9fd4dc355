//! The SNMP poller against a real net-snmp agent: every version and v3 variant, failure reasons,
//! host resources, custom Counter64 metrics, and recovery from a late reply.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::snmpd::{
    pass_script, ScriptFile, Snmpd, SnmpdOptions, V3User, AUTH_PASSWORD, PRIV_PASSWORD, V3_USERS,
};
use ispmonitor::config::{
    AuthProtocol, CustomMetric, CustomMetricType, CustomSnmpModule, KeyExtension, Module,
    ModuleKind, PrivProtocol, Secret, SecurityLevel, SnmpCredential, SnmpGlobal, SnmpModule,
    SnmpV3Credential, Target, TargetKind,
};
use ispmonitor::poller::outcome::{FailureReason, FamilySamples, PollOutcome, Value};
use ispmonitor::poller::snmp::{self_metrics, SnmpJob, SnmpPoller};

const TIMEOUT: Duration = Duration::from_secs(1);

/// How far past its timeout a poll may finish (scheduling noise, not a retry).
const SLACK: Duration = Duration::from_millis(300);

fn settings(retries: u32, wrap_large_counters: bool) -> SnmpGlobal {
    SnmpGlobal {
        max_repetitions: 25,
        retries,
        max_oids_per_get: 10,
        wrap_large_counters,
        ..SnmpGlobal::default()
    }
}

fn module(kind: SnmpModule) -> Arc<Module> {
    Arc::new(Module {
        name: format!("{kind:?}").to_lowercase(),
        kind: ModuleKind::Snmp(kind),
    })
}

/// What a test polls: where, with what, and how.
struct JobSpec {
    host: &'static str,
    port: u16,
    credential: SnmpCredential,
    modules: Vec<SnmpModule>,
    settings: SnmpGlobal,
    timeout: Duration,
}

impl JobSpec {
    fn new(port: u16, credential: SnmpCredential, modules: Vec<SnmpModule>) -> Self {
        JobSpec {
            host: "127.0.0.1",
            port,
            credential,
            modules,
            settings: settings(1, false),
            timeout: TIMEOUT,
        }
    }

    fn poller(self) -> SnmpPoller {
        let modules: Vec<Arc<Module>> = self.modules.into_iter().map(module).collect();
        let target = Target {
            name: "agent".into(),
            address: format!("{}:{}", self.host, self.port),
            host: self.host.into(),
            port: Some(self.port),
            kind: TargetKind::Router,
            modules: modules.clone(),
            credential_name: None,
            credential: None,
            interval: Duration::from_secs(60),
            timeout: self.timeout,
            labels: Default::default(),
            source: Default::default(),
        };
        SnmpPoller::new(SnmpJob {
            target: Arc::new(target),
            credential: self.credential,
            modules,
            settings: self.settings,
            timeout: self.timeout,
        })
    }
}

fn v2c(community: &str) -> SnmpCredential {
    SnmpCredential::V2c {
        community: Secret::new(community),
    }
}

fn v1() -> SnmpCredential {
    SnmpCredential::V1 {
        community: Secret::new("public"),
    }
}

fn auth_protocol(name: &str) -> AuthProtocol {
    match name {
        "MD5" => AuthProtocol::Md5,
        "SHA" => AuthProtocol::Sha1,
        "SHA-224" => AuthProtocol::Sha224,
        "SHA-256" => AuthProtocol::Sha256,
        "SHA-384" => AuthProtocol::Sha384,
        "SHA-512" => AuthProtocol::Sha512,
        other => panic!("unknown auth protocol {other}"),
    }
}

/// Our privacy protocol and key extension for a net-snmp privacy name.
fn privacy(name: &str) -> (PrivProtocol, Option<KeyExtension>) {
    match name {
        "DES" => (PrivProtocol::Des, None),
        "AES" => (PrivProtocol::Aes128, None),
        "AES-192" => (PrivProtocol::Aes192, Some(KeyExtension::Blumenthal)),
        "AES-256" => (PrivProtocol::Aes256, Some(KeyExtension::Blumenthal)),
        "AES-256-C" => (PrivProtocol::Aes256, Some(KeyExtension::Reeder)),
        other => panic!("unknown privacy protocol {other}"),
    }
}

fn v3(user: &V3User, auth_password: &str) -> SnmpCredential {
    let auth = user
        .auth
        .map(|name| (auth_protocol(name), Secret::new(auth_password)));
    let privacy = user.privacy.map(privacy);
    let security_level = match (&auth, &privacy) {
        (None, _) => SecurityLevel::NoAuthNoPriv,
        (Some(_), None) => SecurityLevel::AuthNoPriv,
        (Some(_), Some(_)) => SecurityLevel::AuthPriv,
    };
    SnmpCredential::V3(SnmpV3Credential {
        username: user.name.into(),
        security_level,
        auth,
        privacy: privacy.map(|(protocol, _)| (protocol, Secret::new(PRIV_PASSWORD))),
        key_extension: privacy.and_then(|(_, extension)| extension),
        context_name: String::new(),
    })
}

fn family<'a>(outcome: &'a PollOutcome, name: &str) -> &'a FamilySamples {
    outcome
        .families
        .iter()
        .find(|family| &*family.desc.name == name)
        .unwrap_or_else(|| panic!("family {name} missing from {outcome:#?}"))
}

/// The value of the sample of `name` whose first label is `first_label` ("" for no labels).
fn value(outcome: &PollOutcome, name: &str, first_label: &str) -> Value {
    family(outcome, name)
        .samples
        .iter()
        .find(|sample| sample.labels.values().first().map_or("", String::as_str) == first_label)
        .unwrap_or_else(|| panic!("no {name} sample for {first_label:?}"))
        .value
        .clone()
}

fn as_u64(value: Value) -> u64 {
    match value {
        Value::Int(n) => n,
        Value::Float(f) => f as u64,
        Value::Histogram(_) => panic!("SNMP samples are scalars"),
    }
}

fn as_f64(value: Value) -> f64 {
    match value {
        Value::Int(n) => n as f64,
        Value::Float(f) => f,
        Value::Histogram(_) => panic!("SNMP samples are scalars"),
    }
}

/// Polls and asserts the poll kept to its timeout. Returns the device's part of the outcome:
/// without the poller's own per-target families, which every poll carries (see
/// `self_metrics_come_with_every_poll_even_a_failed_one`).
async fn timed_poll(poller: &mut SnmpPoller, timeout: Duration) -> PollOutcome {
    let started = Instant::now();
    let mut outcome = poller.poll().await;
    let took = started.elapsed();
    assert!(
        took <= timeout + SLACK,
        "poll took {took:?} with a {timeout:?} timeout"
    );
    outcome
        .families
        .retain(|family| !self_metrics::NAMES.contains(&&*family.desc.name));
    outcome
}

/// Checks one poll of `system` + `if_mib` against what net-snmp's own clients read just before.
async fn assert_matches_snmpget(agent: &Snmpd, credential: SnmpCredential, label: &str) {
    let uptime_ticks = agent.get_number("1.3.6.1.2.1.1.3.0");
    let v1 = matches!(credential, SnmpCredential::V1 { .. });
    // SNMPv1 cannot carry Counter64: there the poller falls back to ifInOctets.
    let lo_octets = if v1 {
        agent.get_number("1.3.6.1.2.1.2.2.1.10.1")
    } else {
        agent.get_number("1.3.6.1.2.1.31.1.1.1.6.1")
    };
    let interfaces = agent.client("snmpbulkwalk", &["1.3.6.1.2.1.2.2.1.2"]).len();

    let mut spec = JobSpec::new(
        agent.port,
        credential,
        vec![SnmpModule::System, SnmpModule::IfMib],
    );
    spec.timeout = Duration::from_secs(2);
    let outcome = timed_poll(&mut spec.poller(), Duration::from_secs(2)).await;
    assert_eq!(outcome.result, Ok(()), "{label}: {outcome:#?}");

    let uptime = as_f64(value(&outcome, "ispmonitor_snmp_uptime_seconds", ""));
    let expected = uptime_ticks as f64 / 100.0;
    assert!(
        (expected..expected + 2.0).contains(&uptime),
        "{label}: uptime {uptime} vs snmpget {expected}"
    );
    let rx = as_u64(value(
        &outcome,
        "ispmonitor_interface_receive_bytes_total",
        "lo",
    ));
    assert!(rx >= lo_octets, "{label}: lo rx {rx} < snmpget {lo_octets}");
    let info = family(&outcome, "ispmonitor_interface_info");
    assert_eq!(info.samples.len(), interfaces, "{label}: interface count");
    let lo = info.samples[0].labels.values();
    assert_eq!(lo[0], "lo", "{label}");
    assert_eq!(lo[3], "softwareLoopback", "{label}");
    assert_eq!(
        value(&outcome, "ispmonitor_interface_up", "lo"),
        Value::Int(1),
        "{label}"
    );
    let system = family(&outcome, "ispmonitor_snmp_system_info").samples[0]
        .labels
        .values();
    assert_eq!(
        system[2], "1.3.6.1.4.1.8072.3.2.10",
        "{label}: net-snmp's sysObjectID"
    );
}

#[tokio::test]
async fn v1_v2c_and_every_v3_variant_read_what_snmpget_reads() {
    let agent = Snmpd::start();
    assert_matches_snmpget(&agent, v1(), "v1").await;
    assert_matches_snmpget(&agent, v2c("public"), "v2c").await;
    for user in common::snmpd::V3_USERS {
        assert_matches_snmpget(&agent, v3(user, AUTH_PASSWORD), user.name).await;
    }
}

#[tokio::test]
async fn the_session_is_kept_between_polls() {
    let agent = Snmpd::start();
    let user = &common::snmpd::V3_USERS[0];
    let mut poller = JobSpec::new(
        agent.port,
        v3(user, AUTH_PASSWORD),
        vec![SnmpModule::System],
    )
    .poller();
    for _ in 0..3 {
        assert_eq!(poller.poll().await.result, Ok(()));
    }
}

#[tokio::test]
async fn wrong_community_is_a_timeout_within_the_timeout() {
    let agent = Snmpd::start();
    let mut poller = JobSpec::new(agent.port, v2c("wrong"), vec![SnmpModule::System]).poller();
    let outcome = timed_poll(&mut poller, TIMEOUT).await;
    assert_eq!(outcome, PollOutcome::failed(FailureReason::Timeout));
}

#[tokio::test]
async fn wrong_v3_password_is_an_auth_failure() {
    let agent = Snmpd::start();
    for user in common::snmpd::V3_USERS
        .iter()
        .filter(|u| u.auth.is_some())
        .take(2)
    {
        let mut poller = JobSpec::new(
            agent.port,
            v3(user, "wrongpass123"),
            vec![SnmpModule::System],
        )
        .poller();
        let outcome = timed_poll(&mut poller, TIMEOUT).await;
        assert_eq!(
            outcome,
            PollOutcome::failed(FailureReason::Auth),
            "{}",
            user.name
        );
    }
}

#[tokio::test]
async fn unknown_v3_user_is_an_auth_failure() {
    let agent = Snmpd::start();
    for (auth, privacy) in [(Some("SHA"), Some("AES")), (None, None)] {
        let user = V3User {
            name: "nobody",
            auth,
            privacy,
        };
        let mut poller = JobSpec::new(
            agent.port,
            v3(&user, AUTH_PASSWORD),
            vec![SnmpModule::System],
        )
        .poller();
        let outcome = timed_poll(&mut poller, TIMEOUT).await;
        assert_eq!(
            outcome,
            PollOutcome::failed(FailureReason::Auth),
            "{auth:?}"
        );
    }
}

#[tokio::test]
async fn closed_port_is_unreachable() {
    let port = common::snmpd::free_udp_port();
    let mut poller = JobSpec::new(port, v2c("public"), vec![SnmpModule::System]).poller();
    let outcome = timed_poll(&mut poller, TIMEOUT).await;
    assert_eq!(outcome, PollOutcome::failed(FailureReason::Unreachable));
}

#[tokio::test]
async fn unresolvable_name_is_unreachable() {
    let mut spec = JobSpec::new(161, v2c("public"), vec![SnmpModule::System]);
    spec.host = "no-such-host.invalid";
    let outcome = timed_poll(&mut spec.poller(), TIMEOUT).await;
    assert_eq!(outcome, PollOutcome::failed(FailureReason::Unreachable));
}

#[tokio::test]
async fn silent_host_times_out_within_the_timeout() {
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let port = silent.local_addr().expect("address").port();
    let mut poller = JobSpec::new(
        port,
        v2c("public"),
        vec![SnmpModule::System, SnmpModule::IfMib],
    )
    .poller();
    let started = Instant::now();
    let outcome = timed_poll(&mut poller, TIMEOUT).await;
    assert_eq!(outcome, PollOutcome::failed(FailureReason::Timeout));
    assert!(
        started.elapsed() >= TIMEOUT - Duration::from_millis(50),
        "retries use the whole timeout"
    );
    drop(silent);
}

#[tokio::test]
async fn host_resources_returns_storage_and_cpu() {
    // net-snmp has no hrProcessorLoad in its first seconds; serve fixed loads with a pass script
    // on that column so the test stays fast (`-p 10` outranks host/hr_proc's registration of the
    // same column, which would otherwise refuse the duplicate). Storage is the agent's own.
    let load = "1.3.6.1.2.1.25.3.3.1.2";
    let script = pass_script(
        &[
            (&format!("{load}.196608"), "integer", "7"),
            (&format!("{load}.196609"), "integer", "42"),
        ]
        .map(|(oid, kind, value)| (oid.as_str(), kind, value)),
    );
    let agent = Snmpd::start_with(SnmpdOptions {
        extra_config: vec![format!("pass -p 10 .{load} /bin/sh {{dir}}/load.sh")],
        scripts: vec![ScriptFile {
            name: "load.sh".into(),
            contents: script,
        }],
    });
    let mut poller =
        JobSpec::new(agent.port, v2c("public"), vec![SnmpModule::HostResources]).poller();
    let outcome = timed_poll(&mut poller, TIMEOUT).await;
    assert_eq!(outcome.result, Ok(()), "{outcome:#?}");

    assert_eq!(
        value(&outcome, "ispmonitor_cpu_load_ratio", "196609"),
        Value::Float(0.42)
    );
    let memory = as_u64(value(
        &outcome,
        "ispmonitor_storage_size_bytes",
        "Physical memory",
    ));
    let units = agent.get_number("1.3.6.1.2.1.25.2.3.1.4.1");
    let size = agent.get_number("1.3.6.1.2.1.25.2.3.1.5.1");
    assert_eq!(memory, units * size);
    let ram = family(&outcome, "ispmonitor_storage_used_bytes")
        .samples
        .iter()
        .find(|s| s.labels.values()[0] == "Physical memory")
        .expect("physical memory row");
    assert_eq!(ram.labels.values()[1], "ram");
}

#[tokio::test]
async fn bgp4_without_bgp_is_an_empty_success() {
    let agent = Snmpd::start();
    let mut poller = JobSpec::new(agent.port, v2c("public"), vec![SnmpModule::Bgp4]).poller();
    let outcome = timed_poll(&mut poller, TIMEOUT).await;
    assert_eq!(
        outcome,
        PollOutcome {
            result: Ok(()),
            families: vec![]
        }
    );
}

#[tokio::test]
async fn bgp4_reads_peer_states_from_a_real_agent() {
    // net-snmp has no BGP4-MIB: serve a bgpPeerTable (state column 2, remote AS column 9,
    // indexed by the peer address) through a pass script, as a router would answer it.
    let entry = "1.3.6.1.2.1.15.3.1";
    let rows = [
        (format!("{entry}.2.10.0.0.1"), "integer", "6"),
        (format!("{entry}.2.192.0.2.7"), "integer", "1"),
        (format!("{entry}.9.10.0.0.1"), "integer", "65001"),
        (format!("{entry}.9.192.0.2.7"), "integer", "64512"),
    ];
    let script = pass_script(&rows.each_ref().map(|(o, k, v)| (o.as_str(), *k, *v)));
    let agent = Snmpd::start_with(SnmpdOptions {
        extra_config: vec![format!("pass .1.3.6.1.2.1.15 /bin/sh {{dir}}/bgp.sh")],
        scripts: vec![ScriptFile {
            name: "bgp.sh".into(),
            contents: script,
        }],
    });
    let mut poller = JobSpec::new(agent.port, v2c("public"), vec![SnmpModule::Bgp4]).poller();
    let outcome = timed_poll(&mut poller, TIMEOUT).await;
    assert_eq!(outcome.result, Ok(()), "{outcome:#?}");
    let peers = &family(&outcome, "ispmonitor_bgp_peer_state").samples;
    let got: Vec<(String, String, Value)> = peers
        .iter()
        .map(|s| {
            (
                s.labels.values()[0].clone(),
                s.labels.values()[1].clone(),
                s.value.clone(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("10.0.0.1".to_string(), "65001".to_string(), Value::Int(6)),
            ("192.0.2.7".to_string(), "64512".to_string(), Value::Int(1)),
        ]
    );
}

fn custom_module() -> SnmpModule {
    let metric = |name: &str, oid: &[u32], metric_type, index: &[&str]| CustomMetric {
        name: name.into(),
        help: "test".into(),
        oid: oid.to_vec(),
        metric_type,
        index: index.iter().map(|s| s.to_string()).collect(),
    };
    SnmpModule::Custom(CustomSnmpModule {
        metrics: vec![
            metric(
                "ispmonitor_big_total",
                &[1, 3, 6, 1, 4, 1, 99_999, 1],
                CustomMetricType::Counter,
                &[],
            ),
            metric(
                "ispmonitor_queue_depth",
                &[1, 3, 6, 1, 4, 1, 99_999, 2],
                CustomMetricType::Gauge,
                &["slot", "address"],
            ),
            metric(
                "ispmonitor_label_only",
                &[1, 3, 6, 1, 4, 1, 99_999, 3, 0],
                CustomMetricType::Gauge,
                &[],
            ),
        ],
        max_repetitions: Some(2),
    })
}

#[tokio::test]
async fn custom_counter64_above_2_pow_53_survives_with_and_without_wrap() {
    // net-snmp 5.9's pass accepts `counter64` although its man page says it does not.
    let root = "1.3.6.1.4.1.99999";
    let script = pass_script(&[
        ("1.3.6.1.4.1.99999.1.0", "counter64", "18446744073709551615"),
        ("1.3.6.1.4.1.99999.2.1.10.0.0.1", "gauge", "5"),
        ("1.3.6.1.4.1.99999.2.2.10.0.0.2", "integer", "-3"),
        ("1.3.6.1.4.1.99999.3.0", "string", "not a number"),
    ]);
    let agent = Snmpd::start_with(SnmpdOptions {
        extra_config: vec![format!("pass .{root} /bin/sh {{dir}}/custom.sh")],
        scripts: vec![ScriptFile {
            name: "custom.sh".into(),
            contents: script,
        }],
    });
    for wrap in [false, true] {
        let mut spec = JobSpec::new(agent.port, v2c("public"), vec![custom_module()]);
        spec.settings = settings(1, wrap);
        let outcome = timed_poll(&mut spec.poller(), TIMEOUT).await;
        assert_eq!(outcome.result, Ok(()), "{outcome:#?}");
        let expected = if wrap { u64::MAX % (1 << 53) } else { u64::MAX };
        assert_eq!(
            value(&outcome, "ispmonitor_big_total", ""),
            Value::Int(expected)
        );
        let depth = family(&outcome, "ispmonitor_queue_depth");
        let labels: Vec<Vec<String>> = depth.samples.iter().map(|s| s.labels.values()).collect();
        assert_eq!(labels, [["1", "10.0.0.1"], ["2", "10.0.0.2"]]);
        assert_eq!(depth.samples[1].value, Value::Float(-3.0));
        // The string under a gauge is skipped, not fatal.
        assert!(outcome
            .families
            .iter()
            .all(|f| &*f.desc.name != "ispmonitor_label_only"));
    }
}

/// A UDP proxy in front of the agent that can hold back replies for a while.
struct DelayingProxy {
    port: u16,
    replies_to_delay: Arc<AtomicUsize>,
}

impl DelayingProxy {
    async fn start(agent_port: u16, delay: Duration) -> DelayingProxy {
        let front = Arc::new(
            tokio::net::UdpSocket::bind("127.0.0.1:0")
                .await
                .expect("bind"),
        );
        let back = Arc::new(
            tokio::net::UdpSocket::bind("127.0.0.1:0")
                .await
                .expect("bind"),
        );
        back.connect(("127.0.0.1", agent_port))
            .await
            .expect("connect");
        let port = front.local_addr().expect("address").port();
        let replies_to_delay = Arc::new(AtomicUsize::new(0));
        let client = Arc::new(Mutex::new(None));
        tokio::spawn(forward_requests(
            front.clone(),
            back.clone(),
            client.clone(),
        ));
        tokio::spawn(forward_replies(
            front,
            back,
            client,
            (replies_to_delay.clone(), delay),
        ));
        DelayingProxy {
            port,
            replies_to_delay,
        }
    }

    fn delay_next_replies(&self, count: usize) {
        self.replies_to_delay.store(count, Ordering::SeqCst);
    }
}

async fn forward_requests(
    front: Arc<tokio::net::UdpSocket>,
    back: Arc<tokio::net::UdpSocket>,
    client: Arc<Mutex<Option<std::net::SocketAddr>>>,
) {
    let mut buf = vec![0u8; 65_536];
    while let Ok((n, from)) = front.recv_from(&mut buf).await {
        *client.lock().expect("lock") = Some(from);
        let _ = back.send(&buf[..n]).await;
    }
}

async fn forward_replies(
    front: Arc<tokio::net::UdpSocket>,
    back: Arc<tokio::net::UdpSocket>,
    client: Arc<Mutex<Option<std::net::SocketAddr>>>,
    (replies_to_delay, delay): (Arc<AtomicUsize>, Duration),
) {
    let mut buf = vec![0u8; 65_536];
    while let Ok(n) = back.recv(&mut buf).await {
        let Some(to) = *client.lock().expect("lock") else {
            continue;
        };
        let reply = buf[..n].to_vec();
        let hold = replies_to_delay
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                left.checked_sub(1)
            })
            .is_ok();
        if hold {
            // Sent later to the socket that asked: exactly a late reply.
            let front = front.clone();
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                let _ = front.send_to(&reply, to).await;
            });
        } else {
            let _ = front.send_to(&reply, to).await;
        }
    }
}

#[tokio::test]
async fn a_late_reply_never_desynchronises_the_next_polls() {
    let agent = Snmpd::start();
    let proxy = DelayingProxy::start(agent.port, Duration::from_millis(1200)).await;
    let mut spec = JobSpec::new(proxy.port, v2c("public"), vec![SnmpModule::System]);
    spec.settings = settings(0, false);
    let mut poller = spec.poller();

    proxy.delay_next_replies(1);
    let first = timed_poll(&mut poller, TIMEOUT).await;
    assert_eq!(first, PollOutcome::failed(FailureReason::Timeout));
    // Let the late reply land (on the socket of the abandoned request) before polling again.
    tokio::time::sleep(Duration::from_millis(400)).await;
    for _ in 0..3 {
        let outcome = timed_poll(&mut poller, TIMEOUT).await;
        assert_eq!(outcome.result, Ok(()), "{outcome:#?}");
    }
}

#[tokio::test]
async fn a_v3_timeout_keeps_the_discovered_engine() {
    let agent = Snmpd::start();
    let proxy = DelayingProxy::start(agent.port, Duration::from_millis(1200)).await;
    let user = V3_USERS
        .iter()
        .find(|user| user.name == "sha256aes256")
        .expect("user");
    let mut spec = JobSpec::new(
        proxy.port,
        v3(user, AUTH_PASSWORD),
        vec![SnmpModule::System, SnmpModule::IfMib],
    );
    // One request in flight: the proxy forwards replies to the one socket that asked last.
    spec.settings = settings(0, false);
    let mut poller = spec.poller();
    assert_eq!(timed_poll(&mut poller, TIMEOUT).await.result, Ok(()));

    proxy.delay_next_replies(1);
    let late = timed_poll(&mut poller, TIMEOUT).await;
    assert_eq!(late, PollOutcome::failed(FailureReason::Timeout));
    for _ in 0..3 {
        let outcome = timed_poll(&mut poller, TIMEOUT).await;
        assert_eq!(outcome.result, Ok(()), "{outcome:#?}");
    }
    let stats = poller.stats();
    assert_eq!(stats.timeouts, 1, "{stats:?}");
    assert_eq!(stats.engine_discoveries, 1, "{stats:?}");
}

#[tokio::test]
async fn a_retry_within_the_timeout_recovers_from_one_late_reply() {
    let agent = Snmpd::start();
    let proxy = DelayingProxy::start(agent.port, Duration::from_millis(700)).await;
    let mut spec = JobSpec::new(proxy.port, v2c("public"), vec![SnmpModule::System]);
    spec.settings = settings(1, false);
    let mut poller = spec.poller();
    proxy.delay_next_replies(1);
    let outcome = timed_poll(&mut poller, TIMEOUT).await;
    assert_eq!(outcome.result, Ok(()), "{outcome:#?}");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(timed_poll(&mut poller, TIMEOUT).await.result, Ok(()));
}
