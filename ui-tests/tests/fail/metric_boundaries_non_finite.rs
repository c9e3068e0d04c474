#[backstage_telemetry::backstage_plugin(id = "catalog")]
mod catalog {
    backstage_telemetry::metric! {
        pub static DURATION: Histogram<f64> = "processing.duration", boundaries = [0.1, 1e999];
    }
}

fn main() {}
