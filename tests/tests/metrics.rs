//! Conformance of `MetricsService` (docs/design.md: naming, scopes, metrics), asserted on exported metrics.
//!
//! Metric series are process-wide, so every test uses its own plugin ids.

use backstage_telemetry::naming::Subject;
use backstage_telemetry::testing::{self, Aggregation, ExportedMetric, PointValue};
use backstage_telemetry::{Config, KeyValue, MetricsService, RootMetricsService};
use proptest::prelude::*;

fn plugin(id: &str) -> MetricsService {
    testing::install();
    RootMetricsService::from_config(&Config::default())
        .for_plugin(id)
        .unwrap()
}

fn exported(name: &str) -> ExportedMetric {
    testing::install().metrics().metric(name).clone()
}

#[test]
fn meter_scope_defaults_and_config_override() {
    testing::install();
    let config = Config::from_yaml_str(
        "app-config.yaml",
        "backend:\n  metrics:\n    serviceName: portal\n    serviceVersion: 1.2.3\n    plugin:\n      scope-override:\n        meter:\n          name: custom-meter\n          version: 2.0.0\n          schemaUrl: https://example.com/schema\n",
    )
    .unwrap();
    let root = RootMetricsService::from_config(&config);
    let overridden = root.for_plugin("scope-override").unwrap();
    let default = root.for_plugin("scope-default").unwrap();
    let core = root.for_core("scope-core").unwrap();
    for (service, name) in [(&overridden, "a.b"), (&default, "a.b"), (&core, "a.b")] {
        service.counter::<u64>(name).build().unwrap().add(1, &[]);
    }
    let metrics = testing::install().metrics();

    let scope = &metrics.metric("backstage.plugin.scope-override.a.b").scope;
    assert_eq!(scope.name(), "custom-meter");
    assert_eq!(scope.version(), Some("2.0.0"));
    assert_eq!(scope.schema_url(), Some("https://example.com/schema"));

    let scope = &metrics.metric("backstage.plugin.scope-default.a.b").scope;
    assert_eq!(scope.name(), "backstage-plugin-scope-default");
    assert_eq!(scope.version(), None);
    assert_eq!(scope.schema_url(), None);

    // core services use the root meter: serviceName / serviceVersion
    let scope = &metrics.metric("backstage.core.scope-core.a.b").scope;
    assert_eq!(scope.name(), "portal");
    assert_eq!(scope.version(), Some("1.2.3"));

    // the root meter is the same scope
    root.meter()
        .u64_counter("root.meter.check")
        .build()
        .add(1, &[]);
    let scope = exported("root.meter.check").scope;
    assert_eq!((scope.name(), scope.version()), ("portal", Some("1.2.3")));
}

#[test]
fn default_service_name_is_backstage() {
    testing::install();
    let root = RootMetricsService::from_config(&Config::default());
    root.for_core("default-core")
        .unwrap()
        .counter::<u64>("c.d")
        .build()
        .unwrap()
        .add(1, &[]);
    assert_eq!(
        exported("backstage.core.default-core.c.d").scope.name(),
        "backstage"
    );
}

