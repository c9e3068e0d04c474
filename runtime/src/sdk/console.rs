//! The `console` exporters: spans, metrics and log records as readable text on **stderr**,
//! so stdout stays one JSON object per line for the JSON logs.
//!
//! ```text
//! span create-todo trace=ebd6fb4c5ffb78a1d03932baf34b5ff2 span=b0ff410da1ad0991 parent=6f76272cc5b2ac78 kind=Internal status=Unset 1.204ms scope=backstage-plugin-todos
//!   backstage.plugin.id=todos todo.category=personal
//!   event "todo created" +0.310ms todo=1
//! metric backstage.plugin.todos.todos.created {todo} scope=backstage-plugin-todos
//!   sum category=personal: 1
//! log INFO "todo created" trace=ebd6… span=b0ff… backstage.plugin.id=todos todo=1
//! ```

use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
#[cfg(feature = "logs")]
use std::time::SystemTime;

use opentelemetry::KeyValue;
use opentelemetry::trace::SpanId;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::metrics::Temporality;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData, ResourceMetrics};
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};

/// Writes `text` to stderr in one call, so lines of concurrent exports do not interleave.
fn emit(text: &str) -> OTelSdkResult {
    std::io::stderr()
        .lock()
        .write_all(text.as_bytes())
        .map_err(|e| OTelSdkError::InternalFailure(format!("console: {e}")))
}

fn attributes<'a>(out: &mut String, attributes: impl IntoIterator<Item = &'a KeyValue>) {
    for (i, kv) in attributes.into_iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let _ = write!(out, "{}={}", kv.key, kv.value);
    }
}

fn millis(duration: Duration) -> String {
    format!("{:.3}ms", duration.as_secs_f64() * 1000.0)
}

/// Spans as text on stderr.
#[derive(Debug, Default)]
pub struct ConsoleSpanExporter {
    shut_down: AtomicBool,
}

impl SpanExporter for ConsoleSpanExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        if self.shut_down.load(Ordering::Relaxed) {
            return Err(OTelSdkError::AlreadyShutdown);
        }
        let mut out = String::new();
        for span in &batch {
            let context = &span.span_context;
            let _ = write!(
                out,
                "span {} trace={} span={}",
                span.name,
                context.trace_id(),
                context.span_id()
            );
            if span.parent_span_id != SpanId::INVALID {
                let _ = write!(out, " parent={}", span.parent_span_id);
            }
            let duration = span
                .end_time
                .duration_since(span.start_time)
                .unwrap_or_default();
            let _ = writeln!(
                out,
                " kind={:?} status={:?} {} scope={}",
                span.span_kind,
                span.status,
                millis(duration),
                span.instrumentation_scope.name()
            );
            if !span.attributes.is_empty() {
                out.push_str("  ");
                attributes(&mut out, &span.attributes);
                out.push('\n');
            }
            for event in span.events.iter() {
                let at = event
                    .timestamp
                    .duration_since(span.start_time)
                    .unwrap_or_default();
                let _ = write!(out, "  event {:?} +{} ", event.name, millis(at));
                attributes(&mut out, &event.attributes);
                out.push('\n');
            }
            for link in span.links.iter() {
                let _ = write!(
                    out,
                    "  link trace={} span={} ",
                    link.span_context.trace_id(),
                    link.span_context.span_id()
                );
                attributes(&mut out, &link.attributes);
                out.push('\n');
            }
        }
        emit(&out)
    }

    fn shutdown_with_timeout(&self, _: Duration) -> OTelSdkResult {
        self.shut_down.store(true, Ordering::Relaxed);
        Ok(())
    }
}

/// Metrics as text on stderr, at every collection.
#[derive(Debug, Default)]
pub struct ConsoleMetricExporter {
    shut_down: AtomicBool,
}

