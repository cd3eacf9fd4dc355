//! Network faults between the real `ispmonitor serve` and real net-snmp agents: random loss,
//! delay below and above the timeout, reordered and duplicated datagrams. Healthy targets must
//! keep their values and their schedule, the faulty one must say so (up, failure reason,
//! retries and timeouts) without ever showing an old or wrong value, and recover by itself.
//!
//! Not `tc netem`: the kernels of this project's machines are built without sch_netem ("qdisc
//! kind is unknown"). Loss is an nftables `numgen random` drop inside a network namespace
//! holding the agent (tests/common/netns.rs); delay, jitter, reordering and duplication come
//! from a UDP relay between the poller and the agent (tests/common/udp_relay.rs).

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use common::faults::{
    assert_healthy, device_series, expected_from_agent, failure_reason, fixed_series, fixed_values,
    last_success, now_unix, schedule_lag, snmp_counter, up, watch, FIXED_MODULE,
};
use common::ispmonitor::{sample_value, Ispmonitor};
use common::netns::NetnsHost;
use common::snmpd::{Snmpd, AUTH_PASSWORD, PRIV_PASSWORD};
use common::udp_relay::{Faults, UdpRelay};

/// A config polling `targets` (name, address) with `system` and the fixed-values module, over
/// SNMPv3 authPriv for names ending in `-v3`, v2c for the others.
fn config(dir: &tempfile::TempDir, global: &str, targets: &[(&str, String)]) -> PathBuf {
    let mut yaml = format!(
        "global: {global}\n\
         credentials:\n\
         \x20 v2: {{type: snmp, version: 2c, community: public}}\n\
         \x20 v3: {{type: snmp, version: 3, username: shaaes, security_level: authPriv, auth_protocol: SHA,\n\
         \x20      auth_password: \"{AUTH_PASSWORD}\", priv_protocol: AES, priv_password: \"{PRIV_PASSWORD}\"}}\n\
         modules:\n{FIXED_MODULE}\
         targets:\n"
    );
    for (name, address) in targets {
        let credential = if name.ends_with("-v3") { "v3" } else { "v2" };
        yaml.push_str(&format!(
            "  - {{name: {name}, address: \"{address}\", kind: router, modules: [system, fixed], credential: {credential}}}\n"
        ));
    }
    let path = dir.path().join("ispmonitor.yaml");
    std::fs::write(&path, yaml).expect("write config");
    path
}

/// While a fault is on: every scrape shows the healthy target up, fresh, exact and on time;
/// returns the largest schedule lag seen.
fn healthy_throughout(
    server: &Ispmonitor,
    span: Duration,
    target: &str,
    expected: &BTreeMap<String, f64>,
) -> f64 {
    let mut worst_lag: f64 = 0.0;
    let scrapes = watch(server, span, Duration::from_millis(200), |m| {
        assert_healthy(m, target, expected, 2.5);
        let lag = schedule_lag(m, target, "snmp").expect("a schedule lag");
        worst_lag = worst_lag.max(lag);
    });
    assert!(scrapes > 5);
    // One interval is 1 s: a healthy target starting 0.3 s late would be held up by the other.
    assert!(worst_lag < 0.3, "{target} fell behind: lag {worst_lag} s");
    worst_lag
}

/// The values a faulty target shows, whenever it shows any, are the agent's: never other ones.
fn never_wrong(metrics: &str, target: &str, expected: &BTreeMap<String, f64>) {
    let shown = fixed_series(metrics, target);
    assert!(
        shown.is_empty() || &shown == expected,
        "{target} shows values the agent never sent: {shown:?}"
    );
}

