//! Hostile SNMP agents on loopback against the real `ispmonitor serve`: floods of maximal datagrams with 4 GB / 1 MB BER lengths, walks that never end, OIDs repeated, answers from another address. The poller must fail those polls cleanly, within its deadline and a memory bound, and keep polling a real snmpd on time.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::ispmonitor::{sample_value, Ispmonitor};
use common::snmpd::{Snmpd, SnmpdOptions};
use ispmonitor::simulator::agent::ber::{self, VarValue};
use ispmonitor::simulator::agent::message::{
    self, CommunityEnvelope, Incoming, OidList, PduHeader, PduKind, Version,
};
use ispmonitor::simulator::mib::SimValue;

const COMMUNITY: &str = "hostile-test";
/// The most a UDP datagram over IPv4 can carry.
const MAX_DATAGRAM: usize = 65_507;
/// Rows the endless agent invents start at this index, so it recognises its own cursors.
const INVENTED_INDEX: u32 = 1_000_000;
/// What the spoofer puts in every string: must never reach /metrics.
const SPOOF_MARK: &str = "SPOOFED-VALUE";

/// How a hostile agent answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Behaviour {
    /// Every request gets 40 maximal datagrams (2.6 MB) of broken BER, some claiming 4 GB or
    /// 1 MB lengths, and no valid answer.
    Flood,
    /// GETs are answered; walks never end: ever-increasing OIDs inside the requested column,
    /// each carrying a long string, in maximal datagrams.
    Endless,
    /// GETs are answered; walks get the same OID over and over.
    RepeatOids,
    /// Never answers itself; a spoofer on other addresses answers with the right request id.
    Spoofed,
}

/// One hostile agent: a UDP socket on 127.0.0.1 and the thread answering it.
struct HostileAgent {
    port: u16,
    stop: Arc<AtomicBool>,
    requests: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl HostileAgent {
    fn start(behaviour: Behaviour) -> HostileAgent {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind hostile agent");
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .expect("read timeout");
        let port = socket.local_addr().expect("local addr").port();
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(AtomicU64::new(0));
        // Spoofers: another loopback address, and the agent's own address on another port.
        let sockets = Sockets {
            own: socket,
            spoofers: [
                UdpSocket::bind("127.0.0.2:0").expect("bind spoofer on 127.0.0.2"),
                UdpSocket::bind("127.0.0.1:0").expect("bind spoofer on another port"),
            ],
        };
        let thread = {
            let (stop, requests) = (stop.clone(), requests.clone());
            std::thread::spawn(move || {
                let mut buffer = vec![0u8; MAX_DATAGRAM];
                while !stop.load(Ordering::Relaxed) {
                    let Ok((len, peer)) = sockets.own.recv_from(&mut buffer) else {
                        continue;
                    };
                    requests.fetch_add(1, Ordering::Relaxed);
                    answer(behaviour, &sockets, &buffer[..len], peer);
                }
            })
        };
        HostileAgent {
            port,
            stop,
            requests,
            thread: Some(thread),
        }
    }

    fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }
}

