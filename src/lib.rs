//! ispmonitor: a Prometheus-native SNMP/SSH/ICMP poller and exporter for ISPs and server fleets.

pub mod admin;
pub mod api;
pub mod app;
pub mod build_info;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod demo;
pub mod diagnostics;
pub mod error_text;
pub mod file_limit;
#[doc(hidden)]
pub mod fuzzing;
pub mod healthcheck;
pub mod inventory;
pub mod license;
pub mod lifecycle;
pub mod memory;
pub mod metrics;
pub mod poller;
pub mod simulator;
pub mod store;
pub mod telemetry;
pub mod web;
