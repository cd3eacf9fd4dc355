//! A simulated router: a `MibView` built from (seed, index, interface count, shared scenario
//! state) that computes every value on demand from seed + time, so thousands fit in memory.

mod bgp;
mod host_resources;
mod interfaces;
mod moment;
mod system;
mod traffic;
mod tree;
mod vendor;

use std::sync::Arc;
use std::time::Duration;

use crate::simulator::mib::{Lookup, MibView, Reaction, SimValue};
use crate::simulator::scenario::{Condition, ScenarioKind, ScenarioState};
use crate::simulator::seed::Stream;

pub use interfaces::ApiInterface;
pub use system::Identity;
pub use vendor::{Vendor, MIKROTIK, VENDORS};

use bgp::Bgp;
use host_resources::HostResources;
use interfaces::{Interface, InterfacePlan};
use moment::Moment;
use tree::{Cells, Node, Shape};

/// How to build one device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceSpec {
    pub seed: u64,
    /// 0-based position in the fleet.
    pub index: u32,
    /// ifNumber: loopback, management, two uplinks, a bundle, then customer ports.
    pub interfaces: u32,
}

/// Default ifNumber of a simulated router.
pub const DEFAULT_INTERFACES: u32 = 48;

/// The MIB served, in OID order. Node ids below index this list.
const NODES: &[Node] = &[
    Node {
        prefix: &[1, 3, 6, 1, 2, 1, 1],
        shape: Shape::Scalars(&system::SYSTEM_SCALARS),
    },
    Node {
        prefix: &[1, 3, 6, 1, 2, 1, 2],
        shape: Shape::Scalars(&[1]),
    },
    Node {
        prefix: &[1, 3, 6, 1, 2, 1, 2, 2, 1],
        shape: Shape::Table(&interfaces::IF_COLUMNS),
    },
    Node {
        prefix: &[1, 3, 6, 1, 2, 1, 15],
        shape: Shape::Scalars(&bgp::BGP_HEAD_SCALARS),
    },
    Node {
        prefix: &[1, 3, 6, 1, 2, 1, 15, 3, 1],
        shape: Shape::Table(&bgp::BGP_PEER_COLUMNS),
    },
    Node {
        prefix: &[1, 3, 6, 1, 2, 1, 15],
        shape: Shape::Scalars(&bgp::BGP_TAIL_SCALARS),
    },
    Node {
        prefix: &[1, 3, 6, 1, 2, 1, 25, 1],
        shape: Shape::Scalars(&host_resources::HR_SYSTEM_SCALARS),
    },
    Node {
        prefix: &[1, 3, 6, 1, 2, 1, 25, 2],
        shape: Shape::Scalars(&host_resources::HR_STORAGE_SCALARS),
    },
    Node {
        prefix: &[1, 3, 6, 1, 2, 1, 25, 2, 3, 1],
        shape: Shape::Table(&host_resources::HR_STORAGE_COLUMNS),
    },
    Node {
        prefix: &[1, 3, 6, 1, 2, 1, 25, 3, 2, 1],
        shape: Shape::Table(&host_resources::HR_DEVICE_COLUMNS),
    },
    Node {
        prefix: &[1, 3, 6, 1, 2, 1, 25, 3, 3, 1],
        shape: Shape::Table(&host_resources::HR_PROCESSOR_COLUMNS),
    },
    Node {
        prefix: &[1, 3, 6, 1, 2, 1, 31, 1, 1, 1],
        shape: Shape::Table(&interfaces::IF_X_COLUMNS),
    },
];

const SYSTEM: usize = 0;
const IF_NUMBER: usize = 1;
const IF_TABLE: usize = 2;
const BGP_HEAD: usize = 3;
const BGP_PEERS: usize = 4;
const BGP_TAIL: usize = 5;
const HR_SYSTEM: usize = 6;
const HR_MEMORY: usize = 7;
const HR_STORAGE: usize = 8;
const HR_DEVICE: usize = 9;
const HR_PROCESSOR: usize = 10;
const IF_X_TABLE: usize = 11;

/// One simulated router.
#[derive(Debug)]
pub struct Device {
    identity: Identity,
    interfaces: Vec<Interface>,
    host: HostResources,
    bgp: Bgp,
    /// Row indices per table node (empty for scalar nodes).
    rows: [Vec<Vec<u32>>; NODES.len()],
    scenarios: Arc<ScenarioState>,
}

