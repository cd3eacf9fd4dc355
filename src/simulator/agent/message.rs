//! SNMP messages: decoding requests (v1/v2c community, v3 header and USM parameters, PDUs) and
//! sizing and writing v1/v2c responses.

use std::ops::Range;

use super::ber::{self, tag, DecodeError, Reader};

/// The protocol version of a message, which decides the PDU semantics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V1,
    V2c,
    V3,
}

/// The request PDU types the agent answers; anything else is not a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PduKind {
    Get,
    GetNext,
    GetBulk,
    Set,
}

/// The OIDs of a request, flattened into one reused buffer (no allocation per varbind once
/// the buffer has grown).
#[derive(Debug, Default)]
pub struct OidList {
    arcs: Vec<u32>,
    ends: Vec<usize>,
}

impl OidList {
    pub fn clear(&mut self) {
        self.arcs.clear();
        self.ends.clear();
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    pub fn get(&self, index: usize) -> &[u32] {
        let start = if index == 0 { 0 } else { self.ends[index - 1] };
        &self.arcs[start..self.ends[index]]
    }

    fn push_encoded(&mut self, content: &[u8]) -> Result<(), DecodeError> {
        let mark = self.arcs.len();
        if let Err(error) = ber::decode_oid_into(content, &mut self.arcs) {
            self.arcs.truncate(mark);
            return Err(error);
        }
        self.ends.push(self.arcs.len());
        Ok(())
    }

    #[cfg(test)]
    pub fn push(&mut self, oid: &[u32]) {
        self.arcs.extend_from_slice(oid);
        self.ends.push(self.arcs.len());
    }
}

/// A decoded request PDU. The OIDs live in the `OidList` passed to `decode_pdu`.
#[derive(Debug, Clone, Copy)]
pub struct RequestPdu<'a> {
    pub kind: PduKind,
    pub request_id: i32,
    /// error-status field: non-repeaters for GETBULK.
    pub non_repeaters: i64,
    /// error-index field: max-repetitions for GETBULK.
    pub max_repetitions: i64,
    /// The encoded varbind list content, echoed verbatim in v1 error responses.
    pub raw_varbinds: &'a [u8],
}

/// A v1/v2c message: community and the encoded PDU.
#[derive(Debug, Clone, Copy)]
pub struct CommunityMessage<'a> {
    pub version: Version,
    pub community: &'a [u8],
    pub pdu_tag: u8,
    pub pdu: &'a [u8],
}

/// msgFlags bits (RFC 3412).
pub mod flags {
    pub const AUTH: u8 = 0x01;
    pub const PRIV: u8 = 0x02;
    pub const REPORTABLE: u8 = 0x04;
}

/// The USM security parameters of a v3 message (RFC 3414 2.4).
#[derive(Debug, Clone)]
pub struct UsmParams<'a> {
    pub engine_id: &'a [u8],
    pub engine_boots: u32,
    pub engine_time: u32,
    pub user_name: &'a [u8],
    pub auth_params: &'a [u8],
    /// Where `auth_params` sits in the datagram, to zero it before checking the digest.
    pub auth_params_at: Range<usize>,
    pub priv_params: &'a [u8],
}

/// msgData: a plaintext scopedPDU or an encrypted one.
#[derive(Debug, Clone, Copy)]
pub enum MsgData<'a> {
    /// The content of the ScopedPDU SEQUENCE.
    Plain(&'a [u8]),
    Encrypted(&'a [u8]),
}

/// A v3 message as far as it can be read without keys.
#[derive(Debug, Clone)]
pub struct V3Message<'a> {
    pub msg_id: u32,
    pub max_size: u32,
    pub flags: u8,
    pub usm: UsmParams<'a>,
    pub data: MsgData<'a>,
}

