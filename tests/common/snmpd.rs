//! A real net-snmp `snmpd` on a free loopback UDP port, with v1/v2c communities and every v3
//! user variant, started in a fresh temp dir and killed by PID when dropped.

use std::fmt::Write as _;
use std::net::UdpSocket;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const SNMPD: &str = "/usr/sbin/snmpd";
pub const COMMUNITY: &str = "public";
pub const AUTH_PASSWORD: &str = "authpass123";
pub const PRIV_PASSWORD: &str = "privpass123";

/// One SNMPv3 user the agent knows, with net-snmp's names for its protocols.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct V3User {
    pub name: &'static str,
    /// net-snmp auth protocol (`SHA`, `MD5`, `SHA-256`...), `None` for noAuthNoPriv.
    pub auth: Option<&'static str>,
    /// net-snmp privacy protocol (`AES`, `DES`, `AES-256`, `AES-256-C`...), `None` without.
    pub privacy: Option<&'static str>,
}

/// Every user variant created in the agent. `AES-256` with a SHA-1 key is net-snmp's
/// Blumenthal key extension; `AES-256-C` is the Reeder (Cisco) one.
pub const V3_USERS: &[V3User] = &[
    V3User {
        name: "shaaes",
        auth: Some("SHA"),
        privacy: Some("AES"),
    },
    V3User {
        name: "md5des",
        auth: Some("MD5"),
        privacy: Some("DES"),
    },
    V3User {
        name: "sha256aes256",
        auth: Some("SHA-256"),
        privacy: Some("AES-256"),
    },
    V3User {
        name: "sha1aes256",
        auth: Some("SHA"),
        privacy: Some("AES-256"),
    },
    V3User {
        name: "sha1aes256c",
        auth: Some("SHA"),
        privacy: Some("AES-256-C"),
    },
    V3User {
        name: "sha512aes",
        auth: Some("SHA-512"),
        privacy: Some("AES"),
    },
    V3User {
        name: "sha384aes256",
        auth: Some("SHA-384"),
        privacy: Some("AES-256"),
    },
    V3User {
        name: "sha224aes192",
        auth: Some("SHA-224"),
        privacy: Some("AES-192"),
    },
    V3User {
        name: "authnopriv",
        auth: Some("SHA"),
        privacy: None,
    },
    V3User {
        name: "noauth",
        auth: None,
        privacy: None,
    },
];

/// An executable file written into the agent's temp dir before it starts.
#[derive(Debug, Clone)]
pub struct ScriptFile {
    pub name: String,
    pub contents: String,
}

/// Extra agent configuration. `{dir}` in a line is replaced by the agent's temp dir.
#[derive(Debug, Clone, Default)]
pub struct SnmpdOptions {
    pub extra_config: Vec<String>,
    pub scripts: Vec<ScriptFile>,
}

/// A running agent. Dropping it kills the process.
pub struct Snmpd {
    pub port: u16,
    /// The address it listens on: 127.0.0.1, or its network namespace's address.
    pub host: String,
    /// The network namespace it runs in, if not the test's own.
    netns: Option<String>,
    dir: tempfile::TempDir,
    child: Child,
}

/// A free UDP port on 127.0.0.1 (bound, read, released).
pub fn free_udp_port() -> u16 {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind an ephemeral UDP port");
    socket.local_addr().expect("local address").port()
}

fn require_snmpd() {
    if Path::new(SNMPD).exists() {
        return;
    }
    let context = if std::env::var_os("CI").is_some() {
        " (CI)"
    } else {
        ""
    };
    panic!(
        "{SNMPD} is missing{context}: the SNMP tests need a real net-snmp agent. \
         Run scripts/install-peers.sh (apt packages snmpd and snmp)."
    );
}

fn config_text(port: u16, dir: &Path, options: &SnmpdOptions) -> String {
    let mut conf = String::new();
    // Writing to a String cannot fail.
    let _ = writeln!(conf, "agentAddress udp:127.0.0.1:{port}");
    let _ = writeln!(conf, "rocommunity {COMMUNITY} 127.0.0.1");
    let _ = writeln!(conf, "view all included .1");
    for user in V3_USERS {
        let mut line = format!("createUser {}", user.name);
        if let Some(auth) = user.auth {
            let _ = write!(line, " {auth} \"{AUTH_PASSWORD}\"");
        }
        if let Some(privacy) = user.privacy {
            let _ = write!(line, " {privacy} \"{PRIV_PASSWORD}\"");
        }
        let level = match (user.auth, user.privacy) {
            (None, _) => "noauth",
            (Some(_), None) => "auth",
            (Some(_), Some(_)) => "priv",
        };
        let _ = writeln!(conf, "{line}\nrouser {} {level}", user.name);
    }
    let dir_text = dir.display().to_string();
    for line in &options.extra_config {
        let _ = writeln!(conf, "{}", line.replace("{dir}", &dir_text));
    }
    conf
}

fn write_scripts(dir: &Path, scripts: &[ScriptFile]) {
    for script in scripts {
        let path = dir.join(&script.name);
        std::fs::write(&path, &script.contents).expect("write script");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
            .expect("make script executable");
    }
}

impl Snmpd {
    pub fn start() -> Snmpd {
        Self::start_with(SnmpdOptions::default())
    }

    pub fn start_with(options: SnmpdOptions) -> Snmpd {
        Self::start_at(options, None)
    }

    /// An agent inside the network namespace `netns`, listening on `address` (port 161 there)
    /// and answering `public` from anywhere, so packets to it cross the namespace's link.
    pub fn start_in_netns(
        netns: &str,
        address: std::net::Ipv4Addr,
        options: SnmpdOptions,
    ) -> Snmpd {
        Self::start_at(options, Some((netns, address)))
    }

