//! Serving the API: one listener per MikroTik device (plain, and API-SSL when a certificate is
//! given), one task per connection with its login state, commands answered in order.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufWriter};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::config::Secret;
use crate::poller::routeros::word::{encode_reply, encode_sentence, take_sentence, Command};
use crate::simulator::device::Device;
use crate::simulator::fleet::Layout;
use crate::simulator::mib::Reaction;
use crate::simulator::service::SimClock;

use super::faults::FaultState;
use super::model::ApiModel;
use super::respond::{respond, trap, Router, Sentences};
use super::stats::ApiStats;

/// The plain API port of a real router.
pub const DEFAULT_PORT: u16 = 8728;
/// The API-SSL port of a real router.
pub const DEFAULT_TLS_PORT: u16 = 8729;

/// The message of a command a fault makes fail: what a router whose health sensors hang says.
pub const FAULT_TRAP_MESSAGE: &str = "action timed out - try again, if error continues contact MikroTik support and send a supout file (13)";
const LOGIN_FAILED: &str = "invalid user name or password (6)";
const NOT_LOGGED_IN: &str = "not logged in";
/// A TLS client that has not finished its handshake by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How the API side of a fleet is served.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    pub username: String,
    pub password: Secret,
    /// 0: a free port per device.
    pub port: u16,
    pub tls_port: u16,
    /// API-SSL's certificate and key, when API-SSL is served.
    pub tls: Option<Arc<ServerConfig>>,
    /// Ports count up per device (from `port`) when devices share one address.
    pub layout: Layout,
}

/// Why the API cannot be served; the message names the flag to change.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("--routeros-tls-cert: cannot read a PEM certificate from {path}: {reason}")]
    Certificate { path: String, reason: String },
    #[error("--routeros-tls-key: cannot read a PEM private key from {path}: {reason}")]
    Key { path: String, reason: String },
    #[error("--routeros-tls-key: unusable with the certificate of --routeros-tls-cert: {0}")]
    Mismatch(String),
    #[error("cannot listen on {addr} for the RouterOS API (--routeros-port / --routeros-tls-port): {error}")]
    Bind {
        addr: SocketAddr,
        error: std::io::Error,
    },
    #[error("--routeros-port / --routeros-tls-port + device number is past port 65535")]
    PastLastPort,
}

/// The rustls server config of API-SSL, on the ring provider like `--web.config.file`.
pub fn tls_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, ApiError> {
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| ApiError::Certificate {
            path: cert.display().to_string(),
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(ApiError::Certificate {
            path: cert.display().to_string(),
            reason: "no certificate in the file".to_string(),
        });
    }
    // The error names the file, never the key's bytes.
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| ApiError::Key {
        path: key.display().to_string(),
        reason: e.to_string(),
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ApiError::Mismatch(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| ApiError::Mismatch(e.to_string()))?;
    Ok(Arc::new(config))
}

/// One MikroTik device as the API serves it.
pub struct ApiDevice {
    pub index: u32,
    pub device: Arc<Device>,
    pub model: ApiModel,
}

/// Where one device's API answers.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ApiEndpoint {
    pub device: u32,
    pub name: String,
    pub address: SocketAddr,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_address: Option<SocketAddr>,
}

/// What every connection task shares.
pub struct ApiShared {
    pub settings: ApiSettings,
    pub faults: Arc<FaultState>,
    pub stats: Arc<ApiStats>,
    pub clock: SimClock,
}

/// Bound listeners, not yet serving.
pub struct ApiServer {
    shared: Arc<ApiShared>,
    listeners: Vec<(TcpListener, bool, Arc<ApiDevice>)>,
    endpoints: Vec<ApiEndpoint>,
}

fn port_for(base: u16, layout: Layout, index: u32) -> Result<u16, ApiError> {
    match (layout, base) {
        (Layout::Ports, base) if base != 0 => {
            u16::try_from(u32::from(base) + index).map_err(|_| ApiError::PastLastPort)
        }
        _ => Ok(base),
    }
}

async fn listen(ip: IpAddr, port: u16) -> Result<TcpListener, ApiError> {
    let addr = SocketAddr::new(ip, port);
    TcpListener::bind(addr)
        .await
        .map_err(|error| ApiError::Bind { addr, error })
}

/// Raises the open-file limit to the hard limit for a fleet with many API listeners (the SNMP
/// agent only raised it for its own sockets).
fn make_room_for(listeners: usize) {
    if listeners > 64 {
        if let Err(error) = crate::file_limit::raise_to_hard() {
            tracing::debug!("cannot raise the open-file limit for the API listeners: {error}");
        }
    }
}

