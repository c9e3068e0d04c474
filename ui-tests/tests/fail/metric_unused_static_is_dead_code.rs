#![deny(dead_code)]

#[backstage_telemetry::backstage_plugin(id = "catalog")]
mod catalog {
    backstage_telemetry::metric! {
        static NEVER_USED: Counter<u64> = "entities.ignored";
    }
}

fn main() {}
