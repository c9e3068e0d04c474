#[backstage_telemetry::backstage_core(id = "data base")]
mod database {}

fn main() {}
