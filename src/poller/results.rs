//! Latest results (being written).
