//! Owned SNMP values and OIDs, copied out of snmp2's borrowed PDUs, and their numeric readings.

use crate::config::oid::format_oid;
use crate::poller::outcome::Value;

/// A numeric OID as a list of sub-identifiers.
pub type Oid = Vec<u32>;

/// One varbind copied out of a response PDU (snmp2's PDUs borrow the session buffer, so they
/// must be copied before the next request).
pub type Varbind = (Oid, SnmpValue);

/// Counter64 values are reduced modulo 2^53 when wrapping is on, as snmp_exporter does: every
/// value below 2^53 is exact as a float64, which is what Prometheus stores.
pub const FLOAT_EXACT_MODULUS: u64 = 1 << 53;

/// An SNMP value that owns its data.
#[derive(Debug, Clone, PartialEq)]
pub enum SnmpValue {
    Integer(i64),
    OctetString(Vec<u8>),
    ObjectIdentifier(Oid),
    IpAddress([u8; 4]),
    Counter32(u32),
    /// Gauge32 and Unsigned32 share one wire type.
    Unsigned32(u32),
    Timeticks(u32),
    Counter64(u64),
    Null,
    /// noSuchObject / noSuchInstance (v2c/v3) or noSuchName (v1): the value is absent.
    Absent,
    EndOfMibView,
    /// Any other type (Opaque, Boolean, constructed...): never a number we can use.
    Other,
}

impl SnmpValue {
    /// Copies a borrowed snmp2 value.
    pub fn from_snmp2(value: &snmp2::Value<'_>) -> SnmpValue {
        use snmp2::Value as V;
        match value {
            V::Integer(n) => SnmpValue::Integer(*n),
            V::OctetString(bytes) => SnmpValue::OctetString(bytes.to_vec()),
            V::ObjectIdentifier(oid) => match oid_from_snmp2(oid) {
                Some(oid) => SnmpValue::ObjectIdentifier(oid),
                None => SnmpValue::Other,
            },
            V::IpAddress(ip) => SnmpValue::IpAddress(*ip),
            V::Counter32(n) => SnmpValue::Counter32(*n),
            V::Unsigned32(n) => SnmpValue::Unsigned32(*n),
            V::Timeticks(n) => SnmpValue::Timeticks(*n),
            V::Counter64(n) => SnmpValue::Counter64(*n),
            V::Null => SnmpValue::Null,
            V::NoSuchObject | V::NoSuchInstance => SnmpValue::Absent,
            V::EndOfMibView => SnmpValue::EndOfMibView,
            _ => SnmpValue::Other,
        }
    }

    /// True when the agent has no value here (absent or end of view).
    pub fn is_absent(&self) -> bool {
        matches!(self, SnmpValue::Absent | SnmpValue::EndOfMibView)
    }

    /// The value as a counter: Counter32, Counter64 or Unsigned32. `wrap` reduces Counter64
    /// modulo 2^53.
    pub fn as_counter(&self, wrap: bool) -> Option<u64> {
        match self {
            SnmpValue::Counter32(n) | SnmpValue::Unsigned32(n) => Some(u64::from(*n)),
            SnmpValue::Counter64(n) => Some(wrap_counter64(*n, wrap)),
            _ => None,
        }
    }

    /// The value as an unsigned integer of any numeric type (negative integers are not).
    pub fn as_unsigned(&self) -> Option<u64> {
        match self {
            SnmpValue::Integer(n) => u64::try_from(*n).ok(),
            SnmpValue::Counter32(n) | SnmpValue::Unsigned32(n) | SnmpValue::Timeticks(n) => {
                Some(u64::from(*n))
            }
            SnmpValue::Counter64(n) => Some(*n),
            _ => None,
        }
    }

    /// The value as a gauge sample: any numeric SNMP type. Negative integers become floats
    /// because `Value::Int` is unsigned.
    pub fn as_gauge(&self, wrap: bool) -> Option<Value> {
        match self {
            SnmpValue::Integer(n) if *n < 0 => Some(Value::Float(*n as f64)),
            SnmpValue::Counter64(n) => Some(Value::Int(wrap_counter64(*n, wrap))),
            other => other.as_unsigned().map(Value::Int),
        }
    }

    /// The value as label text: strings as UTF-8 (lossy, trailing NULs dropped), numbers and
    /// OIDs in their usual dotted/decimal form.
    pub fn as_label(&self) -> Option<String> {
        match self {
            SnmpValue::OctetString(bytes) => {
                let text = String::from_utf8_lossy(bytes);
                Some(text.trim_end_matches('\0').to_string())
            }
            SnmpValue::ObjectIdentifier(oid) => Some(format_oid(oid)),
            SnmpValue::IpAddress(ip) => Some(format!("{}.{}.{}.{}", ip[0], ip[1], ip[2], ip[3])),
            SnmpValue::Integer(n) => Some(n.to_string()),
            other => other.as_unsigned().map(|n| n.to_string()),
        }
    }
}

/// Applies the optional 2^53 wrap to a Counter64 value.
pub fn wrap_counter64(value: u64, wrap: bool) -> u64 {
    if wrap {
        value % FLOAT_EXACT_MODULUS
    } else {
        value
    }
}

