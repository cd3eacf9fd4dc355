//! One SSH connection to a server: TCP connect, handshake with host-key verification, login,
//! each under the poll's deadline (the backoff between failed attempts is in poller/backoff.rs).

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use russh::client::{self, Handle};
use russh::keys::{Algorithm, PrivateKey, PrivateKeyWithHashAlg};
use tokio::net::TcpStream;
use tokio::time::{timeout_at, Instant};

use super::error::{SshError, Stage};
use super::host_key::{known_algorithms, known_hosts_name, verify, Verdict};
use crate::config::{HostKeyPolicy, SshAuth, SshCredential};

/// Where and as whom to connect.
#[derive(Debug, Clone)]
pub struct ConnectSettings {
    pub target_name: String,
    pub host: String,
    pub port: u16,
    pub credential: SshCredential,
}

/// An authenticated connection; dropping it closes it.
pub struct Connection {
    pub handle: Handle<HostKeyChecker>,
}

/// The russh client handler: it only verifies the server's host key.
pub struct HostKeyChecker {
    policy: HostKeyPolicy,
    /// `host` or `[host]:port`, as known_hosts writes it.
    name: String,
    target_name: String,
}

/// A handshake failure: either russh's own or our refusal of the host key.
#[derive(Debug)]
pub enum HandshakeError {
    Ssh(russh::Error),
    Refused(SshError),
}

impl From<russh::Error> for HandshakeError {
    fn from(error: russh::Error) -> Self {
        HandshakeError::Ssh(error)
    }
}

impl client::Handler for HostKeyChecker {
    type Error = HandshakeError;

    async fn check_server_key(
        &mut self,
        key: &russh::keys::PublicKey,
    ) -> Result<bool, Self::Error> {
        match verify(&self.policy, &self.name, key) {
            Ok(Verdict::Trusted) => Ok(true),
            Ok(Verdict::Learned) => {
                tracing::info!(
                    target_name = %self.target_name,
                    algorithm = %key.algorithm(),
                    "ssh host key was unknown and is now remembered (accept_new_host_keys)"
                );
                Ok(true)
            }
            Ok(Verdict::Mismatch) => Err(HandshakeError::Refused(SshError::HostKeyMismatch)),
            Ok(Verdict::Unknown) => Err(HandshakeError::Refused(SshError::HostKeyUnknown)),
            Err(super::host_key::HostKeyError::File(kind)) => {
                Err(HandshakeError::Refused(SshError::KnownHostsFile(kind)))
            }
        }
    }
}

/// Connects, verifies the host key and logs in, all before `deadline`.
pub async fn connect(
    settings: &ConnectSettings,
    key: Option<Arc<PrivateKey>>,
    deadline: Instant,
) -> Result<Connection, SshError> {
    let stream = tcp_connect(&settings.host, settings.port, deadline).await?;
    let name = known_hosts_name(&settings.host, settings.port);
    let checker = HostKeyChecker {
        policy: settings.credential.host_key.clone(),
        name: name.clone(),
        target_name: settings.target_name.clone(),
    };
    let config = Arc::new(client_config(&settings.credential.host_key, &name));
    let handshake = client::connect_stream(config, stream, checker);
    let mut handle = match timeout_at(deadline, handshake).await {
        Err(_) => return Err(SshError::Timeout(Stage::Handshake)),
        Ok(Err(HandshakeError::Refused(error))) => return Err(error),
        Ok(Err(HandshakeError::Ssh(error))) => return Err(from_russh(error)),
        Ok(Ok(handle)) => handle,
    };
    let login = authenticate(&mut handle, &settings.credential, key);
    match timeout_at(deadline, login).await {
        Err(_) => Err(SshError::Timeout(Stage::Auth)),
        Ok(Err(error)) => Err(error),
        Ok(Ok(())) => Ok(Connection { handle }),
    }
}

