//! BER for the SNMP subset: bounded reads over one datagram, exact sizes, and writes into reused buffers.

use thiserror::Error;

use crate::simulator::mib::SimValue;

/// The tags the agent reads or writes.
pub mod tag {
    pub const INTEGER: u8 = 0x02;
    pub const OCTET_STRING: u8 = 0x04;
    pub const NULL: u8 = 0x05;
    pub const OBJECT_ID: u8 = 0x06;
    pub const SEQUENCE: u8 = 0x30;
    pub const IP_ADDRESS: u8 = 0x40;
    pub const COUNTER32: u8 = 0x41;
    pub const GAUGE32: u8 = 0x42;
    pub const TIMETICKS: u8 = 0x43;
    pub const COUNTER64: u8 = 0x46;
    pub const NO_SUCH_OBJECT: u8 = 0x80;
    pub const NO_SUCH_INSTANCE: u8 = 0x81;
    pub const END_OF_MIB_VIEW: u8 = 0x82;
    pub const GET: u8 = 0xA0;
    pub const GET_NEXT: u8 = 0xA1;
    pub const RESPONSE: u8 = 0xA2;
    pub const SET: u8 = 0xA3;
    pub const GET_BULK: u8 = 0xA5;
    pub const REPORT: u8 = 0xA8;
}

/// SMI limits an OID to 128 sub-identifiers (RFC 2578 3.5).
pub const MAX_OID_ARCS: usize = 128;

/// Why a datagram could not be read. The agent counts and drops it; nothing is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum DecodeError {
    #[error("truncated")]
    Truncated,
    #[error("unsupported length encoding")]
    BadLength,
    #[error("expected tag {expected:#04x}, found {found:#04x}")]
    UnexpectedTag { expected: u8, found: u8 },
    #[error("integer out of range")]
    IntegerRange,
    #[error("malformed object identifier")]
    BadOid,
    #[error("unexpected content")]
    Malformed,
}

/// Reads TLVs from a slice; every length is checked against what is left, so hostile lengths
/// can never make it read past the datagram or allocate.
#[derive(Debug, Clone, Copy)]
pub struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Reader { data }
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Reads one TLV: its tag and its content.
    pub fn read_tlv(&mut self) -> Result<(u8, &'a [u8]), DecodeError> {
        let (&tag, rest) = self.data.split_first().ok_or(DecodeError::Truncated)?;
        // High-tag-number form (0x1f) never occurs in SNMP.
        if tag & 0x1f == 0x1f {
            return Err(DecodeError::Malformed);
        }
        let (&first, mut rest) = rest.split_first().ok_or(DecodeError::Truncated)?;
        let length = if first < 0x80 {
            usize::from(first)
        } else {
            let count = usize::from(first & 0x7f);
            // 0x80 is the indefinite form (not allowed in SNMP); more than 4 bytes is absurd
            // for a UDP datagram.
            if count == 0 || count > 4 {
                return Err(DecodeError::BadLength);
            }
            if rest.len() < count {
                return Err(DecodeError::Truncated);
            }
            let (bytes, after) = rest.split_at(count);
            rest = after;
            bytes
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | usize::from(b))
        };
        if rest.len() < length {
            return Err(DecodeError::Truncated);
        }
        let (content, after) = rest.split_at(length);
        self.data = after;
        Ok((tag, content))
    }

    /// Reads one TLV that must carry `expected`.
    pub fn expect(&mut self, expected: u8) -> Result<&'a [u8], DecodeError> {
        let (found, content) = self.read_tlv()?;
        if found != expected {
            return Err(DecodeError::UnexpectedTag { expected, found });
        }
        Ok(content)
    }

    /// Reads an INTEGER that must fit an i32 (request-id, version...).
    pub fn read_i32(&mut self) -> Result<i32, DecodeError> {
        let value = decode_integer(self.expect(tag::INTEGER)?)?;
        i32::try_from(value).map_err(|_| DecodeError::IntegerRange)
    }

    /// Reads an INTEGER in 0..=2^31-1 (msgID, msgMaxSize, engine boots and time).
    pub fn read_non_negative(&mut self) -> Result<u32, DecodeError> {
        let value = self.read_i32()?;
        u32::try_from(value).map_err(|_| DecodeError::IntegerRange)
    }
}

