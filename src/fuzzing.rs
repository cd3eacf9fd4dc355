//! Entry points of the cargo-fuzz targets (`fuzz/`) and of their regression test: each runs bytes a peer could send through the real decoder and checks what must hold whatever the bytes.
//!
//! Not an API: hidden from the docs, kept here (rather than in `fuzz/`) so the stable test
//! `tests/fuzz_regressions.rs` replays every committed input through exactly the same path.
//! A function returns `Err`/`None` for input the decoder refuses; it panics only when an
//! invariant breaks, which is what the fuzzer reports as a crash.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, OnceLock};
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use snmp2::v3;

use crate::config::{FilesystemFilter, Secret};
use crate::poller::icmp::classify::{classify, Expected, Verdict as IcmpVerdict};
use crate::poller::icmp::packet::parse as parse_icmp;
use crate::poller::icmp::IpVersion;
use crate::poller::routeros::word::{
    encode_sentence, take_sentence, Reply, ReplyError, ReplyKind, WordError, MAX_SENTENCE_WORDS,
    MAX_WORD_BYTES,
};
use crate::poller::snmp::decode::union_of_indices;
use crate::poller::snmp::engine::{read_report, read_report_same_engine};
use crate::poller::snmp::error::SnmpError;
use crate::poller::snmp::session::{response_from_pdu, Request, Response, SnmpVersion};
use crate::poller::snmp::sizing::BulkSizing;
use crate::poller::snmp::value::{Oid, SnmpValue, Varbind};
use crate::poller::snmp::walk::{walk_sized, ColumnRows, Transport, MAX_ROWS_PER_COLUMN};
use crate::poller::ssh::command::Sections;
use crate::poller::ssh::decode::{decode, DecodeInput};
use crate::simulator::agent::message::{self, CommunityEnvelope, Incoming, OidList, PduKind};
use crate::simulator::agent::respond::{self, Context, SizeLimit};
use crate::simulator::agent::stats::UsmCounters;
use crate::simulator::agent::usm::{LocalKeys, UserTable};
use crate::simulator::agent::v3 as agent_v3;
use crate::simulator::agent::view::{EngineState, View};
use crate::simulator::agent::{UsmAuth, UsmPriv, UsmUser};
use crate::simulator::device::{Device, DeviceSpec};
use crate::simulator::scenario::{FleetShape, ScenarioKind, ScenarioRequest, ScenarioState};

/// The community, user, passwords and engine id the SNMP targets are built with.
const COMMUNITY: &[u8] = b"public";
const USER: &str = "fuzzer";
const AUTH_PASSWORD: &str = "authpass123";
const PRIV_PASSWORD: &str = "privpass123";
const ENGINE_ID: &[u8] = &[0x80, 0x00, 0x1f, 0x88, 0x04, b'f', b'u', b'z', b'z'];

/// The poller's largest message: what its receive buffer (and a UDP datagram) can hold.
const MAX_DATAGRAM: usize = 65_535;

// ---------------------------------------------------------------------------------------
// SNMP responses as the poller receives them (snmp2's decoder, then our copy and conversions)
// ---------------------------------------------------------------------------------------

/// Which security state a v3 response is read with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum V3Case {
    /// A known engine, user without authentication.
    NoAuth,
    /// A known engine, SHA-1 + AES-128 user (keys localised once per process).
    AuthPriv,
    /// The answer to an engine discovery (no engine known yet).
    Discovery,
    /// A rediscovery: the engine was known and its keys are kept when the id comes back.
    Rediscovery,
    /// As `AuthPriv`, the message first signed with the user's key (a fuzzer cannot forge an
    /// HMAC), so decryption and the scoped PDU are reached.
    SignedAes,
    /// The same with a DES user: DES needs whole 8-byte blocks, a fuzzer will send others.
    SignedDes,
}

impl V3Case {
    /// The case a fuzz input's selector byte chooses.
    pub fn from_selector(selector: u8) -> V3Case {
        match selector % 6 {
            0 => V3Case::NoAuth,
            1 => V3Case::AuthPriv,
            2 => V3Case::Discovery,
            3 => V3Case::Rediscovery,
            4 => V3Case::SignedAes,
            _ => V3Case::SignedDes,
        }
    }
}

