//! Serving: binding the sockets (and the open-file limit), one task per socket with
//! per-thread scratch buffers, each datagram decoded, checked, answered, dropped or delayed.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

use super::ber::tag;
use super::message::{
    self, flags, CommunityMessage, Incoming, OidList, Pdu, PduHeader, PduKind, V3Message, Version,
};
use super::respond::{self, Answer, Context, SizeLimit};
use super::stats::{AgentStats, UsmCounters, UsmStat};
use super::usm::{LocalKeys, UserTable, SALT_LEN};
use super::v3::{self, Report, ResponseSecurity, V3Envelope, Verdict};
use super::view::{EngineState, View};
use super::{AgentError, AgentSettings, Endpoint};
use crate::simulator::mib::{MibView, Reaction};

/// Every engine has booted once: engineBoots is constant for the simulator's lifetime.
const ENGINE_BOOTS: u32 = 1;

/// Descriptors kept free for everything that is not a device socket (runtime, logs, HTTP).
const FILE_SLACK: libc::rlim_t = 256;

/// Datagrams handled per wake-up before the socket's task lets others run.
const BURST: usize = 32;

/// One device's socket and per-engine state (kept small: 10,000 of them must fit easily).
struct EndpointState {
    socket: UdpSocket,
    device: Arc<dyn MibView>,
    engine_id: Vec<u8>,
    usm: UsmCounters,
    /// The v3 users' keys localised to this engine, computed on its first v3 request.
    keys: OnceLock<Box<[LocalKeys]>>,
}

/// What every socket task shares.
struct Shared {
    settings: Arc<AgentSettings>,
    users: UserTable,
    stats: Arc<AgentStats>,
    /// Source of unique privacy salts for responses.
    salt: AtomicU64,
}

/// A bound agent: every socket is open; `run` serves them.
pub struct Agent {
    shared: Arc<Shared>,
    endpoints: Vec<Arc<EndpointState>>,
    addrs: Vec<SocketAddr>,
}

impl Agent {
    /// The bound addresses (port 0 resolved), in endpoint order.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.addrs.clone()
    }

    pub fn stats(&self) -> Arc<AgentStats> {
        Arc::clone(&self.shared.stats)
    }

    /// Serves every endpoint until `shutdown` is cancelled.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut tasks = tokio::task::JoinSet::new();
        for endpoint in self.endpoints {
            tasks.spawn(serve(Arc::clone(&self.shared), endpoint, shutdown.clone()));
        }
        while tasks.join_next().await.is_some() {}
    }
}

pub(super) async fn bind(
    endpoints: Vec<Endpoint>,
    settings: Arc<AgentSettings>,
) -> Result<Agent, AgentError> {
    raise_file_limit(endpoints.len())?;
    let users = UserTable::new(&settings.security.users)?;
    let mut states = Vec::with_capacity(endpoints.len());
    let mut addrs = Vec::with_capacity(endpoints.len());
    for endpoint in endpoints {
        let socket = bind_socket(endpoint.addr)?;
        let local = socket.local_addr().map_err(|error| AgentError::Bind {
            addr: endpoint.addr,
            error,
        })?;
        addrs.push(local);
        states.push(Arc::new(EndpointState {
            socket,
            device: endpoint.device,
            engine_id: endpoint.engine_id,
            usm: UsmCounters::default(),
            keys: OnceLock::new(),
        }));
    }
    Ok(Agent {
        shared: Arc::new(Shared {
            settings,
            users,
            stats: Arc::new(AgentStats::default()),
            salt: AtomicU64::new(rand::random()),
        }),
        endpoints: states,
        addrs,
    })
}

fn bind_socket(addr: SocketAddr) -> Result<UdpSocket, AgentError> {
    let fail = |error| AgentError::Bind { addr, error };
    let socket = std::net::UdpSocket::bind(addr).map_err(fail)?;
    socket.set_nonblocking(true).map_err(fail)?;
    UdpSocket::from_std(socket).map_err(fail)
}

