//! Operator views in the app-config (`backend.metrics.views`), applied to what the probe
//! exports: on `/metrics` (Prometheus text) and over OTLP, and checked against the metric
//! catalog, each problem naming the entry's key.

mod common;

use std::time::Duration;

use backstage_telemetry_tests::otlp::Receiver;
use backstage_telemetry_tests::prometheus::get;
use common::probe::{Serving, config_file, run};

/// Buckets for the items histogram and for the span-metrics histogram, no attributes on
/// the counter, the gauge dropped, and a cardinality limit for every instrument of the
/// plugin that sets none of its own.
const VIEWS: &str = "backend:
  metrics:
    views:
      - instrument: backstage.plugin.probe.items.duration
        boundaries: [0.5, 5]
      - instrument: backstage.plugin.probe.span.duration
        boundaries: [0.25]
      - instrument: backstage.plugin.probe.items.handled
        attributes: []
      - instrument: backstage.plugin.probe.items.queued
        drop: true
      - instrument: backstage.plugin.probe.*
        cardinalityLimit: 3
";

#[test]
fn views_change_what_prometheus_scrapes() {
    let config = config_file(&format!(
        "{VIEWS}  telemetry:\n    metrics:\n      prometheus: {{ port: 0 }}\n"
    ));
    let serving = Serving::start(
        &["--config", config.as_str(), "--metrics", "--spans", "5"],
        &[],
    );
    let (_, text) = get(serving.endpoint, "/metrics").expect("a scrape");
    let lines =
        |prefix: &str| -> Vec<&str> { text.lines().filter(|l| l.starts_with(prefix)).collect() };
    // the view's boundaries, not the declared ones (0.001, 0.01, 0.1, 1)
    let buckets = lines("backstage_plugin_probe_items_duration_seconds_bucket{");
    let bounds: Vec<&str> = buckets
        .iter()
        .filter_map(|l| l.split("le=\"").nth(1)?.split('"').next())
        .collect();
    assert_eq!(bounds, ["0.5", "5", "+Inf"], "{buckets:#?}");
    // span metrics too
    let span_bounds: std::collections::BTreeSet<&str> =
        lines("backstage_plugin_probe_span_duration_seconds_bucket{")
            .iter()
            .filter_map(|l| l.split("le=\"").nth(1)?.split('"').next())
            .collect();
    assert_eq!(
        span_bounds,
        ["+Inf", "0.25"].into_iter().collect(),
        "{text}"
    );
    // no attributes kept: the ok and retried results are one series
    let handled = lines("backstage_plugin_probe_items_handled_total");
    assert_eq!(handled.len(), 1, "{handled:#?}");
    assert!(!handled[0].contains("result="), "{}", handled[0]);
    assert!(
        handled[0].ends_with(" 7"),
        "5 ok and 2 retried: {}",
        handled[0]
    );
    // dropped
    assert!(
        lines("backstage_plugin_probe_items_queued").is_empty(),
        "{text}"
    );
    serving.stop();
}

#[test]
fn the_prefix_view_limits_the_series_of_each_instrument_it_covers() {
    // the counter's series with these views, after 50 distinct results
    let handled_with = |views: &str| -> Vec<String> {
        let config = config_file(&format!(
            "{views}  telemetry:\n    metrics:\n      prometheus: {{ port: 0 }}\n"
        ));
        let serving = Serving::start(&["--config", config.as_str(), "--distinct", "50"], &[]);
        let (_, text) = get(serving.endpoint, "/metrics").expect("a scrape");
        serving.stop();
        // the scope's version (the crate's) left out
        let version = format!(",otel_scope_version=\"{}\"", env!("CARGO_PKG_VERSION"));
        text.lines()
            .filter(|l| l.starts_with("backstage_plugin_probe_items_handled_total"))
            .map(|l| l.replace(&version, ""))
            .collect()
    };
    // the counter keeps no attributes (its own view): one series holding all 50
    assert_eq!(
        handled_with(VIEWS),
        [
            "backstage_plugin_probe_items_handled_total{otel_scope_name=\"backstage-plugin-probe\"} 50"
        ]
    );

    // without the counter's own view, the plugin's limit of 3 series folds the rest into
    // the overflow series
    let handled = handled_with(
        "backend:\n  metrics:\n    views:\n      - instrument: backstage.plugin.probe.*\n        cardinalityLimit: 3\n",
    );
    assert_eq!(handled.len(), 3 + 1, "{handled:#?}");
    let total: u64 = handled
        .iter()
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    assert_eq!(total, 50, "nothing lost to the limit");
    assert!(
        handled
            .iter()
            .any(|l| l.contains("otel_metric_overflow=\"true\"")),
        "{handled:#?}"
    );
}

