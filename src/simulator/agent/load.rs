//! A load generator for benchmarks: concurrent SNMPv2c GETBULK walks (written with the agent's
//! own codec) against a set of endpoints, counting varbinds per second.

use std::net::SocketAddr;
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
    let mut report = LoadReport::default();
    while let Some(walker) = walkers.join_next().await {
        if let Ok(done) = walker {
            report.add(&done);
        }
    }
    report.elapsed = started.elapsed();
    Ok(report)
}

/// One walker: GETBULK from the root to the end of the subtree, then again.
async fn walk_until(
    socket: UdpSocket,
    settings: LoadSettings,
    deadline: Instant,
    seed: i32,
) -> LoadReport {
    let mut report = LoadReport::default();
    let mut cursor = settings.root.clone();
    let mut request = Vec::with_capacity(256);
    let mut buffer = vec![0u8; 65_536];
    let mut request_id = seed.wrapping_mul(1_000_003) & 0x3fff_ffff;
    while Instant::now() < deadline {
        request_id = (request_id + 1) & 0x3fff_ffff;
        encode_getbulk(&mut request, &settings, request_id, &cursor);
        report.requests += 1;
        if socket.send(&request).await.is_err() {
            report.timeouts += 1;
            continue;
        }
        let received = tokio::time::timeout(
            settings.timeout,
            receive_matching(&socket, &mut buffer, request_id),
        )
        .await;
        let Ok(Some(len)) = received else {
            report.timeouts += 1;
            continue;
        };
        match read_response(&buffer[..len], &settings.root, &mut cursor) {
            Ok(step) => {
                report.varbinds += step.varbinds;
                if step.walk_done {
                    report.walks += 1;
                    cursor.clone_from(&settings.root);
                }
            }
            Err(_) => report.timeouts += 1,
        }
    }
    report
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
