//! Walk sizing, the if_mib lookup cache and the per-target SNMP self-metrics, against the real
//! simulator, net-snmp's snmpd and `ispmonitor serve`.

mod common;

use std::collections::BTreeSet;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use common::ispmonitor::{sample_value, Ispmonitor};
use common::simulator::Simulator;
use common::snmpd::{Snmpd, SnmpdOptions};
use ispmonitor::config::{
    Credential, Module, ModuleKind, Secret, SnmpCredential, SnmpGlobal, SnmpModule, Target,
};
use ispmonitor::poller::outcome::{FamilySamples, PollOutcome, Value};
use ispmonitor::poller::snmp::{self_metrics, SnmpJob, SnmpPoller};

const TIMEOUT: Duration = Duration::from_secs(5);

fn modules() -> Vec<Arc<Module>> {
    [SnmpModule::System, SnmpModule::IfMib]
        .into_iter()
        .map(|kind| {
            Arc::new(Module {
                name: format!("{kind:?}").to_lowercase(),
                kind: ModuleKind::Snmp(kind),
            })
        })
        .collect()
}

fn poller(target: &Arc<Target>, credential: SnmpCredential, settings: SnmpGlobal) -> SnmpPoller {
    SnmpPoller::new(SnmpJob {
        target: target.clone(),
        credential,
        modules: modules(),
        settings,
        timeout: TIMEOUT,
    })
}

fn with_refresh(lookup_refresh: Duration) -> SnmpGlobal {
    SnmpGlobal {
        lookup_refresh,
        ..SnmpGlobal::default()
    }
}

/// The simulator's first device as a target, with the credential its config gives it.
fn first_device(sim: &Simulator) -> (Arc<Target>, SnmpCredential) {
    let config = ispmonitor::config::load_file(&sim.config).expect("fleet config loads");
    let target = config.targets[0].clone();
    let Some(Credential::Snmp(credential)) = target.credential.as_deref() else {
        panic!("the fleet's device has an SNMP credential");
    };
    let credential = credential.clone();
    (target, credential)
}

/// A target for a local snmpd.
fn snmpd_target(agent: &Snmpd) -> Arc<Target> {
    Arc::new(Target {
        name: "snmpd".into(),
        address: format!("127.0.0.1:{}", agent.port),
        host: "127.0.0.1".into(),
        port: Some(agent.port),
        kind: ispmonitor::config::TargetKind::Router,
        modules: modules(),
        credential_name: None,
        credential: None,
        interval: Duration::from_secs(60),
        timeout: TIMEOUT,
        labels: Default::default(),
        source: Default::default(),
    })
}

fn public() -> SnmpCredential {
    SnmpCredential::V2c {
        community: Secret::new("public"),
    }
}

fn family<'a>(outcome: &'a PollOutcome, name: &str) -> Option<&'a FamilySamples> {
    outcome.families.iter().find(|f| &*f.desc.name == name)
}

/// The value of a family without labels (the self-metrics).
fn single(outcome: &PollOutcome, name: &str) -> u64 {
    match family(outcome, name).map(|f| &f.samples[0].value) {
        Some(Value::Int(n)) => *n,
        other => panic!("{name}: {other:?}"),
    }
}

fn hits_and_misses(outcome: &PollOutcome) -> (u64, u64) {
    (
        single(outcome, "ispmonitor_snmp_lookup_cache_hits_total"),
        single(outcome, "ispmonitor_snmp_lookup_cache_misses_total"),
    )
}

/// Every device series of an outcome as `name{labels}`, with the value for families whose
/// values do not move between polls (everything but counters and uptime).
fn series(outcome: &PollOutcome) -> BTreeSet<String> {
    let mut all = BTreeSet::new();
    for family in &outcome.families {
        let name = &*family.desc.name;
        if self_metrics::NAMES.contains(&name) {
            continue;
        }
        let moving = name.ends_with("_total") || name == "ispmonitor_snmp_uptime_seconds";
        for sample in &family.samples {
            let labels: Vec<String> = sample
                .labels
                .pairs()
                .iter()
                .map(|(k, v)| format!("{k}={v:?}"))
                .collect();
            let value = if moving {
                String::new()
            } else {
                format!(" {:?}", sample.value)
            };
            all.insert(format!("{name}{{{}}}{value}", labels.join(",")));
        }
    }
    all
}

/// The `alias` label of an interface's info series.
fn alias_of(outcome: &PollOutcome, ifindex: &str) -> String {
    let info = family(outcome, "ispmonitor_interface_info").expect("interface info");
    let sample = info
        .samples
        .iter()
        .find(|s| s.labels.get("ifindex").as_deref() == Some(ifindex))
        .unwrap_or_else(|| panic!("no interface with ifindex {ifindex}"));
    sample.labels.get("alias").expect("alias label")
}

#[tokio::test]
async fn a_cached_poll_gives_the_series_of_a_full_poll() {
    let sim = Simulator::start(1, &[]);
    let (target, credential) = first_device(&sim);
    let mut cached = poller(
        &target,
        credential.clone(),
        with_refresh(Duration::from_secs(900)),
    );
    let mut full = poller(&target, credential, with_refresh(Duration::ZERO));

    let first = cached.poll().await;
    assert_eq!(first.result, Ok(()), "{}", sim.log());
    assert_eq!(hits_and_misses(&first), (0, 1));
    let second = cached.poll().await;
    assert_eq!(second.result, Ok(()));
    assert_eq!(
        hits_and_misses(&second),
        (1, 1),
        "the second poll uses the cache"
    );

    let reference = full.poll().await;
    assert_eq!(reference.result, Ok(()));
    assert_eq!(
        hits_and_misses(&reference),
        (0, 1),
        "lookup_refresh 0 never caches"
    );
    let expected = series(&reference);
    assert!(expected.iter().any(|s| s.contains("alias=\"uplink")));
    assert_eq!(series(&second), expected);
    // The simulator's answer, learned on the first poll.
    assert_eq!(
        single(&second, "ispmonitor_snmp_max_message_size_bytes"),
        1472
    );
}