    fn start_at(mut options: SnmpdOptions, netns: Option<(&str, std::net::Ipv4Addr)>) -> Snmpd {
        require_snmpd();
        let dir = tempfile::tempdir().expect("temp dir");
        let (port, host) = match netns {
            None => (free_udp_port(), "127.0.0.1".to_string()),
            Some((_, address)) => {
                options
                    .extra_config
                    .push(format!("agentAddress udp:{address}:161"));
                options
                    .extra_config
                    .push(format!("rocommunity {COMMUNITY} default"));
                (161, address.to_string())
            }
        };
        std::fs::create_dir_all(dir.path().join("persist")).expect("persist dir");
        write_scripts(dir.path(), &options.scripts);
        let conf = dir.path().join("snmpd.conf");
        // Inside a namespace the loopback line binds that namespace's own 127.0.0.1: harmless.
        let loopback_port = if netns.is_some() {
            free_udp_port()
        } else {
            port
        };
        std::fs::write(&conf, config_text(loopback_port, dir.path(), &options))
            .expect("write config");
        let netns = netns.map(|(name, _)| name.to_string());
        let child = spawn_agent(dir.path(), netns.as_deref());
        let agent = Snmpd {
            port,
            host,
            netns,
            dir,
            child,
        };
        agent.wait_until_ready();
        agent
    }

    /// Kills the agent with SIGKILL (a crash: no goodbye, the port closes).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the agent again on the same address, port and files, and waits until it answers.
    pub fn restart(&mut self) {
        self.kill();
        self.child = spawn_agent(self.dir.path(), self.netns.as_deref());
        self.wait_until_ready();
    }

    /// Sends a signal (`STOP`, `CONT`...) to the agent, by its PID.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} snmpd failed");
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `host:port` for a poller's target address.
    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("snmpd.log")).unwrap_or_default()
    }

    fn wait_until_ready(&self) {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            if self
                .try_client("snmpget", &["-t", "0.2", "-r", "0", "1.3.6.1.2.1.1.3.0"])
                .is_some()
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("snmpd did not answer within 10 s; log:\n{}", self.log());
    }

    /// Runs a net-snmp client (`snmpget`, `snmpbulkwalk`...) with v2c, numeric OIDs and bare
    /// values; `None` when it fails.
    pub fn try_client(&self, tool: &str, args: &[&str]) -> Option<String> {
        let output = Command::new(tool)
            .args([
                "-v2c", "-c", COMMUNITY, "-m", "", "-On", "-Oe", "-Ot", "-OQ",
            ])
            .arg(self.address())
            .args(args)
            .env("MIBS", "")
            .env("SNMP_PERSISTENT_DIR", self.dir.path().join("persist"))
            .output()
            .ok()?;
        if !output.status.success() {
            return None;
        }
        Some(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// `OID = value` lines of a client run, as pairs.
    pub fn client(&self, tool: &str, args: &[&str]) -> Vec<(String, String)> {
        let text = self
            .try_client(tool, args)
            .unwrap_or_else(|| panic!("{tool} {args:?} failed"));
        text.lines()
            .filter_map(|line| line.split_once(" = "))
            .map(|(oid, value)| (oid.trim_start_matches('.').to_string(), value.to_string()))
            .collect()
    }

    /// One numeric value read with `snmpget`.
    pub fn get_number(&self, oid: &str) -> u64 {
        let pairs = self.client("snmpget", &[oid]);
        let value = &pairs.first().expect("one varbind").1;
        value
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{oid} is not a number: {value}"))
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// Runs snmpd on the config in `dir` (inside `netns` when given), in the foreground.
fn spawn_agent(dir: &Path, netns: Option<&str>) -> Child {
    let mut command = match netns {
        Some(netns) => {
            let mut command = Command::new("ip");
            command.args(["netns", "exec", netns, SNMPD]);
            command
        }
        None => Command::new(SNMPD),
    };
    command
        .args(["-f", "-C", "-c"])
        .arg(dir.join("snmpd.conf"))
        .arg("-Lf")
        .arg(dir.join("snmpd.log"))
        .arg("-p")
        .arg(dir.join("snmpd.pid"))
        .args(["-I", "-smux"])
        .env("MIBS", "")
        .env("SNMP_PERSISTENT_DIR", dir.join("persist"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start snmpd")
}

impl Drop for Snmpd {
    fn drop(&mut self) {
        // Only our own child, by its PID.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `pass` script serving fixed values: `entries` are (OID, type, value) in increasing OID
/// order (types as pass understands them: integer, gauge, counter, counter64, string...). GET
/// answers exact OIDs; GETNEXT answers the first entry after any OID (compared numerically).
pub fn pass_script(entries: &[(&str, &str, &str)]) -> String {
    let mut table = String::new();
    for (oid, kind, value) in entries {
        let _ = writeln!(table, ".{oid}\t{kind}\t{value}");
    }
    format!(
        r#"#!/bin/sh
awk -F '\t' -v mode="$1" -v req="$2" '
function cmp(a, b,   x, y, n, m, i) {{
  n = split(a, x, "."); m = split(b, y, ".")
  for (i = 1; i <= n && i <= m; i++) {{
    if (x[i] + 0 < y[i] + 0) return -1
    if (x[i] + 0 > y[i] + 0) return 1
  }}
  return n - m
}}
(mode == "-g" && $1 == req) || (mode == "-n" && cmp($1, req) > 0) {{
  printf "%s\n%s\n%s\n", $1, $2, $3; exit
}}' <<'ENTRIES'
{table}ENTRIES
"#
    )
}
