//! build_info (being written).
