//! Parsed sources to metric families of the catalogue's "SSH (Linux servers)" section.

use super::command::Sections;
use super::parse::diskstats::parse_diskstats;
use super::parse::filesystems::{is_reported, parse_filesystems, Filesystem};
use super::parse::loadavg::parse_loadavg;
use super::parse::meminfo::parse_meminfo;
use super::parse::netdev::parse_netdev;
use super::parse::stat::parse_stat;
use super::parse::system::{parse_kernel, parse_os_release};
use super::parse::uptime::parse_uptime;
use super::parse::ParseError;
use crate::catalog::desc;
use crate::config::FilesystemFilter;
use crate::poller::outcome::{FamilySamples, Sample, Value};

/// The kernel reports CPU time in USER_HZ ticks, which is 100 on every Linux architecture
/// (`sysconf(_SC_CLK_TCK)`; the internal HZ differs but is never exposed in /proc/stat).
const USER_HZ: f64 = 100.0;

/// What decoding needs besides the output.
pub struct DecodeInput<'a> {
    pub sections: &'a Sections<'a>,
    /// A filesystem is reported when any of the target's SSH modules reports it.
    pub filters: &'a [FilesystemFilter],
    /// Unix time of the poll, for the boot time when `btime` is missing.
    pub now_unix: f64,
    /// Connections opened so far (`ispmonitor_server_ssh_connections_total`).
    pub connections: u64,
}

/// Every family of one poll. A source that cannot be parsed fails the whole poll: a partial
/// set would make dashboards show holes that look like zeros.
pub fn decode(input: &DecodeInput<'_>) -> Result<Vec<FamilySamples>, ParseError> {
    let sections = input.sections;
    let stat = parse_stat(sections.get("stat"))?;
    let memory = parse_meminfo(sections.get("meminfo"))?;
    let load = parse_loadavg(sections.get("loadavg"))?;
    let network = parse_netdev(sections.get("netdev"))?;
    let disks = parse_diskstats(sections.get("diskstats"))?;
    let filesystems = parse_filesystems(sections.get("df"), sections.get("mounts"))?;
    let boot_time = match stat.boot_time {
        Some(btime) => btime as f64,
        None => input.now_unix - parse_uptime(sections.get("uptime"))?,
    };
    let cpu_samples = stat
        .modes
        .iter()
        .map(|(mode, jiffies)| sample(&[("mode", mode)], Value::Float(*jiffies as f64 / USER_HZ)))
        .collect();
    let mut families = vec![
        family("ispmonitor_server_cpu_seconds_total", cpu_samples),
        single("ispmonitor_server_cpus", Value::Int(stat.cpus)),
        single("ispmonitor_server_load1", Value::Float(load.load1)),
        single("ispmonitor_server_load5", Value::Float(load.load5)),
        single("ispmonitor_server_load15", Value::Float(load.load15)),
        single(
            "ispmonitor_server_memory_total_bytes",
            Value::Int(memory.total_bytes),
        ),
        single(
            "ispmonitor_server_memory_available_bytes",
            Value::Int(memory.available_bytes),
        ),
        single(
            "ispmonitor_server_swap_total_bytes",
            Value::Int(memory.swap_total_bytes),
        ),
        single(
            "ispmonitor_server_swap_free_bytes",
            Value::Int(memory.swap_free_bytes),
        ),
        single(
            "ispmonitor_server_boot_time_seconds",
            Value::Float(boot_time),
        ),
        single(
            "ispmonitor_server_ssh_connections_total",
            Value::Int(input.connections),
        ),
    ];
    let reported: Vec<&Filesystem> = filesystems
        .iter()
        .filter(|fs| input.filters.iter().any(|filter| is_reported(fs, filter)))
        .collect();
    families.extend(filesystem_families(&reported));
    families.push(per_device(
        "ispmonitor_server_network_receive_bytes_total",
        network.iter().map(|n| (&n.device, n.receive_bytes)),
    ));
    families.push(per_device(
        "ispmonitor_server_network_transmit_bytes_total",
        network.iter().map(|n| (&n.device, n.transmit_bytes)),
    ));
    families.push(per_device(
        "ispmonitor_server_disk_read_bytes_total",
        disks.iter().map(|d| (&d.device, d.read_bytes)),
    ));
    families.push(per_device(
        "ispmonitor_server_disk_written_bytes_total",
        disks.iter().map(|d| (&d.device, d.written_bytes)),
    ));
    families.push(info_family(sections));
    Ok(families)
}

fn filesystem_families(filesystems: &[&Filesystem]) -> [FamilySamples; 2] {
    let labelled = |value: fn(&Filesystem) -> u64| -> Vec<Sample> {
        filesystems
            .iter()
            .map(|fs| {
                let labels = [
                    ("mountpoint", fs.mountpoint.as_str()),
                    ("device", fs.device.as_str()),
                    ("fstype", fs.fstype.as_str()),
                ];
                sample(&labels, Value::Int(value(fs)))
            })
            .collect()
    };
    [
        family(
            "ispmonitor_server_filesystem_size_bytes",
            labelled(|fs| fs.size_bytes),
        ),
        family(
            "ispmonitor_server_filesystem_avail_bytes",
            labelled(|fs| fs.avail_bytes),
        ),
    ]
}