#[tokio::test]
async fn a_reboot_invalidates_the_cached_lookups() {
    let sim = Simulator::start(2, &[]);
    let (target, credential) = first_device(&sim);
    let mut poller = poller(&target, credential, with_refresh(Duration::from_secs(900)));
    assert_eq!(hits_and_misses(&poller.poll().await), (0, 1));
    let before = poller.poll().await;
    assert_eq!(hits_and_misses(&before), (1, 1));

    let (status, body) = sim.put_scenario(r#"{"name": "reboot", "devices": [0]}"#);
    assert_eq!(status, 200, "{body}");
    let after = poller.poll().await;
    assert_eq!(after.result, Ok(()));
    assert_eq!(hits_and_misses(&after), (1, 2), "sysUpTime went backwards");
    assert_eq!(series(&after), series(&before));
}

#[tokio::test]
async fn a_changed_if_alias_shows_after_the_refresh_time() {
    let agent = Snmpd::start_with(SnmpdOptions {
        extra_config: vec!["rwcommunity private 127.0.0.1".into()],
        ..SnmpdOptions::default()
    });
    let refresh = Duration::from_secs(2);
    let mut poller = poller(&snmpd_target(&agent), public(), with_refresh(refresh));
    let first = poller.poll().await;
    assert_eq!(first.result, Ok(()), "{}", agent.log());
    assert_eq!(alias_of(&first, "1"), "");

    let set = Command::new("snmpset")
        .args(["-v2c", "-c", "private", "-m", ""])
        .arg(format!("127.0.0.1:{}", agent.port))
        .args(["1.3.6.1.2.1.31.1.1.1.18.1", "s", "renamed by the NOC"])
        .env("MIBS", "")
        .env("SNMP_PERSISTENT_DIR", agent.path("persist"))
        .output()
        .expect("run snmpset");
    assert!(set.status.success(), "{set:?}");

    // Past the refresh time the lookups are walked again and the new alias shows.
    tokio::time::sleep(refresh + Duration::from_millis(100)).await;
    let later = poller.poll().await;
    assert_eq!(later.result, Ok(()));
    assert_eq!(hits_and_misses(&later), (0, 2));
    assert_eq!(alias_of(&later, "1"), "renamed by the NOC");
    // net-snmp announces its own message size.
    assert_eq!(
        single(&later, "ispmonitor_snmp_max_message_size_bytes"),
        1500
    );
}

#[tokio::test]
async fn self_metrics_come_with_every_poll_even_a_failed_one() {
    let port = common::snmpd::free_udp_port();
    let target = Arc::new(Target {
        name: "closed".into(),
        address: format!("127.0.0.1:{port}"),
        host: "127.0.0.1".into(),
        port: Some(port),
        kind: ispmonitor::config::TargetKind::Router,
        modules: modules(),
        credential_name: None,
        credential: None,
        interval: Duration::from_secs(60),
        timeout: TIMEOUT,
        labels: Default::default(),
        source: Default::default(),
    });
    let settings = SnmpGlobal {
        max_message_size: 9000,
        ..SnmpGlobal::default()
    };
    let outcome = poller(&target, public(), settings).poll().await;
    assert!(outcome.result.is_err());
    for name in self_metrics::NAMES {
        assert!(family(&outcome, name).is_some(), "{name} missing");
    }
    assert_eq!(outcome.families.len(), self_metrics::NAMES.len());
    // Nothing answered: the configured size is the one in use.
    assert_eq!(
        single(&outcome, "ispmonitor_snmp_max_message_size_bytes"),
        9000
    );
}

#[test]
fn self_metrics_reach_metrics_after_real_polls() {
    let sim = Simulator::start(
        1,
        &[
            "--write-config.interval",
            "2s",
            "--write-config.timeout",
            "1s",
        ],
    );
    let text = std::fs::read_to_string(&sim.config).expect("fleet config");
    // A configured size the agent's own announcement (1472) must replace.
    let text = text.replacen(
        "global:\n",
        "global:\n  snmp: {max_message_size: 9000, lookup_refresh: 15m}\n",
        1,
    );
    let config = tempfile::NamedTempFile::new().expect("config file");
    std::fs::write(config.path(), text).expect("write config");
    let server = Ispmonitor::start(config.path(), &["--api.listen-address", "none"]);
    let name = &sim.devices[0].0;
    let series = |family: &str| format!("{family}{{target=\"{name}\"}}");
    let hits = series("ispmonitor_snmp_lookup_cache_hits_total");
    let exposition = server.wait_for_metrics("a lookup cache hit", Duration::from_secs(30), |m| {
        sample_value(m, &hits).is_some_and(|n| n >= 1.0)
    });
    for family in self_metrics::NAMES {
        assert!(
            sample_value(&exposition, &series(family)).is_some(),
            "{family} missing:\n{exposition}"
        );
    }
    assert_eq!(
        sample_value(
            &exposition,
            &series("ispmonitor_snmp_lookup_cache_misses_total")
        ),
        Some(1.0)
    );
    assert_eq!(
        sample_value(
            &exposition,
            &series("ispmonitor_snmp_max_message_size_bytes")
        ),
        Some(1472.0)
    );
}