#[test]
fn all_seven_kinds_export_under_the_prefixed_name_with_unit_and_description() {
    let metrics = plugin("kinds");
    let attrs = [KeyValue::new("kind", "Component")];

    let counter_u64 = metrics
        .counter::<u64>("entities.processed")
        .with_description("Entities processed")
        .with_unit("{entity}")
        .build()
        .unwrap();
    counter_u64.add(2, &attrs);
    counter_u64.add(3, &attrs);
    let counter_f64 = metrics
        .counter::<f64>("work.seconds")
        .with_unit("s")
        .build()
        .unwrap();
    counter_f64.add(1.5, &[]);

    let up_down_i64 = metrics
        .up_down_counter::<i64>("tasks.active")
        .with_description("Tasks running")
        .with_unit("{task}")
        .build()
        .unwrap();
    up_down_i64.add(5, &[]);
    up_down_i64.add(-2, &[]);
    let up_down_f64 = metrics
        .up_down_counter::<f64>("queue.weight")
        .build()
        .unwrap();
    up_down_f64.add(-0.5, &[]);

    let histogram_f64 = metrics
        .histogram::<f64>("step.duration")
        .with_description("Step duration")
        .with_unit("s")
        .with_boundaries(vec![0.1, 1.0, 10.0])
        .build()
        .unwrap();
    for value in [0.05, 0.5, 5.0, 50.0] {
        histogram_f64.record(value, &[KeyValue::new("step", "fetch")]);
    }
    let histogram_u64 = metrics
        .histogram::<u64>("payload.size")
        .with_unit("By")
        .build()
        .unwrap();
    histogram_u64.record(100, &[]);

    let gauge_u64 = metrics
        .gauge::<u64>("queue.length")
        .with_unit("{item}")
        .build()
        .unwrap();
    gauge_u64.record(7, &[]);
    gauge_u64.record(4, &[]);
    let gauge_i64 = metrics
        .gauge::<i64>("clock.skew")
        .with_unit("ms")
        .build()
        .unwrap();
    gauge_i64.record(-3, &[]);
    let gauge_f64 = metrics
        .gauge::<f64>("cache.ratio")
        .with_unit("1")
        .build()
        .unwrap();
    gauge_f64.record(0.75, &[]);

    let _observable_counter_u64 = metrics
        .observable_counter::<u64>("cpu.time")
        .with_description("CPU time used")
        .with_unit("ms")
        .with_callback(|observer| observer.observe(1234, &[KeyValue::new("cpu", "0")]))
        .build()
        .unwrap();
    let _observable_counter_f64 = metrics
        .observable_counter::<f64>("io.seconds")
        .with_callback(|observer| observer.observe(2.5, &[]))
        .build()
        .unwrap();
    let _observable_up_down_i64 = metrics
        .observable_up_down_counter::<i64>("entities.stored")
        .with_description("Entities stored")
        .with_unit("{entity}")
        .with_callback(|observer| observer.observe(42, &[KeyValue::new("kind", "API")]))
        .build()
        .unwrap();
    let _observable_up_down_f64 = metrics
        .observable_up_down_counter::<f64>("balance.value")
        .with_callback(|observer| observer.observe(-1.25, &[]))
        .build()
        .unwrap();
    let _observable_gauge_u64 = metrics
        .observable_gauge::<u64>("refresh.age")
        .with_description("Age of the oldest refresh")
        .with_unit("s")
        .with_callback(|observer| observer.observe(30, &[]))
        .build()
        .unwrap();
    let _observable_gauge_i64 = metrics
        .observable_gauge::<i64>("temperature.delta")
        .with_callback(|observer| observer.observe(-4, &[]))
        .build()
        .unwrap();
    let _observable_gauge_f64 = metrics
        .observable_gauge::<f64>("load.average")
        .with_callback(|observer| observer.observe(0.42, &[]))
        .build()
        .unwrap();

    let snapshot = testing::install().metrics();
    let check = |name: &str,
                 description: &str,
                 unit: &str,
                 aggregation: Aggregation,
                 value: PointValue,
                 attributes: &[KeyValue]| {
        let metric = snapshot.metric(&format!("backstage.plugin.kinds.{name}"));
        assert_eq!(metric.scope.name(), "backstage-plugin-kinds", "{name}");
        assert_eq!(metric.description, description, "{name}");
        assert_eq!(metric.unit, unit, "{name}");
        assert_eq!(metric.aggregation, aggregation, "{name}");
        assert_eq!(metric.points.len(), 1, "{name}: {:?}", metric.points);
        assert_eq!(
            metric.point(attributes).map(|p| &p.value),
            Some(&value),
            "{name}"
        );
    };
    let sum = Aggregation::Sum { monotonic: true };
    let up_down = Aggregation::Sum { monotonic: false };
    check(
        "entities.processed",
        "Entities processed",
        "{entity}",
        sum,
        PointValue::U64(5),
        &attrs,
    );
    check("work.seconds", "", "s", sum, PointValue::F64(1.5), &[]);
    check(
        "tasks.active",
        "Tasks running",
        "{task}",
        up_down,
        PointValue::I64(3),
        &[],
    );
    check("queue.weight", "", "", up_down, PointValue::F64(-0.5), &[]);
    check(
        "step.duration",
        "Step duration",
        "s",
        Aggregation::Histogram,
        PointValue::Histogram {
            count: 4,
            sum: 55.55,
            bounds: vec![0.1, 1.0, 10.0],
            bucket_counts: vec![1, 1, 1, 1],
        },
        &[KeyValue::new("step", "fetch")],
    );
    let payload = snapshot.metric("backstage.plugin.kinds.payload.size");
    assert!(
        matches!(&payload.points[0].value, PointValue::Histogram { count: 1, sum, .. } if *sum == 100.0)
    );
    check(
        "queue.length",
        "",
        "{item}",
        Aggregation::Gauge,
        PointValue::U64(4),
        &[],
    );
    check(
        "clock.skew",
        "",
        "ms",
        Aggregation::Gauge,
        PointValue::I64(-3),
        &[],
    );
    check(
        "cache.ratio",
        "",
        "1",
        Aggregation::Gauge,
        PointValue::F64(0.75),
        &[],
    );
    check(
        "cpu.time",
        "CPU time used",
        "ms",
        sum,
        PointValue::U64(1234),
        &[KeyValue::new("cpu", "0")],
    );
    check("io.seconds", "", "", sum, PointValue::F64(2.5), &[]);
    check(
        "entities.stored",
        "Entities stored",
        "{entity}",
        up_down,
        PointValue::I64(42),
        &[KeyValue::new("kind", "API")],
    );
    check(
        "balance.value",
        "",
        "",
        up_down,
        PointValue::F64(-1.25),
        &[],
    );
    check(
        "refresh.age",
        "Age of the oldest refresh",
        "s",
        Aggregation::Gauge,
        PointValue::U64(30),
        &[],
    );
    check(
        "temperature.delta",
        "",
        "",
        Aggregation::Gauge,
        PointValue::I64(-4),
        &[],
    );
    check(
        "load.average",
        "",
        "",
        Aggregation::Gauge,
        PointValue::F64(0.42),
        &[],
    );
    assert_eq!(
        counter_u64.name(),
        "backstage.plugin.kinds.entities.processed"
    );
}

