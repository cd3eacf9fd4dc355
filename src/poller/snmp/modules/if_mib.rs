//! The `if_mib` module: ifTable + ifXTable as interface info, status, speed and traffic counters.

use std::collections::BTreeMap;

use crate::config::oid::format_oid;
use crate::poller::label_set::LabelSet;
use crate::poller::outcome::Value;
use crate::poller::snmp::decode::{
    label_or_empty, non_empty_label, unique_names, Decoded, FamilyBuilder, Table,
};
use crate::poller::snmp::value::{wrap_counter64, Oid, SnmpValue};

/// ifEntry (IF-MIB::ifTable rows).
pub const IF_ENTRY: [u32; 9] = [1, 3, 6, 1, 2, 1, 2, 2, 1];
/// ifXEntry (IF-MIB::ifXTable rows).
pub const IF_X_ENTRY: [u32; 10] = [1, 3, 6, 1, 2, 1, 31, 1, 1, 1];

const IF_DESCR: u32 = 2;
const IF_TYPE: u32 = 3;
const IF_SPEED: u32 = 5;
const IF_ADMIN_STATUS: u32 = 7;
const IF_OPER_STATUS: u32 = 8;
const IF_NAME: u32 = 1;
const IF_HIGH_SPEED: u32 = 15;
const IF_ALIAS: u32 = 18;

/// ifNumber.0: how many interfaces the agent has.
pub const IF_NUMBER: [u32; 9] = [1, 3, 6, 1, 2, 1, 2, 1, 0];

/// The ifTable columns walked: descr, type, speed, statuses and the 32-bit counters.
pub const IF_COLUMNS: [u32; 15] = [2, 3, 5, 7, 8, 10, 11, 12, 13, 14, 16, 17, 18, 19, 20];
/// The ifXTable columns walked: name, the 64-bit counters, high speed and alias.
pub const IF_X_COLUMNS: [u32; 11] = [1, 6, 7, 8, 9, 10, 11, 12, 13, 15, 18];

/// The ifTable columns walked on every poll: all but ifDescr, which the lookup cache keeps.
pub const IF_POLLED_COLUMNS: [u32; 14] = [3, 5, 7, 8, 10, 11, 12, 13, 14, 16, 17, 18, 19, 20];
/// The ifXTable columns walked on every poll: all but ifName and ifAlias (cached).
pub const IF_X_POLLED_COLUMNS: [u32; 9] = [6, 7, 8, 9, 10, 11, 12, 13, 15];
/// The label columns the lookup cache keeps: ifTable's ifDescr.
pub const IF_LOOKUP_COLUMNS: [u32; 1] = [IF_DESCR];
/// The label columns the lookup cache keeps: ifXTable's ifName and ifAlias.
pub const IF_X_LOOKUP_COLUMNS: [u32; 2] = [IF_NAME, IF_ALIAS];

/// A counter family: the sum of its ifXTable (64-bit) columns, or when the interface has none
/// of them, the sum of its ifTable (32-bit) columns.
struct CounterFamily {
    name: &'static str,
    high_capacity: &'static [u32],
    legacy: &'static [u32],
}

const COUNTER_FAMILIES: [CounterFamily; 8] = [
    CounterFamily {
        name: "ispmonitor_interface_receive_bytes_total",
        high_capacity: &[6],
        legacy: &[10],
    },
    CounterFamily {
        name: "ispmonitor_interface_transmit_bytes_total",
        high_capacity: &[10],
        legacy: &[16],
    },
    CounterFamily {
        name: "ispmonitor_interface_receive_packets_total",
        high_capacity: &[7, 8, 9],
        legacy: &[11, 12],
    },
    CounterFamily {
        name: "ispmonitor_interface_transmit_packets_total",
        high_capacity: &[11, 12, 13],
        legacy: &[17, 18],
    },
    CounterFamily {
        name: "ispmonitor_interface_receive_errors_total",
        high_capacity: &[],
        legacy: &[14],
    },
    CounterFamily {
        name: "ispmonitor_interface_transmit_errors_total",
        high_capacity: &[],
        legacy: &[20],
    },
    CounterFamily {
        name: "ispmonitor_interface_receive_discards_total",
        high_capacity: &[],
        legacy: &[13],
    },
    CounterFamily {
        name: "ispmonitor_interface_transmit_discards_total",
        high_capacity: &[],
        legacy: &[19],
    },
];

