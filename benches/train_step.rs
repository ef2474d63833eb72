//! Criterion benchmarks (not yet written).
fn main() {}
