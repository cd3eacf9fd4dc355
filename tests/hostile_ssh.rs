//! Hostile SSH servers against the real `ispmonitor serve`: commands whose output never ends (endless section markers, endless binary noise) are cut at `max_output_bytes`, within the poll deadline and a memory bound.

mod common;

use std::path::Path;
use std::time::Duration;

use common::ispmonitor::{sample_value, Ispmonitor};
use common::sshd::{keygen, Sshd, SshdOptions, TEST_USER};

/// Peak resident memory of a process (VmHWM), in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .expect("read /proc/PID/status")
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.split_whitespace().next()?.parse().ok())
        .expect("VmHWM")
}

fn hostile_sshd(command: &str) -> Sshd {
    Sshd::start(SshdOptions {
        force_command: Some(command.into()),
        ..Default::default()
    })
}

/// The credential (pinned to the server's host key) and the target polling one server.
fn credential_and_target(name: &str, sshd: &Sshd, key: &Path) -> (String, String) {
    let credential = format!(
        "  {name}: {{type: ssh, username: {TEST_USER}, private_key_file: {}, host_key: \"{}\"}}\n",
        key.display(),
        sshd.host_key()
    );
    let target = format!(
        "  - {{name: {name}, address: \"127.0.0.1:{}\", kind: server, modules: [linux], credential: {name}}}\n",
        sshd.port
    );
    (credential, target)
}

#[test]
fn endless_command_output_is_cut_at_the_cap_within_the_deadline() {
    // Section markers forever: uncapped, the splitter would index millions of sections.
    let markers = hostile_sshd("yes '@@ispmonitor@@ stat'");
    // Binary noise forever, never valid UTF-8, never exits.
    let noise = hostile_sshd("cat /dev/urandom");
    let dir = tempfile::tempdir().expect("tempdir");
    let key = keygen(dir.path(), "id_ed25519", "ed25519", "");
    markers.authorize(&key);
    noise.authorize(&key);
    let (markers_credential, markers_target) = credential_and_target("markers", &markers, &key);
    let (noise_credential, noise_target) = credential_and_target("noise", &noise, &key);
    let config = format!(
        "global: {{interval: 2s, timeout: 1500ms}}\n\
         credentials:\n{markers_credential}{noise_credential}\
         targets:\n{markers_target}{noise_target}"
    );
    let path = dir.path().join("ispmonitor.yaml");
    std::fs::write(&path, config).expect("write config");
    let serve = Ispmonitor::start(&path, &[]);
    let failed = |metrics: &str, target: &str| {
        sample_value(
            metrics,
            &format!(
                "ispmonitor_target_poll_failure_reason{{target=\"{target}\",protocol=\"ssh\",reason=\"command_failed\"}}"
            ),
        ) == Some(1.0)
    };
    let series = "ispmonitor_polls_total{protocol=\"ssh\",result=\"command_failed\"}";
    let metrics = serve.wait_for_metrics("six capped polls", Duration::from_secs(40), |m| {
        sample_value(m, series).is_some_and(|count| count >= 6.0)
            && failed(m, "markers")
            && failed(m, "noise")
    });
    for target in ["markers", "noise"] {
        let duration = sample_value(
            &metrics,
            &format!(
                "ispmonitor_target_poll_duration_seconds{{target=\"{target}\",protocol=\"ssh\"}}"
            ),
        )
        .expect("poll duration");
        assert!(
            duration < 1.5 + 0.5,
            "{target}: the poll took {duration} s, past its deadline"
        );
    }
    let peak_kib = peak_rss_kib(serve.child.id());
    eprintln!("VmHWM after 6 polls of endless outputs (cap 4 MiB): {peak_kib} KiB");
    assert!(
        peak_kib < 96 * 1024,
        "peak RSS {peak_kib} KiB: endless output was buffered"
    );
}
