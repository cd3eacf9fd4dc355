//! A resilient wrapper around snmp2's `AsyncSession`: timeouts, retries, and rebuilds after any
//! timeout or request-id mismatch so a late reply can never desynchronise the session.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use snmp2::v3;
use snmp2::AsyncSession;
use tokio::time::Instant;

use super::engine::{DiscoveryError, EngineCache, MAX_V3_IDLE};
use super::error::SnmpError;
use super::stats::{SnmpTargetStats, SnmpTargetStatsSnapshot};
use super::value::{oid_from_snmp2, oid_to_snmp2, Oid, SnmpValue, Varbind};
use crate::config::{
    AuthProtocol, KeyExtension, PrivProtocol, SecurityLevel, SnmpCredential, SnmpV3Credential,
};

/// The SNMP port used when the target's address names none.
pub const DEFAULT_PORT: u16 = 161;

/// How many times in a row one request may be re-sent because the agent resynchronised our v3
/// engine boots/time (`AuthUpdated`). Two are normal after discovery; more means a loop.
const MAX_ENGINE_RESYNCS: u32 = 4;

/// How many stale replies (a duplicated datagram, an answer to an earlier request) one request
/// may meet before they count as failed attempts. Each one costs a new socket and a resend, not
/// a retry: a network that duplicates datagrams must not eat the retries, or fail polls that have
/// none. The bound stops an agent that only ever answers with wrong ids.
const MAX_STALE_REPLIES: u32 = 8;

/// The SNMP version a session speaks; v1 has no GETBULK.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnmpVersion {
    V1,
    V2c,
    V3,
}

/// One SNMP request.
#[derive(Debug, Clone, Copy)]
pub enum Request<'a> {
    Get(&'a [Oid]),
    GetNext(&'a Oid),
    GetBulk {
        oids: &'a [Oid],
        max_repetitions: u32,
    },
}

/// A response, copied out of the session's receive buffer.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub error_status: u32,
    /// 1-based index of the varbind the error concerns (0: none).
    pub error_index: u32,
    pub varbinds: Vec<Varbind>,
}

/// Where and how to reach one agent, and how patient to be.
#[derive(Debug, Clone)]
pub struct SessionSettings {
    pub host: String,
    pub port: Option<u16>,
    pub credential: SnmpCredential,
    /// Retries of one request after a timeout or desync, within the poll deadline.
    pub retries: u32,
    /// Time allowed for one attempt (the poll timeout shared among the attempts).
    pub attempt_timeout: Duration,
    /// The target's counters, shared by all its sessions.
    pub stats: Arc<SnmpTargetStats>,
}

/// A session to one agent that survives between polls and rebuilds itself when needed. It
/// can lend extra lanes (sessions of their own, on their own sockets, sharing the target's
/// settings, counters and v3 engine) to walks that keep several requests in flight.
pub struct Session {
    settings: SessionSettings,
    /// The end of the current poll: no attempt runs past it.
    deadline: Instant,
    live: Option<Live>,
    /// The target's SNMPv3 engine, shared by its lanes.
    engine: Arc<EngineCache>,
    /// Requests this target may have in flight at once (1: one after another).
    max_in_flight: usize,
    /// Lanes beyond this one, kept between polls (built lazily, at most `max_in_flight - 1`).
    extra_lanes: Vec<Session>,
}

/// A built snmp2 session and what we know about it.
struct Live {
    session: AsyncSession,
    /// v3: the engine discovery its security parameters come from.
    engine_generation: Option<u64>,
    /// When the agent last answered on it (v3 sessions idle too long are rebuilt).
    last_answer: Instant,
}

