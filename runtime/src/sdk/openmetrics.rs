//! `/metrics` in the OpenMetrics text format (1.0.0), for a scraper that asks for it
//! (`Accept: application/openmetrics-text`, as Prometheus sends by default): the families
//! the Prometheus exporter gathered, encoded by `prometheus-client`'s OpenMetrics encoder.
//!
//! The families, their names, labels and values are the text format's: counters keep their
//! `_total` (the family is named without it, as OpenMetrics wants, and each sample with it),
//! names keep their unit suffix (there is no `# UNIT` line: the name already says it), and
//! `target_info` and `otel_scope_name` are as they are. What differs is the format's own:
//! `# EOF` last, HELP text escaped, and numbers as the encoder writes them (a bucket bound
//! `1` is `le="1.0"` where the text format writes `le="1"`). No `_created` samples: the
//! exporter does not know when a series started. Each bucket of a span-duration series ends
//! with its exemplar, when one is kept (`crate::tracing::exemplars`).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use prometheus::proto::{Metric, MetricFamily, MetricType};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, MetricEncoder};
use prometheus_client::metrics::MetricType as Kind;
use prometheus_client::registry::Registry;

use crate::sync::lock;
use crate::tracing::exemplars::{self, Exemplar};

/// The `Content-Type` of an OpenMetrics answer.
pub(crate) const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// `families` in the OpenMetrics text format, `# EOF` last, with the span metrics'
/// exemplars.
pub(crate) fn encode(families: Vec<MetricFamily>) -> Result<String, fmt::Error> {
    encode_with(families, rendered(exemplars::snapshot()))
}

fn encode_with(families: Vec<MetricFamily>, exemplars: Exemplars) -> Result<String, fmt::Error> {
    let buckets = Arc::new(Mutex::new(Vec::new()));
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Gathered {
        families,
        exemplars,
        buckets: buckets.clone(),
    }));
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry)?;
    let buckets = std::mem::take(&mut *lock(&buckets));
    Ok(with_exemplars(text, buckets))
}

/// `text` with each histogram bucket's exemplar at the end of its sample's line:
/// `buckets` has one entry per bucket line, in the order the encoder wrote them
/// (`prometheus-client` writes exemplars only of the metrics it recorded itself: its
/// `Exemplar` cannot be made outside the crate).
fn with_exemplars(text: String, buckets: Vec<Option<String>>) -> String {
    if buckets.iter().all(Option::is_none) {
        return text;
    }
    let mut out = String::with_capacity(text.len() + 128 * buckets.len());
    let mut buckets = buckets.into_iter();
    let mut histogram: Option<String> = None;
    for line in text.split_inclusive('\n') {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            histogram = rest
                .trim_end()
                .strip_suffix(" histogram")
                .map(|name| format!("{name}_bucket{{"));
        }
        match &histogram {
            Some(bucket) if line.starts_with(bucket.as_str()) => {
                out.push_str(line.trim_end_matches('\n'));
                if let Some(Some(exemplar)) = buckets.next() {
                    out.push_str(&exemplar);
                }
                out.push('\n');
            }
            _ => out.push_str(line),
        }
    }
    out
}

/// A span-duration series, as `/metrics` labels it: the family's name, `span_name`,
/// `span_kind`, `outcome` and `error_type` (errors only).
type SeriesLabels = (String, String, String, String, Option<String>);

/// Each series' exemplars: the value, and the exemplar as OpenMetrics writes it after a
/// bucket's sample (` # {..} value`).
type Exemplars = BTreeMap<SeriesLabels, Vec<(f64, String)>>;

/// The exemplars kept now, by the labels their series has on `/metrics`.
fn rendered(kept: BTreeMap<exemplars::SeriesKey, Vec<Option<Exemplar>>>) -> Exemplars {
    kept.into_iter()
        .filter(|(_, buckets)| buckets.iter().any(Option::is_some))
        .map(|(key, buckets)| {
            let labels = (
                crate::catalog::prometheus_base(&key.metric, crate::tracing::SPAN_DURATION_UNIT),
                key.span_name.to_owned(),
                key.span_kind.to_owned(),
                key.outcome.to_owned(),
                key.error_type.map(Cow::into_owned),
            );
            let exemplars = buckets
                .into_iter()
                .flatten()
                .map(|exemplar| (exemplar.value, render(&exemplar)))
                .collect();
            (labels, exemplars)
        })
        .collect()
}

