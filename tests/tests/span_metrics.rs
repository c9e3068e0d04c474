//! Span metrics on exported data: `backstage.plugin.{id}.span.duration`, recorded for the
//! `#[span]` sites the app-config and the sites turn on, with `span.name`, `span.kind`,
//! `outcome` and `error.type`. The configuration is process-wide, so this binary installs
//! one for all its tests (each test uses plugins of its own).

use std::borrow::Cow;
use std::future::Future;
use std::pin::pin;
use std::sync::Once;
use std::task::{Context as TaskContext, Poll, Waker};

use backstage_telemetry::testing::{self, ExportedMetric, PointValue};
use backstage_telemetry::{Config, ErrorType, KeyValue};
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};

fn install() -> &'static testing::TestTelemetry {
    static CONFIG: Once = Once::new();
    let kit = testing::install();
    CONFIG.call_once(|| {
        let config = Config::from_yaml_str(
            "app-config.yaml",
            "backend:\n  tracing:\n    spanMetrics:\n      boundaries: [0.001, 0.01, 1]\n    plugin:\n      sm-all:\n        spanMetrics: true\n      sm-off:\n        spanMetrics: false\n",
        )
        .unwrap();
        backstage_telemetry::set_config(config);
    });
    kit
}

#[derive(Debug)]
pub struct NotFound;

impl std::fmt::Display for NotFound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("not found")
    }
}

#[backstage_telemetry::error_type]
impl ErrorType for NotFound {
    fn error_type(&self) -> Cow<'static, str> {
        "not_found".into()
    }
}

#[backstage_telemetry::backstage_plugin(id = "sm-asked")]
mod asked {
    use backstage_telemetry::span;

    use super::NotFound;

    #[span(metrics)]
    pub fn lookup(found: bool) -> Result<u32, NotFound> {
        if found { Ok(1) } else { Err(NotFound) }
    }

    #[span(metrics, kind = client)]
    pub fn parse(text: &str) -> Result<u32, std::num::ParseIntError> {
        text.parse()
    }

    #[span(metrics, name = "crash")]
    pub fn crash() {
        panic!("on purpose");
    }

    #[span(metrics)]
    pub async fn wait(ready: bool) -> u32 {
        if !ready {
            std::future::pending::<()>().await;
        }
        7
    }

    #[span(metrics)]
    pub fn unsampled() -> u32 {
        3
    }

    #[span(metrics, name = "unsampled-lookup")]
    pub fn unsampled_lookup(found: bool) -> Result<u32, NotFound> {
        if found { Ok(1) } else { Err(NotFound) }
    }

    #[span(metrics, name = "unsampled-crash")]
    pub fn unsampled_crash() {
        panic!("on purpose, unsampled");
    }

    /// Sites of a module nested in the scoped one, and one inside a function's body.
    pub mod nested {
        use backstage_telemetry::span;

        #[span(metrics)]
        pub fn outer() -> u32 {
            #[span(metrics)]
            fn inner() -> u32 {
                2
            }
            inner() + inner()
        }

        /// Two sites of one name and kind: one series.
        #[span(metrics, name = "twin")]
        pub fn twin_a() -> u32 {
            1
        }

        #[span(metrics, name = "twin")]
        pub fn twin_b() -> u32 {
            2
        }

        /// A site of another plugin, in this module's walk.
        #[span(metrics, plugin = "sm-elsewhere")]
        pub fn elsewhere() -> u32 {
            5
        }
    }
}

#[backstage_telemetry::backstage_plugin(id = "sm-quiet")]
mod quiet {
    #[backstage_telemetry::span]
    pub fn quiet() -> u32 {
        1
    }
}

#[backstage_telemetry::backstage_plugin(id = "sm-all")]
mod all {
    #[backstage_telemetry::span]
    pub fn anything() -> u32 {
        1
    }
}