/// A two's-complement INTEGER of 1 to 8 bytes.
pub fn decode_integer(content: &[u8]) -> Result<i64, DecodeError> {
    let (&first, _) = content.split_first().ok_or(DecodeError::IntegerRange)?;
    if content.len() > 8 {
        return Err(DecodeError::IntegerRange);
    }
    let start = if first & 0x80 != 0 { -1i64 } else { 0 };
    Ok(content
        .iter()
        .fold(start, |acc, &b| (acc << 8) | i64::from(b)))
}

/// An unsigned application value (Counter32, Counter64...): up to 8 significant bytes plus
/// an optional leading zero.
pub fn decode_unsigned(content: &[u8]) -> Result<u64, DecodeError> {
    let significant = match content {
        [] => return Err(DecodeError::IntegerRange),
        [0, rest @ ..] => rest,
        all => all,
    };
    if significant.len() > 8 {
        return Err(DecodeError::IntegerRange);
    }
    Ok(significant
        .iter()
        .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)))
}

/// Decodes an OID's content, appending its sub-identifiers to `out`.
pub fn decode_oid_into(content: &[u8], out: &mut Vec<u32>) -> Result<(), DecodeError> {
    if content.is_empty() || content.last().is_some_and(|&b| b & 0x80 != 0) {
        return Err(DecodeError::BadOid);
    }
    let start = out.len();
    let mut value: u64 = 0;
    let mut first = true;
    let mut fresh = true;
    for &byte in content {
        // A sub-identifier never starts with a 0x80 padding byte (X.690 8.19.2).
        if fresh && byte == 0x80 {
            return Err(DecodeError::BadOid);
        }
        fresh = false;
        value = (value << 7) | u64::from(byte & 0x7f);
        if value > u64::from(u32::MAX) + 80 {
            return Err(DecodeError::BadOid);
        }
        if byte & 0x80 != 0 {
            continue;
        }
        if first {
            // The first encoded number packs the first two arcs: X * 40 + Y, X in 0..=2.
            let (x, y) = match value {
                0..=39 => (0, value),
                40..=79 => (1, value - 40),
                _ => (2, value - 80),
            };
            out.push(x);
            out.push(u32::try_from(y).map_err(|_| DecodeError::BadOid)?);
            first = false;
        } else {
            out.push(u32::try_from(value).map_err(|_| DecodeError::BadOid)?);
        }
        if out.len() - start > MAX_OID_ARCS {
            return Err(DecodeError::BadOid);
        }
        value = 0;
        fresh = true;
    }
    Ok(())
}

/// Bytes needed to encode a length.
pub fn length_len(length: usize) -> usize {
    match length {
        0..=0x7f => 1,
        0x80..=0xff => 2,
        0x100..=0xffff => 3,
        0x1_0000..=0xff_ffff => 4,
        _ => 5,
    }
}

/// The full size of a TLV with this much content.
pub fn tlv_len(content_len: usize) -> usize {
    1 + length_len(content_len) + content_len
}

/// Writes a tag and a length in the shortest form.
pub fn write_header(out: &mut Vec<u8>, tag: u8, length: usize) {
    out.push(tag);
    let count = length_len(length) - 1;
    if count == 0 {
        // Short form: the length fits in 7 bits.
        out.push(length as u8);
        return;
    }
    out.push(0x80 | count as u8);
    for shift in (0..count).rev() {
        out.push((length >> (8 * shift)) as u8);
    }
}

/// Content bytes of a minimal two's-complement INTEGER.
pub fn integer_len(value: i64) -> usize {
    let mut bytes = 1;
    let mut rest = value;
    while !(-128..=127).contains(&rest) {
        rest >>= 8;
        bytes += 1;
    }
    bytes
}

pub fn write_integer(out: &mut Vec<u8>, tag: u8, value: i64) {
    let bytes = integer_len(value);
    write_header(out, tag, bytes);
    for shift in (0..bytes).rev() {
        out.push((value >> (8 * shift)) as u8);
    }
}

/// Content bytes of an unsigned value (a leading zero when the top bit is set).
pub fn unsigned_len(value: u64) -> usize {
    let bits = 64 - value.leading_zeros() as usize;
    bits / 8 + 1
}

