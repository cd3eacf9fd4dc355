//! The process-wide ICMP sockets: one per (IP version, source address), shared by every target.
//!
//! Each is opened on first use, with its own receive task (exchange.rs). Unprivileged DGRAM
//! ICMP is tried first; when the kernel refuses it (the process's group is outside
//! `net.ipv4.ping_group_range`, which also governs ICMPv6) a RAW socket is used, and the reason
//! is logged once. When both are refused, probes of that family fail with `unreachable` and
//! `ispmonitor_icmp_socket_info{mode="unavailable"}` says why; creation is retried on the next
//! poll, so fixing the sysctl or the capability needs no restart.
//!
//! A RAW socket receives every ICMP message of the host, including the echo requests and
//! replies of other pingers (fping, blackbox_exporter, another ispmonitor) and, on loopback,
//! our own requests. A classic BPF filter lets through only echo replies carrying this
//! socket's identifier and ICMP errors, so the receive task wakes up for our traffic alone.

use std::collections::BTreeMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::{Arc, LazyLock, Mutex};

use socket2::{Domain, Protocol, Socket, Type};

pub use super::exchange::SharedSocket;
use super::IpVersion;

/// How a socket talks ICMP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SocketMode {
    /// `SOCK_DGRAM` + `IPPROTO_ICMP`: unprivileged; the kernel sets the identifier and only
    /// hands us replies to our own requests (ICMP errors are not delivered).
    Dgram,
    /// `SOCK_RAW`: needs root or CAP_NET_RAW; receives ICMP errors too, so replies are
    /// classified (classify.rs).
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

    /// Answers that found no waiting request, per IP version of the open sockets, for
    /// `ispmonitor_icmp_unmatched_replies_total`.
    pub fn unmatched(&self) -> Vec<(IpVersion, u64)> {
        self.sum_by_version(SharedSocket::unmatched)
    }

    /// Requests the kernel refused to send, per IP version, for
    /// `ispmonitor_icmp_send_errors_total`.
    pub fn send_errors(&self) -> Vec<(IpVersion, u64)> {
        self.sum_by_version(SharedSocket::send_errors)
    }

    fn sum_by_version(&self, count: fn(&SharedSocket) -> u64) -> Vec<(IpVersion, u64)> {
        let slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        let mut totals: BTreeMap<IpVersion, u64> = BTreeMap::new();
        for (key, slot) in slots.iter() {
            if let Slot::Open(socket) = slot {
                *totals.entry(key.version).or_default() += count(socket);
            }
        }
        totals.into_iter().collect()
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

fn domain_and_protocol(version: IpVersion) -> (Domain, Protocol) {
    match version {
        IpVersion::V4 => (Domain::IPV4, Protocol::ICMPV4),
        IpVersion::V6 => (Domain::IPV6, Protocol::ICMPV6),
    }
}

/// Opens a DGRAM socket, or a RAW one when DGRAM is refused (logging why, once per socket).
fn open(key: SocketKey) -> Result<Arc<SharedSocket>, SocketError> {
    let (dgram, dgram_refused) = match configured(key, Type::DGRAM, 0) {
        Ok(socket) => (Some(socket), None),
        Err(reason) => (None, Some(reason)),
    };
    // RAW replies are told apart from other pingers' by this identifier; a random one keeps
    // two ispmonitor processes apart.
    let identifier: u16 = rand::random();
    let (socket, mode) = match (dgram, &dgram_refused) {
        (Some(socket), _) => (socket, SocketMode::Dgram),
        (None, reason) => {
            tracing::info!(
                ip_version = key.version.as_str(),
                "unprivileged ICMP (DGRAM) socket refused ({}); using a RAW socket. \
                 To use DGRAM, put the process's group inside net.ipv4.ping_group_range",
                reason.as_ref().map(ToString::to_string).unwrap_or_default()
            );
            let raw = configured(key, Type::RAW, identifier).map_err(|raw| SocketError {
                dgram: dgram_refused.unwrap_or_else(|| io::Error::other("refused")),
                raw,
            })?;
            (raw, SocketMode::Raw)
        }
    };
    let shared = SharedSocket::start(socket, mode, key.version, identifier).map_err(|error| {
        SocketError {
            dgram: io::Error::other("not tried"),
            raw: error,
        }
    })?;
    tracing::info!(
        ip_version = key.version.as_str(),
        mode = mode.as_str(),
        source = ?key.source,
        "ICMP socket opened"
    );
    Ok(shared)
}

/// A non-blocking ICMP socket of `kind`, bound to the source address if any, with kernel
/// receive timestamps on and, for RAW, the filter for `identifier`.
fn configured(key: SocketKey, kind: Type, identifier: u16) -> io::Result<Socket> {
    let (domain, protocol) = domain_and_protocol(key.version);
    let socket = Socket::new(domain, kind, Some(protocol))?;
    socket.set_nonblocking(true)?;
    if let Some(source) = key.source {
        socket.bind(&SocketAddr::new(source, 0).into())?;
    }
    set_int_option(&socket, libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, 1)?;
    enlarge_receive_buffer(&socket);
    if kind == Type::RAW {
        attach_filter(&socket, &raw_filter(key.version, identifier))?;
    }
    Ok(socket)
}

/// Replies to thousands of targets arrive in bursts; the default buffer (about 200 KiB, a few
/// hundred replies) overflows when the receive task is held up for a few milliseconds on a busy
/// machine, and the overflow would be counted as loss. Privileged processes may go past
/// `net.core.rmem_max`; others get at most that.
fn enlarge_receive_buffer(socket: &Socket) {
    const WANTED: i32 = 4 * 1024 * 1024;
    let forced = set_int_option(socket, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, WANTED);
    if forced.is_err() {
        let _ = socket.set_recv_buffer_size(WANTED as usize);
    }
}

fn set_int_option(socket: &Socket, level: i32, name: i32, value: i32) -> io::Result<()> {
    // SAFETY: a valid fd, and an int option passed with its size.
    let result = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            level,
            name,
            (&value as *const i32).cast(),
            std::mem::size_of::<i32>() as libc::socklen_t,
        )
    };
    if result == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Classic BPF instruction codes (linux/filter.h), named for reading.
