#![deny(warnings)]

#[backstage_telemetry::backstage_plugin(id = "catalog")]
mod catalog {
    use backstage_telemetry::{metric, span};

    metric! {
        pub static PROCESSED: Counter<u64> = "entities.processed";
    }

    #[span]
    pub fn process() -> Result<(), String> {
        PROCESSED.add(1, &[]);
        Err("no location".into())
    }
}

fn main() {
    // touched before the SDK exists, recorded after it is installed
    let _ = catalog::process();
    let kit = backstage_telemetry::testing::install();
    let capture = kit.capture();
    let _ = capture.run(catalog::process);
    let span = capture.span("process");
    assert_eq!(
        span.status,
        backstage_telemetry::Status::error("no location")
    );
    let metrics = kit.metrics();
    let processed = metrics.metric("backstage.plugin.catalog.entities.processed");
    assert_eq!(
        processed.points[0].value,
        backstage_telemetry::testing::PointValue::U64(1)
    );
}
