//! IF-MIB for a simulated router: the interface plan (names, roles, speeds, aliases, traffic) and
//! the ifTable/ifXTable cells computed from it at a moment.

use crate::simulator::mib::SimValue;
use crate::simulator::scenario::{Condition, ScenarioKind};
use crate::simulator::seed::Stream;

use super::moment::Moment;
use super::traffic::Wave;
use super::vendor::{PortRole, Vendor};

/// ifEntry and ifXEntry columns this simulator serves (every column of both tables).
pub const IF_COLUMNS: [u32; 22] = [
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,
];
pub const IF_X_COLUMNS: [u32; 19] = [
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19,
];

/// Simulated traffic in one direction of one interface.
#[derive(Debug, Clone, Copy)]
struct Traffic {
    wave: Wave,
    /// Octets counted before the fleet started (the device has been up for a while).
    base: f64,
    packet_size: f64,
}

/// One interface of a simulated router.
#[derive(Debug, Clone)]
pub struct Interface {
    pub if_index: u32,
    pub role: PortRole,
    pub name: String,
    pub alias: String,
    pub speed_mbps: u32,
    pub admin_up: bool,
    /// Link state when nothing is wrong (an unplugged port is admin up, link down).
    pub link_up: bool,
    /// The port that flaps under `flapping-interface`.
    pub flaps: bool,
    mac: Option<[u8; 6]>,
    inbound: Traffic,
    outbound: Traffic,
}

/// Where each role sits: 1 loopback, 2 management, 3-4 uplinks, 5 the core bundle, then
/// customer ports.
fn role_of(position: u32) -> (PortRole, u32) {
    match position {
        1 => (PortRole::Loopback, 1),
        2 => (PortRole::Management, 1),
        3 | 4 => (PortRole::Uplink, position - 2),
        5 => (PortRole::Bundle, 1),
        n => (PortRole::Access, n - 5),
    }
}

/// What a device passes to build its interfaces.
pub struct InterfacePlan<'a> {
    pub stream: Stream,
    pub vendor: &'a Vendor,
    pub site: &'a str,
    pub count: u32,
    /// Seconds the device had been up when the fleet started.
    pub boot_age: f64,
}

impl InterfacePlan<'_> {
    pub fn build(&self) -> Vec<Interface> {
        let flapping = self.flapping_port();
        (1..=self.count)
            .map(|if_index| self.interface(if_index, Some(if_index) == flapping))
            .collect()
    }

    /// The access port that flaps under `flapping-interface` (the first port when there is
    /// no access port).
    fn flapping_port(&self) -> Option<u32> {
        let access = self.count.saturating_sub(5);
        if access == 0 {
            return Some(self.count.min(3));
        }
        // Among the first access ports, which are always up (see `interface`).
        Some(6 + self.stream.below(1, u64::from(access.min(4))) as u32)
    }

    fn interface(&self, if_index: u32, flaps: bool) -> Interface {
        let (role, number) = role_of(if_index);
        let stream = self.stream.child("interface", u64::from(if_index));
        let speed_mbps = self.vendor.speed_mbps(role);
        // A tenth of the customer ports are shut, another twentieth unplugged; never the first
        // four, so the flapping port and a few busy ports always exist.
        let draw = stream.unit(0);
        let customer = role == PortRole::Access && number > 4;
        let admin_up = !(customer && draw < 0.10);
        let link_up = admin_up && !(customer && draw < 0.15);
        let carries = link_up && role != PortRole::Loopback;
        let utilisation = match role {
            PortRole::Uplink => stream.range(1, 0.25, 0.55),
            PortRole::Bundle => stream.range(1, 0.15, 0.35),
            PortRole::Access => stream.range(1, 0.002, 0.15),
            PortRole::Management | PortRole::Loopback => 0.0,
        };
        let speed_bytes = f64::from(speed_mbps) * 1e6 / 8.0;
        let in_mean = match role {
            PortRole::Management => 2_500.0,
            _ => speed_bytes * utilisation,
        };
        // ISPs receive more than they send on transit; customers the other way round.
        let out_share = match role {
            PortRole::Uplink => stream.range(2, 0.3, 0.6),
            _ => stream.range(2, 0.6, 1.2),
        };
        let traffic = |mean: f64, salt: u64| {
            if !carries {
                return Traffic {
                    wave: Wave::IDLE,
                    base: 0.0,
                    packet_size: 800.0,
                };
            }
            let wave = Wave {
                mean,
                daily: stream.range(salt, 0.3, 0.5),
                fast: stream.range(salt + 1, 0.05, 0.15),
                daily_phase: stream.range(salt + 2, 0.0, 86_400.0),
                fast_phase: stream.range(salt + 3, 0.0, 300.0),
            };
            // Stays well below 2^53 so healthy counters do not reach the float64 edge.
            let cap = (1u64 << 51) as f64 * stream.range(salt + 4, 0.1, 1.0);
            Traffic {
                wave,
                base: (mean * self.boot_age).min(cap).floor(),
                packet_size: stream.range(salt + 5, 400.0, 1_200.0),
            }
        };
        Interface {
            if_index,
            role,
            name: self.vendor.port_name(role, number),
            alias: self.alias(role, number, stream),
            speed_mbps,
            admin_up,
            link_up,
            flaps,
            mac: (role != PortRole::Loopback).then(|| self.mac(if_index)),
            inbound: traffic(in_mean, 10),
            outbound: traffic(in_mean * out_share, 20),
        }
    }

    fn alias(&self, role: PortRole, number: u32, stream: Stream) -> String {
        match role {
            PortRole::Loopback => "router-id".to_string(),
            PortRole::Management => "oob management".to_string(),
            PortRole::Uplink if number == 1 => "uplink to AS64500 transit".to_string(),
            PortRole::Uplink => "uplink to AS64501 IX peering".to_string(),
            PortRole::Bundle => format!("core bundle to {}-core1", self.site),
            PortRole::Access if stream.unit(3) < 0.2 => String::new(),
            PortRole::Access => {
                let plans = [
                    "business 1G",
                    "wholesale 10G",
                    "dia 500M",
                    "backhaul",
                    "colo",
                ];
                let plan = plans[stream.below(4, plans.len() as u64) as usize];
                format!("cust-{} {plan}", 10_000 + stream.below(5, 90_000))
            }
        }
    }

    fn mac(&self, if_index: u32) -> [u8; 6] {
        let id = self.stream.u64(9).to_be_bytes();
        // Locally administered, unicast.
        [
            0x02,
            id[0],
            id[1],
            id[2],
            (if_index >> 8) as u8,
            if_index as u8,
        ]
    }
}

