//! Runs the real `ispmonitor` binary for end-to-end tests and stops it by PID.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::http;

/// A running `ispmonitor serve`. Killed on drop.
pub struct Ispmonitor {
    pub child: Child,
    pub addr: String,
    /// The inventory API's address (`--api.listen-address`), unless `extra` turned it off.
    pub api_addr: String,
    /// stderr goes to a file: a pipe nobody reads would fill up and block the process.
    log_dir: tempfile::TempDir,
}

/// A free TCP port on 127.0.0.1, for a server the test starts next.
///
/// Picked below the kernel's ephemeral range (32768 and up by default) rather than with
/// `bind(:0)`: a port from that range, once released, can be taken by any outgoing connection
/// (a database client, an HTTP request) before the server binds it, which failed parallel tests
/// with "Address already in use". Each test process walks its own sequence, starting from its
/// pid, so parallel tests in one process never pick the same port.
pub fn free_tcp_port() -> u16 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    const FIRST: u32 = 20_000;
    const SPAN: u32 = 12_000;
    let start = std::process::id().wrapping_mul(97);
    for _ in 0..SPAN {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = (FIRST + start.wrapping_add(n) % SPAN) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free TCP port between {FIRST} and {}", FIRST + SPAN);
}

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_ispmonitor")
}

impl Ispmonitor {
    /// Starts `ispmonitor serve --config CONFIG` on a free port with extra args, and waits
    /// until `/ready` answers 200.
    pub fn start(config: &Path, extra: &[&str]) -> Ispmonitor {
        Self::start_with_env(config, extra, &[])
    }

    /// As `start`, with extra environment variables (ISPMONITOR_DATABASE_URL...). The API
    /// listens on a free port unless `extra` sets `--api.listen-address` itself.
    pub fn start_with_env(config: &Path, extra: &[&str], env: &[(&str, &str)]) -> Ispmonitor {
        let addr = format!("127.0.0.1:{}", free_tcp_port());
        let log_dir = tempfile::tempdir().expect("tempdir");
        let log = std::fs::File::create(log_dir.path().join("stderr.log")).expect("log file");
        let mut command = Command::new(binary());
        command
            .args(["--log.level", "debug", "serve", "--config"])
            .arg(config)
            .args(["--web.listen-address", &addr]);
        let api_addr = match extra.iter().position(|a| *a == "--api.listen-address") {
            Some(i) => extra.get(i + 1).unwrap_or(&"none").to_string(),
            None => {
                let api_addr = format!("127.0.0.1:{}", free_tcp_port());
                command.args(["--api.listen-address", &api_addr]);
                api_addr
            }
        };
        let child = command
            .args(extra)
            .env_remove("RUST_LOG")
            .env_remove("ISPMONITOR_DATABASE_URL")
            .env_remove("ISPMONITOR_SECRET_KEY")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start ispmonitor");
        let mut me = Ispmonitor {
            child,
            addr,
            api_addr,
            log_dir,
        };
        me.wait_ready();
        me
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(r) = http::get(&self.addr, "/ready") {
                if r.status == 200 {
                    return;
                }
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "ispmonitor exited early with {status}: {}",
                    self.stderr_now()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("ispmonitor did not become ready on {}", self.addr);
    }

    pub fn get(&self, path: &str) -> http::Response {
        http::get(&self.addr, path).unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    pub fn metrics(&self) -> String {
        self.get("/metrics").text()
    }

    /// Polls `/metrics` until `pred` holds, or panics with the last exposition.
    pub fn wait_for_metrics(
        &self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + timeout;
        let mut last = String::new();
        while Instant::now() < deadline {
            last = self.metrics();
            if pred(&last) {
                return last;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("timed out waiting for {what}; last /metrics:\n{last}");
    }

    pub fn signal(&self, sig: &str) {
        let status = Command::new("kill")
            .args([&format!("-{sig}"), &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{sig} failed");
    }

    /// Waits for the process to exit and returns its exit code and stderr.
    pub fn wait_exit(mut self, timeout: Duration) -> (Option<i32>, String) {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                let stderr = self.stderr_now();
                return (status.code(), stderr);
            }
            assert!(
                Instant::now() < deadline,
                "ispmonitor did not exit within {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the process and returns everything it logged.
    pub fn stop_and_logs(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.stderr_now()
    }

    /// Everything logged so far.
    pub fn stderr_now(&self) -> String {
        std::fs::read_to_string(self.log_dir.path().join("stderr.log")).unwrap_or_default()
    }
}

impl Drop for Ispmonitor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The value of the first sample whose line starts with `series` (name and labels as text).
pub fn sample_value(exposition: &str, series: &str) -> Option<f64> {
    exposition
        .lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}