#[backstage_telemetry::backstage_plugin(id = "sm-off")]
mod off {
    #[backstage_telemetry::span(metrics)]
    pub fn asks() -> u32 {
        1
    }
}

fn duration(plugin: &str) -> Option<ExportedMetric> {
    install()
        .metrics()
        .get(&format!("backstage.plugin.{plugin}.span.duration"))
        .cloned()
}

/// The count of the series with exactly `attributes`.
fn count(metric: &ExportedMetric, attributes: &[KeyValue]) -> u64 {
    match metric.point(attributes).map(|p| &p.value) {
        Some(PointValue::Histogram { count, .. }) => *count,
        Some(other) => panic!("not a histogram: {other:?}"),
        None => 0,
    }
}

fn series(name: &'static str, kind: &'static str, outcome: &'static str) -> Vec<KeyValue> {
    vec![
        KeyValue::new("span.name", name),
        KeyValue::new("span.kind", kind),
        KeyValue::new("outcome", outcome),
    ]
}

fn poll_once<F: Future>(future: F) -> Poll<F::Output> {
    let mut future = pin!(future);
    future
        .as_mut()
        .poll(&mut TaskContext::from_waker(Waker::noop()))
}

#[test]
fn every_outcome_is_a_series_with_bounded_attributes() {
    install();
    assert_eq!(asked::lookup(true).unwrap(), 1);
    assert_eq!(asked::lookup(true).unwrap(), 1);
    assert!(asked::lookup(false).is_err());
    assert!(asked::parse("x").is_err());
    assert!(std::panic::catch_unwind(asked::crash).is_err());
    assert_eq!(poll_once(asked::wait(true)), Poll::Ready(7));
    assert!(poll_once(asked::wait(false)).is_pending()); // dropped: cancelled

    let metric = duration("sm-asked").expect("span metrics exported");
    assert_eq!(metric.unit, "s");
    assert_eq!(metric.scope.name(), "backstage-plugin-sm-asked");
    assert_eq!(count(&metric, &series("lookup", "internal", "ok")), 2);
    let mut not_found = series("lookup", "internal", "error");
    not_found.push(KeyValue::new("error.type", "not_found"));
    assert_eq!(count(&metric, &not_found), 1);
    let mut parse_error = series("parse", "client", "error");
    parse_error.push(KeyValue::new("error.type", "ParseIntError"));
    assert_eq!(count(&metric, &parse_error), 1);
    assert_eq!(count(&metric, &series("crash", "internal", "panic")), 1);
    assert_eq!(count(&metric, &series("wait", "internal", "ok")), 1);
    assert_eq!(count(&metric, &series("wait", "internal", "cancelled")), 1);
    // the boundaries of the app-config
    let Some(PointValue::Histogram { bounds, .. }) = metric.points.first().map(|p| &p.value) else {
        panic!("no histogram point: {metric:?}")
    };
    assert_eq!(bounds, &[0.001, 0.01, 1.0]);
    // nothing but the four bounded keys
    for point in &metric.points {
        for attribute in &point.attributes {
            assert!(
                ["span.name", "span.kind", "outcome", "error.type"]
                    .contains(&attribute.key.as_str()),
                "{attribute:?}"
            );
        }
    }
}