/// A counter column: which direction it counts and what share of the octets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Counted {
    Octets,
    Unicast,
    Multicast,
    Broadcast,
    NonUnicast,
    Discards,
    Errors,
    UnknownProtocols,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    In,
    Out,
}

/// 2^53: where float64 stops being exact; the poller's `wrap_large_counters` wraps there.
const FLOAT_EDGE: u64 = 1 << 53;

impl Interface {
    fn traffic(&self, direction: Direction) -> &Traffic {
        match direction {
            Direction::In => &self.inbound,
            Direction::Out => &self.outbound,
        }
    }

    /// The traffic wave in force under `condition`: saturated uplinks run at 97 % of speed.
    fn wave(&self, direction: Direction, condition: Option<&Condition>) -> Wave {
        let traffic = self.traffic(direction);
        let cut_off = condition.is_some_and(|c| c.kind == ScenarioKind::UpstreamOutage)
            && self.role == PortRole::Uplink;
        if cut_off {
            return Wave::IDLE;
        }
        let saturated = condition.is_some_and(|c| c.kind == ScenarioKind::LinkSaturation)
            && self.role == PortRole::Uplink
            && self.link_up;
        if saturated {
            let speed_bytes = f64::from(self.speed_mbps) * 1e6 / 8.0;
            return Wave::flat(0.97 * speed_bytes, traffic.wave.fast_phase);
        }
        traffic.wave
    }

    /// How many of `counted` per octet, under `condition` (a saturated link drops more).
    fn share(&self, counted: Counted, direction: Direction, saturated: bool) -> f64 {
        let per_packet = 1.0 / self.traffic(direction).packet_size;
        match counted {
            Counted::Octets => 1.0,
            Counted::Unicast => 0.97 * per_packet,
            Counted::Multicast => 0.02 * per_packet,
            Counted::Broadcast => 0.01 * per_packet,
            Counted::NonUnicast => 0.03 * per_packet,
            Counted::Discards if saturated => 2e-3 * per_packet,
            Counted::Discards => 2e-6 * per_packet,
            Counted::Errors => 1e-7 * per_packet,
            Counted::UnknownProtocols => 1e-8 * per_packet,
        }
    }

