//! Answering one request PDU from a view: GET, GETNEXT and GETBULK (RFC 3416), the v1 rules
//! (noSuchName, no Counter64) and message-size limits (tooBig, GETBULK trimmed to fit).

use crate::simulator::mib::{Lookup, SimValue};

use super::ber::{self, tag, VarValue};
use super::message::{OidList, PduHeader, PduKind, RequestPdu, Version};
use super::view::View;

/// error-status values the agent sends.
pub mod error_status {
    pub const NO_ERROR: u32 = 0;
    pub const TOO_BIG: u32 = 1;
    pub const NO_SUCH_NAME: u32 = 2;
    pub const NO_ACCESS: u32 = 6;
}

/// How big the response message may be, and how big a message is around a PDU.
pub struct SizeLimit<'a> {
    pub max_message_len: usize,
    /// The whole message's size given the PDU's full size (envelope overhead, exact).
    pub message_len: &'a dyn Fn(usize) -> usize,
}

impl SizeLimit<'_> {
    fn fits(&self, header: &PduHeader, varbinds_len: usize) -> bool {
        (self.message_len)(header.pdu_len(varbinds_len)) <= self.max_message_len
    }
}

/// Everything that shapes the answer besides the PDU itself.
pub struct Context<'a> {
    pub view: View<'a>,
    pub version: Version,
    pub limit: SizeLimit<'a>,
}

/// The response PDU's header; its varbinds are in the buffer passed to `answer`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer {
    pub header: PduHeader,
    pub varbind_count: usize,
}

impl Answer {
    pub fn is_too_big(&self) -> bool {
        self.header.error_status == error_status::TOO_BIG
    }
}

fn header(request_id: i32, error_status: u32, error_index: usize) -> PduHeader {
    PduHeader {
        tag: tag::RESPONSE,
        request_id,
        error_status,
        error_index: u32::try_from(error_index).unwrap_or(u32::MAX),
    }
}

/// Answers a request; the encoded varbinds are left in `varbinds`. GETBULK must not reach
/// here in v1 (the caller drops it as malformed, as real agents do).
pub fn answer(
    context: &Context<'_>,
    pdu: &RequestPdu<'_>,
    oids: &OidList,
    varbinds: &mut Vec<u8>,
) -> Answer {
    varbinds.clear();
    let answer = match pdu.kind {
        PduKind::Get => answer_get(context, pdu, oids, varbinds),
        PduKind::GetNext => answer_get_next(context, pdu, oids, varbinds),
        PduKind::GetBulk => return answer_get_bulk(context, pdu, oids, varbinds),
        PduKind::Set => refuse_set(context, pdu, oids, varbinds),
    };
    if context.limit.fits(&answer.header, varbinds.len()) {
        return answer;
    }
    too_big(pdu, varbinds)
}

/// RFC 3416 4.2.1: tooBig, error-index zero, no varbinds.
fn too_big(pdu: &RequestPdu<'_>, varbinds: &mut Vec<u8>) -> Answer {
    varbinds.clear();
    Answer {
        header: header(pdu.request_id, error_status::TOO_BIG, 0),
        varbind_count: 0,
    }
}

/// A v1 error: the request's varbinds come back unchanged (RFC 1157 4.1.2).
fn v1_error(pdu: &RequestPdu<'_>, status: u32, index: usize, varbinds: &mut Vec<u8>) -> Answer {
    varbinds.clear();
    varbinds.extend_from_slice(pdu.raw_varbinds);
    Answer {
        header: header(pdu.request_id, status, index),
        varbind_count: 0,
    }
}

fn success(pdu: &RequestPdu<'_>, count: usize) -> Answer {
    Answer {
        header: header(pdu.request_id, error_status::NO_ERROR, 0),
        varbind_count: count,
    }
}

/// SNMPv1 cannot carry Counter64: such objects are invisible to v1 (RFC 2576 4.1.2.1).
fn visible(version: Version, value: &SimValue) -> bool {
    version != Version::V1 || !matches!(value, SimValue::Counter64(_))
}

fn answer_get(
    context: &Context<'_>,
    pdu: &RequestPdu<'_>,
    oids: &OidList,
    varbinds: &mut Vec<u8>,
) -> Answer {
    for index in 0..oids.len() {
        let oid = oids.get(index);
        let lookup = context.view.get(oid);
        let value = match &lookup {
            Lookup::Value(value) if visible(context.version, value) => VarValue::Value(value),
            _ if context.version == Version::V1 => {
                return v1_error(pdu, error_status::NO_SUCH_NAME, index + 1, varbinds)
            }
            Lookup::Value(_) | Lookup::NoSuchObject => VarValue::NoSuchObject,
            Lookup::NoSuchInstance => VarValue::NoSuchInstance,
        };
        ber::write_varbind(varbinds, oid, value);
        if varbinds.len() > context.limit.max_message_len {
            // Already too big: stop looking values up.
            return too_big(pdu, varbinds);
        }
    }
    success(pdu, oids.len())
}

