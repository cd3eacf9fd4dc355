//! SNMPv2-MIB system group of a simulated router: who it is and how long it has been up.

use crate::simulator::mib::SimValue;
use crate::simulator::seed::Stream;

use super::moment::Moment;
use super::vendor::{Vendor, VENDORS};

/// Sites the routers are spread over, with the city for sysLocation.
const SITES: [(&str, &str); 8] = [
    ("ams1", "Amsterdam"),
    ("fra2", "Frankfurt"),
    ("lon1", "London"),
    ("par3", "Paris"),
    ("waw1", "Warsaw"),
    ("mad2", "Madrid"),
    ("nyc1", "New York"),
    ("sin1", "Singapore"),
];

/// The system scalars served (sub-identifiers under 1.3.6.1.2.1.1).
pub const SYSTEM_SCALARS: [u32; 8] = [1, 2, 3, 4, 5, 6, 7, 8];

/// Who a simulated router is: the same for the same seed and index.
#[derive(Debug, Clone)]
pub struct Identity {
    pub index: u32,
    pub vendor: &'static Vendor,
    pub version: &'static str,
    pub site: &'static str,
    pub city: &'static str,
    pub sys_name: String,
    /// Seconds the router had been up when the fleet started.
    pub boot_age: f64,
    pub rack: u32,
}

impl Identity {
    pub fn new(seed: u64, index: u32) -> Identity {
        Identity::of_vendor(seed, index, None)
    }

    /// The identity with `vendor` instead of the one the seed chooses (`--mikrotik-devices`);
    /// everything else (site, name, uptime) stays what the seed gives.
    pub fn of_vendor(seed: u64, index: u32, vendor: Option<&'static Vendor>) -> Identity {
        let stream = Stream::new(seed).child("device", u64::from(index));
        let seeded = &VENDORS[stream.below(0, VENDORS.len() as u64) as usize];
        let vendor = vendor.unwrap_or(seeded);
        let version = vendor.versions[stream.below(1, vendor.versions.len() as u64) as usize];
        let (site, city) = SITES[stream.below(2, SITES.len() as u64) as usize];
        Identity {
            index,
            vendor,
            version,
            site,
            city,
            // The index keeps names unique across the fleet.
            sys_name: format!("{site}-pe{index:04}"),
            // Between 3 and 200 days (sysUpTime stays far from its 497-day wrap).
            boot_age: stream.range(3, 3.0 * 86_400.0, 200.0 * 86_400.0).floor(),
            rack: 1 + stream.below(4, 40) as u32,
        }
    }

    /// Seconds since the last boot at `moment` (sysUpTime without its 32-bit wrap).
    pub fn uptime_seconds(&self, moment: &Moment) -> f64 {
        let seconds = match moment.boot {
            Some(boot) => moment.secs - boot,
            None => self.boot_age + moment.secs,
        };
        seconds.max(0.0)
    }

    /// sysUpTime in hundredths of a second, wrapping at 2^32 like the real one.
    pub fn uptime_ticks(&self, moment: &Moment) -> u32 {
        ((self.uptime_seconds(moment) * 100.0) as u64 % (1u64 << 32)) as u32
    }

    pub fn cell(&self, sub: u32, moment: &Moment) -> Option<SimValue> {
        let text = |s: String| Some(SimValue::OctetString(s.into_bytes()));
        match sub {
            1 => text(self.vendor.sys_descr(self.version)),
            2 => Some(SimValue::ObjectId(self.vendor.object_id.to_vec())),
            3 => Some(SimValue::TimeTicks(self.uptime_ticks(moment))),
            4 => text("NOC <noc@example.net>, +31 20 555 0100".to_string()),
            5 => text(self.sys_name.clone()),
            6 => text(format!("{} data centre, rack {}", self.city, self.rack)),
            // Layers 2 (datalink) and 3 (internet): 2 + 4.
            7 => Some(SimValue::Integer(6)),
            8 => Some(SimValue::TimeTicks(0)),
            _ => None,
        }
    }
}
