//! Test kit (feature `testing`): real SDK pipelines with in-memory exporters, so plugin
//! authors test their telemetry on the data that would be exported.
//!
//! [`install`] puts a tracer and a meter provider in place once per process (later calls
//! return the same kit). Tests of one binary run in parallel threads and share those
//! global providers, so:
//!
//! - **spans** are kept apart by [`Capture`]: run the code under test inside
//!   [`Capture::run`] / [`Capture::run_async`], and [`Capture::spans`] returns the spans
//!   started there, including every descendant that inherited the context, and no others;
//! - **metrics** are process-wide: [`TestTelemetry::metrics`] collects everything, so give
//!   each test its own plugin id or metric names and look them up by name.
//!
//! [`attribute`], [`attribute_str`], [`attribute_count`] and [`event_attributes`] read a
//! captured span; [`MetricsSnapshot::metric`] and [`ExportedMetric::point`] a metric.
//!
//! ```
//! use backstage_telemetry::{Config, RootTracingService, SpanOptions, testing};
//!
//! let kit = testing::install();
//! let capture = kit.capture();
//! let tracing = RootTracingService::from_config(&Config::default()).for_plugin("doc-kit")?;
//! capture.run(|| tracing.start_active_span("work", SpanOptions::new(), |_| ()));
//! let span = capture.span("work");
//! assert_eq!(span.instrumentation_scope.name(), "backstage-plugin-doc-kit");
//! # Ok::<(), backstage_telemetry::naming::NameError>(())
//! ```

use crate::sync::lock;
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use opentelemetry::context::FutureExt as _;
use opentelemetry::trace::{Span as _, SpanId};
use opentelemetry::{Context, InstrumentationScope, KeyValue};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData, ResourceMetrics};
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider, Temporality};
use opentelemetry_sdk::trace::{SdkTracerProvider, Span, SpanData, SpanProcessor};

pub use opentelemetry::context::WithContext;

use crate::sdk::UniqueAttributes;

/// The installed test pipelines.
#[derive(Debug)]
pub struct TestTelemetry {
    metrics: TestMetrics,
    spans: Arc<SpanStore>,
    next_capture: AtomicU64,
}

/// Installs the test pipelines as the global providers, and `init`'s default propagators
/// (W3C trace-context and baggage), once per process, and returns them. Instruments and tracers created earlier record from their next use on.
pub fn install() -> &'static TestTelemetry {
    static KIT: OnceLock<TestTelemetry> = OnceLock::new();
    KIT.get_or_init(|| {
        let spans = Arc::new(SpanStore::default());
        let tracer_provider = SdkTracerProvider::builder()
            .with_span_processor(UniqueAttributes::new(CaptureProcessor(spans.clone())))
            .build();
        let metrics = TestMetrics::new();
        crate::global::set_plugin_versions(crate::catalog::plugin_versions);
        crate::set_tracer_provider(tracer_provider);
        crate::set_meter_provider(metrics.provider().clone());
        // as `init` with no configuration: W3C trace-context and baggage
        opentelemetry::global::set_text_map_propagator(
            opentelemetry::propagation::TextMapCompositePropagator::new(vec![
                Box::new(opentelemetry_sdk::propagation::TraceContextPropagator::new()),
                Box::new(opentelemetry_sdk::propagation::BaggagePropagator::new()),
            ]),
        );
        crate::catalog::register_observables();
        TestTelemetry {
            metrics,
            spans,
            next_capture: AtomicU64::new(1),
        }
    })
}

impl TestTelemetry {
    /// A new capture: collects the spans started inside [`Capture::run`] / [`Capture::run_async`].
    pub fn capture(&'static self) -> Capture {
        let id = self.next_capture.fetch_add(1, Ordering::Relaxed);
        lock(&self.spans.captured).insert(id, Vec::new());
        Capture { id, kit: self }
    }

    /// Collects every metric of the process now (observable callbacks run), as exported
    /// with cumulative temporality.
    pub fn metrics(&self) -> MetricsSnapshot {
        self.metrics.collect()
    }
}

