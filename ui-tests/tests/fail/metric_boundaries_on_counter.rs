#[backstage_telemetry::backstage_plugin(id = "catalog")]
mod catalog {
    backstage_telemetry::metric! {
        pub static PROCESSED: Counter<u64> = "entities.processed", boundaries = [1.0, 2.0];
    }
}

fn main() {}