/// The next object visible to this version after `oid`.
fn next_visible(context: &Context<'_>, oid: &[u32]) -> Option<(Vec<u32>, SimValue)> {
    let mut found = context.view.next(oid)?;
    while !visible(context.version, &found.1) {
        found = context.view.next(&found.0)?;
    }
    Some(found)
}

fn answer_get_next(
    context: &Context<'_>,
    pdu: &RequestPdu<'_>,
    oids: &OidList,
    varbinds: &mut Vec<u8>,
) -> Answer {
    for index in 0..oids.len() {
        let oid = oids.get(index);
        match next_visible(context, oid) {
            Some((next, value)) => ber::write_varbind(varbinds, &next, VarValue::Value(&value)),
            None if context.version == Version::V1 => {
                return v1_error(pdu, error_status::NO_SUCH_NAME, index + 1, varbinds)
            }
            None => ber::write_varbind(varbinds, oid, VarValue::EndOfMibView),
        }
        if varbinds.len() > context.limit.max_message_len {
            return too_big(pdu, varbinds);
        }
    }
    success(pdu, oids.len())
}

fn refuse_set(
    context: &Context<'_>,
    pdu: &RequestPdu<'_>,
    oids: &OidList,
    varbinds: &mut Vec<u8>,
) -> Answer {
    let index = usize::from(!oids.is_empty());
    // The agent is read-only; v1 has no noAccess and says noSuchName (RFC 2576 4.3).
    let status = match context.version {
        Version::V1 => error_status::NO_SUCH_NAME,
        _ => error_status::NO_ACCESS,
    };
    v1_error(pdu, status, index, varbinds)
}

/// Appends varbinds while they fit the message; remembers when one did not.
struct BulkWriter<'a, 'b> {
    context: &'a Context<'b>,
    header: PduHeader,
    varbinds: &'a mut Vec<u8>,
    count: usize,
    full: bool,
}

impl BulkWriter<'_, '_> {
    fn push(&mut self, oid: &[u32], value: VarValue<'_>) {
        let needed = self.varbinds.len() + ber::varbind_len(oid, value);
        if !self.context.limit.fits(&self.header, needed) {
            self.full = true;
            return;
        }
        ber::write_varbind(self.varbinds, oid, value);
        self.count += 1;
    }
}

/// One repeated variable of a GETBULK: where it stands, and whether it has run out.
struct Repeater {
    cursor: Vec<u32>,
    ended: bool,
}

/// RFC 3416 4.2.3: N non-repeaters get one GETNEXT each, then up to M rows of the R
/// repeaters; trailing varbinds that do not fit are left out.
fn answer_get_bulk(
    context: &Context<'_>,
    pdu: &RequestPdu<'_>,
    oids: &OidList,
    varbinds: &mut Vec<u8>,
) -> Answer {
    let total = oids.len();
    let non_repeaters = usize::try_from(pdu.non_repeaters.max(0))
        .unwrap_or(usize::MAX)
        .min(total);
    // No explicit cap is needed on max-repetitions: every row adds at least one varbind until
    // the message is full, and rows stop once every repeater is past the end of the MIB.
    let max_repetitions = u64::try_from(pdu.max_repetitions.max(0)).unwrap_or(0);
    let mut writer = BulkWriter {
        context,
        header: header(pdu.request_id, error_status::NO_ERROR, 0),
        varbinds,
        count: 0,
        full: false,
    };
    for index in 0..non_repeaters {
        let oid = oids.get(index);
        match next_visible(context, oid) {
            Some((next, value)) => writer.push(&next, VarValue::Value(&value)),
            None => writer.push(oid, VarValue::EndOfMibView),
        }
        if writer.full {
            break;
        }
    }
    let mut repeaters: Vec<Repeater> = (non_repeaters..total)
        .map(|index| Repeater {
            cursor: oids.get(index).to_vec(),
            ended: false,
        })
        .collect();
    let mut repetition = 0;
    while !writer.full && !repeaters.is_empty() && repetition < max_repetitions {
        repetition += 1;
        for repeater in &mut repeaters {
            bulk_step(&mut writer, repeater);
            if writer.full {
                break;
            }
        }
        if repeaters.iter().all(|repeater| repeater.ended) {
            break;
        }
    }
    let count = writer.count;
    if count == 0 && writer.full {
        return too_big(pdu, varbinds);
    }
    success(pdu, count)
}