#[test]
fn random_loss_on_one_path_leaves_the_others_on_time_and_heals_by_itself() {
    let host = NetnsHost::create();
    let lossy_agent = Snmpd::start_in_netns(&host.netns, host.ns_ip, fixed_values());
    let healthy_agent = Snmpd::start_with(fixed_values());
    let dir = tempfile::tempdir().unwrap();
    let config = config(
        &dir,
        "{interval: 1s, timeout: 900ms, snmp: {retries: 2}}",
        &[
            ("lossy", lossy_agent.address()),
            ("healthy", healthy_agent.address()),
        ],
    );
    let server = Ispmonitor::start(&config, &[]);
    let lossy = expected_from_agent(&lossy_agent, "lossy");
    let healthy = expected_from_agent(&healthy_agent, "healthy");
    server.wait_for_metrics("both targets up", Duration::from_secs(15), |m| {
        up(m, "lossy", "snmp") == Some(1.0) && up(m, "healthy", "snmp") == Some(1.0)
    });
    let before = server.metrics();
    assert_healthy(&before, "lossy", &lossy, 2.5);

    // 30 % of the requests to the lossy agent vanish: its retries and timeouts climb.
    host.set_udp_loss(lossy_agent.port, 30);
    let mut lossy_successes = 0;
    let mut worst_lag: f64 = 0.0;
    watch(
        &server,
        Duration::from_secs(8),
        Duration::from_millis(200),
        |m| {
            assert_healthy(m, "healthy", &healthy, 2.5);
            worst_lag = worst_lag.max(schedule_lag(m, "healthy", "snmp").unwrap_or(9.0));
            never_wrong(m, "lossy", &lossy);
            if up(m, "lossy", "snmp") == Some(1.0) {
                lossy_successes += 1;
            }
        },
    );
    assert!(
        worst_lag < 0.3,
        "the healthy target fell behind: {worst_lag} s"
    );
    let during = server.metrics();
    for family in [
        "ispmonitor_snmp_timeouts_total",
        "ispmonitor_snmp_retries_total",
    ] {
        let (was, now) = (
            snmp_counter(&before, family, "lossy"),
            snmp_counter(&during, family, "lossy"),
        );
        assert!(
            now > was,
            "{family} of the lossy target did not rise ({was} -> {now})"
        );
        assert_eq!(
            snmp_counter(&during, family, "healthy"),
            0.0,
            "{family} of the healthy target"
        );
    }
    assert!(
        lossy_successes > 0,
        "retries carry most polls through 30 % loss"
    );
    println!(
        "30 % loss: lossy target timeouts {} retries {}, healthy lag <= {worst_lag:.3} s",
        snmp_counter(&during, "ispmonitor_snmp_timeouts_total", "lossy"),
        snmp_counter(&during, "ispmonitor_snmp_retries_total", "lossy"),
    );

    // 100 %: the lossy target goes down, and its old values are not served as fresh.
    host.set_udp_loss(lossy_agent.port, 100);
    let down = server.wait_for_metrics("the lossy target down", Duration::from_secs(5), |m| {
        up(m, "lossy", "snmp") == Some(0.0)
    });
    assert_eq!(
        failure_reason(&down, "lossy", "snmp").as_deref(),
        Some("timeout")
    );
    let frozen = last_success(&down, "lossy", "snmp").expect("the last success stays visible");
    healthy_throughout(&server, Duration::from_secs(3), "healthy", &healthy);
    let still_down = server.metrics();
    assert_eq!(up(&still_down, "lossy", "snmp"), Some(0.0));
    assert_eq!(
        device_series(&still_down, "lossy"),
        Vec::<String>::new(),
        "a target whose polls fail shows no device series"
    );
    assert_eq!(last_success(&still_down, "lossy", "snmp"), Some(frozen));
    assert!(
        now_unix() - frozen > 2.5,
        "the last success ages while polls fail"
    );

    // The rule goes: the target comes back by itself within a few intervals.
    host.set_udp_loss(lossy_agent.port, 0);
    let back = server.wait_for_metrics("the lossy target back", Duration::from_secs(6), |m| {
        up(m, "lossy", "snmp") == Some(1.0)
    });
    assert_healthy(&back, "lossy", &lossy, 2.5);
    assert!(last_success(&back, "lossy", "snmp").unwrap() > frozen);
    assert_healthy(&back, "healthy", &healthy, 2.5);
}