/// What to do after one attempt.
enum Step {
    Done(Response),
    /// v3 engine boots/time were updated: send the same request again at once.
    ResendNow,
    /// v3 engine time was outside the agent's window; snmp2 took the agent's time from the
    /// Report, so a resend on the same session normally fixes it.
    Resync(SnmpError),
    /// The session may be out of step (timeout): rebuild, then retry.
    Rebuild(SnmpError),
    /// A reply to another request was read (a duplicate, or late): the socket may hold more of
    /// them, so rebuild and send again, without taking a retry.
    StaleReply(SnmpError),
    /// The agent no longer agrees with our v3 engine: rediscover, rebuild, then retry.
    Rediscover(SnmpError),
    Fail(SnmpError),
}

/// An attempt's failure before classification.
enum AttemptError {
    Setup(SnmpError),
    Snmp(snmp2::Error),
}

impl Session {
    pub fn new(settings: SessionSettings) -> Self {
        Session {
            settings,
            deadline: Instant::now(),
            live: None,
            engine: Arc::default(),
            max_in_flight: 1,
            extra_lanes: Vec::new(),
        }
    }

    /// Lets walks keep up to `requests` requests in flight to this target (at least 1).
    pub fn set_max_in_flight(&mut self, requests: usize) {
        self.max_in_flight = requests.max(1);
        self.extra_lanes.truncate(self.max_in_flight - 1);
    }

    /// The target's counters (shared by all its sessions and lanes).
    pub fn stats(&self) -> SnmpTargetStatsSnapshot {
        self.settings.stats.snapshot()
    }

    pub fn max_in_flight(&self) -> usize {
        self.max_in_flight
    }

    pub fn version(&self) -> SnmpVersion {
        match self.settings.credential {
            SnmpCredential::V1 { .. } => SnmpVersion::V1,
            SnmpCredential::V2c { .. } => SnmpVersion::V2c,
            SnmpCredential::V3(_) => SnmpVersion::V3,
        }
    }

    /// Sets the end of the poll that the following requests belong to.
    pub fn set_deadline(&mut self, deadline: Instant) {
        self.deadline = deadline;
    }

    /// Drops the live session (and the extra lanes): the next request builds a new socket, so
    /// a late reply to an abandoned request can never be read. A v3 engine already discovered
    /// is kept.
    pub fn discard(&mut self) {
        self.live = None;
        self.extra_lanes.clear();
    }

    /// Takes `count` extra lanes out of this session (built on demand) for concurrent walks,
    /// each with this session's deadline. Give them back with [`Session::return_lanes`]; lanes
    /// never returned (a cancelled poll) are simply dropped with their sockets.
    pub fn take_lanes(&mut self, count: usize) -> Vec<Session> {
        let count = count.min(self.max_in_flight - 1);
        let mut lanes = std::mem::take(&mut self.extra_lanes);
        lanes.truncate(count);
        while lanes.len() < count {
            lanes.push(self.new_lane());
        }
        for lane in &mut lanes {
            lane.deadline = self.deadline;
        }
        lanes
    }

    /// Puts lanes taken with [`Session::take_lanes`] back for the next polls.
    pub fn return_lanes(&mut self, lanes: Vec<Session>) {
        self.extra_lanes = lanes;
    }

    fn new_lane(&self) -> Session {
        Session {
            settings: self.settings.clone(),
            deadline: self.deadline,
            live: None,
            engine: self.engine.clone(),
            max_in_flight: 1,
            extra_lanes: Vec::new(),
        }
    }

