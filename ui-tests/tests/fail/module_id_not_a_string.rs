#[backstage_telemetry::backstage_plugin(id = catalog)]
mod catalog {}

fn main() {}
