//! The macros in an inline `#[backstage_plugin]` module, asserted on exported data.

use std::time::Duration;

use backstage_telemetry::testing::{self, Aggregation, PointValue};
use backstage_telemetry::{KeyValue, Status};
use backstage_telemetry_tests::{attribute, attribute_str, event_attributes};
use opentelemetry::Value;

#[backstage_telemetry::backstage_plugin(id = "inline-catalog")]
mod catalog {
    use backstage_telemetry::{BackstageCredentials, KeyValue, current_span, metric, span};
    use std::borrow::Cow;

    metric! {
        /// Entities processed by the catalog.
        pub static ENTITIES_PROCESSED: Counter<u64> = "entities.processed", unit = "{entity}";
        /// Time to process one entity.
        pub static PROCESSING_DURATION: Histogram<f64> = "processing.duration", unit = "s", boundaries = [0.01, 0.1, 1.0];
        pub static IN_FLIGHT: UpDownCounter<i64> = "processing.in_flight";
        pub static QUEUE: Gauge<u64> = "queue.length";
        /// Entities in the store.
        pub static STORED: ObservableGauge<u64> = "entities.stored", unit = "{entity}", callback = |observer| observer.observe(12, &[]);
    }

    #[derive(Debug)]
    pub enum ProcessError {
        NotFound(String),
        Invalid,
    }

    impl std::fmt::Display for ProcessError {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            match self {
                ProcessError::NotFound(r) => write!(f, "entity {r} not found"),
                ProcessError::Invalid => f.write_str("entity is invalid"),
            }
        }
    }

    #[backstage_telemetry::error_type]
    impl backstage_telemetry::ErrorType for ProcessError {
        fn error_type(&self) -> Cow<'static, str> {
            match self {
                ProcessError::NotFound(_) => "not_found".into(),
                ProcessError::Invalid => "invalid".into(),
            }
        }
    }

    #[span]
    pub fn process(kind: &'static str) -> Result<u32, ProcessError> {
        ENTITIES_PROCESSED.add(1, &[KeyValue::new("kind", kind)]);
        PROCESSING_DURATION.record(0.05, &[]);
        match kind {
            "missing" => Err(ProcessError::NotFound("component:default/x".into())),
            "invalid" => Err(ProcessError::Invalid),
            _ => Ok(7),
        }
    }

    #[span(name = "read-location", kind = client, attributes(catalog.location.type = location_type, "catalog.attempt" = 2_i64))]
    pub fn read(location_type: &'static str, secret_token: &str) -> std::io::Result<String> {
        assert!(!secret_token.is_empty());
        Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "no such location",
        ))
    }

    /// Borrowed values: converted when the span starts (a `kind` sets the attributes-only
    /// start; `credentials` the options one).
    #[allow(clippy::ptr_arg)] // the borrowed forms are what this is about
    #[span(kind = server, attributes(owner.name = owner.as_str(), owner.ref = owner, owner.tags = tags.len(), owner.score = *score, owner.tier = tier))]
    pub fn borrowed(owner: &String, tags: &[&str], score: &f32, tier: &Cow<'_, str>) -> usize {
        owner.len() + tags.len() + tier.len() + *score as usize
    }

    #[span(credentials = credentials, attributes(owner.name = name))]
    pub fn borrowed_with_options(name: &str, credentials: &BackstageCredentials) -> usize {
        let _ = credentials;
        name.len()
    }

    #[span(credentials = credentials)]
    pub fn authorize(credentials: &BackstageCredentials) -> bool {
        current_span().set_attribute(KeyValue::new("catalog.authorized", true));
        true
    }

    #[span(request = request)]
    pub fn handle(request: http::Request<()>) -> usize {
        request.headers().len()
    }

    #[span]
    pub fn explode() {
        let entity = String::from("component:default/boom");
        panic!("cannot stitch {entity}");
    }

    #[span]
    pub fn count_events() -> usize {
        let expression = metric!(Counter<u64>, "events.seen", description = "Events seen");
        expression.add(3, &[]);
        IN_FLIGHT.add(2, &[]);
        QUEUE.record(9, &[]);
        3
    }

    pub struct Store {
        pub entities: Vec<String>,
    }

    impl Store {
        #[span]
        pub fn insert(&mut self, entity: String) -> usize {
            self.entities.push(entity);
            self.entities.len()
        }

        #[span]
        pub fn first(&self) -> Option<&str> {
            self.entities.first().map(String::as_str)
        }

        #[span]
        pub fn into_len(self) -> usize {
            self.entities.len()
        }
    }

    #[span]
    pub fn largest<T: PartialOrd + Copy>(values: &[T]) -> Option<T> {
        values.iter().copied().fold(None, |max, v| match max {
            Some(m) if m >= v => Some(m),
            _ => Some(v),
        })
    }

    #[span]
    pub fn evens(limit: u32) -> impl Iterator<Item = u32> {
        (0..limit).filter(|n| n % 2 == 0)
    }

    #[span]
    pub async fn refresh(entity: String) -> Result<usize, ProcessError> {
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        stitch(&entity).await?;
        Ok(entity.len())
    }

    #[span]
    pub async fn stitch(entity: &str) -> Result<(), ProcessError> {
        tokio::task::yield_now().await;
        if entity.is_empty() {
            return Err(ProcessError::Invalid);
        }
        Ok(())
    }

    #[span]
    pub fn fetch_later(id: u32) -> impl std::future::Future<Output = u32> + Send {
        let doubled = id * 2;
        async move {
            tokio::task::yield_now().await;
            doubled
        }
    }

    pub mod nested {
        use backstage_telemetry::span;

        #[span]
        pub fn deep() -> u8 {
            1
        }

        #[span(plugin = "inline-other")]
        pub fn elsewhere() -> u8 {
            2
        }

        // after a built-in attribute: the module expands it in its own walk
        #[allow(clippy::unnecessary_wraps)]
        #[span]
        pub fn after_built_in() -> Option<u8> {
            Some(3)
        }

        // after an attribute rustc expands first: left to rustc, with the scope handed down
        #[cfg_attr(all(), must_use)]
        #[span]
        pub fn after_cfg_attr() -> u8 {
            4
        }
    }

    #[backstage_telemetry::backstage_core(id = "inline-scheduler")]
    pub mod scheduler {
        use backstage_telemetry::{metric, span};

        metric! {
            pub static RUNS: Counter<u64> = "tasks.runs";
        }

        #[span]
        pub fn run_task() {
            RUNS.add(1, &[]);
        }
    }
}

