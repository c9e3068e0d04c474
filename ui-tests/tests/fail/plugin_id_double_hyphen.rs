#[backstage_telemetry::backstage_plugin(id = "tech--insights")]
mod insights {}

fn main() {}
