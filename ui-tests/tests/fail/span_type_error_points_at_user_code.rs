#[backstage_telemetry::span(plugin = "catalog")]
fn count() -> u32 {
    "three"
}

fn main() {}
