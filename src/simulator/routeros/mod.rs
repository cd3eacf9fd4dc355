//! The RouterOS API of the simulated MikroTik routers: one TCP listener per device (plain, and
//! API-SSL with a certificate), the login, the print menus the poller reads, fault knobs.

pub mod faults;
pub mod model;
pub mod respond;
pub mod server;
pub mod stats;
