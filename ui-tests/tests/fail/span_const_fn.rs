#[backstage_telemetry::backstage_plugin(id = "catalog")]
mod catalog {
    #[backstage_telemetry::span]
    pub const fn limit() -> usize {
        10
    }
}

fn main() {}