#[test]
fn success_and_errors_by_type() {
    let kit = testing::install();
    let capture = kit.capture();
    assert_eq!(capture.run(|| catalog::process("Component")).unwrap(), 7);
    let missing = capture.run(|| catalog::process("missing"));
    assert!(matches!(missing, Err(catalog::ProcessError::NotFound(_))));
    let invalid = capture.run(|| catalog::process("invalid"));
    assert!(matches!(invalid, Err(catalog::ProcessError::Invalid)));
    let spans: Vec<_> = capture
        .spans()
        .into_iter()
        .filter(|s| s.name == "process")
        .collect();
    assert_eq!(spans.len(), 3);
    assert_eq!(spans[0].status, Status::Unset);
    assert_eq!(
        attribute_str(&spans[0], "backstage.plugin.id").as_deref(),
        Some("inline-catalog")
    );
    assert_eq!(
        spans[0].instrumentation_scope.name(),
        "backstage-plugin-inline-catalog"
    );
    assert_eq!(
        spans[1].status,
        Status::error("entity component:default/x not found")
    );
    assert_eq!(
        attribute_str(&spans[1], "error.type").as_deref(),
        Some("not_found")
    );
    assert_eq!(
        event_attributes(&spans[1], "exception"),
        Some(vec![
            (
                "exception.type".to_owned(),
                std::any::type_name::<catalog::ProcessError>().to_owned()
            ),
            (
                "exception.message".to_owned(),
                "entity component:default/x not found".to_owned()
            ),
        ])
    );
    assert_eq!(
        attribute_str(&spans[2], "error.type").as_deref(),
        Some("invalid")
    );
}