/// Raises the soft RLIMIT_NOFILE to the hard limit when the sockets would not fit.
fn raise_file_limit(sockets: usize) -> Result<(), AgentError> {
    let needed = libc::rlim_t::try_from(sockets)
        .unwrap_or(libc::rlim_t::MAX)
        .saturating_add(FILE_SLACK);
    let limit = crate::file_limit::current().map_err(AgentError::Rlimit)?;
    if limit.soft >= needed {
        return Ok(());
    }
    if limit.hard < needed {
        return Err(AgentError::FileLimit {
            needed,
            hard: limit.hard,
        });
    }
    let (before, after) = crate::file_limit::raise_to_hard().map_err(AgentError::Rlimit)?;
    tracing::debug!(
        from = before.soft,
        to = after.soft,
        "raised the open-file limit"
    );
    Ok(())
}

/// Buffers reused by every request handled on one worker thread, so an endpoint owns none.
struct Scratch {
    recv: Vec<u8>,
    work: Work,
}

#[derive(Default)]
struct Work {
    oids: OidList,
    varbinds: Vec<u8>,
    out: Vec<u8>,
    plain: Vec<u8>,
    cipher: Vec<u8>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch {
        // The largest UDP payload.
        recv: vec![0; 65_536],
        work: Work::default(),
    });
}

/// A reply that cannot be sent right now.
struct Deferred {
    bytes: Vec<u8>,
    peer: SocketAddr,
    delay: Duration,
}

enum Step {
    /// Nothing more to read for now.
    Idle,
    Handled,
    Later(Deferred),
}

async fn serve(shared: Arc<Shared>, endpoint: Arc<EndpointState>, shutdown: CancellationToken) {
    loop {
        tokio::select! {
            biased;
            () = shutdown.cancelled() => return,
            ready = endpoint.socket.readable() => {
                if let Err(error) = ready {
                    tracing::warn!(%error, "simulator socket failed; endpoint stops");
                    return;
                }
            }
        }
        for _ in 0..BURST {
            match SCRATCH.with_borrow_mut(|scratch| receive_one(&shared, &endpoint, scratch)) {
                Step::Idle => break,
                Step::Handled => {}
                Step::Later(deferred) => {
                    send_later(Arc::clone(&endpoint), deferred, shutdown.clone())
                }
            }
        }
    }
}

/// Sends a reply after its delay, without holding up the socket's other requests.
fn send_later(endpoint: Arc<EndpointState>, deferred: Deferred, shutdown: CancellationToken) {
    tokio::spawn(async move {
        tokio::select! {
            () = shutdown.cancelled() => {}
            () = tokio::time::sleep(deferred.delay) => {
                // UDP: a failed send is a lost packet, as on a real network.
                let _ = endpoint.socket.send_to(&deferred.bytes, deferred.peer).await;
            }
        }
    });
}

/// Reads one datagram (if any) and answers it synchronously from the scratch buffers.
fn receive_one(shared: &Shared, endpoint: &EndpointState, scratch: &mut Scratch) -> Step {
    let (len, peer) = match endpoint.socket.try_recv_from(&mut scratch.recv) {
        Ok(received) => received,
        Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => return Step::Idle,
        Err(_) => return Step::Handled,
    };
    let work = &mut scratch.work;
    let delay = match handle(shared, endpoint, &scratch.recv[..len], work) {
        Disposition::Silent => return Step::Handled,
        Disposition::Reply(delay) => delay,
    };
    if delay.is_zero() {
        match endpoint.socket.try_send_to(&work.out, peer) {
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {}
            _ => return Step::Handled,
        }
    }
    Step::Later(Deferred {
        bytes: work.out.clone(),
        peer,
        delay,
    })
}

/// What to do with a request once handled: the reply (if any) is in `Work::out`.
enum Disposition {
    Silent,
    Reply(Duration),
}

/// Why a request gets no reply.
enum Silence {
    Malformed,
    Unauthorised,
}

