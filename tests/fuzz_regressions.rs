//! Replays every committed fuzz input (fuzz/regressions/ and fuzz/seeds/) through the fuzz targets' entry points on stable, plus hand-written hostile inputs with the error each must give.

use std::path::{Path, PathBuf};

use ispmonitor::fuzzing::{
    agent_request, icmp_datagram, routeros_stream, snmp_community_response, snmp_v3_response,
    ssh_output, walk_script, AgentOutcome, RouterosEnd, V3Case,
};
use ispmonitor::poller::routeros::word::{ReplyError, ReplyKind, WordError, MAX_WORD_BYTES};
use ispmonitor::poller::snmp::error::SnmpError;
use ispmonitor::poller::snmp::value::SnmpValue;

/// Runs one input through its target's entry point (the same dispatch as fuzz/fuzz_targets/)
/// and says whether the decoder refused it (an error, no reply, not an echo reply).
fn replay(target: &str, input: &[u8]) -> bool {
    match target {
        "snmp_response" => match input.split_first() {
            None => true,
            Some((&selector, datagram)) if selector & 0x80 == 0 => {
                snmp_community_response(datagram).is_err()
            }
            Some((&selector, datagram)) => {
                snmp_v3_response(datagram, V3Case::from_selector(selector)).is_err()
            }
        },
        "snmp_walk" => walk_script(input).result.is_err(),
        "ssh_output" => ssh_output(input).is_err(),
        "icmp_reply" => !icmp_datagram(input).is_some_and(|verdict| verdict.is_reply()),
        "agent_request" => agent_request(input) == AgentOutcome::Dropped,
        "routeros_reply" => routeros_stream(input).is_refused(),
        other => panic!("unknown fuzz target folder {other}"),
    }
}

/// Every file under `fuzz/<kind>/<target>/`, with its target.
fn inputs(kind: &str) -> Vec<(String, PathBuf)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join(kind);
    let mut found = Vec::new();
    let Ok(targets) = std::fs::read_dir(&root) else {
        return found;
    };
    for target in targets.flatten().filter(|entry| entry.path().is_dir()) {
        let name = target.file_name().to_string_lossy().into_owned();
        for file in std::fs::read_dir(target.path())
            .expect("read target folder")
            .flatten()
        {
            found.push((name.clone(), file.path()));
        }
    }
    found.sort();
    found
}

#[test]
fn every_regression_input_gives_its_expected_outcome() {
    let regressions = inputs("regressions");
    assert!(
        regressions.len() >= 10,
        "the hand-written hostile inputs are missing"
    );
    for (target, path) in regressions {
        let input = std::fs::read(&path).expect("read regression input");
        let refused = replay(&target, &input);
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if name.starts_with("refused-") {
            assert!(refused, "{target}/{name} was accepted");
        } else if name.starts_with("accepted-") {
            assert!(!refused, "{target}/{name} was refused");
        } else {
            panic!("{target}/{name}: name it refused-... or accepted-...");
        }
    }
}

#[test]
fn every_seed_input_is_handled_and_the_seeds_cover_every_target() {
    let seeds = inputs("seeds");
    for target in [
        "snmp_response",
        "snmp_walk",
        "ssh_output",
        "icmp_reply",
        "agent_request",
        "routeros_reply",
    ] {
        assert!(
            seeds.iter().any(|(name, _)| name == target),
            "no seed for {target}"
        );
    }
    for (target, path) in seeds.iter().filter(|(_, path)| path.extension().is_none()) {
        let _ = replay(target, &std::fs::read(path).expect("read seed"));
    }
}

