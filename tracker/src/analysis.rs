//! `analysis` (not yet written).