/// `ispmonitor_server_info`, with `unknown` for what the server did not say.
fn info_family(sections: &Sections<'_>) -> FamilySamples {
    let kernel = parse_kernel(sections.get("kernel")).unwrap_or_else(|| "unknown".into());
    let os = parse_os_release(sections.get("os")).unwrap_or_else(|| "unknown".into());
    family(
        "ispmonitor_server_info",
        vec![sample(&[("kernel", &kernel), ("os", &os)], Value::Int(1))],
    )
}

fn per_device<'a>(name: &str, values: impl Iterator<Item = (&'a String, u64)>) -> FamilySamples {
    let samples = values
        .map(|(device, value)| sample(&[("device", device)], Value::Int(value)))
        .collect();
    family(name, samples)
}

fn sample(labels: &[(&str, &str)], value: Value) -> Sample {
    Sample::new(labels.iter().copied(), value)
}

fn single(name: &str, value: Value) -> FamilySamples {
    family(name, vec![sample(&[], value)])
}

fn family(name: &str, samples: Vec<Sample>) -> FamilySamples {
    FamilySamples {
        desc: desc(name),
        samples,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn output() -> String {
        let section = |name: &str, text: &str| format!("@@ispmonitor@@ {name}\n{text}");
        [
            section(
                "stat",
                include_str!("parse/testdata/stat_linux26_8fields.txt"),
            ),
            section(
                "meminfo",
                include_str!("parse/testdata/meminfo_linux2632_no_memavailable.txt"),
            ),
            section("loadavg", "0.50 1.00 2.00 1/100 42\n"),
            section("uptime", "1000.00 500.00\n"),
            section("netdev", include_str!("parse/testdata/netdev_linux26.txt")),
            section(
                "diskstats",
                include_str!("parse/testdata/diskstats_14_fields.txt"),
            ),
            section("mounts", include_str!("parse/testdata/mounts_gnu.txt")),
            section("df", include_str!("parse/testdata/df_gnu.txt")),
            section("kernel", "2.6.32-754.el6.x86_64\n"),
            section("os", ""),
            "@@ispmonitor@@ end\n".to_string(),
        ]
        .concat()
    }

    fn values(families: &[FamilySamples], name: &str) -> Vec<(Vec<String>, Value)> {
        let family = families.iter().find(|f| &*f.desc.name == name).unwrap();
        family
            .samples
            .iter()
            .map(|s| (s.labels.values(), s.value.clone()))
            .collect()
    }

    #[test]
    fn every_family_from_an_old_server() {
        let text = output();
        let sections = Sections::split(&text).unwrap();
        let filter = crate::config::FilesystemFilter {
            include_fstypes: vec![],
            exclude_fstypes: vec!["tmpfs".into(), "devtmpfs".into(), "overlay".into()],
            include_mountpoints: vec![],
            exclude_mountpoints: vec![],
        };
        let families = decode(&DecodeInput {
            sections: &sections,
            filters: &[filter],
            now_unix: 2_000_000_000.0,
            connections: 3,
        })
        .unwrap();
        let cpu = values(&families, "ispmonitor_server_cpu_seconds_total");
        assert_eq!(cpu[0], (vec!["user".to_string()], Value::Float(22.55)));
        assert_eq!(cpu.len(), 8);
        assert_eq!(
            values(&families, "ispmonitor_server_cpus")[0].1,
            Value::Int(4)
        );
        assert_eq!(
            values(&families, "ispmonitor_server_load15")[0].1,
            Value::Float(2.0)
        );
        assert_eq!(
            values(&families, "ispmonitor_server_boot_time_seconds")[0].1,
            Value::Float(1062191376.0)
        );
        assert_eq!(
            values(&families, "ispmonitor_server_ssh_connections_total")[0].1,
            Value::Int(3)
        );
        let fs = values(&families, "ispmonitor_server_filesystem_size_bytes");
        assert_eq!(fs[0].0, ["/", "/dev/sda1", "ext4"]);
        assert_eq!(fs.len(), 3, "{fs:?}");
        let rx = values(&families, "ispmonitor_server_network_receive_bytes_total");
        assert_eq!(rx[1], (vec!["eth0".to_string()], Value::Int(4294967296000)));
        let info = values(&families, "ispmonitor_server_info");
        assert_eq!(info[0].0, ["2.6.32-754.el6.x86_64", "unknown"]);
    }

    #[test]
    fn boot_time_from_uptime_without_btime_and_parse_errors() {
        let text = output().replace("btime 1062191376\n", "");
        let sections = Sections::split(&text).unwrap();
        let input = DecodeInput {
            sections: &sections,
            filters: &[],
            now_unix: 2_000_000_000.0,
            connections: 1,
        };
        let families = decode(&input).unwrap();
        assert_eq!(
            values(&families, "ispmonitor_server_boot_time_seconds")[0].1,
            Value::Float(1_999_999_000.0)
        );
        assert!(values(&families, "ispmonitor_server_filesystem_size_bytes").is_empty());
        let broken = output().replace("MemTotal:", "MemTotl:");
        let sections = Sections::split(&broken).unwrap();
        let input = DecodeInput {
            sections: &sections,
            ..input
        };
        assert!(decode(&input).is_err());
    }
}