/// The IANAifType names of common interface types; others are exported as their number.
pub fn if_type_name(if_type: i64) -> String {
    let name = match if_type {
        1 => "other",
        6 => "ethernetCsmacd",
        23 => "ppp",
        24 => "softwareLoopback",
        53 => "propVirtual",
        71 => "ieee80211",
        131 => "tunnel",
        135 => "l2vlan",
        136 => "l3ipvlan",
        150 => "mplsTunnel",
        161 => "ieee8023adLag",
        166 => "mpls",
        209 => "bridge",
        _ => return if_type.to_string(),
    };
    name.to_string()
}

/// Reads cells as numbers, counting the ones of a type that cannot be one.
struct NumberReader {
    wrap: bool,
    skipped: usize,
}

impl NumberReader {
    fn counter(&mut self, table: &Table, column: u32, index: &Oid) -> Option<u64> {
        let value = table.value(column, index)?;
        let counter = value.as_counter(self.wrap);
        self.skipped += usize::from(counter.is_none());
        counter
    }

    /// The sum of the present columns; `None` when none is present.
    fn counter_sum(&mut self, table: &Table, columns: &[u32], index: &Oid) -> Option<u64> {
        let parts: Vec<u64> = columns
            .iter()
            .filter_map(|&column| self.counter(table, column, index))
            .collect();
        if parts.is_empty() {
            return None;
        }
        let sum = parts.iter().fold(0u64, |sum, part| sum.wrapping_add(*part));
        Some(wrap_counter64(sum, self.wrap))
    }

    fn integer(&mut self, table: &Table, column: u32, index: &Oid) -> Option<i64> {
        match table.value(column, index)? {
            SnmpValue::Integer(n) => Some(*n),
            _ => {
                self.skipped += 1;
                None
            }
        }
    }

    fn unsigned(&mut self, table: &Table, column: u32, index: &Oid) -> Option<u64> {
        let value = table.value(column, index)?.as_unsigned();
        self.skipped += usize::from(value.is_none());
        value
    }
}

/// The `interface` label of every row: ifName, else ifDescr, else the ifIndex. Names shared by
/// several interfaces (some agents repeat ifName) get `_<ifindex>` appended on each such row, so
/// two interfaces never collapse into one series.
fn interface_names(if_table: &Table, if_x_table: &Table, indices: &[Oid]) -> BTreeMap<Oid, String> {
    let names = indices
        .iter()
        .map(|index| {
            let name = non_empty_label(if_x_table.value(IF_NAME, index))
                .or_else(|| non_empty_label(if_table.value(IF_DESCR, index)))
                .unwrap_or_else(|| format_oid(index));
            (index.clone(), name)
        })
        .collect();
    unique_names(names)
}

/// Bytes per second: ifHighSpeed (Mbit/s) when present and non-zero, else ifSpeed (bit/s).
fn speed_bytes(reader: &mut NumberReader, tables: (&Table, &Table), index: &Oid) -> Option<f64> {
    let (if_table, if_x_table) = tables;
    match reader.unsigned(if_x_table, IF_HIGH_SPEED, index) {
        Some(mbits) if mbits > 0 => Some(mbits as f64 * 1e6 / 8.0),
        _ => reader
            .unsigned(if_table, IF_SPEED, index)
            .map(|bits| bits as f64 / 8.0),
    }
}

