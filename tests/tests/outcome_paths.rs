//! One outcome recorder: a `#[span]` function and a `TracingService` span record the same
//! outcome the same way — `error.type`, status and exception event on the exported span —
//! and a `#[span(metrics)]` site puts that `error.type` (or `ok` / `panic`) in its span
//! metrics. The one difference is documented: a service method is generic over the body's
//! result and cannot see an `ErrorType` implementation (stable Rust has no specialisation),
//! so it describes such an error by its type name, as for any error without one.

use std::borrow::Cow;

use backstage_telemetry::testing::{self, Capture, ExportedMetric, PointValue};
use backstage_telemetry::{Config, ErrorType, KeyValue, RootTracingService, SpanOptions};
use backstage_telemetry_tests::{attribute_str, event_attributes};
use opentelemetry_sdk::trace::SpanData;

#[derive(Debug)]
pub struct NotFound;

impl std::fmt::Display for NotFound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("no such todo")
    }
}

impl ErrorType for NotFound {
    fn error_type(&self) -> Cow<'static, str> {
        "not_found".into()
    }
}

fn io_error() -> Result<u8, std::io::Error> {
    Err(std::io::Error::other("disk on fire"))
}

fn parse_error() -> Result<u8, std::num::ParseIntError> {
    "x".parse()
}

fn succeeds() -> Result<u8, std::io::Error> {
    Ok(1)
}

fn not_found() -> Result<u8, NotFound> {
    Err(NotFound)
}

#[backstage_telemetry::backstage_plugin(id = "outcome-macro")]
mod traced {
    use backstage_telemetry::span;

    #[span(metrics, name = "io")]
    pub fn io() -> Result<u8, std::io::Error> {
        super::io_error()
    }

    #[span(metrics, name = "parse")]
    pub fn parse() -> Result<u8, std::num::ParseIntError> {
        super::parse_error()
    }

    #[span(metrics, name = "ok")]
    pub fn ok() -> Result<u8, std::io::Error> {
        super::succeeds()
    }

    #[span(metrics, name = "unit")]
    pub fn unit() {}

    #[span(metrics, name = "crash")]
    pub fn crash() {
        panic!("on purpose");
    }

    #[span(metrics, name = "typed")]
    pub fn typed() -> Result<u8, super::NotFound> {
        super::not_found()
    }

    #[span(metrics, name = "async-io")]
    pub async fn async_io() -> Result<u8, std::io::Error> {
        super::io_error()
    }
}

/// What a span says about its outcome: status, `error.type`, exception event.
#[derive(Debug, PartialEq)]
struct Recorded {
    status: String,
    error_type: Option<String>,
    exception: Option<Vec<(String, String)>>,
}

fn recorded(span: &SpanData) -> Recorded {
    Recorded {
        status: format!("{:?}", span.status),
        error_type: attribute_str(span, "error.type"),
        exception: event_attributes(span, "exception"),
    }
}

/// The span named `name` of the scope `scope` among `spans`.
fn span_of<'a>(spans: &'a [SpanData], scope: &str, name: &str) -> &'a SpanData {
    spans
        .iter()
        .find(|s| s.name == name && s.instrumentation_scope.name() == scope)
        .unwrap_or_else(|| panic!("no span {name} of {scope}"))
}

/// The span-duration series of the macro's site `name` that counted a call (the outcomes
/// without an error are exported from the start, at zero): (outcome, error.type) of each.
fn series(metric: &ExportedMetric, name: &str) -> Vec<(String, Option<String>)> {
    let value = |point: &[KeyValue], key: &str| {
        point
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| kv.value.as_str().into_owned())
    };
    metric
        .points
        .iter()
        .filter(|p| value(&p.attributes, "span.name").as_deref() == Some(name))
        .filter(|p| matches!(p.value, PointValue::Histogram { count, .. } if count > 0))
        .map(|p| {
            (
                value(&p.attributes, "outcome").unwrap_or_default(),
                value(&p.attributes, "error.type"),
            )
        })
        .collect()
}

