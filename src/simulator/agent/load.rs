//! A load generator for benchmarks: concurrent SNMPv2c GETBULK walks (written with the agent's
//! own codec) against a set of endpoints, counting varbinds per second.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::time::Instant;

use super::ber::{self, tag, DecodeError, Reader};

/// What to run.
#[derive(Debug, Clone)]
pub struct LoadSettings {
    /// Walkers are spread over these endpoints round-robin.
    pub targets: Vec<SocketAddr>,
    pub community: String,
    /// The subtree every walk covers, again and again.
    pub root: Vec<u32>,
    pub max_repetitions: u32,
    /// Walkers in flight, each with one outstanding request.
    pub concurrency: usize,
    pub duration: Duration,
    /// How long one request may take before it counts as lost.
    pub timeout: Duration,
}

/// What was achieved.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LoadReport {
    pub requests: u64,
    pub varbinds: u64,
    pub timeouts: u64,
    pub walks: u64,
    pub elapsed: Duration,
}

impl LoadReport {
    pub fn varbinds_per_second(&self) -> f64 {
        self.varbinds as f64 / self.elapsed.as_secs_f64().max(f64::EPSILON)
    }

    fn add(&mut self, other: &LoadReport) {
        self.requests += other.requests;
        self.varbinds += other.varbinds;
        self.timeouts += other.timeouts;
        self.walks += other.walks;
    }
}

/// Why the load could not run.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("no targets to load")]
    NoTargets,
    #[error("socket: {0}")]
    Socket(#[from] std::io::Error),
}

/// Runs the walkers for `settings.duration` and sums what they did.
pub async fn run_load(settings: LoadSettings) -> Result<LoadReport, LoadError> {
    if settings.targets.is_empty() {
        return Err(LoadError::NoTargets);
    }
    let started = Instant::now();
    let deadline = started + settings.duration;
    let mut walkers = tokio::task::JoinSet::new();
    for index in 0..settings.concurrency.max(1) {
        let target = settings.targets[index % settings.targets.len()];
        let socket = UdpSocket::bind("127.0.0.1:0").await?;
        socket.connect(target).await?;
        walkers.spawn(walk_until(socket, settings.clone(), deadline, index as i32));
    }
    Ok(sum_walkers(walkers, started).await)
}

/// Waits for every walker and adds up what they did.
async fn sum_walkers(
    mut walkers: tokio::task::JoinSet<LoadReport>,
    started: Instant,
) -> LoadReport {
    let mut report = LoadReport::default();
    while let Some(walker) = walkers.join_next().await {
        if let Ok(done) = walker {
            report.add(&done);
        }
    }
    report.elapsed = started.elapsed();
    report
}

/// One walker: GETBULK from the root to the end of the subtree, then again.
async fn walk_until(
    socket: UdpSocket,
    settings: LoadSettings,
    deadline: Instant,
    seed: i32,
) -> LoadReport {
    let mut report = LoadReport::default();
    let mut walker = Walker::new(socket, &settings, seed);
    while Instant::now() < deadline {
        if walker.step(&settings, &mut report).await == Step::WalkDone {
            report.walks += 1;
        }
    }
    report
}

/// Consecutive lost requests after which [`walk_each_once`] gives a target up.
const GIVE_UP_AFTER_LOSSES: u32 = 3;

/// Walks the subtree of every target exactly once, `settings.concurrency` targets at a time,
/// then returns (`settings.duration` is ignored). For benchmarks that must touch every device
/// (peak memory after a full walk), where round-robin walkers would only reach a few.
pub async fn walk_each_once(settings: LoadSettings) -> Result<LoadReport, LoadError> {
    if settings.targets.is_empty() {
        return Err(LoadError::NoTargets);
    }
    let started = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let mut walkers = tokio::task::JoinSet::new();
    for index in 0..settings.concurrency.clamp(1, settings.targets.len()) {
        let socket = UdpSocket::bind("127.0.0.1:0").await?;
        walkers.spawn(walk_targets_once(
            socket,
            settings.clone(),
            Arc::clone(&next),
            index as i32,
        ));
    }
    Ok(sum_walkers(walkers, started).await)
}

/// One walker of [`walk_each_once`]: takes the next unwalked target until none is left.
async fn walk_targets_once(
    socket: UdpSocket,
    settings: LoadSettings,
    next: Arc<AtomicUsize>,
    seed: i32,
) -> LoadReport {
    let mut report = LoadReport::default();
    let mut walker = Walker::new(socket, &settings, seed);
    while let Some(&target) = settings.targets.get(next.fetch_add(1, Ordering::Relaxed)) {
        if walker.socket.connect(target).await.is_err() {
            report.timeouts += 1;
            continue;
        }
        walker.cursor.clone_from(&settings.root);
        let mut losses = 0;
        while losses < GIVE_UP_AFTER_LOSSES {
            match walker.step(&settings, &mut report).await {
                Step::WalkDone => {
                    report.walks += 1;
                    break;
                }
                Step::Lost => losses += 1,
                Step::Progress => losses = 0,
            }
        }
    }
    report
}

