//! RouterOS API polling of MikroTik routers: the word codec, one persistent connection per
//! router (plain TCP 8728 or TLS 8729), count-only collection, metric families of the
//! catalogue's RouterOS section.

pub mod word;