/// Decodes a v1/v2c datagram the way a session does, then converts every value.
pub fn snmp_community_response(datagram: &[u8]) -> Result<Response, SnmpError> {
    let pdu = snmp2::Pdu::from_bytes(datagram).map_err(protocol)?;
    accept_pdu(&pdu)
}

/// Decodes a v3 datagram with the security state of `case`, then converts every value.
/// Discoveries return `Ok(None)` once the engine is learnt.
pub fn snmp_v3_response(datagram: &[u8], case: V3Case) -> Result<Option<Response>, SnmpError> {
    // snmp2 zeroes the digest inside the buffer it is given: hand it a copy, as the session
    // hands it its own receive buffer.
    let mut buffer = datagram.to_vec();
    if matches!(case, V3Case::SignedAes | V3Case::SignedDes) {
        sign(&mut buffer);
    }
    match case {
        V3Case::NoAuth | V3Case::AuthPriv | V3Case::SignedAes | V3Case::SignedDes => {
            let mut security = known_engine(case).clone();
            let pdu = snmp2::Pdu::from_bytes_with_security(&buffer, Some(&mut security))
                .map_err(protocol)?;
            accept_pdu(&pdu).map(Some)
        }
        V3Case::Discovery => {
            let security = read_report(&mut buffer, known_engine(V3Case::NoAuth))
                .map_err(|_| SnmpError::Protocol("discovery refused".into()))?;
            assert!(
                !security.engine_id().is_empty(),
                "a discovery succeeded without an engine id"
            );
            Ok(None)
        }
        V3Case::Rediscovery => {
            let previous = known_engine(V3Case::AuthPriv);
            match read_report_same_engine(&mut buffer, previous) {
                Some(security) => {
                    assert_eq!(
                        security.engine_id(),
                        ENGINE_ID,
                        "a rediscovery kept keys for another engine"
                    );
                    Ok(None)
                }
                None => Err(SnmpError::Protocol("engine changed".into())),
            }
        }
    }
}

/// The security state a known engine gives a session (built once: localising keys hashes 1 MB).
fn known_engine(case: V3Case) -> &'static v3::Security {
    static NO_AUTH: OnceLock<v3::Security> = OnceLock::new();
    static AUTH_PRIV: OnceLock<v3::Security> = OnceLock::new();
    static AUTH_PRIV_DES: OnceLock<v3::Security> = OnceLock::new();
    let build = |auth: v3::Auth| {
        v3::Security::new(USER.as_bytes(), AUTH_PASSWORD.as_bytes())
            .with_auth(auth)
            .with_auth_protocol(v3::AuthProtocol::Sha1)
            .with_engine_id(ENGINE_ID)
            // Invariant: a constant, valid engine id and credential.
            .expect("fuzz credential localises")
            .with_engine_boots_and_time(1, 1_000)
    };
    let auth_priv = |cipher| v3::Auth::AuthPriv {
        cipher,
        privacy_password: PRIV_PASSWORD.as_bytes().to_vec(),
    };
    match case {
        V3Case::AuthPriv | V3Case::SignedAes | V3Case::Rediscovery => {
            AUTH_PRIV.get_or_init(|| build(auth_priv(v3::Cipher::Aes128)))
        }
        V3Case::SignedDes => AUTH_PRIV_DES.get_or_init(|| build(auth_priv(v3::Cipher::Des))),
        V3Case::NoAuth | V3Case::Discovery => NO_AUTH.get_or_init(|| build(v3::Auth::NoAuthNoPriv)),
    }
}