fn handle(
    shared: &Shared,
    endpoint: &EndpointState,
    datagram: &[u8],
    work: &mut Work,
) -> Disposition {
    let stats = &shared.stats;
    AgentStats::add(&stats.requests, 1);
    let at = shared.settings.epoch.elapsed();
    let result = match message::decode_message(datagram) {
        Err(_) => Err(Silence::Malformed),
        Ok(incoming) => {
            let delay = match endpoint.device.reaction(at) {
                Reaction::Drop => {
                    AgentStats::add(&stats.dropped, 1);
                    return Disposition::Silent;
                }
                Reaction::Answer => Duration::ZERO,
                Reaction::Delay(delay) => delay,
            };
            let request = Request {
                shared,
                endpoint,
                at,
            };
            let answered = match incoming {
                Incoming::Community(message) => request.answer_community(message, work),
                Incoming::V3(message) => request.answer_v3(datagram, message, work),
            };
            answered.map(|answer| (answer, delay))
        }
    };
    match result {
        Ok((answer, delay)) => {
            AgentStats::add(&stats.responses, 1);
            AgentStats::add(&stats.varbinds, answer.varbind_count as u64);
            if answer.is_too_big() {
                AgentStats::add(&stats.too_big, 1);
            }
            Disposition::Reply(delay)
        }
        Err(Silence::Malformed) => {
            AgentStats::add(&stats.decode_errors, 1);
            Disposition::Silent
        }
        Err(Silence::Unauthorised) => {
            AgentStats::add(&stats.auth_failures, 1);
            Disposition::Silent
        }
    }
}

/// One request being answered.
struct Request<'a> {
    shared: &'a Shared,
    endpoint: &'a EndpointState,
    at: Duration,
}

impl<'a> Request<'a> {
    fn engine_time(&self) -> u32 {
        u32::try_from(self.at.as_secs())
            .unwrap_or(u32::MAX)
            .min(i32::MAX as u32)
    }

