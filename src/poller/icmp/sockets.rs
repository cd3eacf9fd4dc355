//! The process-wide ICMP sockets: one per (IP version, source address), shared by every target.
//!
//! Each is a surge-ping `Client` (one socket and one receive task), created on first use.
//! Unprivileged DGRAM ICMP is tried first; when the kernel refuses it (the process's group is
//! outside `net.ipv4.ping_group_range`, which also governs ICMPv6) a RAW socket is used, and the
//! reason is logged once. When both are refused, probes of that family fail with `unreachable`
//! and `ispmonitor_icmp_socket_info{mode="unavailable"}` says why; creation is retried on the
//! next poll, so fixing the sysctl or the capability needs no restart.

use std::collections::BTreeMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, LazyLock, Mutex};

use socket2::{Domain, Protocol, Socket, Type};
use surge_ping::{Client, Config, ICMP};

use super::IpVersion;

/// How a socket talks ICMP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SocketMode {
    /// `SOCK_DGRAM` + `IPPROTO_ICMP`: unprivileged; the kernel sets the identifier and only
    /// hands us replies to our own requests (ICMP errors are not delivered).
    Dgram,
    /// `SOCK_RAW`: needs root or CAP_NET_RAW; receives every ICMP message of the host, errors
    /// included, so replies are classified (classify.rs).
    Raw,
    /// Neither kind could be opened.
    Unavailable,
}

impl SocketMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SocketMode::Dgram => "dgram",
            SocketMode::Raw => "raw",
            SocketMode::Unavailable => "unavailable",
        }
    }
}

/// Which socket a probe needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct SocketKey {
    pub version: IpVersion,
    /// The module's `source_address`, bound on the socket; `None` lets the kernel choose.
    pub source: Option<IpAddr>,
}

/// One shared socket.
pub struct SharedSocket {
    pub client: Client,
    pub mode: SocketMode,
    /// Sequence numbers are drawn from one counter per socket, so two targets with the same
    /// address never wait for the same (address, sequence): on DGRAM sockets the identifier
    /// cannot tell them apart.
    next_sequence: AtomicU16,
}

impl SharedSocket {
    pub fn next_sequence(&self) -> u16 {
        self.next_sequence.fetch_add(1, Ordering::Relaxed)
    }
}

/// Why no socket could be opened.
#[derive(Debug, thiserror::Error)]
#[error("cannot open an ICMP socket (DGRAM: {dgram}; RAW: {raw})")]
pub struct SocketError {
    dgram: io::Error,
    raw: io::Error,
}

enum Slot {
    Open(Arc<SharedSocket>),
    /// Creation failed; the error was logged. Retried on the next request.
    Failed,
}

/// The sockets of this process. `IcmpSockets::global()` in production; tests may make their own.
#[derive(Default)]
pub struct IcmpSockets {
    slots: Mutex<BTreeMap<SocketKey, Slot>>,
}

static GLOBAL: LazyLock<IcmpSockets> = LazyLock::new(IcmpSockets::default);

impl IcmpSockets {
    /// The sockets every ICMP poller of the process shares.
    pub fn global() -> &'static IcmpSockets {
        &GLOBAL
    }

    /// The socket for `key`, opened on first use. Must run inside the tokio runtime (the
    /// client spawns its receive task).
    pub fn get(&self, key: SocketKey) -> Result<Arc<SharedSocket>, SocketError> {
        let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(Slot::Open(socket)) = slots.get(&key) {
            return Ok(socket.clone());
        }
        let first_failure = !matches!(slots.get(&key), Some(Slot::Failed));
        match open(key) {
            Ok(socket) => {
                let socket = Arc::new(socket);
                slots.insert(key, Slot::Open(socket.clone()));
                Ok(socket)
            }
            Err(error) => {
                if first_failure {
                    tracing::error!(
                        ip_version = key.version.as_str(),
                        "{error}; ICMP probes of this IP version fail with reason unreachable \
                         until a socket can be opened (run as root or with CAP_NET_RAW, or open \
                         net.ipv4.ping_group_range)"
                    );
                }
                slots.insert(key, Slot::Failed);
                Err(error)
            }
        }
    }

    /// (IP version, mode) of every socket tried so far, each pair once, for
    /// `ispmonitor_icmp_socket_info`.
    pub fn modes(&self) -> Vec<(IpVersion, SocketMode)> {
        let slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        let mut modes: Vec<(IpVersion, SocketMode)> = slots
            .iter()
            .map(|(key, slot)| match slot {
                Slot::Open(socket) => (key.version, socket.mode),
                Slot::Failed => (key.version, SocketMode::Unavailable),
            })
            .collect();
        modes.sort();
        modes.dedup();
        modes
    }
}

