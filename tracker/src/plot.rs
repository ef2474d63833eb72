//! `plot` (not yet written).
