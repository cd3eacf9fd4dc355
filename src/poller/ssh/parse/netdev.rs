//! `/proc/net/dev`: bytes received and transmitted per network interface.

use super::{number, ParseError};

const SOURCE: &str = "/proc/net/dev";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetDev {
    pub device: String,
    pub receive_bytes: u64,
    pub transmit_bytes: u64,
}

/// Two header lines, then `name: 16 counters`. Old kernels print no space after the colon
/// when the first counter is wide (`eth0:4294967296000`), so the name is split at the colon.
pub fn parse_netdev(text: &str) -> Result<Vec<NetDev>, ParseError> {
    let mut devices = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let Some((name, counters)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        if name.is_empty() || name.contains('|') {
            continue;
        }
        let fields: Vec<&str> = counters.split_whitespace().collect();
        if fields.len() < 9 {
            return Err(ParseError::malformed(SOURCE, index));
        }
        devices.push(NetDev {
            device: name.to_string(),
            receive_bytes: number(fields[0], SOURCE, index)?,
            transmit_bytes: number(fields[8], SOURCE, index)?,
        });
    }
    Ok(devices)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_6_lists_loopback() {
        let devices = parse_netdev(include_str!("testdata/netdev_kernel6.txt")).unwrap();
        let lo = devices.iter().find(|d| d.device == "lo").unwrap();
        assert!(lo.receive_bytes > 0);
        assert_eq!(lo.receive_bytes, lo.transmit_bytes);
    }

    #[test]
    fn linux_2_6_without_space_after_colon() {
        let devices = parse_netdev(include_str!("testdata/netdev_linux26.txt")).unwrap();
        assert_eq!(devices.len(), 2);
        assert_eq!(
            devices[1],
            NetDev {
                device: "eth0".into(),
                receive_bytes: 4294967296000,
                transmit_bytes: 9876543210,
            }
        );
        assert!(parse_netdev("eth0: 1 2 3\n").is_err());
    }
}