/// Signs a v3 message in place with the fuzz user's SHA-1 key, as the agent would: the digest
/// field zeroed, HMAC over the whole message, its first 12 bytes written there. Messages
/// without a 12-byte digest field are left alone.
fn sign(datagram: &mut [u8]) {
    static KEY: OnceLock<Vec<u8>> = OnceLock::new();
    let key = KEY.get_or_init(|| {
        UsmAuth::Sha1.localize(
            &UsmAuth::Sha1.password_to_key(AUTH_PASSWORD.as_bytes()),
            ENGINE_ID,
        )
    });
    let range = match message::decode_message(datagram) {
        Ok(Incoming::V3(message)) => message.usm.auth_params_at.clone(),
        _ => return,
    };
    if range.len() != UsmAuth::Sha1.mac_len() {
        return;
    }
    datagram[range.clone()].fill(0);
    let (digest, len) = UsmAuth::Sha1.mac(key, &[datagram]);
    datagram[range].copy_from_slice(&digest[..len]);
}

/// What a session does with a decoded PDU: only a Response is taken, then copied out.
fn accept_pdu(pdu: &snmp2::Pdu<'_>) -> Result<Response, SnmpError> {
    if pdu.message_type != snmp2::MessageType::Response {
        return Err(SnmpError::Protocol("not a response".into()));
    }
    let response = response_from_pdu(pdu)?;
    assert!(
        response.varbinds.len() <= MAX_DATAGRAM / 4,
        "more varbinds than a datagram can carry"
    );
    read_every_value(&response.varbinds);
    Ok(response)
}

/// Runs every conversion the modules apply to a value (counters, gauges, labels).
fn read_every_value(varbinds: &[Varbind]) {
    for (_, value) in varbinds {
        let _ = value.as_counter(true);
        let _ = value.as_counter(false);
        let _ = value.as_unsigned();
        let _ = value.as_gauge(true);
        let _ = value.as_label();
        if let Some(counter) = value.as_counter(true) {
            assert!(counter < crate::poller::snmp::value::FLOAT_EXACT_MODULUS);
        }
    }
}

fn protocol(error: snmp2::Error) -> SnmpError {
    SnmpError::Protocol(error.to_string())
}

// ---------------------------------------------------------------------------------------
// Walks fed by a hostile agent
// ---------------------------------------------------------------------------------------

/// ifTable's entry: the walked columns are `ENTRY.1`, `ENTRY.2`... so "the next column" is a
/// real neighbour, as on a device.
const ENTRY: [u32; 9] = [1, 3, 6, 1, 2, 1, 2, 2, 1];

/// Requests a script may still get answered after its bytes run out (an agent that never
/// ends the walk); more would only make each fuzz input slower.
const ENDLESS_REQUESTS: usize = 50;

/// How a walk driven by [`walk_script`] ended.
#[derive(Debug, Clone, PartialEq)]
pub struct WalkReport {
    pub result: Result<Vec<usize>, SnmpError>,
    pub requests: usize,
}

/// What the scripted agent does once the script's bytes are spent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endless {
    /// Stops answering: the session times out.
    Silent,
    /// Answers every request with the OIDs it was asked for (never increasing).
    SameOids,
    /// Keeps answering with increasing OIDs inside the columns.
    Increasing,
}

/// Walks 1 to 4 columns against a scripted agent: a header (columns, version, endless mode,
/// max-repetitions), then one answer per request, each built from the OIDs actually
/// requested (duplicate, decreasing, out of subtree, huge arcs, wrong types, endOfMibView,
/// tooBig, error-status, timeouts). Panics when the walk loops, keeps a row twice, keeps rows
/// out of order or outside the column, or exceeds the row cap.
pub fn walk_script(script: &[u8]) -> WalkReport {
    let mut bytes = Bytes(script);
    let columns = usize::from(bytes.next() % 4) + 1;
    let mode = bytes.next();
    let version = if mode % 3 == 0 {
        SnmpVersion::V1
    } else {
        SnmpVersion::V2c
    };
    let endless = match (mode / 3) % 3 {
        0 => Endless::Silent,
        1 => Endless::SameOids,
        _ => Endless::Increasing,
    };
    let max_repetitions = u32::from(bytes.next());
    let roots: Vec<Oid> = (1..=columns as u32)
        .map(|column| [&ENTRY[..], &[column]].concat())
        .collect();
    let mut agent = ScriptedAgent {
        version,
        script: bytes,
        endless,
        requests: 0,
        endless_requests: 0,
    };
    let mut sizing = BulkSizing::default();
    let result = run_ready(walk_sized(&mut agent, &roots, &mut sizing, max_repetitions));
    if endless == Endless::SameOids {
        // An agent repeating the OIDs it is asked for makes no progress: the walk must give
        // up on the first such answer (v1 asks column by column).
        assert!(
            agent.endless_requests <= columns,
            "the walk kept asking an agent that repeats OIDs ({} requests)",
            agent.endless_requests
        );
    }
    let result = result.map(|rows| {
        check_rows(&roots, &rows);
        rows.iter().map(ColumnRows::len).collect()
    });
    WalkReport {
        result,
        requests: agent.requests,
    }
}