impl Drop for HostileAgent {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The agent's own socket and the spoofers' (another address, another port).
struct Sockets {
    own: UdpSocket,
    spoofers: [UdpSocket; 2],
}

fn answer(behaviour: Behaviour, sockets: &Sockets, request: &[u8], peer: SocketAddr) {
    let Sockets {
        own: socket,
        spoofers,
    } = sockets;
    if behaviour == Behaviour::Flood {
        for datagram in flood_datagrams() {
            let _ = socket.send_to(&datagram, peer);
        }
        return;
    }
    let Some((version, kind, request_id, max_repetitions, oids)) = decode_request(request) else {
        return;
    };
    let varbinds = match (behaviour, kind) {
        (Behaviour::Spoofed, _) => spoofed_varbinds(&oids, max_repetitions),
        (_, PduKind::Get) => get_varbinds(&oids),
        (Behaviour::Endless, _) => endless_varbinds(&oids, max_repetitions),
        _ => repeated_varbinds(&oids, max_repetitions),
    };
    let datagram = response(version, request_id, &varbinds);
    if behaviour == Behaviour::Spoofed {
        for spoofer in spoofers {
            let _ = spoofer.send_to(&datagram, peer);
        }
    } else {
        let _ = socket.send_to(&datagram, peer);
    }
}

type DecodedRequest = (Version, PduKind, i32, usize, Vec<Vec<u32>>);

/// The request's version, kind, id, max-repetitions and OIDs (the agent's own decoder).
fn decode_request(datagram: &[u8]) -> Option<DecodedRequest> {
    let Incoming::Community(message) = message::decode_message(datagram).ok()? else {
        return None;
    };
    let mut list = OidList::default();
    let pdu = message::decode_pdu(message.pdu_tag, message.pdu, &mut list).ok()?;
    let oids = (0..list.len()).map(|i| list.get(i).to_vec()).collect();
    let repetitions = usize::try_from(pdu.max_repetitions).unwrap_or(1).max(1);
    Some((message.version, pdu.kind, pdu.request_id, repetitions, oids))
}

fn response(version: Version, request_id: i32, varbinds: &[u8]) -> Vec<u8> {
    let envelope = CommunityEnvelope {
        version,
        community: COMMUNITY.as_bytes(),
    };
    let header = PduHeader {
        tag: ber::tag::RESPONSE,
        request_id,
        error_status: 0,
        error_index: 0,
    };
    let mut out = Vec::new();
    envelope.write(&mut out, &header, varbinds);
    out
}

/// A plausible value for each scalar the poller GETs (sysObjectID must be an OID, the rest
/// may be anything: wrong types are skipped by the decoders).
fn get_varbinds(oids: &[Vec<u32>]) -> Vec<u8> {
    let mut out = Vec::new();
    for oid in oids {
        let value = if oid.starts_with(&[1, 3, 6, 1, 2, 1, 1, 2]) {
            SimValue::ObjectId(vec![1, 3, 6, 1, 4, 1, 99999])
        } else if oid.starts_with(&[1, 3, 6, 1, 2, 1, 1]) {
            SimValue::OctetString(b"hostile agent".to_vec())
        } else {
            // ifNumber, snmpEngineMaxMessageSize...: claim the biggest message possible.
            SimValue::Integer(MAX_DATAGRAM as i32)
        };
        ber::write_varbind(&mut out, oid, VarValue::Value(&value));
    }
    out
}

/// The row after `cursor`: the first invented row of a column, or the next one.
fn next_row(cursor: &[u32]) -> Vec<u32> {
    let mut next = cursor.to_vec();
    match next.last_mut() {
        Some(last) if *last >= INVENTED_INDEX => *last += 1,
        _ => next.push(INVENTED_INDEX),
    }
    next
}

/// Rows that never end, as many as fit in a maximal datagram.
fn endless_varbinds(oids: &[Vec<u32>], max_repetitions: usize) -> Vec<u8> {
    let value = SimValue::OctetString(vec![b'x'; 200]);
    let mut cursors = oids.to_vec();
    let mut out = Vec::new();
    'rows: for _ in 0..max_repetitions.max(400) {
        for cursor in &mut cursors {
            *cursor = next_row(cursor);
            if out.len() + 400 > MAX_DATAGRAM - 100 {
                break 'rows;
            }
            ber::write_varbind(&mut out, cursor, VarValue::Value(&value));
        }
    }
    out
}

/// The first invented row of each column, repeated.
fn repeated_varbinds(oids: &[Vec<u32>], max_repetitions: usize) -> Vec<u8> {
    let value = SimValue::Counter32(1);
    let mut out = Vec::new();
    for _ in 0..max_repetitions.min(50) {
        for oid in oids {
            let row = if oid.last().is_some_and(|&arc| arc >= INVENTED_INDEX) {
                oid.clone()
            } else {
                next_row(oid)
            };
            ber::write_varbind(&mut out, &row, VarValue::Value(&value));
        }
    }
    out
}

