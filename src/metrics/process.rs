//! The standard `process_*` families (client_golang's process collector), read from /proc/self.

use super::encode::Encoder;
use crate::catalog::desc;
use crate::file_limit;
use crate::poller::outcome::Value;

/// What the kernel says about this process. A field is `None` when its source could not be
/// read (not Linux, /proc not mounted): its family is then left out rather than faked.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProcessStats {
    pub cpu_seconds: Option<f64>,
    pub resident_bytes: Option<u64>,
    pub virtual_bytes: Option<u64>,
    pub open_fds: Option<u64>,
    pub max_fds: Option<u64>,
    pub start_time_seconds: Option<f64>,
    pub threads: Option<u64>,
}

/// The fields of `/proc/PID/stat` the families need, in the kernel's units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatFields {
    pub utime_ticks: u64,
    pub stime_ticks: u64,
    pub threads: u64,
    /// Clock ticks after boot at which the process started.
    pub start_ticks: u64,
    pub vsize_bytes: u64,
    pub rss_pages: u64,
}

/// Parses a `/proc/PID/stat` line. The command name (field 2) is in parentheses and may hold
/// spaces and parentheses itself, so the numbered fields are counted from the last `)`.
pub fn parse_stat(line: &str) -> Option<StatFields> {
    let after_name = &line[line.rfind(')')? + 1..];
    // proc(5) numbers fields from 1; the first after the name is field 3 (state).
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let field = |n: usize| -> Option<u64> { fields.get(n - 3)?.parse().ok() };
    Some(StatFields {
        utime_ticks: field(14)?,
        stime_ticks: field(15)?,
        threads: field(20)?,
        start_ticks: field(22)?,
        vsize_bytes: field(23)?,
        rss_pages: field(24)?,
    })
}

/// The boot time (Unix seconds) from the `btime` line of `/proc/stat`.
pub fn parse_boot_time(proc_stat: &str) -> Option<u64> {
    proc_stat
        .lines()
        .find_map(|line| line.strip_prefix("btime "))
        .and_then(|value| value.trim().parse().ok())
}

/// Turns the raw readings into the families' values. `boot_time` and the two sysconf values
/// are separate so a missing `/proc/stat` costs only the start time.
pub fn from_stat(
    stat: StatFields,
    ticks_per_second: u64,
    page_bytes: u64,
    boot_time: Option<u64>,
) -> ProcessStats {
    let ticks = ticks_per_second as f64;
    ProcessStats {
        cpu_seconds: Some((stat.utime_ticks + stat.stime_ticks) as f64 / ticks),
        resident_bytes: Some(stat.rss_pages * page_bytes),
        virtual_bytes: Some(stat.vsize_bytes),
        threads: Some(stat.threads),
        start_time_seconds: boot_time.map(|boot| boot as f64 + stat.start_ticks as f64 / ticks),
        ..ProcessStats::default()
    }
}

/// A positive sysconf value, or None when the system does not know it.
#[cfg(target_os = "linux")]
fn sysconf(name: libc::c_int) -> Option<u64> {
    // SAFETY: sysconf takes a constant and touches no memory of ours.
    let value = unsafe { libc::sysconf(name) };
    (value > 0).then_some(value as u64)
}

/// Reads /proc/self now: a few small files and one directory listing, no waiting on devices.
#[cfg(target_os = "linux")]
pub fn read() -> ProcessStats {
    let stat = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|line| parse_stat(&line));
    let ticks = sysconf(libc::_SC_CLK_TCK);
    let page = sysconf(libc::_SC_PAGESIZE);
    let mut stats = match (stat, ticks, page) {
        (Some(stat), Some(ticks), Some(page)) => {
            let boot = std::fs::read_to_string("/proc/stat")
                .ok()
                .and_then(|text| parse_boot_time(&text));
            from_stat(stat, ticks, page, boot)
        }
        _ => ProcessStats::default(),
    };
    // The listing holds one descriptor of its own while it runs, as client_golang's does.
    stats.open_fds = std::fs::read_dir("/proc/self/fd")
        .ok()
        .map(|entries| entries.count() as u64);
    stats.max_fds = file_limit::current().ok().map(|limit| limit.soft);
    stats
}

/// Without Linux' /proc none of the families can be read honestly.
#[cfg(not(target_os = "linux"))]
pub fn read() -> ProcessStats {
    ProcessStats::default()
}

