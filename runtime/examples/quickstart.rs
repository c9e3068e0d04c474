//! Creates a plugin's metrics and spans with the runtime services, then prints what the
//! in-memory exporters of the test kit received.
//!
//! Run with `cargo run -p backstage-telemetry --example quickstart --features testing`.

use backstage_telemetry::testing::{self, PointValue};
use backstage_telemetry::{
    BackstageCredentials, Config, KeyValue, RootMetricsService, RootTracingService, SpanOptions,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = Config::from_yaml_str(
        "inline app-config",
        "backend:\n  metrics:\n    serviceName: quickstart\n  tracing:\n    capture:\n      endUser: true\n",
    )?;
    let kit = testing::install();
    let capture = kit.capture();

    let metrics = RootMetricsService::from_config(&config).for_plugin("catalog")?;
    let tracing = RootTracingService::from_config(&config).for_plugin("catalog")?;
    let processed = metrics
        .counter::<u64>("entities.processed")
        .with_description("Entities processed by the catalog")
        .with_unit("{entity}")
        .build()?;

    let alice = BackstageCredentials::user("user:default/alice");
    let outcome: Result<(), String> = capture.run(|| {
        tracing.start_active_span(
            "process",
            SpanOptions::new().with_credentials(&alice),
            |span| {
                processed.add(1, &[KeyValue::new("kind", "Component")]);
                span.set_attribute(KeyValue::new("catalog.entity.kind", "Component"));
                Err("location not found".to_owned())
            },
        )
    });
    println!("process returned {outcome:?}\n");

    for span in capture.spans() {
        println!(
            "span {:?} from tracer {:?}",
            span.name,
            span.instrumentation_scope.name()
        );
        println!("  status: {:?}", span.status);
        for kv in &span.attributes {
            println!("  {} = {}", kv.key, kv.value);
        }
        for event in span.events.iter() {
            println!("  event {:?}: {}", event.name, pairs(&event.attributes));
        }
    }
    let snapshot = kit.metrics();
    let metric = snapshot.metric(processed.name());
    println!(
        "\nmetric {} ({}) from meter {:?}",
        metric.name,
        metric.unit,
        metric.scope.name()
    );
    for point in &metric.points {
        if let PointValue::U64(value) = point.value {
            println!("  {{{}}} = {value}", pairs(&point.attributes));
        }
    }
    Ok(())
}

fn pairs(attributes: &[KeyValue]) -> String {
    let pairs: Vec<String> = attributes
        .iter()
        .map(|kv| format!("{}={}", kv.key, kv.value))
        .collect();
    pairs.join(", ")
}
