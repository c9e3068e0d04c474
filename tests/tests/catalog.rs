//! The link-time catalog: every metric and span site of this binary (from modules, sites
//! outside modules and run-time instruments), and the conflicts `init` and
//! `catalog::assert_consistent` report. This binary declares conflicts on purpose.

use backstage_telemetry::catalog::{self, Conflict};
use backstage_telemetry::metrics::MetricKind;
use backstage_telemetry::{Config, RootMetricsService};

#[backstage_telemetry::backstage_plugin(id = "tech-insights")]
mod tech_insights {
    backstage_telemetry::metric! {
        /// Checks run.
        pub static CHECKS: Counter<u64> = "checks.run";
    }

    #[backstage_telemetry::span(metrics, kind = server)]
    pub fn run_checks() {}
}

#[backstage_telemetry::backstage_plugin(id = "tech")]
mod tech {
    backstage_telemetry::metric! {
        /// Insights checks run: scraped under the same Prometheus name as tech-insights'.
        pub static CHECKS: Counter<u64> = "insights_checks.run";
    }
}

/// One exported name, two declarations that differ: another module of the same plugin.
#[backstage_telemetry::backstage_plugin(id = "dup")]
mod dup_a {
    backstage_telemetry::metric! {
        pub static JOBS: Counter<u64> = "jobs.done", unit = "{job}";
    }
}

#[backstage_telemetry::backstage_plugin(id = "dup")]
mod dup_b {
    backstage_telemetry::metric! {
        pub static JOBS: Histogram<f64> = "jobs.done", unit = "s";
    }
}

/// The same declaration twice is one instrument, not a conflict.
#[backstage_telemetry::backstage_plugin(id = "same")]
mod same_a {
    backstage_telemetry::metric! {
        pub static HITS: Counter<u64> = "cache.hits";
    }
}

#[backstage_telemetry::backstage_plugin(id = "same")]
mod same_b {
    backstage_telemetry::metric! {
        pub static HITS: Counter<u64> = "cache.hits";
    }
}

/// Sites outside a scoped module add themselves.
#[backstage_telemetry::span(plugin = "loose")]
fn loose() -> u8 {
    backstage_telemetry::metric!(Counter<u64>, "loose.calls", plugin = "loose").add(1, &[]);
    1
}

