//! Where the simulated devices listen: one loopback address per device counting up from
//! `--listen` (crossing octets), or consecutive ports of one address.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// How devices are spread over sockets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Device `i` listens on `listen + i`, all on the same port (127.0.0.0/8 has room for 16
    /// million).
    Addresses,
    /// Device `i` listens on `listen`, port `port + i`.
    Ports,
}

/// The sockets of a fleet, before binding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FleetAddresses {
    pub listen: IpAddr,
    /// 0 lets the system choose a free port for every device.
    pub port: u16,
    pub devices: u32,
    pub layout: Layout,
}

/// Why a fleet's addresses cannot be allocated; the message names the flag to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FleetError {
    #[error("--devices must be at least 1")]
    NoDevices,
    #[error("--listen {0} is not in 127.0.0.0/8: one address per device is only possible on IPv4 loopback (use --consecutive-ports for other addresses)")]
    NotLoopback(IpAddr),
    #[error("--devices {devices} from --listen {first} would leave 127.0.0.0/8 (the last address would be past 127.255.255.254); lower --devices or start lower")]
    PastLoopback { first: Ipv4Addr, devices: u32 },
    #[error("--devices {devices} from --port {first} needs ports up to {last}, above 65535; lower --devices or --port")]
    PastLastPort { first: u16, devices: u32, last: u64 },
    #[error("--consecutive-ports needs a --port other than 0 (the ports count up from it)")]
    ConsecutiveFromZero,
}

impl FleetAddresses {
    /// Every device's socket address, in device order.
    pub fn allocate(&self) -> Result<Vec<SocketAddr>, FleetError> {
        if self.devices == 0 {
            return Err(FleetError::NoDevices);
        }
        match self.layout {
            Layout::Addresses => self.by_address(),
            Layout::Ports => self.by_port(),
        }
    }

    fn by_address(&self) -> Result<Vec<SocketAddr>, FleetError> {
        let IpAddr::V4(first) = self.listen else {
            return Err(FleetError::NotLoopback(self.listen));
        };
        if !first.is_loopback() {
            return Err(FleetError::NotLoopback(self.listen));
        }
        let start = u32::from(first);
        // 127.255.255.255 is the loopback broadcast address: not a device.
        let last_usable = u32::from(Ipv4Addr::new(127, 255, 255, 254));
        let fits = start
            .checked_add(self.devices - 1)
            .is_some_and(|last| last <= last_usable);
        if !fits {
            return Err(FleetError::PastLoopback {
                first,
                devices: self.devices,
            });
        }
        Ok((0..self.devices)
            .map(|i| SocketAddr::new(IpAddr::V4(Ipv4Addr::from(start + i)), self.port))
            .collect())
    }

    fn by_port(&self) -> Result<Vec<SocketAddr>, FleetError> {
        if self.port == 0 {
            return Err(FleetError::ConsecutiveFromZero);
        }
        let last = u64::from(self.port) + u64::from(self.devices) - 1;
        if last > u64::from(u16::MAX) {
            return Err(FleetError::PastLastPort {
                first: self.port,
                devices: self.devices,
                last,
            });
        }
        Ok((0..self.devices)
            .map(|i| SocketAddr::new(self.listen, self.port + i as u16))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fleet(listen: &str, port: u16, devices: u32, layout: Layout) -> FleetAddresses {
        FleetAddresses {
            listen: listen.parse().unwrap(),
            port,
            devices,
            layout,
        }
    }

    #[test]
    fn addresses_count_up_across_octets() {
        let addrs = fleet("127.1.0.254", 161, 4, Layout::Addresses)
            .allocate()
            .unwrap();
        let shown: Vec<String> = addrs.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "127.1.0.254:161",
                "127.1.0.255:161",
                "127.1.1.0:161",
                "127.1.1.1:161"
            ]
        );
        let many = fleet("127.1.0.1", 161, 70_000, Layout::Addresses)
            .allocate()
            .unwrap();
        assert_eq!(many.last().unwrap().to_string(), "127.2.17.112:161");
    }

    #[test]
    fn addresses_must_stay_inside_loopback() {
        let edge = fleet("127.255.255.250", 161, 5, Layout::Addresses);
        assert_eq!(edge.allocate().unwrap().len(), 5);
        let past = fleet("127.255.255.250", 161, 6, Layout::Addresses);
        let message = past.allocate().unwrap_err().to_string();
        assert!(
            message.contains("--devices 6") && message.contains("127.0.0.0/8"),
            "{message}"
        );
        let outside = fleet("10.0.0.1", 161, 1, Layout::Addresses).allocate();
        assert!(outside
            .unwrap_err()
            .to_string()
            .contains("--listen 10.0.0.1"));
        let v6 = fleet("::1", 161, 1, Layout::Addresses).allocate();
        assert!(matches!(v6, Err(FleetError::NotLoopback(_))));
    }

    #[test]
    fn consecutive_ports_stop_at_65535() {
        let ok = fleet("::1", 65_530, 6, Layout::Ports).allocate().unwrap();
        assert_eq!(ok.last().unwrap().to_string(), "[::1]:65535");
        let past = fleet("127.0.0.1", 65_530, 7, Layout::Ports).allocate();
        let message = past.unwrap_err().to_string();
        assert!(
            message.contains("--port 65530") && message.contains("65536"),
            "{message}"
        );
        assert_eq!(
            fleet("127.0.0.1", 0, 2, Layout::Ports).allocate(),
            Err(FleetError::ConsecutiveFromZero)
        );
        assert_eq!(
            fleet("127.0.0.1", 161, 0, Layout::Ports).allocate(),
            Err(FleetError::NoDevices)
        );
    }
}
