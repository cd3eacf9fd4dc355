//! SSH login through a real `ssh-agent`. A test binary of its own: it sets `SSH_AUTH_SOCK` for
//! the whole process, which must not race with other tests.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::sshd::{keygen, Sshd, SshdOptions, TEST_USER};
use ispmonitor::config::load_str;
use ispmonitor::poller::job::new_poller;
use ispmonitor::poller::{FailureReason, Protocol};

/// A running `ssh-agent -D` on a socket in `dir`, killed by PID on drop.
struct Agent {
    child: Child,
    socket: std::path::PathBuf,
}

impl Agent {
    fn start(dir: &Path) -> Agent {
        let socket = dir.join("agent.sock");
        let child = Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&socket)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start ssh-agent (package openssh-client)");
        let deadline = Instant::now() + Duration::from_secs(5);
        while !socket.exists() {
            assert!(
                Instant::now() < deadline,
                "ssh-agent did not create its socket"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Agent { child, socket }
    }

    fn ssh_add(&self, args: &[&str]) {
        let status = Command::new("ssh-add")
            .args(args)
            .env("SSH_AUTH_SOCK", &self.socket)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("run ssh-add");
        assert!(status.success(), "ssh-add {args:?} failed");
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn agent_keys_log_in_and_an_empty_agent_is_auth() {
    let sshd = Sshd::start(SshdOptions::default());
    let key = keygen(sshd.dir(), "id_agent", "ed25519", "");
    sshd.authorize(&key);
    let agent = Agent::start(sshd.dir());
    agent.ssh_add(&[key.to_str().expect("utf-8 path")]);
    // The only test of this binary: nothing else reads the environment concurrently.
    std::env::set_var("SSH_AUTH_SOCK", &agent.socket);
    let yaml = format!(
        "credentials:\n  c: {{type: ssh, username: {TEST_USER}, agent: true, host_key: \"{}\"}}\n\
         targets:\n  - {{name: web-1, address: \"127.0.0.1:{}\", kind: server, modules: [linux], credential: c}}\n",
        sshd.host_key(),
        sshd.port
    );
    let config = load_str(&yaml, sshd.dir()).expect("valid");
    let target = config.targets[0].clone();
    let mut poller = new_poller(&target, Protocol::Ssh, &config.global).expect("poller");
    let outcome = poller.poll().await;
    assert_eq!(outcome.result, Ok(()), "{}", sshd.log());
    assert!(!outcome.families.is_empty());

    agent.ssh_add(&["-D"]);
    let mut fresh = new_poller(&target, Protocol::Ssh, &config.global).expect("poller");
    assert_eq!(fresh.poll().await.result, Err(FailureReason::Auth));
}
