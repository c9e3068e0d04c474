#[backstage_telemetry::backstage_plugin(id = "catalog")]
mod catalog {
    #[backstage_telemetry::span(name = "a", name = "b")]
    pub fn process() {}
}

fn main() {}