fn domain_and_protocol(version: IpVersion) -> (Domain, Protocol, ICMP) {
    match version {
        IpVersion::V4 => (Domain::IPV4, Protocol::ICMPV4, ICMP::V4),
        IpVersion::V6 => (Domain::IPV6, Protocol::ICMPV6, ICMP::V6),
    }
}

/// Opens a DGRAM socket, or a RAW one when DGRAM is refused (logging why, once per socket).
fn open(key: SocketKey) -> Result<SharedSocket, SocketError> {
    let (domain, protocol, _) = domain_and_protocol(key.version);
    // surge-ping falls back from DGRAM to RAW by itself but only logs the reason at debug, so
    // DGRAM is probed here first to learn, and log, why it is refused.
    let dgram_refused = Socket::new(domain, Type::DGRAM, Some(protocol)).err();
    let client = match &dgram_refused {
        None => client(key, Type::DGRAM),
        Some(reason) => {
            tracing::info!(
                ip_version = key.version.as_str(),
                "unprivileged ICMP (DGRAM) socket refused ({reason}); using a RAW socket. \
                 To use DGRAM, put the process's group inside net.ipv4.ping_group_range"
            );
            client(key, Type::RAW)
        }
    };
    let client = client.map_err(|raw| SocketError {
        dgram: dgram_refused.unwrap_or_else(|| io::Error::other("opened, then refused")),
        raw,
    })?;
    let mode = if client.get_socket().get_type() == Type::DGRAM {
        SocketMode::Dgram
    } else {
        SocketMode::Raw
    };
    tracing::info!(
        ip_version = key.version.as_str(),
        mode = mode.as_str(),
        source = ?key.source,
        "ICMP socket opened"
    );
    Ok(SharedSocket {
        client,
        mode,
        // A random start keeps two ispmonitor processes with RAW sockets (which see each
        // other's replies) from walking the same sequences.
        next_sequence: AtomicU16::new(rand::random()),
    })
}

fn client(key: SocketKey, kind: Type) -> io::Result<Client> {
    let (_, _, icmp) = domain_and_protocol(key.version);
    let mut config = Config::builder().kind(icmp).sock_type_hint(kind);
    if let Some(source) = key.source {
        config = config.bind(SocketAddr::new(source, 0));
    }
    Client::new(&config.build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_socket_per_key_is_shared() {
        let sockets = IcmpSockets::default();
        let key = SocketKey {
            version: IpVersion::V4,
            source: None,
        };
        let a = sockets.get(key).expect("tests run as root: RAW at least");
        let b = sockets.get(key).expect("same socket");
        assert!(Arc::ptr_eq(&a, &b));
        assert_ne!(a.mode, SocketMode::Unavailable);
        assert_eq!(sockets.modes(), vec![(IpVersion::V4, a.mode)]);
        let first = a.next_sequence();
        assert_eq!(b.next_sequence(), first.wrapping_add(1));
    }

    #[tokio::test]
    async fn a_source_address_gets_its_own_socket() {
        let sockets = IcmpSockets::default();
        let any = SocketKey {
            version: IpVersion::V4,
            source: None,
        };
        let loopback = SocketKey {
            version: IpVersion::V4,
            source: Some("127.0.0.1".parse().unwrap()),
        };
        let a = sockets.get(any).expect("socket");
        let b = sockets.get(loopback).expect("socket bound to 127.0.0.1");
        assert!(!Arc::ptr_eq(&a, &b));
        let bound = b.client.get_socket().local_addr().expect("local address");
        assert_eq!(bound.ip(), loopback.source.unwrap());
    }
}
