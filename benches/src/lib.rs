//! Benchmarks: see `benches/` and BENCHMARKS.md.
