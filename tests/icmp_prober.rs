//! ICMP probing through the real binary: loopback (v4 and v6), a namespace host that is cut off,
//! real packet loss from netem, DGRAM vs RAW sockets, and ICMP errors that are not replies.
//! Runs as root (RAW sockets, network namespaces); tests that flip the machine-wide
//! `ping_group_range` live in one test function, and no other test depends on the mode.

mod common;

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use common::ispmonitor::{sample_value, Ispmonitor};
use common::netns::NetnsHost;

/// Writes a config with one ICMP module (`probe`) and the given (name, address) host targets.
fn config(
    dir: &tempfile::TempDir,
    module: &str,
    schedule: &str,
    targets: &[(&str, &str)],
) -> PathBuf {
    let mut yaml = format!("global: {schedule}\nmodules:\n  probe: {module}\ntargets:\n");
    for (name, address) in targets {
        yaml.push_str(&format!(
            "  - {{name: {name}, address: \"{address}\", kind: host, modules: [probe]}}\n"
        ));
    }
    let path = dir.path().join("ispmonitor.yaml");
    std::fs::write(&path, yaml).expect("write config");
    path
}

fn series(family: &str, target: &str, ip_version: &str) -> String {
    format!("{family}{{target=\"{target}\",ip_version=\"{ip_version}\"}}")
}

fn requests(text: &str, target: &str, v: &str) -> f64 {
    sample_value(text, &series("ispmonitor_icmp_requests_total", target, v)).unwrap_or(0.0)
}

fn replies(text: &str, target: &str, v: &str) -> f64 {
    sample_value(text, &series("ispmonitor_icmp_replies_total", target, v)).unwrap_or(0.0)
}

fn up(text: &str, target: &str) -> Option<f64> {
    sample_value(
        text,
        &format!("ispmonitor_target_up{{target=\"{target}\",protocol=\"icmp\"}}"),
    )
}

fn failure_reason(text: &str, target: &str, reason: &str) -> bool {
    let series = format!(
        "ispmonitor_target_poll_failure_reason{{target=\"{target}\",protocol=\"icmp\",reason=\"{reason}\"}}"
    );
    sample_value(text, &series) == Some(1.0)
}

/// Every echo answered, and the histogram agrees with the counters.
fn assert_all_answered(text: &str, target: &str, v: &str) {
    let sent = requests(text, target, v);
    assert!(sent >= 5.0, "{target}: {sent} requests\n{text}");
    assert_eq!(
        replies(text, target, v),
        sent,
        "{target}: loss on loopback\n{text}"
    );
    let count = sample_value(
        text,
        &series("ispmonitor_icmp_rtt_seconds_count", target, v),
    );
    assert_eq!(count, Some(sent), "{target}: histogram count != replies");
    let inf = format!(
        "ispmonitor_icmp_rtt_seconds_bucket{{target=\"{target}\",ip_version=\"{v}\",le=\"+Inf\"}}"
    );
    assert_eq!(sample_value(text, &inf), Some(sent));
    let sum = sample_value(text, &series("ispmonitor_icmp_rtt_seconds_sum", target, v)).unwrap();
    assert!(sum > 0.0 && sum < sent * 0.5, "{target}: RTT sum {sum}");
    assert_eq!(up(text, target), Some(1.0), "{target} should be up");
}

const FAST: &str = "{type: icmp, count: 5, interval: 20ms, timeout: 500ms}";
const FAST_SCHEDULE: &str = "{interval: 1s, timeout: 900ms}";