    /// The raw (un-wrapped) count of `counted` at time `until`, since boot.
    fn count(&self, column: (Counted, Direction), moment: &Moment, until: f64) -> f64 {
        let (counted, direction) = column;
        let traffic = self.traffic(direction);
        let mut total = match moment.boot {
            None => traffic.base * self.share(counted, direction, false),
            Some(_) => 0.0,
        };
        for segment in moment.segments(until) {
            let condition = segment.condition.as_ref();
            let wave = self.wave(direction, condition);
            let saturated = wave != traffic.wave;
            total +=
                wave.integral(segment.from, segment.to) * self.share(counted, direction, saturated);
        }
        total
    }

    /// A 64-bit counter value: the count, shifted under `counter-wrap` so that it crosses 2^53
    /// (odd ifIndex) or 2^64 (even ifIndex) `wrap_after` after the scenario started.
    fn counter64(&self, column: (Counted, Direction), moment: &Moment) -> u64 {
        let value = self.count(column, moment, moment.secs).floor() as u64;
        let Some((start, condition)) = moment.latest(ScenarioKind::CounterWrap) else {
            return value;
        };
        if self.traffic(column.1).wave.mean == 0.0 {
            return value;
        }
        let edge_time = start + condition.wrap_after().as_secs_f64();
        let at_edge = self.count(column, moment, edge_time).floor() as u64;
        let edge = if self.if_index % 2 == 1 {
            FLOAT_EDGE
        } else {
            0
        };
        value.wrapping_add(edge.wrapping_sub(at_edge))
    }

    fn counter32(&self, column: (Counted, Direction), moment: &Moment) -> SimValue {
        SimValue::Counter32(self.counter64(column, moment) as u32)
    }

    /// ifOperStatus: 1 up, 2 down, 7 lowerLayerDown (an unplugged port).
    fn oper_status(&self, moment: &Moment) -> i32 {
        if !self.admin_up {
            return 2;
        }
        if !self.link_up {
            return 7;
        }
        if self.outage(moment).is_some() {
            return 2;
        }
        match flap(self, moment) {
            Some((down, _)) if down => 2,
            _ => 1,
        }
    }

    /// ifLastChange (sysUpTime at the last change): the last flap, or shortly after boot.
    fn last_change(&self, moment: &Moment, uptime_ticks: u32) -> u32 {
        let changed = self.outage(moment).map(|start| (true, start));
        match changed.or_else(|| flap(self, moment)) {
            Some((_, since)) => {
                let ago = ((moment.secs - since) * 100.0) as u64;
                u64::from(uptime_ticks).saturating_sub(ago) as u32
            }
            None => uptime_ticks.min(3_000 + self.if_index * 17),
        }
    }

    /// When the upstream outage in force began, if this is an uplink cut off by it now.
    fn outage(&self, moment: &Moment) -> Option<f64> {
        if self.role != PortRole::Uplink || !moment.is(ScenarioKind::UpstreamOutage) {
            return None;
        }
        Some(moment.condition_since)
    }

    /// The interface as RouterOS's `/interface print stats` shows it: the same 64-bit counters
    /// as ifXTable (packets are unicast + multicast + broadcast), drops are ifIn/OutDiscards.
    pub fn api_row(&self, moment: &Moment) -> ApiInterface {
        use Counted::*;
        use Direction::{In, Out};
        let count = |counted, direction| self.counter64((counted, direction), moment);
        let packets = |direction| {
            count(Unicast, direction)
                .wrapping_add(count(Multicast, direction))
                .wrapping_add(count(Broadcast, direction))
        };
        ApiInterface {
            name: self.name.clone(),
            kind: api_type(self.role),
            running: self.oper_status(moment) == 1,
            disabled: !self.admin_up,
            rx_bytes: count(Octets, In),
            tx_bytes: count(Octets, Out),
            rx_packets: packets(In),
            tx_packets: packets(Out),
            rx_errors: count(Errors, In),
            tx_errors: count(Errors, Out),
            rx_drops: count(Discards, In),
            tx_drops: count(Discards, Out),
        }
    }

