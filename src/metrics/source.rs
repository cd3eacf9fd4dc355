//! Families that live outside the poller (the inventory API's), appended to `/metrics`.

use super::encode::Encoder;

/// Another part of the process with families of its own. `encode` runs on every scrape, off
/// the async workers: it only reads memory (no I/O, no waiting), like the collector.
pub trait MetricSource: Send + Sync {
    fn encode(&self, enc: &mut Encoder);
}
