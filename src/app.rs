//! app (being written).