/// Rows of every column: strictly increasing indices (so unique), none empty, within the cap;
/// and the decoders that join columns accept them.
fn check_rows(roots: &[Oid], rows: &[ColumnRows]) {
    assert_eq!(roots.len(), rows.len(), "one row set per column");
    for column in rows {
        assert!(column.len() <= MAX_ROWS_PER_COLUMN, "row cap exceeded");
        let indices: Vec<&Oid> = column.keys().collect();
        assert!(indices.iter().all(|index| !index.is_empty()), "empty index");
        assert!(
            indices.windows(2).all(|pair| pair[0] < pair[1]),
            "rows out of order or repeated"
        );
        for value in column.values() {
            assert!(!value.is_absent(), "an absent value was kept as a row");
            let _ = value.as_label();
        }
    }
    let union = union_of_indices(rows.iter());
    assert!(union.len() <= rows.iter().map(ColumnRows::len).sum::<usize>());
}

/// Polls a future that never waits (the scripted agent answers at once) to completion.
fn run_ready<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut context = TaskContext::from_waker(std::task::Waker::noop());
    match future.as_mut().poll(&mut context) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the walk waited on something other than the agent"),
    }
}

/// Reads a script byte by byte; zeros once spent.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn next(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&first, rest)) => {
                self.0 = rest;
                first
            }
            None => 0,
        }
    }

    fn u32(&mut self) -> u32 {
        u32::from_be_bytes([self.next(), self.next(), self.next(), self.next()])
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

struct ScriptedAgent<'a> {
    version: SnmpVersion,
    script: Bytes<'a>,
    endless: Endless,
    requests: usize,
    endless_requests: usize,
}

impl Transport for ScriptedAgent<'_> {
    fn version(&self) -> SnmpVersion {
        self.version
    }

    async fn request(&mut self, request: Request<'_>) -> Result<Response, SnmpError> {
        self.requests += 1;
        let (asked, repetitions): (Vec<Oid>, u32) = match request {
            Request::Get(oids) => (oids.to_vec(), 1),
            Request::GetNext(oid) => (vec![oid.clone()], 1),
            Request::GetBulk {
                oids,
                max_repetitions,
            } => (oids.to_vec(), max_repetitions),
        };
        assert!(!asked.is_empty(), "a request without OIDs");
        if self.script.is_empty() {
            return self.answer_endless(&asked, repetitions);
        }
        self.answer_scripted(&asked)
    }
}

impl ScriptedAgent<'_> {
    fn answer_endless(&mut self, asked: &[Oid], repetitions: u32) -> Result<Response, SnmpError> {
        self.endless_requests += 1;
        if self.endless == Endless::Silent || self.endless_requests > ENDLESS_REQUESTS {
            return Err(SnmpError::Timeout);
        }
        let mut cursors = asked.to_vec();
        let mut varbinds = Vec::new();
        for _ in 0..repetitions.clamp(1, 64) {
            for cursor in &mut cursors {
                if self.endless == Endless::Increasing {
                    *cursor = next_sibling(cursor);
                }
                varbinds.push((cursor.clone(), SnmpValue::Counter32(7)));
            }
        }
        Ok(ok_response(varbinds))
    }

    fn answer_scripted(&mut self, asked: &[Oid]) -> Result<Response, SnmpError> {
        let script = &mut self.script;
        match script.next() % 8 {
            0 => Ok(Response {
                error_status: 1,
                error_index: 0,
                varbinds: Vec::new(),
            }),
            1 => Ok(Response {
                error_status: u32::from(script.next()),
                error_index: u32::from(script.next()),
                varbinds: Vec::new(),
            }),
            2 => Err(SnmpError::Timeout),
            _ => {
                let count = usize::from(script.next() % 64);
                let mut cursors = asked.to_vec();
                let mut varbinds = Vec::with_capacity(count);
                for position in 0..count {
                    let slot = position % cursors.len();
                    let oid = scripted_oid(script, &cursors[slot]);
                    cursors[slot].clone_from(&oid);
                    varbinds.push((oid, scripted_value(script)));
                }
                Ok(ok_response(varbinds))
            }
        }
    }
}

