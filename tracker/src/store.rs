//! `store` (not yet written).