#[test]
fn observable_callbacks_stop_when_the_instrument_is_dropped() {
    let metrics = plugin("observable-drop");
    let gauge = metrics
        .observable_gauge::<u64>("live.value")
        .with_callback(|observer| observer.observe(1, &[]))
        .build()
        .unwrap();
    let clone = gauge.clone();
    drop(gauge);
    assert!(
        testing::install()
            .metrics()
            .get("backstage.plugin.observable-drop.live.value")
            .is_some()
    );
    drop(clone);
    // a gauge that is no longer observed has no point in the next collection
    let snapshot = testing::install().metrics();
    let points = snapshot
        .get("backstage.plugin.observable-drop.live.value")
        .map_or(0, |m| m.points.len());
    assert_eq!(points, 0);
}

#[test]
fn same_authored_name_in_two_plugins_exports_two_names() {
    let catalog = plugin("same-name-catalog");
    let scaffolder = plugin("same-name-scaffolder");
    catalog
        .counter::<u64>("tasks.completed")
        .build()
        .unwrap()
        .add(1, &[]);
    scaffolder
        .counter::<u64>("tasks.completed")
        .build()
        .unwrap()
        .add(2, &[]);
    let snapshot = testing::install().metrics();
    let a = snapshot.metric("backstage.plugin.same-name-catalog.tasks.completed");
    let b = snapshot.metric("backstage.plugin.same-name-scaffolder.tasks.completed");
    assert_eq!(a.points[0].value, PointValue::U64(1));
    assert_eq!(b.points[0].value, PointValue::U64(2));
    assert_eq!(a.scope.name(), "backstage-plugin-same-name-catalog");
    assert_eq!(b.scope.name(), "backstage-plugin-same-name-scaffolder");
}

