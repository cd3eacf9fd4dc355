//! The `bgp4` module: BGP4-MIB bgpPeerTable as peer session states.

use crate::config::oid::format_oid;
use crate::poller::outcome::Value;
use crate::poller::snmp::decode::{label_or_empty, Decoded, FamilyBuilder, Table};

/// bgpPeerEntry, indexed by the peer's IPv4 address (four sub-identifiers).
pub const BGP_PEER_ENTRY: [u32; 9] = [1, 3, 6, 1, 2, 1, 15, 3, 1];
const BGP_PEER_STATE: u32 = 2;
const BGP_PEER_REMOTE_AS: u32 = 9;
pub const BGP_PEER_COLUMNS: [u32; 2] = [BGP_PEER_STATE, BGP_PEER_REMOTE_AS];

/// Decodes walked bgpPeerTable columns. An agent without BGP gives an empty table: no samples,
/// and not an error.
pub fn decode(peers: &Table) -> Decoded {
    let mut decoded = Decoded::default();
    let mut state = FamilyBuilder::catalog("ispmonitor_bgp_peer_state");
    for index in peers.column_indices(BGP_PEER_STATE) {
        let Some(value) = peers.value(BGP_PEER_STATE, &index) else {
            continue;
        };
        let Some(number) = value.as_unsigned() else {
            decoded.skipped += 1;
            continue;
        };
        let remote_as = label_or_empty(peers.value(BGP_PEER_REMOTE_AS, &index));
        state.push(vec![format_oid(&index), remote_as], Value::Int(number));
    }
    decoded.push(state);
    decoded
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::poller::snmp::value::SnmpValue;

    #[test]
    fn peers_are_labelled_by_address_and_remote_as() {
        let peers = Table::from_cells(&[
            (BGP_PEER_STATE, &[192, 0, 2, 1], SnmpValue::Integer(6)),
            (
                BGP_PEER_REMOTE_AS,
                &[192, 0, 2, 1],
                SnmpValue::Integer(64_512),
            ),
            (BGP_PEER_STATE, &[198, 51, 100, 7], SnmpValue::Integer(1)),
            (
                BGP_PEER_REMOTE_AS,
                &[198, 51, 100, 7],
                SnmpValue::Unsigned32(4_200_000_000),
            ),
        ]);
        let decoded = decode(&peers);
        let samples = &decoded.families[0].samples;
        assert_eq!(samples[0].labels.values()[0], "192.0.2.1");
        assert_eq!(samples[0].labels.values()[1], "64512");
        assert_eq!(samples[0].value, Value::Int(6));
        assert_eq!(samples[1].labels.values()[1], "4200000000");
    }

    #[test]
    fn no_bgp_is_an_empty_success() {
        let decoded = decode(&Table::default());
        assert!(decoded.families.is_empty());
        assert_eq!(decoded.skipped, 0);
    }
}