/// What one request did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Progress,
    WalkDone,
    Lost,
}

/// A socket with one walk in progress and its reusable buffers.
struct Walker {
    socket: UdpSocket,
    cursor: Vec<u32>,
    request: Vec<u8>,
    buffer: Vec<u8>,
    request_id: i32,
}

impl Walker {
    fn new(socket: UdpSocket, settings: &LoadSettings, seed: i32) -> Self {
        Walker {
            socket,
            cursor: settings.root.clone(),
            request: Vec::with_capacity(256),
            buffer: vec![0u8; 65_536],
            request_id: seed.wrapping_mul(1_000_003) & 0x3fff_ffff,
        }
    }

    /// Sends one GETBULK from the cursor and reads its answer; restarts the walk at the root
    /// when it reaches the end of the subtree.
    async fn step(&mut self, settings: &LoadSettings, report: &mut LoadReport) -> Step {
        self.request_id = (self.request_id + 1) & 0x3fff_ffff;
        encode_getbulk(&mut self.request, settings, self.request_id, &self.cursor);
        report.requests += 1;
        if self.socket.send(&self.request).await.is_err() {
            report.timeouts += 1;
            return Step::Lost;
        }
        let received = tokio::time::timeout(
            settings.timeout,
            receive_matching(&self.socket, &mut self.buffer, self.request_id),
        )
        .await;
        let Ok(Some(len)) = received else {
            report.timeouts += 1;
            return Step::Lost;
        };
        match read_response(&self.buffer[..len], &settings.root, &mut self.cursor) {
            Ok(step) => {
                report.varbinds += step.varbinds;
                if step.walk_done {
                    self.cursor.clone_from(&settings.root);
                    Step::WalkDone
                } else {
                    Step::Progress
                }
            }
            Err(_) => {
                report.timeouts += 1;
                Step::Lost
            }
        }
    }
}

/// Waits for the reply to `request_id`, skipping late replies to earlier requests.
async fn receive_matching(socket: &UdpSocket, buffer: &mut [u8], request_id: i32) -> Option<usize> {
    loop {
        let len = socket.recv(buffer).await.ok()?;
        if response_request_id(&buffer[..len]) == Some(request_id) {
            return Some(len);
        }
    }
}

fn encode_getbulk(out: &mut Vec<u8>, settings: &LoadSettings, request_id: i32, cursor: &[u32]) {
    let mut varbind = Vec::with_capacity(64);
    ber::write_oid(&mut varbind, cursor);
    varbind.extend_from_slice(&[tag::NULL, 0]);
    let mut varbinds = Vec::with_capacity(80);
    ber::write_octets(&mut varbinds, tag::SEQUENCE, &varbind);
    let mut pdu = Vec::with_capacity(128);
    ber::write_integer(&mut pdu, tag::INTEGER, i64::from(request_id));
    ber::write_integer(&mut pdu, tag::INTEGER, 0);
    ber::write_integer(&mut pdu, tag::INTEGER, i64::from(settings.max_repetitions));
    ber::write_octets(&mut pdu, tag::SEQUENCE, &varbinds);
    let mut body = Vec::with_capacity(192);
    ber::write_integer(&mut body, tag::INTEGER, 1);
    ber::write_octets(&mut body, tag::OCTET_STRING, settings.community.as_bytes());
    ber::write_octets(&mut body, tag::GET_BULK, &pdu);
    out.clear();
    ber::write_octets(out, tag::SEQUENCE, &body);
}

/// The fields of a v2c response PDU, as a reader positioned after error-index.
fn response_fields(datagram: &[u8]) -> Result<(i32, Reader<'_>), DecodeError> {
    let mut message = Reader::new(Reader::new(datagram).expect(tag::SEQUENCE)?);
    message.read_i32()?;
    message.expect(tag::OCTET_STRING)?;
    let mut pdu = Reader::new(message.expect(tag::RESPONSE)?);
    let request_id = pdu.read_i32()?;
    let error_status = pdu.read_i32()?;
    pdu.read_i32()?;
    if error_status != 0 {
        return Err(DecodeError::Malformed);
    }
    Ok((request_id, Reader::new(pdu.expect(tag::SEQUENCE)?)))
}