/// Any message the agent understands.
#[derive(Debug, Clone)]
pub enum Incoming<'a> {
    Community(CommunityMessage<'a>),
    V3(V3Message<'a>),
}

/// The User-based Security Model's number (RFC 3411).
pub const USM_SECURITY_MODEL: i32 = 3;

/// Reads the outer message of a datagram.
pub fn decode_message(datagram: &[u8]) -> Result<Incoming<'_>, DecodeError> {
    let mut outer = Reader::new(datagram);
    let message = outer.expect(tag::SEQUENCE)?;
    let mut fields = Reader::new(message);
    let version = fields.read_i32()?;
    match version {
        0 | 1 => {
            let community = fields.expect(tag::OCTET_STRING)?;
            let (pdu_tag, pdu) = fields.read_tlv()?;
            Ok(Incoming::Community(CommunityMessage {
                version: if version == 0 {
                    Version::V1
                } else {
                    Version::V2c
                },
                community,
                pdu_tag,
                pdu,
            }))
        }
        3 => decode_v3(datagram, fields).map(Incoming::V3),
        _ => Err(DecodeError::Malformed),
    }
}

fn decode_v3<'a>(datagram: &'a [u8], mut fields: Reader<'a>) -> Result<V3Message<'a>, DecodeError> {
    let mut header = Reader::new(fields.expect(tag::SEQUENCE)?);
    let msg_id = header.read_non_negative()?;
    let max_size = header.read_non_negative()?;
    let flags = match header.expect(tag::OCTET_STRING)? {
        [flags] => *flags,
        _ => return Err(DecodeError::Malformed),
    };
    if header.read_i32()? != USM_SECURITY_MODEL {
        return Err(DecodeError::Malformed);
    }
    let usm = decode_usm_params(datagram, fields.expect(tag::OCTET_STRING)?)?;
    let data = match fields.read_tlv()? {
        (tag::SEQUENCE, content) => MsgData::Plain(content),
        (tag::OCTET_STRING, content) => MsgData::Encrypted(content),
        (found, _) => {
            return Err(DecodeError::UnexpectedTag {
                expected: tag::SEQUENCE,
                found,
            })
        }
    };
    Ok(V3Message {
        msg_id,
        max_size,
        flags,
        usm,
        data,
    })
}

fn decode_usm_params<'a>(
    datagram: &'a [u8],
    octets: &'a [u8],
) -> Result<UsmParams<'a>, DecodeError> {
    let mut params = Reader::new(Reader::new(octets).expect(tag::SEQUENCE)?);
    let engine_id = params.expect(tag::OCTET_STRING)?;
    let engine_boots = params.read_non_negative()?;
    let engine_time = params.read_non_negative()?;
    let user_name = params.expect(tag::OCTET_STRING)?;
    let auth_params = params.expect(tag::OCTET_STRING)?;
    let priv_params = params.expect(tag::OCTET_STRING)?;
    // The slice points into the datagram: its offset is where the digest must be zeroed.
    let start = auth_params.as_ptr() as usize - datagram.as_ptr() as usize;
    Ok(UsmParams {
        engine_id,
        engine_boots,
        engine_time,
        user_name,
        auth_params,
        auth_params_at: start..start + auth_params.len(),
        priv_params,
    })
}

/// A decoded ScopedPDU (RFC 3412): context and the PDU, still encoded.
#[derive(Debug, Clone, Copy)]
pub struct ScopedPdu<'a> {
    pub context_engine_id: &'a [u8],
    pub context_name: &'a [u8],
    pub pdu_tag: u8,
    pub pdu: &'a [u8],
}

/// Reads the content of a ScopedPDU SEQUENCE.
pub fn decode_scoped_pdu(content: &[u8]) -> Result<ScopedPdu<'_>, DecodeError> {
    let mut fields = Reader::new(content);
    let context_engine_id = fields.expect(tag::OCTET_STRING)?;
    let context_name = fields.expect(tag::OCTET_STRING)?;
    let (pdu_tag, pdu) = fields.read_tlv()?;
    Ok(ScopedPdu {
        context_engine_id,
        context_name,
        pdu_tag,
        pdu,
    })
}

/// Reads a decrypted ScopedPDU: a SEQUENCE possibly followed by cipher padding.
pub fn decode_decrypted_scoped_pdu(plain: &[u8]) -> Result<ScopedPdu<'_>, DecodeError> {
    decode_scoped_pdu(Reader::new(plain).expect(tag::SEQUENCE)?)
}

