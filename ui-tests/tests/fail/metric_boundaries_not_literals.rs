#[backstage_telemetry::backstage_plugin(id = "catalog")]
mod catalog {
    const LIMIT: f64 = 10.0;
    backstage_telemetry::metric! {
        pub static DURATION: Histogram<f64> = "processing.duration", boundaries = [0.1, LIMIT];
    }
}

fn main() {}