#[test]
fn the_same_instrument_twice_in_one_scope_is_one_series() {
    let metrics = plugin("twice");
    let first = metrics
        .counter::<u64>("jobs.run")
        .with_unit("{job}")
        .build()
        .unwrap();
    let second = metrics
        .counter::<u64>("jobs.run")
        .with_unit("{job}")
        .build()
        .unwrap();
    let clone = first.clone();
    first.add(1, &[KeyValue::new("result", "ok")]);
    second.add(10, &[KeyValue::new("result", "ok")]);
    clone.add(100, &[KeyValue::new("result", "ok")]);
    let snapshot = testing::install().metrics();
    let all: Vec<_> = snapshot
        .metrics
        .iter()
        .filter(|m| m.name == "backstage.plugin.twice.jobs.run")
        .collect();
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0].points.len(), 1);
    assert_eq!(all[0].points[0].value, PointValue::U64(111));
    // a second service for the same plugin shares the series too
    plugin("twice")
        .counter::<u64>("jobs.run")
        .with_unit("{job}")
        .build()
        .unwrap()
        .add(1000, &[KeyValue::new("result", "ok")]);
    assert_eq!(
        exported("backstage.plugin.twice.jobs.run").points[0].value,
        PointValue::U64(1111)
    );
}

#[test]
fn invalid_run_time_names_are_typed_errors() {
    let metrics = plugin("invalid");
    let subject = |r: Result<_, backstage_telemetry::naming::NameError>| {
        r.map(|_: backstage_telemetry::metrics::Counter<u64>| ())
            .unwrap_err()
            .subject()
    };
    assert_eq!(
        subject(metrics.counter::<u64>("Entities.processed").build()),
        Subject::MetricName
    );
    assert_eq!(
        subject(metrics.counter::<u64>("entities").build()),
        Subject::MetricName
    );
    assert_eq!(
        subject(metrics.counter::<u64>("entities..processed").build()),
        Subject::MetricName
    );
    assert_eq!(
        subject(metrics.counter::<u64>("").build()),
        Subject::MetricName
    );
    assert_eq!(
        subject(
            metrics
                .counter::<u64>(&format!("a.{}", "b".repeat(240)))
                .build()
        ),
        Subject::ExportedMetricName
    );
    assert_eq!(
        subject(
            metrics
                .counter::<u64>("a.b")
                .with_unit("per second")
                .build()
        ),
        Subject::Unit
    );
    assert_eq!(
        subject(metrics.counter::<u64>("a.b").with_unit("µs").build()),
        Subject::Unit
    );
    let histogram = |b: Vec<f64>| {
        metrics
            .histogram::<f64>("a.b")
            .with_boundaries(b)
            .build()
            .unwrap_err()
    };
    assert_eq!(
        histogram(vec![1.0, 1.0]).subject(),
        Subject::HistogramBoundaries
    );
    assert_eq!(
        histogram(vec![f64::NAN]).subject(),
        Subject::HistogramBoundaries
    );
    let err = metrics
        .observable_gauge::<u64>("Bad")
        .with_callback(|o| o.observe(1, &[]))
        .build()
        .unwrap_err();
    assert_eq!(err.subject(), Subject::MetricName);
    assert_eq!(
        err.to_string(),
        "metric name `Bad` has uppercase `B` at position 0: metric names are `{category}.{name}`: \
         two or more dot-separated segments of lowercase letters, digits and underscores, each \
         starting with a letter, e.g. `entities.processed`; the `backstage.plugin.{id}.` prefix \
         is added for you"
    );
    let root = RootMetricsService::from_config(&Config::default());
    assert_eq!(
        root.for_plugin("Catalog").unwrap_err().subject(),
        Subject::PluginId
    );
    assert_eq!(
        root.for_core("db_main").unwrap_err().subject(),
        Subject::CoreServiceId
    );
    // nothing was exported for the rejected names
    let snapshot = testing::install().metrics();
    assert!(
        !snapshot
            .metrics
            .iter()
            .any(|m| m.name.starts_with("backstage.plugin.invalid."))
    );
}

fn plugin_id() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9]{0,8}(-[a-z0-9]{1,6}){0,3}"
}

