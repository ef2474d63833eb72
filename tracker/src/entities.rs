//! `entities` (not yet written).
