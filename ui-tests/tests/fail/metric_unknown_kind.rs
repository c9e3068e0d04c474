#[backstage_telemetry::backstage_plugin(id = "catalog")]
mod catalog {
    backstage_telemetry::metric! {
        pub static PROCESSED: Meter<u64> = "entities.processed";
    }
}

fn main() {}
