//! A real OpenSSH `sshd` on a free loopback port with its own host key, authorized_keys and
//! options, in a fresh temp dir; killed (with its session processes) by PID when dropped.
//! Logins use the local account `ispmon-test` that scripts/install-peers.sh creates.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const SSHD: &str = "/usr/sbin/sshd";
pub const TEST_USER: &str = "ispmon-test";
/// Set by scripts/install-peers.sh (`chpasswd`); fixed so parallel tests need no setup.
pub const TEST_PASSWORD: &str = "ispmon-Test-pw-4417";

/// Options of one sshd instance.
#[derive(Debug, Clone, Default)]
pub struct SshdOptions {
    /// `ForceCommand` for every login (e.g. a command printing 100 MB).
    pub force_command: Option<String>,
    /// Listen on this port instead of a free one (to restart "the same" server).
    pub port: Option<u16>,
}

/// A running sshd.
pub struct Sshd {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
    options: SshdOptions,
}

fn require_peers() {
    let context = if std::env::var_os("CI").is_some() {
        " (CI)"
    } else {
        ""
    };
    assert!(
        Path::new(SSHD).exists(),
        "{SSHD} is missing{context}: the SSH tests need a real OpenSSH server. \
         Run scripts/install-peers.sh (apt package openssh-server)."
    );
    let user = Command::new("id").arg(TEST_USER).output().expect("run id");
    assert!(
        user.status.success(),
        "user {TEST_USER} is missing{context}: run scripts/install-peers.sh"
    );
}

/// Runs `ssh-keygen` to make a key pair `dir/name` (and `.pub`); returns the private key path.
pub fn keygen(dir: &Path, name: &str, key_type: &str, passphrase: &str) -> PathBuf {
    let path = dir.join(name);
    let mut command = Command::new("ssh-keygen");
    command
        .args([
            "-q",
            "-t",
            key_type,
            "-N",
            passphrase,
            "-C",
            "ispmonitor-test",
            "-f",
        ])
        .arg(&path);
    if key_type == "rsa" {
        command.args(["-b", "2048"]);
    }
    let status = command
        .stdin(Stdio::null())
        .status()
        .expect("run ssh-keygen");
    assert!(status.success(), "ssh-keygen failed for {name}");
    path
}

/// The `.pub` line of a key made by `keygen`.
pub fn public_key(private: &Path) -> String {
    let path = PathBuf::from(format!("{}.pub", private.display()));
    std::fs::read_to_string(&path)
        .expect("public key")
        .trim()
        .to_string()
}