/// A perfectly valid answer, from the wrong address, full of marked strings.
fn spoofed_varbinds(oids: &[Vec<u32>], max_repetitions: usize) -> Vec<u8> {
    let mark = SimValue::OctetString(SPOOF_MARK.as_bytes().to_vec());
    let mut out = Vec::new();
    for oid in oids {
        let value = if oid.starts_with(&[1, 3, 6, 1, 2, 1, 1, 2]) {
            SimValue::ObjectId(vec![1, 3, 6, 1, 4, 1, 99999])
        } else {
            mark.clone()
        };
        ber::write_varbind(&mut out, oid, VarValue::Value(&value));
        for row in 0..max_repetitions.min(3) {
            ber::write_varbind(
                &mut out,
                &[&oid[..], &[row as u32 + 1]].concat(),
                VarValue::Value(&mark),
            );
        }
    }
    out
}

/// 40 maximal datagrams: SEQUENCEs claiming 4 GB, 1 MB and 2^64 bytes, a valid header
/// followed by a varbind list claiming 1 MB, and plain noise.
fn flood_datagrams() -> Vec<Vec<u8>> {
    let headers: [&[u8]; 4] = [
        &[0x30, 0x84, 0xff, 0xff, 0xff, 0xff],
        &[0x30, 0x83, 0x10, 0x00, 0x00],
        &[0x30, 0x88, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        &[
            0x30, 0x83, 0x00, 0xff, 0xe0, 0x02, 0x01, 0x01, 0x04, 0x0c, b'h', b'o', b's', b't',
            b'i', b'l', b'e', b'-', b't', b'e', b's', b't', 0xa2, 0x83, 0x10, 0x00, 0x00,
        ],
    ];
    (0..40)
        .map(|i| {
            let mut datagram = headers[i % headers.len()].to_vec();
            let mut byte = i as u8;
            datagram.resize_with(MAX_DATAGRAM, || {
                byte = byte.wrapping_mul(31).wrapping_add(7);
                byte
            });
            datagram
        })
        .collect()
}

/// Resident memory of a process, in MiB.
fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read status");
    let kib: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|value| value.parse().ok())
        .expect("VmRSS");
    kib / 1024.0
}

fn up(metrics: &str, target: &str) -> Option<f64> {
    sample_value(
        metrics,
        &format!("ispmonitor_target_up{{target=\"{target}\",protocol=\"snmp\"}}"),
    )
}

fn failure_reason(metrics: &str, target: &str) -> Option<String> {
    let prefix = format!(
        "ispmonitor_target_poll_failure_reason{{target=\"{target}\",protocol=\"snmp\",reason=\""
    );
    metrics
        .lines()
        .find(|line| line.starts_with(&prefix) && line.ends_with(" 1"))
        .and_then(|line| line[prefix.len()..].split('"').next())
        .map(str::to_string)
}

fn target_line(name: &str, port: u16) -> String {
    format!(
        "  - {{name: {name}, address: \"127.0.0.1:{port}\", kind: router, modules: [system, if_mib], credential: v2}}\n"
    )
}

/// A poll every 2 s, each with a 1.5 s deadline.
const INTERVAL: Duration = Duration::from_secs(2);
const TIMEOUT: Duration = Duration::from_millis(1500);

fn write_config(dir: &std::path::Path, targets: &str) -> PathBuf {
    let yaml = format!(
        "global: {{interval: {}ms, timeout: {}ms, snmp: {{retries: 1}}}}\n\
         credentials:\n  v2: {{type: snmp, version: 2c, community: \"{COMMUNITY}\"}}\n\
         targets:\n{targets}",
        INTERVAL.as_millis(),
        TIMEOUT.as_millis()
    );
    let path = dir.join("hostile.yaml");
    std::fs::write(&path, yaml).expect("write config");
    path
}

