#[backstage_telemetry::backstage_plugin(id = "catalog")]
mod catalog {
    #[backstage_telemetry::span(kind = "server")]
    pub fn process() {}
}

fn main() {}
