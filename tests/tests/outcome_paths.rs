//! One outcome recorder: a `#[span]` function and a `TracingService` span record the same
//! outcome the same way — `error.type`, status and exception event on the exported span —
//! and a `#[span(metrics)]` site puts that `error.type` (or `ok` / `panic`) in its span
//! metrics. The same errors run through every path: an `ErrorType` error (also behind a
//! `Result` alias and in a box), `Display`-only errors of the standard library, `String`,
//! boxed `dyn Error`s, success, `()`, a panic, an async body; and, for `#[span]` alone
//! (a service's body needs `Display`), a `Debug`-only error, an error with neither, and a
//! result that is not a `Result`.

use std::borrow::Cow;
use std::error::Error;

use backstage_telemetry::testing::{self, ExportedMetric, PointValue};
use backstage_telemetry::{
    Config, ErrorType, KeyValue, RootTracingService, SpanOptions, TracingService,
};
use backstage_telemetry_tests::{attribute_str, event_attributes};
use opentelemetry_sdk::trace::SpanData;

#[derive(Debug)]
pub struct NotFound;

impl std::fmt::Display for NotFound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("no such todo")
    }
}

impl Error for NotFound {}

#[backstage_telemetry::error_type]
impl ErrorType for NotFound {
    fn error_type(&self) -> Cow<'static, str> {
        "not_found".into()
    }
}

/// An error with `Debug` only.
#[derive(Debug)]
pub struct DebugOnly {
    pub code: u16,
}

/// An error with neither `Debug` nor `Display`.
pub struct Nothing;

pub type AppResult<T> = Result<T, NotFound>;
pub type BoxResult<T> = Result<T, Box<dyn Error + Send + Sync>>;

fn io_error() -> Result<u8, std::io::Error> {
    Err(std::io::Error::other("disk on fire"))
}

fn parse_error() -> Result<u8, std::num::ParseIntError> {
    "x".parse()
}

fn succeeds() -> Result<u8, std::io::Error> {
    Ok(1)
}

fn not_found() -> AppResult<u8> {
    Err(NotFound)
}

fn string_error() -> Result<u8, String> {
    Err("quota reached".to_owned())
}

fn boxed_io() -> BoxResult<u8> {
    Ok(io_error()?)
}

fn boxed_typed() -> BoxResult<u8> {
    Ok(not_found()?)
}

fn boxed_message() -> Result<u8, Box<dyn Error>> {
    Err("a message made into an error".into())
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
    pub fn typed() -> super::AppResult<u8> {
        super::not_found()
    }

    #[span(metrics, name = "string")]
    pub fn string() -> Result<u8, String> {
        super::string_error()
    }

    #[span(metrics, name = "boxed-io")]
    pub fn boxed_io() -> super::BoxResult<u8> {
        super::boxed_io()
    }

    #[span(metrics, name = "boxed-typed")]
    pub fn boxed_typed() -> super::BoxResult<u8> {
        super::boxed_typed()
    }

    #[span(metrics, name = "boxed-message")]
    pub fn boxed_message() -> Result<u8, Box<dyn std::error::Error>> {
        super::boxed_message()
    }

    #[span(metrics, name = "async-io")]
    pub async fn async_io() -> Result<u8, std::io::Error> {
        super::io_error()
    }

    #[span(metrics, name = "debug-only")]
    pub fn debug_only() -> Result<u8, super::DebugOnly> {
        Err(super::DebugOnly { code: 7 })
    }

    #[span(metrics, name = "nothing")]
    pub fn nothing() -> Result<(), super::Nothing> {
        Err(super::Nothing)
    }

    #[span(metrics, name = "number")]
    pub fn number() -> u8 {
        4
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

fn run_macro() {
    assert!(traced::io().is_err());
    assert!(traced::parse().is_err());
    assert_eq!(traced::ok().unwrap(), 1);
    traced::unit();
    assert!(std::panic::catch_unwind(traced::crash).is_err());
    assert!(traced::typed().is_err());
    assert!(traced::string().is_err());
    assert!(traced::boxed_io().is_err());
    assert!(traced::boxed_typed().is_err());
    assert!(traced::boxed_message().is_err());
    assert!(futures::executor::block_on(traced::async_io()).is_err());
    assert!(traced::debug_only().is_err());
    assert!(traced::nothing().is_err());
    assert_eq!(traced::number(), 4);
}

/// Runs `body` in a service span named `name`; it fails.
fn fails<T, E: std::fmt::Display + 'static>(
    service: &TracingService,
    name: &'static str,
    body: fn() -> Result<T, E>,
) {
    let outcome = service.start_active_span(name, SpanOptions::new(), |_| body());
    assert!(outcome.is_err(), "{name}");
}

fn run_service() {
    let service = RootTracingService::from_config(&Config::default())
        .for_plugin("outcome-service")
        .unwrap();
    fails(&service, "io", io_error);
    fails(&service, "parse", parse_error);
    let ok = service.start_active_span("ok", SpanOptions::new(), |_| succeeds());
    assert_eq!(ok.unwrap(), 1);
    service.start_active_span("unit", SpanOptions::new(), |_| ());
    let crashed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        service.start_active_span("crash", SpanOptions::new(), |_| -> () {
            panic!("on purpose")
        })
    }));
    assert!(crashed.is_err());
    fails(&service, "typed", not_found);
    fails(&service, "string", string_error);
    fails(&service, "boxed-io", boxed_io);
    fails(&service, "boxed-typed", boxed_typed);
    fails(&service, "boxed-message", boxed_message);
    let future =
        service.start_active_span_async("async-io", SpanOptions::new(), |_| async { io_error() });
    assert!(futures::executor::block_on(future).is_err());
}

