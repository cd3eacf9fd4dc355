//! The SNMPv3 engine a target's agent runs (id, boots, time, localised keys), discovered once
//! and shared by the target's sessions, so a rebuilt or extra session costs neither a discovery
//! round trip nor the ~1 MB of hashing that localising each key takes.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use snmp2::v3;
use snmp2::Pdu;
use tokio::net::UdpSocket;
use tokio::sync::Mutex;

use super::error::SnmpError;
use super::stats::SnmpTargetStats;

/// snmpEngineTime wraps at 2^31 - 1 (RFC 3414 2.2.1).
const MAX_ENGINE_TIME: i64 = i32::MAX as i64;

/// msgFlags reportableFlag: the agent answers a discovery with a Report.
const FLAG_REPORTABLE: u8 = 0x04;

/// The User-based Security Model's number in msgSecurityModel.
const USM_SECURITY_MODEL: i64 = 3;

/// Largest message we accept (the most a UDP datagram can carry).
const MAX_MESSAGE_SIZE: usize = 65_507;

/// An engine learnt from a discovery: a `Security` with the engine id set and the keys
/// localised to it, plus where its clock stood and when we heard it.
#[derive(Clone)]
struct KnownEngine {
    security: v3::Security,
    boots: i64,
    time: i64,
    heard_at: Instant,
    /// Bumped by every discovery, so a session can say which engine it was built from.
    generation: u64,
}

impl KnownEngine {
    /// The agent's snmpEngineTime now, estimated from our own clock (RFC 3414 2.3).
    fn estimated_time(&self) -> i64 {
        let elapsed = i64::try_from(self.heard_at.elapsed().as_secs()).unwrap_or(MAX_ENGINE_TIME);
        (self.time + elapsed).min(MAX_ENGINE_TIME)
    }
}

/// A session's security parameters as handed out by the cache.
pub struct EngineTicket {
    pub security: v3::Security,
    /// The discovery generation the parameters come from (see [`EngineCache::forget`]).
    pub generation: u64,
}

/// Why a discovery did not produce an engine.
#[derive(Debug)]
pub enum DiscoveryError {
    /// The agent's answer could not be used: a setup or protocol failure.
    Failed(SnmpError),
    /// snmp2 refused the answer (classified by the session like any reply error).
    Snmp(snmp2::Error),
}

/// The engine of one target, shared by the target's sessions (cheap to share behind an `Arc`).
#[derive(Default)]
pub struct EngineCache {
    /// A tokio mutex: concurrent sessions of one target wait for a single discovery.
    state: Mutex<CacheState>,
}

#[derive(Default)]
struct CacheState {
    engine: Option<KnownEngine>,
    /// The agent disagreed with the engine: rediscover before the next session, keeping the
    /// localised keys if the engine id comes back unchanged (a reboot).
    stale: bool,
    generations: u64,
}

impl EngineCache {
    /// Security parameters for a new session: the cached engine with its clock brought up to
    /// date, or a discovery when none is known (or the known one went stale). `template`
    /// carries the credential.
    pub async fn ticket(
        &self,
        address: SocketAddr,
        template: &v3::Security,
        stats: &SnmpTargetStats,
    ) -> Result<EngineTicket, DiscoveryError> {
        let mut state = self.state.lock().await;
        if state.engine.is_none() || state.stale {
            let previous = state.engine.as_ref().map(|engine| &engine.security);
            SnmpTargetStats::bump(&stats.requests_sent);
            let security = discover(address, template, previous).await?;
            SnmpTargetStats::bump(&stats.engine_discoveries);
            state.generations += 1;
            state.engine = Some(KnownEngine {
                boots: security.engine_boots(),
                time: security.engine_time(),
                security,
                heard_at: Instant::now(),
                generation: state.generations,
            });
            state.stale = false;
        }
        // Invariant: filled just above when it was empty.
        let Some(engine) = state.engine.as_ref() else {
            return Err(DiscoveryError::Failed(SnmpError::Protocol(
                "no engine".into(),
            )));
        };
        // snmp2 sends the engine time it last heard, not a running clock: give each new
        // session the current estimate so it stays inside the agent's 150 s window.
        let security = engine
            .security
            .clone()
            .with_engine_boots_and_time(engine.boots, engine.estimated_time());
        Ok(EngineTicket {
            security,
            generation: engine.generation,
        })
    }

