#[backstage_telemetry::backstage_plugin(id = "catalog")]
mod catalog {
    backstage_telemetry::metric! {
        pub static PROCESSED: Counter<u64> = "entities.processed", unit = "{entity}", unit = "1";
    }
}

fn main() {}
