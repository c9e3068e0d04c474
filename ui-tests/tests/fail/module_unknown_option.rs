#[backstage_telemetry::backstage_plugin(id = "catalog", name = "Catalog")]
mod catalog {}

fn main() {}
