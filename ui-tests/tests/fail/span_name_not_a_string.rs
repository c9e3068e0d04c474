#[backstage_telemetry::backstage_plugin(id = "catalog")]
mod catalog {
    #[backstage_telemetry::span(name = 42)]
    pub fn process() {}
}

fn main() {}