    /// Sends one request with timeouts and retries, within the poll deadline.
    pub async fn request(&mut self, request: Request<'_>) -> Result<Response, SnmpError> {
        let mut failed_attempts = 0;
        let mut resends = 0;
        let mut stale_replies = 0;
        let mut time_resynced = false;
        loop {
            let now = Instant::now();
            if now >= self.deadline {
                self.live = None;
                return Err(SnmpError::Timeout);
            }
            let attempt_deadline = (now + self.settings.attempt_timeout).min(self.deadline);
            let attempt = tokio::time::timeout_at(attempt_deadline, self.attempt(request)).await;
            let step = match attempt {
                Err(_elapsed) => {
                    SnmpTargetStats::bump(&self.settings.stats.timeouts);
                    Step::Rebuild(SnmpError::Timeout)
                }
                Ok(result) => self.classify(result),
            };
            let error = match step {
                Step::Done(response) => return Ok(response),
                Step::Fail(error) => {
                    self.live = None;
                    return Err(error);
                }
                Step::ResendNow | Step::Resync(_) if resends >= MAX_ENGINE_RESYNCS => {
                    self.live = None;
                    return Err(SnmpError::Auth("engine time never settles".into()));
                }
                Step::ResendNow => {
                    resends += 1;
                    continue;
                }
                Step::StaleReply(_) if stale_replies < MAX_STALE_REPLIES => {
                    stale_replies += 1;
                    self.live = None;
                    tracing::debug!("snmp reply for another request skipped, sending again");
                    continue;
                }
                Step::Resync(_) if !time_resynced => {
                    time_resynced = true;
                    resends += 1;
                    continue;
                }
                // A resend did not bring the time into the window: the engine is not the one
                // we know (rebooted, or replaced under the same address).
                Step::Resync(error) | Step::Rediscover(error) => {
                    self.forget_engine().await;
                    error
                }
                Step::Rebuild(error) | Step::StaleReply(error) => error,
            };
            self.live = None;
            failed_attempts += 1;
            tracing::debug!(%error, attempt = failed_attempts, "snmp request failed, rebuilding session");
            if failed_attempts > self.settings.retries {
                return Err(error);
            }
            SnmpTargetStats::bump(&self.settings.stats.retries);
        }
    }

    /// Marks the engine the live session was built from for rediscovery.
    async fn forget_engine(&mut self) {
        if let Some(generation) = self.live.as_ref().and_then(|live| live.engine_generation) {
            self.engine.forget(generation).await;
        }
    }

    /// One attempt: build the session if needed, send, and copy the reply out.
    async fn attempt(&mut self, request: Request<'_>) -> Result<Response, AttemptError> {
        if self.live.as_ref().is_some_and(is_stale) {
            self.live = None;
        }
        if self.live.is_none() {
            self.live = Some(self.connect().await?);
        }
        let Some(live) = self.live.as_mut() else {
            // Invariant: set just above.
            return Err(AttemptError::Setup(SnmpError::Protocol(
                "no session".into(),
            )));
        };
        SnmpTargetStats::bump(&self.settings.stats.requests_sent);
        let response = send(&mut live.session, request).await?;
        live.last_answer = Instant::now();
        Ok(response)
    }

    async fn connect(&self) -> Result<Live, AttemptError> {
        let settings = &self.settings;
        let address = resolve(&settings.host, settings.port.unwrap_or(DEFAULT_PORT))
            .await
            .map_err(AttemptError::Setup)?;
        let request_id = starting_request_id();
        let (session, engine_generation) = match &settings.credential {
            SnmpCredential::V1 { community } => (
                AsyncSession::new_v1(address, community.expose().as_bytes(), request_id)
                    .await
                    .map_err(socket_error)?,
                None,
            ),
            SnmpCredential::V2c { community } => (
                AsyncSession::new_v2c(address, community.expose().as_bytes(), request_id)
                    .await
                    .map_err(socket_error)?,
                None,
            ),
            SnmpCredential::V3(credential) => {
                let ticket = self
                    .engine
                    .ticket(address, &security(credential), &settings.stats)
                    .await
                    .map_err(|error| match error {
                        DiscoveryError::Failed(error) => AttemptError::Setup(error),
                        DiscoveryError::Snmp(error) => AttemptError::Snmp(error),
                    })?;
                // No init(): the engine is known, so the session needs no discovery of its own.
                let session = AsyncSession::new_v3(address, request_id, ticket.security)
                    .await
                    .map_err(socket_error)?;
                (session, Some(ticket.generation))
            }
        };
        Ok(Live {
            session,
            engine_generation,
            last_answer: Instant::now(),
        })
    }

