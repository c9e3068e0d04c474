#![deny(dead_code)]

#[backstage_telemetry::span(plugin = "catalog")]
fn never_called() -> u32 {
    1
}

fn main() {}
