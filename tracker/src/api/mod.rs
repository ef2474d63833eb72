//! The HTTP API (not yet written).
