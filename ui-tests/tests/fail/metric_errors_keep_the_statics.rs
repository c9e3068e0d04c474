// Each wrong declaration is reported, the others are still declared, and the wrong ones
// are still statics of their written kind: only the code's own type error adds to the list.
#[backstage_telemetry::backstage_plugin(id = "catalog")]
mod catalog {
    backstage_telemetry::metric! {
        pub static BAD_NAME: Counter<u64> = "Entities";
        pub static BAD_TYPE: Counter<i32> = "entities.removed";
        pub static BAD_UNIT: Histogram<f64> = "entities.size", unit = "big unit", colour = "red";
        pub static GOOD: Counter<u64> = "entities.processed";
    }

    pub fn process() {
        BAD_NAME.add(1, &[]);
        BAD_TYPE.add(1, &[]);
        BAD_UNIT.record(1.0, &[]);
        GOOD.add(1, &[]);
        let _: u32 = "not a number";
    }
}

fn main() {
    catalog::process();
}