impl Device {
    pub fn new(spec: DeviceSpec, scenarios: Arc<ScenarioState>) -> Device {
        Device::of_vendor(spec, scenarios, None)
    }

    /// A device of `vendor` whatever the seed chooses (`None`: the seed's).
    pub fn of_vendor(
        spec: DeviceSpec,
        scenarios: Arc<ScenarioState>,
        vendor: Option<&'static Vendor>,
    ) -> Device {
        let identity = Identity::of_vendor(spec.seed, spec.index, vendor);
        let stream = Stream::new(spec.seed).child("device", u64::from(spec.index));
        let interfaces = InterfacePlan {
            stream: stream.child("interfaces", 0),
            vendor: identity.vendor,
            site: identity.site,
            count: spec.interfaces,
            boot_age: identity.boot_age,
        }
        .build();
        let host = HostResources::new(identity.vendor, stream.child("host", 0));
        let bgp = Bgp::new(spec.index, stream.child("bgp", 0), identity.boot_age);
        let mut rows: [Vec<Vec<u32>>; NODES.len()] = Default::default();
        let if_rows: Vec<Vec<u32>> = interfaces.iter().map(|i| vec![i.if_index]).collect();
        rows[IF_TABLE] = if_rows.clone();
        rows[IF_X_TABLE] = if_rows;
        rows[BGP_PEERS] = bgp.rows();
        rows[HR_STORAGE] = host.storage_rows();
        rows[HR_DEVICE] = host.processor_rows();
        rows[HR_PROCESSOR] = host.processor_rows();
        Device {
            identity,
            interfaces,
            host,
            bgp,
            rows,
            scenarios,
        }
    }

    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// Interface names in ifIndex order.
    pub fn interface_names(&self) -> Vec<&str> {
        self.interfaces.iter().map(|i| i.name.as_str()).collect()
    }

    /// The ifIndex of the uplinks (saturated under `link-saturation`).
    pub fn uplinks(&self) -> Vec<u32> {
        self.interfaces
            .iter()
            .filter(|i| i.role == vendor::PortRole::Uplink && i.link_up)
            .map(|i| i.if_index)
            .collect()
    }

    /// The ifIndex of the port that flaps under `flapping-interface`.
    pub fn flapping_port(&self) -> Option<u32> {
        self.interfaces.iter().find(|i| i.flaps).map(|i| i.if_index)
    }

    /// What the RouterOS API of this device reports at simulated time `at`.
    pub fn api_view(&self, at: Duration) -> ApiView {
        let history = self.scenarios.history();
        let moment = Moment::new(self.identity.index, at, &history);
        let (memory_total, memory_free) = self.host.storage_bytes(0, &moment);
        let (hdd_total, hdd_free) = self.host.storage_bytes(2, &moment);
        ApiView {
            secs: moment.secs,
            // Whole seconds of sysUpTime, so both protocols agree to the second.
            uptime_seconds: u64::from(self.identity.uptime_ticks(&moment)) / 100,
            boot: moment.boot,
            condition: moment.condition,
            condition_since: moment.condition_since,
            interfaces: self.interfaces.iter().map(|i| i.api_row(&moment)).collect(),
            cpu_load: self.host.average_load(&moment),
            cpus: self.host.cpus(),
            memory_total,
            memory_free,
            hdd_total,
            hdd_free,
        }
    }

    /// When the device last rebooted, in simulated time (`None`: before the fleet started).
    pub fn last_boot(&self, at: Duration) -> Option<f64> {
        let history = self.scenarios.history();
        Moment::new(self.identity.index, at, &history).boot
    }

    /// How the device's API reacts to a command now: a dead router says nothing, a slow one
    /// answers late (packet loss is a UDP matter: TCP retransmits, so the API just answers).
    pub fn api_reaction(&self, at: Duration) -> Reaction {
        let history = self.scenarios.history();
        let moment = Moment::new(self.identity.index, at, &history);
        match moment.condition.map(|c| (c.kind, c.delay)) {
            Some((ScenarioKind::RouterDown, _)) => Reaction::Drop,
            Some((ScenarioKind::SlowAgent, delay)) => Reaction::Delay(delay),
            _ => Reaction::Answer,
        }
    }

    fn at<'a>(
        &'a self,
        at: Duration,
        history: &'a [crate::simulator::scenario::Epoch],
    ) -> DeviceAt<'a> {
        let moment = Moment::new(self.identity.index, at, history);
        DeviceAt {
            uptime_ticks: self.identity.uptime_ticks(&moment),
            device: self,
            moment,
        }
    }
}