#[test]
fn hostile_agents_fail_their_polls_within_deadline_and_memory_while_others_stay_on_time() {
    let snmpd = Snmpd::start_with(SnmpdOptions {
        extra_config: vec![format!("rocommunity {COMMUNITY} 127.0.0.1")],
        ..Default::default()
    });
    let flood = HostileAgent::start(Behaviour::Flood);
    let endless = HostileAgent::start(Behaviour::Endless);
    let repeats = HostileAgent::start(Behaviour::RepeatOids);
    let spoofed = HostileAgent::start(Behaviour::Spoofed);
    let dir = tempfile::tempdir().expect("tempdir");
    let targets = [
        target_line("healthy", snmpd.port),
        target_line("flood", flood.port),
        target_line("endless", endless.port),
        target_line("repeats", repeats.port),
        target_line("spoofed", spoofed.port),
    ]
    .concat();
    let config = write_config(dir.path(), &targets);
    let serve = Ispmonitor::start(&config, &[]);
    let pid = serve.child.id();

    // Six polls of every target, sampling memory as they run.
    let started = Instant::now();
    let mut peak_rss: f64 = 0.0;
    let mut healthy_successes = Vec::new();
    while started.elapsed() < INTERVAL * 6 {
        peak_rss = peak_rss.max(rss_mib(pid));
        let metrics = serve.metrics();
        if let Some(at) = sample_value(
            &metrics,
            "ispmonitor_target_last_success_timestamp_seconds{target=\"healthy\",protocol=\"snmp\"}",
        ) {
            if healthy_successes.last() != Some(&at) {
                healthy_successes.push(at);
            }
        }
        assert!(
            !metrics.contains(SPOOF_MARK),
            "a spoofed value reached /metrics"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let metrics = serve.metrics();
    let logs = serve.stop_and_logs();
    eprintln!(
        "peak RSS {peak_rss:.1} MiB; requests seen: flood {}, endless {}, repeats {}, spoofed {}; \
         endless failed with {:?}, walks stopped by the byte cap: {}",
        flood.requests(),
        endless.requests(),
        repeats.requests(),
        spoofed.requests(),
        failure_reason(&metrics, "endless"),
        logs.matches("walk stopped after").count()
    );

    // The real device kept being polled, every interval, successfully.
    assert_eq!(up(&metrics, "healthy"), Some(1.0), "{metrics}");
    assert!(
        healthy_successes.len() >= 5,
        "the healthy target succeeded only {} times in 6 intervals next to hostile agents",
        healthy_successes.len()
    );
    for pair in healthy_successes.windows(2) {
        assert!(
            pair[1] - pair[0] < INTERVAL.as_secs_f64() + 1.0,
            "healthy polls were delayed: {healthy_successes:?}"
        );
    }

    // Every hostile target is down, with a reason, and no poll ran past its deadline.
    for (target, reasons) in [
        ("flood", &["protocol_error", "timeout"][..]),
        ("endless", &["timeout", "protocol_error"][..]),
        ("repeats", &["protocol_error"][..]),
        ("spoofed", &["timeout"][..]),
    ] {
        assert_eq!(up(&metrics, target), Some(0.0), "{target}: {metrics}");
        let reason = failure_reason(&metrics, target);
        assert!(
            reason.as_deref().is_some_and(|r| reasons.contains(&r)),
            "{target}: reason {reason:?}, expected one of {reasons:?}"
        );
        let duration = sample_value(
            &metrics,
            &format!(
                "ispmonitor_target_poll_duration_seconds{{target=\"{target}\",protocol=\"snmp\"}}"
            ),
        )
        .expect("poll duration");
        assert!(
            duration <= TIMEOUT.as_secs_f64() + 0.5,
            "{target}: a poll took {duration} s, past its {TIMEOUT:?} deadline"
        );
    }
    // The walks were really attacked (not refused before they started).
    assert!(
        endless.requests() > 10,
        "endless got {} requests",
        endless.requests()
    );
    assert!(
        repeats.requests() >= 2,
        "repeats got {}",
        repeats.requests()
    );
    assert!(
        logs.contains("not increasing"),
        "the repeated OIDs were not reported"
    );

    // Floods of 2.6 MB per request and endless 64 KB answers: memory stays bounded.
    assert!(
        peak_rss < 400.0,
        "serve's resident memory reached {peak_rss:.0} MiB under hostile agents"
    );
    // Only the spoofed target's own address may answer: it never did, so no value, no sysDescr.
    assert!(!metrics.contains(SPOOF_MARK));
    assert!(
        !metrics.contains("ispmonitor_snmp_system_info{target=\"spoofed\""),
        "the spoofed target has system info"
    );
}
