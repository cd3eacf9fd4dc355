//! Classifies an ICMP message handed back for one of our echo requests. Pure: no I/O.
//!
//! On RAW sockets the kernel also delivers the ICMP errors about our own requests (destination
//! unreachable, time exceeded...), matched to a request by the identifier and sequence quoted
//! inside them. Only an Echo Reply with our identifier and sequence is a reply; everything else
//! is a failed echo, never a success.

use super::IpVersion;

const ICMPV4_ECHO_REPLY: u8 = 0;
const ICMPV4_DESTINATION_UNREACHABLE: u8 = 3;
const ICMPV4_TIME_EXCEEDED: u8 = 11;
const ICMPV6_DESTINATION_UNREACHABLE: u8 = 1;
const ICMPV6_TIME_EXCEEDED: u8 = 3;
const ICMPV6_ECHO_REPLY: u8 = 129;

/// What we sent: the identifier is `None` on DGRAM sockets, where the kernel rewrites it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expected {
    pub identifier: Option<u16>,
    pub sequence: u16,
}

/// The header fields of a received message (for an error: the identifier and sequence of the
/// echo request it quotes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    pub version: IpVersion,
    pub icmp_type: u8,
    pub code: u8,
    pub identifier: u16,
    pub sequence: u16,
}

/// What a received message means for the echo request it answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// An Echo Reply to this very request: the only kind that counts as a reply.
    EchoReply,
    /// Destination unreachable (no route, host down, administratively prohibited...).
    Unreachable { code: u8 },
    /// The request's TTL / hop limit ran out on the way (a routing loop, or too far).
    TimeExceeded,
    /// Any other ICMP error about the request (parameter problem, packet too big...).
    OtherError { icmp_type: u8 },
    /// The identifier or sequence is not ours: someone else's packet.
    NotOurs,
}

impl Verdict {
    pub fn is_reply(self) -> bool {
        self == Verdict::EchoReply
    }
}

/// Classifies `received` against the request we sent.
pub fn classify(expected: Expected, received: Received) -> Verdict {
    let identifier_matches = expected
        .identifier
        .is_none_or(|identifier| identifier == received.identifier);
    if !identifier_matches || expected.sequence != received.sequence {
        return Verdict::NotOurs;
    }
    let (echo_reply, unreachable, time_exceeded) = match received.version {
        IpVersion::V4 => (
            ICMPV4_ECHO_REPLY,
            ICMPV4_DESTINATION_UNREACHABLE,
            ICMPV4_TIME_EXCEEDED,
        ),
        IpVersion::V6 => (
            ICMPV6_ECHO_REPLY,
            ICMPV6_DESTINATION_UNREACHABLE,
            ICMPV6_TIME_EXCEEDED,
        ),
    };
    match received.icmp_type {
        t if t == echo_reply => Verdict::EchoReply,
        t if t == unreachable => Verdict::Unreachable {
            code: received.code,
        },
        t if t == time_exceeded => Verdict::TimeExceeded,
        icmp_type => Verdict::OtherError { icmp_type },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn received(version: IpVersion, icmp_type: u8, code: u8) -> Received {
        Received {
            version,
            icmp_type,
            code,
            identifier: 0x1234,
            sequence: 7,
        }
    }

    const RAW: Expected = Expected {
        identifier: Some(0x1234),
        sequence: 7,
    };

    #[test]
    fn only_echo_replies_are_replies() {
        assert_eq!(
            classify(RAW, received(IpVersion::V4, 0, 0)),
            Verdict::EchoReply
        );
        assert_eq!(
            classify(RAW, received(IpVersion::V6, 129, 0)),
            Verdict::EchoReply
        );
        assert!(classify(RAW, received(IpVersion::V4, 0, 0)).is_reply());
        assert!(!classify(RAW, received(IpVersion::V4, 3, 1)).is_reply());
    }

    #[test]
    fn icmpv4_errors_are_not_replies() {
        // Host unreachable (from `ip route add unreachable`), prohibited, time exceeded.
        assert_eq!(
            classify(RAW, received(IpVersion::V4, 3, 1)),
            Verdict::Unreachable { code: 1 }
        );
        assert_eq!(
            classify(RAW, received(IpVersion::V4, 3, 13)),
            Verdict::Unreachable { code: 13 }
        );
        assert_eq!(
            classify(RAW, received(IpVersion::V4, 11, 0)),
            Verdict::TimeExceeded
        );
        assert_eq!(
            classify(RAW, received(IpVersion::V4, 12, 0)),
            Verdict::OtherError { icmp_type: 12 }
        );
    }

    #[test]
    fn icmpv6_types_are_not_icmpv4_types() {
        assert_eq!(
            classify(RAW, received(IpVersion::V6, 1, 4)),
            Verdict::Unreachable { code: 4 }
        );
        assert_eq!(
            classify(RAW, received(IpVersion::V6, 3, 0)),
            Verdict::TimeExceeded
        );
        // Packet too big; and type 0 is not an ICMPv6 echo reply.
        assert_eq!(
            classify(RAW, received(IpVersion::V6, 2, 0)),
            Verdict::OtherError { icmp_type: 2 }
        );
        assert_eq!(
            classify(RAW, received(IpVersion::V6, 0, 0)),
            Verdict::OtherError { icmp_type: 0 }
        );
    }

    #[test]
    fn another_identifier_or_sequence_is_not_ours() {
        let other_identifier = Received {
            identifier: 0x4321,
            ..received(IpVersion::V4, 0, 0)
        };
        assert_eq!(classify(RAW, other_identifier), Verdict::NotOurs);
        let other_sequence = Received {
            sequence: 8,
            ..received(IpVersion::V4, 0, 0)
        };
        assert_eq!(classify(RAW, other_sequence), Verdict::NotOurs);
    }

    #[test]
    fn dgram_sockets_match_on_sequence_only() {
        // The kernel rewrote the identifier to the socket's own.
        let dgram = Expected {
            identifier: None,
            sequence: 7,
        };
        let rewritten = Received {
            identifier: 0x9999,
            ..received(IpVersion::V4, 0, 0)
        };
        assert_eq!(classify(dgram, rewritten), Verdict::EchoReply);
        let other_sequence = Received {
            sequence: 9,
            ..rewritten
        };
        assert_eq!(classify(dgram, other_sequence), Verdict::NotOurs);
    }
}