/// A device at one instant as its RouterOS API sees it: the facts shared with SNMP.
#[derive(Debug, Clone)]
pub struct ApiView {
    /// Simulated time, seconds since the fleet started.
    pub secs: f64,
    /// Whole seconds since boot (sysUpTime / 100).
    pub uptime_seconds: u64,
    /// When the device last rebooted in simulated time (`None`: before the fleet started).
    pub boot: Option<f64>,
    /// The scenario the device is under (`None`: healthy), and since when.
    pub condition: Option<Condition>,
    pub condition_since: f64,
    pub interfaces: Vec<ApiInterface>,
    /// Percent, 0-100.
    pub cpu_load: u32,
    pub cpus: u32,
    pub memory_total: u64,
    pub memory_free: u64,
    pub hdd_total: u64,
    pub hdd_free: u64,
}

/// A device at one instant: what the tree walk reads cells from.
struct DeviceAt<'a> {
    device: &'a Device,
    moment: Moment<'a>,
    uptime_ticks: u32,
}

impl Cells for DeviceAt<'_> {
    fn rows(&self, node: usize) -> &[Vec<u32>] {
        &self.device.rows[node]
    }

    fn cell(&self, node: usize, column: u32, row: usize) -> Option<SimValue> {
        let device = self.device;
        let moment = &self.moment;
        match node {
            SYSTEM => device.identity.cell(column, moment),
            IF_NUMBER => Some(SimValue::Integer(device.interfaces.len() as i32)),
            IF_TABLE => device
                .interfaces
                .get(row)?
                .if_cell(column, moment, self.uptime_ticks),
            IF_X_TABLE => device.interfaces.get(row)?.if_x_cell(column, moment),
            BGP_HEAD | BGP_TAIL => device.bgp.scalar(column),
            BGP_PEERS => device.bgp.cell(column, row, moment),
            HR_SYSTEM => device.host.system_cell(column, self.uptime_ticks),
            HR_MEMORY => Some(device.host.memory_size()),
            HR_STORAGE => device.host.storage_cell(column, row, moment),
            HR_DEVICE => device.host.device_cell(column, row),
            HR_PROCESSOR => device.host.processor_cell(column, row, moment),
            _ => None,
        }
    }
}

impl MibView for Device {
    fn get(&self, oid: &[u32], at: Duration) -> Lookup {
        let history = self.scenarios.history();
        tree::get(NODES, &self.at(at, &history), oid)
    }

    fn next(&self, oid: &[u32], at: Duration) -> Option<(Vec<u32>, SimValue)> {
        let history = self.scenarios.history();
        tree::next(NODES, &self.at(at, &history), oid)
    }

    fn reaction(&self, at: Duration) -> Reaction {
        let history = self.scenarios.history();
        let moment = Moment::new(self.identity.index, at, &history);
        let Some(condition) = moment.condition else {
            return Reaction::Answer;
        };
        match condition.kind {
            ScenarioKind::RouterDown => Reaction::Drop,
            ScenarioKind::PacketLoss if rand::random::<f64>() < condition.loss => Reaction::Drop,
            ScenarioKind::SlowAgent => Reaction::Delay(condition.delay),
            _ => Reaction::Answer,
        }
    }
}

/// A device shared between the SNMP agent and the RouterOS API.
impl MibView for Arc<Device> {
    fn get(&self, oid: &[u32], at: Duration) -> Lookup {
        self.as_ref().get(oid, at)
    }

    fn next(&self, oid: &[u32], at: Duration) -> Option<(Vec<u32>, SimValue)> {
        self.as_ref().next(oid, at)
    }

    fn reaction(&self, at: Duration) -> Reaction {
        self.as_ref().reaction(at)
    }
}

/// A view whose clock stands still at `at`, whatever time the agent asks for: for comparing
/// what net-snmp tools read with what the device serves, value for value.
pub struct FrozenClock<M> {
    pub inner: M,
    pub at: Duration,
}

impl<M: MibView> MibView for FrozenClock<M> {
    fn get(&self, oid: &[u32], _at: Duration) -> Lookup {
        self.inner.get(oid, self.at)
    }

    fn next(&self, oid: &[u32], _at: Duration) -> Option<(Vec<u32>, SimValue)> {
        self.inner.next(oid, self.at)
    }

    fn reaction(&self, _at: Duration) -> Reaction {
        self.inner.reaction(self.at)
    }
}

#[cfg(test)]
mod tests;
