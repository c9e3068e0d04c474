#[backstage_telemetry::backstage_plugin(id = "catalog")]
mod catalog {
    #[backstage_telemetry::span]
    pub struct Entity;
}

fn main() {}