fn ok_response(varbinds: Vec<Varbind>) -> Response {
    Response {
        error_status: 0,
        error_index: 0,
        varbinds,
    }
}

/// The next OID an agent might return after `cursor`, as the script says.
fn scripted_oid(script: &mut Bytes<'_>, cursor: &Oid) -> Oid {
    let mut oid = cursor.clone();
    match script.next() % 8 {
        0 => oid = next_sibling(cursor),
        1 => {}
        2 => {
            // Going backwards: a smaller last arc, or the parent.
            match oid.last_mut() {
                Some(last) if *last > 0 => *last -= 1,
                _ => {
                    oid.pop();
                }
            }
        }
        3 => {
            // Past the column: the next column's first row.
            let column = oid.get(ENTRY.len()).copied().unwrap_or(0);
            oid = [&ENTRY[..], &[column.saturating_add(1), 1]].concat();
        }
        4 => {
            let len = usize::from(script.next() % 16);
            oid = (0..len).map(|_| script.u32()).collect();
        }
        5 => oid.push(u32::from(script.next())),
        6 => oid.push(u32::MAX),
        _ => oid.truncate(ENTRY.len() - 1),
    }
    oid
}

/// `cursor` with its last arc one higher (a first row when the cursor is the column itself).
fn next_sibling(cursor: &Oid) -> Oid {
    let mut oid = cursor.clone();
    if oid.len() <= ENTRY.len() + 1 {
        oid.push(1);
        return oid;
    }
    match oid.last_mut() {
        Some(last) if *last < u32::MAX => *last += 1,
        _ => oid.push(1),
    }
    oid
}

/// A value of any type the poller may meet, as the script says.
fn scripted_value(script: &mut Bytes<'_>) -> SnmpValue {
    match script.next() % 12 {
        0 => SnmpValue::Integer(i64::from(script.u32() as i32)),
        1 => {
            let len = usize::from(script.next() % 32);
            SnmpValue::OctetString((0..len).map(|_| script.next()).collect())
        }
        2 => SnmpValue::ObjectIdentifier(vec![1, 3, script.u32()]),
        3 => SnmpValue::IpAddress([script.next(), script.next(), 0, 1]),
        4 => SnmpValue::Counter32(script.u32()),
        5 => SnmpValue::Unsigned32(script.u32()),
        6 => SnmpValue::Timeticks(script.u32()),
        7 => SnmpValue::Counter64((u64::from(script.u32()) << 32) | u64::from(script.u32())),
        8 => SnmpValue::Null,
        9 => SnmpValue::Absent,
        10 => SnmpValue::EndOfMibView,
        _ => SnmpValue::Other,
    }
}

// ---------------------------------------------------------------------------------------
// SSH command output
// ---------------------------------------------------------------------------------------

/// Splits and decodes a collection command's output as a poll does; the number of families.
pub fn ssh_output(output: &[u8]) -> Result<usize, String> {
    let text = std::str::from_utf8(output).map_err(|_| "not UTF-8".to_string())?;
    let sections = Sections::split(text).map_err(|error| error.to_string())?;
    let filters = [FilesystemFilter {
        include_fstypes: Vec::new(),
        exclude_fstypes: Vec::new(),
        include_mountpoints: Vec::new(),
        exclude_mountpoints: Vec::new(),
    }];
    let families = decode(&DecodeInput {
        sections: &sections,
        filters: &filters,
        now_unix: 1_700_000_000.0,
        connections: 1,
    })
    .map_err(|error| error.to_string())?;
    let samples: usize = families.iter().map(|family| family.samples.len()).sum();
    assert!(
        samples <= output.len() + 64,
        "more samples than the output has bytes"
    );
    Ok(families.len())
}

