#[backstage_telemetry::backstage_plugin(id = "catalog")]
mod catalog {
    #[backstage_telemetry::span(attributes(entity.kind = kind, entity.kind = "x"))]
    pub fn process(kind: &'static str) {}
}

fn main() {}
