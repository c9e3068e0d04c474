#[backstage_telemetry::backstage_plugin(id = "_catalog")]
mod catalog {}

fn main() {}
