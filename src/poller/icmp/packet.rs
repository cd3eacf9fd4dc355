//! ICMP and ICMPv6 echo messages on the wire: building a request, reading what a socket hands
//! back (a reply, or an error quoting one of our requests). Pure: no I/O.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::classify::Received;
use super::IpVersion;

const ICMPV4_ECHO_REQUEST: u8 = 8;
const ICMPV4_ECHO_REPLY: u8 = 0;
const ICMPV6_ECHO_REPLY: u8 = 129;
const ICMPV6_ECHO_REQUEST: u8 = 128;
/// Type, code, checksum, identifier, sequence.
pub const ECHO_HEADER_LEN: usize = 8;
const IPV4_MIN_HEADER_LEN: usize = 20;
const IPV6_HEADER_LEN: usize = 40;

/// What tells one echo request from another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EchoHeader {
    pub version: IpVersion,
    pub identifier: u16,
    pub sequence: u16,
}

/// Writes an echo request into `buffer` (cleared first), so one buffer serves every send.
/// The checksum is computed for ICMPv4; for ICMPv6 the kernel always computes it (it covers a
/// pseudo-header with the source address, which only the kernel knows for sure), and on DGRAM
/// sockets the kernel rewrites the identifier and recomputes it anyway.
pub fn echo_request(header: EchoHeader, payload: &[u8], buffer: &mut Vec<u8>) {
    let EchoHeader {
        version,
        identifier,
        sequence,
    } = header;
    buffer.clear();
    let icmp_type = match version {
        IpVersion::V4 => ICMPV4_ECHO_REQUEST,
        IpVersion::V6 => ICMPV6_ECHO_REQUEST,
    };
    buffer.extend_from_slice(&[icmp_type, 0, 0, 0]);
    buffer.extend_from_slice(&identifier.to_be_bytes());
    buffer.extend_from_slice(&sequence.to_be_bytes());
    buffer.extend_from_slice(payload);
    if version == IpVersion::V4 {
        let sum = checksum(buffer);
        buffer[2..4].copy_from_slice(&sum.to_be_bytes());
    }
}

/// The Internet checksum (RFC 1071): one's complement of the one's complement sum of 16-bit
/// words, an odd last byte padded with zero.
pub fn checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut words = bytes.chunks_exact(2);
    for word in &mut words {
        sum += u32::from(u16::from_be_bytes([word[0], word[1]]));
    }
    if let [last] = words.remainder() {
        sum += u32::from(*last) << 8;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// A received message and the address of the echo request it is about: the sender for a
/// reply, the quoted destination for an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parsed {
    pub received: Received,
    pub about: IpAddr,
}

/// Reads one datagram. `with_ip_header` is true for IPv4 RAW sockets (the kernel hands over the
/// IP header too); IPv4 DGRAM and every IPv6 socket start at the ICMP header. `from` is the
/// sender. `None` for anything that is neither an echo reply nor an error quoting an echo
/// request (RAW sockets also see echo requests, ours included, on loopback), or is too short.
pub fn parse(
    version: IpVersion,
    with_ip_header: bool,
    from: IpAddr,
    datagram: &[u8],
) -> Option<Parsed> {
    let icmp = if with_ip_header {
        skip_ipv4_header(datagram)?
    } else {
        datagram
    };
    let header = icmp.get(..ECHO_HEADER_LEN)?;
    let (icmp_type, code) = (header[0], header[1]);
    if is_error(version, icmp_type) {
        return parse_error(version, icmp_type, code, &icmp[ECHO_HEADER_LEN..]);
    }
    if icmp_type != echo_reply_type(version) {
        return None;
    }
    Some(Parsed {
        received: received(version, (icmp_type, code), header),
        about: from,
    })
}

/// What arrived, with the identifier and sequence of `echo`, an echo header (the reply's own,
/// or the request an error quotes).
fn received(version: IpVersion, (icmp_type, code): (u8, u8), echo: &[u8]) -> Received {
    Received {
        version,
        icmp_type,
        code,
        identifier: u16::from_be_bytes([echo[4], echo[5]]),
        sequence: u16::from_be_bytes([echo[6], echo[7]]),
    }
}

fn echo_reply_type(version: IpVersion) -> u8 {
    match version {
        IpVersion::V4 => ICMPV4_ECHO_REPLY,
        IpVersion::V6 => ICMPV6_ECHO_REPLY,
    }
}

