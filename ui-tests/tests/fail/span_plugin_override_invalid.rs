#[backstage_telemetry::span(plugin = "Catalog")]
fn process() {}

fn main() {}
