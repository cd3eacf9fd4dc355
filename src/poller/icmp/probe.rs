//! One target's ICMP probe: resolve the host once, send `count` echo requests `interval` apart
//! over the shared socket, wait for each reply up to `timeout`, all within the poll deadline.

use std::io;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use surge_ping::{IcmpPacket, PingIdentifier, PingSequence, SurgeError};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::classify::{classify, Expected, Received, Verdict};
use super::sockets::{IcmpSockets, SharedSocket, SocketError, SocketKey, SocketMode};
use super::stats::IcmpStats;
use super::IpVersion;
use crate::config::{IcmpModule, IpProtocol, ModuleKind, Target};
use crate::poller::outcome::{FailureReason, PollOutcome, Protocol};

/// What an ICMP poller needs: the target and its (single) ICMP module.
#[derive(Debug, Clone)]
pub struct IcmpJob {
    pub target: Arc<Target>,
    pub module: IcmpModule,
}

impl IcmpJob {
    /// The job of a target's ICMP module; `None` when the target has none.
    pub fn for_target(target: &Arc<Target>) -> Option<IcmpJob> {
        let module =
            target
                .modules_for(Protocol::Icmp)
                .iter()
                .find_map(|module| match &module.kind {
                    ModuleKind::Icmp(icmp) => Some(icmp.clone()),
                    _ => None,
                })?;
        Some(IcmpJob {
            target: target.clone(),
            module,
        })
    }
}

/// Identifiers are unique per poller within the process (RAW sockets match replies on them).
/// The random start keeps two processes with RAW sockets apart.
static NEXT_IDENTIFIER: LazyLock<AtomicU16> = LazyLock::new(|| AtomicU16::new(rand::random()));

/// Pings one target. Lives as long as the target's schedule, so its counters and histogram
/// accumulate over the target's lifetime.
pub struct IcmpPoller {
    job: IcmpJob,
    sockets: &'static IcmpSockets,
    identifier: u16,
    payload: Arc<[u8]>,
    stats: IcmpStats,
}

/// Why a probe could not start.
#[derive(Debug, thiserror::Error)]
enum ProbeError {
    #[error("cannot resolve {host}: {source}")]
    Resolve { host: String, source: io::Error },
    #[error("resolving {host} did not finish before the poll deadline")]
    ResolveTimeout { host: String },
    #[error("{host} has no address of the family ip_protocol asks for")]
    NoAddress { host: String },
    #[error(transparent)]
    Socket(#[from] SocketError),
}

impl ProbeError {
    fn reason(&self) -> FailureReason {
        match self {
            ProbeError::ResolveTimeout { .. } => FailureReason::Timeout,
            ProbeError::Resolve { .. } | ProbeError::NoAddress { .. } | ProbeError::Socket(_) => {
                FailureReason::Unreachable
            }
        }
    }
}

/// What became of one echo request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Echo {
    /// Its Echo Reply came back after this long.
    Reply(Duration),
    /// An ICMP error about it came back instead (RAW sockets only).
    IcmpError(Verdict),
    /// Nothing came back in time.
    Lost,
    /// The kernel refused to send it (no route, network unreachable...).
    SendFailed,
    /// Not sent at all: no time was left before the deadline, or its sequence was in use.
    NotSent,
}

/// One echo request to send.
struct EchoRequest {
    socket: Arc<SharedSocket>,
    address: IpAddr,
    identifier: u16,
    payload: Arc<[u8]>,
    send_at: Instant,
    timeout: Duration,
    deadline: Instant,
}

impl IcmpPoller {
    pub fn new(job: IcmpJob) -> Self {
        Self::with_sockets(job, IcmpSockets::global())
    }

    /// A poller on a given socket set (tests use their own, tied to their runtime).
    pub fn with_sockets(job: IcmpJob, sockets: &'static IcmpSockets) -> Self {
        // A recognisable, non-zero pattern, as ping uses: all-zero payloads get compressed by
        // some links and would measure them, not the path.
        let payload: Arc<[u8]> = (0..job.module.payload_size).map(|i| i as u8).collect();
        IcmpPoller {
            job,
            sockets,
            identifier: NEXT_IDENTIFIER.fetch_add(1, Ordering::Relaxed),
            payload,
            stats: IcmpStats::default(),
        }
    }

    /// One probe. The counters are exported whatever the result: they were updated by this
    /// probe, so they are fresh, and requests growing without replies is how loss shows.
    pub async fn poll(&mut self) -> PollOutcome {
        let deadline = Instant::now() + self.job.target.timeout;
        let result = self.probe(deadline).await;
        PollOutcome {
            result,
            families: self.stats.families(),
        }
    }

