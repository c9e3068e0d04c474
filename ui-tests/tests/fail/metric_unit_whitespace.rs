#[backstage_telemetry::backstage_plugin(id = "catalog")]
mod catalog {
    backstage_telemetry::metric! {
        pub static RATE: Gauge<f64> = "processing.rate", unit = "per second";
    }
}

fn main() {}