fn response_request_id(datagram: &[u8]) -> Option<i32> {
    response_fields(datagram).ok().map(|(id, _)| id)
}

/// What one response did to the walk.
struct WalkStep {
    varbinds: u64,
    walk_done: bool,
}

/// Counts the varbinds inside the subtree and moves the cursor to the last one.
fn read_response(
    datagram: &[u8],
    root: &[u32],
    cursor: &mut Vec<u32>,
) -> Result<WalkStep, DecodeError> {
    let (_, mut varbinds) = response_fields(datagram)?;
    let mut step = WalkStep {
        varbinds: 0,
        walk_done: false,
    };
    let mut oid = Vec::with_capacity(32);
    while !varbinds.is_empty() {
        let mut varbind = Reader::new(varbinds.expect(tag::SEQUENCE)?);
        oid.clear();
        ber::decode_oid_into(varbind.expect(tag::OBJECT_ID)?, &mut oid)?;
        let (value_tag, _) = varbind.read_tlv()?;
        if value_tag == tag::END_OF_MIB_VIEW || !oid.starts_with(root) {
            step.walk_done = true;
            break;
        }
        step.varbinds += 1;
        cursor.clone_from(&oid);
    }
    if step.varbinds == 0 {
        step.walk_done = true;
    }
    Ok(step)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;
    use crate::simulator::agent::{self, AgentSecurity, AgentSettings, Endpoint};
    use crate::simulator::mib::{MibView, SimValue, StaticMib};
    use tokio_util::sync::CancellationToken;

    const ROOT: [u32; 4] = [1, 3, 6, 9];

    /// Agents serving 120 objects under ROOT and one after it (outside the walked subtree).
    async fn agents(count: u32) -> (Vec<SocketAddr>, CancellationToken) {
        let mut objects: Vec<(Vec<u32>, SimValue)> = (1..=120u32)
            .map(|row| {
                (
                    [&ROOT[..], &[1, row]].concat(),
                    SimValue::Integer(row as i32),
                )
            })
            .collect();
        objects.push((vec![1, 3, 6, 10, 1], SimValue::Integer(0)));
        let mib: Arc<dyn MibView> = Arc::new(StaticMib::new(objects));
        let endpoints = (0..count)
            .map(|index| Endpoint {
                addr: "127.0.0.1:0".parse().expect("address"),
                device: Arc::clone(&mib),
                engine_id: agent::engine_id_for(index),
            })
            .collect();
        let settings = AgentSettings::new(AgentSecurity {
            community: Secret::new("public"),
            users: Vec::new(),
        });
        let agent = agent::bind(endpoints, Arc::new(settings))
            .await
            .expect("bind agents");
        let addrs = agent.local_addrs();
        let shutdown = CancellationToken::new();
        tokio::spawn(agent.run(shutdown.clone()));
        (addrs, shutdown)
    }

    fn settings(targets: Vec<SocketAddr>, concurrency: usize) -> LoadSettings {
        LoadSettings {
            targets,
            community: "public".into(),
            root: ROOT.to_vec(),
            max_repetitions: 50,
            concurrency,
            duration: Duration::from_secs(1),
            timeout: Duration::from_secs(2),
        }
    }

    #[tokio::test]
    async fn walk_each_once_walks_every_target_exactly_once() {
        let (targets, shutdown) = agents(5).await;
        let report = walk_each_once(settings(targets, 2)).await.expect("load");
        shutdown.cancel();
        assert_eq!(report.walks, 5);
        assert_eq!(report.varbinds, 5 * 120);
        assert_eq!(report.timeouts, 0);
        // 120 objects at 50 per request: 3 requests per walk.
        assert_eq!(report.requests, 5 * 3);
    }

    #[tokio::test]
    async fn run_load_counts_only_the_subtree() {
        let (targets, shutdown) = agents(2).await;
        let report = run_load(settings(targets, 4)).await.expect("load");
        shutdown.cancel();
        assert!(report.walks > 0, "{report:?}");
        assert_eq!(report.timeouts, 0);
        assert!(report.varbinds <= report.requests * 50);
        assert!(report.varbinds >= report.walks * 120);
    }

    #[tokio::test]
    async fn a_silent_target_is_given_up() {
        let silent = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        let mut quick = settings(vec![silent.local_addr().expect("address")], 1);
        quick.timeout = Duration::from_millis(50);
        let report = walk_each_once(quick).await.expect("load");
        assert_eq!(report.walks, 0);
        assert_eq!(report.timeouts, u64::from(GIVE_UP_AFTER_LOSSES));
    }
}
