//! The `host_resources` module: HOST-RESOURCES-MIB processor load and storage.

use std::collections::BTreeMap;

use crate::config::oid::format_oid;
use crate::poller::outcome::Value;
use crate::poller::snmp::decode::{non_empty_label, unique_names, Decoded, FamilyBuilder, Table};
use crate::poller::snmp::value::{Oid, SnmpValue};

/// hrProcessorEntry; column 2 is hrProcessorLoad (percent), indexed by hrDeviceIndex.
pub const HR_PROCESSOR_ENTRY: [u32; 10] = [1, 3, 6, 1, 2, 1, 25, 3, 3, 1];
pub const HR_PROCESSOR_COLUMNS: [u32; 1] = [HR_PROCESSOR_LOAD];
const HR_PROCESSOR_LOAD: u32 = 2;

/// hrStorageEntry: type, descr, allocation units, size, used.
pub const HR_STORAGE_ENTRY: [u32; 10] = [1, 3, 6, 1, 2, 1, 25, 2, 3, 1];
pub const HR_STORAGE_COLUMNS: [u32; 5] = [
    HR_STORAGE_TYPE,
    HR_STORAGE_DESCR,
    HR_STORAGE_ALLOCATION_UNITS,
    HR_STORAGE_SIZE,
    HR_STORAGE_USED,
];
const HR_STORAGE_TYPE: u32 = 2;
const HR_STORAGE_DESCR: u32 = 3;
const HR_STORAGE_ALLOCATION_UNITS: u32 = 4;
const HR_STORAGE_SIZE: u32 = 5;
const HR_STORAGE_USED: u32 = 6;

/// hrStorageTypes: the registered storage types are `hrStorageTypes.N`.
const HR_STORAGE_TYPES: [u32; 9] = [1, 3, 6, 1, 2, 1, 25, 2, 1];

/// The short name of an hrStorageType OID; unregistered types keep their dotted OID.
pub fn storage_type_name(storage_type: &[u32]) -> String {
    let registered = storage_type
        .strip_prefix(&HR_STORAGE_TYPES[..])
        .and_then(|rest| match rest {
            [1] => Some("other"),
            [2] => Some("ram"),
            [3] => Some("virtual_memory"),
            [4] => Some("fixed_disk"),
            [5] => Some("removable_disk"),
            [6] => Some("floppy_disk"),
            [7] => Some("compact_disc"),
            [8] => Some("ram_disk"),
            [9] => Some("flash_memory"),
            [10] => Some("network_disk"),
            _ => None,
        });
    match registered {
        Some(name) => name.to_string(),
        None => format_oid(storage_type),
    }
}

/// hrStorageSize/Used are Integer32: agents with large disks overflow them into negative
/// numbers. Reading the 32 bits as unsigned recovers sizes up to 2^32 units.
fn storage_units(value: &SnmpValue) -> Option<u64> {
    match value {
        SnmpValue::Integer(n) if *n < 0 => Some(u64::from(*n as u32)),
        other => other.as_unsigned(),
    }
}

fn decode_processors(processors: &Table, decoded: &mut Decoded) {
    let mut load = FamilyBuilder::catalog("ispmonitor_cpu_load_ratio");
    for index in processors.column_indices(HR_PROCESSOR_LOAD) {
        let Some(value) = processors.value(HR_PROCESSOR_LOAD, &index) else {
            continue;
        };
        match value.as_unsigned() {
            Some(percent) => load.push(
                vec![format_oid(&index)],
                Value::Float(percent as f64 / 100.0),
            ),
            None => decoded.skipped += 1,
        }
    }
    decoded.push(load);
}

/// One storage row's numbers, all present and numeric.
fn storage_bytes(storage: &Table, index: &Oid) -> Option<(u64, u64)> {
    let read = |column| storage.value(column, index).and_then(storage_units);
    let unit = read(HR_STORAGE_ALLOCATION_UNITS)?;
    let size = read(HR_STORAGE_SIZE)?;
    let used = read(HR_STORAGE_USED)?;
    Some((size.saturating_mul(unit), used.saturating_mul(unit)))
}

