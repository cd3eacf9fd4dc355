//! Metrics: the exposition encoders and the collector that renders
//! the latest poll results. Depends on the poller; the poller never depends on it.

pub mod collector;
pub mod encode;
pub mod histogram;
pub mod process;
pub mod self_metrics;
pub mod source;

pub use encode::Format;
pub use self_metrics::PollerMetrics;
