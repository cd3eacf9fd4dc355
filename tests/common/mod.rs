//! Harnesses shared by the integration tests: real peers on private loopback ports, and the
//! ispmonitor binary itself.
#![allow(dead_code)]

pub mod api;
pub mod certs;
pub mod faults;
pub mod http;
pub mod inventory_sql;
pub mod ispmonitor;
pub mod license;
pub mod license_server;
pub mod netns;
pub mod netsnmp;
pub mod postgres;
pub mod private_postgres;
pub mod prometheus;
pub mod promtool;
pub mod simulator;
pub mod snmpd;
pub mod sshd;
pub mod udp_relay;
