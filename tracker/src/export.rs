//! `export` (not yet written).