impl ApiServer {
    /// Binds every device's listeners on its SNMP address `ip` (plain, then TLS when set).
    pub async fn bind(
        devices: Vec<(Arc<ApiDevice>, IpAddr)>,
        shared: Arc<ApiShared>,
    ) -> Result<ApiServer, ApiError> {
        let settings = &shared.settings;
        make_room_for(devices.len() * (1 + usize::from(settings.tls.is_some())));
        let mut listeners = Vec::new();
        let mut endpoints = Vec::new();
        for (device, ip) in devices {
            let plain = listen(ip, port_for(settings.port, settings.layout, device.index)?).await?;
            let address = local(&plain)?;
            listeners.push((plain, false, device.clone()));
            let mut tls_address = None;
            if settings.tls.is_some() {
                let port = port_for(settings.tls_port, settings.layout, device.index)?;
                let tls = listen(ip, port).await?;
                tls_address = Some(local(&tls)?);
                listeners.push((tls, true, device.clone()));
            }
            endpoints.push(ApiEndpoint {
                device: device.index,
                name: device.device.identity().sys_name.clone(),
                address,
                tls_address,
            });
        }
        Ok(ApiServer {
            shared,
            listeners,
            endpoints,
        })
    }

    pub fn endpoints(&self) -> Vec<ApiEndpoint> {
        self.endpoints.clone()
    }

    /// Accepts on every listener until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        let acceptor = self.shared.settings.tls.clone().map(TlsAcceptor::from);
        let mut tasks = tokio::task::JoinSet::new();
        for (listener, tls, device) in self.listeners {
            let serving = Serving {
                device,
                tls: if tls { acceptor.clone() } else { None },
                shared: self.shared.clone(),
            };
            tasks.spawn(accept_loop(listener, serving, shutdown.clone()));
        }
        while tasks.join_next().await.is_some() {}
    }
}

fn local(listener: &TcpListener) -> Result<SocketAddr, ApiError> {
    listener.local_addr().map_err(|error| ApiError::Bind {
        addr: SocketAddr::from(([0, 0, 0, 0], 0)),
        error,
    })
}

/// What a listener's connections are served with.
#[derive(Clone)]
struct Serving {
    device: Arc<ApiDevice>,
    /// API-SSL: the handshake comes first.
    tls: Option<TlsAcceptor>,
    shared: Arc<ApiShared>,
}

async fn accept_loop(listener: TcpListener, serving: Serving, shutdown: CancellationToken) {
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(error) => {
                // Out of descriptors, most likely: wait rather than spin.
                tracing::warn!("RouterOS API accept failed: {error}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        ApiStats::count(&serving.shared.stats.connections);
        let _ = stream.set_nodelay(true);
        tokio::spawn(handle(stream, serving.clone(), shutdown.clone()));
    }
}

async fn handle(stream: TcpStream, serving: Serving, shutdown: CancellationToken) {
    let Serving {
        device,
        tls,
        shared,
    } = serving;
    let Some(acceptor) = tls else {
        return Connection::new(device, shared)
            .serve(stream, shutdown)
            .await;
    };
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(stream)) => {
            Connection::new(device, shared)
                .serve(stream, shutdown)
                .await
        }
        Ok(Err(error)) => {
            ApiStats::count(&shared.stats.tls_handshake_failures);
            tracing::debug!("RouterOS API-SSL handshake failed: {error}");
        }
        Err(_) => ApiStats::count(&shared.stats.tls_handshake_failures),
    }
}

/// What one connection does with the next command.
enum Step {
    Reply(Sentences),
    /// Write these bytes, then close (`/quit`, a cut reply).
    Close(Vec<u8>),
    /// Say nothing.
    Silence,
}

/// One client connection and its login state.
struct Connection {
    device: Arc<ApiDevice>,
    shared: Arc<ApiShared>,
    logged_in: bool,
    /// Simulated time the connection was opened: a reboot after it ends the connection.
    opened: f64,
}

impl Connection {
    fn new(device: Arc<ApiDevice>, shared: Arc<ApiShared>) -> Connection {
        let opened = shared.clock.now().as_secs_f64();
        Connection {
            device,
            shared,
            logged_in: false,
            opened,
        }
    }

