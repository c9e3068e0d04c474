#[backstage_telemetry::backstage_plugin(id = "catalog", id = "search")]
mod catalog {}

fn main() {}
