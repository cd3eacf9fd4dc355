//! A real Prometheus server scraping given targets every second, on a free port with its own
//! data directory; it can be killed (SIGKILL) and started again on the same port and data.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::http;
use super::ispmonitor::free_tcp_port;

pub struct Prometheus {
    child: Option<Child>,
    pub addr: String,
    dir: tempfile::TempDir,
}

impl Prometheus {
    /// Scrapes each of `targets` (`host:port`, `/metrics`) in job `job`, every second.
    pub fn start(job: &str, targets: &[&str]) -> Prometheus {
        let dir = tempfile::tempdir().expect("tempdir");
        let list = targets
            .iter()
            .map(|t| format!("'{t}'"))
            .collect::<Vec<_>>()
            .join(", ");
        std::fs::write(
            dir.path().join("prometheus.yml"),
            format!(
                "global: {{scrape_interval: 1s, scrape_timeout: 1s}}\n\
                 scrape_configs:\n  - job_name: {job}\n    static_configs: [{{targets: [{list}]}}]\n"
            ),
        )
        .expect("write prometheus.yml");
        let mut me = Prometheus {
            child: None,
            addr: format!("127.0.0.1:{}", free_tcp_port()),
            dir,
        };
        me.launch();
        me
    }

    fn launch(&mut self) {
        let log = std::fs::File::create(self.dir.path().join("prometheus.log")).expect("log");
        let child = Command::new("prometheus")
            .arg(format!(
                "--config.file={}",
                self.dir.path().join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                self.dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={}", self.addr))
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("prometheus is installed by scripts/install-peers.sh");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if http::get(&self.addr, "/-/ready").is_ok_and(|r| r.status == 200) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("Prometheus did not become ready: {}", self.log());
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default()
    }

    /// SIGKILL, by PID: no shutdown, the TSDB is left as a crash leaves it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts again on the same port and data directory (replaying its write-ahead log).
    pub fn restart(&mut self) {
        self.kill();
        self.launch();
    }

    /// An instant query; `Null` while Prometheus does not answer.
    pub fn query(&self, promql: &str) -> serde_json::Value {
        let path = format!(
            "/api/v1/query?query={}",
            form_urlencoded::byte_serialize(promql.as_bytes()).collect::<String>()
        );
        match http::get(&self.addr, &path) {
            Ok(r) if r.status == 200 => serde_json::from_slice(&r.body).unwrap_or_default(),
            _ => serde_json::Value::Null,
        }
    }

    /// The first result's value, as Prometheus writes it (a string).
    pub fn first_value(&self, promql: &str) -> Option<String> {
        self.query(promql)["data"]["result"][0]["value"][1]
            .as_str()
            .map(String::from)
    }

    /// Waits until `promql`'s first value is `expected`, or panics with the last answer.
    pub fn wait_for_value(&self, promql: &str, expected: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let mut last = serde_json::Value::Null;
        while Instant::now() < deadline {
            last = self.query(promql);
            if last["data"]["result"][0]["value"][1].as_str() == Some(expected) {
                return;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        panic!("{promql} never became {expected}: {last}\n{}", self.log());
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        self.kill();
    }
}