/// Decodes walked ifTable and ifXTable columns.
pub fn decode(if_table: &Table, if_x_table: &Table, wrap_large_counters: bool) -> Decoded {
    let mut reader = NumberReader {
        wrap: wrap_large_counters,
        skipped: 0,
    };
    let mut indices = if_table.indices();
    indices.extend(if_x_table.indices());
    let indices: Vec<Oid> = indices.into_iter().collect();
    let names = interface_names(if_table, if_x_table, &indices);

    let mut info = FamilyBuilder::catalog("ispmonitor_interface_info");
    let mut up = FamilyBuilder::catalog("ispmonitor_interface_up");
    let mut admin_up = FamilyBuilder::catalog("ispmonitor_interface_admin_up");
    let mut speed = FamilyBuilder::catalog("ispmonitor_interface_speed_bytes");
    let mut counters: Vec<FamilyBuilder> = COUNTER_FAMILIES
        .iter()
        .map(|family| FamilyBuilder::catalog(family.name))
        .collect();

    for index in &indices {
        let name = names.get(index).cloned().unwrap_or_default();
        let if_type = reader
            .integer(if_table, IF_TYPE, index)
            .map(if_type_name)
            .unwrap_or_default();
        let alias = label_or_empty(if_x_table.value(IF_ALIAS, index));
        // The status, speed and counter families are labelled by the interface alone: its
        // label text is rendered once and shared by those eleven families.
        let interface = LabelSet::new([("interface", name.as_str())]);
        info.push(vec![name, format_oid(index), alias, if_type], Value::Int(1));
        if let Some(status) = reader.integer(if_table, IF_OPER_STATUS, index) {
            up.push_rendered(interface.clone(), Value::Int(u64::from(status == 1)));
        }
        if let Some(status) = reader.integer(if_table, IF_ADMIN_STATUS, index) {
            admin_up.push_rendered(interface.clone(), Value::Int(u64::from(status == 1)));
        }
        if let Some(bytes) = speed_bytes(&mut reader, (if_table, if_x_table), index) {
            speed.push_rendered(interface.clone(), Value::Float(bytes));
        }
        for (family, builder) in COUNTER_FAMILIES.iter().zip(counters.iter_mut()) {
            let value = reader
                .counter_sum(if_x_table, family.high_capacity, index)
                .or_else(|| reader.counter_sum(if_table, family.legacy, index));
            if let Some(value) = value {
                builder.push_rendered(interface.clone(), Value::Int(value));
            }
        }
    }

    let mut decoded = Decoded::default();
    for family in [info, up, admin_up, speed].into_iter().chain(counters) {
        decoded.push(family);
    }
    decoded.skipped = reader.skipped;
    decoded
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::poller::outcome::FamilySamples;

    fn text(s: &str) -> SnmpValue {
        SnmpValue::OctetString(s.as_bytes().to_vec())
    }

    fn family<'a>(decoded: &'a Decoded, name: &str) -> &'a FamilySamples {
        decoded
            .families
            .iter()
            .find(|f| &*f.desc.name == name)
            .unwrap_or_else(|| panic!("family {name} missing"))
    }

    fn value_of(decoded: &Decoded, name: &str, interface: &str) -> Option<Value> {
        family(decoded, name)
            .samples
            .iter()
            .find(|s| s.labels.values()[0] == interface)
            .map(|s| s.value.clone())
    }

    fn router() -> (Table, Table) {
        let if_table = Table::from_cells(&[
            (IF_DESCR, &[1], text("lo")),
            (IF_TYPE, &[1], SnmpValue::Integer(24)),
            (IF_OPER_STATUS, &[1], SnmpValue::Integer(1)),
            (IF_ADMIN_STATUS, &[1], SnmpValue::Integer(1)),
            (IF_SPEED, &[1], SnmpValue::Unsigned32(10_000_000)),
            (10, &[1], SnmpValue::Counter32(111)),
            (IF_DESCR, &[2], text("GigabitEthernet0/1")),
            (IF_TYPE, &[2], SnmpValue::Integer(6)),
            (IF_OPER_STATUS, &[2], SnmpValue::Integer(2)),
            (IF_ADMIN_STATUS, &[2], SnmpValue::Integer(1)),
            (IF_SPEED, &[2], SnmpValue::Unsigned32(u32::MAX)),
            (10, &[2], SnmpValue::Counter32(5)),
            (11, &[2], SnmpValue::Counter32(1)),
            (12, &[2], SnmpValue::Counter32(2)),
            (14, &[2], SnmpValue::Counter32(3)),
            (IF_DESCR, &[3], text("dup")),
            (IF_DESCR, &[4], text("dup")),
            (IF_TYPE, &[4], SnmpValue::Integer(9999)),
        ]);
        let if_x_table = Table::from_cells(&[
            (IF_NAME, &[2], text("Gi0/1")),
            (IF_ALIAS, &[2], text("uplink \"ISP\"")),
            (IF_HIGH_SPEED, &[2], SnmpValue::Unsigned32(10_000)),
            (6, &[2], SnmpValue::Counter64(u64::MAX)),
            (7, &[2], SnmpValue::Counter64(10)),
            (8, &[2], SnmpValue::Counter64(20)),
            (9, &[2], SnmpValue::Counter64(30)),
            (IF_HIGH_SPEED, &[1], SnmpValue::Unsigned32(0)),
        ]);
        (if_table, if_x_table)
    }

    #[test]
    fn info_uses_if_name_then_descr_and_iana_type_names() {
        let (t, x) = router();
        let decoded = decode(&t, &x, false);
        let info = family(&decoded, "ispmonitor_interface_info");
        let rows: Vec<Vec<String>> = info.samples.iter().map(|s| s.labels.values()).collect();
        assert_eq!(rows[0], ["lo", "1", "", "softwareLoopback"]);
        assert_eq!(rows[1], ["Gi0/1", "2", "uplink \"ISP\"", "ethernetCsmacd"]);
        assert_eq!(rows[2], ["dup_3", "3", "", ""]);
        assert_eq!(rows[3], ["dup_4", "4", "", "9999"]);
    }

    #[test]
    fn status_and_speed() {
        let (t, x) = router();
        let decoded = decode(&t, &x, false);
        assert_eq!(
            value_of(&decoded, "ispmonitor_interface_up", "lo"),
            Some(Value::Int(1))
        );
        assert_eq!(
            value_of(&decoded, "ispmonitor_interface_up", "Gi0/1"),
            Some(Value::Int(0))
        );
        assert_eq!(
            value_of(&decoded, "ispmonitor_interface_admin_up", "Gi0/1"),
            Some(Value::Int(1))
        );
        // ifHighSpeed wins when non-zero; a zero ifHighSpeed falls back to ifSpeed.
        assert_eq!(
            value_of(&decoded, "ispmonitor_interface_speed_bytes", "Gi0/1"),
            Some(Value::Float(1.25e9))
        );
        assert_eq!(
            value_of(&decoded, "ispmonitor_interface_speed_bytes", "lo"),
            Some(Value::Float(1.25e6))
        );
    }

    #[test]
    fn counters_prefer_64_bit_and_fall_back_per_interface() {
        let (t, x) = router();
        let decoded = decode(&t, &x, false);
        let rx = "ispmonitor_interface_receive_bytes_total";
        assert_eq!(value_of(&decoded, rx, "Gi0/1"), Some(Value::Int(u64::MAX)));
        assert_eq!(value_of(&decoded, rx, "lo"), Some(Value::Int(111)));
        let packets = "ispmonitor_interface_receive_packets_total";
        assert_eq!(value_of(&decoded, packets, "Gi0/1"), Some(Value::Int(60)));
        let errors = "ispmonitor_interface_receive_errors_total";
        assert_eq!(value_of(&decoded, errors, "Gi0/1"), Some(Value::Int(3)));
        assert_eq!(value_of(&decoded, errors, "lo"), None);
    }

    #[test]
    fn an_interface_label_set_is_rendered_once_and_shared_by_its_families() {
        let (t, x) = router();
        let decoded = decode(&t, &x, false);
        let label_of = |name: &str| {
            family(&decoded, name)
                .samples
                .iter()
                .find(|s| s.labels.get("interface").as_deref() == Some("Gi0/1"))
                .map(|s| s.labels.clone())
                .expect("Gi0/1 sample")
        };
        let up = label_of("ispmonitor_interface_up");
        let rx = label_of("ispmonitor_interface_receive_bytes_total");
        assert!(up.shares_text_with(&rx));
        // Exactly what rendering the family's own label names would give.
        assert_eq!(
            up.pairs(),
            vec![("interface".to_string(), "Gi0/1".to_string())]
        );
        assert_eq!(
            up.as_str(),
            LabelSet::new([("interface", "Gi0/1")]).as_str()
        );
    }

    #[test]
    fn counters_wrap_at_2_pow_53_when_asked() {
        let (t, x) = router();
        let decoded = decode(&t, &x, true);
        let rx = "ispmonitor_interface_receive_bytes_total";
        assert_eq!(
            value_of(&decoded, rx, "Gi0/1"),
            Some(Value::Int(u64::MAX % (1 << 53)))
        );
    }

    #[test]
    fn wrong_types_are_skipped_not_fatal() {
        let t = Table::from_cells(&[
            (IF_DESCR, &[1], text("eth0")),
            (10, &[1], text("not a number")),
            (IF_OPER_STATUS, &[1], SnmpValue::Counter32(1)),
        ]);
        let decoded = decode(&t, &Table::default(), false);
        assert_eq!(decoded.skipped, 2);
        assert!(decoded
            .families
            .iter()
            .all(|f| &*f.desc.name == "ispmonitor_interface_info"));
    }
}
