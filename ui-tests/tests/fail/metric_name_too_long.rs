#[backstage_telemetry::backstage_plugin(id = "catalog")]
mod catalog {
    backstage_telemetry::metric! {
        pub static PROCESSED: Counter<u64> = "entities.processed_processed_processed_processed_processed_processed_processed_processed_processed_processed_processed_processed_processed_processed_processed_processed_processed_processed_processed_processed_processed_processed_processed_x";
    }
}

fn main() {}
