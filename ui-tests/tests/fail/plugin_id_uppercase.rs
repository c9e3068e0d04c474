#[backstage_telemetry::backstage_plugin(id = "Catalog")]
mod catalog {}

fn main() {}