fn decode_storage(storage: &Table, decoded: &mut Decoded) {
    let mut size = FamilyBuilder::catalog("ispmonitor_storage_size_bytes");
    let mut used = FamilyBuilder::catalog("ispmonitor_storage_used_bytes");
    let indices = storage.indices();
    // Two areas with the same description get `_<index>` appended, as interfaces do.
    let names: BTreeMap<Oid, String> = indices
        .iter()
        .map(|index| {
            let name = non_empty_label(storage.value(HR_STORAGE_DESCR, index))
                .unwrap_or_else(|| format_oid(index));
            (index.clone(), name)
        })
        .collect();
    let names = unique_names(names);
    for index in &indices {
        let Some((size_bytes, used_bytes)) = storage_bytes(storage, index) else {
            // A row whose numbers are present but not numeric is skipped and counted.
            let present = [
                HR_STORAGE_ALLOCATION_UNITS,
                HR_STORAGE_SIZE,
                HR_STORAGE_USED,
            ]
            .iter()
            .all(|&column| storage.value(column, index).is_some());
            decoded.skipped += usize::from(present);
            continue;
        };
        let storage_type = match storage.value(HR_STORAGE_TYPE, index) {
            Some(SnmpValue::ObjectIdentifier(oid)) => storage_type_name(oid),
            _ => "unknown".to_string(),
        };
        let name = names.get(index).cloned().unwrap_or_default();
        let labels = vec![name, storage_type];
        size.push(labels.clone(), Value::Int(size_bytes));
        used.push(labels, Value::Int(used_bytes));
    }
    decoded.push(size);
    decoded.push(used);
}

/// Decodes walked hrProcessorTable and hrStorageTable columns.
pub fn decode(processors: &Table, storage: &Table) -> Decoded {
    let mut decoded = Decoded::default();
    decode_processors(processors, &mut decoded);
    decode_storage(storage, &mut decoded);
    decoded
}

#[cfg(test)]
mod tests {
    use super::*;

    fn storage_row(
        index: u32,
        descr: &str,
        kind: u32,
        numbers: [i64; 3],
    ) -> Vec<(u32, Vec<u32>, SnmpValue)> {
        let mut storage_type = HR_STORAGE_TYPES.to_vec();
        storage_type.push(kind);
        vec![
            (
                HR_STORAGE_TYPE,
                vec![index],
                SnmpValue::ObjectIdentifier(storage_type),
            ),
            (
                HR_STORAGE_DESCR,
                vec![index],
                SnmpValue::OctetString(descr.as_bytes().to_vec()),
            ),
            (
                HR_STORAGE_ALLOCATION_UNITS,
                vec![index],
                SnmpValue::Integer(numbers[0]),
            ),
            (HR_STORAGE_SIZE, vec![index], SnmpValue::Integer(numbers[1])),
            (HR_STORAGE_USED, vec![index], SnmpValue::Integer(numbers[2])),
        ]
    }

    fn table(rows: Vec<(u32, Vec<u32>, SnmpValue)>) -> Table {
        let cells: Vec<(u32, &[u32], SnmpValue)> = rows
            .iter()
            .map(|(c, i, v)| (*c, i.as_slice(), v.clone()))
            .collect();
        Table::from_cells(&cells)
    }

    #[test]
    fn storage_is_units_times_allocation_and_types_have_short_names() {
        let mut rows = storage_row(1, "Physical memory", 2, [1024, 1000, 250]);
        rows.extend(storage_row(36, "/", 4, [4096, 10, 5]));
        let decoded = decode(&Table::default(), &table(rows));
        let size = &decoded.families[0];
        assert_eq!(&*size.desc.name, "ispmonitor_storage_size_bytes");
        assert_eq!(size.samples[0].value, Value::Int(1_024_000));
        assert_eq!(size.samples[0].labels.values()[0], "Physical memory");
        assert_eq!(size.samples[0].labels.values()[1], "ram");
        assert_eq!(size.samples[1].labels.values()[1], "fixed_disk");
        assert_eq!(decoded.families[1].samples[1].value, Value::Int(20_480));
    }

    #[test]
    fn negative_integer32_sizes_are_read_as_unsigned() {
        let rows = storage_row(1, "/big", 4, [4096, -1, 0]);
        let decoded = decode(&Table::default(), &table(rows));
        assert_eq!(
            decoded.families[0].samples[0].value,
            Value::Int(u64::from(u32::MAX) * 4096)
        );
    }

    #[test]
    fn cpu_load_is_a_ratio_per_device_index() {
        let processors = Table::from_cells(&[
            (HR_PROCESSOR_LOAD, &[196_608], SnmpValue::Integer(7)),
            (
                HR_PROCESSOR_LOAD,
                &[196_609],
                SnmpValue::OctetString(b"?".to_vec()),
            ),
        ]);
        let decoded = decode(&processors, &Table::default());
        let load = &decoded.families[0];
        assert_eq!(load.samples.len(), 1);
        assert_eq!(load.samples[0].labels.values()[0], "196608");
        assert_eq!(load.samples[0].value, Value::Float(0.07));
        assert_eq!(decoded.skipped, 1);
    }

    #[test]
    fn unknown_storage_types_keep_their_oid() {
        assert_eq!(storage_type_name(&[1, 3, 6, 1, 4, 1, 9]), "1.3.6.1.4.1.9");
        assert_eq!(
            storage_type_name(&[1, 3, 6, 1, 2, 1, 25, 2, 1, 3]),
            "virtual_memory"
        );
    }
}