fn run_both(capture: &Capture) {
    let service = RootTracingService::from_config(&Config::default())
        .for_plugin("outcome-service")
        .unwrap();
    let start = |name: &'static str| (name, SpanOptions::new());
    capture.run(|| {
        assert!(traced::io().is_err());
        assert!(traced::parse().is_err());
        assert_eq!(traced::ok().unwrap(), 1);
        traced::unit();
        assert!(std::panic::catch_unwind(traced::crash).is_err());
        assert!(traced::typed().is_err());
        assert!(futures::executor::block_on(traced::async_io()).is_err());

        let (name, options) = start("io");
        assert!(
            service
                .start_active_span(name, options, |_| io_error())
                .is_err()
        );
        let (name, options) = start("parse");
        assert!(
            service
                .start_active_span(name, options, |_| parse_error())
                .is_err()
        );
        let (name, options) = start("ok");
        assert_eq!(
            service
                .start_active_span(name, options, |_| succeeds())
                .unwrap(),
            1
        );
        let (name, options) = start("unit");
        service.start_active_span(name, options, |_| ());
        let (name, options) = start("crash");
        let crashed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            service.start_active_span(name, options, |_| -> () { panic!("on purpose") })
        }));
        assert!(crashed.is_err());
        let (name, options) = start("typed");
        assert!(
            service
                .start_active_span(name, options, |_| not_found())
                .is_err()
        );
        let (name, options) = start("async-io");
        let future = service.start_active_span_async(name, options, |_| async { io_error() });
        assert!(futures::executor::block_on(future).is_err());
    });
}

#[test]
fn a_span_function_and_a_service_span_record_an_outcome_alike() {
    let kit = testing::install();
    let capture = kit.capture();
    run_both(&capture);
    let spans = capture.spans();
    let metric = kit
        .metrics()
        .metric("backstage.plugin.outcome-macro.span.duration")
        .clone();

    for name in ["io", "parse", "ok", "unit", "crash", "async-io"] {
        let from_macro = recorded(span_of(&spans, "backstage-plugin-outcome-macro", name));
        let from_service = recorded(span_of(&spans, "backstage-plugin-outcome-service", name));
        assert_eq!(from_macro, from_service, "{name}");
        // the site's span metrics carry the same outcome
        let (outcome, error_type) = match name {
            "ok" | "unit" => ("ok", None),
            "crash" => ("panic", None),
            _ => ("error", from_macro.error_type.clone()),
        };
        assert_eq!(
            series(&metric, name),
            [(outcome.to_owned(), error_type)],
            "{name}"
        );
    }

    // what each kind of outcome is recorded as, the same from both
    let io = recorded(span_of(&spans, "backstage-plugin-outcome-service", "io"));
    assert_eq!(io.error_type.as_deref(), Some("std::io::error::Error"));
    assert!(io.status.contains("disk on fire"), "{io:?}");
    assert_eq!(
        io.exception,
        Some(vec![
            (
                "exception.type".to_owned(),
                "std::io::error::Error".to_owned()
            ),
            ("exception.message".to_owned(), "disk on fire".to_owned()),
        ])
    );
    let parse = recorded(span_of(&spans, "backstage-plugin-outcome-service", "parse"));
    assert_eq!(
        parse.error_type.as_deref(),
        Some("core::num::error::ParseIntError")
    );
    let ok = recorded(span_of(&spans, "backstage-plugin-outcome-service", "ok"));
    assert_eq!((ok.error_type, ok.exception), (None, None));
    assert_eq!(ok.status, "Unset");
    let crash = recorded(span_of(&spans, "backstage-plugin-outcome-service", "crash"));
    assert!(crash.status.contains("on purpose"), "{crash:?}");

    // the documented difference: an `ErrorType` is seen by `#[span]` only
    let typed_macro = recorded(span_of(&spans, "backstage-plugin-outcome-macro", "typed"));
    let typed_service = recorded(span_of(&spans, "backstage-plugin-outcome-service", "typed"));
    assert_eq!(typed_macro.error_type.as_deref(), Some("not_found"));
    assert_eq!(
        typed_service.error_type.as_deref(),
        Some("outcome_paths::NotFound")
    );
    assert_eq!(typed_macro.status, typed_service.status);
    assert_eq!(typed_macro.exception, typed_service.exception);
    assert_eq!(
        series(&metric, "typed"),
        [("error".to_owned(), Some("not_found".to_owned()))]
    );
}
