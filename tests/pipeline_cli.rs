//! (tests not yet written)
