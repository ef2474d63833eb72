//! `error` (not yet written).
