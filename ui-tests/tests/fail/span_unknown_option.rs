#[backstage_telemetry::backstage_plugin(id = "catalog")]
mod catalog {
    #[backstage_telemetry::span(level = "info")]
    pub fn process() {}
}

fn main() {}