    /// ifTable cell.
    pub fn if_cell(&self, column: u32, moment: &Moment, uptime_ticks: u32) -> Option<SimValue> {
        use Counted::*;
        use Direction::{In, Out};
        let value = match column {
            1 => SimValue::Integer(self.if_index as i32),
            2 => SimValue::OctetString(self.name.as_bytes().to_vec()),
            3 => SimValue::Integer(if_type(self.role)),
            4 => SimValue::Integer(mtu(self.role)),
            5 => SimValue::Gauge32(
                (u64::from(self.speed_mbps) * 1_000_000).min(u64::from(u32::MAX)) as u32,
            ),
            6 => SimValue::OctetString(self.mac.map(|m| m.to_vec()).unwrap_or_default()),
            7 => SimValue::Integer(if self.admin_up { 1 } else { 2 }),
            8 => SimValue::Integer(self.oper_status(moment)),
            9 => SimValue::TimeTicks(self.last_change(moment, uptime_ticks)),
            10 => self.counter32((Octets, In), moment),
            11 => self.counter32((Unicast, In), moment),
            12 => self.counter32((NonUnicast, In), moment),
            13 => self.counter32((Discards, In), moment),
            14 => self.counter32((Errors, In), moment),
            15 => self.counter32((UnknownProtocols, In), moment),
            16 => self.counter32((Octets, Out), moment),
            17 => self.counter32((Unicast, Out), moment),
            18 => self.counter32((NonUnicast, Out), moment),
            19 => self.counter32((Discards, Out), moment),
            20 => self.counter32((Errors, Out), moment),
            21 => SimValue::Gauge32(0),
            22 => SimValue::ObjectId(vec![0, 0]),
            _ => return None,
        };
        Some(value)
    }

    /// ifXTable cell.
    pub fn if_x_cell(&self, column: u32, moment: &Moment) -> Option<SimValue> {
        use Counted::*;
        use Direction::{In, Out};
        let physical = !matches!(self.role, PortRole::Loopback | PortRole::Bundle);
        let value = match column {
            1 => SimValue::OctetString(self.name.as_bytes().to_vec()),
            2 => self.counter32((Multicast, In), moment),
            3 => self.counter32((Broadcast, In), moment),
            4 => self.counter32((Multicast, Out), moment),
            5 => self.counter32((Broadcast, Out), moment),
            6 => SimValue::Counter64(self.counter64((Octets, In), moment)),
            7 => SimValue::Counter64(self.counter64((Unicast, In), moment)),
            8 => SimValue::Counter64(self.counter64((Multicast, In), moment)),
            9 => SimValue::Counter64(self.counter64((Broadcast, In), moment)),
            10 => SimValue::Counter64(self.counter64((Octets, Out), moment)),
            11 => SimValue::Counter64(self.counter64((Unicast, Out), moment)),
            12 => SimValue::Counter64(self.counter64((Multicast, Out), moment)),
            13 => SimValue::Counter64(self.counter64((Broadcast, Out), moment)),
            14 => SimValue::Integer(if physical { 1 } else { 2 }),
            15 => SimValue::Gauge32(self.speed_mbps),
            16 => SimValue::Integer(2),
            17 => SimValue::Integer(if physical { 1 } else { 2 }),
            18 => SimValue::OctetString(self.alias.as_bytes().to_vec()),
            19 => SimValue::TimeTicks(0),
            _ => return None,
        };
        Some(value)
    }
}

/// Whether a flapping port is down now, and when it last changed (`None`: not flapping).
fn flap(interface: &Interface, moment: &Moment) -> Option<(bool, f64)> {
    if !interface.flaps {
        return None;
    }
    let (start, condition) = moment.latest(ScenarioKind::FlappingInterface)?;
    if !moment.is(ScenarioKind::FlappingInterface) {
        return None;
    }
    let half = condition.flap_period().as_secs_f64().max(0.1);
    let flips = ((moment.secs - start) / half).floor();
    // The port goes down when the scenario starts, up a half-period later, and so on.
    let down = flips as u64 % 2 == 0;
    Some((down, start + flips * half))
}

/// One `/interface` row of the RouterOS API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiInterface {
    pub name: String,
    /// RouterOS's `type`: `ether` for every Ethernet or SFP port, `bond`, `loopback`.
    pub kind: &'static str,
    pub running: bool,
    pub disabled: bool,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    pub rx_packets: u64,
    pub tx_packets: u64,
    pub rx_errors: u64,
    pub tx_errors: u64,
    pub rx_drops: u64,
    pub tx_drops: u64,
}

fn api_type(role: PortRole) -> &'static str {
    match role {
        PortRole::Loopback => "loopback",
        PortRole::Bundle => "bond",
        _ => "ether",
    }
}

/// IANAifType.
fn if_type(role: PortRole) -> i32 {
    match role {
        PortRole::Loopback => 24,
        PortRole::Bundle => 161,
        _ => 6,
    }
}

fn mtu(role: PortRole) -> i32 {
    match role {
        PortRole::Loopback => 65_535,
        PortRole::Management => 1_500,
        _ => 9_192,
    }
}