fn bulk_step(writer: &mut BulkWriter<'_, '_>, repeater: &mut Repeater) {
    if repeater.ended {
        writer.push(&repeater.cursor, VarValue::EndOfMibView);
        return;
    }
    match next_visible(writer.context, &repeater.cursor) {
        Some((next, value)) => {
            writer.push(&next, VarValue::Value(&value));
            repeater.cursor = next;
        }
        None => {
            repeater.ended = true;
            writer.push(&repeater.cursor, VarValue::EndOfMibView);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::simulator::agent::ber::Reader;
    use crate::simulator::agent::stats::UsmCounters;
    use crate::simulator::agent::view::EngineState;
    use crate::simulator::mib::StaticMib;

    // After the engine objects (1.3.6.1.6.3.10 and .15), so the MIB ends at BASE.4.2.
    const BASE: [u32; 7] = [1, 3, 6, 1, 6, 3, 99];

    fn oid(suffix: &[u32]) -> Vec<u32> {
        let mut oid = BASE.to_vec();
        oid.extend_from_slice(suffix);
        oid
    }

    fn mib() -> StaticMib {
        StaticMib::new([
            (oid(&[1, 0]), SimValue::Integer(-5)),
            (oid(&[2, 0]), SimValue::Counter64(u64::MAX)),
            (oid(&[3, 1]), SimValue::OctetString(vec![b'a'; 100])),
            (oid(&[3, 2]), SimValue::OctetString(vec![b'b'; 100])),
            (oid(&[3, 3]), SimValue::OctetString(vec![b'c'; 100])),
            (oid(&[4, 1]), SimValue::Gauge32(1)),
            (oid(&[4, 2]), SimValue::Gauge32(2)),
        ])
    }

    /// Runs one request against `mib()` plus the engine objects.
    fn run(
        (kind, version): (PduKind, Version),
        oids: &[Vec<u32>],
        bulk: (i64, i64),
        max: usize,
    ) -> (Answer, Vec<(Vec<u32>, u8)>) {
        let device = mib();
        let counters = UsmCounters::default();
        let envelope = |pdu_len: usize| pdu_len + 20;
        let context = Context {
            view: View {
                device: &device,
                engine: EngineState {
                    engine_id: b"engine",
                    boots: 1,
                    time: 0,
                    max_message_size: max,
                    usm: &counters,
                },
                at: Duration::ZERO,
            },
            version,
            limit: SizeLimit {
                max_message_len: max,
                message_len: &envelope,
            },
        };
        let mut list = OidList::default();
        for oid in oids {
            list.push(oid);
        }
        let pdu = RequestPdu {
            kind,
            request_id: 9,
            non_repeaters: bulk.0,
            max_repetitions: bulk.1,
            raw_varbinds: b"raw",
        };
        let mut varbinds = Vec::new();
        let answer = answer(&context, &pdu, &list, &mut varbinds);
        if answer.header.error_status != 0 {
            return (answer, Vec::new());
        }
        assert!(envelope(answer.header.pdu_len(varbinds.len())) <= max);
        let mut decoded = Vec::new();
        let mut reader = Reader::new(&varbinds);
        while !reader.is_empty() {
            let mut varbind = Reader::new(reader.expect(tag::SEQUENCE).unwrap());
            let mut name = Vec::new();
            ber::decode_oid_into(varbind.expect(tag::OBJECT_ID).unwrap(), &mut name).unwrap();
            decoded.push((name, varbind.read_tlv().unwrap().0));
        }
        assert_eq!(decoded.len(), answer.varbind_count);
        (answer, decoded)
    }

    fn names(varbinds: &[(Vec<u32>, u8)]) -> Vec<Vec<u32>> {
        varbinds.iter().map(|(name, _)| name.clone()).collect()
    }

    #[test]
    fn get_reports_v2_exceptions_and_v1_no_such_name() {
        let request = [oid(&[1, 0]), oid(&[3, 9]), oid(&[9, 0])];
        let (_, varbinds) = run((PduKind::Get, Version::V2c), &request, (0, 0), 1472);
        let tags: Vec<u8> = varbinds.iter().map(|(_, t)| *t).collect();
        assert_eq!(
            tags,
            [tag::INTEGER, tag::NO_SUCH_INSTANCE, tag::NO_SUCH_OBJECT]
        );
        let (answer, _) = run((PduKind::Get, Version::V1), &request, (0, 0), 1472);
        assert_eq!(
            (answer.header.error_status, answer.header.error_index),
            (2, 2)
        );
        // Counter64 does not exist for v1.
        let (answer, _) = run((PduKind::Get, Version::V1), &[oid(&[2, 0])], (0, 0), 1472);
        assert_eq!(
            (answer.header.error_status, answer.header.error_index),
            (2, 1)
        );
    }

    #[test]
    fn get_next_skips_counter64_in_v1_and_ends_with_end_of_mib_view() {
        let (_, varbinds) = run(
            (PduKind::GetNext, Version::V1),
            &[oid(&[1, 0])],
            (0, 0),
            1472,
        );
        assert_eq!(names(&varbinds), [oid(&[3, 1])]);
        let (_, varbinds) = run(
            (PduKind::GetNext, Version::V2c),
            &[oid(&[1, 0]), oid(&[4, 2])],
            (0, 0),
            1472,
        );
        assert_eq!(names(&varbinds), [oid(&[2, 0]), oid(&[4, 2])]);
        assert_eq!(varbinds[1].1, tag::END_OF_MIB_VIEW);
        let (answer, _) = run(
            (PduKind::GetNext, Version::V1),
            &[oid(&[1, 0]), oid(&[4, 2])],
            (0, 0),
            1472,
        );
        assert_eq!(
            (answer.header.error_status, answer.header.error_index),
            (2, 2)
        );
    }

    #[test]
    fn get_bulk_interleaves_repeaters_and_stops_when_all_ended() {
        let request = [oid(&[1]), oid(&[3]), oid(&[4, 1])];
        let (_, varbinds) = run((PduKind::GetBulk, Version::V2c), &request, (1, 5), 1472);
        assert_eq!(
            names(&varbinds),
            [
                oid(&[1, 0]),
                oid(&[3, 1]),
                oid(&[4, 2]),
                oid(&[3, 2]),
                oid(&[4, 2]),
                oid(&[3, 3]),
                oid(&[4, 2]),
                oid(&[4, 1]),
                oid(&[4, 2]),
                oid(&[4, 2]),
                oid(&[4, 2]),
            ]
        );
        let ends = varbinds
            .iter()
            .filter(|(_, t)| *t == tag::END_OF_MIB_VIEW)
            .count();
        assert_eq!(ends, 4);
        // max-repetitions 0: only the non-repeaters; negative values count as 0.
        let (_, varbinds) = run((PduKind::GetBulk, Version::V2c), &request, (1, 0), 1472);
        assert_eq!(names(&varbinds), [oid(&[1, 0])]);
        let (_, varbinds) = run((PduKind::GetBulk, Version::V2c), &request, (-3, -1), 1472);
        assert!(varbinds.is_empty());
        // Huge max-repetitions ends at the end of the MIB.
        let (_, varbinds) = run(
            (PduKind::GetBulk, Version::V2c),
            &[oid(&[])],
            (0, i64::from(i32::MAX)),
            1472,
        );
        assert_eq!(varbinds.len(), 8);
    }

    #[test]
    fn get_bulk_is_trimmed_and_get_becomes_too_big() {
        let (answer, varbinds) = run((PduKind::GetBulk, Version::V2c), &[oid(&[3])], (0, 10), 300);
        assert_eq!(answer.header.error_status, 0);
        assert_eq!(names(&varbinds), [oid(&[3, 1]), oid(&[3, 2])]);
        let (answer, _) = run((PduKind::GetBulk, Version::V2c), &[oid(&[3])], (0, 10), 100);
        assert!(answer.is_too_big());
        let request = [oid(&[3, 1]), oid(&[3, 2]), oid(&[3, 3])];
        let (answer, _) = run((PduKind::Get, Version::V2c), &request, (0, 0), 300);
        assert!(answer.is_too_big());
        assert_eq!(answer.header.error_index, 0);
        let (answer, _) = run((PduKind::Get, Version::V1), &request, (0, 0), 300);
        assert!(answer.is_too_big());
    }

    #[test]
    fn exact_limit_is_inclusive() {
        // Find the exact size of a response and check that limit - 1 turns it into tooBig.
        let request = [oid(&[3, 1]), oid(&[3, 2])];
        let (answer, varbinds) = run((PduKind::Get, Version::V2c), &request, (0, 0), 10_000);
        let mut bytes = Vec::new();
        for (name, _) in &varbinds {
            let value = SimValue::OctetString(vec![b'x'; 100]);
            ber::write_varbind(&mut bytes, name, VarValue::Value(&value));
        }
        let exact = answer.header.pdu_len(bytes.len()) + 20;
        assert!(!run((PduKind::Get, Version::V2c), &request, (0, 0), exact)
            .0
            .is_too_big());
        assert!(
            run((PduKind::Get, Version::V2c), &request, (0, 0), exact - 1)
                .0
                .is_too_big()
        );
    }

    #[test]
    fn set_is_refused() {
        let (answer, _) = run((PduKind::Set, Version::V2c), &[oid(&[1, 0])], (0, 0), 1472);
        assert_eq!(
            (answer.header.error_status, answer.header.error_index),
            (6, 1)
        );
    }
}