    fn view(&self) -> View<'a> {
        View {
            device: self.endpoint.device.as_ref(),
            engine: EngineState {
                engine_id: &self.endpoint.engine_id,
                boots: ENGINE_BOOTS,
                time: self.engine_time(),
                max_message_size: self.shared.settings.max_message_size,
                usm: &self.endpoint.usm,
            },
            at: self.at,
        }
    }

    fn keys(&self) -> &'a [LocalKeys] {
        let endpoint = self.endpoint;
        endpoint
            .keys
            .get_or_init(|| self.shared.users.localize(&endpoint.engine_id))
    }

    fn answer_community(
        &self,
        message: CommunityMessage<'_>,
        work: &mut Work,
    ) -> Result<Answer, Silence> {
        // Real agents say nothing to a wrong community.
        if message.community != self.shared.settings.security.community.expose().as_bytes() {
            return Err(Silence::Unauthorised);
        }
        let pdu = message::decode_pdu(message.pdu_tag, message.pdu, &mut work.oids)
            .map_err(|_| Silence::Malformed)?;
        if message.version == Version::V1 && pdu.kind == PduKind::GetBulk {
            return Err(Silence::Malformed);
        }
        let envelope = message::CommunityEnvelope {
            version: message.version,
            community: message.community,
        };
        let message_len = |pdu_len| envelope.message_len(pdu_len);
        let context = Context {
            view: self.view(),
            version: message.version,
            limit: SizeLimit {
                max_message_len: self.shared.settings.max_message_size,
                message_len: &message_len,
            },
        };
        let answer = respond::answer(&context, &pdu, &work.oids, &mut work.varbinds);
        envelope.write(&mut work.out, &answer.header, &work.varbinds);
        Ok(answer)
    }

    fn answer_v3(
        &self,
        datagram: &[u8],
        message: V3Message<'_>,
        work: &mut Work,
    ) -> Result<Answer, Silence> {
        let keys = || self.keys();
        let engine = v3::Engine {
            engine_id: &self.endpoint.engine_id,
            boots: ENGINE_BOOTS,
            time: self.engine_time(),
            users: &self.shared.users,
            keys: &keys,
            counters: &self.endpoint.usm,
        };
        let accepted = match v3::check(&engine, datagram, &message, &mut work.plain) {
            Verdict::Accept(accepted) => accepted,
            Verdict::Report(report) => return self.send_report(&message, &report, work),
            Verdict::Silent => return Err(Silence::Unauthorised),
            Verdict::Discard(_) => return Err(Silence::Malformed),
        };
        let scoped = accepted.scoped;
        let pdu = message::decode_pdu(scoped.pdu_tag, scoped.pdu, &mut work.oids)
            .map_err(|_| Silence::Malformed)?;
        let wants_priv = message.flags & flags::PRIV != 0;
        let security = accepted.user.map_or(
            ResponseSecurity {
                auth: None,
                privacy: None,
            },
            |user| self.response_security(&self.keys()[user], wants_priv),
        );
        let envelope = V3Envelope {
            msg_id: message.msg_id,
            max_size: self.advertised_max_size(),
            engine_id: &self.endpoint.engine_id,
            boots: ENGINE_BOOTS,
            time: self.engine_time(),
            user_name: message.usm.user_name,
            security,
            context_engine_id: scoped.context_engine_id,
            context_name: scoped.context_name,
            reportable: false,
        };
        let message_len = |pdu_len| envelope.message_len(pdu_len);
        let context = Context {
            view: self.view(),
            version: Version::V3,
            limit: SizeLimit {
                // RFC 3412 7.1 3b: the manager's msgMaxSize bounds the response too.
                max_message_len: self
                    .shared
                    .settings
                    .max_message_size
                    .min(message.max_size as usize),
                message_len: &message_len,
            },
        };
        let answer = respond::answer(&context, &pdu, &work.oids, &mut work.varbinds);
        envelope
            .write(
                &mut work.out,
                &mut work.cipher,
                Pdu {
                    header: answer.header,
                    varbinds: &work.varbinds,
                },
            )
            .map_err(|_| Silence::Malformed)?;
        Ok(answer)
    }

    fn advertised_max_size(&self) -> u32 {
        u32::try_from(self.shared.settings.max_message_size)
            .unwrap_or(u32::MAX)
            .min(i32::MAX as u32)
    }

    fn response_security(&self, keys: &'a LocalKeys, wants_priv: bool) -> ResponseSecurity<'a> {
        let privacy = match &keys.privacy {
            Some((protocol, key)) if wants_priv => {
                let salt: [u8; SALT_LEN] = self
                    .shared
                    .salt
                    .fetch_add(1, Ordering::Relaxed)
                    .to_be_bytes();
                Some((*protocol, key.as_slice(), salt))
            }
            _ => None,
        };
        ResponseSecurity {
            auth: Some((keys.auth, keys.auth_key.as_slice())),
            privacy,
        }
    }

    /// A Report (RFC 3412 7.1 3b): the counter that explains the refusal.
    fn send_report(
        &self,
        message: &V3Message<'_>,
        report: &Report,
        work: &mut Work,
    ) -> Result<Answer, Silence> {
        let failed = !matches!(
            report.stat,
            UsmStat::UnknownEngineIds | UsmStat::NotInTimeWindows
        );
        if failed {
            AgentStats::add(&self.shared.stats.auth_failures, 1);
        }
        let security = match report.signed_for {
            Some(user) => self.response_security(&self.keys()[user], false),
            None => ResponseSecurity {
                auth: None,
                privacy: None,
            },
        };
        let envelope = V3Envelope {
            msg_id: message.msg_id,
            max_size: self.advertised_max_size(),
            engine_id: &self.endpoint.engine_id,
            boots: ENGINE_BOOTS,
            time: self.engine_time(),
            user_name: message.usm.user_name,
            security,
            context_engine_id: &self.endpoint.engine_id,
            context_name: b"",
            reportable: false,
        };
        let header = PduHeader {
            tag: tag::REPORT,
            request_id: report.request_id,
            error_status: 0,
            error_index: 0,
        };
        v3::report_varbind(&mut work.varbinds, report);
        envelope
            .write(
                &mut work.out,
                &mut work.cipher,
                Pdu {
                    header,
                    varbinds: &work.varbinds,
                },
            )
            .map_err(|_| Silence::Malformed)?;
        Ok(Answer {
            header,
            varbind_count: 1,
        })
    }
}
