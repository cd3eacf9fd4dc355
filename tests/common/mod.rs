//! Shared test support: real peers and the ispmonitor binary.
#![allow(dead_code)]

pub mod http;
pub mod ispmonitor;
