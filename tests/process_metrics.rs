//! The standard `process_*` families through the real binary: each agrees with what the test
//! itself reads from /proc/PID, CPU time grows with work, promtool accepts them, and `/probe`
//! leaves them out.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

use common::http;
use common::ispmonitor::{sample_value, Ispmonitor};

/// One ICMP host on loopback: the process polls something, and `/probe` needs no credential.
fn config(dir: &tempfile::TempDir) -> PathBuf {
    let path = dir.path().join("ispmonitor.yaml");
    std::fs::write(
        &path,
        "global: {interval: 1s, timeout: 900ms}\n\
         modules:\n  probe: {type: icmp, count: 2, interval: 20ms, timeout: 500ms}\n\
         targets:\n  - {name: lo4, address: \"127.0.0.1\", kind: host, modules: [probe]}\n",
    )
    .expect("write config");
    path
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn value(text: &str, family: &str) -> f64 {
    sample_value(text, family).unwrap_or_else(|| panic!("no {family} in:\n{text}"))
}

/// A `Key:  N kB` line of /proc/PID/status, in bytes.
fn status_bytes(pid: u32, key: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .unwrap_or_else(|| panic!("no {key} in /proc/{pid}/status"));
    let kib: f64 = line.trim().trim_end_matches("kB").trim().parse().unwrap();
    kib * 1024.0
}

fn fd_count(pid: u32) -> f64 {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count() as f64
}

/// The soft "Max open files" of /proc/PID/limits (the process raises it at start).
fn soft_open_files(pid: u32) -> f64 {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find_map(|l| l.strip_prefix("Max open files"))
        .expect("Max open files line");
    let soft = line.split_whitespace().next().unwrap();
    if soft == "unlimited" {
        u64::MAX as f64
    } else {
        soft.parse().unwrap()
    }
}

fn clock_ticks_per_second() -> f64 {
    let out = Command::new("getconf").arg("CLK_TCK").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

#[test]
fn process_families_agree_with_proc() {
    let dir = tempfile::tempdir().unwrap();
    let before_start = unix_now();
    let server = Ispmonitor::start(&config(&dir), &[]);
    let pid = server.child.id();

    let scrape = server.get("/metrics");
    assert_eq!(scrape.status, 200);
    let text = scrape.text();
    common::promtool::check_metrics(&scrape.body);
    for (family, kind, help) in [
        (
            "process_cpu_seconds_total",
            "counter",
            "Total user and system CPU time spent in seconds.",
        ),
        (
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory size in bytes.",
        ),
        (
            "process_virtual_memory_bytes",
            "gauge",
            "Virtual memory size in bytes.",
        ),
        (
            "process_open_fds",
            "gauge",
            "Number of open file descriptors.",
        ),
        (
            "process_max_fds",
            "gauge",
            "Maximum number of open file descriptors.",
        ),
        (
            "process_start_time_seconds",
            "gauge",
            "Start time of the process since unix epoch in seconds.",
        ),
        (
            "process_threads",
            "gauge",
            "Number of OS threads in the process.",
        ),
    ] {
        assert!(
            text.contains(&format!("# HELP {family} {help}\n")),
            "{family} HELP"
        );
        assert!(
            text.contains(&format!("# TYPE {family} {kind}\n")),
            "{family} TYPE"
        );
    }

    // Memory moves a little between the scrape and our read: 10 % or 4 MiB either way.
    let rss = value(&text, "process_resident_memory_bytes");
    let vm_rss = status_bytes(pid, "VmRSS");
    let slack = (vm_rss * 0.1).max(4.0 * 1024.0 * 1024.0);
    assert!((rss - vm_rss).abs() <= slack, "RSS {rss} vs VmRSS {vm_rss}");
    let vsize = value(&text, "process_virtual_memory_bytes");
    let vm_size = status_bytes(pid, "VmSize");
    assert!(
        (vsize - vm_size).abs() <= (vm_size * 0.1).max(64.0 * 1024.0 * 1024.0),
        "vsize {vsize} vs VmSize {vm_size}"
    );

    // The scrape's own connection and directory listing come and go around our count.
    let fds = value(&text, "process_open_fds");
    let counted = fd_count(pid);
    assert!(
        fds >= 3.0 && (fds - counted).abs() <= 4.0,
        "open fds {fds} vs {counted} in /proc"
    );

    assert_eq!(value(&text, "process_max_fds"), soft_open_files(pid));

    let started = value(&text, "process_start_time_seconds");
    assert!(
        started >= before_start - 2.0 && started <= unix_now() + 2.0,
        "start time {started}, test started it at {before_start}"
    );

    // Blocking threads of the scrape may be spawned or retired in between.
    let threads = value(&text, "process_threads");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let proc_threads: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        threads >= 2.0 && (threads - proc_threads).abs() <= 4.0,
        "threads {threads} vs {proc_threads} in /proc"
    );

    // /probe answers about the probed target only.
    let probe = server.get("/probe?target=127.0.0.2&module=probe");
    assert_eq!(probe.status, 200, "{}", probe.text());
    let probe = probe.text();
    assert!(
        probe.contains("ispmonitor_target_up{target=\"127.0.0.2\""),
        "{probe}"
    );
    assert!(
        !probe.contains("process_"),
        "process families in /probe:\n{probe}"
    );
}

#[test]
fn cpu_seconds_grow_after_work() {
    let dir = tempfile::tempdir().unwrap();
    let server = Ispmonitor::start(&config(&dir), &[]);
    let first = value(&server.metrics(), "process_cpu_seconds_total");
    // Compressed scrapes are work for the process; the counter moves in clock ticks (10 ms).
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut last = first;
    while Instant::now() < deadline && last <= first {
        for _ in 0..20 {
            let r = http::request(
                "GET",
                &server.addr,
                "/metrics",
                &[("Accept-Encoding", "gzip")],
            )
            .unwrap();
            assert_eq!(r.status, 200);
        }
        last = value(&server.metrics(), "process_cpu_seconds_total");
    }
    assert!(last > first, "process_cpu_seconds_total stayed at {first}");
    let pid = server.child.id();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 1..]
        .split_whitespace()
        .collect();
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    let seconds = ticks / clock_ticks_per_second();
    // Our read comes after the scrape, and both count the same ticks.
    assert!(seconds >= last, "{seconds} s in /proc < {last} s scraped");
    assert!(
        seconds - last < 1.0,
        "{seconds} s in /proc vs {last} s scraped"
    );
}
