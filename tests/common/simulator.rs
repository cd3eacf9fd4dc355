//! Runs the real `ispmonitor simulate` on free loopback ports (port 0 on 127.1.0.0/16 addresses,
//! for SNMP and the MikroTiks' RouterOS API) with its control endpoint on a free TCP port, reads
//! the config it writes, and kills it by PID on drop.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::http;
use super::ispmonitor::{binary, free_tcp_port};

/// A running simulated fleet.
pub struct Simulator {
    pub child: Child,
    /// The fleet's generated poller config.
    pub config: PathBuf,
    /// Control endpoint `host:port`.
    pub control: String,
    /// Target name and `host:port` of each device's SNMP target, in device order.
    pub devices: Vec<(String, String)>,
    dir: tempfile::TempDir,
}

impl Simulator {
    /// `ispmonitor simulate --devices N --port 0 ... EXTRA`, once its config is written and
    /// its control endpoint answers.
    pub fn start(devices: u32, extra: &[&str]) -> Simulator {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("fleet.yaml");
        let control = format!("127.0.0.1:{}", free_tcp_port());
        let log = std::fs::File::create(dir.path().join("simulate.log")).expect("log file");
        let child = Command::new(binary())
            .args([
                "--log.level",
                "debug",
                "simulate",
                "--listen",
                "127.1.0.1",
                "--port",
                "0",
                "--routeros-port",
                "0",
                "--routeros-tls-port",
                "0",
            ])
            .args(["--devices", &devices.to_string()])
            .args(["--control.listen-address", &control])
            .arg("--write-config")
            .arg(&config)
            .args(extra)
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start ispmonitor simulate");
        let mut me = Simulator {
            child,
            config,
            control,
            devices: Vec::new(),
            dir,
        };
        me.wait_ready();
        me.devices = me.read_devices();
        me
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            let answered = http::get(&self.control, "/scenario").is_ok_and(|r| r.status == 200);
            if answered && self.config.exists() {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("simulate exited early with {status}: {}", self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("simulate did not start: {}", self.log());
    }

    fn read_devices(&self) -> Vec<(String, String)> {
        let config = ispmonitor::config::load_file(&self.config)
            .unwrap_or_else(|e| panic!("the generated config does not load: {e}"));
        // The SNMP targets only: the MikroTiks' `<name>-api` targets come after them.
        let api = ispmonitor::simulator::write_config::API_TARGET_SUFFIX;
        config
            .targets
            .iter()
            .filter(|t| !t.name.ends_with(api))
            .map(|t| (t.name.clone(), t.address.clone()))
            .collect()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("simulate.log")).unwrap_or_default()
    }

    /// `PUT /scenario` with a JSON body; returns the status and the body.
    pub fn put_scenario(&self, json: &str) -> (u16, String) {
        self.put("/scenario", json)
    }

    /// `PUT path` on the control endpoint with a JSON body; returns the status and the body.
    pub fn put(&self, path: &str, json: &str) -> (u16, String) {
        let mut stream = TcpStream::connect(&self.control).expect("connect control");
        let request = format!(
            "PUT {path} HTTP/1.0\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{json}",
            self.control,
            json.len()
        );
        stream.write_all(request.as_bytes()).expect("send");
        let mut raw = String::new();
        stream.read_to_string(&mut raw).expect("read");
        let status = raw
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let body = raw.split_once("\r\n\r\n").map(|(_, b)| b.to_string());
        (status, body.unwrap_or_default())
    }

    /// `GET /routeros`: each MikroTik device's API addresses (`device`, `name`, `address`,
    /// `tls_address`).
    pub fn routeros_endpoints(&self) -> Vec<serde_json::Value> {
        let response = http::get(&self.control, "/routeros").expect("GET /routeros");
        assert_eq!(response.status, 200, "{}", response.text());
        response.json().as_array().expect("a JSON array").clone()
    }

    /// The simulator's own metrics.
    pub fn metrics(&self) -> String {
        http::get(&self.control, "/metrics")
            .expect("GET /metrics")
            .text()
    }

    /// Runs a net-snmp tool with numeric output and returns (oid, value text) pairs, values
    /// with whitespace normalised (hex strings span several lines).
    pub fn net_snmp(tool: &str, args: &[&str]) -> Vec<(String, String)> {
        let output = Command::new(tool)
            .args(["-m", "", "-On", "-Ox", "-Ot", "-t", "2", "-r", "1"])
            .args(args)
            .env("MIBS", "")
            .output()
            .unwrap_or_else(|e| panic!("{tool} is missing (bash scripts/install-peers.sh): {e}"));
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{tool} {args:?} failed: {}{text}",
            String::from_utf8_lossy(&output.stderr)
        );
        parse_net_snmp(&text)
    }
}

/// net-snmp output lines: `.OID = VALUE`, with continuation lines for long hex strings.
pub fn parse_net_snmp(text: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        match line.split_once(" = ") {
            Some((oid, value)) if oid.starts_with('.') => {
                out.push((oid.to_string(), value.to_string()))
            }
            _ => {
                if let Some(last) = out.last_mut() {
                    last.1.push(' ');
                    last.1.push_str(line);
                }
            }
        }
    }
    out.into_iter()
        .map(|(oid, value)| {
            let value = value.split_whitespace().collect::<Vec<_>>().join(" ");
            (oid, value)
        })
        .collect()
}

impl Drop for Simulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
