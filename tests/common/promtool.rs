//! `promtool check metrics` on a scrape, with the metric contract's known exceptions.

use std::io::Write;
use std::process::{Command, Stdio};

/// The metric contract (shared/METRICS.md) names three gauges with `_total`; promtool's lint
/// flags exactly those. Any other finding fails the calling test.
const CONTRACT_EXCEPTIONS: [&str; 3] = [
    "ispmonitor_routers_total non-counter metrics should not have \"_total\" suffix",
    "ispmonitor_servers_total non-counter metrics should not have \"_total\" suffix",
    "ispmonitor_shard_total non-counter metrics should not have \"_total\" suffix",
];

/// Runs `promtool check metrics` on an exposition body and panics on any other finding.
pub fn check_metrics(body: &[u8]) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool is installed by scripts/install-peers.sh");
    child.stdin.take().unwrap().write_all(body).unwrap();
    let out = child.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let findings: Vec<&str> = report
        .lines()
        .filter(|l| !l.trim().is_empty() && !CONTRACT_EXCEPTIONS.contains(&l.trim()))
        .collect();
    assert!(findings.is_empty(), "promtool check metrics:\n{report}");
}