#[test]
fn seeds_are_real_messages_the_decoders_accept() {
    // If the decoders refused the seeds, the fuzzers would start from nothing useful.
    let seed = |target: &str, name: &str| {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/seeds")
            .join(target)
            .join(name);
        std::fs::read(path).expect("seed exists")
    };
    let v2c = seed("snmp_response", "v2c-response");
    let response = snmp_community_response(&v2c[1..]).expect("a valid v2c response");
    assert_eq!(response.varbinds.len(), 9);
    assert!(response
        .varbinds
        .iter()
        .any(|(_, value)| *value == SnmpValue::Counter64(u64::MAX)));
    let v3 = seed("snmp_response", "v3-noauth-response");
    let response = snmp_v3_response(&v3[1..], V3Case::NoAuth)
        .expect("a valid v3 response")
        .expect("a response, not a discovery");
    assert_eq!(response.varbinds.len(), 9);
    // Signing gets a message past the digest check, to decryption (which 48 zeros fail).
    let des = seed("snmp_response", "v3-signed-des-response");
    let unsigned = snmp_v3_response(&des[1..], V3Case::AuthPriv).expect_err("bad digest");
    let signed = snmp_v3_response(&des[1..], V3Case::SignedDes).expect_err("bad ciphertext");
    eprintln!("unsigned: {unsigned}; signed: {signed}");
    assert!(unsigned.to_string().contains("ignature"), "{unsigned}");
    assert!(!signed.to_string().contains("ignature"), "{signed}");
    let discovery = seed("snmp_response", "v3-discovery-report");
    assert_eq!(
        snmp_v3_response(&discovery[1..], V3Case::Discovery),
        Ok(None)
    );
    let bulk = agent_request(&seed("agent_request", "v2c-getbulk"));
    assert!(
        matches!(bulk, AgentOutcome::Answered(count) if count >= 10),
        "{bulk:?}"
    );
    assert!(ssh_output(&seed("ssh_output", "this-machine")).expect("decodes") > 10);
    assert!(icmp_datagram(&seed("icmp_reply", "v4-raw-echo-reply"))
        .expect("an echo reply")
        .is_reply());
    // login, 7 counts, connections + tracking (3), resource (2), health (4), interfaces (4).
    let poll = routeros_stream(&seed("routeros_reply", "full-poll"));
    assert_eq!(poll.end, RouterosEnd::Clean);
    assert_eq!(poll.replies.len(), 21);
    let resource = poll
        .replies
        .iter()
        .find(|reply| reply.tag.as_deref() == Some("10") && reply.kind == ReplyKind::Re)
        .expect("the /system/resource row");
    assert_eq!(resource.get("version"), Some("7.16.2 (stable)"));
    assert_eq!(resource.get("board-name"), Some("CCR2004-16G-2S+"));
    let padded = routeros_stream(&seed("routeros_reply", "long-word-and-padded-prefixes"));
    assert_eq!(padded.end, RouterosEnd::Clean);
    assert_eq!(padded.replies[0].get("comment").map(str::len), Some(20_000));
    assert_eq!(padded.replies[1].get("ret"), Some("123"));
}

// ---------------------------------------------------------------------------------------
// Hand-written hostile inputs
// ---------------------------------------------------------------------------------------

fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|&b| b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

fn integer(value: i64) -> Vec<u8> {
    let bytes = value.to_be_bytes();
    let mut start = 0;
    while start < 7
        && ((bytes[start] == 0 && bytes[start + 1] & 0x80 == 0)
            || (bytes[start] == 0xff && bytes[start + 1] & 0x80 != 0))
    {
        start += 1;
    }
    tlv(0x02, &bytes[start..])
}

fn concat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// A v2c message around a Response PDU with these encoded varbinds.
fn v2c_response(varbinds: &[u8]) -> Vec<u8> {
    let pdu = tlv(
        0xa2,
        &concat(&[&integer(1), &integer(0), &integer(0), &tlv(0x30, varbinds)]),
    );
    tlv(0x30, &concat(&[&integer(1), &tlv(0x04, b"public"), &pdu]))
}

fn varbind(oid_content: &[u8], value: &[u8]) -> Vec<u8> {
    tlv(0x30, &concat(&[&tlv(0x06, oid_content), value]))
}

const SYS_UPTIME: &[u8] = &[0x2b, 6, 1, 2, 1, 1, 3, 0];

