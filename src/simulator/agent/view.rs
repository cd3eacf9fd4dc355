//! What one request sees: the device's MIB merged with the agent's own objects (snmpEngine and
//! usmStats scalars), at the request's simulated time.

use std::time::Duration;

use crate::simulator::mib::{Lookup, MibView, SimValue};

use super::stats::{UsmCounters, UsmStat};

/// snmpEngine scalars (SNMP-FRAMEWORK-MIB): engine id, boots, time, max message size.
const SNMP_ENGINE: [u32; 9] = [1, 3, 6, 1, 6, 3, 10, 2, 1];
/// usmStats (SNMP-USER-BASED-SM-MIB).
const USM_STATS: [u32; 9] = [1, 3, 6, 1, 6, 3, 15, 1, 1];

/// The agent's engine as seen by its own MIB objects.
#[derive(Debug, Clone, Copy)]
pub struct EngineState<'a> {
    pub engine_id: &'a [u8],
    pub boots: u32,
    pub time: u32,
    pub max_message_size: usize,
    pub usm: &'a UsmCounters,
}

/// The MIB one request reads.
#[derive(Clone, Copy)]
pub struct View<'a> {
    pub device: &'a dyn MibView,
    pub engine: EngineState<'a>,
    pub at: Duration,
}

/// The local scalars in lexicographic order: (group, column).
const LOCAL: [(&[u32; 9], u32); 10] = [
    (&SNMP_ENGINE, 1),
    (&SNMP_ENGINE, 2),
    (&SNMP_ENGINE, 3),
    (&SNMP_ENGINE, 4),
    (&USM_STATS, 1),
    (&USM_STATS, 2),
    (&USM_STATS, 3),
    (&USM_STATS, 4),
    (&USM_STATS, 5),
    (&USM_STATS, 6),
];

fn local_oid(group: &[u32; 9], column: u32) -> Vec<u32> {
    let mut oid = Vec::with_capacity(11);
    oid.extend_from_slice(group);
    oid.extend_from_slice(&[column, 0]);
    oid
}

fn int(value: u64) -> SimValue {
    SimValue::Integer(i32::try_from(value).unwrap_or(i32::MAX))
}

impl View<'_> {
    fn local_value(&self, group: &[u32; 9], column: u32) -> SimValue {
        let engine = &self.engine;
        if group == &SNMP_ENGINE {
            return match column {
                1 => SimValue::OctetString(engine.engine_id.to_vec()),
                2 => int(u64::from(engine.boots)),
                3 => int(u64::from(engine.time)),
                _ => int(engine.max_message_size as u64),
            };
        }
        let stat = UsmStat::ALL[column as usize - 1];
        SimValue::Counter32(engine.usm.get(stat))
    }

    /// Exact lookup (GET).
    pub fn get(&self, oid: &[u32]) -> Lookup {
        if oid.len() == 11 {
            for (group, column) in LOCAL {
                if oid[..9] == group[..] && oid[9] == column {
                    return if oid[10] == 0 {
                        Lookup::Value(self.local_value(group, column))
                    } else {
                        Lookup::NoSuchInstance
                    };
                }
            }
        }
        self.device.get(oid, self.at)
    }

    /// The next object after `oid` in the merged view (GETNEXT, GETBULK).
    pub fn next(&self, oid: &[u32]) -> Option<(Vec<u32>, SimValue)> {
        let from_device = self.device.next(oid, self.at);
        let local = LOCAL.iter().find(|(group, column)| {
            let candidate = [&group[..], &[*column, 0]];
            compare_split(&candidate, oid) == std::cmp::Ordering::Greater
        });
        let Some(&(group, column)) = local else {
            return from_device;
        };
        let local_oid = local_oid(group, column);
        match &from_device {
            Some((device_oid, _)) if device_oid < &local_oid => from_device,
            _ => Some((local_oid, self.local_value(group, column))),
        }
    }
}

/// Compares an OID given in two pieces with a plain one, without allocating.
fn compare_split(parts: &[&[u32]; 2], other: &[u32]) -> std::cmp::Ordering {
    parts[0].iter().chain(parts[1]).cmp(other.iter())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulator::mib::StaticMib;

    fn device() -> StaticMib {
        StaticMib::new([
            (
                vec![1, 3, 6, 1, 2, 1, 1, 5, 0],
                SimValue::OctetString(b"r1".to_vec()),
            ),
            (vec![1, 3, 6, 1, 6, 3, 12, 0], SimValue::Integer(7)),
        ])
    }

    #[test]
    fn local_objects_interleave_with_the_device_in_order() {
        let counters = UsmCounters::default();
        counters.increment(UsmStat::WrongDigests);
        let mib = device();
        let view = View {
            device: &mib,
            engine: EngineState {
                engine_id: b"\x80\x00\x7e\xd9\x05id",
                boots: 1,
                time: 42,
                max_message_size: 1472,
                usm: &counters,
            },
            at: Duration::ZERO,
        };
        let mut walked = Vec::new();
        let mut cursor = vec![1];
        while let Some((oid, value)) = view.next(&cursor) {
            walked.push((oid.clone(), value));
            cursor = oid;
        }
        let oids: Vec<_> = walked.iter().map(|(oid, _)| oid.clone()).collect();
        let mut sorted = oids.clone();
        sorted.sort();
        assert_eq!(oids, sorted);
        assert_eq!(oids.len(), 12);
        assert_eq!(oids[1], vec![1, 3, 6, 1, 6, 3, 10, 2, 1, 1, 0]);
        assert_eq!(oids[5], vec![1, 3, 6, 1, 6, 3, 12, 0]);
        assert_eq!(walked[3].1, SimValue::Integer(42));
        assert_eq!(
            view.get(&[1, 3, 6, 1, 6, 3, 15, 1, 1, 5, 0]),
            Lookup::Value(SimValue::Counter32(1))
        );
        assert_eq!(
            view.get(&[1, 3, 6, 1, 6, 3, 15, 1, 1, 5, 1]),
            Lookup::NoSuchInstance
        );
    }
}