mod bpf {
    pub const LDX_MSH: u16 = (libc::BPF_LDX | libc::BPF_B | libc::BPF_MSH) as u16;
    pub const LD_B_ABS: u16 = (libc::BPF_LD | libc::BPF_B | libc::BPF_ABS) as u16;
    pub const LD_H_ABS: u16 = (libc::BPF_LD | libc::BPF_H | libc::BPF_ABS) as u16;
    pub const LD_B_IND: u16 = (libc::BPF_LD | libc::BPF_B | libc::BPF_IND) as u16;
    pub const LD_H_IND: u16 = (libc::BPF_LD | libc::BPF_H | libc::BPF_IND) as u16;
    pub const JEQ: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
    pub const JGT: u16 = (libc::BPF_JMP | libc::BPF_JGT | libc::BPF_K) as u16;
    pub const RET: u16 = (libc::BPF_RET | libc::BPF_K) as u16;
    /// Return values: bytes of the packet to keep (all of it), or none (drop).
    pub const ACCEPT: u32 = u32::MAX;
    pub const DROP: u32 = 0;
}

fn op(code: u16, jt: u8, jf: u8, k: u32) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

/// The filter of a RAW socket: echo replies with our identifier, and ICMP errors (they quote
/// our request; exchange.rs checks which). Jump offsets count from the next instruction.
fn raw_filter(version: IpVersion, identifier: u16) -> Vec<libc::sock_filter> {
    use bpf::*;
    let identifier = u32::from(identifier);
    match version {
        // The kernel passes the IP header first: X = its length, then offsets from X.
        IpVersion::V4 => vec![
            op(LDX_MSH, 0, 0, 0),      // 0: X = 4 * (ip[0] & 0xf)
            op(LD_B_IND, 0, 0, 0),     // 1: A = icmp type
            op(JEQ, 0, 2, 0),          // 2: echo reply? else 5
            op(LD_H_IND, 0, 0, 4),     // 3: A = identifier
            op(JEQ, 4, 3, identifier), // 4: ours? accept : drop
            op(JEQ, 3, 0, 3),          // 5: destination unreachable
            op(JEQ, 2, 0, 11),         // 6: time exceeded
            op(JEQ, 1, 0, 12),         // 7: parameter problem
            op(RET, 0, 0, DROP),       // 8
            op(RET, 0, 0, ACCEPT),     // 9
        ],
        // ICMPv6 sockets see the message without the IPv6 header.
        IpVersion::V6 => vec![
            op(LD_B_ABS, 0, 0, 0),     // 0: A = icmp type
            op(JEQ, 0, 2, 129),        // 1: echo reply? else 4
            op(LD_H_ABS, 0, 0, 4),     // 2: A = identifier
            op(JEQ, 2, 1, identifier), // 3: ours? accept : drop
            op(JGT, 0, 1, 4),          // 4: types 1-4 are errors: accept; above: drop
            op(RET, 0, 0, DROP),       // 5
            op(RET, 0, 0, ACCEPT),     // 6
        ],
    }
}

