//! `/proc/stat`: CPU time per mode (aggregate `cpu` line), the number of CPUs, boot time.

use super::{number, ParseError};

const SOURCE: &str = "/proc/stat";

/// The modes of the `cpu` line, in kernel order. `guest` and `guest_nice` follow them but are
/// already counted in `user` and `nice`, so they are left out (as node_exporter's sum does).
pub const CPU_MODES: [&str; 8] = [
    "user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuStat {
    /// (mode, jiffies) for every mode this kernel reports (older kernels have fewer).
    pub modes: Vec<(&'static str, u64)>,
    /// Number of `cpuN` lines.
    pub cpus: u64,
    /// `btime`: unix time of boot.
    pub boot_time: Option<u64>,
}

pub fn parse_stat(text: &str) -> Result<CpuStat, ParseError> {
    let mut modes = None;
    let mut cpus = 0;
    let mut boot_time = None;
    for (index, line) in text.lines().enumerate() {
        let mut fields = line.split_whitespace();
        let Some(key) = fields.next() else { continue };
        if key == "cpu" {
            modes = Some(cpu_modes(fields, index)?);
        } else if key.starts_with("cpu") && key[3..].bytes().all(|b| b.is_ascii_digit()) {
            cpus += 1;
        } else if key == "btime" {
            let value = fields.next().ok_or(ParseError::malformed(SOURCE, index))?;
            boot_time = Some(number(value, SOURCE, index)?);
        }
    }
    let modes = modes.ok_or(ParseError::Missing(SOURCE))?;
    if cpus == 0 {
        return Err(ParseError::Missing(SOURCE));
    }
    Ok(CpuStat {
        modes,
        cpus,
        boot_time,
    })
}

fn cpu_modes<'a>(
    fields: impl Iterator<Item = &'a str>,
    index: usize,
) -> Result<Vec<(&'static str, u64)>, ParseError> {
    let modes: Vec<(&'static str, u64)> = CPU_MODES
        .iter()
        .zip(fields)
        .map(|(mode, value)| Ok((*mode, number(value, SOURCE, index)?)))
        .collect::<Result<_, ParseError>>()?;
    // Linux 2.4 already had user, nice, system and idle.
    if modes.len() < 4 {
        return Err(ParseError::malformed(SOURCE, index));
    }
    Ok(modes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_6_with_ten_fields() {
        let stat = parse_stat(include_str!("testdata/stat_kernel6_2cpu.txt")).unwrap();
        assert_eq!(stat.cpus, 2);
        assert_eq!(stat.modes.len(), 8, "guest and guest_nice are left out");
        assert_eq!(stat.modes[0], ("user", 23730));
        assert_eq!(stat.modes[3], ("idle", 43670));
        assert_eq!(stat.modes[7], ("steal", 24));
        assert_eq!(stat.boot_time, Some(1795224114));
    }

    #[test]
    fn linux_2_6_with_eight_fields_and_four_cpus() {
        let stat = parse_stat(include_str!("testdata/stat_linux26_8fields.txt")).unwrap();
        assert_eq!(stat.cpus, 4);
        assert_eq!(stat.modes.len(), 8);
        assert_eq!(stat.modes[4], ("iowait", 6290));
        assert_eq!(stat.boot_time, Some(1062191376));
    }

    #[test]
    fn old_four_field_line_and_errors() {
        let stat = parse_stat("cpu 1 2 3 4\ncpu0 1 2 3 4\n").unwrap();
        assert_eq!(stat.modes.len(), 4);
        assert_eq!(stat.boot_time, None);
        assert_eq!(
            parse_stat("cpu 1 x 3 4\ncpu0 1 2 3 4\n"),
            Err(ParseError::Malformed {
                source_name: SOURCE,
                line: 1
            })
        );
        assert_eq!(parse_stat("intr 1\n"), Err(ParseError::Missing(SOURCE)));
    }
}
