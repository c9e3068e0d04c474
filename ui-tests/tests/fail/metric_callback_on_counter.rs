#[backstage_telemetry::backstage_plugin(id = "catalog")]
mod catalog {
    backstage_telemetry::metric! {
        pub static PROCESSED: Counter<u64> = "entities.processed", callback = |o| o.observe(1, &[]);
    }
}

fn main() {}
