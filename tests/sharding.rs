//! Sharded pollers without Kubernetes: three real `ispmonitor serve --shard N --total-shards 3`
//! processes over one simulated fleet poll every device exactly once between them; the ordinal
//! from the pod name; the database's routers split like the file's, with `/api/v1/sd?shard=&of=`
//! listing what each poller polls; bad shard settings refused at start; `--no-poll` polls nothing.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::api::{self, Api};
use common::ispmonitor::{binary, sample_value, Ispmonitor};
use common::postgres::TestDb;
use common::simulator::Simulator;
use ispmonitor::inventory::shard::owner;
use serde_json::json;

/// Fast polls: every second, so a poller that polls a device shows it within a few seconds.
const FAST: [&str; 4] = [
    "--write-config.interval",
    "1s",
    "--write-config.timeout",
    "900ms",
];
const DEVICES: u32 = 30;
const SHARDS: u32 = 3;

/// The targets a poller reports `ispmonitor_target_up` for, and with which value.
fn polled_targets(metrics: &str) -> BTreeSet<String> {
    metrics
        .lines()
        .filter_map(|l| l.strip_prefix("ispmonitor_target_up{target=\""))
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_string)
        .collect()
}

/// `ispmonitor_target_up` of the target's protocol: SNMP, or the RouterOS API for the
/// MikroTiks' `<name>-api` targets.
fn up(metrics: &str, target: &str) -> Option<f64> {
    let api = ispmonitor::simulator::write_config::API_TARGET_SUFFIX;
    let protocol = if target.ends_with(api) {
        "routeros"
    } else {
        "snmp"
    };
    let series = format!("ispmonitor_target_up{{target=\"{target}\",protocol=\"{protocol}\"}}");
    sample_value(metrics, &series)
}

/// Every target of the fleet's config: the SNMP devices and the MikroTiks' API targets.
fn fleet_targets(sim: &Simulator) -> BTreeSet<String> {
    let config = ispmonitor::config::load_file(&sim.config).expect("the fleet config loads");
    config.targets.iter().map(|t| t.name.clone()).collect()
}

/// The fleet's target names that rendezvous hashing gives to `shard` of `SHARDS`.
fn expected_for(sim: &Simulator, shard: u32) -> BTreeSet<String> {
    fleet_targets(sim)
        .into_iter()
        .filter(|name| owner(name, SHARDS) == shard)
        .collect()
}

/// `serve` with no API and without the test machine's own pod name or hostname.
fn start_poller(config: &Path, extra: &[&str], env: &[(&str, &str)]) -> Ispmonitor {
    let mut args = vec!["--api.listen-address", "none"];
    args.extend_from_slice(extra);
    let mut all_env = vec![("POD_NAME", ""), ("HOSTNAME", "")];
    all_env.extend_from_slice(env);
    Ispmonitor::start_with_env(config, &args, &all_env)
}

/// Waits until the poller reports exactly `expected`, all up, then checks its shard metrics.
fn assert_polls_exactly(poller: &Ispmonitor, expected: &BTreeSet<String>, ordinal: u32) -> String {
    let metrics = poller.wait_for_metrics(
        &format!("shard {ordinal} polling its {} devices", expected.len()),
        Duration::from_secs(30),
        |m| &polled_targets(m) == expected && expected.iter().all(|t| up(m, t) == Some(1.0)),
    );
    assert_eq!(
        sample_value(&metrics, "ispmonitor_shard_ordinal"),
        Some(f64::from(ordinal))
    );
    assert_eq!(
        sample_value(&metrics, "ispmonitor_shard_total"),
        Some(f64::from(SHARDS))
    );
    metrics
}

#[test]
fn three_shards_poll_every_device_of_the_fleet_exactly_once() {
    let sim = Simulator::start(DEVICES, &FAST);
    assert_eq!(sim.devices.len(), DEVICES as usize);
    let fleet = fleet_targets(&sim);
    assert!(
        fleet.len() > DEVICES as usize,
        "the MikroTiks' API targets are sharded too"
    );
    let pollers: Vec<Ispmonitor> = (0..SHARDS)
        .map(|shard| {
            let shard = shard.to_string();
            start_poller(
                &sim.config,
                &["--shard", &shard, "--total-shards", "3"],
                &[],
            )
        })
        .collect();

    let mut union = BTreeSet::new();
    for (ordinal, poller) in (0..SHARDS).zip(&pollers) {
        let expected = expected_for(&sim, ordinal);
        assert!(!expected.is_empty(), "shard {ordinal} got no device");
        // Let a few more poll rounds pass: a target scheduled late would show up now.
        std::thread::sleep(Duration::from_millis(1500));
        let metrics = assert_polls_exactly(poller, &expected, ordinal);
        for target in polled_targets(&metrics) {
            assert!(
                union.insert(target.clone()),
                "{target} is polled by two shards"
            );
        }
        let logs = poller.stderr_now();
        let line = format!("polling shard {ordinal} of 3 ({} targets)", expected.len());
        assert!(logs.contains(&line), "no {line:?} in the log:\n{logs}");
    }
    assert_eq!(union, fleet, "the shards together poll the whole fleet");

    // /probe knows every inventory name on every shard, polled or not.
    let (foreign, _) = sim
        .devices
        .iter()
        .find(|(name, _)| owner(name, SHARDS) != 0)
        .expect("a device of another shard");
    let r = pollers[0].get(&format!("/probe?target={foreign}"));
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(up(&r.text(), foreign) == Some(1.0), "{}", r.text());
    assert!(!polled_targets(&pollers[0].metrics()).contains(foreign));
}

