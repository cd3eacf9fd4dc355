//! `/proc/meminfo`: total and available memory, swap. Values are kB (KiB) in the file.

use super::{number, ParseError};

const SOURCE: &str = "/proc/meminfo";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemInfo {
    pub total_bytes: u64,
    /// `MemAvailable` (Linux >= 3.14); on older kernels `MemFree + Buffers + Cached`, the
    /// estimate `free` used before the kernel provided one.
    pub available_bytes: u64,
    pub swap_total_bytes: u64,
    pub swap_free_bytes: u64,
}

pub fn parse_meminfo(text: &str) -> Result<MemInfo, ParseError> {
    let mut values = std::collections::HashMap::new();
    for (index, line) in text.lines().enumerate() {
        let Some((key, rest)) = line.split_once(':') else {
            continue;
        };
        let mut fields = rest.split_whitespace();
        let Some(value) = fields.next() else {
            return Err(ParseError::malformed(SOURCE, index));
        };
        let value = number(value, SOURCE, index)?;
        let bytes = match fields.next() {
            Some("kB") => value.saturating_mul(1024),
            _ => value,
        };
        values.insert(key.trim(), bytes);
    }
    let get = |key: &str| values.get(key).copied();
    let total_bytes = get("MemTotal").ok_or(ParseError::Missing(SOURCE))?;
    let available_bytes = match get("MemAvailable") {
        Some(available) => available,
        None => {
            let free = get("MemFree").ok_or(ParseError::Missing(SOURCE))?;
            free + get("Buffers").unwrap_or(0) + get("Cached").unwrap_or(0)
        }
    };
    Ok(MemInfo {
        total_bytes,
        available_bytes,
        swap_total_bytes: get("SwapTotal").unwrap_or(0),
        swap_free_bytes: get("SwapFree").unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_6_has_mem_available() {
        let text = include_str!("testdata/meminfo_kernel6.txt");
        let info = parse_meminfo(text).unwrap();
        let line = |key: &str| -> u64 {
            let line = text.lines().find(|l| l.starts_with(key)).unwrap();
            line.split_whitespace()
                .nth(1)
                .unwrap()
                .parse::<u64>()
                .unwrap()
                * 1024
        };
        assert_eq!(info.total_bytes, line("MemTotal:"));
        assert_eq!(info.available_bytes, line("MemAvailable:"));
        assert_eq!(info.swap_total_bytes, line("SwapTotal:"));
    }

    #[test]
    fn linux_2_6_32_without_mem_available_falls_back() {
        let info = parse_meminfo(include_str!(
            "testdata/meminfo_linux2632_no_memavailable.txt"
        ))
        .unwrap();
        assert_eq!(info.total_bytes, 8061200 * 1024);
        assert_eq!(info.available_bytes, (1254420 + 301184 + 4801328) * 1024);
        assert_eq!(info.swap_total_bytes, 4194300 * 1024);
        assert_eq!(info.swap_free_bytes, 4194300 * 1024);
    }

    #[test]
    fn missing_total_and_garbage_are_errors() {
        assert_eq!(
            parse_meminfo("MemFree: 1 kB\n"),
            Err(ParseError::Missing(SOURCE))
        );
        assert!(parse_meminfo("MemTotal: lots kB\n").is_err());
    }
}
