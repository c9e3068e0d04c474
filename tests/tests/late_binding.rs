//! Late binding (docs/design.md, "Scopes and late binding"): instruments and tracers created — and used — before the SDK is
//! installed record once it is. This binary installs the test kit only part-way through its
//! one test, so it must stay the only test here.

use backstage_telemetry::testing::{self, PointValue};
use backstage_telemetry::{Config, KeyValue, RootMetricsService, RootTracingService, SpanOptions};

#[test]
fn instruments_and_tracers_created_before_the_sdk_record_after_it_is_installed() {
    let config = Config::default();
    let metrics = RootMetricsService::from_config(&config)
        .for_plugin("early")
        .unwrap();
    let tracing = RootTracingService::from_config(&config)
        .for_plugin("early")
        .unwrap();

    let counter = metrics
        .counter::<u64>("entities.processed")
        .build()
        .unwrap();
    let histogram = metrics.histogram::<f64>("step.duration").build().unwrap();
    let _observed = metrics
        .observable_gauge::<i64>("queue.depth")
        .with_callback(|observer| observer.observe(9, &[]))
        .build()
        .unwrap();

    // Used before any provider exists: the no-op provider, nothing recorded, nothing lost
    // but these measurements.
    counter.add(1000, &[KeyValue::new("kind", "before")]);
    histogram.record(1000.0, &[]);
    let before = tracing.start_active_span("before-install", SpanOptions::new(), |span| {
        assert!(!span.is_recording());
        Ok::<_, std::io::Error>(1)
    });
    assert_eq!(before.unwrap(), 1);

    let kit = testing::install();
    let capture = kit.capture();

    counter.add(2, &[KeyValue::new("kind", "after")]);
    histogram.record(0.5, &[]);
    capture.run(|| {
        tracing.start_active_span("after-install", SpanOptions::new(), |span| {
            assert!(span.is_recording());
        })
    });

    let snapshot = kit.metrics();
    let counter = snapshot.metric("backstage.plugin.early.entities.processed");
    assert_eq!(counter.points.len(), 1, "{:?}", counter.points);
    assert_eq!(
        counter
            .point(&[KeyValue::new("kind", "after")])
            .map(|p| &p.value),
        Some(&PointValue::U64(2))
    );
    let histogram = snapshot.metric("backstage.plugin.early.step.duration");
    assert!(matches!(
        histogram.points[0].value,
        PointValue::Histogram { count: 1, .. }
    ));
    // the observable registered before install is collected by the new provider
    let gauge = snapshot.metric("backstage.plugin.early.queue.depth");
    assert_eq!(gauge.points[0].value, PointValue::I64(9));
    assert_eq!(gauge.scope.name(), "backstage-plugin-early");

    let span = capture.span("after-install");
    assert_eq!(span.instrumentation_scope.name(), "backstage-plugin-early");
    assert!(capture.spans().iter().all(|s| s.name != "before-install"));
}
