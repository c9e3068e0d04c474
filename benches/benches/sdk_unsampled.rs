//! The SDK installed, spans not sampled (`AlwaysOff`).

#[macro_use]
mod common;

benchmarks!();

fn main() {
    common::install_sdk(false);
    common::bench();
}
