//! HOST-RESOURCES-MIB of a simulated router: uptime, memory and flash storage, processors and
//! their load.

use crate::simulator::mib::SimValue;
use crate::simulator::scenario::ScenarioKind;
use crate::simulator::seed::Stream;

use super::moment::Moment;
use super::traffic::Wave;
use super::vendor::Vendor;

pub const HR_SYSTEM_SCALARS: [u32; 3] = [1, 5, 6];
pub const HR_STORAGE_SCALARS: [u32; 1] = [2];
pub const HR_STORAGE_COLUMNS: [u32; 7] = [1, 2, 3, 4, 5, 6, 7];
pub const HR_DEVICE_COLUMNS: [u32; 6] = [1, 2, 3, 4, 5, 6];
pub const HR_PROCESSOR_COLUMNS: [u32; 2] = [1, 2];

/// hrDeviceIndex of the first processor (net-snmp numbers them from 768 x 256).
const FIRST_CPU: u32 = 196_608;
const HR_STORAGE_TYPES: [u32; 9] = [1, 3, 6, 1, 2, 1, 25, 2, 1];
const HR_DEVICE_PROCESSOR: [u32; 10] = [1, 3, 6, 1, 2, 1, 25, 3, 1, 3];

/// The host resources of one router.
#[derive(Debug, Clone)]
pub struct HostResources {
    memory_kib: u32,
    flash_bytes: u64,
    cpus: u32,
    cpu_model: String,
    /// Load in percent: mean and its daily swing.
    load: Wave,
    memory_used: f64,
    flash_used: f64,
    processes: u32,
}

/// Storage rows: (index, type under hrStorageTypes, description).
const STORAGE: [(u32, u32, &str); 3] = [
    (1, 2, "Physical memory"),
    (2, 3, "Virtual memory"),
    (3, 9, "Flash"),
];
const STORAGE_UNIT: u32 = 1024;
const FLASH_UNIT: u32 = 4096;

impl HostResources {
    pub fn new(vendor: &Vendor, stream: Stream) -> HostResources {
        HostResources {
            memory_kib: vendor.memory_kib,
            flash_bytes: vendor.flash_bytes,
            cpus: vendor.cpus,
            cpu_model: format!("{} {} route processor", vendor.vendor, vendor.model),
            load: Wave {
                mean: stream.range(0, 8.0, 35.0),
                daily: stream.range(1, 0.2, 0.5),
                fast: stream.range(2, 0.1, 0.3),
                daily_phase: stream.range(3, 0.0, 86_400.0),
                fast_phase: stream.range(4, 0.0, 300.0),
            },
            memory_used: stream.range(5, 0.35, 0.75),
            flash_used: stream.range(6, 0.2, 0.6),
            processes: 80 + stream.below(7, 200) as u32,
        }
    }

    pub fn storage_rows(&self) -> Vec<Vec<u32>> {
        STORAGE.iter().map(|(index, _, _)| vec![*index]).collect()
    }

    pub fn processor_rows(&self) -> Vec<Vec<u32>> {
        (0..self.cpus).map(|cpu| vec![FIRST_CPU + cpu]).collect()
    }

    pub fn system_cell(&self, sub: u32, uptime_ticks: u32) -> Option<SimValue> {
        match sub {
            1 => Some(SimValue::TimeTicks(uptime_ticks)),
            5 => Some(SimValue::Gauge32(1)),
            6 => Some(SimValue::Gauge32(self.processes)),
            _ => None,
        }
    }

    pub fn memory_size(&self) -> SimValue {
        SimValue::Integer(self.memory_kib.min(i32::MAX as u32) as i32)
    }

    /// (allocation unit, size in units, used units) of a storage row.
    fn storage_numbers(&self, row: usize, moment: &Moment) -> (u32, u64, u64) {
        let wiggle = 1.0 + 0.02 * (moment.secs / 600.0).sin();
        match row {
            0 => {
                let size = u64::from(self.memory_kib);
                (
                    STORAGE_UNIT,
                    size,
                    (size as f64 * self.memory_used * wiggle) as u64,
                )
            }
            1 => {
                let size = u64::from(self.memory_kib) / 2;
                (STORAGE_UNIT, size, (size as f64 * 0.05) as u64)
            }
            _ => {
                let size = self.flash_bytes / u64::from(FLASH_UNIT);
                (FLASH_UNIT, size, (size as f64 * self.flash_used) as u64)
            }
        }
    }

    pub fn storage_cell(&self, column: u32, row: usize, moment: &Moment) -> Option<SimValue> {
        let (index, kind, descr) = *STORAGE.get(row)?;
        let (unit, size, used) = self.storage_numbers(row, moment);
        let clamp = |n: u64| SimValue::Integer(n.min(i32::MAX as u64) as i32);
        let value = match column {
            1 => SimValue::Integer(index as i32),
            2 => {
                let mut oid = HR_STORAGE_TYPES.to_vec();
                oid.push(kind);
                SimValue::ObjectId(oid)
            }
            3 => SimValue::OctetString(descr.as_bytes().to_vec()),
            4 => SimValue::Integer(unit as i32),
            5 => clamp(size),
            6 => clamp(used),
            7 => SimValue::Counter32(0),
            _ => return None,
        };
        Some(value)
    }

    pub fn device_cell(&self, column: u32, row: usize) -> Option<SimValue> {
        let index = FIRST_CPU + u32::try_from(row).ok()?;
        let value = match column {
            1 => SimValue::Integer(index as i32),
            2 => SimValue::ObjectId(HR_DEVICE_PROCESSOR.to_vec()),
            3 => SimValue::OctetString(format!("{} {row}", self.cpu_model).into_bytes()),
            4 => SimValue::ObjectId(vec![0, 0]),
            // running(2)
            5 => SimValue::Integer(2),
            6 => SimValue::Counter32(0),
            _ => return None,
        };
        Some(value)
    }

    /// hrProcessorLoad in percent: the daily curve, plus more work on a saturated router.
    fn load(&self, cpu: usize, moment: &Moment) -> i32 {
        let spread = 1.0 + 0.15 * (cpu as f64 - 1.5);
        let busy = if moment.is(ScenarioKind::LinkSaturation) {
            30.0
        } else if moment.is(ScenarioKind::SessionSpike) {
            // Every reconnecting subscriber is a PPPoE discovery and a RADIUS round trip.
            20.0
        } else {
            0.0
        };
        (self.load.rate(moment.secs) * spread + busy).clamp(0.0, 100.0) as i32
    }

    /// The mean of the processors' hrProcessorLoad, in percent (RouterOS's `cpu-load`).
    pub fn average_load(&self, moment: &Moment) -> u32 {
        let total: i32 = (0..self.cpus as usize)
            .map(|cpu| self.load(cpu, moment))
            .sum();
        (total.max(0) as u32) / self.cpus.max(1)
    }

    pub fn cpus(&self) -> u32 {
        self.cpus
    }

    /// (total, free) bytes of RAM (row 0) or flash (row 2), the hrStorage numbers in bytes.
    pub fn storage_bytes(&self, row: usize, moment: &Moment) -> (u64, u64) {
        let (unit, size, used) = self.storage_numbers(row, moment);
        let unit = u64::from(unit);
        (size * unit, size.saturating_sub(used) * unit)
    }

    pub fn processor_cell(&self, column: u32, row: usize, moment: &Moment) -> Option<SimValue> {
        match column {
            1 => Some(SimValue::ObjectId(vec![0, 0])),
            2 => Some(SimValue::Integer(self.load(row, moment))),
            _ => None,
        }
    }
}