#[test]
fn the_ordinal_comes_from_the_pod_name_then_the_hostname() {
    let sim = Simulator::start(12, &FAST);
    let by_pod = start_poller(
        &sim.config,
        &["--total-shards", "3"],
        &[("POD_NAME", "ispmonitor-poller-2"), ("HOSTNAME", "other-1")],
    );
    assert_polls_exactly(&by_pod, &expected_for(&sim, 2), 2);
    let by_hostname = start_poller(
        &sim.config,
        &[],
        &[
            ("HOSTNAME", "ispmonitor-poller-1"),
            ("ISPMONITOR_TOTAL_SHARDS", "3"),
        ],
    );
    assert_polls_exactly(&by_hostname, &expected_for(&sim, 1), 1);
    // The flag wins over the pod name.
    let by_flag = start_poller(
        &sim.config,
        &["--shard", "0", "--total-shards", "3"],
        &[("POD_NAME", "ispmonitor-poller-2")],
    );
    assert_polls_exactly(&by_flag, &expected_for(&sim, 0), 0);
}

const COMMUNITY: &str = "shard-s3cret-community";

/// `count` names `<prefix>-<i>`, chosen so each of two shards owns `count / 2` of them: the test
/// then covers both shards whatever the hash does.
fn balanced_names(prefix: &str, count: usize) -> Vec<String> {
    let mut per_shard = [Vec::new(), Vec::new()];
    for i in 0.. {
        let name = format!("{prefix}-{i}");
        let shard = &mut per_shard[owner(&name, 2) as usize];
        if shard.len() < count / 2 {
            shard.push(name);
        }
        if per_shard.iter().all(|s| s.len() == count / 2) {
            break;
        }
    }
    per_shard.concat()
}

#[test]
fn database_routers_split_like_file_targets_and_sd_lists_each_shard() {
    let sim = Simulator::start(8, &["--community", COMMUNITY]);
    let db = TestDb::new();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("ispmonitor.yaml");
    let file_names = balanced_names("file-r", 4);
    let db_names = balanced_names("db-r", 4);
    let mut yaml = format!(
        "global: {{interval: 1s, timeout: 800ms}}\n\
         database: {{resync_interval: 1h}}\n\
         credentials:\n  file-v2c: {{type: snmp, version: 2c, community: {COMMUNITY}}}\n\
         targets:\n"
    );
    for (name, (_, address)) in file_names.iter().zip(&sim.devices[..4]) {
        yaml.push_str(&format!(
            "  - {{name: {name}, address: \"{address}\", kind: router, credential: file-v2c, modules: [system]}}\n"
        ));
    }
    std::fs::write(&config, yaml).unwrap();
    let db_env = [
        ("ISPMONITOR_DATABASE_URL", db.url()),
        ("ISPMONITOR_SECRET_KEY", api::SECRET_KEY.to_string()),
    ];
    let db_env: Vec<(&str, &str)> = db_env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    // The chart's layout: one API process that polls nothing, pollers without the API.
    let api_process = Ispmonitor::start_with_env(&config, &["--migrate", "--no-poll"], &db_env);
    let operator = Api::new(
        &api_process.api_addr,
        Some(&api::create_token(&db.url(), "operator", "ops")),
    );
    let pollers: Vec<Ispmonitor> = ["0", "1"]
        .iter()
        .map(|shard| start_poller(&config, &["--shard", shard, "--total-shards", "2"], &db_env))
        .collect();
    for (name, (_, address)) in db_names.iter().zip(&sim.devices[4..]) {
        let router = json!({"name": name, "address": address, "credential": "file-v2c",
            "modules": ["system"]});
        let created = operator.post("/api/v1/routers", &router);
        assert_eq!(created.status, 201, "{}", created.text());
    }

    for (ordinal, poller) in (0u32..).zip(&pollers) {
        let expected: BTreeSet<String> = file_names
            .iter()
            .chain(&db_names)
            .filter(|name| owner(name, 2) == ordinal)
            .cloned()
            .collect();
        assert_eq!(expected.len(), 4, "two file and two database targets each");
        let metrics = poller.wait_for_metrics(
            &format!("shard {ordinal} polling {expected:?}"),
            Duration::from_secs(30),
            |m| polled_targets(m) == expected && expected.iter().all(|t| up(m, t) == Some(1.0)),
        );
        assert_eq!(sample_value(&metrics, "ispmonitor_shard_total"), Some(2.0));
        let sd = operator.get(&format!("/api/v1/sd?shard={ordinal}&of=2"));
        assert_eq!(sd.status, 200, "{}", sd.text());
        let listed: BTreeSet<String> = sd
            .json()
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["labels"]["__param_target"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(
            listed, expected,
            "SD shard {ordinal} lists what the poller polls"
        );
    }
    assert!(polled_targets(&api_process.metrics()).is_empty());
    for poller in pollers {
        assert!(!poller.stop_and_logs().contains(COMMUNITY));
    }
}

/// Arguments, environment, and what the error must say.
type RefusedCase<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);