/// Reads a request PDU; its OIDs go into `oids` (cleared first).
pub fn decode_pdu<'a>(
    pdu_tag: u8,
    content: &'a [u8],
    oids: &mut OidList,
) -> Result<RequestPdu<'a>, DecodeError> {
    let kind = match pdu_tag {
        tag::GET => PduKind::Get,
        tag::GET_NEXT => PduKind::GetNext,
        tag::GET_BULK => PduKind::GetBulk,
        tag::SET => PduKind::Set,
        _ => return Err(DecodeError::Malformed),
    };
    let mut fields = Reader::new(content);
    let request_id = fields.read_i32()?;
    let non_repeaters = ber::decode_integer(fields.expect(tag::INTEGER)?)?;
    let max_repetitions = ber::decode_integer(fields.expect(tag::INTEGER)?)?;
    let raw_varbinds = fields.expect(tag::SEQUENCE)?;
    oids.clear();
    let mut list = Reader::new(raw_varbinds);
    while !list.is_empty() {
        let mut varbind = Reader::new(list.expect(tag::SEQUENCE)?);
        oids.push_encoded(varbind.expect(tag::OBJECT_ID)?)?;
        // The request's value (NULL for reads) is skipped but must be well-formed.
        varbind.read_tlv()?;
        if !varbind.is_empty() {
            return Err(DecodeError::Malformed);
        }
    }
    Ok(RequestPdu {
        kind,
        request_id,
        non_repeaters,
        max_repetitions,
        raw_varbinds,
    })
}

/// The fixed fields of a response (or report) PDU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PduHeader {
    pub tag: u8,
    pub request_id: i32,
    pub error_status: u32,
    pub error_index: u32,
}

impl PduHeader {
    fn content_len(&self, varbinds_len: usize) -> usize {
        ber::tlv_len(ber::integer_len(i64::from(self.request_id)))
            + ber::tlv_len(ber::integer_len(i64::from(self.error_status)))
            + ber::tlv_len(ber::integer_len(i64::from(self.error_index)))
            + ber::tlv_len(varbinds_len)
    }

    /// The full size of the PDU around `varbinds_len` bytes of varbinds.
    pub fn pdu_len(&self, varbinds_len: usize) -> usize {
        ber::tlv_len(self.content_len(varbinds_len))
    }

    /// Writes the PDU with the given encoded varbinds.
    pub fn write(&self, out: &mut Vec<u8>, varbinds: &[u8]) {
        ber::write_header(out, self.tag, self.content_len(varbinds.len()));
        ber::write_integer(out, tag::INTEGER, i64::from(self.request_id));
        ber::write_integer(out, tag::INTEGER, i64::from(self.error_status));
        ber::write_integer(out, tag::INTEGER, i64::from(self.error_index));
        ber::write_octets(out, tag::SEQUENCE, varbinds);
    }
}

/// A response PDU to write: its header and its encoded varbinds.
#[derive(Debug, Clone, Copy)]
pub struct Pdu<'a> {
    pub header: PduHeader,
    pub varbinds: &'a [u8],
}

/// The v1/v2c message around a response PDU.
#[derive(Debug, Clone, Copy)]
pub struct CommunityEnvelope<'a> {
    pub version: Version,
    pub community: &'a [u8],
}