// ---------------------------------------------------------------------------------------
// ICMP replies
// ---------------------------------------------------------------------------------------

/// Parses a datagram as an ICMP socket hands it over (selector byte: IP version, whether the
/// IPv4 header is included), then classifies it against an echo request (next 4 bytes:
/// identifier and sequence). `None` when it is not about an echo request.
pub fn icmp_datagram(input: &[u8]) -> Option<IcmpVerdict> {
    let mut bytes = Bytes(input);
    let selector = bytes.next();
    let identifier = u16::from_be_bytes([bytes.next(), bytes.next()]);
    let sequence = u16::from_be_bytes([bytes.next(), bytes.next()]);
    let datagram = bytes.0;
    let (version, from, with_ip_header) = if selector & 1 == 0 {
        (
            IpVersion::V4,
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            selector & 2 != 0,
        )
    } else {
        (IpVersion::V6, IpAddr::V6(Ipv6Addr::LOCALHOST), false)
    };
    let parsed = parse_icmp(version, with_ip_header, from, datagram)?;
    assert_eq!(parsed.received.version, version, "reply of another family");
    let expected = Expected {
        identifier: (selector & 4 != 0).then_some(identifier),
        sequence,
    };
    let verdict = classify(expected, parsed.received);
    if verdict.is_reply() {
        assert_eq!(parsed.about, from, "an echo reply about another address");
        assert_eq!(
            parsed.received.sequence, sequence,
            "a reply to another request"
        );
    }
    Some(verdict)
}

// ---------------------------------------------------------------------------------------
// RouterOS API replies
// ---------------------------------------------------------------------------------------

/// How a stream of RouterOS API bytes ended, as the connection reading it sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouterosEnd {
    /// Every byte became a known reply and none was `!fatal`.
    Clean,
    /// The bytes ran out inside a sentence: the connection waits for more (and times out).
    Incomplete,
    /// The framing is broken (reserved length byte, oversized word, too many words): the
    /// connection is dropped.
    Framing(WordError),
    /// A sentence that is no reply: the connection is dropped.
    Unknown(ReplyError),
    /// `!fatal`: the router closes the connection, and nothing after it is read.
    Fatal,
}

/// The replies a stream gave before it ended, and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouterosStream {
    pub replies: Vec<Reply>,
    pub end: RouterosEnd,
}

impl RouterosStream {
    /// Whether a poll reading this stream would fail (anything but a clean end).
    pub fn is_refused(&self) -> bool {
        self.end != RouterosEnd::Clean
    }
}

/// Reads a hostile router's byte stream the way a connection does: sentences taken off a
/// growing buffer (`take_sentence` in a loop), empty sentences skipped, each decoded with
/// `Reply::parse`, reading stopped at the first framing error, unknown reply or `!fatal`.
/// The stream is read twice, in one piece and in small chunks (as TCP may deliver it), and
/// both readings must agree. Panics when an invariant of the codec breaks.
pub fn routeros_stream(stream: &[u8]) -> RouterosStream {
    let whole = read_routeros_replies(stream, stream.len().max(1));
    let chunked = read_routeros_replies(stream, routeros_chunk_size(stream.len()));
    assert_eq!(
        whole, chunked,
        "the replies depend on how the bytes were split"
    );
    whole
}

/// Chunks of 1 to 13 bytes (the length picks which, so the fuzzer varies it), but no more
/// than about 256 of them: every incomplete read rescans the buffered sentence.
fn routeros_chunk_size(len: usize) -> usize {
    (1 + len % 13).max(len / 256)
}

