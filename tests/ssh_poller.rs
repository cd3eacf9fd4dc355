//! SSH poller against a real OpenSSH sshd on loopback: every auth method, every host-key
//! policy, failure reasons, reconnects, the output cap, and values checked against this
//! machine's own /proc (the sshd runs here, so the server polled is this machine).

mod common;

use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::sshd::{key_only, keygen, public_key, Sshd, SshdOptions, TEST_PASSWORD, TEST_USER};
use ispmonitor::config::{load_str, Target};
use ispmonitor::poller::job::{new_poller, TargetPoller};
use ispmonitor::poller::outcome::{FamilySamples, Value};
use ispmonitor::poller::{FailureReason, PollOutcome, Protocol};

/// A config with one server target using credential `c` (given as a YAML flow mapping).
fn config_yaml(credential: &str, address: &str, timeout: &str) -> String {
    format!(
        "global: {{interval: 30s, timeout: {timeout}}}\n\
         credentials:\n  c: {credential}\n\
         targets:\n  - {{name: web-1, address: \"{address}\", kind: server, modules: [linux], credential: c}}\n"
    )
}

fn poller(yaml: &str, base_dir: &Path) -> (Arc<Target>, Box<dyn TargetPoller>) {
    let config = load_str(yaml, base_dir).unwrap_or_else(|errors| panic!("{errors}"));
    let target = config.targets[0].clone();
    let poller = new_poller(&target, Protocol::Ssh, &config.global).expect("ssh poller");
    (target, poller)
}

async fn poll_once(yaml: &str, base_dir: &Path) -> PollOutcome {
    let (_, mut poller) = poller(yaml, base_dir);
    poller.poll().await
}

fn key_credential(sshd: &Sshd, key: &Path, extra: &str) -> String {
    format!(
        "{{type: ssh, username: {TEST_USER}, private_key_file: {}, host_key: \"{}\"{extra}}}",
        key.display(),
        sshd.host_key()
    )
}

fn address(sshd: &Sshd) -> String {
    format!("127.0.0.1:{}", sshd.port)
}

fn family<'a>(outcome: &'a PollOutcome, name: &str) -> &'a FamilySamples {
    outcome
        .families
        .iter()
        .find(|f| &*f.desc.name == name)
        .unwrap_or_else(|| panic!("{name} missing"))
}

fn single(outcome: &PollOutcome, name: &str) -> f64 {
    as_f64(&family(outcome, name).samples[0].value)
}

fn as_f64(value: &Value) -> f64 {
    match value {
        Value::Int(v) => *v as f64,
        Value::Float(v) => *v,
        Value::Histogram(_) => panic!("no SSH family is a histogram"),
    }
}

fn label(sample: &ispmonitor::poller::outcome::Sample, name: &str) -> String {
    sample.labels.get(name).unwrap_or_default()
}

fn assert_success(outcome: &PollOutcome, sshd: &Sshd) {
    assert_eq!(outcome.result, Ok(()), "sshd log:\n{}", sshd.log());
}

fn local_proc(file: &str) -> String {
    std::fs::read_to_string(file).expect("read local /proc")
}