#[test]
fn delay_below_the_timeout_is_tolerated_and_above_it_fails_then_heals() {
    let agent = Snmpd::start_with(fixed_values());
    let agent_addr = format!("127.0.0.1:{}", agent.port).parse().unwrap();
    let relay = UdpRelay::start(
        agent_addr,
        Faults {
            delay: Duration::from_millis(100),
            jitter: Duration::from_millis(20),
            ..Faults::default()
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let config = config(
        &dir,
        "{interval: 2s, timeout: 1500ms, snmp: {retries: 0}}",
        &[
            ("direct", agent.address()),
            ("delayed", relay.addr.to_string()),
        ],
    );
    let server = Ispmonitor::start(&config, &[]);
    let direct = expected_from_agent(&agent, "direct");
    let delayed = expected_from_agent(&agent, "delayed");

    // 200 ms or more per round trip, under the 1.5 s timeout: slower, never wrong.
    let slow = server.wait_for_metrics("the delayed target up", Duration::from_secs(15), |m| {
        up(m, "delayed", "snmp") == Some(1.0) && up(m, "direct", "snmp") == Some(1.0)
    });
    assert_healthy(&slow, "delayed", &delayed, 4.5);
    let took = sample_value(
        &slow,
        "ispmonitor_target_poll_duration_seconds{target=\"delayed\",protocol=\"snmp\"}",
    )
    .expect("a poll duration");
    assert!(took >= 0.2, "the relay delayed the poll: {took} s");
    watch(
        &server,
        Duration::from_secs(4),
        Duration::from_millis(250),
        |m| {
            assert_healthy(m, "delayed", &delayed, 4.5);
            assert_healthy(m, "direct", &direct, 4.5);
        },
    );

    // 1 s each way: every request outlives the timeout.
    relay.set_faults(Faults {
        delay: Duration::from_secs(1),
        ..Faults::default()
    });
    let down = server.wait_for_metrics("the delayed target down", Duration::from_secs(8), |m| {
        up(m, "delayed", "snmp") == Some(0.0)
    });
    assert_eq!(
        failure_reason(&down, "delayed", "snmp").as_deref(),
        Some("timeout")
    );
    assert_eq!(device_series(&down, "delayed"), Vec::<String>::new());
    watch(
        &server,
        Duration::from_secs(3),
        Duration::from_millis(250),
        |m| {
            assert_healthy(m, "direct", &direct, 4.5);
            // The late answers keep arriving: none may be taken for a later request's.
            never_wrong(m, "delayed", &delayed);
        },
    );

    relay.set_faults(Faults::default());
    let back = server.wait_for_metrics("the delayed target back", Duration::from_secs(10), |m| {
        up(m, "delayed", "snmp") == Some(1.0)
    });
    assert_healthy(&back, "delayed", &delayed, 4.5);
    assert!(
        relay
            .counts()
            .forwarded
            .load(std::sync::atomic::Ordering::Relaxed)
            > 0
    );
}

#[test]
fn reordered_and_duplicated_datagrams_never_give_wrong_or_double_values() {
    let agent = Snmpd::start_with(fixed_values());
    let agent_addr = format!("127.0.0.1:{}", agent.port).parse().unwrap();
    // Every datagram twice (the copy 3 ms later, after the poller's next request has left),
    // consecutive datagrams swapped, a little jitter on top.
    let relay = UdpRelay::start(
        agent_addr,
        Faults {
            delay: Duration::from_millis(5),
            jitter: Duration::from_millis(10),
            duplicate: true,
            duplicate_gap: Duration::from_millis(3),
            reorder_hold: Duration::from_millis(30),
            ..Faults::default()
        },
    );
    let names = ["mixed-1", "mixed-2", "mixed-v3"];
    let targets: Vec<(&str, String)> = names
        .iter()
        .map(|n| (*n, relay.addr.to_string()))
        .chain([("direct", agent.address())])
        .collect();
    let dir = tempfile::tempdir().unwrap();
    // No retries: a duplicate or a swapped answer must not cost one, let alone fail a poll. Two
    // requests in flight per target (the module's two columns walked side by side, each on its
    // own socket), so swapped answers also cross between a target's own lanes.
    let config = config(
        &dir,
        "{interval: 1s, timeout: 900ms, snmp: {retries: 0, max_requests_in_flight: 2}}",
        &targets,
    );
    let server = Ispmonitor::start(&config, &[]);
    let expected: Vec<BTreeMap<String, f64>> = names
        .iter()
        .map(|n| expected_from_agent(&agent, n))
        .collect();
    server.wait_for_metrics("every target up", Duration::from_secs(15), |m| {
        targets.iter().all(|(n, _)| up(m, n, "snmp") == Some(1.0))
    });
    watch(
        &server,
        Duration::from_secs(8),
        Duration::from_millis(200),
        |m| {
            for (name, values) in names.iter().zip(&expected) {
                assert_healthy(m, name, values, 2.5);
            }
        },
    );
    let m = server.metrics();
    let counts = relay.counts();
    let duplicated = counts.duplicated.load(std::sync::atomic::Ordering::Relaxed);
    let swapped = counts.swapped.load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        duplicated > 50 && swapped > 10,
        "faults injected: {duplicated} duplicated, {swapped} swapped"
    );
    for name in names {
        assert_eq!(
            snmp_counter(&m, "ispmonitor_snmp_retries_total", name),
            0.0,
            "{name}: a stale copy is not a lost request"
        );
    }
    let failed = sample_value(
        &m,
        "ispmonitor_polls_total{protocol=\"snmp\",result=\"protocol_error\"}",
    );
    assert!(failed.unwrap_or(0.0) == 0.0, "{m}");
    println!("{duplicated} datagrams duplicated, {swapped} pairs swapped: every value exact");
}

#[test]
fn an_agent_answering_with_other_requests_ids_fails_fast_and_bounded_then_heals() {
    let agent = Snmpd::start_with(fixed_values());
    let agent_addr = format!("127.0.0.1:{}", agent.port).parse().unwrap();
    let relay = UdpRelay::start(
        agent_addr,
        Faults {
            replay_stale: true,
            ..Faults::default()
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let config = config(
        &dir,
        "{interval: 1s, timeout: 900ms, snmp: {retries: 1}}",
        &[
            ("confused", relay.addr.to_string()),
            ("direct", agent.address()),
        ],
    );
    let server = Ispmonitor::start(&config, &[]);
    let direct = expected_from_agent(&agent, "direct");
    let failing = server.wait_for_metrics(
        "the confused target failing on ids",
        Duration::from_secs(10),
        |m| {
            failure_reason(m, "confused", "snmp").as_deref() == Some("protocol_error")
                && up(m, "direct", "snmp") == Some(1.0)
        },
    );
    let stats = |m: &str| {
        (
            snmp_counter(m, "ispmonitor_snmp_requests_total", "confused"),
            sample_value(
                m,
                "ispmonitor_polls_total{protocol=\"snmp\",result=\"protocol_error\"}",
            )
            .unwrap_or(0.0),
        )
    };
    let (requests_before, failed_before) = stats(&failing);
    watch(
        &server,
        Duration::from_secs(3),
        Duration::from_millis(250),
        |m| {
            assert_healthy(m, "direct", &direct, 2.5);
            assert_eq!(device_series(m, "confused"), Vec::<String>::new());
        },
    );
    let after = server.metrics();
    let (requests_after, failed_after) = stats(&after);
    // Stale replies are skipped a bounded number of times: no loop, no wait for the timeout
    // (the first poll also timed out once: the relay kept the agent's first answer).
    let took = sample_value(
        &after,
        "ispmonitor_target_poll_duration_seconds{target=\"confused\",protocol=\"snmp\"}",
    )
    .expect("a poll duration");
    assert!(took < 0.3, "a poll fed only stale replies took {took} s");
    let polls = failed_after - failed_before;
    let per_poll = (requests_after - requests_before) / polls;
    // The first request, 8 resends after stale replies (not retries), then stale replies count
    // as failed attempts: the one retry, and the poll fails. 10 datagrams, never more.
    assert!(
        polls >= 2.0 && per_poll <= 10.0,
        "{polls} polls, {per_poll} requests each"
    );
    println!(
        "stale replies only: {per_poll} requests per failed poll, {took:.3} s per poll, {} timeouts",
        snmp_counter(&server.metrics(), "ispmonitor_snmp_timeouts_total", "confused")
    );

    relay.set_faults(Faults::default());
    let back = server.wait_for_metrics("the target back", Duration::from_secs(5), |m| {
        up(m, "confused", "snmp") == Some(1.0)
    });
    assert_healthy(
        &back,
        "confused",
        &expected_from_agent(&agent, "confused"),
        2.5,
    );
}