/// Resolves with tokio (never the blocking resolver) and tries each address in turn.
async fn tcp_connect(host: &str, port: u16, deadline: Instant) -> Result<TcpStream, SshError> {
    let addresses = match timeout_at(deadline, tokio::net::lookup_host((host, port))).await {
        Err(_) => return Err(SshError::Timeout(Stage::Connect)),
        Ok(Err(_)) => return Err(SshError::Resolve),
        Ok(Ok(addresses)) => addresses,
    };
    let mut last = SshError::Resolve;
    for address in addresses {
        match timeout_at(deadline, TcpStream::connect(address)).await {
            Err(_) => return Err(SshError::Timeout(Stage::Connect)),
            Ok(Ok(stream)) => {
                // Small request/response exchanges: Nagle would only add latency.
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Ok(Err(error)) => last = SshError::Unreachable(error.kind()),
        }
    }
    Err(last)
}

/// russh settings: a small window so a flooding server is throttled by TCP rather than
/// buffered by us, keepalives so a silently dead connection is noticed between polls, and the
/// host-key algorithms already known for this host asked for first.
fn client_config(policy: &HostKeyPolicy, name: &str) -> client::Config {
    let mut config = client::Config {
        window_size: 256 * 1024,
        channel_buffer_size: 16,
        keepalive_interval: Some(Duration::from_secs(30)),
        keepalive_max: 3,
        nodelay: true,
        ..Default::default()
    };
    let known = match policy {
        HostKeyPolicy::Pinned(key) => russh::keys::PublicKey::from_openssh(key)
            .map(|k| vec![k.algorithm()])
            .unwrap_or_default(),
        HostKeyPolicy::KnownHosts { file, .. } => std::fs::read_to_string(file)
            .map(|text| known_algorithms(&text, name))
            .unwrap_or_default(),
    };
    if !known.is_empty() {
        let mut preferred: Vec<Algorithm> = known
            .iter()
            .flat_map(|algorithm| expand_rsa(algorithm.clone()))
            .collect();
        for algorithm in config.preferred.key.iter() {
            if !preferred.contains(algorithm) {
                preferred.push(algorithm.clone());
            }
        }
        config.preferred.key = Cow::Owned(preferred);
    }
    config
}

/// An `ssh-rsa` key is offered by servers as rsa-sha2-512/256 signatures: ask for those.
fn expand_rsa(algorithm: Algorithm) -> Vec<Algorithm> {
    use russh::keys::HashAlg;
    if matches!(algorithm, Algorithm::Rsa { .. }) {
        vec![
            Algorithm::Rsa {
                hash: Some(HashAlg::Sha512),
            },
            Algorithm::Rsa {
                hash: Some(HashAlg::Sha256),
            },
            algorithm,
        ]
    } else {
        vec![algorithm]
    }
}

async fn authenticate(
    handle: &mut Handle<HostKeyChecker>,
    credential: &SshCredential,
    key: Option<Arc<PrivateKey>>,
) -> Result<(), SshError> {
    let user = credential.username.clone();
    let accepted = match &credential.auth {
        SshAuth::Password(password) => handle
            .authenticate_password(user, password.expose())
            .await
            .map_err(from_russh)?
            .success(),
        SshAuth::PrivateKey { .. } => {
            let key = key.ok_or(SshError::AuthSetup("the private key cannot be decoded"))?;
            let hash = if key.algorithm().is_rsa() {
                handle
                    .best_supported_rsa_hash()
                    .await
                    .map_err(from_russh)?
                    .flatten()
            } else {
                None
            };
            let key = PrivateKeyWithHashAlg::new(key, hash);
            handle
                .authenticate_publickey(user, key)
                .await
                .map_err(from_russh)?
                .success()
        }
        SshAuth::Agent => authenticate_with_agent(handle, &user).await?,
    };
    if accepted {
        Ok(())
    } else {
        Err(SshError::AuthRefused)
    }
}

/// Offers each identity of the agent at `SSH_AUTH_SOCK` until one is accepted.
async fn authenticate_with_agent(
    handle: &mut Handle<HostKeyChecker>,
    user: &str,
) -> Result<bool, SshError> {
    use russh::keys::agent::client::AgentClient;
    use russh::keys::agent::AgentIdentity;
    let mut agent = AgentClient::connect_env()
        .await
        .map_err(|_| SshError::AuthSetup("no ssh-agent at SSH_AUTH_SOCK"))?;
    let identities = agent
        .request_identities()
        .await
        .map_err(|_| SshError::AuthSetup("the ssh-agent did not list its keys"))?;
    for identity in identities {
        let AgentIdentity::PublicKey { key, .. } = identity else {
            continue;
        };
        let hash = if key.algorithm().is_rsa() {
            handle
                .best_supported_rsa_hash()
                .await
                .map_err(from_russh)?
                .flatten()
        } else {
            None
        };
        let result = handle
            .authenticate_publickey_with(user, key, hash, &mut agent)
            .await
            .map_err(|_| SshError::AuthSetup("the ssh-agent refused to sign"))?;
        if result.success() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// russh's errors: lost transport is `ConnectionLost`, everything else a protocol error. The
/// text is russh's own (no secrets pass through it).
pub fn from_russh(error: russh::Error) -> SshError {
    match error {
        russh::Error::IO(_)
        | russh::Error::Disconnect
        | russh::Error::SendError
        | russh::Error::HUP
        | russh::Error::KeepaliveTimeout
        | russh::Error::InactivityTimeout => SshError::ConnectionLost,
        other => SshError::Protocol(other.to_string()),
    }
}
