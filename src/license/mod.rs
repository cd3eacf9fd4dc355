//! Licensing: Ed25519-signed license documents verified offline, the license state (pure),
//! the service that keeps it current (file, database, online validation) and the metrics.

pub mod commands;
pub mod document;
pub mod keys;
pub mod metrics;
pub mod online;
pub mod plan;
pub mod service;
pub mod status;