/// Writes the families whose values could be read, each with client_golang's HELP text.
pub fn write_process_families(enc: &mut Encoder, stats: &ProcessStats) {
    let floats = [
        ("process_cpu_seconds_total", stats.cpu_seconds),
        ("process_start_time_seconds", stats.start_time_seconds),
    ];
    let ints = [
        ("process_resident_memory_bytes", stats.resident_bytes),
        ("process_virtual_memory_bytes", stats.virtual_bytes),
        ("process_open_fds", stats.open_fds),
        ("process_max_fds", stats.max_fds),
        ("process_threads", stats.threads),
    ];
    let values = floats
        .into_iter()
        .map(|(name, v)| (name, v.map(Value::Float)))
        .chain(ints.into_iter().map(|(name, v)| (name, v.map(Value::Int))));
    for (name, value) in values {
        if let Some(value) = value {
            enc.family(&desc(name));
            enc.sample(name, [], value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Format;

    /// A real line, read while a copy of python3 named `my (odd) name` spun three threads.
    const ODD_NAME: &str = "13712 (my (odd) name) S 1 13666 12242 0 -1 4194304 2005 0 0 0 \
        113 69 0 0 20 0 4 0 50598 243519488 3342 18446744073709551615 94200371580928 \
        94200371581269 140730215877712 0 0 0 0 16781318 0 0 0 0 17 0 0 0 0 0 0 94200371592624 \
        94200371593240 94200412803072 140730215881229 140730215881447 140730215881447 \
        140730215882725 0";

    #[test]
    fn stat_fields_are_counted_from_the_last_parenthesis() {
        let fields = parse_stat(ODD_NAME).expect("parses");
        assert_eq!(
            fields,
            StatFields {
                utime_ticks: 113,
                stime_ticks: 69,
                threads: 4,
                start_ticks: 50598,
                vsize_bytes: 243519488,
                rss_pages: 3342,
            }
        );
    }

    #[test]
    fn a_truncated_or_nameless_stat_line_is_refused() {
        assert_eq!(parse_stat("1234 my name S 1 2 3"), None);
        let cut = &ODD_NAME[..ODD_NAME.find(" 50598").unwrap()];
        assert_eq!(parse_stat(cut), None);
        assert_eq!(parse_stat(&ODD_NAME.replace(" 113 ", " x ")), None);
    }

    #[test]
    fn boot_time_comes_from_the_btime_line() {
        let proc_stat = "cpu  1 2 3 4\nintr 5 6\nctxt 7\nbtime 1700000000\nprocesses 9\n";
        assert_eq!(parse_boot_time(proc_stat), Some(1_700_000_000));
        assert_eq!(parse_boot_time("cpu  1 2 3 4\n"), None);
    }

    #[test]
    fn values_are_converted_to_base_units() {
        let fields = parse_stat(ODD_NAME).unwrap();
        let stats = from_stat(fields, 100, 4096, Some(1_700_000_000));
        assert_eq!(stats.cpu_seconds, Some(1.82));
        assert_eq!(stats.resident_bytes, Some(3342 * 4096));
        assert_eq!(stats.virtual_bytes, Some(243519488));
        assert_eq!(stats.threads, Some(4));
        assert_eq!(stats.start_time_seconds, Some(1_700_000_000.0 + 505.98));
        let no_boot = from_stat(fields, 100, 4096, None);
        assert_eq!(no_boot.start_time_seconds, None);
    }

    #[test]
    fn unreadable_values_leave_their_family_out() {
        let stats = ProcessStats {
            open_fds: Some(12),
            ..ProcessStats::default()
        };
        let mut enc = Encoder::new(Format::Text);
        write_process_families(&mut enc, &stats);
        let text = enc.finish();
        assert_eq!(
            text,
            "# HELP process_open_fds Number of open file descriptors.\n\
             # TYPE process_open_fds gauge\n\
             process_open_fds 12\n"
        );
    }

    #[test]
    fn every_family_is_written_in_both_formats() {
        let stats = ProcessStats {
            cpu_seconds: Some(1.5),
            resident_bytes: Some(1),
            virtual_bytes: Some(2),
            open_fds: Some(3),
            max_fds: Some(4),
            start_time_seconds: Some(5.25),
            threads: Some(6),
        };
        let mut enc = Encoder::new(Format::OpenMetrics);
        write_process_families(&mut enc, &stats);
        let text = enc.finish();
        assert!(
            text.contains("# TYPE process_cpu_seconds counter\n"),
            "{text}"
        );
        assert!(text.contains("process_cpu_seconds_total 1.5\n"), "{text}");
        for line in [
            "process_start_time_seconds 5.25\n",
            "process_resident_memory_bytes 1\n",
            "process_virtual_memory_bytes 2\n",
            "process_open_fds 3\n",
            "process_max_fds 4\n",
            "process_threads 6\n",
        ] {
            assert!(text.contains(line), "missing {line}: {text}");
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn this_process_reads_as_itself() {
        let stats = read();
        assert!(stats.cpu_seconds.is_some());
        assert!(stats.resident_bytes.unwrap() > 0);
        assert!(stats.open_fds.unwrap() >= 3);
        assert_eq!(stats.max_fds, Some(file_limit::current().unwrap().soft));
        assert!(stats.threads.unwrap() >= 1);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let started = stats.start_time_seconds.unwrap();
        assert!(started <= now + 1.0 && started > now - 3600.0, "{started}");
    }
}