#[test]
fn views_change_what_otlp_exports() {
    use opentelemetry_proto::tonic::metrics::v1::metric::Data;
    let receiver = Receiver::start();
    let config = config_file(VIEWS);
    let output = run(
        &["--config", config.as_str(), "--metrics", "--spans", "5"],
        &[
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                format!("http://{}", receiver.http),
            ),
            ("OTEL_METRICS_EXPORTER", "otlp".to_owned()),
            ("OTEL_TRACES_EXPORTER", "none".to_owned()),
        ],
    );
    assert!(output.status.success(), "{output:?}");
    let received = receiver.wait_for(Duration::from_secs(20), |r| !r.metrics().is_empty());
    let metrics = received.metrics();
    let find = |name: &str| metrics.iter().find(|m| m.metric.name == name);
    match find("backstage.plugin.probe.items.duration").map(|m| &m.metric.data) {
        Some(Some(Data::Histogram(histogram))) => {
            assert_eq!(histogram.data_points[0].explicit_bounds, [0.5, 5.0]);
        }
        other => panic!("the histogram over OTLP: {other:?}"),
    }
    match find("backstage.plugin.probe.items.handled").map(|m| &m.metric.data) {
        Some(Some(Data::Sum(sum))) => {
            assert_eq!(sum.data_points.len(), 1);
            assert!(sum.data_points[0].attributes.is_empty());
        }
        other => panic!("the counter over OTLP: {other:?}"),
    }
    assert!(find("backstage.plugin.probe.items.queued").is_none());
}

#[test]
fn views_the_catalog_does_not_know_are_problems_and_the_rest_apply() {
    let config = config_file(
        "backend:
  metrics:
    views:
      - instrument: backstage.plugin.probe.items.handeld
        attributes: []
      - instrument: backstage.plugin.probe.items.handled
        boundaries: [1, 2]
        cardinalityLimit: 0
      - instrument: backstage.plugin.probe.items.duration
        boundaries: [2, 1]
        attributes: [Not-A-Key]
      - boundaries: [1]
      - instrument: backstage.plugin.nowhere.*
      - instrument: backstage.plugin.probe.items.handled
        drop: true
      - instrument: backstage.plugin.probe.items.queued
        drop: true
  telemetry:
    metrics:
      prometheus: { port: 0 }
",
    );
    let output = run(&["--config", config.as_str(), "--metrics"], &[]);
    assert!(output.status.success(), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let problems: Vec<&str> = stderr
        .lines()
        .filter_map(|l| l.strip_prefix("init-problem: "))
        .collect();
    assert_eq!(
        problems,
        [
            "backend.metrics.views[0].instrument names no instrument of the metric catalog (closest: `backstage.plugin.probe.items.handled`, `backstage.plugin.probe.items.queued`, `backstage.plugin.probe.items.duration`); it applies only to an instrument of that name built after start-up",
            "backend.metrics.views[1].boundaries apply to histograms only, and this view names none; the instruments keep their boundaries",
            "backend.metrics.views[1].cardinalityLimit must be from 1 to 100000; using 1",
            "backend.metrics.views[2].boundaries must be finite numbers, each larger than the one before; the instruments keep their boundaries",
            "backend.metrics.views[2].attributes must be attribute keys such as `kind` or `http.route` (entry 0 is not); every attribute is kept",
            "backend.metrics.views[3].instrument is missing: name an exported metric, or a prefix ending in `*`; this view is ignored",
            "backend.metrics.views[4].instrument names no instrument of the metric catalog (closest: `backstage.plugin.probe.items.queued`, `backstage.plugin.probe.items.handled`, `backstage.plugin.probe.items.duration`); it applies only to an instrument of that name built after start-up",
            "backend.metrics.views[5].instrument names the same instruments as backend.metrics.views[1]; this view is ignored",
        ],
        "{stderr}"
    );
    // the typed names are never quoted
    assert!(
        !stderr.contains("handeld") && !stderr.contains("nowhere"),
        "{stderr}"
    );
    // a wrong type is an error of the file, with its line
    let bad = config_file(
        "backend:\n  metrics:\n    views:\n      - instrument: x\n        drop: sometimes\n",
    );
    let output = run(&["--config", bad.as_str()], &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(":5:15: `backend.metrics.views[0].drop` must be a boolean (true or false)"),
        "{stderr}"
    );
}