/// A meter provider that keeps what it exports in memory, for you to install: for an
/// application that exports metrics and no traces ([`install`] installs one beside a
/// tracer provider).
///
/// ```
/// use backstage_telemetry::testing::TestMetrics;
///
/// let metrics = TestMetrics::new();
/// backstage_telemetry::set_meter_provider(metrics.provider().clone());
/// let root = backstage_telemetry::RootMetricsService::from_config(&Default::default());
/// root.for_plugin("doc-meter")?.counter::<u64>("jobs.run").build()?.add(2, &[]);
/// let exported = metrics.collect();
/// assert!(exported.metric("backstage.plugin.doc-meter.jobs.run").point(&[]).is_some());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct TestMetrics {
    provider: SdkMeterProvider,
    snapshot: Arc<Mutex<MetricsSnapshot>>,
}

impl TestMetrics {
    /// A meter provider that collects only when asked ([`collect`](Self::collect)).
    pub fn new() -> Self {
        let snapshot = Arc::new(Mutex::new(MetricsSnapshot::default()));
        // Collection happens on demand (force_flush); the interval only has to be long.
        let reader = PeriodicReader::builder(SnapshotExporter(snapshot.clone()))
            .with_interval(Duration::from_secs(24 * 60 * 60))
            .build();
        TestMetrics {
            provider: SdkMeterProvider::builder().with_reader(reader).build(),
            snapshot,
        }
    }

    /// The provider, to install with [`set_meter_provider`](crate::set_meter_provider).
    pub fn provider(&self) -> &SdkMeterProvider {
        &self.provider
    }

    /// Collects every metric of the provider now (observable callbacks run), as exported
    /// with cumulative temporality.
    pub fn collect(&self) -> MetricsSnapshot {
        // Several tests may collect at once; each collection is complete and cumulative,
        // so whichever lands last is at least as new as this call.
        if let Err(error) = self.provider.force_flush() {
            panic!("collecting metrics failed: {error}");
        }
        lock(&self.snapshot).clone()
    }
}

impl Default for TestMetrics {
    fn default() -> Self {
        TestMetrics::new()
    }
}

/// The value of attribute `key` on `span` (the last one if the key appears twice, as
/// exporters would report it), if any.
///
/// ```
/// use backstage_telemetry::{Config, KeyValue, RootTracingService, SpanOptions, testing};
///
/// let kit = testing::install();
/// let capture = kit.capture();
/// let tracing = RootTracingService::from_config(&Config::default()).for_plugin("doc-attrs")?;
/// capture.run(|| {
///     let options = SpanOptions::new().with_attribute(KeyValue::new("todo.category", "personal"));
///     tracing.start_active_span("create", options, |span| {
///         span.add_event("created", vec![KeyValue::new("todo.id", 7)]);
///     })
/// });
/// let span = capture.span("create");
/// assert_eq!(testing::attribute_str(&span, "backstage.plugin.id").as_deref(), Some("doc-attrs"));
/// assert_eq!(testing::attribute_str(&span, "todo.category").as_deref(), Some("personal"));
/// assert_eq!(testing::attribute_count(&span, "todo.category"), 1);
/// assert_eq!(
///     testing::event_attributes(&span, "created"),
///     Some(vec![("todo.id".to_owned(), "7".to_owned())])
/// );
/// # Ok::<(), backstage_telemetry::naming::NameError>(())
/// ```
pub fn attribute<'a>(span: &'a SpanData, key: &str) -> Option<&'a opentelemetry::Value> {
    span.attributes
        .iter()
        .rev()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| &kv.value)
}

/// The value of attribute `key` on `span` as text, if present (see [`attribute`]).
pub fn attribute_str(span: &SpanData, key: &str) -> Option<String> {
    attribute(span, key).map(|v| v.as_str().into_owned())
}

/// How many times `key` appears among the span's attributes (once, for a well-formed span;
/// see [`attribute`]).
pub fn attribute_count(span: &SpanData, key: &str) -> usize {
    span.attributes
        .iter()
        .filter(|kv| kv.key.as_str() == key)
        .count()
}

/// The attributes of the span's first event named `name`, as `(key, value as text)` pairs
/// in order, if there is one (see [`attribute`]).
pub fn event_attributes(span: &SpanData, name: &str) -> Option<Vec<(String, String)>> {
    span.events.iter().find(|e| e.name == name).map(|e| {
        e.attributes
            .iter()
            .map(|kv| (kv.key.as_str().to_owned(), kv.value.as_str().into_owned()))
            .collect()
    })
}

/// Marks the context of a capture; every span started under it belongs to it.
#[derive(Clone, Copy, Debug)]
struct CaptureId(u64);

/// Spans started in a context; see [`TestTelemetry::capture`].
#[derive(Debug)]
pub struct Capture {
    id: u64,
    kit: &'static TestTelemetry,
}

