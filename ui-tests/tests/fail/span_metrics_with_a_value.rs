#[backstage_telemetry::backstage_plugin(id = "catalog")]
mod catalog {
    #[backstage_telemetry::span(metrics = true)]
    pub fn process() {}
}

fn main() {}
