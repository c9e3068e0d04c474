#[backstage_telemetry::backstage_plugin(id = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")]
mod catalog {}

fn main() {}
