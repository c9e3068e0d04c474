#[backstage_telemetry::backstage_plugin(id = "catalog")]
mod catalog {
    backstage_telemetry::metric! {
        pub static DURATION: Histogram<f64> = "processing.duration", unit = "µs";
    }
}

fn main() {}
