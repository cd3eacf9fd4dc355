//! BGP4-MIB of a simulated router: its AS, router ID and a peer table of transit, IX and
//! customer sessions.

use crate::simulator::mib::SimValue;
use crate::simulator::seed::Stream;

use super::moment::Moment;

pub const BGP_HEAD_SCALARS: [u32; 2] = [1, 2];
pub const BGP_TAIL_SCALARS: [u32; 1] = [4];
pub const BGP_PEER_COLUMNS: [u32; 24] = [
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24,
];

/// The local AS of every simulated router (a documentation AS number, RFC 5398).
pub const LOCAL_AS: i32 = 64_496;

/// One BGP session.
#[derive(Debug, Clone)]
struct Peer {
    address: [u8; 4],
    local_address: [u8; 4],
    remote_as: i32,
    /// bgpPeerState when all is well (6 established; an occasional session is stuck).
    state: i32,
    /// Updates per second received, sent.
    updates: (f64, f64),
    local_port: i32,
}

#[derive(Debug, Clone)]
pub struct Bgp {
    router_id: [u8; 4],
    /// Seconds the router had been up when the fleet started.
    boot_age: f64,
    peers: Vec<Peer>,
}

impl Bgp {
    pub fn new(index: u32, stream: Stream, boot_age: f64) -> Bgp {
        let host = |base: [u8; 3], n: u32| [base[0], base[1], base[2], (n % 250 + 1) as u8];
        let mut peers = vec![
            // Transit and IX peers (documentation prefixes, RFC 5737).
            (host([192, 0, 2], index * 2), 64_500),
            (host([198, 51, 100], index * 2 + 1), 64_501),
        ];
        let customers = 2 + stream.below(0, 4) as u32;
        for customer in 0..customers {
            let address = host([203, 0, 113], index * 7 + customer * 31);
            peers.push((
                address,
                64_512 + stream.below(10 + u64::from(customer), 1000) as i32,
            ));
        }
        peers.sort();
        peers.dedup_by_key(|(address, _)| *address);
        let peers = peers
            .into_iter()
            .enumerate()
            .map(|(n, (address, remote_as))| {
                let draw = stream.unit(20 + n as u64);
                Peer {
                    address,
                    local_address: [address[0], address[1], address[2], address[3] ^ 1],
                    remote_as,
                    state: if draw < 0.1 { 3 } else { 6 },
                    updates: (
                        stream.range(30 + n as u64, 0.5, 20.0),
                        stream.range(40 + n as u64, 0.1, 2.0),
                    ),
                    local_port: 30_000 + stream.below(50 + n as u64, 30_000) as i32,
                }
            })
            .collect();
        Bgp {
            boot_age,
            router_id: [10, (index >> 16) as u8, (index >> 8) as u8, index as u8],
            peers,
        }
    }

    pub fn rows(&self) -> Vec<Vec<u32>> {
        self.peers
            .iter()
            .map(|p| p.address.iter().map(|&b| u32::from(b)).collect())
            .collect()
    }

    pub fn scalar(&self, sub: u32) -> Option<SimValue> {
        match sub {
            // bgpVersion: a bit string, bit 3 set for version 4.
            1 => Some(SimValue::OctetString(vec![0x10])),
            2 => Some(SimValue::Integer(LOCAL_AS)),
            4 => Some(SimValue::IpAddress(self.router_id)),
            _ => None,
        }
    }

    pub fn cell(&self, column: u32, row: usize, moment: &Moment) -> Option<SimValue> {
        let peer = self.peers.get(row)?;
        let established = peer.state == 6;
        let uptime_secs = match moment.boot {
            Some(boot) => moment.secs - boot,
            None => self.boot_age + moment.secs,
        };
        // Sessions came up a minute after boot (or the fleet's start after a long uptime).
        let up_for = if established {
            (uptime_secs - 60.0).max(0.0)
        } else {
            0.0
        };
        let since = moment.boot.map_or(moment.secs, |boot| moment.secs - boot);
        let counted = |rate: f64| SimValue::Counter32((rate * since.max(0.0)) as u64 as u32);
        let value = match column {
            1 => SimValue::IpAddress(if established { peer.address } else { [0; 4] }),
            2 => SimValue::Integer(peer.state),
            // start(2)
            3 => SimValue::Integer(2),
            4 => SimValue::Integer(if established { 4 } else { 0 }),
            5 => SimValue::IpAddress(peer.local_address),
            6 => SimValue::Integer(peer.local_port),
            7 => SimValue::IpAddress(peer.address),
            8 => SimValue::Integer(179),
            9 => SimValue::Integer(peer.remote_as),
            10 => counted(peer.updates.0),
            11 => counted(peer.updates.1),
            12 => counted(peer.updates.0 + 1.0 / 30.0),
            13 => counted(peer.updates.1 + 1.0 / 30.0),
            14 => SimValue::OctetString(vec![0, 0]),
            15 => SimValue::Counter32(u32::from(established)),
            16 => SimValue::Gauge32(up_for as u32),
            17 => SimValue::Integer(120),
            18 => SimValue::Integer(if established { 90 } else { 0 }),
            19 => SimValue::Integer(if established { 30 } else { 0 }),
            20 => SimValue::Integer(90),
            21 => SimValue::Integer(30),
            22 => SimValue::Integer(15),
            23 => SimValue::Integer(30),
            24 => SimValue::Gauge32(if established {
                1 + (moment.secs as u32 % 7)
            } else {
                0
            }),
            _ => return None,
        };
        Some(value)
    }
}