fn read_routeros_replies(stream: &[u8], chunk: usize) -> RouterosStream {
    let mut chunks = stream.chunks(chunk);
    let mut buffer = Vec::new();
    let mut replies = Vec::new();
    loop {
        let buffered = buffer.len();
        let words = match take_sentence(&mut buffer) {
            Ok(Some(words)) => words,
            Ok(None) => {
                assert_eq!(
                    buffer.len(),
                    buffered,
                    "an incomplete sentence was consumed"
                );
                match chunks.next() {
                    Some(bytes) => {
                        buffer.extend_from_slice(bytes);
                        continue;
                    }
                    None if buffer.is_empty() => return routeros_end(replies, RouterosEnd::Clean),
                    None => return routeros_end(replies, RouterosEnd::Incomplete),
                }
            }
            Err(error) => {
                let _ = error.to_string();
                return routeros_end(replies, RouterosEnd::Framing(error));
            }
        };
        check_routeros_sentence(&words);
        if words.is_empty() {
            // A lone empty word: RouterOS never sends one, a connection skips it.
            continue;
        }
        match Reply::parse(&words) {
            Ok(reply) => {
                check_routeros_reply(&reply, words.len());
                let fatal = reply.kind == ReplyKind::Fatal;
                replies.push(reply);
                if fatal {
                    return routeros_end(replies, RouterosEnd::Fatal);
                }
            }
            Err(error) => {
                let ReplyError::UnknownReplyWord(quoted) = &error;
                assert!(
                    quoted.chars().count() <= 64,
                    "an error quotes more than 64 characters of what the router sent"
                );
                return routeros_end(replies, RouterosEnd::Unknown(error));
            }
        }
    }
}

fn routeros_end(replies: Vec<Reply>, end: RouterosEnd) -> RouterosStream {
    RouterosStream { replies, end }
}

/// A sentence within the codec's bounds, that encodes back to the same words.
fn check_routeros_sentence(words: &[Vec<u8>]) {
    assert!(words.len() <= MAX_SENTENCE_WORDS, "too many words kept");
    for word in words {
        assert!(!word.is_empty(), "an empty word inside a sentence");
        assert!(word.len() <= MAX_WORD_BYTES, "an oversized word kept");
    }
    let mut encoded = encode_sentence(words);
    let again = take_sentence(&mut encoded).expect("our own encoding frames");
    assert_eq!(
        again.as_deref(),
        Some(words),
        "a sentence does not round-trip"
    );
    assert!(encoded.is_empty(), "encoding left bytes behind");
}

/// A reply holds no more than its words: every attribute, the tag and the fatal reason
/// come from distinct words after the first, and attribute names are never empty.
fn check_routeros_reply(reply: &Reply, words: usize) {
    let taken = reply.attributes.len()
        + usize::from(reply.tag.is_some())
        + usize::from(reply.fatal_message.is_some());
    assert!(taken < words, "a reply holds more than its words");
    assert!(
        reply.kind == ReplyKind::Fatal || reply.fatal_message.is_none(),
        "a fatal reason outside !fatal"
    );
    for (name, _) in &reply.attributes {
        assert!(
            !name.is_empty() && !name.contains('='),
            "attribute name {name:?}"
        );
        assert!(
            reply.get(name).is_some(),
            "attribute {name} not found by name"
        );
    }
}

// ---------------------------------------------------------------------------------------
// The simulator agent's request path
// ---------------------------------------------------------------------------------------

/// What the simulator's agent did with a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentOutcome {
    /// Dropped as malformed or unauthorised.
    Dropped,
    /// A USM Report instead of an answer.
    Report,
    /// Answered with this many varbinds.
    Answered(usize),
}

