// A declaration that does not parse, inside a scoped module, is reported; the others are
// still declared and usable.
#[backstage_telemetry::backstage_plugin(id = "catalog")]
mod catalog {
    backstage_telemetry::metric! {
        pub static BROKEN: Counter<u64> "entities.broken";
        pub static PROCESSED: Counter<u64> = "entities.processed";
    }

    pub fn process() {
        PROCESSED.add(1, &[]);
    }
}

fn main() {
    catalog::process();
}