#[test]
fn unsampled_spans_are_measured_too() {
    let kit = install();
    let capture = kit.capture();
    // an unsampled remote parent: the parent-based sampler drops the child
    let parent = SpanContext::new(
        TraceId::from(0x0af7_6519_16cd_43dd_8448_eb21_1c80_319c),
        SpanId::from(0xb7ad_6b71_6920_3331),
        TraceFlags::default(),
        true,
        TraceState::default(),
    );
    let cx = capture.context().with_remote_span_context(parent);
    let _active = cx.attach();
    assert_eq!(asked::unsampled(), 3);
    assert!(asked::unsampled_lookup(true).is_ok());
    assert!(asked::unsampled_lookup(false).is_err());
    // a span that does not record catches nothing: the panic is timed as it unwinds
    let panic = std::panic::catch_unwind(asked::unsampled_crash).unwrap_err();
    assert_eq!(panic.downcast_ref::<&str>(), Some(&"on purpose, unsampled"));
    assert!(capture.spans().is_empty(), "{:?}", capture.spans());
    let metric = duration("sm-asked").expect("span metrics exported");
    assert_eq!(count(&metric, &series("unsampled", "internal", "ok")), 1);
    assert_eq!(
        count(&metric, &series("unsampled-lookup", "internal", "ok")),
        1
    );
    let mut error = series("unsampled-lookup", "internal", "error");
    error.push(KeyValue::new("error.type", "not_found"));
    assert_eq!(count(&metric, &error), 1);
    assert_eq!(
        count(&metric, &series("unsampled-crash", "internal", "panic")),
        1
    );
    // bound at the site's first call, the other fixed outcomes are exported at 0
    assert_eq!(
        count(&metric, &series("unsampled-crash", "internal", "ok")),
        0
    );
    assert!(
        metric
            .point(&series("unsampled-crash", "internal", "ok"))
            .is_some()
    );
}

#[test]
fn nested_sites_keep_series_of_their_own() {
    install();
    assert_eq!(asked::nested::outer(), 4);
    assert_eq!(asked::nested::elsewhere(), 5);
    assert_eq!(asked::nested::twin_a() + asked::nested::twin_b(), 3);
    let metric = duration("sm-asked").expect("span metrics exported");
    assert_eq!(count(&metric, &series("outer", "internal", "ok")), 1);
    assert_eq!(count(&metric, &series("inner", "internal", "ok")), 2);
    assert_eq!(count(&metric, &series("elsewhere", "internal", "ok")), 0);
    // each site binds its own handles; the SDK keeps one series for the same attributes
    assert_eq!(count(&metric, &series("twin", "internal", "ok")), 2);
    let twins = metric
        .points
        .iter()
        .filter(|p| p.attributes.contains(&KeyValue::new("span.name", "twin")))
        .count();
    assert_eq!(
        twins, 5,
        "ok, error, rejected, panic and cancelled, once each: {metric:?}"
    );
    let elsewhere = duration("sm-elsewhere").expect("its own plugin's span metrics");
    assert_eq!(count(&elsewhere, &series("elsewhere", "internal", "ok")), 1);
}

#[test]
fn sites_that_do_not_ask_record_nothing_by_default() {
    install();
    assert_eq!(quiet::quiet(), 1);
    assert!(duration("sm-quiet").is_none());
}

#[test]
fn the_plugins_switch_wins_over_the_site() {
    install();
    assert_eq!(all::anything(), 1);
    assert_eq!(off::asks(), 1);
    let all = duration("sm-all").expect("turned on for the plugin");
    assert_eq!(count(&all, &series("anything", "internal", "ok")), 1);
    assert!(duration("sm-off").is_none());
}

/// An error whose `error.type` is made from its data: the hostile case for cardinality.
#[derive(Debug)]
pub struct Coded(u32);

impl std::fmt::Display for Coded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "code {}", self.0)
    }
}

#[backstage_telemetry::error_type]
impl ErrorType for Coded {
    fn error_type(&self) -> Cow<'static, str> {
        format!("code_{}", self.0).into()
    }
}

#[backstage_telemetry::backstage_plugin(id = "sm-coded")]
mod coded {
    use super::Coded;

    #[backstage_telemetry::span(metrics)]
    pub fn call(code: u32) -> Result<(), Coded> {
        Err(Coded(code))
    }
}