#[test]
fn every_site_is_listed_with_where_it_was_declared() {
    assert_eq!(loose(), 1);
    tech_insights::run_checks();
    let _ = (
        &tech_insights::CHECKS,
        &tech::CHECKS,
        &dup_a::JOBS,
        &dup_b::JOBS,
    );
    let _ = (&same_a::HITS, &same_b::HITS);
    let service = RootMetricsService::from_config(&Config::default())
        .for_plugin("runtime-made")
        .unwrap();
    let _gauge = service
        .observable_gauge::<u64>("queue.length")
        .with_unit("{item}")
        .with_description("Items waiting.")
        .with_callback(|observer| observer.observe(1, &[]))
        .build()
        .unwrap();
    let built_at = line!() - 2;

    let catalog = backstage_telemetry::catalog();
    let metric = |name: &str| {
        catalog
            .metrics()
            .iter()
            .find(|m| m.name == name)
            .unwrap_or_else(|| panic!("{name} not in {:#?}", catalog.metrics()))
    };
    let checks = metric("backstage.plugin.tech-insights.checks.run");
    assert_eq!(checks.kind, MetricKind::Counter);
    assert_eq!(checks.value_type, "u64");
    assert_eq!(checks.description, "Checks run.");
    assert_eq!(checks.scope.id(), "tech-insights");
    assert_eq!(checks.site.crate_name, "backstage-telemetry-tests");
    assert_eq!(checks.site.module, "catalog::tech_insights");
    assert_eq!(checks.site.file, "tests/tests/catalog.rs");
    assert_eq!(checks.site.line, 13);
    assert_eq!(
        checks.prometheus_names(),
        ["backstage_plugin_tech_insights_checks_run_total"]
    );
    // the span-metrics histogram of a scope whose site asks for them
    let duration = metric("backstage.plugin.tech-insights.span.duration");
    assert_eq!(
        (duration.kind, duration.unit.as_ref()),
        (MetricKind::Histogram, "s")
    );
    assert_eq!(
        duration.prometheus_names(),
        [
            "backstage_plugin_tech_insights_span_duration_seconds_bucket",
            "backstage_plugin_tech_insights_span_duration_seconds_sum",
            "backstage_plugin_tech_insights_span_duration_seconds_count",
            "backstage_plugin_tech_insights_span_duration_seconds",
        ]
    );
    // outside a module
    let loose_calls = metric("backstage.plugin.loose.loose.calls");
    assert_eq!(loose_calls.site.module, "catalog"); // a function is not a module
    // built at run time, with the line of the call
    let gauge = metric("backstage.plugin.runtime-made.queue.length");
    assert_eq!(gauge.kind, MetricKind::ObservableGauge);
    assert_eq!(gauge.unit, "{item}");
    assert_eq!(gauge.site.file, "tests/tests/catalog.rs");
    assert_eq!(gauge.site.line, built_at);

    let span = |name: &str| catalog.spans().iter().find(|s| s.name == name);
    let run = span("run_checks").expect("span site");
    assert!(run.metrics);
    assert_eq!(run.kind, backstage_telemetry::naming::SpanKind::Server);
    assert_eq!(run.site.line, 17);
    assert_eq!(span("loose").expect("loose site").scope.id(), "loose");

    // the outputs
    let json = catalog.to_json();
    assert!(json.contains(r#""name":"backstage.plugin.tech-insights.checks.run","kind":"Counter","value_type":"u64""#), "{json}");
    assert!(
        json.contains(r#""name":"run_checks","kind":"server","metrics":true"#),
        "{json}"
    );
    let markdown = catalog.to_markdown();
    assert!(markdown.contains("| `backstage.plugin.tech-insights.checks.run` | Counter<u64> | `` | Checks run. | plugin tech-insights | tests/tests/catalog.rs:13 (catalog::tech_insights) |"), "{markdown}");
}

#[test]
fn conflicts_name_both_sites_and_fail_the_helper() {
    let conflicts = backstage_telemetry::catalog().conflicts();
    let same_name: Vec<&Conflict> = conflicts
        .iter()
        .filter(|c| matches!(c, Conflict::SameName { .. }))
        .collect();
    assert_eq!(same_name.len(), 1, "{conflicts:#?}");
    let text = same_name[0].to_string();
    assert!(text.contains("`backstage.plugin.dup.jobs.done`"), "{text}");
    assert!(
        text.contains(
            "Counter<u64> with unit `{job}`, declared at tests/tests/catalog.rs:32 (catalog::dup_a)"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "Histogram<f64> with unit `s`, declared at tests/tests/catalog.rs:39 (catalog::dup_b)"
        ),
        "{text}"
    );

    let translated: Vec<String> = conflicts
        .iter()
        .filter(|c| matches!(c, Conflict::SamePrometheusName { .. }))
        .map(ToString::to_string)
        .collect();
    assert_eq!(translated.len(), 1, "{conflicts:#?}");
    assert!(
        translated[0].contains("`backstage_plugin_tech_insights_checks_run_total`"),
        "{}",
        translated[0]
    );
    assert!(
        translated[0].contains("backstage.plugin.tech.insights_checks.run"),
        "{}",
        translated[0]
    );
    assert!(
        translated[0].contains("backstage.plugin.tech-insights.checks.run"),
        "{}",
        translated[0]
    );
    // same_a and same_b declare the same instrument: no conflict
    assert!(!format!("{conflicts:?}").contains("cache.hits"));

    let panic = std::panic::catch_unwind(catalog::assert_consistent).expect_err("conflicts");
    let message = panic.downcast_ref::<String>().expect("a message");
    assert!(
        message.starts_with("2 metric conflict(s) in this binary:\n- "),
        "{message}"
    );
    assert!(message.contains("jobs.done") && message.contains("tech_insights_checks_run_total"));
}

#[test]
fn init_reports_the_conflicts_as_set_up_problems() {
    let config = Config::from_yaml_str(
        "app-config.yaml",
        "backend:\n  telemetry:\n    metrics:\n      exporter: none\n    traces:\n      exporter: none\n",
    )
    .unwrap();
    let telemetry = backstage_telemetry::init(&config);
    let problems: Vec<String> = telemetry
        .problems()
        .iter()
        .filter(|p| p.setting() == "metric catalog")
        .map(ToString::to_string)
        .collect();
    assert_eq!(problems.len(), 2, "{problems:#?}");
    assert!(
        problems
            .iter()
            .any(|p| p.contains("jobs.done") && p.contains("catalog::dup_b"))
    );
    telemetry.shutdown().unwrap();
}

/// One `metric!` of every kind and value type.
#[allow(dead_code)]
#[backstage_telemetry::backstage_plugin(id = "every-kind")]
mod every_kind {
    backstage_telemetry::metric! {
        pub static COUNTER_U64: Counter<u64> = "counter.u64";
        pub static COUNTER_F64: Counter<f64> = "counter.f64";
        pub static UP_DOWN_I64: UpDownCounter<i64> = "updowncounter.i64";
        pub static UP_DOWN_F64: UpDownCounter<f64> = "updowncounter.f64";
        pub static HISTOGRAM_U64: Histogram<u64> = "histogram.u64";
        pub static HISTOGRAM_F64: Histogram<f64> = "histogram.f64";
        pub static GAUGE_U64: Gauge<u64> = "gauge.u64";
        pub static GAUGE_I64: Gauge<i64> = "gauge.i64";
        pub static GAUGE_F64: Gauge<f64> = "gauge.f64";
        pub static OBSERVABLE_COUNTER_U64: ObservableCounter<u64> = "observablecounter.u64",
            callback = |o| o.observe(1, &[]);
        pub static OBSERVABLE_COUNTER_F64: ObservableCounter<f64> = "observablecounter.f64",
            callback = |o| o.observe(1.0, &[]);
        pub static OBSERVABLE_UP_DOWN_I64: ObservableUpDownCounter<i64> = "observableupdowncounter.i64",
            callback = |o| o.observe(1, &[]);
        pub static OBSERVABLE_UP_DOWN_F64: ObservableUpDownCounter<f64> = "observableupdowncounter.f64",
            callback = |o| o.observe(1.0, &[]);
        pub static OBSERVABLE_GAUGE_U64: ObservableGauge<u64> = "observablegauge.u64",
            callback = |o| o.observe(1, &[]);
        pub static OBSERVABLE_GAUGE_I64: ObservableGauge<i64> = "observablegauge.i64",
            callback = |o| o.observe(1, &[]);
        pub static OBSERVABLE_GAUGE_F64: ObservableGauge<f64> = "observablegauge.f64",
            callback = |o| o.observe(1.0, &[]);
    }
}

/// Every kind and value type an instrument can have is in the catalog as declared, whether
/// a `metric!` declares it or a `MetricsService` builds it at run time: each knows its own
/// kind and value type (none is left out or guessed).
#[test]
fn every_instrument_kind_and_value_type_is_in_the_catalog() {
    let expected: Vec<(String, MetricKind, &str)> = MetricKind::ALL
        .iter()
        .flat_map(|kind| {
            kind.value_types().iter().map(move |value_type| {
                let name = format!("{}.{value_type}", kind.name().to_lowercase());
                (name, *kind, *value_type)
            })
        })
        .collect();
    assert_eq!(expected.len(), 16);
    let service = RootMetricsService::from_config(&Config::default())
        .for_plugin("every-kind-built")
        .unwrap();
    macro_rules! built {
        ($method:ident, $ty:ty $(, $value:expr)?) => {
            let name = format!(
                "{}.{}",
                stringify!($method).replace('_', ""),
                stringify!($ty)
            );
            let _ = service
                .$method::<$ty>(&name)
                $(.with_callback(|o| o.observe($value, &[])))?
                .build()
                .unwrap();
        };
    }
    built!(counter, u64);
    built!(counter, f64);
    built!(up_down_counter, i64);
    built!(up_down_counter, f64);
    built!(histogram, u64);
    built!(histogram, f64);
    built!(gauge, u64);
    built!(gauge, i64);
    built!(gauge, f64);
    built!(observable_counter, u64, 1);
    built!(observable_counter, f64, 1.0);
    built!(observable_up_down_counter, i64, 1);
    built!(observable_up_down_counter, f64, 1.0);
    built!(observable_gauge, u64, 1);
    built!(observable_gauge, i64, 1);
    built!(observable_gauge, f64, 1.0);
    let catalog = catalog::catalog();
    for plugin in ["every-kind", "every-kind-built"] {
        let prefix = format!("backstage.plugin.{plugin}.");
        let mut listed: Vec<(String, MetricKind, &str)> = catalog
            .metrics()
            .iter()
            .filter_map(|m| {
                let name = m.name.strip_prefix(&prefix)?;
                Some((name.to_owned(), m.kind, m.value_type))
            })
            .collect();
        listed.sort_by(|a, b| a.0.cmp(&b.0));
        let mut expected = expected.clone();
        expected.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(listed, expected, "{plugin}");
    }
}