impl PushMetricExporter for ConsoleMetricExporter {
    async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        if self.shut_down.load(Ordering::Relaxed) {
            return Err(OTelSdkError::AlreadyShutdown);
        }
        let mut out = String::new();
        for scope in metrics.scope_metrics() {
            for metric in scope.metrics() {
                let _ = writeln!(
                    out,
                    "metric {} {} scope={}",
                    metric.name(),
                    metric.unit(),
                    scope.scope().name()
                );
                match metric.data() {
                    AggregatedMetrics::F64(data) => points(&mut out, data),
                    AggregatedMetrics::U64(data) => points(&mut out, data),
                    AggregatedMetrics::I64(data) => points(&mut out, data),
                }
            }
        }
        emit(&out)
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, _: Duration) -> OTelSdkResult {
        self.shut_down.store(true, Ordering::Relaxed);
        Ok(())
    }

    fn temporality(&self) -> Temporality {
        Temporality::Cumulative
    }
}

fn points<T: std::fmt::Debug + Copy>(out: &mut String, data: &MetricData<T>) {
    let mut line = |kind: &str, attrs: &mut dyn Iterator<Item = &KeyValue>, value: String| {
        let _ = write!(out, "  {kind} ");
        attributes(out, attrs);
        let _ = writeln!(out, ": {value}");
    };
    match data {
        MetricData::Gauge(gauge) => {
            for point in gauge.data_points() {
                line(
                    "gauge",
                    &mut point.attributes(),
                    format!("{:?}", point.value()),
                );
            }
        }
        MetricData::Sum(sum) => {
            for point in sum.data_points() {
                line(
                    "sum",
                    &mut point.attributes(),
                    format!("{:?}", point.value()),
                );
            }
        }
        MetricData::Histogram(histogram) => {
            for point in histogram.data_points() {
                line(
                    "histogram",
                    &mut point.attributes(),
                    format!("count={} sum={:?}", point.count(), point.sum()),
                );
            }
        }
        MetricData::ExponentialHistogram(histogram) => {
            for point in histogram.data_points() {
                line(
                    "exponential histogram",
                    &mut point.attributes(),
                    format!("count={} sum={:?}", point.count(), point.sum()),
                );
            }
        }
    }
}

/// Log records as text on stderr.
#[cfg(feature = "logs")]
#[derive(Debug, Default)]
pub struct ConsoleLogExporter {
    shut_down: AtomicBool,
}

#[cfg(feature = "logs")]
impl opentelemetry_sdk::logs::LogExporter for ConsoleLogExporter {
    async fn export(&self, batch: opentelemetry_sdk::logs::LogBatch<'_>) -> OTelSdkResult {
        if self.shut_down.load(Ordering::Relaxed) {
            return Err(OTelSdkError::AlreadyShutdown);
        }
        let mut out = String::new();
        for (record, _) in batch.iter() {
            let time = record
                .timestamp()
                .or(record.observed_timestamp())
                .unwrap_or_else(SystemTime::now);
            let _ = write!(
                out,
                "log {} {}",
                clock(time),
                record.severity_text().unwrap_or("-")
            );
            if let Some(body) = record.body() {
                let _ = write!(out, " {:?}", any_value(body));
            }
            if let Some(context) = record.trace_context() {
                let _ = write!(out, " trace={} span={}", context.trace_id, context.span_id);
            }
            for (key, value) in record.attributes_iter() {
                let _ = write!(out, " {key}={}", any_value(value));
            }
            out.push('\n');
        }
        emit(&out)
    }

    fn shutdown_with_timeout(&self, _: Duration) -> OTelSdkResult {
        self.shut_down.store(true, Ordering::Relaxed);
        Ok(())
    }
}

/// A log value as text: strings, numbers and booleans plain, the rest in debug form.
#[cfg(feature = "logs")]
fn any_value(value: &opentelemetry::logs::AnyValue) -> String {
    use opentelemetry::logs::AnyValue;
    match value {
        AnyValue::String(s) => s.to_string(),
        AnyValue::Int(i) => i.to_string(),
        AnyValue::Double(d) => d.to_string(),
        AnyValue::Boolean(b) => b.to_string(),
        other => format!("{other:?}"),
    }
}

/// The time of day of `time` (UTC), for log lines.
#[cfg(feature = "logs")]
fn clock(time: SystemTime) -> String {
    let since = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let seconds = since.as_secs() % 86_400;
    format!(
        "{:02}:{:02}:{:02}.{:03}Z",
        seconds / 3600,
        seconds % 3600 / 60,
        seconds % 60,
        since.subsec_millis()
    )
}
