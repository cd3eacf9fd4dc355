//! Build facts (version, git revision, rustc) for `--version` and `ispmonitor_build_info`.

pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// Short git revision at build time, or "unknown" outside a git checkout.
pub const REVISION: &str = env!("ISPMONITOR_GIT_REVISION");
pub const RUSTC_VERSION: &str = env!("ISPMONITOR_RUSTC_VERSION");

/// The `--version` line: `ispmonitor 0.1.0 (revision abc1234, rustc 1.95.0)`.
pub fn long_version() -> &'static str {
    concat!(
        env!("CARGO_PKG_VERSION"),
        " (revision ",
        env!("ISPMONITOR_GIT_REVISION"),
        ", rustc ",
        env!("ISPMONITOR_RUSTC_VERSION"),
        ")"
    )
}
