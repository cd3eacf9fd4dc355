//! A PostgreSQL server of the test's own, for tests that stop and restart the database: a
//! fresh cluster (`initdb`, trust auth) in a temp dir owned by the `postgres` user, on a free
//! port, run with `runuser -u postgres` (postgres refuses to run as root). Stopped by the PID
//! in its `postmaster.pid`, never by name: the shared server on :5432 is left alone.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::ispmonitor::free_tcp_port;

pub struct PrivatePostgres {
    pub port: u16,
    bin: PathBuf,
    dir: tempfile::TempDir,
}

/// The newest `/usr/lib/postgresql/<version>/bin`.
fn bin_dir() -> PathBuf {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL server binaries (/usr/lib/postgresql) are not installed")
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_string_lossy().parse().ok()?;
            Some((version, e.path().join("bin")))
        })
        .filter(|(_, bin)| bin.join("initdb").exists())
        .collect();
    versions.sort();
    versions
        .pop()
        .expect("no initdb under /usr/lib/postgresql")
        .1
}

fn as_postgres(program: &Path) -> Command {
    let mut command = Command::new("runuser");
    command.args(["-u", "postgres", "--"]).arg(program);
    command
}

fn run(command: &mut Command, what: &str) {
    let out = command.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl PrivatePostgres {
    /// A new cluster, started and answering.
    pub fn start() -> PrivatePostgres {
        let dir = tempfile::tempdir().expect("tempdir");
        run(
            Command::new("chown")
                .arg("postgres:postgres")
                .arg(dir.path()),
            "chown the cluster directory to postgres",
        );
        let me = PrivatePostgres {
            port: free_tcp_port(),
            bin: bin_dir(),
            dir,
        };
        run(
            as_postgres(&me.bin.join("initdb"))
                .args(["-A", "trust", "-U", "postgres", "--no-sync", "-D"])
                .arg(me.data()),
            "initdb",
        );
        me.start_again();
        me
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts the server on its port and data directory (again), waiting until it answers.
    pub fn start_again(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let started = as_postgres(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.data())
            .arg("-l")
            .arg(self.dir.path().join("server.log"))
            .args(["-o", &options, "-w", "-t", "30", "start"])
            .output()
            .expect("run pg_ctl");
        // The server's own log says why it did not start; pg_ctl only says that it did not.
        let log =
            || std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default();
        assert!(
            started.status.success(),
            "pg_ctl start failed: {}{}\nserver.log:\n{}",
            String::from_utf8_lossy(&started.stdout),
            String::from_utf8_lossy(&started.stderr),
            log()
        );
        assert!(
            self.is_ready(),
            "the private PostgreSQL does not answer: {}",
            log()
        );
    }

    /// The postmaster's PID, while it runs.
    fn pid(&self) -> Option<i32> {
        let text = std::fs::read_to_string(self.data().join("postmaster.pid")).ok()?;
        text.lines().next()?.trim().parse().ok()
    }

    /// Immediate shutdown (SIGQUIT to the postmaster, as `pg_ctl -m immediate` does): every
    /// connection drops at once, like a crash. Waits until the port is closed.
    pub fn stop_immediately(&self) {
        assert!(self.kill_and_wait(), "the private PostgreSQL did not stop");
    }

    fn kill_and_wait(&self) -> bool {
        let Some(pid) = self.pid() else { return true };
        // SAFETY: a plain kill(2) on the PID this test's cluster wrote.
        unsafe {
            libc::kill(pid, libc::SIGQUIT);
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if self.pid().is_none() && !self.is_ready() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// SIGKILL to the postmaster, as the OOM killer would: no shutdown at all. Its backends
    /// notice their parent is gone and exit; waits for them (a restart refuses to start while
    /// any still holds the old shared memory) and for the port to close.
    pub fn kill_postmaster(&self) {
        let Some(pid) = self.pid() else { return };
        let children = child_pids(pid);
        // SAFETY: a plain kill(2) on the PID this test's cluster wrote.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        let alive = |p: &i32| is_running(*p);
        while Instant::now() < deadline {
            if !alive(&pid) && !children.iter().any(alive) && !self.is_ready() {
                // The dead postmaster may stay a zombie when nobody reaps orphans (PID 1 of a
                // container); `kill(pid, 0)` still succeeds on it, and a new postmaster refuses
                // to start over the lock files naming it. It is dead: remove its lock files, as an
                // operator would after such a crash.
                let _ = std::fs::remove_file(self.data().join("postmaster.pid"));
                let socket = self.dir.path().join(format!(".s.PGSQL.{}", self.port));
                let _ = std::fs::remove_file(format!("{}.lock", socket.display()));
                let _ = std::fs::remove_file(socket);
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the killed PostgreSQL's processes did not exit");
    }

    pub fn is_ready(&self) -> bool {
        Command::new(self.bin.join("pg_isready"))
            .args(["-h", "127.0.0.1", "-q", "-p", &self.port.to_string()])
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    }

    /// Runs SQL with psql and returns its unaligned, tuples-only output.
    pub fn psql(&self, sql: &str) -> String {
        let out = Command::new("psql")
            .args(["-h", "127.0.0.1", "-U", "postgres", "-d", "postgres"])
            .args([
                "-p",
                &self.port.to_string(),
                "-v",
                "ON_ERROR_STOP=1",
                "-qAtc",
                sql,
            ])
            .output()
            .expect("run psql");
        assert!(
            out.status.success(),
            "psql {sql:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

/// True while `pid` runs (a zombie nobody reaped yet does not count).
fn is_running(pid: i32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let state = stat.rsplit_once(')').map(|(_, rest)| rest.trim_start());
    !state.is_some_and(|rest| rest.starts_with('Z'))
}

/// The direct children of `pid`, from /proc.
fn child_pids(pid: i32) -> Vec<i32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        self.kill_and_wait();
    }
}