#[test]
fn error_types_are_bounded_per_scope() {
    install();
    let max = backstage_telemetry::tracing::MAX_ERROR_TYPES as u32;
    for code in 0..max + 10 {
        assert!(coded::call(code).is_err());
    }
    assert!(coded::call(0).is_err()); // a type seen before keeps its own series
    let metric = duration("sm-coded").expect("span metrics exported");
    let error_series = |error_type: &str| {
        let mut attributes = series("call", "internal", "error");
        attributes.push(KeyValue::new("error.type", error_type.to_owned()));
        count(&metric, &attributes)
    };
    let errors = metric
        .points
        .iter()
        .filter(|p| p.attributes.iter().any(|a| a.key.as_str() == "error.type"))
        .count();
    assert_eq!(errors, max as usize + 1, "{} error series", errors);
    // and the five bound outcomes of the site (`error` and `rejected` without a type), at 0
    assert_eq!(metric.points.len(), max as usize + 6);
    assert_eq!(error_series("code_0"), 2);
    assert_eq!(error_series(&format!("code_{}", max - 1)), 1);
    assert_eq!(error_series(&format!("code_{max}")), 0);
    assert_eq!(
        error_series(backstage_telemetry::tracing::OTHER_ERROR_TYPE),
        10
    );
}

/// An error the caller caused (`ErrorType::is_client_error`).
#[derive(Debug)]
pub enum TodoError {
    NotFound,
    Storage,
}

impl std::fmt::Display for TodoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TodoError::NotFound => "no such todo",
            TodoError::Storage => "storage failed",
        })
    }
}

#[backstage_telemetry::error_type]
impl ErrorType for TodoError {
    fn error_type(&self) -> Cow<'static, str> {
        match self {
            TodoError::NotFound => "not_found".into(),
            TodoError::Storage => "storage".into(),
        }
    }

    fn is_client_error(&self) -> bool {
        matches!(self, TodoError::NotFound)
    }
}

#[backstage_telemetry::backstage_plugin(id = "sm-rejected")]
mod rejecting {
    use backstage_telemetry::span;

    use super::TodoError;

    #[span(metrics)]
    pub fn get_todo(outcome: Option<TodoError>) -> Result<u32, TodoError> {
        match outcome {
            None => Ok(1),
            Some(error) => Err(error),
        }
    }

    #[span(metrics)]
    pub fn healthy() -> Result<u32, TodoError> {
        Ok(2)
    }
}

/// A client error is `outcome="rejected"` with its `error.type`, apart from the service's
/// errors; its span records it as any error. Every outcome of a site is a series from its
/// first call, so the error ratio of a healthy handler is 0, not no data.
#[test]
fn client_errors_are_rejected_and_every_outcome_starts_at_zero() {
    let kit = install();
    let capture = kit.capture();
    capture.run(|| {
        assert!(rejecting::get_todo(None).is_ok());
        for _ in 0..3 {
            assert!(rejecting::get_todo(Some(TodoError::NotFound)).is_err());
        }
        assert!(rejecting::get_todo(Some(TodoError::Storage)).is_err());
        assert!(rejecting::healthy().is_ok());
    });
    let metric = duration("sm-rejected").expect("span metrics exported");
    let with_type = |outcome: &'static str, error_type: &'static str| {
        let mut attributes = series("get_todo", "internal", outcome);
        attributes.push(KeyValue::new("error.type", error_type));
        count(&metric, &attributes)
    };
    assert_eq!(count(&metric, &series("get_todo", "internal", "ok")), 1);
    assert_eq!(with_type("rejected", "not_found"), 3);
    assert_eq!(with_type("error", "storage"), 1);
    assert_eq!(with_type("error", "not_found"), 0);
    // the healthy handler: every outcome exported, errors and rejections at 0
    for outcome in ["ok", "error", "rejected", "panic", "cancelled"] {
        let point = metric
            .point(&series("healthy", "internal", outcome))
            .unwrap_or_else(|| panic!("no {outcome} series: {metric:?}"));
        let PointValue::Histogram { count, .. } = point.value else {
            panic!("not a histogram");
        };
        assert_eq!(count, u64::from(outcome == "ok"), "{outcome}");
    }
    // the spans record the caller's errors as errors all the same
    let rejected: Vec<_> = capture
        .spans()
        .into_iter()
        .filter(|s| testing::attribute_str(s, "error.type").as_deref() == Some("not_found"))
        .collect();
    assert_eq!(rejected.len(), 3);
    for span in rejected {
        assert!(matches!(
            span.status,
            opentelemetry::trace::Status::Error { .. }
        ));
    }
}

