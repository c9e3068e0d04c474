//! The logs signal: `tracing` events as OpenTelemetry log records, exported over OTLP or to
//! the console, each with its severity, body, fields, the `trace_id` / `span_id` of the span
//! it was logged in and, inside plugin code, `backstage.plugin.id` (or `backstage.core.id`).
//!
//! `init` builds the pipeline; the application adds [`Telemetry::log_layer`] to its
//! `tracing` subscriber (the JSON lines on stdout stay as they are):
//!
//! ```no_run
//! use tracing_subscriber::layer::SubscriberExt;
//! use tracing_subscriber::util::SubscriberInitExt;
//!
//! let config = backstage_telemetry::Config::default();
//! let telemetry = backstage_telemetry::init(&config);
//! tracing_subscriber::registry()
//!     .with(backstage_telemetry::logs::JsonLogs::new(&config))
//!     .with(telemetry.log_layer())
//!     .init();
//! ```

use std::time::Duration;

use opentelemetry::logs::LogRecord as _;
use opentelemetry::{Context, InstrumentationScope};
use opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::logs::{
    BatchConfigBuilder, BatchLogProcessor, LogExporter, LogProcessor, SdkLogRecord, SdkLogger,
    SdkLoggerProvider,
};
use tracing_subscriber::Layer;
use tracing_subscriber::registry::LookupSpan;

use super::settings::{Batch, Exporter, Settings};
use super::{Telemetry, console};
use crate::tracing::ActiveScope;

/// Crates whose events are never exported as log records: OpenTelemetry's own (exporting
/// them would feed back into the exporters), and the HTTP and TLS stacks below them.
const OWN_TARGETS: [&str; 6] = ["opentelemetry", "hyper", "h2", "tonic", "reqwest", "rustls"];

/// Whether `target` is one of [`OWN_TARGETS`] or a module or sibling crate of one
/// (`opentelemetry_sdk`, `opentelemetry-otlp`, `hyper_util`, `tonic::transport`).
fn own_target(target: &str) -> bool {
    OWN_TARGETS.iter().any(|own| {
        target.strip_prefix(own).is_some_and(|rest| {
            rest.is_empty() || rest.starts_with("::") || rest.starts_with(['_', '-'])
        })
    })
}

impl Telemetry {
    /// The logger provider of the built-in `exporters` and the modules' `extra` processors.
    pub(super) fn build_logs(
        &mut self,
        settings: &Settings,
        exporters: &[Exporter],
        extra: Vec<super::modules::Contained<dyn LogProcessor>>,
        resource: Resource,
    ) {
        let mut builder = SdkLoggerProvider::builder().with_resource(resource);
        let mut processors = 0;
        for exporter in exporters {
            match exporter {
                Exporter::Stdout => {
                    builder = builder.with_log_processor(stamped(
                        console::ConsoleLogExporter::default(),
                        settings.log_batch,
                    ));
                }
                #[cfg(feature = "otlp")]
                Exporter::Otlp(otlp) => match self.otlp_log_exporter(otlp) {
                    Ok(exporter) => {
                        builder = builder.with_log_processor(stamped(exporter, settings.log_batch));
                    }
                    Err(problem) => {
                        self.problems.push(problem);
                        continue;
                    }
                },
                #[cfg(not(feature = "otlp"))]
                Exporter::Otlp(_) => {
                    self.problems
                        .push(super::not_built("otlp", "log export over OTLP is off"));
                    continue;
                }
                Exporter::Prometheus { .. } => continue,
            }
            processors += 1;
        }
        // after the built-in processors: the provider stops them one after another, and
        // waiting for a module's processor must not delay the built-in ones
        for processor in extra {
            builder = builder.with_log_processor(ScopeStamp(processor));
            processors += 1;
        }
        if processors > 0 {
            crate::global::scope_for_logs();
            self.logger_provider = Some(builder.build());
        }
    }

    /// A `tracing` layer exporting events as OpenTelemetry log records, or `None` when no
    /// logs exporter is on (`OTEL_LOGS_EXPORTER`, `backend.telemetry.logs.exporter`; `otlp`
    /// by default when an OTLP endpoint is set). Events of OpenTelemetry and the HTTP stacks
    /// it uses are left out. See the [module docs](crate::sdk) for the set-up.
    pub fn log_layer<S>(&self) -> Option<impl Layer<S> + use<S>>
    where
        S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    {
        let provider = self.logger_provider.as_ref()?;
        let bridge: OpenTelemetryTracingBridge<SdkLoggerProvider, SdkLogger> =
            OpenTelemetryTracingBridge::new(provider);
        Some(
            bridge.with_filter(tracing_subscriber::filter::filter_fn(|metadata| {
                !own_target(metadata.target())
            })),
        )
    }
}

/// A batch processor with the checked queue settings, stamping the scope.
fn stamped<E: LogExporter + 'static>(exporter: E, batch: Batch) -> ScopeStamp<BatchLogProcessor> {
    ScopeStamp(batch_processor(exporter, batch))
}

/// A batch processor with the checked queue settings.
pub(super) fn batch_processor<E: LogExporter + 'static>(
    exporter: E,
    batch: Batch,
) -> BatchLogProcessor {
    let config = BatchConfigBuilder::default()
        .with_max_queue_size(batch.max_queue_size)
        .with_max_export_batch_size(batch.max_export_batch_size)
        .with_scheduled_delay(batch.scheduled_delay)
        .build();
    BatchLogProcessor::builder(exporter)
        .with_batch_config(config)
        .build()
}

/// Adds `backstage.plugin.id` (or `backstage.core.id`) of the span a record was logged in,
/// and the time of the event: the `tracing` bridge sets only when it was observed, which is
/// the same moment, but collectors and backends sort and show records by `Timestamp`.
#[derive(Debug)]
struct ScopeStamp<P>(P);

impl<P: LogProcessor> LogProcessor for ScopeStamp<P> {
    fn emit(&self, record: &mut SdkLogRecord, scope: &InstrumentationScope) {
        if record.timestamp().is_none() {
            let observed = record
                .observed_timestamp()
                .unwrap_or_else(std::time::SystemTime::now);
            record.set_timestamp(observed);
        }
        if let Some(attribute) = Context::map_current(|cx| {
            cx.get::<ActiveScope>()
                .map(|ActiveScope(scope)| crate::naming::id_attribute(scope))
        }) {
            record.add_attribute(attribute.key, attribute.value.as_str().into_owned());
        }
        self.0.emit(record, scope);
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.0.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.0.set_resource(resource);
    }
}

#[cfg(test)]
mod tests {
    use super::own_target;

    #[test]
    fn opentelemetry_and_the_http_stacks_are_left_out() {
        for target in [
            "opentelemetry",
            "opentelemetry_sdk",
            "opentelemetry-otlp",
            "opentelemetry::global",
            "hyper_util::client",
            "h2::proto",
            "tonic::transport",
            "reqwest::connect",
            "rustls::client",
        ] {
            assert!(own_target(target), "{target}");
        }
        for target in ["backend::todos", "hyperion", "h2o", "tonics", "probe"] {
            assert!(!own_target(target), "{target}");
        }
    }
}