/// `#[span(attributes(..))]` takes borrowed values of the function's arguments (a `&str`
/// of a `String`, a `&String`, a `&f32`, a `usize`, a `&Cow<str>`), recorded as values.
#[test]
fn attribute_values_may_borrow_the_arguments() {
    let capture = testing::install().capture();
    let owner = String::from("user:default/alice");
    let tier = std::borrow::Cow::Owned(String::from("gold"));
    let length = capture.run(|| catalog::borrowed(&owner, &["a", "b"], &2.5, &tier));
    assert_eq!(length, owner.len() + 2 + 4 + 2);
    let span = capture.span("borrowed");
    assert_eq!(
        attribute_str(&span, "owner.name").as_deref(),
        Some("user:default/alice")
    );
    assert_eq!(
        attribute_str(&span, "owner.ref").as_deref(),
        Some("user:default/alice")
    );
    assert_eq!(attribute(&span, "owner.tags"), Some(&Value::I64(2)));
    assert_eq!(attribute(&span, "owner.score"), Some(&Value::F64(2.5)));
    assert_eq!(attribute_str(&span, "owner.tier").as_deref(), Some("gold"));

    let credentials = backstage_telemetry::BackstageCredentials::none();
    let name = format!("user:default/{}", "bob");
    capture.run(|| catalog::borrowed_with_options(&name, &credentials));
    let span = capture.span("borrowed_with_options");
    assert_eq!(
        attribute_str(&span, "owner.name").as_deref(),
        Some("user:default/bob")
    );
}

#[test]
fn options_and_io_result_alias() {
    let capture = testing::install().capture();
    let result = capture.run(|| catalog::read("url", "hunter2"));
    assert_eq!(result.unwrap_err().kind(), std::io::ErrorKind::NotFound);
    let span = capture.span("read-location");
    assert_eq!(span.span_kind, opentelemetry::trace::SpanKind::Client);
    assert_eq!(
        attribute_str(&span, "catalog.location.type").as_deref(),
        Some("url")
    );
    assert_eq!(attribute(&span, "catalog.attempt"), Some(&Value::I64(2)));
    assert_eq!(
        attribute_str(&span, "error.type").as_deref(),
        Some("io::Error")
    );
    assert_eq!(span.status, Status::error("no such location"));
    // arguments are not recorded unless named
    assert!(
        span.attributes
            .iter()
            .all(|kv| !kv.value.as_str().contains("hunter2"))
    );
}

#[test]
fn principal_from_credentials_and_request() {
    let capture = testing::install().capture();
    let credentials = backstage_telemetry::BackstageCredentials::user("user:default/alice");
    assert!(capture.run(|| catalog::authorize(&credentials)));
    let mut request = http::Request::new(());
    request
        .extensions_mut()
        .insert(backstage_telemetry::BackstageCredentials::service(
            "plugin:search",
        ));
    capture.run(|| catalog::handle(request));
    let authorize = capture.span("authorize");
    assert_eq!(
        attribute_str(&authorize, "backstage.principal.type").as_deref(),
        Some("user")
    );
    assert_eq!(
        attribute(&authorize, "enduser.id"),
        None,
        "capture.endUser is off by default"
    );
    assert_eq!(
        attribute(&authorize, "catalog.authorized"),
        Some(&Value::Bool(true))
    );
    let handle = capture.span("handle");
    assert_eq!(
        attribute_str(&handle, "backstage.principal.type").as_deref(),
        Some("service")
    );
}

#[test]
fn panic_recorded_then_resumed() {
    let capture = testing::install().capture();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        capture.run(catalog::explode)
    }));
    assert!(outcome.is_err());
    let span = capture.span("explode");
    assert_eq!(
        span.status,
        Status::error("cannot stitch component:default/boom")
    );
    assert_eq!(attribute_str(&span, "error.type").as_deref(), Some("panic"));
}