impl Capture {
    /// Runs `f` with this capture's context active.
    pub fn run<R>(&self, f: impl FnOnce() -> R) -> R {
        let _active = self.context().attach();
        f()
    }

    /// `future` with this capture's context active whenever it is polled.
    pub fn run_async<F: Future>(&self, future: F) -> WithContext<F> {
        future.with_context(self.context())
    }

    /// The current context marked with this capture, for code that takes a parent context.
    pub fn context(&self) -> Context {
        Context::current().with_value(CaptureId(self.id))
    }

    /// The spans of this capture that have ended, in the order they ended.
    pub fn spans(&self) -> Vec<SpanData> {
        lock(&self.kit.spans.captured)
            .get(&self.id)
            .cloned()
            .unwrap_or_default()
    }

    /// The one ended span named `name`; panics, listing what was captured, if there is not
    /// exactly one.
    pub fn span(&self, name: &str) -> SpanData {
        let spans = self.spans();
        let mut named = spans.iter().filter(|s| s.name == name);
        match (named.next(), named.next()) {
            (Some(span), None) => span.clone(),
            _ => {
                let names: Vec<&str> = spans.iter().map(|s| s.name.as_ref()).collect();
                panic!("expected exactly one span named {name:?}; captured: {names:?}")
            }
        }
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        lock(&self.kit.spans.captured).remove(&self.id);
    }
}

#[derive(Debug, Default)]
struct SpanStore {
    /// Capture of every span started in one and not yet ended.
    owners: Mutex<HashMap<SpanId, u64>>,
    /// Ended spans of every live capture.
    captured: Mutex<HashMap<u64, Vec<SpanData>>>,
}

#[derive(Debug)]
struct CaptureProcessor(Arc<SpanStore>);

impl SpanProcessor for CaptureProcessor {
    fn on_start(&self, span: &mut Span, cx: &Context) {
        if let Some(CaptureId(id)) = cx.get::<CaptureId>() {
            lock(&self.0.owners).insert(span.span_context().span_id(), *id);
        }
    }

    fn on_end(&self, span: SpanData) {
        let owner = lock(&self.0.owners).remove(&span.span_context.span_id());
        if let Some(id) = owner
            && let Some(spans) = lock(&self.0.captured).get_mut(&id)
        {
            spans.push(span);
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }
}

/// Every metric collected at one moment.
#[derive(Clone, Debug, Default)]
pub struct MetricsSnapshot {
    /// The metrics, in the order the SDK reported them.
    pub metrics: Vec<ExportedMetric>,
}

impl MetricsSnapshot {
    /// The metric named `name`, if exactly one scope exported it; panics if several did.
    pub fn get(&self, name: &str) -> Option<&ExportedMetric> {
        let mut named = self.metrics.iter().filter(|m| m.name == name);
        let first = named.next();
        if named.next().is_some() {
            panic!("several scopes exported a metric named {name:?}");
        }
        first
    }

    /// The metric named `name`; panics, listing the names there are, if there is none.
    pub fn metric(&self, name: &str) -> &ExportedMetric {
        self.get(name).unwrap_or_else(|| {
            let names: Vec<&str> = self.metrics.iter().map(|m| m.name.as_str()).collect();
            panic!("no metric named {name:?}; exported: {names:?}")
        })
    }
}

/// One metric as exported.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ExportedMetric {
    /// The meter it came from.
    pub scope: InstrumentationScope,
    /// Its name.
    pub name: String,
    /// Its description.
    pub description: String,
    /// Its unit.
    pub unit: String,
    /// How it was aggregated.
    pub aggregation: Aggregation,
    /// One point per attribute set.
    pub points: Vec<DataPoint>,
}

impl ExportedMetric {
    /// The point whose attributes are exactly `attributes` (in any order).
    pub fn point(&self, attributes: &[KeyValue]) -> Option<&DataPoint> {
        self.points.iter().find(|p| {
            p.attributes.len() == attributes.len()
                && attributes.iter().all(|a| p.attributes.contains(a))
        })
    }
}

/// How a metric was aggregated, which tells the instrument kind behind it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Aggregation {
    /// A sum: counters (monotonic) and up-down counters, observable or not.
    Sum {
        /// True for counters.
        monotonic: bool,
    },
    /// Last value: gauges.
    Gauge,
    /// Buckets: histograms.
    Histogram,
}