pub fn write_unsigned(out: &mut Vec<u8>, tag: u8, value: u64) {
    let bytes = unsigned_len(value);
    write_header(out, tag, bytes);
    let wide = u128::from(value);
    for shift in (0..bytes).rev() {
        out.push((wide >> (8 * shift)) as u8);
    }
}

pub fn write_octets(out: &mut Vec<u8>, tag: u8, bytes: &[u8]) {
    write_header(out, tag, bytes.len());
    out.extend_from_slice(bytes);
}

/// The numbers an OID is encoded as: the first two arcs packed together, then the rest.
/// OIDs shorter than two arcs are padded with zeros, as every agent does.
fn oid_numbers(oid: &[u32]) -> impl Iterator<Item = u64> + '_ {
    let x = u64::from(oid.first().copied().unwrap_or(0).min(2));
    let y = u64::from(oid.get(1).copied().unwrap_or(0));
    std::iter::once(x * 40 + y).chain(oid.iter().skip(2).map(|&arc| u64::from(arc)))
}

fn base128_len(value: u64) -> usize {
    let bits = 64 - value.leading_zeros() as usize;
    bits.div_ceil(7).max(1)
}

/// Content bytes of an OID.
pub fn oid_len(oid: &[u32]) -> usize {
    oid_numbers(oid).map(base128_len).sum()
}

pub fn write_oid(out: &mut Vec<u8>, oid: &[u32]) {
    write_header(out, tag::OBJECT_ID, oid_len(oid));
    for number in oid_numbers(oid) {
        let groups = base128_len(number);
        for group in (0..groups).rev() {
            let seven = ((number >> (7 * group)) & 0x7f) as u8;
            out.push(if group == 0 { seven } else { seven | 0x80 });
        }
    }
}

/// What a response varbind carries: a value or one of the SNMPv2 exceptions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VarValue<'a> {
    Value(&'a SimValue),
    NoSuchObject,
    NoSuchInstance,
    EndOfMibView,
}

/// The full TLV size of a value.
pub fn value_len(value: VarValue<'_>) -> usize {
    let content = match value {
        VarValue::Value(SimValue::Integer(n)) => integer_len(i64::from(*n)),
        VarValue::Value(SimValue::OctetString(bytes)) => bytes.len(),
        VarValue::Value(SimValue::ObjectId(oid)) => oid_len(oid),
        VarValue::Value(SimValue::IpAddress(_)) => 4,
        VarValue::Value(SimValue::Counter32(n) | SimValue::Gauge32(n) | SimValue::TimeTicks(n)) => {
            unsigned_len(u64::from(*n))
        }
        VarValue::Value(SimValue::Counter64(n)) => unsigned_len(*n),
        VarValue::NoSuchObject | VarValue::NoSuchInstance | VarValue::EndOfMibView => 0,
    };
    tlv_len(content)
}

pub fn write_value(out: &mut Vec<u8>, value: VarValue<'_>) {
    match value {
        VarValue::Value(SimValue::Integer(n)) => write_integer(out, tag::INTEGER, i64::from(*n)),
        VarValue::Value(SimValue::OctetString(bytes)) => {
            write_octets(out, tag::OCTET_STRING, bytes)
        }
        VarValue::Value(SimValue::ObjectId(oid)) => write_oid(out, oid),
        VarValue::Value(SimValue::IpAddress(ip)) => write_octets(out, tag::IP_ADDRESS, ip),
        VarValue::Value(SimValue::Counter32(n)) => {
            write_unsigned(out, tag::COUNTER32, u64::from(*n))
        }
        VarValue::Value(SimValue::Gauge32(n)) => write_unsigned(out, tag::GAUGE32, u64::from(*n)),
        VarValue::Value(SimValue::TimeTicks(n)) => {
            write_unsigned(out, tag::TIMETICKS, u64::from(*n))
        }
        VarValue::Value(SimValue::Counter64(n)) => write_unsigned(out, tag::COUNTER64, *n),
        VarValue::NoSuchObject => write_header(out, tag::NO_SUCH_OBJECT, 0),
        VarValue::NoSuchInstance => write_header(out, tag::NO_SUCH_INSTANCE, 0),
        VarValue::EndOfMibView => write_header(out, tag::END_OF_MIB_VIEW, 0),
    }
}

/// The full TLV size of one varbind.
pub fn varbind_len(oid: &[u32], value: VarValue<'_>) -> usize {
    tlv_len(tlv_len(oid_len(oid)) + value_len(value))
}