/// Converts snmp2's OID to ours; `None` when a sub-identifier does not fit in 32 bits (not a
/// valid SNMP OID).
pub fn oid_from_snmp2(oid: &snmp2::Oid<'_>) -> Option<Oid> {
    decode_oid_content(oid.as_bytes())
}

/// Decodes the content octets of a BER OBJECT IDENTIFIER into arcs, in one allocation sized by
/// the content length (every arc takes at least one octet; the first octet holds two arcs).
/// This is the hottest conversion of a walk (one per varbind): going through an iterator of
/// `Option`s made the vector grow three times for a typical 12-arc OID. `None` when an arc is
/// above 2^32 or the encoding is truncated.
pub fn decode_oid_content(bytes: &[u8]) -> Option<Oid> {
    let mut arcs = Vec::with_capacity(bytes.len() + 1);
    let mut value: u64 = 0;
    let mut first = true;
    for &byte in bytes {
        value = (value << 7) | u64::from(byte & 0x7f);
        if value > u64::from(u32::MAX) + 80 {
            return None;
        }
        if byte & 0x80 != 0 {
            continue;
        }
        if first {
            // The first subidentifier is 40 * X + Y, with X in 0..=2 (Y unbounded when X is 2).
            let (x, y) = match value {
                0..=39 => (0, value),
                40..=79 => (1, value - 40),
                _ => (2, value - 80),
            };
            arcs.push(x);
            arcs.push(u32::try_from(y).ok()?);
            first = false;
        } else {
            arcs.push(u32::try_from(value).ok()?);
        }
        value = 0;
    }
    // A last octet with the continuation bit set is a truncated arc.
    if bytes.last().is_some_and(|byte| byte & 0x80 != 0) {
        return None;
    }
    Some(arcs)
}

/// Converts our OID to snmp2's; `None` when it is not encodable (first arc > 2, fewer than two
/// arcs...).
pub fn oid_to_snmp2(oid: &[u32]) -> Option<snmp2::Oid<'static>> {
    let arcs: Vec<u64> = oid.iter().map(|&arc| u64::from(arc)).collect();
    snmp2::Oid::from(&arcs).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oid_content_decodes_like_snmp2s_iterator() {
        let cases: [&[u64]; 3] = [
            &[1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 6, 48],
            &[1, 3, 6, 1, 4, 1, 2021, 4294967295],
            &[1, 3, 6, 1, 2, 1, 2, 2, 1, 10, 128, 16384, 2097152],
        ];
        for arcs in cases {
            let oid = snmp2::Oid::from(arcs).expect("encodable");
            let expected: Vec<u32> = arcs.iter().map(|&arc| arc as u32).collect();
            assert_eq!(
                decode_oid_content(oid.as_bytes()),
                Some(expected),
                "{arcs:?}"
            );
            assert_eq!(oid_from_snmp2(&oid).map(|o| o.len()), Some(arcs.len()));
        }
    }

    #[test]
    fn oid_content_rejects_big_arcs_and_truncation() {
        let too_big = snmp2::Oid::from(&[1, 3, 6, 1, 4294967296]).expect("encodable");
        assert_eq!(decode_oid_content(too_big.as_bytes()), None);
        assert_eq!(decode_oid_content(&[0x2b, 0x06, 0x81]), None);
        assert_eq!(decode_oid_content(&[]), Some(vec![]));
        // First subidentifiers: 0.0 and 2.999 (40 * 2 + 999 = 1079, two octets).
        assert_eq!(decode_oid_content(&[0x00]), Some(vec![0, 0]));
        assert_eq!(
            decode_oid_content(&[0x88, 0x37, 0x03]),
            Some(vec![2, 999, 3])
        );
    }

    #[test]
    fn counter64_wraps_at_2_pow_53_only_when_asked() {
        let max = SnmpValue::Counter64(u64::MAX);
        assert_eq!(max.as_counter(false), Some(u64::MAX));
        assert_eq!(max.as_counter(true), Some(u64::MAX % (1 << 53)));
        assert_eq!(SnmpValue::Counter32(7).as_counter(true), Some(7));
    }

    #[test]
    fn non_counters_are_not_counters() {
        assert_eq!(SnmpValue::Integer(5).as_counter(false), None);
        assert_eq!(
            SnmpValue::OctetString(b"12".to_vec()).as_counter(false),
            None
        );
    }

    #[test]
    fn gauges_accept_every_numeric_type() {
        assert_eq!(
            SnmpValue::Integer(-3).as_gauge(false),
            Some(Value::Float(-3.0))
        );
        assert_eq!(SnmpValue::Integer(3).as_gauge(false), Some(Value::Int(3)));
        assert_eq!(SnmpValue::Timeticks(9).as_gauge(false), Some(Value::Int(9)));
        assert_eq!(SnmpValue::OctetString(vec![]).as_gauge(false), None);
    }

    #[test]
    fn oids_round_trip_through_snmp2() {
        let oid = vec![1, 3, 6, 1, 4, 1, 4_294_967_295];
        let converted = oid_to_snmp2(&oid).expect("valid oid");
        assert_eq!(oid_from_snmp2(&converted), Some(oid));
    }

    #[test]
    fn labels_drop_trailing_nuls() {
        let value = SnmpValue::OctetString(b"eth0\0".to_vec());
        assert_eq!(value.as_label().as_deref(), Some("eth0"));
    }
}