/// ICMP errors carry the start of the offending datagram: its IP header, then (for us) the
/// echo request's first 8 bytes.
fn is_error(version: IpVersion, icmp_type: u8) -> bool {
    match version {
        // Destination unreachable, time exceeded, parameter problem.
        IpVersion::V4 => matches!(icmp_type, 3 | 11 | 12),
        // Destination unreachable, packet too big, time exceeded, parameter problem.
        IpVersion::V6 => matches!(icmp_type, 1..=4),
    }
}

fn parse_error(version: IpVersion, icmp_type: u8, code: u8, quoted: &[u8]) -> Option<Parsed> {
    let (destination, echo) = match version {
        IpVersion::V4 => {
            let destination: [u8; 4] = quoted.get(16..20)?.try_into().ok()?;
            (
                IpAddr::V4(Ipv4Addr::from(destination)),
                skip_ipv4_header(quoted)?,
            )
        }
        IpVersion::V6 => {
            let destination: [u8; 16] = quoted.get(24..40)?.try_into().ok()?;
            (
                IpAddr::V6(Ipv6Addr::from(destination)),
                quoted.get(IPV6_HEADER_LEN..)?,
            )
        }
    };
    let echo = echo.get(..ECHO_HEADER_LEN)?;
    let request_type = match version {
        IpVersion::V4 => ICMPV4_ECHO_REQUEST,
        IpVersion::V6 => ICMPV6_ECHO_REQUEST,
    };
    if echo[0] != request_type {
        return None;
    }
    Some(Parsed {
        received: received(version, (icmp_type, code), echo),
        about: destination,
    })
}