    async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
        mut self,
        stream: S,
        shutdown: CancellationToken,
    ) {
        let (mut reader, writer) = tokio::io::split(stream);
        let mut writer = BufWriter::new(writer);
        let mut buffer = Vec::with_capacity(1024);
        let mut chunk = vec![0u8; 8192];
        loop {
            let words = match take_sentence(&mut buffer) {
                Ok(Some(words)) => words,
                Ok(None) => {
                    let read = tokio::select! {
                        _ = shutdown.cancelled() => return,
                        read = reader.read(&mut chunk) => read,
                    };
                    match read {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            ApiStats::add(&self.shared.stats.bytes_received, n);
                            buffer.extend_from_slice(&chunk[..n]);
                        }
                    }
                    continue;
                }
                Err(error) => {
                    tracing::debug!("RouterOS API client sent {error}; closing");
                    return;
                }
            };
            if words.is_empty() {
                continue;
            }
            let step = tokio::select! {
                _ = shutdown.cancelled() => return,
                step = self.step(&words) => step,
            };
            let written = match step {
                Some(Step::Reply(sentences)) => {
                    write_all(&mut writer, sentences, &self.shared.stats).await
                }
                Some(Step::Close(bytes)) => {
                    self.shared.stats.count_sent(&bytes);
                    let _ = writer.write_all(&bytes).await;
                    let _ = writer.flush().await;
                    let _ = writer.shutdown().await;
                    return;
                }
                Some(Step::Silence) => Ok(()),
                // The router rebooted under the connection.
                None => return,
            };
            if written.is_err() {
                return;
            }
        }
    }

    /// The answer to one command sentence, after the scenario's delay; `None`: drop the
    /// connection.
    async fn step(&mut self, words: &[Vec<u8>]) -> Option<Step> {
        let stats = self.shared.stats.clone();
        let now = self.shared.clock.now();
        if self
            .device
            .device
            .last_boot(now)
            .is_some_and(|boot| boot > self.opened)
        {
            return None;
        }
        match self.device.device.api_reaction(now) {
            Reaction::Drop => {
                ApiStats::count(&stats.dropped);
                return Some(Step::Silence);
            }
            Reaction::Delay(delay) => tokio::time::sleep(delay).await,
            Reaction::Answer => {}
        }
        ApiStats::count(&stats.commands);
        let Some(command) = Command::parse(words) else {
            ApiStats::count(&stats.traps);
            return Some(Step::Reply(Box::new(
                trap("no such command", None).into_iter(),
            )));
        };
        let tag = command.tag.as_deref();
        let faults = self.shared.faults.current();
        let faulty = faults.covers(self.device.index);
        let sentences: Sentences = match command.path.as_str() {
            "/login" => self.login(&command, faulty && faults.reject_logins),
            "/quit" => {
                let fatal = encode_sentence(&["!fatal", "session terminated on request"]);
                return Some(Step::Close(fatal));
            }
            _ if !self.logged_in => {
                ApiStats::count(&stats.traps);
                Box::new(trap(NOT_LOGGED_IN, tag).into_iter())
            }
            path if faulty && faults.traps(path) => {
                ApiStats::count(&stats.traps);
                Box::new(trap(FAULT_TRAP_MESSAGE, tag).into_iter())
            }
            _ => {
                let router = Router {
                    identity: self.device.device.identity(),
                    model: &self.device.model,
                    view: self.device.device.api_view(self.shared.clock.now()),
                    uptime_format: if faulty {
                        faults.uptime_format
                    } else {
                        Default::default()
                    },
                };
                respond(&command, &router)
            }
        };
        if faulty && faults.cut_mid_reply && self.logged_in && command.path != "/login" {
            ApiStats::count(&stats.cut_replies);
            return Some(Step::Close(half_of_first(sentences)));
        }
        Some(Step::Reply(sentences))
    }

    fn login(&mut self, command: &Command, refuse: bool) -> Sentences {
        let tag = command.tag.as_deref();
        let settings = &self.shared.settings;
        let accepted = !refuse
            && command.get("name") == Some(settings.username.as_str())
            && command.get("password") == Some(settings.password.expose());
        if accepted {
            self.logged_in = true;
            ApiStats::count(&self.shared.stats.logins);
            return Box::new(std::iter::once(encode_reply("!done", &[], tag)));
        }
        ApiStats::count(&self.shared.stats.login_failures);
        ApiStats::count(&self.shared.stats.traps);
        Box::new(trap(LOGIN_FAILED, tag).into_iter())
    }
}

/// The first half of the first sentence of a reply (at least one byte).
fn half_of_first(mut sentences: Sentences) -> Vec<u8> {
    let first = sentences.next().unwrap_or_default();
    first[..first.len().div_ceil(2)].to_vec()
}

async fn write_all<W: AsyncWrite + Unpin>(
    writer: &mut BufWriter<W>,
    sentences: Sentences,
    stats: &ApiStats,
) -> std::io::Result<()> {
    for sentence in sentences {
        stats.count_sent(&sentence);
        writer.write_all(&sentence).await?;
    }
    writer.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_count_up_only_when_devices_share_an_address() {
        assert_eq!(port_for(8728, Layout::Addresses, 7).unwrap(), 8728);
        assert_eq!(port_for(8728, Layout::Ports, 7).unwrap(), 8735);
        assert_eq!(port_for(0, Layout::Ports, 7).unwrap(), 0);
        assert!(port_for(65_530, Layout::Ports, 6).is_err());
    }

    #[test]
    fn a_cut_reply_is_a_strict_prefix_of_its_first_sentence() {
        let sentence = encode_reply("!done", &[("ret", "1234")], Some("7"));
        let cut = half_of_first(Box::new(vec![sentence.clone()].into_iter()));
        assert!(!cut.is_empty() && cut.len() < sentence.len());
        assert!(sentence.starts_with(&cut));
        let mut partial = cut.clone();
        assert_eq!(take_sentence(&mut partial).unwrap(), None);
    }

    #[test]
    fn unreadable_tls_files_name_their_flag() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.pem");
        let message = tls_config(&missing, &missing).unwrap_err().to_string();
        assert!(message.starts_with("--routeros-tls-cert:"), "{message}");
    }
}