    fn classify(&self, result: Result<Response, AttemptError>) -> Step {
        match result {
            Ok(response) => Step::Done(response),
            Err(AttemptError::Setup(error)) => Step::Fail(error),
            Err(AttemptError::Snmp(error)) => classify_snmp_error(error, self.version()),
        }
    }
}

/// A v3 session idle for long would send an engine time the agent refuses (snmp2 sends the
/// time it last heard): it is rebuilt from the engine cache, whose clock runs on.
fn is_stale(live: &Live) -> bool {
    live.engine_generation.is_some() && live.last_answer.elapsed() > MAX_V3_IDLE
}

fn socket_error(error: std::io::Error) -> AttemptError {
    AttemptError::Setup(SnmpError::Network(format!("socket: {}", error.kind())))
}

/// Maps an snmp2 error to what the request loop does next.
fn classify_snmp_error(error: snmp2::Error, version: SnmpVersion) -> Step {
    use snmp2::Error as E;
    match error {
        E::AuthUpdated => Step::ResendNow,
        E::RequestIdMismatch => Step::StaleReply(SnmpError::Protocol("request id mismatch".into())),
        E::AuthFailure(v3::AuthErrorKind::EngineTimeMismatch) => {
            Step::Resync(SnmpError::Auth("engine time out of window".into()))
        }
        // The agent's engine is not the one we discovered: its boots went back, or it
        // answers with another engine id (unknownEngineID after a replacement).
        E::AuthFailure(v3::AuthErrorKind::EngineBootsMismatch)
        | E::AuthFailure(v3::AuthErrorKind::EngineIdMismatch) => {
            Step::Rediscover(SnmpError::Auth("agent engine changed".into()))
        }
        E::AuthFailure(kind) => Step::Fail(SnmpError::Auth(kind.to_string())),
        E::Crypto(_) => Step::Fail(SnmpError::Auth("cryptographic failure".into())),
        // A connected UDP socket reports ICMP port/host unreachable as a receive error.
        E::Receive | E::Send => Step::Fail(SnmpError::Network(error.to_string())),
        // For v3 a Report PDU (usmStats: unknown user, unsupported security level...) fails the
        // response-type check: the agent is refusing our security parameters.
        E::AsnWrongType if version == SnmpVersion::V3 => {
            Step::Fail(SnmpError::Auth("agent answered with a report".into()))
        }
        other => Step::Fail(SnmpError::Protocol(other.to_string())),
    }
}

/// Resolves the target without blocking the runtime.
async fn resolve(host: &str, port: u16) -> Result<SocketAddr, SnmpError> {
    let mut addresses = tokio::net::lookup_host((host, port))
        .await
        .map_err(|error| {
            tracing::debug!(%error, host, "snmp target does not resolve");
            SnmpError::Resolve
        })?;
    addresses.next().ok_or(SnmpError::Resolve)
}

/// Request ids start at a random point so a rebuilt session does not reuse recent ids.
fn starting_request_id() -> i32 {
    i32::try_from(rand::random::<u32>() >> 1).unwrap_or(1)
}

/// Translates our v3 credential into snmp2's security parameters.
pub fn security(credential: &SnmpV3Credential) -> v3::Security {
    let auth_password = credential
        .auth
        .as_ref()
        .map(|(_, secret)| secret.expose().as_bytes())
        .unwrap_or_default();
    let mut security = v3::Security::new(credential.username.as_bytes(), auth_password)
        .with_context_name(&credential.context_name)
        .with_auth(auth_level(credential));
    if let Some((protocol, _)) = &credential.auth {
        security = security.with_auth_protocol(auth_protocol(*protocol));
    }
    if let Some(extension) = credential.key_extension {
        security = security.with_key_extension_method(key_extension(extension));
    }
    security
}