#[tokio::test(flavor = "multi_thread")]
async fn ed25519_key_collects_this_machines_real_values() {
    let sshd = Sshd::start(SshdOptions::default());
    let key = keygen(sshd.dir(), "id_ed25519", "ed25519", "");
    sshd.authorize(&key);
    let yaml = config_yaml(&key_credential(&sshd, &key, ""), &address(&sshd), "10s");
    let outcome = poll_once(&yaml, sshd.dir()).await;
    assert_success(&outcome, &sshd);

    let stat = local_proc("/proc/stat");
    let cpus = stat
        .lines()
        .filter(|l| l.starts_with("cpu") && !l.starts_with("cpu "))
        .count();
    assert_eq!(single(&outcome, "ispmonitor_server_cpus"), cpus as f64);
    let btime: f64 = stat
        .lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
        .expect("btime");
    assert_eq!(
        single(&outcome, "ispmonitor_server_boot_time_seconds"),
        btime
    );
    let mem_total_kib: f64 = local_proc("/proc/meminfo")
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("MemTotal");
    assert_eq!(
        single(&outcome, "ispmonitor_server_memory_total_bytes"),
        mem_total_kib * 1024.0
    );
    let available = single(&outcome, "ispmonitor_server_memory_available_bytes");
    assert!(available > 0.0 && available <= mem_total_kib * 1024.0);

    let cpu = family(&outcome, "ispmonitor_server_cpu_seconds_total");
    let modes: Vec<String> = cpu.samples.iter().map(|s| label(s, "mode")).collect();
    assert_eq!(
        modes,
        ["user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"]
    );
    let idle = as_f64(&cpu.samples[3].value);
    assert!(idle > 0.0, "idle seconds {idle}");

    let sizes = family(&outcome, "ispmonitor_server_filesystem_size_bytes");
    let root = sizes
        .samples
        .iter()
        .find(|s| label(s, "mountpoint") == "/")
        .expect("filesystem / is reported");
    assert!(as_f64(&root.value) > 0.0);
    for sample in &sizes.samples {
        let fstype = label(sample, "fstype");
        assert!(
            !["tmpfs", "proc", "sysfs", "devtmpfs", "overlay"].contains(&fstype.as_str()),
            "pseudo filesystem reported: {sample:?}"
        );
    }
    let rx = family(&outcome, "ispmonitor_server_network_receive_bytes_total");
    let lo = rx
        .samples
        .iter()
        .find(|s| label(s, "device") == "lo")
        .expect("lo");
    assert!(as_f64(&lo.value) > 0.0, "our own SSH traffic went over lo");
    let info = &family(&outcome, "ispmonitor_server_info").samples[0];
    let uname = std::process::Command::new("uname")
        .arg("-r")
        .output()
        .expect("uname");
    assert_eq!(
        label(info, "kernel"),
        String::from_utf8_lossy(&uname.stdout).trim()
    );
    assert!(label(info, "os").contains("Debian") || label(info, "os") != "unknown");
    assert_eq!(
        single(&outcome, "ispmonitor_server_ssh_connections_total"),
        1.0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn ecdsa_and_rsa_keys_log_in() {
    let sshd = Sshd::start(SshdOptions::default());
    for key_type in ["ecdsa", "rsa"] {
        let key = keygen(sshd.dir(), &format!("id_{key_type}"), key_type, "");
        sshd.authorize(&key);
        let yaml = config_yaml(&key_credential(&sshd, &key, ""), &address(&sshd), "10s");
        // Seen once in a fresh-clone run (not reproduced in 650 fresh keys): a key ssh-keygen made
        // was refused as "not a private key". Keep such a key for a bug report, and say which.
        if let Err(errors) = load_str(&yaml, sshd.dir()) {
            let kept =
                Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("refused-{key_type}-key"));
            let _ = std::fs::copy(&key, &kept);
            panic!(
                "the {key_type} key was refused (kept as {}): {errors}",
                kept.display()
            );
        }
        let outcome = poll_once(&yaml, sshd.dir()).await;
        assert_success(&outcome, &sshd);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn password_login() {
    let sshd = Sshd::start(SshdOptions::default());
    let credential = format!(
        "{{type: ssh, username: {TEST_USER}, password: \"{TEST_PASSWORD}\", host_key: \"{}\"}}",
        sshd.host_key()
    );
    let outcome = poll_once(
        &config_yaml(&credential, &address(&sshd), "10s"),
        sshd.dir(),
    )
    .await;
    assert_success(&outcome, &sshd);
    assert!(family(&outcome, "ispmonitor_server_load1").samples.len() == 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_password_is_auth() {
    let sshd = Sshd::start(SshdOptions::default());
    let credential = format!(
        "{{type: ssh, username: {TEST_USER}, password: not-the-password, host_key: \"{}\"}}",
        sshd.host_key()
    );
    let outcome = poll_once(
        &config_yaml(&credential, &address(&sshd), "10s"),
        sshd.dir(),
    )
    .await;
    assert_eq!(outcome.result, Err(FailureReason::Auth));
    assert!(outcome.families.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn passphrase_protected_key() {
    let sshd = Sshd::start(SshdOptions::default());
    let key = keygen(sshd.dir(), "id_locked", "ed25519", "open-sesame-71");
    sshd.authorize(&key);
    std::fs::write(sshd.dir().join("passphrase.txt"), "open-sesame-71\n").expect("write");
    let credential = key_credential(&sshd, &key, ", passphrase_file: passphrase.txt");
    let outcome = poll_once(
        &config_yaml(&credential, &address(&sshd), "10s"),
        sshd.dir(),
    )
    .await;
    assert_success(&outcome, &sshd);

    // A wrong passphrase is a config error naming the field, at load time.
    let wrong = key_credential(&sshd, &key, ", passphrase: wrong-passphrase");
    let errors = load_str(&config_yaml(&wrong, &address(&sshd), "10s"), sshd.dir())
        .expect_err("wrong passphrase refused");
    let text = errors.to_string();
    assert!(text.contains("credentials.c.passphrase:"), "{text}");
    assert!(!text.contains("wrong-passphrase"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn key_not_authorized_is_auth() {
    let sshd = Sshd::start(SshdOptions::default());
    let key = keygen(sshd.dir(), "id_stranger", "ed25519", "");
    let yaml = config_yaml(&key_credential(&sshd, &key, ""), &address(&sshd), "10s");
    let outcome = poll_once(&yaml, sshd.dir()).await;
    assert_eq!(outcome.result, Err(FailureReason::Auth));
}

#[tokio::test(flavor = "multi_thread")]
async fn known_hosts_plain_and_hashed() {
    let sshd = Sshd::start(SshdOptions::default());
    let key = keygen(sshd.dir(), "id_ed25519", "ed25519", "");
    sshd.authorize(&key);
    let scan = std::process::Command::new("ssh-keyscan")
        .args(["-t", "ed25519", "-p", &sshd.port.to_string(), "127.0.0.1"])
        .output()
        .expect("run ssh-keyscan");
    let scanned = String::from_utf8_lossy(&scan.stdout).to_string();
    assert!(scanned.contains("ssh-ed25519"), "ssh-keyscan: {scanned}");
    let known_hosts = sshd.dir().join("known_hosts");
    std::fs::write(&known_hosts, format!("# scanned\nother.example ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAVf+L8TZtb4SJUZiuUXinOj3BsK/zpFpUPBivvU6Bix\n{scanned}")).expect("write");
    let credential = format!(
        "{{type: ssh, username: {TEST_USER}, private_key_file: {}, known_hosts_file: known_hosts}}",
        key.display()
    );
    let yaml = config_yaml(&credential, &address(&sshd), "10s");
    assert_success(&poll_once(&yaml, sshd.dir()).await, &sshd);

    let hashed = std::process::Command::new("ssh-keygen")
        .args(["-q", "-H", "-f"])
        .arg(&known_hosts)
        .output()
        .expect("ssh-keygen -H");
    assert!(hashed.status.success());
    let text = std::fs::read_to_string(&known_hosts).expect("read");
    assert!(
        text.contains("|1|") && !text.contains("127.0.0.1"),
        "{text}"
    );
    assert_success(&poll_once(&yaml, sshd.dir()).await, &sshd);
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_and_unknown_host_keys_are_refused() {
    let sshd = Sshd::start(SshdOptions::default());
    let key = keygen(sshd.dir(), "id_ed25519", "ed25519", "");
    sshd.authorize(&key);
    let impostor = keygen(sshd.dir(), "impostor", "ed25519", "");
    let pinned_wrong = format!(
        "{{type: ssh, username: {TEST_USER}, private_key_file: {}, host_key: \"{}\"}}",
        key.display(),
        key_only(&public_key(&impostor))
    );
    let outcome = poll_once(
        &config_yaml(&pinned_wrong, &address(&sshd), "10s"),
        sshd.dir(),
    )
    .await;
    assert_eq!(outcome.result, Err(FailureReason::HostKeyMismatch));

    // Unknown (empty known_hosts, no accept-new): refused with the same reason.
    std::fs::write(sshd.dir().join("empty_known_hosts"), "").expect("write");
    let unknown = format!(
        "{{type: ssh, username: {TEST_USER}, private_key_file: {}, known_hosts_file: empty_known_hosts}}",
        key.display()
    );
    let outcome = poll_once(&config_yaml(&unknown, &address(&sshd), "10s"), sshd.dir()).await;
    assert_eq!(outcome.result, Err(FailureReason::HostKeyMismatch));
    let text = std::fs::read_to_string(sshd.dir().join("empty_known_hosts")).expect("read");
    assert_eq!(
        text, "",
        "nothing is remembered without accept_new_host_keys"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn target_level_pinned_key_overrides_the_credential() {
    let sshd = Sshd::start(SshdOptions::default());
    let key = keygen(sshd.dir(), "id_ed25519", "ed25519", "");
    sshd.authorize(&key);
    std::fs::write(sshd.dir().join("empty_known_hosts"), "").expect("write");
    let yaml = format!(
        "global: {{interval: 30s, timeout: 10s}}\n\
         credentials:\n  c: {{type: ssh, username: {TEST_USER}, private_key_file: {}, known_hosts_file: empty_known_hosts}}\n\
         targets:\n  - {{name: web-1, address: \"{}\", kind: server, modules: [linux], credential: c, host_key: \"{}\"}}\n",
        key.display(),
        address(&sshd),
        sshd.host_key()
    );
    assert_success(&poll_once(&yaml, sshd.dir()).await, &sshd);
}

#[tokio::test(flavor = "multi_thread")]
async fn accept_new_remembers_the_key_then_refuses_a_changed_one() {
    let mut sshd = Sshd::start(SshdOptions::default());
    let key = keygen(sshd.dir(), "id_ed25519", "ed25519", "");
    sshd.authorize(&key);
    let known_hosts = sshd.dir().join("known_hosts");
    std::fs::write(&known_hosts, "").expect("write");
    let credential = format!(
        "{{type: ssh, username: {TEST_USER}, private_key_file: {}, known_hosts_file: known_hosts, accept_new_host_keys: true}}",
        key.display()
    );
    let yaml = config_yaml(&credential, &address(&sshd), "10s");
    assert_success(&poll_once(&yaml, sshd.dir()).await, &sshd);
    let remembered = std::fs::read_to_string(&known_hosts).expect("read");
    assert_eq!(remembered, format!("{}\n", sshd.known_hosts_line()));

    sshd.new_host_key();
    sshd.restart();
    let outcome = poll_once(&yaml, sshd.dir()).await;
    assert_eq!(outcome.result, Err(FailureReason::HostKeyMismatch));
    assert_eq!(
        std::fs::read_to_string(&known_hosts).expect("read"),
        remembered,
        "a changed key is never written"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sshd_killed_mid_session_then_back_reconnects_the_same_poller() {
    let mut sshd = Sshd::start(SshdOptions::default());
    let key = keygen(sshd.dir(), "id_ed25519", "ed25519", "");
    sshd.authorize(&key);
    let yaml = config_yaml(&key_credential(&sshd, &key, ""), &address(&sshd), "5s");
    let (_, mut poller) = poller(&yaml, sshd.dir());
    let first = poller.poll().await;
    assert_success(&first, &sshd);
    let second = poller.poll().await;
    assert_success(&second, &sshd);
    assert_eq!(
        single(&second, "ispmonitor_server_ssh_connections_total"),
        1.0,
        "the connection is reused across polls"
    );

    sshd.kill();
    let down = poller.poll().await;
    assert_eq!(down.result, Err(FailureReason::Unreachable));
    sshd.restart();
    let deadline = Instant::now() + Duration::from_secs(30);
    let back = loop {
        let outcome = poller.poll().await;
        if outcome.result.is_ok() || Instant::now() > deadline {
            break outcome;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_success(&back, &sshd);
    assert_eq!(
        single(&back, "ispmonitor_server_ssh_connections_total"),
        2.0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn output_over_the_cap_fails_as_command_failed() {
    let sshd = Sshd::start(SshdOptions {
        force_command: Some("head -c 104857600 /dev/zero".into()),
        ..Default::default()
    });
    let key = keygen(sshd.dir(), "id_ed25519", "ed25519", "");
    sshd.authorize(&key);
    let yaml = config_yaml(&key_credential(&sshd, &key, ""), &address(&sshd), "10s");
    let started = Instant::now();
    let outcome = poll_once(&yaml, sshd.dir()).await;
    assert_eq!(outcome.result, Err(FailureReason::CommandFailed));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "stopped at the cap, not after reading 100 MB: {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_command_that_hangs_times_out_within_the_poll_timeout() {
    let sshd = Sshd::start(SshdOptions {
        force_command: Some("sleep 60".into()),
        ..Default::default()
    });
    let key = keygen(sshd.dir(), "id_ed25519", "ed25519", "");
    sshd.authorize(&key);
    let yaml = config_yaml(&key_credential(&sshd, &key, ""), &address(&sshd), "2s");
    let started = Instant::now();
    let outcome = poll_once(&yaml, sshd.dir()).await;
    let took = started.elapsed();
    assert_eq!(outcome.result, Err(FailureReason::Timeout));
    assert!(
        took >= Duration::from_millis(1900) && took < Duration::from_millis(2400),
        "{took:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_that_never_speaks_times_out_within_the_poll_timeout() {
    // Accepted by the kernel's backlog, never answered: no SSH banner ever comes.
    let silent = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = silent.local_addr().expect("addr").port();
    let credential = format!(
        "{{type: ssh, username: {TEST_USER}, password: x-password, host_key: \"{}\"}}",
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAVf+L8TZtb4SJUZiuUXinOj3BsK/zpFpUPBivvU6Bix"
    );
    let yaml = config_yaml(&credential, &format!("127.0.0.1:{port}"), "2s");
    let started = Instant::now();
    let outcome = poll_once(&yaml, Path::new(".")).await;
    let took = started.elapsed();
    assert_eq!(outcome.result, Err(FailureReason::Timeout));
    assert!(
        took >= Duration::from_millis(1900) && took < Duration::from_millis(2400),
        "{took:?}"
    );
    drop(silent);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_closed_port_is_unreachable() {
    let port = common::ispmonitor::free_tcp_port();
    let credential = format!(
        "{{type: ssh, username: {TEST_USER}, password: x-password, host_key: \"{}\"}}",
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAVf+L8TZtb4SJUZiuUXinOj3BsK/zpFpUPBivvU6Bix"
    );
    let yaml = config_yaml(&credential, &format!("127.0.0.1:{port}"), "5s");
    let started = Instant::now();
    let outcome = poll_once(&yaml, Path::new(".")).await;
    assert_eq!(outcome.result, Err(FailureReason::Unreachable));
    assert!(started.elapsed() < Duration::from_secs(1));
}

/// The value of `VmHWM` (peak resident memory) of a process, in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .expect("read /proc/PID/status")
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("VmHWM")
}

#[test]
fn serve_exposes_server_metrics_and_never_logs_or_exposes_secrets() {
    const PASSPHRASE: &str = "passphrase-Zq81-never-logged";
    let sshd = Sshd::start(SshdOptions::default());
    let key = keygen(sshd.dir(), "id_locked", "ed25519", PASSPHRASE);
    sshd.authorize(&key);
    let key_text = std::fs::read_to_string(&key).expect("key");
    // A line from the middle of the private key: any leak of the key would contain it.
    let key_line = key_text.lines().nth(2).expect("key body").to_string();
    let indented_key: String = key_text.lines().map(|l| format!("      {l}\n")).collect();
    let config = format!(
        "global: {{interval: 1s, timeout: 900ms}}\n\
         credentials:\n\
         \x20 by_password: {{type: ssh, username: {TEST_USER}, password: \"{TEST_PASSWORD}\", host_key: \"{host_key}\"}}\n\
         \x20 by_key:\n\
         \x20   type: ssh\n\
         \x20   username: {TEST_USER}\n\
         \x20   passphrase: \"{PASSPHRASE}\"\n\
         \x20   host_key: \"{host_key}\"\n\
         \x20   private_key: |\n{indented_key}\
         targets:\n\
         \x20 - {{name: web-pw, address: \"127.0.0.1:{port}\", kind: server, modules: [linux], credential: by_password}}\n\
         \x20 - {{name: web-key, address: \"127.0.0.1:{port}\", kind: server, modules: [linux], credential: by_key}}\n\
         \x20 - {{name: web-bad, address: \"127.0.0.1:{port}\", kind: server, modules: [linux], credential: wrong_pw}}\n\
         ",
        host_key = sshd.host_key(),
        port = sshd.port,
    )
    .replace(
        "targets:\n",
        &format!(
            "\x20 wrong_pw: {{type: ssh, username: {TEST_USER}, password: wrong-Pw-Zq81-secret, host_key: \"{}\"}}\ntargets:\n",
            sshd.host_key()
        ),
    );
    let path = sshd.dir().join("ispmonitor.yaml");
    std::fs::write(&path, &config).expect("write config");
    let server = common::ispmonitor::Ispmonitor::start(&path, &[]);
    let metrics = server.wait_for_metrics("both ssh targets up", Duration::from_secs(30), |m| {
        m.contains("ispmonitor_target_up{target=\"web-pw\",protocol=\"ssh\"} 1")
            && m.contains("ispmonitor_target_up{target=\"web-key\",protocol=\"ssh\"} 1")
            && m.contains("ispmonitor_target_poll_failure_reason{target=\"web-bad\",protocol=\"ssh\",reason=\"auth\"} 1")
    });
    for family in [
        "ispmonitor_server_cpus{target=\"web-key\"}",
        "ispmonitor_server_memory_total_bytes{target=\"web-pw\"}",
        "ispmonitor_target_last_success_timestamp_seconds{target=\"web-pw\",protocol=\"ssh\"}",
        "ispmonitor_target_poll_duration_seconds{target=\"web-key\",protocol=\"ssh\"}",
    ] {
        let value = common::ispmonitor::sample_value(&metrics, family);
        assert!(value.is_some_and(|v| v > 0.0), "{family}: {value:?}");
    }
    let probe = server.get("/probe?target=web-pw").text();
    assert!(
        probe.contains("ispmonitor_server_load1{target=\"web-pw\"}"),
        "{probe}"
    );
    let logs = server.stop_and_logs();
    assert!(logs.contains("ssh connected"), "{logs}");
    for secret in [
        TEST_PASSWORD,
        PASSPHRASE,
        "wrong-Pw-Zq81-secret",
        key_line.as_str(),
    ] {
        assert!(!logs.contains(secret), "secret leaked into the logs");
        assert!(!metrics.contains(secret), "secret leaked into /metrics");
        assert!(!probe.contains(secret), "secret leaked into /probe");
    }
}

#[test]
fn a_server_printing_100_mb_keeps_the_pollers_memory_small() {
    let sshd = Sshd::start(SshdOptions {
        force_command: Some("head -c 104857600 /dev/zero".into()),
        ..Default::default()
    });
    let key = keygen(sshd.dir(), "id_ed25519", "ed25519", "");
    sshd.authorize(&key);
    let config = format!(
        "global: {{interval: 1s, timeout: 900ms}}\n\
         credentials:\n  c: {}\n\
         targets:\n  - {{name: flood, address: \"{}\", kind: server, modules: [linux], credential: c}}\n",
        key_credential(&sshd, &key, ""),
        address(&sshd)
    );
    let path = sshd.dir().join("ispmonitor.yaml");
    std::fs::write(&path, &config).expect("write config");
    let server = common::ispmonitor::Ispmonitor::start(&path, &[]);
    let series = "ispmonitor_polls_total{protocol=\"ssh\",result=\"command_failed\"}";
    server.wait_for_metrics("five capped polls", Duration::from_secs(40), |m| {
        common::ispmonitor::sample_value(m, series).is_some_and(|v| v >= 5.0)
    });
    let peak_kib = peak_rss_kib(server.child.id());
    eprintln!("VmHWM after 5 polls of a 100 MB output: {peak_kib} KiB");
    // Uncapped, one poll alone would hold the 100 MB output (RSS above 100 MiB). The debug
    // binary's own peak is 55-66 MiB on these machines, so the bound sits between the two.
    assert!(
        peak_kib < 90 * 1024,
        "peak RSS {peak_kib} KiB: the output was not capped"
    );
}