/// Every path, with what it records: `error.type` (`None`: a success) and the message.
const BOTH: &[(&str, Option<&str>, &str)] = &[
    ("io", Some("io::Error"), "disk on fire"),
    (
        "parse",
        Some("ParseIntError"),
        "invalid digit found in string",
    ),
    ("ok", None, ""),
    ("unit", None, ""),
    ("crash", Some("panic"), "on purpose"),
    ("typed", Some("not_found"), "no such todo"),
    ("string", Some("String"), "quota reached"),
    ("boxed-io", Some("io::Error"), "disk on fire"),
    ("boxed-typed", Some("not_found"), "no such todo"),
    (
        "boxed-message",
        Some("Box<dyn Error>"),
        "a message made into an error",
    ),
    ("async-io", Some("io::Error"), "disk on fire"),
];

#[test]
fn a_span_function_and_a_service_span_record_an_outcome_alike() {
    let kit = testing::install();
    let capture = kit.capture();
    capture.run(|| {
        run_macro();
        run_service();
    });
    let spans = capture.spans();
    let metric = kit
        .metrics()
        .metric("backstage.plugin.outcome-macro.span.duration")
        .clone();

    for &(name, error_type, message) in BOTH {
        let from_macro = recorded(span_of(&spans, "backstage-plugin-outcome-macro", name));
        let from_service = recorded(span_of(&spans, "backstage-plugin-outcome-service", name));
        assert_eq!(from_macro, from_service, "{name}");
        assert_eq!(from_macro.error_type.as_deref(), error_type, "{name}");
        match error_type {
            None => {
                assert_eq!(from_macro.status, "Unset", "{name}");
                assert_eq!(from_macro.exception, None, "{name}");
            }
            Some(_) => {
                assert_eq!(
                    from_macro.status,
                    format!("Error {{ description: {message:?} }}")
                );
                let exception = from_macro.exception.clone().expect("an exception event");
                assert!(
                    exception.contains(&("exception.message".to_owned(), message.to_owned())),
                    "{name}: {exception:?}"
                );
            }
        }
        // the site's span metrics carry the same `error.type`
        let expected = match (name, error_type) {
            (_, None) => ("ok".to_owned(), None),
            ("crash", _) => ("panic".to_owned(), None),
            (_, Some(error_type)) => ("error".to_owned(), Some(error_type.to_owned())),
        };
        assert_eq!(series(&metric, name), [expected], "{name}");
    }
}

#[test]
fn a_span_function_records_errors_without_display_and_other_results() {
    let kit = testing::install();
    let capture = kit.capture();
    capture.run(run_macro);
    let spans = capture.spans();
    let metric = kit
        .metrics()
        .metric("backstage.plugin.outcome-macro.span.duration")
        .clone();
    let scope = "backstage-plugin-outcome-macro";

    let debug_only = recorded(span_of(&spans, scope, "debug-only"));
    assert_eq!(
        debug_only,
        Recorded {
            status: "Error { description: \"DebugOnly { code: 7 }\" }".to_owned(),
            error_type: Some("outcome_paths::DebugOnly".to_owned()),
            exception: Some(vec![
                (
                    "exception.type".to_owned(),
                    "outcome_paths::DebugOnly".to_owned()
                ),
                (
                    "exception.message".to_owned(),
                    "DebugOnly { code: 7 }".to_owned()
                ),
            ]),
        }
    );
    // neither `Debug` nor `Display`: still an error, named by its type
    let nothing = recorded(span_of(&spans, scope, "nothing"));
    assert_eq!(
        nothing,
        Recorded {
            status: "Error { description: \"outcome_paths::Nothing\" }".to_owned(),
            error_type: Some("outcome_paths::Nothing".to_owned()),
            exception: Some(vec![
                (
                    "exception.type".to_owned(),
                    "outcome_paths::Nothing".to_owned()
                ),
                (
                    "exception.message".to_owned(),
                    "outcome_paths::Nothing".to_owned()
                ),
            ]),
        }
    );
    assert_eq!(
        series(&metric, "nothing"),
        [(
            "error".to_owned(),
            Some("outcome_paths::Nothing".to_owned())
        )]
    );
    // a result that is not a `Result` is a success
    let number = recorded(span_of(&spans, scope, "number"));
    assert_eq!((number.status.as_str(), number.error_type), ("Unset", None));
    assert_eq!(series(&metric, "number"), [("ok".to_owned(), None)]);
}
