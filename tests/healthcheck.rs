//! `ispmonitor healthcheck`, the container HEALTHCHECK: the real binary against a running
//! `serve`, a closed port, an endpoint that answers 503 and one that never answers.

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::ispmonitor::{binary, free_tcp_port, Ispmonitor};

/// Runs `ispmonitor healthcheck` with `args` and `env`, with no inherited URL or proxy.
fn healthcheck(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(binary())
        .arg("healthcheck")
        .args(args)
        .env_remove("ISPMONITOR_HEALTHCHECK_URL")
        .envs(env.iter().copied())
        .output()
        .expect("run ispmonitor healthcheck")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A one-shot HTTP server on loopback that answers every request with `status_line`.
fn answering(status_line: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let body = "unhealthy\n";
            let _ = write!(
                stream,
                "HTTP/1.1 {status_line}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    addr
}

fn empty_config(dir: &tempfile::TempDir) -> std::path::PathBuf {
    let path = dir.path().join("config.yaml");
    std::fs::write(
        &path,
        "global: {interval: 1s, timeout: 800ms}\ntargets: []\n",
    )
    .unwrap();
    path
}

#[test]
fn a_running_serve_is_healthy_on_the_exporter_and_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Ispmonitor::start(&empty_config(&dir), &[]);
    let exporter = format!("http://{}/-/healthy", serve.addr);
    let out = healthcheck(&["--url", &exporter], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    // The environment twin, as a container's HEALTHCHECK would set it, on the API's /live.
    let api = format!("http://{}/live", serve.api_addr);
    let out = healthcheck(&[], &[("ISPMONITOR_HEALTHCHECK_URL", &api)]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    // A proxy from the environment is not used for a check of the container itself.
    let out = healthcheck(
        &["--url", &exporter],
        &[
            ("HTTP_PROXY", "http://127.0.0.1:1"),
            ("http_proxy", "http://127.0.0.1:1"),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn the_flag_wins_over_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let serve = Ispmonitor::start(&empty_config(&dir), &[]);
    let good = format!("http://{}/-/healthy", serve.addr);
    let closed = format!("http://127.0.0.1:{}/-/healthy", free_tcp_port());
    let out = healthcheck(
        &["--url", &good],
        &[("ISPMONITOR_HEALTHCHECK_URL", &closed)],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = healthcheck(
        &["--url", &closed],
        &[("ISPMONITOR_HEALTHCHECK_URL", &good)],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
}

#[test]
fn a_closed_port_is_unhealthy_with_a_one_line_reason() {
    let url = format!("http://127.0.0.1:{}/-/healthy", free_tcp_port());
    let out = healthcheck(&["--url", &url], &[]);
    assert_eq!(out.status.code(), Some(1));
    let text = stderr(&out);
    assert_eq!(text.trim_end().lines().count(), 1, "{text}");
    assert!(text.contains(&url), "{text}");
    assert!(text.to_lowercase().contains("connection refused"), "{text}");
}

#[test]
fn a_503_is_unhealthy_and_named() {
    let addr = answering("503 Service Unavailable");
    let out = healthcheck(&["--url", &format!("http://{addr}/ready")], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("503"), "{}", stderr(&out));
}

#[test]
fn a_redirect_is_not_followed_and_not_healthy() {
    let addr = answering("302 Found");
    let out = healthcheck(&["--url", &format!("http://{addr}/-/healthy")], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("302"), "{}", stderr(&out));
}

#[test]
fn an_endpoint_that_never_answers_fails_after_the_timeout() {
    // Listening but never accepting: the kernel completes the handshake, nobody answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/-/healthy", silent.local_addr().unwrap());
    let started = Instant::now();
    let out = healthcheck(&["--url", &url], &[]);
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no answer within 2s"),
        "{}",
        stderr(&out)
    );
    assert!(
        took >= Duration::from_millis(1900),
        "gave up after {took:?}"
    );
    assert!(took < Duration::from_secs(10), "hung for {took:?}");
}

#[test]
fn a_password_in_the_url_never_reaches_the_output() {
    let url = format!(
        "http://monitor:s3cret-pw-8812@127.0.0.1:{}/",
        free_tcp_port()
    );
    let out = healthcheck(&["--url", &url], &[]);
    assert_eq!(out.status.code(), Some(1));
    let text = format!("{}{}", stderr(&out), String::from_utf8_lossy(&out.stdout));
    assert!(!text.contains("s3cret-pw-8812"), "{text}");
    assert!(text.contains("monitor:redacted@"), "{text}");
}
