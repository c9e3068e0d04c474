//! Span metrics with a meter provider and no tracer provider (an application that exports
//! metrics only): no span is made, and every call of a `#[span(metrics)]` site is still
//! timed, with each outcome in its own series. Its own binary: nothing else here installs a
//! tracer provider.

use backstage_telemetry::KeyValue;
use backstage_telemetry::testing::{PointValue, TestMetrics};

#[derive(Debug)]
pub struct Refused;

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("refused")
    }
}

#[backstage_telemetry::backstage_plugin(id = "untraced")]
mod untraced {
    use backstage_telemetry::span;

    use super::Refused;

    #[span(metrics)]
    pub fn answer(yes: bool) -> Result<u32, Refused> {
        if yes { Ok(42) } else { Err(Refused) }
    }

    #[span(metrics)]
    pub fn crash() {
        panic!("on purpose, untraced");
    }

    /// Whether the body runs in a valid span: with no tracer provider, it does not.
    #[span(metrics)]
    pub fn in_a_span() -> bool {
        use opentelemetry::trace::TraceContextExt;
        opentelemetry::Context::current()
            .span()
            .span_context()
            .is_valid()
    }
}

fn series(name: &'static str, outcome: &'static str) -> Vec<KeyValue> {
    vec![
        KeyValue::new("span.name", name),
        KeyValue::new("span.kind", "internal"),
        KeyValue::new("outcome", outcome),
    ]
}

#[test]
fn calls_are_timed_without_a_tracer_provider() {
    let metrics = TestMetrics::new();
    backstage_telemetry::set_meter_provider(metrics.provider().clone());

    assert_eq!(untraced::answer(true).unwrap(), 42);
    assert_eq!(untraced::answer(true).unwrap(), 42);
    assert!(untraced::answer(false).is_err());
    assert!(std::panic::catch_unwind(untraced::crash).is_err());
    assert!(!untraced::in_a_span());

    let exported = metrics.collect();
    let duration = exported.metric("backstage.plugin.untraced.span.duration");
    let count = |attributes: &[KeyValue]| match duration.point(attributes).map(|p| &p.value) {
        Some(PointValue::Histogram { count, .. }) => *count,
        other => panic!("{attributes:?}: {other:?} in {duration:?}"),
    };
    assert_eq!(count(&series("answer", "ok")), 2);
    let mut error = series("answer", "error");
    error.push(KeyValue::new(
        "error.type",
        std::any::type_name::<Refused>(),
    ));
    assert_eq!(count(&error), 1);
    assert_eq!(count(&series("crash", "panic")), 1);
    assert_eq!(count(&series("in_a_span", "ok")), 1);
    // the fixed outcomes that did not happen are exported at 0 from the site's first call
    assert_eq!(count(&series("crash", "ok")), 0);
    assert_eq!(count(&series("answer", "cancelled")), 0);
}