/// One series of a metric.
#[derive(Clone, Debug, PartialEq)]
pub struct DataPoint {
    /// Its attributes.
    pub attributes: Vec<KeyValue>,
    /// Its value.
    pub value: PointValue,
}

impl DataPoint {
    /// The value of its attribute `key`, as a string.
    ///
    /// ```
    /// use backstage_telemetry::KeyValue;
    /// use backstage_telemetry::testing::{DataPoint, PointValue};
    /// let point = DataPoint {
    ///     attributes: vec![KeyValue::new("outcome", "ok")],
    ///     value: PointValue::U64(1),
    /// };
    /// assert_eq!(point.attribute("outcome").as_deref(), Some("ok"));
    /// assert_eq!(point.attribute("error.type"), None);
    /// ```
    pub fn attribute(&self, key: &str) -> Option<String> {
        self.attributes
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| kv.value.as_str().into_owned())
    }
}

/// The value of a series.
#[derive(Clone, Debug, PartialEq)]
pub enum PointValue {
    /// From a `u64` instrument.
    U64(u64),
    /// From an `i64` instrument.
    I64(i64),
    /// From an `f64` instrument.
    F64(f64),
    /// A histogram's buckets.
    Histogram {
        /// Values recorded.
        count: u64,
        /// Their sum.
        sum: f64,
        /// Bucket boundaries.
        bounds: Vec<f64>,
        /// Count per bucket (one more than boundaries).
        bucket_counts: Vec<u64>,
    },
}

/// Keeps the latest collection.
#[derive(Debug)]
struct SnapshotExporter(Arc<Mutex<MetricsSnapshot>>);

impl PushMetricExporter for SnapshotExporter {
    async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        *lock(&self.0) = snapshot(metrics);
        Ok(())
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }

    fn temporality(&self) -> Temporality {
        Temporality::Cumulative
    }
}

fn snapshot(resource_metrics: &ResourceMetrics) -> MetricsSnapshot {
    let mut metrics = Vec::new();
    for scope_metrics in resource_metrics.scope_metrics() {
        for metric in scope_metrics.metrics() {
            let (aggregation, points) = match metric.data() {
                AggregatedMetrics::U64(data) => points(data, PointValue::U64),
                AggregatedMetrics::I64(data) => points(data, PointValue::I64),
                AggregatedMetrics::F64(data) => points(data, PointValue::F64),
            };
            metrics.push(ExportedMetric {
                scope: scope_metrics.scope().clone(),
                name: metric.name().to_owned(),
                description: metric.description().to_owned(),
                unit: metric.unit().to_owned(),
                aggregation,
                points,
            });
        }
    }
    MetricsSnapshot { metrics }
}

trait ToF64 {
    fn to_f64(self) -> f64;
}

impl ToF64 for u64 {
    fn to_f64(self) -> f64 {
        self as f64
    }
}

impl ToF64 for i64 {
    fn to_f64(self) -> f64 {
        self as f64
    }
}

impl ToF64 for f64 {
    fn to_f64(self) -> f64 {
        self
    }
}

fn points<T: Copy + ToF64>(
    data: &MetricData<T>,
    value: fn(T) -> PointValue,
) -> (Aggregation, Vec<DataPoint>) {
    let point = |attributes: Vec<KeyValue>, value| DataPoint { attributes, value };
    match data {
        MetricData::Sum(sum) => (
            Aggregation::Sum {
                monotonic: sum.is_monotonic(),
            },
            sum.data_points()
                .map(|p| point(p.attributes().cloned().collect(), value(p.value())))
                .collect(),
        ),
        MetricData::Gauge(gauge) => (
            Aggregation::Gauge,
            gauge
                .data_points()
                .map(|p| point(p.attributes().cloned().collect(), value(p.value())))
                .collect(),
        ),
        MetricData::Histogram(histogram) => (
            Aggregation::Histogram,
            histogram
                .data_points()
                .map(|p| {
                    point(
                        p.attributes().cloned().collect(),
                        PointValue::Histogram {
                            count: p.count(),
                            sum: p.sum().to_f64(),
                            bounds: p.bounds().collect(),
                            bucket_counts: p.bucket_counts().collect(),
                        },
                    )
                })
                .collect(),
        ),
        // This kit never configures exponential histograms.
        MetricData::ExponentialHistogram(_) => (Aggregation::Histogram, Vec::new()),
    }
}
