//! The device simulator: SNMP agents (and, for MikroTik devices, the RouterOS API) on loopback
//! serving deterministic, plausible routers.

pub mod agent;
pub mod control;
pub mod credentials;
pub mod device;
pub mod fleet;
pub mod mib;
pub mod routeros;
pub mod scenario;
pub mod seed;
pub mod service;
pub mod write_config;
