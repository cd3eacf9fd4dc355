//! Harnesses shared by the integration tests: real peers started on private loopback ports.
#![allow(dead_code)]

pub mod snmpd;