/// The bytes after an IPv4 header (its length is in the low nibble of the first byte, in
/// 32-bit words).
fn skip_ipv4_header(datagram: &[u8]) -> Option<&[u8]> {
    let header_len = usize::from(datagram.first()? & 0x0f) * 4;
    if header_len < IPV4_MIN_HEADER_LEN {
        return None;
    }
    datagram.get(header_len..)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(version: IpVersion, identifier: u16, sequence: u16) -> EchoHeader {
        EchoHeader {
            version,
            identifier,
            sequence,
        }
    }

    fn ipv4_header(source: [u8; 4], destination: [u8; 4]) -> Vec<u8> {
        let mut header = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, 1, 0, 0];
        header.extend_from_slice(&source);
        header.extend_from_slice(&destination);
        header
    }

    #[test]
    fn a_request_has_a_valid_checksum() {
        let mut buffer = Vec::new();
        echo_request(header(IpVersion::V4, 0x1234, 7), &[1, 2, 3], &mut buffer);
        assert_eq!(&buffer[..2], &[8, 0]);
        assert_eq!(&buffer[4..8], &[0x12, 0x34, 0, 7]);
        assert_eq!(&buffer[8..], &[1, 2, 3]);
        // A message with its checksum in place sums to zero.
        assert_eq!(checksum(&buffer), 0);
    }

    #[test]
    fn the_checksum_matches_rfc_1071s_example() {
        // RFC 1071 section 3: the words 0001 f203 f4f5 f6f7 sum to ddf2, complemented 220d.
        assert_eq!(
            checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            0x220d
        );
        assert_eq!(checksum(&[0xff]), !0xff00);
    }

    #[test]
    fn icmpv6_requests_leave_the_checksum_to_the_kernel() {
        let mut buffer = vec![9; 100];
        echo_request(header(IpVersion::V6, 1, 2), &[], &mut buffer);
        assert_eq!(buffer, vec![128, 0, 0, 0, 0, 1, 0, 2]);
    }

    #[test]
    fn a_raw_ipv4_reply_is_read_after_its_ip_header() {
        let mut datagram = ipv4_header([127, 0, 0, 9], [127, 0, 0, 1]);
        datagram.extend_from_slice(&[0, 0, 0xaa, 0xbb, 0x12, 0x34, 0, 7, 0xde, 0xad]);
        let from: IpAddr = "127.0.0.9".parse().unwrap();
        let parsed = parse(IpVersion::V4, true, from, &datagram).expect("a reply");
        assert_eq!(parsed.about, from);
        assert_eq!(parsed.received.icmp_type, 0);
        assert_eq!(parsed.received.identifier, 0x1234);
        assert_eq!(parsed.received.sequence, 7);
        // DGRAM sockets hand over the ICMP message alone.
        let parsed = parse(IpVersion::V4, false, from, &datagram[20..]).expect("a reply");
        assert_eq!(parsed.received.sequence, 7);
    }

    #[test]
    fn an_ipv4_error_is_about_the_quoted_destination() {
        let mut datagram = ipv4_header([10, 0, 0, 1], [10, 0, 0, 2]);
        datagram.extend_from_slice(&[3, 1, 0, 0, 0, 0, 0, 0]);
        datagram.extend_from_slice(&ipv4_header([10, 0, 0, 2], [192, 0, 2, 7]));
        datagram.extend_from_slice(&[8, 0, 0, 0, 0x12, 0x34, 0, 9]);
        let parsed = parse(IpVersion::V4, true, "10.0.0.1".parse().unwrap(), &datagram)
            .expect("an error quoting our echo");
        assert_eq!(parsed.about, "192.0.2.7".parse::<IpAddr>().unwrap());
        assert_eq!(
            (parsed.received.icmp_type, parsed.received.code),
            (3, 1),
            "the error's own type and code"
        );
        assert_eq!(parsed.received.identifier, 0x1234);
        assert_eq!(parsed.received.sequence, 9);
    }

    #[test]
    fn an_error_quoting_something_else_is_ignored() {
        let mut datagram = ipv4_header([10, 0, 0, 1], [10, 0, 0, 2]);
        datagram.extend_from_slice(&[3, 3, 0, 0, 0, 0, 0, 0]);
        datagram.extend_from_slice(&ipv4_header([10, 0, 0, 2], [192, 0, 2, 7]));
        // A UDP header, not an echo request.
        datagram.extend_from_slice(&[0x30, 0x39, 0x00, 0x35, 0, 8, 0, 0]);
        assert_eq!(
            parse(IpVersion::V4, true, "10.0.0.1".parse().unwrap(), &datagram),
            None
        );
    }

    #[test]
    fn an_icmpv6_error_is_about_the_quoted_destination() {
        let mut datagram = vec![1, 4, 0, 0, 0, 0, 0, 0];
        let mut ipv6 = vec![0x60, 0, 0, 0, 0, 16, 58, 64];
        ipv6.extend_from_slice(&"2001:db8::1".parse::<Ipv6Addr>().unwrap().octets());
        ipv6.extend_from_slice(&"2001:db8::7".parse::<Ipv6Addr>().unwrap().octets());
        datagram.extend_from_slice(&ipv6);
        datagram.extend_from_slice(&[128, 0, 0, 0, 0xab, 0xcd, 0x01, 0x02]);
        let parsed = parse(
            IpVersion::V6,
            false,
            "2001:db8::1".parse().unwrap(),
            &datagram,
        )
        .expect("an error quoting our echo");
        assert_eq!(parsed.about, "2001:db8::7".parse::<IpAddr>().unwrap());
        assert_eq!(parsed.received.icmp_type, 1);
        assert_eq!(parsed.received.identifier, 0xabcd);
        assert_eq!(parsed.received.sequence, 0x0102);
    }

    #[test]
    fn echo_requests_and_other_messages_are_ignored() {
        let from: IpAddr = "127.0.0.1".parse().unwrap();
        let mut request = Vec::new();
        echo_request(header(IpVersion::V4, 0x1234, 7), &[], &mut request);
        assert_eq!(parse(IpVersion::V4, false, from, &request), None);
        echo_request(header(IpVersion::V6, 0x1234, 7), &[], &mut request);
        assert_eq!(parse(IpVersion::V6, false, from, &request), None);
        // ICMPv6 neighbour solicitation; type 0 is not an ICMPv6 echo reply.
        assert_eq!(
            parse(IpVersion::V6, false, from, &[135, 0, 0, 0, 0, 0, 0, 0]),
            None
        );
        assert_eq!(
            parse(IpVersion::V6, false, from, &[0, 0, 0, 0, 0, 0, 0, 0]),
            None
        );
    }

    #[test]
    fn truncated_datagrams_are_ignored() {
        let from: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(parse(IpVersion::V4, true, from, &[]), None);
        assert_eq!(parse(IpVersion::V4, true, from, &[0x45, 0, 0]), None);
        assert_eq!(
            parse(IpVersion::V4, false, from, &[0, 0, 0, 0, 0, 1, 0]),
            None
        );
        // A header length below the minimum.
        assert_eq!(parse(IpVersion::V4, true, from, &[0x41; 40]), None);
    }
}
