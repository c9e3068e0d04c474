#[backstage_telemetry::backstage_plugin(id = "catalog")]
mod catalog {
    pub trait Processor {
        #[backstage_telemetry::span]
        fn process(&self);
    }
}

fn main() {}