#[test]
fn methods_generics_and_impl_trait() {
    let capture = testing::install().capture();
    let mut store = catalog::Store {
        entities: Vec::new(),
    };
    assert_eq!(capture.run(|| store.insert("a".into())), 1);
    assert_eq!(capture.run(|| store.first()), Some("a"));
    assert_eq!(capture.run(|| catalog::largest(&[3, 9, 2])), Some(9));
    assert_eq!(capture.run(|| catalog::largest(&[0.5, 0.25])), Some(0.5));
    assert_eq!(
        capture.run(|| catalog::evens(7).collect::<Vec<_>>()),
        [0, 2, 4, 6]
    );
    assert_eq!(capture.run(|| store.into_len()), 1);
    let names: Vec<String> = capture.spans().iter().map(|s| s.name.to_string()).collect();
    assert_eq!(
        names,
        ["insert", "first", "largest", "largest", "evens", "into_len"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_fns_nest_across_await() {
    let capture = testing::install().capture();
    let task = tokio::spawn(capture.run_async(catalog::refresh("component:default/a".into())));
    assert_eq!(task.await.unwrap().unwrap(), 19);
    let failed = capture.run_async(catalog::refresh(String::new())).await;
    assert!(matches!(failed, Err(catalog::ProcessError::Invalid)));

    let spans = capture.spans();
    let refresh: Vec<_> = spans.iter().filter(|s| s.name == "refresh").collect();
    let stitch: Vec<_> = spans.iter().filter(|s| s.name == "stitch").collect();
    assert_eq!((refresh.len(), stitch.len()), (2, 2));
    for (parent, child) in refresh.iter().zip(&stitch) {
        assert_eq!(child.parent_span_id, parent.span_context.span_id());
        assert_eq!(
            child.span_context.trace_id(),
            parent.span_context.trace_id()
        );
    }
    assert_eq!(refresh[0].status, Status::Unset);
    assert_eq!(
        attribute_str(refresh[1], "error.type").as_deref(),
        Some("invalid")
    );
    assert_eq!(
        attribute_str(stitch[1], "error.type").as_deref(),
        Some("invalid")
    );
}

#[tokio::test]
async fn impl_future_tail_and_cancellation() {
    let capture = testing::install().capture();
    // the span starts at first poll, inside the capture
    let future = catalog::fetch_later(21);
    assert_eq!(capture.run_async(future).await, 42);
    let slow = capture.run_async(catalog::refresh("slow".into()));
    let _ = tokio::time::timeout(Duration::from_nanos(1), slow).await;
    let fetch = capture.span("fetch_later");
    assert_eq!(attribute(&fetch, "backstage.span.cancelled"), None);
    let cancelled = capture.span("refresh");
    assert_eq!(
        attribute(&cancelled, "backstage.span.cancelled"),
        Some(&Value::Bool(true))
    );
}

#[test]
fn nearest_scope_wins() {
    let capture = testing::install().capture();
    capture.run(|| {
        catalog::nested::deep();
        catalog::nested::elsewhere();
        assert_eq!(catalog::nested::after_built_in(), Some(3));
        assert_eq!(catalog::nested::after_cfg_attr(), 4);
        catalog::scheduler::run_task();
    });
    let deep = capture.span("deep");
    assert_eq!(
        attribute_str(&deep, "backstage.plugin.id").as_deref(),
        Some("inline-catalog")
    );
    for name in ["after_built_in", "after_cfg_attr"] {
        let span = capture.span(name);
        assert_eq!(
            attribute_str(&span, "backstage.plugin.id").as_deref(),
            Some("inline-catalog"),
            "{name}"
        );
        assert_eq!(
            span.instrumentation_scope.name(),
            "backstage-plugin-inline-catalog"
        );
    }
    let elsewhere = capture.span("elsewhere");
    assert_eq!(
        attribute_str(&elsewhere, "backstage.plugin.id").as_deref(),
        Some("inline-other")
    );
    assert_eq!(
        elsewhere.instrumentation_scope.name(),
        "backstage-plugin-inline-other"
    );
    let task = capture.span("run_task");
    assert_eq!(
        attribute_str(&task, "backstage.core.id").as_deref(),
        Some("inline-scheduler")
    );
    assert_eq!(
        task.instrumentation_scope.name(),
        "backstage-core-inline-scheduler"
    );
    let metrics = testing::install().metrics();
    assert_eq!(
        metrics
            .metric("backstage.core.inline-scheduler.tasks.runs")
            .points[0]
            .value,
        PointValue::U64(1)
    );
}

#[test]
fn metrics_export_under_prefixed_names() {
    let kit = testing::install();
    catalog::register_observables();
    kit.capture().run(|| {
        let _ = catalog::process("API");
        catalog::count_events();
        catalog::count_events();
    });
    let metrics = kit.metrics();
    let processed = metrics.metric("backstage.plugin.inline-catalog.entities.processed");
    assert_eq!(processed.unit, "{entity}");
    assert_eq!(processed.description, "Entities processed by the catalog.");
    assert!(processed.point(&[KeyValue::new("kind", "API")]).is_some());
    let duration = metrics.metric("backstage.plugin.inline-catalog.processing.duration");
    let PointValue::Histogram { bounds, .. } = &duration.points[0].value else {
        panic!("not a histogram: {duration:?}");
    };
    assert_eq!(bounds, &[0.01, 0.1, 1.0]);
    let events = metrics.metric("backstage.plugin.inline-catalog.events.seen");
    assert_eq!(events.description, "Events seen");
    assert_eq!(events.points[0].value, PointValue::U64(6));
    assert_eq!(events.aggregation, Aggregation::Sum { monotonic: true });
    let stored = metrics.metric("backstage.plugin.inline-catalog.entities.stored");
    assert_eq!(stored.points[0].value, PointValue::U64(12));
    assert_eq!(stored.scope.name(), "backstage-plugin-inline-catalog");
    assert!(matches!(
        metrics.metric("backstage.plugin.inline-catalog.processing.in_flight").points[0].value,
        PointValue::I64(v) if v >= 2
    ));
    assert_eq!(
        metrics
            .metric("backstage.plugin.inline-catalog.queue.length")
            .points[0]
            .value,
        PointValue::U64(9)
    );
}

#[test]
fn the_module_lists_its_metrics() {
    use backstage_telemetry::__private::MetricKind;
    let names: Vec<(&str, MetricKind, &str, &str)> = catalog::METRICS
        .iter()
        .map(|m| (m.name, m.kind, m.value_type, m.unit))
        .collect();
    assert_eq!(
        names,
        [
            (
                "backstage.plugin.inline-catalog.entities.processed",
                MetricKind::Counter,
                "u64",
                "{entity}"
            ),
            (
                "backstage.plugin.inline-catalog.processing.duration",
                MetricKind::Histogram,
                "f64",
                "s"
            ),
            (
                "backstage.plugin.inline-catalog.processing.in_flight",
                MetricKind::UpDownCounter,
                "i64",
                ""
            ),
            (
                "backstage.plugin.inline-catalog.queue.length",
                MetricKind::Gauge,
                "u64",
                ""
            ),
            (
                "backstage.plugin.inline-catalog.entities.stored",
                MetricKind::ObservableGauge,
                "u64",
                "{entity}"
            ),
            (
                "backstage.plugin.inline-catalog.events.seen",
                MetricKind::Counter,
                "u64",
                ""
            ),
        ]
    );
    assert_eq!(
        catalog::METRICS[0].description,
        "Entities processed by the catalog."
    );
    assert_eq!(catalog::scheduler::METRICS.len(), 1);
}

#[backstage_telemetry::backstage_plugin(id = "inline-links")]
mod links {
    use backstage_telemetry::span;
    use opentelemetry::trace::SpanContext;

    #[span(link = queued_by.clone())]
    pub fn run_queued(queued_by: &SpanContext) -> u8 {
        1
    }

    #[span(link = queued_by)]
    pub async fn run_maybe_queued(queued_by: Option<SpanContext>) -> u8 {
        2
    }
}

/// `#[span(link = ...)]` takes a `SpanContext` or an `Option` of one; `None` links nothing.
#[test]
fn span_links_from_the_macro() {
    use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
    let capture = testing::install().capture();
    let queued_by = SpanContext::new(
        TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
        SpanId::from_hex("00f067aa0ba902b7").unwrap(),
        TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    );
    assert_eq!(capture.run(|| links::run_queued(&queued_by)), 1);
    let span = capture.span("run_queued");
    assert_eq!(span.links.len(), 1);
    assert_eq!(span.links[0].span_context, queued_by);
    // the linked span is not the parent: a trace of its own
    assert_ne!(span.span_context.trace_id(), queued_by.trace_id());

    let value = futures::executor::block_on(
        capture.run_async(links::run_maybe_queued(Some(queued_by.clone()))),
    );
    assert_eq!(value, 2);
    futures::executor::block_on(capture.run_async(links::run_maybe_queued(None)));
    let spans: Vec<_> = capture
        .spans()
        .into_iter()
        .filter(|s| s.name == "run_maybe_queued")
        .collect();
    assert_eq!(spans.len(), 2);
    assert_eq!(spans.iter().map(|s| s.links.len()).sum::<usize>(), 1);
}