fn auth_level(credential: &SnmpV3Credential) -> v3::Auth {
    match (credential.security_level, &credential.privacy) {
        (SecurityLevel::NoAuthNoPriv, _) => v3::Auth::NoAuthNoPriv,
        (SecurityLevel::AuthNoPriv, _) | (SecurityLevel::AuthPriv, None) => v3::Auth::AuthNoPriv,
        (SecurityLevel::AuthPriv, Some((protocol, secret))) => v3::Auth::AuthPriv {
            cipher: cipher(*protocol),
            privacy_password: secret.expose().as_bytes().to_vec(),
        },
    }
}

fn auth_protocol(protocol: AuthProtocol) -> v3::AuthProtocol {
    match protocol {
        AuthProtocol::Md5 => v3::AuthProtocol::Md5,
        AuthProtocol::Sha1 => v3::AuthProtocol::Sha1,
        AuthProtocol::Sha224 => v3::AuthProtocol::Sha224,
        AuthProtocol::Sha256 => v3::AuthProtocol::Sha256,
        AuthProtocol::Sha384 => v3::AuthProtocol::Sha384,
        AuthProtocol::Sha512 => v3::AuthProtocol::Sha512,
    }
}

fn cipher(protocol: PrivProtocol) -> v3::Cipher {
    match protocol {
        PrivProtocol::Des => v3::Cipher::Des,
        PrivProtocol::Aes128 => v3::Cipher::Aes128,
        PrivProtocol::Aes192 => v3::Cipher::Aes192,
        PrivProtocol::Aes256 => v3::Cipher::Aes256,
    }
}

fn key_extension(extension: KeyExtension) -> v3::KeyExtension {
    match extension {
        KeyExtension::Blumenthal => v3::KeyExtension::Blumenthal,
        KeyExtension::Reeder => v3::KeyExtension::Reeder,
    }
}

fn to_snmp2_oids(oids: &[Oid]) -> Result<Vec<snmp2::Oid<'static>>, AttemptError> {
    oids.iter()
        .map(|oid| {
            oid_to_snmp2(oid).ok_or_else(|| {
                AttemptError::Setup(SnmpError::Protocol("OID cannot be encoded".into()))
            })
        })
        .collect()
}

/// Sends one request on a live session and copies the reply before the buffer is reused.
async fn send(session: &mut AsyncSession, request: Request<'_>) -> Result<Response, AttemptError> {
    let pdu = match request {
        Request::Get(oids) => {
            let oids = to_snmp2_oids(oids)?;
            let refs: Vec<&snmp2::Oid<'_>> = oids.iter().collect();
            session.get_many(&refs).await
        }
        Request::GetNext(oid) => {
            let oids = to_snmp2_oids(std::slice::from_ref(oid))?;
            let refs: Vec<&snmp2::Oid<'_>> = oids.iter().collect();
            session.getnext(refs[0]).await
        }
        Request::GetBulk {
            oids,
            max_repetitions,
        } => {
            let oids = to_snmp2_oids(oids)?;
            let refs: Vec<&snmp2::Oid<'_>> = oids.iter().collect();
            session.getbulk(&refs, 0, max_repetitions).await
        }
    }
    .map_err(AttemptError::Snmp)?;
    copy_response(&pdu)
}

fn copy_response(pdu: &snmp2::Pdu<'_>) -> Result<Response, AttemptError> {
    response_from_pdu(pdu).map_err(AttemptError::Setup)
}

/// Copies a decoded PDU's status and varbinds into owned values (also the fuzz targets' way
/// from a datagram to a `Response`).
pub(crate) fn response_from_pdu(pdu: &snmp2::Pdu<'_>) -> Result<Response, SnmpError> {
    // A 1472-byte reply carries 40 to 70 varbinds: one allocation for the usual case.
    let mut varbinds = Vec::with_capacity(64);
    for (name, value) in pdu.varbinds.clone() {
        let oid = oid_from_snmp2(&name)
            .ok_or_else(|| SnmpError::Protocol("OID arc above 2^32".into()))?;
        varbinds.push((oid, SnmpValue::from_snmp2(&value)));
    }
    Ok(Response {
        error_status: pdu.error_status,
        error_index: pdu.error_index,
        varbinds,
    })
}
