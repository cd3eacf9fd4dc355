//! ICMP polling: echo requests over shared sockets, loss counters and an RTT histogram per target;
//! scheduled targets are probed by one batched task (batch.rs), `/probe` by `IcmpPoller`.

pub mod batch;
pub mod classify;
pub mod exchange;
pub mod packet;
pub mod probe;
pub mod sockets;
pub mod stats;
pub mod timeline;

pub use batch::{BatchTarget, IcmpBatch};
pub use probe::{IcmpJob, IcmpPoller};
pub use sockets::{IcmpSockets, SocketMode};

use std::net::IpAddr;

/// The `ip_version` label: which family a target was pinged with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IpVersion {
    V4,
    V6,
}

impl IpVersion {
    pub fn of(address: IpAddr) -> IpVersion {
        match address {
            IpAddr::V4(_) => IpVersion::V4,
            IpAddr::V6(_) => IpVersion::V6,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            IpVersion::V4 => "4",
            IpVersion::V6 => "6",
        }
    }
}