/// ` # {trace_id="..",span_id=".."} value` (the ids in lowercase hex, as their `Display`
/// writes them): the label set is 63 characters, under OpenMetrics' 128; no timestamp (see
/// [`Exemplar`]).
fn render(exemplar: &Exemplar) -> String {
    format!(
        " # {{trace_id=\"{}\",span_id=\"{}\"}} {}",
        exemplar.trace_id, exemplar.span_id, exemplar.value,
    )
}

/// Whether `Accept` prefers OpenMetrics text (version 1.0.0 or 0.0.1, or none named) to the
/// Prometheus text format: its weight is above zero and at least that of `text/plain` (or
/// of `*/*` and `text/*` when `text/plain` is not named). Without `Accept`, or when it is
/// unreadable, the text format.
pub(crate) fn preferred<'a>(accept: impl IntoIterator<Item = &'a str>) -> bool {
    let (mut openmetrics, mut text, mut any) = (0.0f32, None::<f32>, 0.0f32);
    for range in accept.into_iter().flat_map(|value| value.split(',')) {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or("").to_ascii_lowercase();
        let (mut weight, mut version) = (1.0f32, None);
        for parameter in parts {
            let Some((name, value)) = parameter.split_once('=') else {
                continue;
            };
            let value = value.trim().trim_matches('"');
            match name.trim().to_ascii_lowercase().as_str() {
                "q" => weight = value.parse().unwrap_or(0.0),
                "version" => version = Some(value.to_owned()),
                _ => {}
            }
        }
        if weight.is_nan() || weight <= 0.0 {
            continue;
        }
        match media.as_str() {
            "application/openmetrics-text"
                if matches!(version.as_deref(), None | Some("1.0.0" | "0.0.1")) =>
            {
                openmetrics = openmetrics.max(weight);
            }
            "text/plain" => text = Some(text.map_or(weight, |known| known.max(weight))),
            "text/*" | "*/*" => any = any.max(weight),
            _ => {}
        }
    }
    openmetrics > 0.0 && openmetrics >= text.unwrap_or(any)
}

/// What the exporter gathered for one scrape, and the exemplars kept.
struct Gathered {
    families: Vec<MetricFamily>,
    exemplars: Exemplars,
    /// Each histogram bucket's exemplar (or none), in the order they are encoded.
    buckets: Arc<Mutex<Vec<Option<String>>>>,
}

impl fmt::Debug for Gathered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gathered")
            .field("families", &self.families.len())
            .finish_non_exhaustive()
    }
}

impl Gathered {
    /// The exemplars of a histogram series of family `name` with `metric`'s labels.
    fn exemplars(&self, name: &str, metric: &Metric) -> Option<&Vec<(f64, String)>> {
        if self.exemplars.is_empty() {
            return None;
        }
        let label = |key: &str| {
            metric
                .get_label()
                .iter()
                .find(|label| label.name() == key)
                .map(|label| label.value().to_owned())
        };
        let key = (
            name.to_owned(),
            label("span_name")?,
            label("span_kind")?,
            label("outcome")?,
            label("error_type"),
        );
        self.exemplars.get(&key)
    }
}

impl Collector for Gathered {
    fn encode(&self, mut encoder: DescriptorEncoder<'_>) -> fmt::Result {
        for family in &self.families {
            let name = family.name();
            let (kind, name) = match family.get_field_type() {
                MetricType::COUNTER => match name.strip_suffix("_total") {
                    Some(stem) => (Kind::Counter, stem),
                    // a counter named without the suffix keeps its name, as an unknown
                    None => (Kind::Unknown, name),
                },
                MetricType::GAUGE => (Kind::Gauge, name),
                MetricType::HISTOGRAM => (Kind::Histogram, name),
                // the OpenTelemetry exporter makes neither (its instruments are counters,
                // gauges and histograms)
                MetricType::UNTYPED | MetricType::SUMMARY => continue,
            };
            let help = escaped(family.help());
            let mut metrics = encoder.encode_descriptor(name, &help, None, kind)?;
            for metric in family.get_metric() {
                let labels: Vec<(&str, &str)> = metric
                    .get_label()
                    .iter()
                    .map(|label| (label.name(), label.value()))
                    .collect();
                let sample = metrics.encode_family(&labels)?;
                let bounds = encode_sample(sample, kind, family.get_field_type(), metric)?;
                if !bounds.is_empty() {
                    // each in the bucket its value falls in, as the histogram counted it
                    // (an operator's view may have changed the boundaries)
                    let mut buckets = vec![None; bounds.len()];
                    for (value, exemplar) in self.exemplars(name, metric).into_iter().flatten() {
                        let bucket = bounds.partition_point(|bound| bound < value);
                        if let Some(slot) = buckets.get_mut(bucket) {
                            *slot = Some(exemplar.clone());
                        }
                    }
                    lock(&self.buckets).extend(buckets);
                }
            }
        }
        Ok(())
    }
}

