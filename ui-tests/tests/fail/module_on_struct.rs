#[backstage_telemetry::backstage_plugin(id = "catalog")]
struct Catalog;

fn main() {}
