#[backstage_telemetry::backstage_plugin(id = "catalog")]
mod catalog {
    backstage_telemetry::metric! {
        pub static STORED: ObservableGauge<u64> = "entities.stored";
    }
}

fn main() {}