    async fn probe(&mut self, deadline: Instant) -> Result<(), FailureReason> {
        let module = &self.job.module;
        let address = resolve(&self.job.target.host, module, deadline)
            .await
            .map_err(|e| self.probe_error(e))?;
        let key = SocketKey {
            version: IpVersion::of(address),
            source: module.source_address,
        };
        let socket = self
            .sockets
            .get(key)
            .map_err(|e| self.probe_error(e.into()))?;
        let echoes = self.send_echoes(&socket, address, deadline).await;
        for echo in &echoes {
            self.record(key.version, *echo);
        }
        tracing::debug!(
            %address,
            mode = socket.mode.as_str(),
            sent = echoes.iter().filter(|e| **e != Echo::NotSent).count(),
            replies = echoes.iter().filter(|e| matches!(e, Echo::Reply(_))).count(),
            "ICMP probe finished"
        );
        probe_result(&echoes)
    }

    fn probe_error(&self, error: ProbeError) -> FailureReason {
        tracing::debug!(target_name = %self.job.target.name, "ICMP probe failed: {error}");
        error.reason()
    }

    fn record(&mut self, version: IpVersion, echo: Echo) {
        if echo != Echo::NotSent {
            self.stats.request_sent(version);
        }
        if let Echo::Reply(rtt) = echo {
            self.stats.reply_received(version, rtt);
        }
    }

    /// Sends the echo requests on schedule, each in its own task so a slow reply never delays
    /// the next request; waits for all of them. Dropping the future aborts the tasks.
    async fn send_echoes(
        &self,
        socket: &Arc<SharedSocket>,
        address: IpAddr,
        deadline: Instant,
    ) -> Vec<Echo> {
        let module = &self.job.module;
        let start = Instant::now();
        let mut tasks = JoinSet::new();
        for i in 0..module.count {
            tasks.spawn(echo(EchoRequest {
                socket: socket.clone(),
                address,
                identifier: self.identifier,
                payload: self.payload.clone(),
                send_at: start + module.interval * i,
                timeout: module.timeout,
                deadline,
            }));
        }
        let mut echoes = Vec::with_capacity(module.count as usize);
        while let Some(joined) = tasks.join_next().await {
            echoes.push(joined.unwrap_or(Echo::Lost));
        }
        echoes
    }
}

/// Sends one echo request at its time and waits for its answer.
async fn echo(request: EchoRequest) -> Echo {
    tokio::time::sleep_until(request.send_at).await;
    let now = Instant::now();
    let timeout = request
        .timeout
        .min(request.deadline.saturating_duration_since(now));
    if timeout.is_zero() {
        return Echo::NotSent;
    }
    let socket = &request.socket;
    let sequence = socket.next_sequence();
    let mut pinger = socket
        .client
        .pinger(request.address, PingIdentifier(request.identifier))
        .await;
    pinger.timeout(timeout);
    // The RTT is measured here rather than taken from surge-ping: it starts its clock after
    // send_to returns, and on loopback the reply can be timestamped before that, giving 0.
    let sent = Instant::now();
    let answer = pinger.ping(PingSequence(sequence), &request.payload).await;
    let rtt = sent.elapsed();
    match answer {
        Ok((packet, _)) => {
            let expected = Expected {
                identifier: (socket.mode == SocketMode::Raw).then_some(request.identifier),
                sequence,
            };
            match classify(expected, received(&packet)) {
                Verdict::EchoReply => Echo::Reply(rtt),
                Verdict::NotOurs => Echo::Lost,
                error => Echo::IcmpError(error),
            }
        }
        Err(SurgeError::Timeout { .. }) => Echo::Lost,
        Err(SurgeError::IdenticalRequests { .. }) => Echo::NotSent,
        Err(SurgeError::IOError(_)) => Echo::SendFailed,
        Err(other) => {
            tracing::debug!("ICMP echo failed: {other}");
            Echo::Lost
        }
    }
}

fn received(packet: &IcmpPacket) -> Received {
    match packet {
        IcmpPacket::V4(p) => Received {
            version: IpVersion::V4,
            icmp_type: p.get_icmp_type().0,
            code: p.get_icmp_code().0,
            identifier: p.get_identifier().0,
            sequence: p.get_sequence().0,
        },
        IcmpPacket::V6(p) => Received {
            version: IpVersion::V6,
            icmp_type: p.get_icmpv6_type().0,
            code: p.get_icmpv6_code().0,
            identifier: p.get_identifier().0,
            sequence: p.get_sequence().0,
        },
    }
}