/// One series' sample(s); the upper bounds of the bucket lines written (histograms).
fn encode_sample(
    mut sample: MetricEncoder<'_>,
    kind: Kind,
    gathered: MetricType,
    metric: &Metric,
) -> Result<Vec<f64>, fmt::Error> {
    match kind {
        Kind::Counter => sample
            .encode_counter::<Vec<(String, String)>, f64, f64>(
                &metric.get_counter().get_value(),
                None,
            )
            .map(|()| Vec::new()),
        Kind::Histogram => {
            let histogram = metric.get_histogram();
            // the encoder wants each bucket's own count; the exporter gives them cumulative
            let mut buckets = Vec::with_capacity(histogram.get_bucket().len() + 1);
            let mut below = 0;
            for bucket in histogram.get_bucket() {
                let cumulative = bucket.cumulative_count();
                buckets.push((bucket.upper_bound(), cumulative.saturating_sub(below)));
                below = cumulative;
            }
            if buckets.last().is_none_or(|(bound, _)| bound.is_finite()) {
                let count = histogram.get_sample_count();
                buckets.push((f64::INFINITY, count.saturating_sub(below)));
            }
            sample
                .encode_histogram::<Vec<(String, String)>>(
                    histogram.get_sample_sum(),
                    histogram.get_sample_count(),
                    &buckets,
                    None,
                )
                .map(|()| buckets.iter().map(|(bound, _)| *bound).collect())
        }
        // a gauge, or a counter named without `_total` (as an unknown)
        _ => {
            let value = if gathered == MetricType::COUNTER {
                metric.get_counter().get_value()
            } else {
                metric.get_gauge().get_value()
            };
            sample.encode_gauge(&value).map(|()| Vec::new())
        }
    }
}