fn attach_filter(socket: &Socket, program: &[libc::sock_filter]) -> io::Result<()> {
    let program = libc::sock_fprog {
        len: program.len() as u16,
        filter: program.as_ptr().cast_mut(),
    };
    // SAFETY: a valid fd and a program that outlives the call (the kernel copies it).
    let result = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_ATTACH_FILTER,
            (&program as *const libc::sock_fprog).cast(),
            std::mem::size_of::<libc::sock_fprog>() as libc::socklen_t,
        )
    };
    if result == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::poller::icmp::classify::Received;
    use crate::poller::icmp::exchange::Echo;
    use crate::poller::icmp::packet::Parsed;

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

    fn v4() -> SocketKey {
        SocketKey {
            version: IpVersion::V4,
            source: None,
        }
    }

    #[tokio::test]
    async fn concurrent_echoes_to_one_address_each_get_their_reply() {
        let sockets = IcmpSockets::default();
        let socket = sockets.get(v4()).expect("socket");
        let loopback: IpAddr = "127.0.0.1".parse().unwrap();
        let timeout = std::time::Duration::from_secs(5);
        let payloads: Vec<[u8; 16]> = (0..50u8).map(|i| [i; 16]).collect();
        let echoes = futures_util::future::join_all(
            payloads
                .iter()
                .map(|payload| socket.echo(loopback, payload, timeout)),
        )
        .await;
        for echo in echoes {
            let Echo::Reply(rtt) = echo else {
                panic!("loopback must answer: {echo:?}");
            };
            assert!(rtt > std::time::Duration::ZERO && rtt < timeout, "{rtt:?}");
        }
        assert_eq!(socket.unmatched(), 0);
    }

    #[tokio::test]
    async fn a_request_the_kernel_refuses_is_a_send_failure() {
        let sockets = IcmpSockets::default();
        let socket = sockets.get(v4()).expect("socket");
        // An IPv6 destination on an IPv4 socket: sendto fails.
        let echo = socket
            .echo(
                "::1".parse().unwrap(),
                &[],
                std::time::Duration::from_secs(1),
            )
            .await;
        assert_eq!(echo, Echo::SendFailed);
        assert_eq!(socket.send_errors(), 1);
        assert_eq!(sockets.send_errors(), vec![(IpVersion::V4, 1)]);
    }

    #[tokio::test]
    async fn an_answer_nobody_waits_for_is_counted_as_unmatched() {
        let sockets = IcmpSockets::default();
        let socket = sockets.get(v4()).expect("socket");
        let mut reply = Vec::new();
        let header = super::super::packet::EchoHeader {
            version: IpVersion::V4,
            identifier: 1,
            sequence: 2,
        };
        super::super::packet::echo_request(header, &[], &mut reply);
        reply[0] = 0; // an echo reply
        let parsed =
            super::super::packet::parse(IpVersion::V4, false, "127.0.0.1".parse().unwrap(), &reply)
                .expect("an echo reply");
        let before = socket.unmatched();
        // With the socket's own identifier (RAW checks it; DGRAM does not).
        let ours = Parsed {
            received: Received {
                identifier: socket.identifier(),
                ..parsed.received
            },
            ..parsed
        };
        socket.deliver(ours, None);
        assert_eq!(socket.unmatched(), before + 1);
        assert_eq!(sockets.unmatched(), vec![(IpVersion::V4, before + 1)]);
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
        let bound = b.local_address().expect("local address");
        assert_eq!(bound.ip(), loopback.source.unwrap());
    }
}
