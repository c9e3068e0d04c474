#[backstage_telemetry::span(colour = "red", kind = sideways, name = "", plugin = "catalog")]
fn process() {}

fn main() {}