#[test]
fn loopback_v4_and_v6_answer_every_echo() {
    let dir = tempfile::tempdir().unwrap();
    let path = config(
        &dir,
        FAST,
        FAST_SCHEDULE,
        &[("lo4", "127.0.0.1"), ("lo6", "::1")],
    );
    let ispmonitor = Ispmonitor::start(&path, &[]);
    let text = ispmonitor.wait_for_metrics("two polls of each", Duration::from_secs(15), |t| {
        requests(t, "lo4", "4") >= 10.0 && requests(t, "lo6", "6") >= 10.0
    });
    assert_all_answered(&text, "lo4", "4");
    assert_all_answered(&text, "lo6", "6");
    assert!(
        text.contains("ispmonitor_icmp_socket_info{ip_version=\"4\",mode="),
        "socket mode exported"
    );
    promtool_finds_nothing_about_icmp(&text);
    // /probe pings an address outside the inventory once, with no credential (ICMP needs none).
    let probe = ispmonitor.get("/probe?target=127.0.0.2&module=probe");
    assert_eq!(probe.status, 200, "{}", probe.text());
    let probe = probe.text();
    assert_eq!(requests(&probe, "127.0.0.2", "4"), 5.0, "{probe}");
    assert_eq!(replies(&probe, "127.0.0.2", "4"), 5.0, "{probe}");
    assert_eq!(up(&probe, "127.0.0.2"), Some(1.0));
    let openmetrics = ispmonitor_openmetrics(&ispmonitor);
    assert!(openmetrics.contains("# TYPE ispmonitor_icmp_requests counter\n"));
    assert!(openmetrics.contains("# TYPE ispmonitor_icmp_rtt_seconds histogram\n"));
    assert!(openmetrics.contains(
        "ispmonitor_icmp_rtt_seconds_bucket{target=\"lo6\",ip_version=\"6\",le=\"0.00005\"}"
    ));
}

fn ispmonitor_openmetrics(ispmonitor: &Ispmonitor) -> String {
    let accept = ("Accept", "application/openmetrics-text; version=1.0.0");
    let response = common::http::request("GET", &ispmonitor.addr, "/metrics", &[accept]).unwrap();
    assert!(response
        .header("content-type")
        .unwrap()
        .starts_with("application/openmetrics-text"));
    response.text()
}

/// `promtool check metrics` (the classic text format) has no finding about the ICMP families.
fn promtool_finds_nothing_about_icmp(text: &str) {
    use std::io::Write;
    let mut child = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool is installed by scripts/install-peers.sh");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !report.contains("icmp"),
        "promtool check metrics:\n{report}"
    );
    assert!(
        !report.contains("error"),
        "promtool check metrics:\n{report}"
    );
}

#[test]
fn a_cut_namespace_host_times_out_while_loopback_stays_up() {
    let host = NetnsHost::create();
    let dir = tempfile::tempdir().unwrap();
    let ns_ip = host.ns_ip.to_string();
    let module = "{type: icmp, count: 3, interval: 50ms, timeout: 300ms}";
    let path = config(
        &dir,
        module,
        "{interval: 1s, timeout: 800ms}",
        &[("nshost", &ns_ip), ("lo4", "127.0.0.1")],
    );
    let ispmonitor = Ispmonitor::start(&path, &[]);
    let before =
        ispmonitor.wait_for_metrics("the namespace host answers", Duration::from_secs(15), |t| {
            up(t, "nshost") == Some(1.0) && replies(t, "nshost", "4") >= 3.0
        });
    assert!(replies(&before, "nshost", "4") > 0.0);

    host.cut();
    let cut =
        ispmonitor.wait_for_metrics("a timeout after the cut", Duration::from_secs(15), |t| {
            up(t, "nshost") == Some(0.0) && failure_reason(t, "nshost", "timeout")
        });
    let (sent_at_cut, answered_at_cut) =
        (requests(&cut, "nshost", "4"), replies(&cut, "nshost", "4"));
    let after = ispmonitor.wait_for_metrics(
        "more requests without replies",
        Duration::from_secs(15),
        |t| requests(t, "nshost", "4") >= sent_at_cut + 6.0,
    );
    assert_eq!(
        replies(&after, "nshost", "4"),
        answered_at_cut,
        "no reply from a cut host"
    );
    assert!(failure_reason(&after, "nshost", "timeout"), "{after}");
    assert_eq!(up(&after, "nshost"), Some(0.0));
    // The loopback target shares the socket and is not affected.
    assert_eq!(up(&after, "lo4"), Some(1.0));
    assert_eq!(replies(&after, "lo4", "4"), requests(&after, "lo4", "4"));
    let duration = sample_value(
        &after,
        "ispmonitor_target_poll_duration_seconds{target=\"lo4\",protocol=\"icmp\"}",
    )
    .unwrap();
    assert!(
        duration < 0.4,
        "loopback poll took {duration}s: 2 x 50 ms apart plus RTT expected"
    );
    // The batched prober reports how late each target's last poll started.
    let lag = sample_value(
        &after,
        "ispmonitor_target_schedule_lag_seconds{target=\"lo4\",protocol=\"icmp\"}",
    )
    .expect("schedule lag of lo4");
    assert!((0.0..0.5).contains(&lag), "lag {lag}s");
}

