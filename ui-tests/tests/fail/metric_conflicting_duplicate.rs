#[backstage_telemetry::backstage_plugin(id = "catalog")]
mod catalog {
    backstage_telemetry::metric! {
        pub static PROCESSED: Counter<u64> = "entities.processed", unit = "{entity}";
    }

    pub fn elsewhere() {
        backstage_telemetry::metric!(Counter<f64>, "entities.processed", unit = "{entity}").add(1.0, &[]);
    }
}

fn main() {}