#[test]
fn ber_lengths_of_4_gb_and_1_mb_are_refused_without_allocating() {
    // SEQUENCE claiming 4 GB (long form, 4 octets), then 1 MB: the datagram is 20 bytes.
    for header in [
        &[0x30, 0x84, 0xff, 0xff, 0xff, 0xff][..],
        &[0x30, 0x83, 0x10, 0x00, 0x00],
        &[0x30, 0x88, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
    ] {
        let datagram = concat(&[header, &integer(1), &tlv(0x04, b"public")]);
        assert!(snmp_community_response(&datagram).is_err());
        for case in [V3Case::NoAuth, V3Case::Discovery] {
            assert!(snmp_v3_response(&datagram, case).is_err());
        }
        assert_eq!(agent_request(&datagram), AgentOutcome::Dropped);
    }
}

#[test]
fn a_length_beyond_the_datagram_is_refused() {
    let mut datagram = v2c_response(&varbind(SYS_UPTIME, &tlv(0x43, &[1])));
    datagram.truncate(datagram.len() - 3);
    assert!(snmp_community_response(&datagram).is_err());
    assert_eq!(agent_request(&datagram), AgentOutcome::Dropped);
    // A varbind whose value claims more than its SEQUENCE holds.
    let lying = v2c_response(&varbind(SYS_UPTIME, &[0x04, 0x82, 0x01, 0x00, b'x']));
    let response = snmp_community_response(&lying).expect("the envelope is valid");
    assert!(
        response.varbinds.is_empty(),
        "a broken varbind must not be read"
    );
}

#[test]
fn deep_nesting_does_not_exhaust_the_stack() {
    let mut nested = integer(0);
    for _ in 0..20_000 {
        nested = tlv(0x30, &nested);
    }
    assert!(snmp_community_response(&nested).is_err());
    assert!(snmp_v3_response(&nested, V3Case::AuthPriv).is_err());
    assert_eq!(agent_request(&nested), AgentOutcome::Dropped);
    let value = v2c_response(&varbind(SYS_UPTIME, &nested[nested.len() - 4000..]));
    let _ = snmp_community_response(&value);
}

#[test]
fn oids_with_huge_sub_identifiers_are_refused() {
    // 1.3.6.1.2^40: an arc above 2^32 in a varbind name fails the response...
    let huge_arc = [0x2b, 6, 1, 0xa0, 0x80, 0x80, 0x80, 0x80, 0x00];
    let datagram = v2c_response(&varbind(&huge_arc, &tlv(0x05, &[])));
    assert_eq!(
        snmp_community_response(&datagram),
        Err(SnmpError::Protocol("OID arc above 2^32".into()))
    );
    // ...and as a value it is an unusable value, never a wrapped number.
    let datagram = v2c_response(&varbind(SYS_UPTIME, &tlv(0x06, &huge_arc)));
    let response = snmp_community_response(&datagram).expect("valid envelope");
    assert_eq!(response.varbinds[0].1, SnmpValue::Other);
    // A truncated arc (continuation bit on the last octet).
    let truncated = [0x2b, 6, 1, 0x81];
    let datagram = v2c_response(&varbind(&truncated, &tlv(0x05, &[])));
    assert!(snmp_community_response(&datagram).is_err());
    // The agent refuses such OIDs in a request.
    let request = tlv(
        0x30,
        &concat(&[
            &integer(1),
            &tlv(0x04, b"public"),
            &tlv(
                0xa0,
                &concat(&[
                    &integer(1),
                    &integer(0),
                    &integer(0),
                    &tlv(0x30, &varbind(&huge_arc, &tlv(0x05, &[]))),
                ]),
            ),
        ]),
    );
    assert_eq!(agent_request(&request), AgentOutcome::Dropped);
}

#[test]
fn negative_and_oversized_integers_are_refused_or_kept_apart() {
    // A request id of 9 octets does not fit an i64.
    let oversized = tlv(0x02, &[0x01, 0, 0, 0, 0, 0, 0, 0, 0]);
    let pdu = tlv(
        0xa2,
        &concat(&[&oversized, &integer(0), &integer(0), &tlv(0x30, &[])]),
    );
    let datagram = tlv(0x30, &concat(&[&integer(1), &tlv(0x04, b"public"), &pdu]));
    assert!(snmp_community_response(&datagram).is_err());
    // A negative error-status is out of range.
    let pdu = tlv(
        0xa2,
        &concat(&[&integer(1), &integer(-1), &integer(0), &tlv(0x30, &[])]),
    );
    let datagram = tlv(0x30, &concat(&[&integer(1), &tlv(0x04, b"public"), &pdu]));
    assert!(snmp_community_response(&datagram).is_err());
    // A Counter64 of 9 content octets (2^64 and more) is no counter.
    let datagram = v2c_response(&varbind(
        SYS_UPTIME,
        &tlv(0x46, &[0x01, 0, 0, 0, 0, 0, 0, 0, 0]),
    ));
    if let Ok(response) = snmp_community_response(&datagram) {
        for (_, value) in &response.varbinds {
            assert_ne!(value.as_counter(false), Some(0), "2^64 wrapped to 0");
        }
    }
    // A negative INTEGER is a gauge below zero, never a huge unsigned.
    let datagram = v2c_response(&varbind(SYS_UPTIME, &integer(-5)));
    let response = snmp_community_response(&datagram).expect("valid");
    assert_eq!(response.varbinds[0].1, SnmpValue::Integer(-5));
    assert_eq!(response.varbinds[0].1.as_unsigned(), None);
    // The agent: max-repetitions of 2^31 - 1 and a negative one.
    for repetitions in [i64::from(i32::MAX), -7, i64::MIN] {
        let request = tlv(
            0x30,
            &concat(&[
                &integer(1),
                &tlv(0x04, b"public"),
                &tlv(
                    0xa5,
                    &concat(&[
                        &integer(1),
                        &integer(0),
                        &integer(repetitions),
                        &tlv(0x30, &varbind(SYS_UPTIME, &tlv(0x05, &[]))),
                    ]),
                ),
            ]),
        );
        match agent_request(&request) {
            AgentOutcome::Answered(count) => assert!(count < 200, "{count} varbinds"),
            other => assert_eq!(other, AgentOutcome::Dropped, "{repetitions}"),
        }
    }
}

/// Walk script header: columns - 1, mode (0: v1; 1: v2c, agent silent at the end; 4: v2c,
/// repeats the OIDs; 7: v2c, increasing forever), max-repetitions. Then per answer: 3 (rows),
/// a count, and per varbind an OID step (0 next row, 1 same, 2 smaller, 3 next column) and a
/// value type (8: NULL, no payload).
#[test]
fn a_walk_against_an_agent_repeating_oids_ends_with_an_error() {
    // Two columns; the first answer is fine (rows 1), then the agent repeats what it is asked.
    let script = [1, 4, 10, 3, 2, 0, 8, 0, 8];
    let report = walk_script(&script);
    assert!(
        matches!(report.result, Err(SnmpError::Protocol(_))),
        "{report:?}"
    );
    assert!(report.requests <= 3, "{report:?}");
}

#[test]
fn a_walk_with_decreasing_or_duplicate_oids_ends_with_an_error() {
    // One column: a row, then the same OID again (op 1), then a smaller one (op 2).
    for op in [1, 2] {
        let script = [0, 1, 10, 3, 2, 0, 8, op, 8];
        let report = walk_script(&script);
        assert!(
            matches!(&report.result, Err(SnmpError::Protocol(text)) if text.contains("not increasing")),
            "op {op}: {report:?}"
        );
    }
}

#[test]
fn an_endless_walk_ends_when_the_agent_stops_and_keeps_its_rows_in_order() {
    // Increasing OIDs forever: the scripted agent answers 50 more requests, then goes
    // silent; the walk fails with a timeout (in serve, the poll deadline ends it sooner).
    let report = walk_script(&[2, 7, 20]);
    assert_eq!(report.result, Err(SnmpError::Timeout));
    assert!(report.requests <= 52, "{report:?}");
    // An agent that moves on to the next column ends every column cleanly.
    let report = walk_script(&[0, 1, 10, 3, 3, 0, 8, 0, 8, 3, 8]);
    assert_eq!(report.result, Ok(vec![2]), "{report:?}");
}

#[test]
fn ssh_output_that_is_huge_or_hostile_is_refused() {
    // 8 MB without a marker: cut short, nothing decoded.
    let flood = vec![b'A'; 8 << 20];
    assert!(ssh_output(&flood).is_err());
    // Numbers of 200 digits and lines of 1 MB in every section.
    let long_number = "9".repeat(200);
    let mut output = String::new();
    for section in [
        "stat",
        "meminfo",
        "loadavg",
        "uptime",
        "netdev",
        "diskstats",
        "mounts",
        "df",
    ] {
        output.push_str(&format!("@@ispmonitor@@ {section}\n"));
        output.push_str(&format!("cpu {long_number} {long_number}\n"));
        output.push_str(&"x".repeat(1 << 20));
        output.push('\n');
    }
    output.push_str("@@ispmonitor@@ end\n");
    assert!(ssh_output(output.as_bytes()).is_err());
    assert!(ssh_output(&[0xff, 0xfe, 0x00]).is_err(), "not UTF-8");
}

#[test]
fn icmp_datagrams_too_short_or_about_others_are_not_replies() {
    // Selector 4: IPv4 DGRAM, identifier checked; identifier 0x1234, sequence 9.
    let header = [4, 0x12, 0x34, 0, 9];
    assert_eq!(icmp_datagram(&concat(&[&header, &[0, 0, 0]])), None);
    // An echo reply with another sequence is someone else's.
    let other = concat(&[&header, &[0, 0, 0, 0, 0x12, 0x34, 0, 10]]);
    assert!(!icmp_datagram(&other).expect("parsed").is_reply());
    // An IPv4 header claiming 60 bytes in a 24-byte datagram.
    let raw = concat(&[&[6, 0x12, 0x34, 0, 9], &[0x4f; 24][..]]);
    assert_eq!(icmp_datagram(&raw), None);
}

/// A RouterOS stream from length prefixes and words written out by hand.
fn routeros_bytes(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

#[test]
fn routeros_length_prefixes_of_4_gib_and_just_over_1_mib_are_refused_before_buffering() {
    // `!re`, then a word claiming 4 GiB (5-byte prefix) or 1 MiB + 1 (4-byte prefix) of which
    // 64 bytes come: refused at the prefix, not after waiting for (and holding) the bytes.
    let claims: [(&[u8], usize); 2] = [
        (&[0xF0, 0xFF, 0xFF, 0xFF, 0xFF], 0xFFFF_FFFF),
        (&[0xE0, 0x10, 0x00, 0x01], MAX_WORD_BYTES + 1),
    ];
    for (prefix, len) in claims {
        let stream = routeros_bytes(&[b"\x03!re", prefix, &[b'A'; 64]]);
        let read = routeros_stream(&stream);
        assert_eq!(read.end, RouterosEnd::Framing(WordError::WordTooLong(len)));
        assert!(read.replies.is_empty());
    }
}

#[test]
fn routeros_reserved_length_bytes_and_truncation_end_the_stream() {
    // A good `!done`, then `!re` and a reserved first length byte: the reply before it counts.
    for byte in [0xF1, 0xF7, 0xF8, 0xFF] {
        let stream = routeros_bytes(&[b"\x05!done\x00\x03!re", &[byte], &[0; 8]]);
        let read = routeros_stream(&stream);
        assert_eq!(
            read.end,
            RouterosEnd::Framing(WordError::ReservedLengthByte(byte))
        );
        assert_eq!(read.replies.len(), 1);
        assert_eq!(read.replies[0].kind, ReplyKind::Done);
    }
    // A word claiming 40 bytes of which 9 came, and a 3-byte prefix cut after 2 bytes: the
    // connection waits for the rest (the poll deadline ends it).
    for stream in [
        routeros_bytes(&[b"\x03!re\x28=name=eth"]),
        routeros_bytes(&[b"\x03!re\xC0\x40"]),
    ] {
        assert_eq!(routeros_stream(&stream).end, RouterosEnd::Incomplete);
    }
}

#[test]
fn routeros_sentences_of_more_than_4096_words_are_refused() {
    let sentence = |words: usize| {
        let mut stream = b"\x03!re".to_vec();
        for _ in 1..words {
            stream.extend_from_slice(b"\x04=a=1");
        }
        stream.push(0);
        stream
    };
    let at_limit = routeros_stream(&sentence(4096));
    assert_eq!(at_limit.end, RouterosEnd::Clean);
    assert_eq!(at_limit.replies[0].attributes.len(), 4095);
    for words in [4097, 5000] {
        assert_eq!(
            routeros_stream(&sentence(words)).end,
            RouterosEnd::Framing(WordError::TooManyWords)
        );
    }
}

#[test]
fn routeros_bytes_after_fatal_are_never_read_and_unknown_replies_are_cut_short() {
    let stream = routeros_bytes(&[
        b"\x06!fatal\x0dnot logged in\x00",
        &[0xFF, 0xFE, 0xF8, 0xF0, 0xFF, 0xFF, 0xFF, 0xFF],
    ]);
    let read = routeros_stream(&stream);
    assert_eq!(read.end, RouterosEnd::Fatal);
    assert_eq!(read.replies.len(), 1);
    assert_eq!(
        read.replies[0].fatal_message.as_deref(),
        Some("not logged in")
    );
    // An HTTP server on the API port: its answer is no reply, quoted in 64 characters at most.
    let mut word = b"HTTP/1.1 400 Bad Request".to_vec();
    word.extend([b'!'; 100]);
    let stream = routeros_bytes(&[&[0x7C], &word, b"\x00"]);
    match routeros_stream(&stream).end {
        RouterosEnd::Unknown(ReplyError::UnknownReplyWord(quoted)) => {
            assert!(quoted.starts_with("HTTP/1.1 400"), "{quoted}");
            assert_eq!(quoted.chars().count(), 64);
        }
        other => panic!("an HTTP answer read as {other:?}"),
    }
}

#[test]
fn routeros_streams_of_tiny_sentences_stay_fast() {
    // 64 KiB of empty sentences (one byte each), the largest input the fuzzer tries: skipped
    // one by one, in well under the fuzzer's 10 s per input even unoptimised.
    let started = std::time::Instant::now();
    let read = routeros_stream(&[0u8; 65_536]);
    assert_eq!(read.end, RouterosEnd::Clean);
    assert!(read.replies.is_empty());
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}
