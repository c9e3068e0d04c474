#[backstage_telemetry::backstage_plugin(id = "catalog")]
mod catalog {
    #[backstage_telemetry::span(attributes(Entity.Kind = kind))]
    pub fn process(kind: &'static str) {}
}

fn main() {}
