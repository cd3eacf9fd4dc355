//! `/proc/diskstats`: bytes read and written per whole disk. Sectors are always 512 bytes here,
//! whatever the device's real sector size (kernel Documentation/admin-guide/iostats.rst).

use super::{number, ParseError};

const SOURCE: &str = "/proc/diskstats";
const SECTOR_BYTES: u64 = 512;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskStat {
    pub device: String,
    pub read_bytes: u64,
    pub written_bytes: u64,
}

/// Whole disks only: partitions would count the same bytes twice in a `sum()`, and loop, ram,
/// zram and floppy devices are not disks. Lines have 14 fields (Linux < 4.18), 18 (discard
/// stats, 4.18+) or 20 (flush stats, 5.5+); partitions on Linux < 2.6.25 have 7.
pub fn parse_diskstats(text: &str) -> Result<Vec<DiskStat>, ParseError> {
    let mut all = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (read_sectors, written_sectors) = match fields.len() {
            0 => continue,
            7 => (fields[4], fields[6]),
            n if n >= 14 => (fields[5], fields[9]),
            _ => return Err(ParseError::malformed(SOURCE, index)),
        };
        all.push(DiskStat {
            device: fields[2].to_string(),
            read_bytes: number(read_sectors, SOURCE, index)?.saturating_mul(SECTOR_BYTES),
            written_bytes: number(written_sectors, SOURCE, index)?.saturating_mul(SECTOR_BYTES),
        });
    }
    let names: Vec<String> = all.iter().map(|d| d.device.clone()).collect();
    all.retain(|disk| is_whole_disk(&disk.device, &names));
    Ok(all)
}

fn is_whole_disk(device: &str, all: &[String]) -> bool {
    const NOT_DISKS: [&str; 4] = ["loop", "ram", "zram", "fd"];
    if NOT_DISKS.iter().any(|prefix| {
        device
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.bytes().all(|b| b.is_ascii_digit()))
    }) {
        return false;
    }
    !partition_parent(device).is_some_and(|parent| all.iter().any(|name| name == parent))
}

/// `sda1` -> `sda`, `nvme0n1p2` -> `nvme0n1`, `mmcblk0p3` -> `mmcblk0`; `None` without a
/// trailing number. A device is a partition when that parent is listed too.
fn partition_parent(device: &str) -> Option<&str> {
    let without_number = device.trim_end_matches(|c: char| c.is_ascii_digit());
    if without_number.len() == device.len() {
        return None;
    }
    let parent = match without_number.strip_suffix('p') {
        Some(base) if base.ends_with(|c: char| c.is_ascii_digit()) => base,
        _ => without_number,
    };
    Some(parent)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find<'a>(disks: &'a [DiskStat], name: &str) -> Option<&'a DiskStat> {
        disks.iter().find(|d| d.device == name)
    }

    #[test]
    fn fourteen_fields_whole_disks_only() {
        let disks = parse_diskstats(include_str!("testdata/diskstats_14_fields.txt")).unwrap();
        let names: Vec<&str> = disks.iter().map(|d| d.device.as_str()).collect();
        assert_eq!(names, ["sda", "sr0", "dm-0", "nvme0n1"]);
        let sda = find(&disks, "sda").unwrap();
        assert_eq!(sda.read_bytes, 53312826 * 512);
        assert_eq!(sda.written_bytes, 104611176 * 512);
    }

    #[test]
    fn eighteen_fields() {
        let disks = parse_diskstats(include_str!("testdata/diskstats_18_fields.txt")).unwrap();
        let names: Vec<&str> = disks.iter().map(|d| d.device.as_str()).collect();
        assert_eq!(names, ["vda", "sr0"]);
        assert_eq!(find(&disks, "vda").unwrap().written_bytes, 3812506 * 512);
    }

    #[test]
    fn twenty_fields_skip_zram() {
        let disks = parse_diskstats(include_str!("testdata/diskstats_20_fields.txt")).unwrap();
        assert_eq!(disks.len(), 1);
        assert_eq!(disks[0].device, "vda");
        assert_eq!(disks[0].read_bytes, 4555098 * 512);
        assert_eq!(disks[0].written_bytes, 13540120 * 512);
    }

    #[test]
    fn linux_2_6_seven_field_partitions() {
        let text = include_str!("testdata/diskstats_linux26_partition_7fields.txt");
        let disks = parse_diskstats(text).unwrap();
        assert_eq!(disks.len(), 1);
        assert_eq!(disks[0].read_bytes, 9550688 * 512);
        assert!(parse_diskstats("8 0 sda 1 2 3\n").is_err());
    }

    #[test]
    fn partition_parents() {
        assert_eq!(partition_parent("sda1"), Some("sda"));
        assert_eq!(partition_parent("nvme0n1p2"), Some("nvme0n1"));
        assert_eq!(partition_parent("mmcblk0p3"), Some("mmcblk0"));
        assert_eq!(partition_parent("sda"), None);
    }
}
