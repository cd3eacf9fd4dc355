//! One ICMP probe from its caller's task (`/probe`): resolve the host, send `count` echo requests
//! `interval` apart over the shared socket, wait for each reply up to `timeout`, all within the
//! poll deadline. Also the pieces the batched prober shares (job, lookup, result).

use std::io;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::join_all;
use tokio::time::Instant;

pub use super::exchange::Echo;
use super::sockets::{IcmpSockets, SharedSocket, SocketError, SocketKey};
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

    /// The address to ping when the host is an IP literal of a family the module allows:
    /// parsed once when the target is scheduled. `None` for a name (resolved at every poll).
    pub fn literal_address(&self) -> Option<IpAddr> {
        let address = self.target.host.parse::<IpAddr>().ok()?;
        pick_address(
            &[address],
            self.module.ip_protocol,
            self.module.source_address,
        )
    }
}

/// The log target of the per-reply RTT trace (`RUST_LOG=ispmonitor::icmp_rtt=trace`).
pub const RTT_LOG: &str = "ispmonitor::icmp_rtt";

/// Pings one target. Lives as long as the target's schedule, so its counters and histogram
/// accumulate over the target's lifetime.
pub struct IcmpPoller {
    job: IcmpJob,
    sockets: &'static IcmpSockets,
    payload: Arc<[u8]>,
    stats: IcmpStats,
    /// The socket of the last probe: sockets are never closed, so it stays valid for as long
    /// as the probe needs the same key (a hostname may resolve to the other family later).
    socket: Option<(SocketKey, Arc<SharedSocket>)>,
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

/// One echo request to send.
struct EchoRequest {
    socket: Arc<SharedSocket>,
    address: IpAddr,
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
            payload,
            stats: IcmpStats::default(),
            socket: None,
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
        let socket = self.socket(key).map_err(|e| self.probe_error(e.into()))?;
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

    fn socket(&mut self, key: SocketKey) -> Result<Arc<SharedSocket>, SocketError> {
        if let Some((cached, socket)) = &self.socket {
            if *cached == key {
                return Ok(socket.clone());
            }
        }
        let socket = self.sockets.get(key)?;
        self.socket = Some((key, socket.clone()));
        Ok(socket)
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
            // Every RTT, for comparing with another pinger (scripts/bench/icmp.sh turns this
            // log target on); off, it costs one level check.
            tracing::trace!(target: RTT_LOG, address = %self.job.target.host, rtt_ns = rtt.as_nanos() as u64, "ICMP reply");
        }
    }

    /// Sends the echo requests on schedule and waits for all of them. They run concurrently
    /// within this poll's task, so a slow reply never delays the next request; dropping the
    /// future (deadline, cancelled poll) drops them all.
    async fn send_echoes(
        &self,
        socket: &Arc<SharedSocket>,
        address: IpAddr,
        deadline: Instant,
    ) -> Vec<Echo> {
        let module = &self.job.module;
        let start = Instant::now();
        let request = |i: u32| {
            echo(EchoRequest {
                socket: socket.clone(),
                address,
                payload: self.payload.clone(),
                send_at: start + module.interval * i,
                timeout: module.timeout,
                deadline,
            })
        };
        // One request per poll (pinging every second) is the common case at scale: no
        // join_all machinery for it.
        if module.count == 1 {
            return vec![request(0).await];
        }
        join_all((0..module.count).map(request)).await
    }
}

/// Sends one echo request at its time and waits for its answer.
async fn echo(request: EchoRequest) -> Echo {
    if request.send_at > Instant::now() {
        tokio::time::sleep_until(request.send_at).await;
    }
    let timeout = request
        .timeout
        .min(request.deadline.saturating_duration_since(Instant::now()));
    if timeout.is_zero() {
        return Echo::NotSent;
    }
    request
        .socket
        .echo(request.address, &request.payload, timeout)
        .await
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

/// The host's address to ping, resolved once per poll (an IP literal needs no lookup, nor an
/// allocation: at 10,000 probes a second, every one counts).
async fn resolve(host: &str, module: &IcmpModule, deadline: Instant) -> Result<IpAddr, ProbeError> {
    let no_address = || ProbeError::NoAddress {
        host: host.to_string(),
    };
    if let Ok(address) = host.parse::<IpAddr>() {
        return pick_address(&[address], module.ip_protocol, module.source_address)
            .ok_or_else(no_address);
    }
    let candidates: Vec<IpAddr> =
        tokio::time::timeout_at(deadline, tokio::net::lookup_host((host, 0)))
            .await
            .map_err(|_| ProbeError::ResolveTimeout {
                host: host.to_string(),
            })?
            .map_err(|source| ProbeError::Resolve {
                host: host.to_string(),
                source,
            })?
            .map(|socket_address| socket_address.ip())
            .collect();
    pick_address(&candidates, module.ip_protocol, module.source_address).ok_or_else(no_address)
}

/// The batched prober's lookup of a target's host, bounded by the poll deadline; a failure is
/// logged at debug level and becomes the poll's failure reason.
pub async fn resolve_for_batch(job: &IcmpJob, deadline: Instant) -> Result<IpAddr, FailureReason> {
    resolve(&job.target.host, &job.module, deadline)
        .await
        .map_err(|error| {
            tracing::debug!(target_name = %job.target.name, "ICMP probe failed: {error}");
            error.reason()
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
    use crate::poller::icmp::classify::Verdict;

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