    /// Marks the engine the agent no longer agrees with (new engine id, boots moved, time out
    /// of window after a resync) for rediscovery, unless a newer discovery already replaced
    /// it: concurrent sessions that saw the same change cause one rediscovery, not one each.
    pub async fn forget(&self, generation: u64) {
        let mut state = self.state.lock().await;
        if state.engine.as_ref().map(|engine| engine.generation) == Some(generation) {
            state.stale = true;
        }
    }
}

/// One discovery exchange (RFC 3414 section 4): an empty, unauthenticated, reportable request;
/// the agent's Report carries its engine id (and usually boots and time). snmp2 reads the
/// Report into a copy of the credential's parameters and localises the keys to the engine.
async fn discover(
    address: SocketAddr,
    template: &v3::Security,
    previous: Option<&v3::Security>,
) -> Result<v3::Security, DiscoveryError> {
    let socket = bind_connected(address)
        .await
        .map_err(|error| DiscoveryError::Failed(network_error(&error)))?;
    let message_id = i32::try_from(rand::random::<u32>() >> 1).unwrap_or(1);
    let request = discovery_message(message_id);
    socket
        .send(&request)
        .await
        .map_err(|_| DiscoveryError::Snmp(snmp2::Error::Send))?;
    let mut buffer = vec![0u8; MAX_MESSAGE_SIZE];
    let received = socket
        .recv(&mut buffer)
        .await
        .map_err(|_| DiscoveryError::Snmp(snmp2::Error::Receive))?;
    let report = &mut buffer[..received];
    if let Some(previous) = previous {
        if let Some(security) = read_report_same_engine(report, previous) {
            return Ok(security);
        }
    }
    read_report(report, template)
}

/// Rediscovery: when the agent still reports the engine id we knew, its keys stay valid and
/// only boots and time are taken from the Report. `None` when the engine id changed.
pub(crate) fn read_report_same_engine(
    report: &mut [u8],
    previous: &v3::Security,
) -> Option<v3::Security> {
    let mut security = previous.clone();
    security.reset_engine_counters();
    match Pdu::from_bytes_with_security(report, Some(&mut security)) {
        // AuthUpdated: boots and time taken from the Report. NotAuthenticated: same engine, but
        // the Report gave no boots (the first authenticated reply will).
        Err(snmp2::Error::AuthUpdated)
        | Err(snmp2::Error::AuthFailure(v3::AuthErrorKind::NotAuthenticated))
        | Ok(_) => Some(security),
        Err(_) => None,
    }
}

/// Learns a new engine from a discovery Report (snmp2 localises the keys to it).
pub(crate) fn read_report(
    report: &mut [u8],
    template: &v3::Security,
) -> Result<v3::Security, DiscoveryError> {
    let mut security = template.clone();
    security.reset_engine_id();
    security.reset_engine_counters();
    match Pdu::from_bytes_with_security(report, Some(&mut security)) {
        // The expected outcome: engine id learnt (and keys localised), "send again".
        Err(snmp2::Error::AuthUpdated) | Ok(_) => {}
        Err(error) => return Err(DiscoveryError::Snmp(error)),
    }
    if security.engine_id().is_empty() {
        return Err(DiscoveryError::Failed(SnmpError::Protocol(
            "discovery report without an engine id".into(),
        )));
    }
    Ok(security)
}

/// The discovery request: msgVersion 3, an empty USM header (no engine, no user, no
/// authentication), and an empty GetRequest in a scoped PDU. snmp2 does not export its encoder,
/// and this message is fixed but for its id, so a few lines of BER do.
fn discovery_message(message_id: i32) -> Vec<u8> {
    let empty = || ber(TAG_OCTET_STRING, &[]);
    let usm = ber(
        TAG_SEQUENCE,
        &[
            empty(),        // msgAuthoritativeEngineID
            ber_integer(0), // msgAuthoritativeEngineBoots
            ber_integer(0), // msgAuthoritativeEngineTime
            empty(),        // msgUserName
            empty(),        // msgAuthenticationParameters
            empty(),        // msgPrivacyParameters
        ]
        .concat(),
    );
    let header = ber(
        TAG_SEQUENCE,
        &[
            ber_integer(i64::from(message_id)),
            ber_integer(MAX_MESSAGE_SIZE as i64),
            ber(TAG_OCTET_STRING, &[FLAG_REPORTABLE]),
            ber_integer(USM_SECURITY_MODEL),
        ]
        .concat(),
    );
    let get = ber(
        snmp2::snmp::MSG_GET,
        &[
            ber_integer(i64::from(message_id)), // request-id
            ber_integer(0),                     // error-status
            ber_integer(0),                     // error-index
            ber(TAG_SEQUENCE, &[]),             // no varbinds
        ]
        .concat(),
    );
    let scoped_pdu = ber(TAG_SEQUENCE, &[empty(), empty(), get].concat());
    let message = [
        ber_integer(3),
        header,
        ber(TAG_OCTET_STRING, &usm),
        scoped_pdu,
    ]
    .concat();
    ber(TAG_SEQUENCE, &message)
}

