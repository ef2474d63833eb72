//! `client` (not yet written).