/// `help` as a HELP line may hold it: backslash, newline and double quote escaped.
fn escaped(help: &str) -> String {
    let mut out = String::with_capacity(help.len());
    for character in help.chars() {
        match character {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' => out.push_str("\\\""),
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use opentelemetry::KeyValue;
    use opentelemetry::metrics::MeterProvider as _;
    use opentelemetry_sdk::metrics::SdkMeterProvider;
    use prometheus::{Encoder, TextEncoder};

    use opentelemetry::trace::{SpanId, TraceId};

    use super::*;

    /// A meter provider whose exporter fills the registry.
    fn exporting() -> (prometheus::Registry, SdkMeterProvider) {
        let registry = prometheus::Registry::new();
        let exporter = opentelemetry_prometheus::exporter()
            .with_registry(registry.clone())
            .build()
            .unwrap();
        let provider = SdkMeterProvider::builder().with_reader(exporter).build();
        (registry, provider)
    }

    /// A registry the exporter fills from one instrument of each kind, with label values
    /// that need escaping and a description that needs it in HELP.
    fn gathered() -> Vec<MetricFamily> {
        let (registry, provider) = exporting();
        let meter = provider.meter("backstage-plugin-catalog");
        let odd = KeyValue::new("entity", "quote \" backslash \\ newline \n é");
        let counter = meter
            .u64_counter("entities.processed")
            .with_description("Entities \"processed\"\nby the catalog \\ all")
            .build();
        counter.add(3, std::slice::from_ref(&odd));
        counter.add(1, &[KeyValue::new("entity", "plain")]);
        let up_down = meter.i64_up_down_counter("queue.depth").build();
        up_down.add(-2, &[]);
        let gauge = meter.f64_gauge("cache.ratio").with_unit("1").build();
        gauge.record(0.5, &[]);
        let histogram = meter
            .f64_histogram("lookup.duration")
            .with_unit("s")
            .with_boundaries(vec![0.00005, 0.25, 1.0, 10.0])
            .build();
        for value in [0.00001, 0.1, 0.1, 2.0, 50.0] {
            histogram.record(value, std::slice::from_ref(&odd));
        }
        let families = registry.gather();
        drop(provider);
        families
    }

    /// The samples of a text exposition (either format): name and labels (sorted; `le` as
    /// a number) to value.
    fn samples(text: &str) -> BTreeMap<(String, String), f64> {
        let mut samples = BTreeMap::new();
        for line in text.lines().filter(|line| !line.starts_with('#')) {
            let (series, value) = line.rsplit_once(' ').unwrap();
            let (name, labels) = match series.split_once('{') {
                Some((name, labels)) => (name, labels.trim_end_matches('}')),
                None => (series, ""),
            };
            let labels = labels
                .split("\",")
                .filter(|label| !label.is_empty())
                .map(|label| {
                    let (key, value) = label.split_once('=').unwrap();
                    let value = value.trim_matches('"');
                    if key == "le" && value != "+Inf" {
                        format!("le={}", value.parse::<f64>().unwrap())
                    } else {
                        format!("{key}={value}")
                    }
                })
                .collect::<std::collections::BTreeSet<_>>() // the order of labels is free
                .into_iter()
                .collect::<Vec<_>>()
                .join(",");
            samples.insert((name.to_owned(), labels), value.parse::<f64>().unwrap());
        }
        samples
    }

    #[test]
    fn the_same_samples_as_the_text_format_in_openmetrics_text() {
        let families = gathered();
        let mut text = Vec::new();
        TextEncoder::new().encode(&families, &mut text).unwrap();
        let text = String::from_utf8(text).unwrap();
        let openmetrics = encode(families).unwrap();

        // every sample of the text format, with its labels and value, and no other
        assert_eq!(
            samples(&openmetrics),
            samples(&text),
            "{openmetrics}\n{text}"
        );
        assert!(
            openmetrics.contains("entities_processed_total{entity=\"quote \\\" backslash \\\\ newline \\n é\",otel_scope_name=\"backstage-plugin-catalog\"} 3"),
            "{openmetrics}"
        );
        assert!(openmetrics.contains("target_info{"), "{openmetrics}");

        // the format's rules: `# EOF` last; one TYPE per family, before its samples; each
        // sample named after the family it follows (with the suffixes its type allows)
        assert!(openmetrics.ends_with("# EOF\n"), "{openmetrics}");
        assert_eq!(openmetrics.matches("# EOF").count(), 1);
        let mut typed = BTreeMap::new();
        let mut family: Option<(String, String)> = None;
        for line in openmetrics.lines().filter(|line| *line != "# EOF") {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').unwrap();
                assert!(
                    typed.insert(name.to_owned(), kind.to_owned()).is_none(),
                    "two TYPE lines for {name}"
                );
                family = Some((name.to_owned(), kind.to_owned()));
            } else if let Some(rest) = line.strip_prefix("# HELP ") {
                let (_, help) = rest.split_once(' ').unwrap();
                assert!(!help.contains('\n'));
            } else {
                let (name, kind) = family.clone().expect("a sample before any TYPE");
                let sample = line.split(['{', ' ']).next().unwrap();
                let suffixes: &[&str] = match kind.as_str() {
                    "counter" => &["_total"],
                    "histogram" => &["_bucket", "_count", "_sum"],
                    _ => &[""],
                };
                assert!(
                    suffixes
                        .iter()
                        .any(|suffix| sample == format!("{name}{suffix}")),
                    "{sample} after the TYPE of {name} ({kind})"
                );
            }
        }
        assert_eq!(typed["entities_processed"], "counter");
        assert_eq!(typed["lookup_duration_seconds"], "histogram");
        assert_eq!(typed["queue_depth"], "gauge");
        assert_eq!(typed["cache_ratio_ratio"], "gauge");
        assert!(
            openmetrics.contains(
                "# HELP entities_processed Entities \\\"processed\\\"\\nby the catalog \\\\ all\n"
            ),
            "{openmetrics}"
        );
        // the histogram: +Inf holds every value, as `_count` does
        let all = samples(&openmetrics);
        let count = all
            .iter()
            .find(|((name, _), _)| name == "lookup_duration_seconds_count")
            .unwrap()
            .1;
        let infinite = all
            .iter()
            .find(|((name, labels), _)| {
                name == "lookup_duration_seconds_bucket" && labels.contains("le=+Inf")
            })
            .unwrap()
            .1;
        assert_eq!((*count, *infinite), (5.0, 5.0));
    }

    #[test]
    fn exemplars_follow_their_buckets_samples() {
        let (registry, provider) = exporting();
        let histogram = provider
            .meter("backstage-plugin-unit")
            .f64_histogram("backstage.plugin.unit.span.duration")
            .with_unit("s")
            .with_boundaries(vec![0.1, 1.0])
            .build();
        let labels = |outcome: &'static str| {
            [
                KeyValue::new("span.name", "handle"),
                KeyValue::new("span.kind", "server"),
                KeyValue::new("outcome", outcome),
            ]
        };
        for value in [0.05, 0.5, 0.7] {
            histogram.record(value, &labels("ok"));
        }
        histogram.record(3.0, &labels("panic"));
        let families = registry.gather();
        drop(provider);

        let exemplar = |id: u8, value: f64| Exemplar {
            trace_id: TraceId::from_bytes([id; 16]),
            span_id: SpanId::from_bytes([id; 8]),
            value,
        };
        let mut kept = BTreeMap::new();
        let key = |outcome| exemplars::SeriesKey {
            metric: "backstage.plugin.unit.span.duration".to_owned(),
            span_name: "handle",
            span_kind: "server",
            outcome,
            error_type: None,
        };
        // in a slot of another bucket (as after a view changed the boundaries): it goes
        // where its value is counted
        kept.insert(key("ok"), vec![Some(exemplar(0xab, 0.7)), None, None]);
        kept.insert(key("panic"), vec![None, None, Some(exemplar(0x01, 3.0))]);
        kept.insert(key("cancelled"), vec![None, None, None]);
        let text = encode_with(families, rendered(kept)).unwrap();

        let with: Vec<&str> = text.lines().filter(|line| line.contains(" # {")).collect();
        assert_eq!(with.len(), 2, "{text}");
        let ok = with
            .iter()
            .find(|line| line.contains("outcome=\"ok\""))
            .unwrap();
        let (sample, exemplar) = ok.split_once(" # ").unwrap();
        assert!(
            sample.starts_with("backstage_plugin_unit_span_duration_seconds_bucket{le=\"1.0\",")
                && sample.ends_with("} 3"),
            "{ok}"
        );
        let (labels, rest) = exemplar.split_once("} ").unwrap();
        let labels = labels.trim_start_matches('{');
        assert_eq!(
            labels,
            format!(
                "trace_id=\"{}\",span_id=\"{}\"",
                "ab".repeat(16),
                "ab".repeat(8)
            )
        );
        // the label set: at most 128 characters (names and values)
        assert!(labels.replace(['"', '=', ','], "").chars().count() <= 128);
        assert_eq!(rest.parse::<f64>().unwrap(), 0.7);
        let panic = with
            .iter()
            .find(|line| line.contains("outcome=\"panic\""))
            .unwrap();
        assert!(panic.contains("le=\"+Inf\""), "{panic}");
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn openmetrics_when_the_scraper_prefers_it() {
        // Prometheus 2 and 3, as they ask by default
        assert!(preferred([
            "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
        ]));
        assert!(preferred([
            "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1"
        ]));
        assert!(preferred(["Application/OpenMetrics-Text"]));
        assert!(preferred([
            "text/plain;q=0.5",
            "application/openmetrics-text"
        ]));
        // the text format for everyone else
        for accept in [
            "",
            "*/*",
            "text/plain",
            "text/plain;version=0.0.4",
            "application/openmetrics-text;q=0",
            "application/openmetrics-text;version=2.0.0",
            "text/plain,application/openmetrics-text;q=0.9",
            "*/*,application/openmetrics-text;q=0.5",
            "application/openmetrics-text;q=x",
        ] {
            assert!(!preferred([accept]), "{accept}");
        }
        assert!(!preferred([]));
    }
}