const TAG_INTEGER: u8 = 0x02;
const TAG_OCTET_STRING: u8 = 0x04;
const TAG_SEQUENCE: u8 = 0x30;

/// One BER type-length-value with a definite length.
fn ber(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let length = content.len();
    if length < 0x80 {
        out.push(length as u8);
    } else {
        let bytes = length.to_be_bytes();
        let skip = bytes.iter().take_while(|&&byte| byte == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

/// A BER INTEGER in its shortest two's-complement form.
fn ber_integer(value: i64) -> Vec<u8> {
    let bytes = value.to_be_bytes();
    let mut start = 0;
    while start < 7 {
        let redundant = (bytes[start] == 0x00 && bytes[start + 1] & 0x80 == 0)
            || (bytes[start] == 0xff && bytes[start + 1] & 0x80 != 0);
        if !redundant {
            break;
        }
        start += 1;
    }
    ber(TAG_INTEGER, &bytes[start..])
}

/// A UDP socket bound to the unspecified address of the target's family and connected to it,
/// so the kernel drops datagrams from anyone else and reports ICMP unreachables.
pub async fn bind_connected(address: SocketAddr) -> std::io::Result<UdpSocket> {
    let local: SocketAddr = if address.is_ipv4() {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(local).await?;
    socket.connect(address).await?;
    Ok(socket)
}

fn network_error(error: &std::io::Error) -> SnmpError {
    SnmpError::Network(format!("socket: {}", error.kind()))
}

/// How long a v3 session may stay idle before it is rebuilt from the cache: snmp2 keeps
/// sending the engine time it last heard, and agents refuse a time more than 150 s off.
pub const MAX_V3_IDLE: Duration = Duration::from_secs(120);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_discovery_message_is_an_empty_reportable_v3_get() {
        let message = discovery_message(7);
        // SEQUENCE { INTEGER 3, SEQUENCE { 7, 65507, flags 0x04, 3 }, OCTET STRING usm, scoped }
        let header = [
            0x30, 0x0e, 0x02, 0x01, 0x07, 0x02, 0x03, 0x00, 0xff, 0xe3, 0x04, 0x01, 0x04, 0x02,
            0x01, 0x03,
        ];
        assert_eq!(message[0], 0x30);
        assert_eq!(usize::from(message[1]), message.len() - 2);
        assert_eq!(&message[2..5], &[0x02, 0x01, 0x03]);
        assert_eq!(&message[5..5 + header.len()], &header);
    }

    #[test]
    fn ber_integers_are_minimal() {
        assert_eq!(ber_integer(0), [0x02, 0x01, 0x00]);
        assert_eq!(ber_integer(127), [0x02, 0x01, 0x7f]);
        assert_eq!(ber_integer(128), [0x02, 0x02, 0x00, 0x80]);
        assert_eq!(ber_integer(-1), [0x02, 0x01, 0xff]);
        assert_eq!(ber_integer(-129), [0x02, 0x02, 0xff, 0x7f]);
        assert_eq!(ber(0x04, &[0; 200])[..3], [0x04, 0x81, 200]);
    }

    #[test]
    fn engine_time_is_estimated_forward_and_capped() {
        let engine = KnownEngine {
            security: v3::Security::new(b"u", b"password"),
            boots: 3,
            time: MAX_ENGINE_TIME - 1,
            heard_at: Instant::now() - Duration::from_secs(5),
            generation: 1,
        };
        assert_eq!(engine.estimated_time(), MAX_ENGINE_TIME);
        let fresh = KnownEngine {
            time: 100,
            heard_at: Instant::now() - Duration::from_secs(30),
            ..engine
        };
        assert!((130..=131).contains(&fresh.estimated_time()));
    }
}
