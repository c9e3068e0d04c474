// A conflicting duplicate metric is reported, and the module is still there: a type error
// elsewhere in it shows in the same build, and its items resolve from outside.
#[backstage_telemetry::backstage_plugin(id = "catalog")]
mod catalog {
    backstage_telemetry::metric! {
        pub static PROCESSED: Counter<u64> = "entities.processed";
        pub static AGAIN: Histogram<f64> = "entities.processed";
    }

    pub fn process() -> u32 {
        PROCESSED.add(1, &[]);
        AGAIN.record(1.0, &[]);
        "not a number"
    }
}

fn main() {
    let _: u32 = catalog::process();
}