/// With 30 % random loss (tc netem, or nftables where the kernel has no netem) over n pings, the measured loss is binomial: sigma = sqrt(p(1-p)/n),
/// 2.3 % for n = 400. Five sigma (a false failure once in ~1.7 million runs) gives 30 % +- 11.5 %.
#[test]
fn netem_loss_of_30_percent_is_measured() {
    let host = NetnsHost::create();
    let mechanism = host.add_loss(30);
    let dir = tempfile::tempdir().unwrap();
    let ns_ip = host.ns_ip.to_string();
    let module = "{type: icmp, count: 100, interval: 10ms, timeout: 400ms}";
    let path = config(
        &dir,
        module,
        "{interval: 2s, timeout: 1500ms}",
        &[("lossy", &ns_ip)],
    );
    let ispmonitor = Ispmonitor::start(&path, &[]);
    let text = ispmonitor.wait_for_metrics("400 requests", Duration::from_secs(40), |t| {
        requests(t, "lossy", "4") >= 400.0
    });
    let (sent, answered) = (requests(&text, "lossy", "4"), replies(&text, "lossy", "4"));
    let loss = 1.0 - answered / sent;
    let sigma = (0.3 * 0.7 / sent).sqrt();
    eprintln!(
        "{mechanism}, 30 %: {sent} requests, {answered} replies, measured loss {:.1} %",
        loss * 100.0
    );
    assert!(
        (loss - 0.3).abs() <= 5.0 * sigma,
        "measured loss {loss} over {sent} pings, sigma {sigma}"
    );
    assert_eq!(up(&text, "lossy"), Some(1.0), "a lossy host is still up");
}

/// Restores `net.ipv4.ping_group_range` when dropped, also when the test fails.
struct PingGroupRange {
    original: String,
}

const PING_GROUP_RANGE: &str = "/proc/sys/net/ipv4/ping_group_range";

impl PingGroupRange {
    fn save() -> Self {
        let original = std::fs::read_to_string(PING_GROUP_RANGE).expect("read ping_group_range");
        PingGroupRange { original }
    }

    fn set(&self, range: &str) {
        std::fs::write(PING_GROUP_RANGE, range).expect("write ping_group_range (needs root)");
    }
}

impl Drop for PingGroupRange {
    fn drop(&mut self) {
        let _ = std::fs::write(PING_GROUP_RANGE, self.original.trim());
    }
}

fn socket_mode(text: &str, v: &str, mode: &str) -> bool {
    sample_value(
        text,
        &format!("ispmonitor_icmp_socket_info{{ip_version=\"{v}\",mode=\"{mode}\"}}"),
    ) == Some(1.0)
}

/// Runs one ispmonitor against loopback (v4, v6) and an address the namespace answers with
/// "destination unreachable"; returns the metrics and the log once every target was probed.
fn probe_in_mode(unreachable: Ipv4Addr, mode: &str) -> (String, String) {
    let dir = tempfile::tempdir().unwrap();
    let address = unreachable.to_string();
    let targets = [
        ("lo4", "127.0.0.1"),
        ("lo6", "::1"),
        ("behind", address.as_str()),
    ];
    let path = config(&dir, FAST, FAST_SCHEDULE, &targets);
    let ispmonitor = Ispmonitor::start(&path, &[]);
    let text = ispmonitor.wait_for_metrics(
        &format!("{mode} sockets and two probes each"),
        Duration::from_secs(15),
        |t| {
            socket_mode(t, "4", mode)
                && socket_mode(t, "6", mode)
                && requests(t, "lo4", "4") >= 10.0
                && requests(t, "lo6", "6") >= 10.0
                && requests(t, "behind", "4") >= 10.0
        },
    );
    (text, ispmonitor.stop_and_logs())
}