impl CommunityEnvelope<'_> {
    fn version_number(&self) -> i64 {
        match self.version {
            Version::V1 => 0,
            _ => 1,
        }
    }

    fn content_len(&self, pdu_len: usize) -> usize {
        ber::tlv_len(ber::integer_len(self.version_number()))
            + ber::tlv_len(self.community.len())
            + pdu_len
    }

    /// The message's size around a PDU of `pdu_len` bytes.
    pub fn message_len(&self, pdu_len: usize) -> usize {
        ber::tlv_len(self.content_len(pdu_len))
    }

    pub fn write(&self, out: &mut Vec<u8>, pdu: &PduHeader, varbinds: &[u8]) {
        out.clear();
        let pdu_len = pdu.pdu_len(varbinds.len());
        ber::write_header(out, tag::SEQUENCE, self.content_len(pdu_len));
        ber::write_integer(out, tag::INTEGER, self.version_number());
        ber::write_octets(out, tag::OCTET_STRING, self.community);
        pdu.write(out, varbinds);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulator::agent::ber::VarValue;

    fn request(version: i64, pdu_tag: u8, oids: &[&[u32]]) -> Vec<u8> {
        let mut varbinds = Vec::new();
        for oid in oids {
            let mut inner = Vec::new();
            ber::write_oid(&mut inner, oid);
            inner.extend_from_slice(&[tag::NULL, 0]);
            ber::write_octets(&mut varbinds, tag::SEQUENCE, &inner);
        }
        let mut pdu = Vec::new();
        ber::write_integer(&mut pdu, tag::INTEGER, 77);
        ber::write_integer(&mut pdu, tag::INTEGER, 1);
        ber::write_integer(&mut pdu, tag::INTEGER, 10);
        ber::write_octets(&mut pdu, tag::SEQUENCE, &varbinds);
        let mut body = Vec::new();
        ber::write_integer(&mut body, tag::INTEGER, version);
        ber::write_octets(&mut body, tag::OCTET_STRING, b"public");
        ber::write_octets(&mut body, pdu_tag, &pdu);
        let mut message = Vec::new();
        ber::write_octets(&mut message, tag::SEQUENCE, &body);
        message
    }

    #[test]
    fn decodes_a_v2c_getbulk() {
        let datagram = request(
            1,
            tag::GET_BULK,
            &[&[1, 3, 6, 1, 2, 1, 1], &[1, 3, 6, 1, 2, 1, 2]],
        );
        let Incoming::Community(message) = decode_message(&datagram).unwrap() else {
            panic!("not a community message")
        };
        assert_eq!(message.version, Version::V2c);
        assert_eq!(message.community, b"public");
        let mut oids = OidList::default();
        let pdu = decode_pdu(message.pdu_tag, message.pdu, &mut oids).unwrap();
        assert_eq!(pdu.kind, PduKind::GetBulk);
        assert_eq!(
            (pdu.request_id, pdu.non_repeaters, pdu.max_repetitions),
            (77, 1, 10)
        );
        assert_eq!(oids.len(), 2);
        assert_eq!(oids.get(1), &[1, 3, 6, 1, 2, 1, 2]);
    }

    #[test]
    fn response_sizes_are_exact() {
        let mut varbinds = Vec::new();
        for i in 0..50u32 {
            let value = crate::simulator::mib::SimValue::OctetString(vec![b'a'; i as usize * 3]);
            ber::write_varbind(&mut varbinds, &[1, 3, 6, 1, i], VarValue::Value(&value));
        }
        for community in [&b""[..], b"public", &[b'c'; 200]] {
            let envelope = CommunityEnvelope {
                version: Version::V2c,
                community,
            };
            for error_index in [0, 1, 200, 70_000] {
                let header = PduHeader {
                    tag: tag::RESPONSE,
                    request_id: -5,
                    error_status: 0,
                    error_index,
                };
                let mut out = Vec::new();
                envelope.write(&mut out, &header, &varbinds);
                assert_eq!(
                    out.len(),
                    envelope.message_len(header.pdu_len(varbinds.len()))
                );
            }
        }
    }

    #[test]
    fn every_truncation_and_bit_flip_of_a_request_is_handled() {
        let datagram = request(
            1,
            tag::GET,
            &[&[1, 3, 6, 1, 2, 1, 1, 1, 0], &[1, 3, 6, 1, 4, 1, 2021]],
        );
        let mut oids = OidList::default();
        let mut decode = |bytes: &[u8]| {
            if let Ok(Incoming::Community(message)) = decode_message(bytes) {
                let _ = decode_pdu(message.pdu_tag, message.pdu, &mut oids);
            }
        };
        for cut in 0..datagram.len() {
            decode(&datagram[..cut]);
        }
        for position in 0..datagram.len() {
            for value in [0x00, 0x7f, 0x80, 0x81, 0x84, 0xff] {
                let mut mutated = datagram.clone();
                mutated[position] = value;
                decode(&mutated);
            }
        }
        assert!(decode_message(&datagram[..datagram.len() - 1]).is_err());
    }

    #[test]
    fn rejects_unknown_versions_and_pdu_types() {
        assert!(decode_message(&request(2, tag::GET, &[])).is_err());
        let datagram = request(1, tag::RESPONSE, &[]);
        let Ok(Incoming::Community(message)) = decode_message(&datagram) else {
            panic!("outer message is fine")
        };
        assert!(decode_pdu(message.pdu_tag, message.pdu, &mut OidList::default()).is_err());
    }
}