#[backstage_telemetry::backstage_plugin(id = "sm-listed")]
mod listed {
    use backstage_telemetry::span;

    #[span(metrics)]
    pub fn in_module() {}

    /// Its own scope, inside the module's walk: it lists itself, under that scope.
    #[span(metrics, plugin = "sm-listed-other")]
    pub fn own_scope() {}

    #[span(metrics)]
    pub fn after_it() {}
}

/// A site with a scope of its own inside a scoped module is in the catalog under its own
/// scope, once; the module's other sites keep theirs and record in their own series.
#[test]
fn a_site_with_its_own_scope_in_a_module_is_listed_under_it() {
    let kit = install();
    let catalog = backstage_telemetry::catalog();
    for (plugin, name) in [
        ("sm-listed", "in_module"),
        ("sm-listed-other", "own_scope"),
        ("sm-listed", "after_it"),
    ] {
        let sites: Vec<_> = catalog.spans().iter().filter(|s| s.name == name).collect();
        assert_eq!(sites.len(), 1, "{sites:?}");
        assert_eq!(sites[0].scope.id(), plugin, "{sites:?}");
    }
    kit.capture().run(|| {
        listed::in_module();
        listed::own_scope();
        listed::after_it();
        listed::after_it();
    });
    let metric = duration("sm-listed").expect("span metrics");
    assert_eq!(count(&metric, &series("in_module", "internal", "ok")), 1);
    assert_eq!(count(&metric, &series("after_it", "internal", "ok")), 2);
    assert!(
        metric
            .point(&series("own_scope", "internal", "ok"))
            .is_none()
    );
    let metric = duration("sm-listed-other").expect("span metrics");
    assert_eq!(count(&metric, &series("own_scope", "internal", "ok")), 1);
}

#[backstage_telemetry::backstage_plugin(id = "sm-versioned")]
mod versioned {
    #[backstage_telemetry::span(metrics)]
    pub fn call() {}
}

/// A plugin's scope has the version of the crate that declares it (`otel_scope_version`
/// on `/metrics`): its span metrics, an instrument its metrics service builds at run time
/// (the same scope, so one scope per plugin on `/metrics`) and its spans.
#[test]
fn a_plugins_scope_has_its_crates_version() {
    let kit = install();
    let capture = kit.capture();
    capture.run(versioned::call);
    let version = Some(env!("CARGO_PKG_VERSION"));
    let metric = duration("sm-versioned").expect("span metrics");
    assert_eq!(metric.scope.name(), "backstage-plugin-sm-versioned");
    assert_eq!(metric.scope.version(), version);
    // a counter the plugin's metrics service builds at run time: its scope
    let built = |plugin: &str| {
        backstage_telemetry::RootMetricsService::from_config(
            &backstage_telemetry::Config::default(),
        )
        .for_plugin(plugin)
        .unwrap()
        .counter::<u64>("built.at.run.time")
        .build()
        .unwrap()
        .add(1, &[]);
        kit.metrics()
            .get(&format!("backstage.plugin.{plugin}.built.at.run.time"))
            .expect("the service's counter")
            .scope
            .clone()
    };
    assert_eq!(built("sm-versioned"), metric.scope);
    let spans = capture.spans();
    let span = spans.iter().find(|s| s.name == "call").expect("span");
    assert_eq!(span.instrumentation_scope.version(), version);
    // a plugin no crate declares has no version to give
    assert_eq!(built("sm-undeclared").version(), None);
}
