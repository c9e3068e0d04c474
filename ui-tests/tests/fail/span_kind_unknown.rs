#[backstage_telemetry::backstage_plugin(id = "catalog")]
mod catalog {
    #[backstage_telemetry::span(kind = sideways)]
    pub fn process() {}
}

fn main() {}