/// Decodes a request as the simulator's agent does (v1/v2c and v3 with a real user table,
/// SHA-1 + AES-128) and answers it from a real simulated router. Panics if an answer exceeds the message size.
pub fn agent_request(datagram: &[u8]) -> AgentOutcome {
    // Half the inputs (those of even length) are signed with the user's key, so the agent's
    // decryption and PDU decoding are reached; the others exercise its refusals.
    let mut signed = datagram.to_vec();
    if signed.len() % 2 == 0 {
        sign(&mut signed);
    }
    let datagram = &signed[..];
    let Ok(incoming) = message::decode_message(datagram) else {
        return AgentOutcome::Dropped;
    };
    let mut oids = OidList::default();
    match incoming {
        Incoming::Community(message) => {
            if message.community != COMMUNITY {
                return AgentOutcome::Dropped;
            }
            let Ok(pdu) = message::decode_pdu(message.pdu_tag, message.pdu, &mut oids) else {
                return AgentOutcome::Dropped;
            };
            if message.version == message::Version::V1 && pdu.kind == PduKind::GetBulk {
                return AgentOutcome::Dropped;
            }
            let envelope = CommunityEnvelope {
                version: message.version,
                community: message.community,
            };
            answer_from_device(message.version, &pdu, &oids, &|len| {
                envelope.message_len(len)
            })
        }
        Incoming::V3(message) => {
            let fixture = agent_fixture();
            let engine = agent_v3::Engine {
                engine_id: ENGINE_ID,
                boots: 1,
                time: 1_000,
                users: &fixture.users,
                keys: &fixture_keys,
                counters: &fixture.counters,
            };
            let mut plain = Vec::new();
            let accepted = match agent_v3::check(&engine, datagram, &message, &mut plain) {
                agent_v3::Verdict::Accept(accepted) => accepted,
                agent_v3::Verdict::Report(_) => return AgentOutcome::Report,
                agent_v3::Verdict::Silent | agent_v3::Verdict::Discard(_) => {
                    return AgentOutcome::Dropped
                }
            };
            let scoped = accepted.scoped;
            let Ok(pdu) = message::decode_pdu(scoped.pdu_tag, scoped.pdu, &mut oids) else {
                return AgentOutcome::Dropped;
            };
            // The v3 envelope's overhead is bounded; the answer's size check is what matters.
            answer_from_device(message::Version::V3, &pdu, &oids, &|len| len + 200)
        }
    }
}

fn answer_from_device(
    version: message::Version,
    pdu: &message::RequestPdu<'_>,
    oids: &OidList,
    message_len: &dyn Fn(usize) -> usize,
) -> AgentOutcome {
    let fixture = agent_fixture();
    let max_message_len = crate::simulator::agent::DEFAULT_MAX_MESSAGE_SIZE;
    let context = Context {
        view: View {
            device: &fixture.device,
            engine: EngineState {
                engine_id: ENGINE_ID,
                boots: 1,
                time: 1_000,
                max_message_size: max_message_len,
                usm: &fixture.counters,
            },
            at: Duration::from_secs(1_000),
        },
        version,
        limit: SizeLimit {
            max_message_len,
            message_len,
        },
    };
    let mut varbinds = Vec::new();
    let answer = respond::answer(&context, pdu, oids, &mut varbinds);
    if !answer.is_too_big() {
        let len = message_len(answer.header.pdu_len(varbinds.len()));
        assert!(
            len <= max_message_len,
            "an answer of {len} bytes exceeds the message size"
        );
    }
    AgentOutcome::Answered(answer.varbind_count)
}

/// A simulated router, a user table with one SHA-1/AES user, and its keys for `ENGINE_ID`.
struct AgentFixture {
    device: Device,
    users: UserTable,
    keys: Box<[LocalKeys]>,
    counters: UsmCounters,
}

fn fixture_keys() -> &'static [LocalKeys] {
    &agent_fixture().keys
}

fn agent_fixture() -> &'static AgentFixture {
    static FIXTURE: OnceLock<AgentFixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let fleet = FleetShape {
            seed: 1,
            devices: 1,
        };
        // Invariant: the healthy scenario is valid for any fleet.
        let scenarios = ScenarioState::new(fleet, ScenarioRequest::new(ScenarioKind::Healthy))
            .expect("healthy scenario");
        let device = Device::new(
            DeviceSpec {
                seed: 1,
                index: 0,
                interfaces: 8,
            },
            Arc::new(scenarios),
        );
        let user = UsmUser {
            name: USER.into(),
            auth: UsmAuth::Sha1,
            auth_password: Secret::new(AUTH_PASSWORD),
            privacy: Some((UsmPriv::Aes128, Secret::new(PRIV_PASSWORD))),
        };
        // Invariant: the passwords are long enough.
        let users = UserTable::new(&[user]).expect("valid user");
        let keys = users.localize(ENGINE_ID);
        AgentFixture {
            device,
            users,
            keys,
            counters: UsmCounters::default(),
        }
    })
}
