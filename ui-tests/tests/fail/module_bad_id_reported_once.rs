// The wrong id is reported once; the #[span] and metric! inside do not repeat it, and the
// module's items still resolve.
#[backstage_telemetry::backstage_plugin(id = "Catalog")]
mod catalog {
    use backstage_telemetry::{metric, span};

    metric! {
        pub static PROCESSED: Counter<u64> = "entities.processed";
    }

    #[span]
    pub fn process() {
        PROCESSED.add(1, &[]);
    }
}

fn main() {
    catalog::process();
}