/// The poll result: up when at least one reply came back; otherwise `unreachable` when the
/// network said so (ICMP errors, send failures), else `timeout`.
pub fn probe_result(echoes: &[Echo]) -> Result<(), FailureReason> {
    if echoes.iter().any(|e| matches!(e, Echo::Reply(_))) {
        Ok(())
    } else if echoes
        .iter()
        .any(|e| matches!(e, Echo::IcmpError(_) | Echo::SendFailed))
    {
        Err(FailureReason::Unreachable)
    } else {
        Err(FailureReason::Timeout)
    }
}

/// The host's address to ping, resolved once per poll (an IP literal needs no lookup).
async fn resolve(host: &str, module: &IcmpModule, deadline: Instant) -> Result<IpAddr, ProbeError> {
    let candidates: Vec<IpAddr> = match host.parse::<IpAddr>() {
        Ok(address) => vec![address],
        Err(_) => tokio::time::timeout_at(deadline, tokio::net::lookup_host((host, 0)))
            .await
            .map_err(|_| ProbeError::ResolveTimeout {
                host: host.to_string(),
            })?
            .map_err(|source| ProbeError::Resolve {
                host: host.to_string(),
                source,
            })?
            .map(|socket_address| socket_address.ip())
            .collect(),
    };
    pick_address(&candidates, module.ip_protocol, module.source_address).ok_or_else(|| {
        ProbeError::NoAddress {
            host: host.to_string(),
        }
    })
}

/// Chooses among a host's addresses by `ip_protocol`. A source address pins the family.
pub fn pick_address(
    candidates: &[IpAddr],
    protocol: IpProtocol,
    source: Option<IpAddr>,
) -> Option<IpAddr> {
    let first = |version: IpVersion| {
        candidates
            .iter()
            .copied()
            .find(|address| IpVersion::of(*address) == version)
    };
    if let Some(source) = source {
        return first(IpVersion::of(source));
    }
    match protocol {
        IpProtocol::Ipv4 => first(IpVersion::V4),
        IpProtocol::Ipv6 => first(IpVersion::V6),
        IpProtocol::PreferIpv4 => first(IpVersion::V4).or_else(|| first(IpVersion::V6)),
        IpProtocol::PreferIpv6 => first(IpVersion::V6).or_else(|| first(IpVersion::V4)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn one_reply_makes_the_probe_succeed() {
        let echoes = [
            Echo::Lost,
            Echo::Reply(Duration::from_millis(1)),
            Echo::SendFailed,
        ];
        assert_eq!(probe_result(&echoes), Ok(()));
    }

    #[test]
    fn icmp_errors_and_send_failures_mean_unreachable() {
        let unreachable = Echo::IcmpError(Verdict::Unreachable { code: 1 });
        assert_eq!(
            probe_result(&[Echo::Lost, unreachable]),
            Err(FailureReason::Unreachable)
        );
        assert_eq!(
            probe_result(&[Echo::SendFailed]),
            Err(FailureReason::Unreachable)
        );
    }

    #[test]
    fn silence_means_timeout() {
        assert_eq!(
            probe_result(&[Echo::Lost, Echo::Lost, Echo::NotSent]),
            Err(FailureReason::Timeout)
        );
    }

    #[test]
    fn addresses_are_picked_by_ip_protocol() {
        let both = [ip("2001:db8::1"), ip("192.0.2.1"), ip("192.0.2.2")];
        let v6_only = [ip("2001:db8::1")];
        assert_eq!(
            pick_address(&both, IpProtocol::Ipv4, None),
            Some(ip("192.0.2.1"))
        );
        assert_eq!(
            pick_address(&both, IpProtocol::Ipv6, None),
            Some(ip("2001:db8::1"))
        );
        assert_eq!(
            pick_address(&both, IpProtocol::PreferIpv4, None),
            Some(ip("192.0.2.1"))
        );
        assert_eq!(
            pick_address(&v6_only, IpProtocol::PreferIpv4, None),
            Some(ip("2001:db8::1"))
        );
        assert_eq!(pick_address(&v6_only, IpProtocol::Ipv4, None), None);
        assert_eq!(
            pick_address(&both, IpProtocol::PreferIpv6, Some(ip("10.0.0.1"))),
            Some(ip("192.0.2.1")),
            "the source address pins the family"
        );
    }
}