pub fn write_varbind(out: &mut Vec<u8>, oid: &[u32], value: VarValue<'_>) {
    write_header(out, tag::SEQUENCE, tlv_len(oid_len(oid)) + value_len(value));
    write_oid(out, oid);
    write_value(out, value);
}

/// Decodes a value TLV (for tests and the load generator, which read responses).
pub fn decode_value(tag_byte: u8, content: &[u8]) -> Result<Option<SimValue>, DecodeError> {
    let small = |content: &[u8]| {
        u32::try_from(decode_unsigned(content)?).map_err(|_| DecodeError::IntegerRange)
    };
    Ok(Some(match tag_byte {
        tag::INTEGER => SimValue::Integer(
            i32::try_from(decode_integer(content)?).map_err(|_| DecodeError::IntegerRange)?,
        ),
        tag::OCTET_STRING => SimValue::OctetString(content.to_vec()),
        tag::OBJECT_ID => {
            let mut oid = Vec::new();
            decode_oid_into(content, &mut oid)?;
            SimValue::ObjectId(oid)
        }
        tag::IP_ADDRESS => {
            SimValue::IpAddress(content.try_into().map_err(|_| DecodeError::Malformed)?)
        }
        tag::COUNTER32 => SimValue::Counter32(small(content)?),
        tag::GAUGE32 => SimValue::Gauge32(small(content)?),
        tag::TIMETICKS => SimValue::TimeTicks(small(content)?),
        tag::COUNTER64 => SimValue::Counter64(decode_unsigned(content)?),
        tag::NULL | tag::NO_SUCH_OBJECT | tag::NO_SUCH_INSTANCE | tag::END_OF_MIB_VIEW => {
            return Ok(None)
        }
        _ => return Err(DecodeError::Malformed),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(value: &SimValue) -> Vec<u8> {
        let mut out = Vec::new();
        write_value(&mut out, VarValue::Value(value));
        assert_eq!(out.len(), value_len(VarValue::Value(value)), "{value:?}");
        out
    }

    fn round_trip(value: SimValue) {
        let bytes = encoded(&value);
        let mut reader = Reader::new(&bytes);
        let (tag_byte, content) = reader.read_tlv().unwrap();
        assert!(reader.is_empty());
        assert_eq!(decode_value(tag_byte, content).unwrap(), Some(value));
    }

    #[test]
    fn every_value_type_round_trips() {
        for value in [
            SimValue::Integer(0),
            SimValue::Integer(-1),
            SimValue::Integer(127),
            SimValue::Integer(128),
            SimValue::Integer(-129),
            SimValue::Integer(i32::MIN),
            SimValue::Integer(i32::MAX),
            SimValue::OctetString(Vec::new()),
            SimValue::OctetString(vec![0, 0xff, 0x80, 10]),
            SimValue::OctetString(vec![b'x'; 300]),
            SimValue::OctetString(vec![b'y'; 70_000]),
            SimValue::ObjectId(vec![1, 3, 6, 1, 4, 1, 2021, 4294967295]),
            SimValue::ObjectId(vec![0, 0]),
            SimValue::ObjectId(vec![2, 999, 3]),
            SimValue::IpAddress([192, 0, 2, 255]),
            SimValue::Counter32(0),
            SimValue::Counter32(u32::MAX),
            SimValue::Counter32(u32::MAX - 5),
            SimValue::Gauge32(1_000_000_000),
            SimValue::TimeTicks(0x80),
            SimValue::Counter64(0),
            SimValue::Counter64(u64::MAX),
            SimValue::Counter64((1 << 63) + 12345),
        ] {
            round_trip(value);
        }
    }

    #[test]
    fn known_encodings() {
        assert_eq!(encoded(&SimValue::Integer(-129)), [0x02, 0x02, 0xff, 0x7f]);
        assert_eq!(
            encoded(&SimValue::Counter32(u32::MAX)),
            [0x41, 5, 0, 0xff, 0xff, 0xff, 0xff]
        );
        assert_eq!(
            encoded(&SimValue::ObjectId(vec![1, 3, 6, 1, 2, 1, 1, 1, 0])),
            [0x06, 0x08, 0x2b, 6, 1, 2, 1, 1, 1, 0]
        );
        assert_eq!(
            encoded(&SimValue::ObjectId(vec![1, 3, 6, 1, 4, 1, 2021])),
            [0x06, 0x07, 0x2b, 6, 1, 4, 1, 0x8f, 0x65]
        );
        assert_eq!(
            encoded(&SimValue::OctetString(vec![7; 200]))[..3],
            [0x04, 0x81, 200]
        );
        assert_eq!(
            encoded(&SimValue::OctetString(vec![7; 300]))[..4],
            [0x04, 0x82, 1, 44]
        );
    }

    #[test]
    fn exceptions_and_varbinds_have_exact_sizes() {
        for value in [
            VarValue::NoSuchObject,
            VarValue::NoSuchInstance,
            VarValue::EndOfMibView,
        ] {
            let mut out = Vec::new();
            write_varbind(&mut out, &[1, 3, 6, 1, 99999, 7], value);
            assert_eq!(out.len(), varbind_len(&[1, 3, 6, 1, 99999, 7], value));
            assert_eq!(out[out.len() - 1], 0);
        }
    }

    #[test]
    fn lengths_in_long_and_short_form() {
        for length in [0, 1, 127, 128, 255, 256, 65_535, 65_536, 16_777_216] {
            let mut out = Vec::new();
            write_header(&mut out, tag::OCTET_STRING, length);
            assert_eq!(out.len(), 1 + length_len(length));
            out.resize(out.len() + length, 0);
            let mut reader = Reader::new(&out);
            let (_, content) = reader.read_tlv().unwrap();
            assert_eq!(content.len(), length);
        }
        // A non-minimal long form is still read (some encoders write 0x81 for short lengths).
        let mut reader = Reader::new(&[0x04, 0x81, 0x02, 1, 2]);
        assert_eq!(reader.read_tlv().unwrap(), (0x04, &[1u8, 2][..]));
    }

    #[test]
    fn hostile_lengths_and_truncation_are_errors() {
        let cases: &[&[u8]] = &[
            &[],
            &[0x30],
            &[0x30, 0x05, 1, 2],
            &[0x30, 0x80, 0, 0],
            &[0x30, 0x85, 1, 1, 1, 1, 1],
            &[0x30, 0x84, 0xff, 0xff, 0xff, 0xff, 0],
            &[0x30, 0x82, 0x01],
            &[0x1f, 0x01, 0x00],
        ];
        for case in cases {
            assert!(Reader::new(case).read_tlv().is_err(), "{case:?}");
        }
    }

    #[test]
    fn bad_integers_and_oids_are_errors() {
        assert!(decode_integer(&[]).is_err());
        assert!(decode_integer(&[1; 9]).is_err());
        assert_eq!(decode_integer(&[0xff]), Ok(-1));
        assert_eq!(
            decode_unsigned(&[0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
            Ok(u64::MAX)
        );
        assert!(decode_unsigned(&[1, 0, 0, 0, 0, 0, 0, 0, 0]).is_err());
        let mut oid = Vec::new();
        assert!(decode_oid_into(&[], &mut oid).is_err());
        assert!(decode_oid_into(&[0x2b, 0x86], &mut oid).is_err());
        assert!(decode_oid_into(&[0x2b, 0x80, 0x01], &mut oid).is_err());
        assert!(decode_oid_into(&[0x2b, 0x9f, 0xff, 0xff, 0xff, 0x7f], &mut oid).is_err());
        let too_long = [1u8; MAX_OID_ARCS + 1];
        assert!(decode_oid_into(&too_long, &mut Vec::new()).is_err());
        let mut reader = Reader::new(&[0x02, 0x05, 0x01, 0, 0, 0, 0]);
        assert_eq!(reader.read_i32(), Err(DecodeError::IntegerRange));
    }

    #[test]
    fn garbage_never_panics() {
        // A cheap deterministic fuzz: every prefix and many byte flips of a real message.
        let mut message = Vec::new();
        write_header(&mut message, tag::SEQUENCE, 12);
        write_varbind(&mut message, &[1, 3, 6, 1, 2, 1], VarValue::EndOfMibView);
        let mut oid = Vec::new();
        for cut in 0..message.len() {
            let mut reader = Reader::new(&message[..cut]);
            while let Ok((t, content)) = reader.read_tlv() {
                let _ = decode_value(t, content);
                let _ = decode_oid_into(content, &mut oid);
            }
        }
    }
}
