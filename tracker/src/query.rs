//! `query` (not yet written).