/// `algorithm base64` of a public key line (comment dropped).
pub fn key_only(line: &str) -> String {
    line.split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

impl Sshd {
    pub fn start(options: SshdOptions) -> Sshd {
        require_peers();
        std::fs::create_dir_all("/run/sshd").expect("create /run/sshd");
        let dir = tempfile::tempdir().expect("tempdir");
        // sshd reads authorized_keys as the logged-in user: the dir must be traversable.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod temp dir");
        keygen(dir.path(), "ssh_host_ed25519_key", "ed25519", "");
        let authorized = dir.path().join("authorized_keys");
        std::fs::write(&authorized, "").expect("authorized_keys");
        std::fs::set_permissions(&authorized, std::fs::Permissions::from_mode(0o644))
            .expect("chmod authorized_keys");
        let port = options
            .port
            .unwrap_or_else(super::ispmonitor::free_tcp_port);
        let mut sshd = Sshd {
            port,
            dir,
            child: None,
            options,
        };
        sshd.write_config();
        sshd.launch();
        sshd
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `algorithm base64` of the server's host key.
    pub fn host_key(&self) -> String {
        key_only(&public_key(&self.dir().join("ssh_host_ed25519_key")))
    }

    /// A known_hosts line for this server, as `ssh-keyscan` would write it.
    pub fn known_hosts_line(&self) -> String {
        format!("[127.0.0.1]:{} {}", self.port, self.host_key())
    }

    /// Lets the key (its `.pub` next to it) log in as the test user.
    pub fn authorize(&self, private_key: &Path) {
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(self.dir().join("authorized_keys"))
            .expect("open authorized_keys");
        writeln!(file, "{}", public_key(private_key)).expect("append authorized key");
    }

    /// Replaces the host key (the server "changes identity"); takes effect on restart.
    pub fn new_host_key(&self) {
        let key = self.dir().join("ssh_host_ed25519_key");
        let _ = std::fs::remove_file(&key);
        let _ = std::fs::remove_file(self.dir().join("ssh_host_ed25519_key.pub"));
        keygen(self.dir(), "ssh_host_ed25519_key", "ed25519", "");
    }

    fn write_config(&self) {
        let dir = self.dir().display();
        let mut config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {dir}/ssh_host_ed25519_key\n\
             PidFile {dir}/sshd.pid\nAuthorizedKeysFile {dir}/authorized_keys\nStrictModes no\n\
             UsePAM no\nPasswordAuthentication yes\nKbdInteractiveAuthentication no\n\
             PubkeyAuthentication yes\nPermitRootLogin no\nAllowUsers {TEST_USER}\n\
             MaxSessions 50\nMaxStartups 200:30:400\nLogLevel VERBOSE\n",
            port = self.port
        );
        if let Some(command) = &self.options.force_command {
            config.push_str(&format!("ForceCommand {command}\n"));
        }
        std::fs::write(self.dir().join("sshd_config"), config).expect("write sshd_config");
        let check = Command::new(SSHD)
            .args(["-t", "-f"])
            .arg(self.dir().join("sshd_config"))
            .output()
            .expect("run sshd -t");
        assert!(
            check.status.success(),
            "sshd -t refused the config: {}",
            String::from_utf8_lossy(&check.stderr)
        );
    }

    fn launch(&mut self) {
        let child = Command::new(SSHD)
            .arg("-D")
            .arg("-f")
            .arg(self.dir().join("sshd_config"))
            .arg("-E")
            .arg(self.dir().join("sshd.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start sshd");
        self.child = Some(child);
        self.wait_for_banner();
    }

    /// Waits until the server greets with its SSH version line.
    fn wait_for_banner(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                let mut banner = [0u8; 7];
                if stream.read_exact(&mut banner).is_ok() && &banner == b"SSH-2.0" {
                    return;
                }
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!("sshd exited with {status}: {}", self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("sshd did not answer on port {}: {}", self.port, self.log());
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir().join("sshd.log")).unwrap_or_default()
    }

    /// Kills the server and every session process it forked (so open connections die too,
    /// as when a machine goes down), by PID.
    pub fn kill(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let mut pids = descendants(child.id());
        pids.reverse();
        for pid in pids {
            // A session process may already be gone with its parent: ignore that.
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .stderr(Stdio::null())
                .status();
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Sends `signal` (`STOP`, `CONT`...) to the server and every session process it forked,
    /// by PID: `STOP` leaves the connections open but silent, like a hung machine.
    pub fn signal_all(&self, signal: &str) {
        let Some(child) = self.child.as_ref() else {
            return;
        };
        let mut pids = vec![child.id()];
        pids.extend(descendants(child.id()));
        for pid in pids {
            let _ = Command::new("kill")
                .args([&format!("-{signal}"), &pid.to_string()])
                .stderr(Stdio::null())
                .status();
        }
    }

    /// Starts the server again on the same port with the same files.
    pub fn restart(&mut self) {
        self.kill();
        self.write_config();
        self.launch();
    }
}

/// Every process below `pid` (children first, then theirs), from /proc.
fn descendants(pid: u32) -> Vec<u32> {
    let children_file = format!("/proc/{pid}/task/{pid}/children");
    let children: Vec<u32> = std::fs::read_to_string(children_file)
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect();
    let mut all = Vec::new();
    for child in children {
        all.push(child);
        all.extend(descendants(child));
    }
    all
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.kill();
    }
}
