#![deny(warnings)]

// The macros imported under other names inside a scoped module still get its scope.
#[backstage_telemetry::backstage_plugin(id = "catalog")]
mod catalog {
    use backstage_telemetry::{backstage_core as core_scope, metric as instrument, span as traced};

    instrument! {
        pub static PROCESSED: Counter<u64> = "entities.processed";
    }

    #[traced]
    pub fn process() {
        PROCESSED.add(1, &[]);
        instrument!(Counter<u64>, "entities.seen").add(1, &[]);
    }

    #[core_scope(id = "scheduler")]
    pub mod scheduler {
        #[backstage_telemetry::span]
        pub fn tick() {}
    }
}

fn main() {
    let kit = backstage_telemetry::testing::install();
    let capture = kit.capture();
    capture.run(catalog::process);
    capture.run(catalog::scheduler::tick);
    let process = capture.span("process");
    assert_eq!(
        process.instrumentation_scope.name(),
        "backstage-plugin-catalog"
    );
    assert!(
        process
            .attributes
            .iter()
            .any(|kv| kv.key.as_str() == "backstage.plugin.id" && kv.value.as_str() == "catalog")
    );
    // the nested module kept its own scope
    let tick = capture.span("tick");
    assert_eq!(
        tick.instrumentation_scope.name(),
        "backstage-core-scheduler"
    );
    let names: Vec<&str> = catalog::METRICS.iter().map(|m| m.name).collect();
    assert_eq!(
        names,
        [
            "backstage.plugin.catalog.entities.processed",
            "backstage.plugin.catalog.entities.seen"
        ]
    );
    let metrics = kit.metrics();
    assert!(
        metrics
            .get("backstage.plugin.catalog.entities.seen")
            .is_some()
    );
}
