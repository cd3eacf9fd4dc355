//! The device simulator: SNMP agents on loopback serving deterministic, plausible routers.

pub mod agent;
pub mod mib;
