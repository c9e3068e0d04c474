//! JSON logs and `tracing` interop, asserted on the log lines and the exported
//! spans.

use backstage_telemetry::logs::JsonLogs;
use backstage_telemetry::{Config, span, testing};
use backstage_telemetry_tests::LogLines;
use serde_json::Value;
use tracing_subscriber::layer::SubscriberExt;

fn parsed(lines: &LogLines) -> Vec<Value> {
    lines
        .text()
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect()
}

#[span(plugin = "logs-catalog")]
fn process(entity: &str) {
    tracing::info!(entity, attempt = 2_u64, "entity processed");
}

#[test]
fn log_lines_carry_service_plugin_and_the_span() {
    let kit = testing::install();
    let capture = kit.capture();
    let lines = LogLines::default();
    let writer = lines.clone();
    let config = Config::from_yaml_str(
        "app-config.yaml",
        "backend:\n  metrics:\n    serviceName: portal\n",
    )
    .unwrap();
    let subscriber = tracing_subscriber::registry()
        .with(JsonLogs::new(&config).with_writer(move || writer.clone()));
    tracing::subscriber::with_default(subscriber, || {
        capture.run(|| process("component:default/x"));
        tracing::warn!("outside any span");
    });
    let lines = parsed(&lines);
    let span = capture.span("process");
    let inside = &lines[0];
    assert_eq!(inside["message"], "entity processed");
    assert_eq!(inside["level"], "info");
    assert_eq!(inside["service"], "portal");
    assert_eq!(inside["type"], "plugin");
    assert_eq!(inside["plugin"], "logs-catalog");
    assert_eq!(inside["entity"], "component:default/x");
    assert_eq!(inside["attempt"], 2);
    assert_eq!(inside["trace_id"], span.span_context.trace_id().to_string());
    assert_eq!(inside["span_id"], span.span_context.span_id().to_string());
    assert!(inside["timestamp"].as_str().unwrap().ends_with('Z'));
    let outside = &lines[1];
    assert_eq!(outside["level"], "warn");
    assert!(
        outside.get("plugin").is_none() && outside.get("trace_id").is_none(),
        "{outside}"
    );
    // the event was added to the span
    let event = span
        .events
        .iter()
        .find(|e| e.name == "entity processed")
        .expect("span event");
    assert!(
        event
            .attributes
            .iter()
            .any(|kv| kv.key.as_str() == "entity")
    );
}

#[test]
fn span_events_can_be_switched_off() {
    let capture = testing::install().capture();
    let subscriber = tracing_subscriber::registry().with(
        JsonLogs::new(&Config::default())
            .with_span_events(false)
            .with_writer(std::io::sink),
    );
    tracing::subscriber::with_default(subscriber, || {
        capture.run(|| process("component:default/y"))
    });
    assert!(capture.span("process").events.is_empty());
}

#[span(plugin = "logs-interop")]
fn outer_span() -> u32 {
    instrumented() + 1
}

#[tracing::instrument(name = "instrumented")]
fn instrumented() -> u32 {
    inner_span()
}

#[span(plugin = "logs-interop-inner")]
fn inner_span() -> u32 {
    let _nested = tracing::info_span!("nested-tracing").entered();
    41
}

#[tracing::instrument(name = "outside-any-plugin")]
fn outside() -> u32 {
    1
}

#[test]
fn tracing_spans_and_ours_nest_in_both_directions() {
    let capture = testing::install().capture();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(opentelemetry::global::tracer("tracing")));
    let answer = tracing::subscriber::with_default(subscriber, || capture.run(outer_span));
    assert_eq!(answer, 42);
    let outer = capture.span("outer_span");
    let middle = capture.span("instrumented");
    let inner = capture.span("inner_span");
    assert_eq!(middle.parent_span_id, outer.span_context.span_id());
    assert_eq!(inner.parent_span_id, middle.span_context.span_id());
    assert_eq!(inner.span_context.trace_id(), outer.span_context.trace_id());
    assert_eq!(middle.instrumentation_scope.name(), "tracing");

    // a `tracing` span inside ours carries our plugin; ours inside it keeps its own, and a
    // `tracing` span inside that one carries the inner plugin
    let plugin = |span: &opentelemetry_sdk::trace::SpanData| {
        backstage_telemetry_tests::attribute_str(span, "backstage.plugin.id")
    };
    assert_eq!(plugin(&middle).as_deref(), Some("logs-interop"));
    assert_eq!(plugin(&inner).as_deref(), Some("logs-interop-inner"));
    assert_eq!(
        backstage_telemetry_tests::attribute_count(&inner, "backstage.plugin.id"),
        1
    );
    let nested = capture.span("nested-tracing");
    assert_eq!(nested.parent_span_id, inner.span_context.span_id());
    assert_eq!(plugin(&nested).as_deref(), Some("logs-interop-inner"));
    // no note of the inherited scope is left on any span
    for span in [&outer, &middle, &inner, &nested] {
        assert!(
            span.attributes
                .iter()
                .all(|kv| !kv.key.as_str().starts_with("backstage.inherited")),
            "{}",
            span.name
        );
    }
    // outside any plugin: no plugin
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(opentelemetry::global::tracer("tracing")));
    tracing::subscriber::with_default(subscriber, || capture.run(outside));
    assert_eq!(plugin(&capture.span("outside-any-plugin")), None);
}

/// OpenTelemetry's own events: an empty message takes the event's name, and a warning
/// repeated within the interval is held back, then counted on the next line.
#[test]
fn opentelemetry_events_are_named_and_not_repeated() {
    let lines = LogLines::default();
    let writer = lines.clone();
    let logs = JsonLogs::new(&Config::default())
        .with_filter("info".parse().unwrap())
        .with_writer(move || writer.clone())
        .with_repeat_interval(std::time::Duration::from_millis(300));
    let subscriber = tracing_subscriber::registry().with(logs);
    tracing::subscriber::with_default(subscriber, || {
        for _ in 0..50 {
            tracing::error!(
                target: "opentelemetry_sdk",
                name = "BatchSpanProcessor.ExportError",
                error = "export to http://user:SECRET@collector:4318/v1/traces failed"
            );
        }
        // other events are not held back
        tracing::info!(target: "opentelemetry_sdk", name = "BatchSpanProcessor.ThreadStarted");
        tracing::info!(target: "opentelemetry_sdk", name = "BatchSpanProcessor.ThreadStarted");
        std::thread::sleep(std::time::Duration::from_millis(350));
        tracing::error!(
            target: "opentelemetry_sdk",
            name = "BatchSpanProcessor.ExportError",
            error = "again"
        );
    });
    let parsed = parsed(&lines);
    let errors: Vec<&Value> = parsed
        .iter()
        .filter(|l| l["message"] == "BatchSpanProcessor.ExportError")
        .collect();
    assert_eq!(errors.len(), 2, "{parsed:#?}");
    assert_eq!(errors[0]["level"], "error");
    assert_eq!(errors[0].get("repeated"), None);
    assert_eq!(
        errors[0]["error"],
        "export to http://collector:4318/v1/traces failed"
    );
    assert_eq!(errors[1]["repeated"], 49, "{:#?}", errors[1]);
    let started = parsed
        .iter()
        .filter(|l| l["message"] == "BatchSpanProcessor.ThreadStarted")
        .count();
    assert_eq!(started, 2);
}