fn metric_name() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9_]{0,12}(\\.[a-z][a-z0-9_]{0,12}){1,4}"
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Every exported name we accept, the SDK accepts: the instrument is created and its
    /// data exported under exactly that name.
    #[test]
    fn accepted_names_export_through_the_sdk(id in plugin_id(), name in metric_name(), unit in "[!-~]{0,8}") {
        let id = format!("prop-{id}");
        let metrics = plugin(&id);
        let counter = metrics.counter::<u64>(&name).with_unit(unit.clone()).build().unwrap();
        counter.add(3, &[]);
        let full = format!("backstage.plugin.{id}.{name}");
        prop_assert_eq!(counter.name(), full.as_str());
        let snapshot = testing::install().metrics();
        let metric = snapshot.metric(&full);
        prop_assert_eq!(&metric.unit, &unit);
        prop_assert!(matches!(metric.points[0].value, PointValue::U64(v) if v >= 3));
    }

    /// Garbage never panics: every validator returns a verdict.
    #[test]
    fn garbage_names_never_panic(input in any::<String>(), numbers in proptest::collection::vec(any::<f64>(), 0..8)) {
        use backstage_telemetry::naming::*;
        let _ = Scope::plugin(input.clone());
        let _ = Scope::core(input.clone());
        let _ = validate_metric_name(&input);
        let _ = validate_unit(&input);
        let _ = validate_attribute_key(&input);
        let _ = validate_span_name(&input);
        let _ = validate_boundaries(&numbers);
        if let Ok(scope) = Scope::plugin(input.clone()) {
            let _ = scope.metric_name(&input);
        }
        let metrics = plugin("garbage");
        if let Err(error) = metrics.counter::<u64>(&input).build() {
            prop_assert!(!error.to_string().is_empty());
        }
    }

    /// An error message quotes at most a short, escaped prefix of the value: bounded in
    /// length, never a control character, whatever the input.
    #[test]
    fn messages_quote_a_short_escaped_prefix(input in "\\PC{0,40}[\\x00-\\x1f\\x7f]{0,4}.{0,2000}") {
        use backstage_telemetry::naming::*;
        let errors = [
            Scope::plugin(input.clone()).err(),
            validate_metric_name(&input).err(),
            validate_unit(&input).err(),
            validate_attribute_key(&input).err(),
            validate_span_name(&input).err(),
        ];
        for error in errors.into_iter().flatten() {
            let message = error.to_string();
            prop_assert!(message.len() < 600, "{} bytes: {message}", message.len());
            prop_assert!(!message.chars().any(char::is_control), "{message:?}");
        }
    }
}

#[test]
fn one_name_is_one_instrument_in_a_scope() {
    let metrics = plugin("conflicts");
    let first = metrics
        .counter::<u64>("jobs.done")
        .with_unit("{job}")
        .build();
    assert!(first.is_ok());
    // the same instrument again is fine
    assert!(
        metrics
            .counter::<u64>("jobs.done")
            .with_unit("{job}")
            .build()
            .is_ok()
    );
    // another kind, value type or unit is not, from this service or another for the scope
    let other = plugin("conflicts");
    let histogram = other
        .histogram::<f64>("jobs.done")
        .with_unit("{job}")
        .build()
        .unwrap_err();
    assert_eq!(
        histogram.problem(),
        &backstage_telemetry::naming::Problem::AlreadyRegistered {
            existing: "Counter<u64> with unit `{job}`".to_owned()
        },
        "{histogram}"
    );
    assert!(
        histogram
            .to_string()
            .contains("is already registered in this scope as Counter")
    );
    assert!(
        metrics
            .counter::<f64>("jobs.done")
            .with_unit("{job}")
            .build()
            .is_err()
    );
    assert!(
        metrics
            .counter::<u64>("jobs.done")
            .with_unit("s")
            .build()
            .is_err()
    );
    assert!(metrics.gauge::<u64>("jobs.done").build().is_err());
    // the same authored name in another plugin is another name
    assert!(
        plugin("conflicts-two")
            .histogram::<f64>("jobs.done")
            .build()
            .is_ok()
    );
}

#[test]
fn a_long_hostile_value_is_quoted_short() {
    let value = format!("\u{1b}[2J{}", "A".repeat(40_000));
    let error = backstage_telemetry::naming::validate_metric_name(&value).unwrap_err();
    let message = error.to_string();
    assert!(message.len() < 600, "{message}");
    assert!(message.contains("`\\u{1b}[2J"), "{message}");
    assert!(message.contains("…`"), "{message}");
}
