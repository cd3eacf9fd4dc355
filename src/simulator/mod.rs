//! The device simulator: SNMP agents on loopback serving deterministic, plausible routers.

pub mod device;
pub mod mib;
pub mod scenario;
pub mod seed;
