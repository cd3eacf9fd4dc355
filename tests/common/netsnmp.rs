//! Runs the real net-snmp command-line tools (`snmpget`, `snmpwalk`, `snmpbulkwalk`...) against
//! any agent, with numeric OIDs, no MIB files and a private persistent dir.

use std::path::Path;
use std::process::Command;

/// How a tool authenticates: v1/v2c community or a v3 user.
#[derive(Debug, Clone)]
pub enum Auth {
    V1(String),
    V2c(String),
    V3 {
        user: String,
        /// `noAuthNoPriv`, `authNoPriv` or `authPriv`.
        level: &'static str,
        /// net-snmp protocol name (`SHA`, `MD5`...) and password.
        auth: Option<(&'static str, String)>,
        /// net-snmp protocol name (`AES`, `DES`) and password.
        privacy: Option<(&'static str, String)>,
    },
}

impl Auth {
    fn args(&self) -> Vec<String> {
        match self {
            Auth::V1(community) => vec!["-v1".into(), "-c".into(), community.clone()],
            Auth::V2c(community) => vec!["-v2c".into(), "-c".into(), community.clone()],
            Auth::V3 {
                user,
                level,
                auth,
                privacy,
            } => {
                let mut args = vec![
                    "-v3".into(),
                    "-u".into(),
                    user.clone(),
                    "-l".into(),
                    level.to_string(),
                ];
                if let Some((protocol, password)) = auth {
                    args.extend([
                        "-a".into(),
                        protocol.to_string(),
                        "-A".into(),
                        password.clone(),
                    ]);
                }
                if let Some((protocol, password)) = privacy {
                    args.extend([
                        "-x".into(),
                        protocol.to_string(),
                        "-X".into(),
                        password.clone(),
                    ]);
                }
                args
            }
        }
    }
}

/// The result of one tool run.
#[derive(Debug, Clone)]
pub struct ToolOutput {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

impl ToolOutput {
    /// `OID = value` lines as pairs (leading dot removed from the OID).
    pub fn pairs(&self) -> Vec<(String, String)> {
        self.stdout
            .lines()
            .filter_map(|line| line.split_once(" = "))
            .map(|(oid, value)| (oid.trim_start_matches('.').to_string(), value.to_string()))
            .collect()
    }
}

fn require(tool: &str) {
    let found = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).any(|dir| dir.join(tool).exists()))
        .unwrap_or(false);
    assert!(
        found,
        "{tool} is missing: the simulator agent tests need the net-snmp tools. \
         Run scripts/install-peers.sh (apt package snmp)."
    );
}

/// An agent to run tools against, as one user.
#[derive(Debug, Clone)]
pub struct Peer<'a> {
    pub auth: Auth,
    /// `127.0.0.1:PORT`.
    pub target: String,
    /// net-snmp's persistent dir (its v3 engine cache), private to the test.
    pub persist: &'a Path,
}

impl Peer<'_> {
    /// Runs `tool` with numeric output (`-On`), numeric enums (`-Oe`), raw timeticks (`-Ot`),
    /// a 1 s timeout and no retries, then `options`, the target and `oids`.
    pub fn run(&self, tool: &str, options: &[&str], oids: &[&str]) -> ToolOutput {
        require(tool);
        let output = Command::new(tool)
            .args(self.auth.args())
            .args(["-m", "", "-On", "-Oe", "-Ot", "-t", "1", "-r", "0"])
            .args(options)
            .arg(&self.target)
            .args(oids)
            .env("MIBS", "")
            .env("SNMP_PERSISTENT_DIR", self.persist)
            .env("SNMPCONFPATH", self.persist)
            .output()
            .unwrap_or_else(|error| panic!("cannot run {tool}: {error}"));
        ToolOutput {
            success: output.status.success(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Like `run`, but the tool must succeed.
    pub fn pairs(&self, tool: &str, options: &[&str], oids: &[&str]) -> Vec<(String, String)> {
        let output = self.run(tool, options, oids);
        assert!(
            output.success,
            "{tool} {options:?} {oids:?} failed: {}",
            output.stderr
        );
        output.pairs()
    }
}