/// Runs `serve` expecting it to refuse to start; returns its exit code and stderr.
fn refused(config: &Path, args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let out = Command::new(binary())
        .args(["serve", "--config"])
        .arg(config)
        .args([
            "--web.listen-address",
            "127.0.0.1:0",
            "--api.listen-address",
            "none",
        ])
        .args(args)
        .env_remove("POD_NAME")
        .env_remove("HOSTNAME")
        .env_remove("ISPMONITOR_SHARD")
        .env_remove("ISPMONITOR_TOTAL_SHARDS")
        .envs(env.iter().copied())
        .output()
        .expect("run ispmonitor serve");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[test]
fn impossible_shard_settings_stop_the_start_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.yaml");
    std::fs::write(
        &config,
        "targets:\n  - {name: ping-1, address: \"127.0.0.1\", kind: host, modules: [icmp]}\n",
    )
    .unwrap();
    let cases: [RefusedCase; 6] = [
        (
            &["--shard", "3", "--total-shards", "3"],
            &[],
            "--shard 3 is out of range",
        ),
        (&["--shard", "1"], &[], "--shard 1 is out of range"),
        (
            &["--total-shards", "0"],
            &[],
            "--total-shards must be at least 1",
        ),
        (
            &["--total-shards", "3"],
            &[],
            "--shard is not set and cannot be derived",
        ),
        (
            &["--total-shards", "3"],
            &[("POD_NAME", "ispmonitor-poller-5")],
            "the pod name \"ispmonitor-poller-5\" gives shard 5, which is out of range",
        ),
        (
            &[],
            &[("ISPMONITOR_TOTAL_SHARDS", "2"), ("POD_NAME", "poller")],
            "--shard is not set and cannot be derived",
        ),
    ];
    for (args, env, message) in cases {
        let (code, stderr) = refused(&config, args, env);
        assert_eq!(code, Some(1), "{args:?} {env:?}: {stderr}");
        assert!(stderr.contains(message), "{args:?} {env:?}: {stderr}");
    }
    // Not a number: clap's usage error (exit 2) names the flag.
    let (code, stderr) = refused(&config, &["--shard", "x"], &[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--shard"), "{stderr}");
}

#[test]
fn no_poll_polls_nothing_but_still_probes_and_serves_metrics() {
    let sim = Simulator::start(4, &FAST);
    let requests = |sim: &Simulator| {
        sample_value(&sim.metrics(), "ispmonitor_simulator_requests_total").unwrap()
    };
    let server = start_poller(&sim.config, &["--no-poll"], &[]);
    // Several poll intervals: a scheduled target would have been polled by now.
    std::thread::sleep(Duration::from_secs(3));
    let metrics = server.metrics();
    assert!(polled_targets(&metrics).is_empty(), "{metrics}");
    assert!(metrics.contains("ispmonitor_build_info"), "{metrics}");
    assert!(
        !metrics.contains("ispmonitor_shard_"),
        "no shard: {metrics}"
    );
    assert_eq!(requests(&sim), 0.0, "the fleet saw SNMP requests");
    assert!(server
        .stderr_now()
        .contains("--no-poll: no targets are scheduled"));

    let (name, _) = &sim.devices[0];
    let r = server.get(&format!("/probe?target={name}"));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(up(&r.text(), name), Some(1.0), "{}", r.text());
    assert!(requests(&sim) > 0.0, "the probe reached the fleet");

    // The environment variable turns it on as well.
    let by_env = start_poller(&sim.config, &[], &[("ISPMONITOR_NO_POLL", "true")]);
    std::thread::sleep(Duration::from_secs(2));
    assert!(polled_targets(&by_env.metrics()).is_empty());
}
