//! No SDK installed: the cost of instrumented code in a process that exports nothing.

#[macro_use]
mod common;

benchmarks!();

fn main() {
    common::install_none();
    common::bench();
}
