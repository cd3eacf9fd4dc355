//! PostgreSQL for tests: the machine's server on 127.0.0.1:5432 (started if it is down), one
//! fresh database per test, dropped at the end.

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Once;

pub const SERVER: &str = "postgres://postgres@127.0.0.1:5432";

/// A database of its own for one test. Dropped (connections closed) on drop.
pub struct TestDb {
    pub name: String,
}

static STARTED: Once = Once::new();
static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Starts the local cluster if `pg_isready` says it is down. Panics if it cannot: a missing
/// database is a failure, never a skip.
pub fn ensure_running() {
    STARTED.call_once(|| {
        if ready() {
            return;
        }
        let versions = std::fs::read_dir("/etc/postgresql")
            .expect("PostgreSQL is not installed (/etc/postgresql); run scripts/install-peers.sh");
        for version in versions.flatten() {
            let version = version.file_name().to_string_lossy().to_string();
            let _ = Command::new("pg_ctlcluster")
                .args(["--skip-systemctl-redirect", &version, "main", "start"])
                .status();
        }
        for _ in 0..100 {
            if ready() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("PostgreSQL does not answer on 127.0.0.1:5432");
    });
}

fn ready() -> bool {
    Command::new("pg_isready")
        .args(["-h", "127.0.0.1", "-p", "5432", "-q"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Runs SQL with psql against `database` and returns its unaligned, tuples-only output.
pub fn psql(database: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-d",
            database,
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

impl TestDb {
    pub fn new() -> TestDb {
        ensure_running();
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let name = format!("ispm_test_{}_{}_{}", std::process::id(), n, rand_suffix());
        psql("postgres", &format!("CREATE DATABASE {name}"));
        TestDb { name }
    }

    pub fn url(&self) -> String {
        format!("{SERVER}/{}", self.name)
    }

    pub fn psql(&self, sql: &str) -> String {
        psql(&self.name, sql)
    }
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(0)
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .args([
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-qAtc",
            ])
            .arg(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .output();
    }
}