#[test]
fn dgram_when_ping_group_range_is_open_raw_when_closed() {
    let host = NetnsHost::create();
    let unreachable = host.answer_unreachable();
    let range = PingGroupRange::save();

    range.set("0 2147483647");
    let (text, log) = probe_in_mode(unreachable, "dgram");
    assert_all_answered(&text, "lo4", "4");
    assert_all_answered(&text, "lo6", "6");
    assert!(!log.contains("socket refused"), "{log}");
    // DGRAM sockets are not handed ICMP errors: the unreachable address is silent.
    assert_eq!(replies(&text, "behind", "4"), 0.0);
    assert!(failure_reason(&text, "behind", "timeout"), "{text}");

    range.set("1 0");
    let (text, log) = probe_in_mode(unreachable, "raw");
    assert_all_answered(&text, "lo4", "4");
    assert_all_answered(&text, "lo6", "6");
    assert_eq!(
        log.matches("unprivileged ICMP (DGRAM) socket refused")
            .count(),
        2,
        "once per IP version:\n{log}"
    );
    // RAW sockets see the namespace's "destination unreachable": an error, never a reply.
    assert_eq!(replies(&text, "behind", "4"), 0.0, "{text}");
    assert_eq!(up(&text, "behind"), Some(0.0));
    assert!(failure_reason(&text, "behind", "unreachable"), "{text}");
}

fn poll_duration(text: &str, target: &str) -> f64 {
    let series =
        format!("ispmonitor_target_poll_duration_seconds{{target=\"{target}\",protocol=\"icmp\"}}");
    sample_value(text, &series).unwrap_or(f64::NAN)
}

/// The batched prober under a reload: a silent target (cut namespace host) never delays the
/// others, count > 1 polls finish with their last reply, an added target starts, a removed one
/// disappears for good and an unchanged one keeps its counters (it was not restarted).
#[test]
fn a_reload_adds_and_removes_icmp_targets_and_a_silent_one_delays_nobody() {
    let host = NetnsHost::create();
    host.cut();
    let dir = tempfile::tempdir().unwrap();
    let silent = host.ns_ip.to_string();
    let module = "{type: icmp, count: 3, interval: 50ms, timeout: 300ms}";
    let schedule = "{interval: 1s, timeout: 800ms}";
    let path = config(
        &dir,
        module,
        schedule,
        &[("lo4", "127.0.0.1"), ("silent", &silent)],
    );
    let ispmonitor = Ispmonitor::start(&path, &[]);
    let before = ispmonitor.wait_for_metrics(
        "three polls of lo4 and a silent target down",
        Duration::from_secs(15),
        |t| requests(t, "lo4", "4") >= 9.0 && failure_reason(t, "silent", "timeout"),
    );
    assert_eq!(replies(&before, "lo4", "4"), requests(&before, "lo4", "4"));
    assert_eq!(replies(&before, "silent", "4"), 0.0);
    assert!(requests(&before, "silent", "4") >= 3.0, "{before}");
    // Three requests 50 ms apart, finished with the last reply: about 100 ms, never the
    // silent target's 300 ms timeouts.
    let lo4_took = poll_duration(&before, "lo4");
    assert!((0.09..0.2).contains(&lo4_took), "lo4 poll took {lo4_took}s");
    let silent_took = poll_duration(&before, "silent");
    assert!(
        (0.39..0.5).contains(&silent_took),
        "silent poll took {silent_took}s"
    );

    config(
        &dir,
        module,
        schedule,
        &[("lo4", "127.0.0.1"), ("added", "127.0.0.3")],
    );
    ispmonitor.signal("HUP");
    let lo4_before_reload = requests(&before, "lo4", "4");
    let after =
        ispmonitor.wait_for_metrics("the added target answers", Duration::from_secs(15), |t| {
            replies(t, "added", "4") >= 3.0
        });
    assert!(
        !after.contains("target=\"silent\""),
        "removed target still exported:\n{after}"
    );
    assert!(
        requests(&after, "lo4", "4") >= lo4_before_reload,
        "an unchanged target keeps its counters"
    );
    std::thread::sleep(Duration::from_secs(2));
    let later = ispmonitor.metrics();
    assert!(
        !later.contains("target=\"silent\""),
        "removed target came back:\n{later}"
    );
    assert_eq!(up(&later, "added"), Some(1.0));
    assert_eq!(up(&later, "lo4"), Some(1.0));
    assert!(
        requests(&later, "lo4", "4") >= lo4_before_reload + 6.0,
        "lo4 kept polling"
    );
}
