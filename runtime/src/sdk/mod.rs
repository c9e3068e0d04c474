//! SDK set-up (SPEC §10): [`init`] installs the global tracer and meter providers and the
//! propagator, with zero-configuration defaults, and returns a [`Telemetry`] guard that
//! flushes and shuts down.
//!
//! | what | default | config (`backend.telemetry`) | environment (wins) |
//! |---|---|---|---|
//! | everything | on | `enabled` | `OTEL_SDK_DISABLED=true` |
//! | metrics | Prometheus at `http://127.0.0.1:9464/metrics` | `metrics.exporter`, `metrics.prometheus.{host,port}` | `OTEL_METRICS_EXPORTER`, `OTEL_EXPORTER_PROMETHEUS_HOST`, `_PORT` |
//! | traces | OTLP if `OTEL_EXPORTER_OTLP_ENDPOINT` (or `_TRACES_ENDPOINT`) is set, else none | `traces.exporter` | `OTEL_TRACES_EXPORTER` |
//! | OTLP transport | http/protobuf | | `OTEL_EXPORTER_OTLP_PROTOCOL`, `_TRACES_PROTOCOL`, `_METRICS_PROTOCOL` (`grpc`) |
//! | OTLP endpoint, headers, timeout, compression | the OTLP defaults | | `OTEL_EXPORTER_OTLP_*` and per-signal variants |
//! | metric export interval | 60 s | | `OTEL_METRIC_EXPORT_INTERVAL` |
//! | span queue | 2048 spans, batches of 512 | | `OTEL_BSP_*` |
//! | propagation | W3C trace-context and baggage | | `OTEL_PROPAGATORS` |
//! | resource | `service.name` = `backend.metrics.serviceName`, `service.version` | | `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES` |
//!
//! Exporter names: `prometheus`, `otlp`, `console` (or `stdout`), `none`; lists such as
//! `otlp,console` install several.
//!
//! ```no_run
//! let config = backstage_telemetry::Config::load(["app-config.yaml"])?;
//! let telemetry = backstage_telemetry::init(&config)?;
//! // ... serve ...
//! telemetry.shutdown()?; // or drop it: spans ended so far are exported
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#[cfg(feature = "otlp")]
mod otlp;
#[cfg(feature = "prometheus")]
mod prometheus;
mod settings;
mod unique;

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use opentelemetry::propagation::TextMapCompositePropagator;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::propagation::{BaggagePropagator, TraceContextPropagator};
use opentelemetry_sdk::trace::{BatchSpanProcessor, SdkTracerProvider};

use crate::config::Config;
use settings::{Exporter, Propagator, Settings};
pub use unique::UniqueAttributes;

/// Installs the global tracer and meter providers, the propagator and `config` (for the
/// macros), as the app-config and the `OTEL_*` variables say; see the [module docs](self)
/// for the defaults.
///
/// An unreachable collector never blocks the application: spans and metrics are exported
/// from background threads, spans wait in a bounded queue (dropped beyond it).
///
/// ```
/// // with nothing configured: metrics for Prometheus, no traces exported
/// let config = backstage_telemetry::Config::from_yaml_str(
///     "app-config.yaml",
///     "backend:\n  telemetry:\n    metrics:\n      prometheus: { port: 0 }\n",
/// )?;
/// let telemetry = backstage_telemetry::init(&config)?;
/// assert!(telemetry.metrics_endpoint().unwrap().ip().is_loopback());
/// telemetry.shutdown()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn init(config: &Config) -> Result<Telemetry, InitError> {
    let env = &|name: &str| std::env::var(name).ok();
    crate::set_config(config.clone());
    let settings = Settings::resolve(config, env)?;
    let mut telemetry = Telemetry::default();
    if !settings.enabled {
        return Ok(telemetry);
    }
    let resource = resource(config, env);

    if !settings.metrics.is_empty() {
        let mut builder = SdkMeterProvider::builder().with_resource(resource.clone());
        for exporter in &settings.metrics {
            builder = match exporter {
                Exporter::Prometheus { host, port } => {
                    telemetry.prometheus(builder, host, *port)?
                }
                Exporter::Otlp(protocol) => telemetry.otlp_metrics(builder, *protocol)?,
                Exporter::Stdout => builder.with_reader(
                    PeriodicReader::builder(opentelemetry_stdout::MetricExporter::default())
                        .build(),
                ),
            };
        }
        let provider = builder.build();
        crate::set_meter_provider(provider.clone());
        telemetry.meter_provider = Some(provider);
    }

    if !settings.traces.is_empty() {
        let mut builder = SdkTracerProvider::builder().with_resource(resource);
        for exporter in &settings.traces {
            builder = match exporter {
                Exporter::Otlp(protocol) => telemetry.otlp_traces(builder, *protocol)?,
                Exporter::Stdout => builder.with_span_processor(UniqueAttributes::new(
                    BatchSpanProcessor::builder(opentelemetry_stdout::SpanExporter::default())
                        .build(),
                )),
                Exporter::Prometheus { .. } => builder,
            };
        }
        let provider = builder.build();
        crate::set_tracer_provider(provider.clone());
        telemetry.tracer_provider = Some(provider);
    }

    if !settings.propagators.is_empty() {
        let propagators: Vec<Box<dyn TextMapPropagator + Send + Sync>> = settings
            .propagators
            .iter()
            .map(|p| -> Box<dyn TextMapPropagator + Send + Sync> {
                match p {
                    Propagator::TraceContext => Box::new(TraceContextPropagator::new()),
                    Propagator::Baggage => Box::new(BaggagePropagator::new()),
                }
            })
            .collect();
        opentelemetry::global::set_text_map_propagator(TextMapCompositePropagator::new(
            propagators,
        ));
    }
    Ok(telemetry)
}

/// `service.name`: `OTEL_SERVICE_NAME`, else `service.name` in `OTEL_RESOURCE_ATTRIBUTES`,
/// else `backend.metrics.serviceName`; `service.version` from `serviceVersion` unless the
/// variables give one; the rest of `OTEL_RESOURCE_ATTRIBUTES` kept.
fn resource(config: &Config, env: &dyn Fn(&str) -> Option<String>) -> Resource {
    let from_env = |key: &str| {
        env("OTEL_RESOURCE_ATTRIBUTES").is_some_and(|list| {
            list.split(',')
                .any(|pair| pair.split('=').next().map(str::trim) == Some(key))
        })
    };
    // The builder's detectors read OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES.
    let mut builder = Resource::builder();
    if env("OTEL_SERVICE_NAME").is_none() && !from_env("service.name") {
        builder = builder.with_service_name(config.service_name().to_owned());
    }
    if let Some(version) = config.service_version()
        && !from_env("service.version")
    {
        builder = builder.with_attribute(opentelemetry::KeyValue::new(
            "service.version",
            version.to_owned(),
        ));
    }
    builder.build()
}

/// What [`init`] installed. [`shutdown`](Self::shutdown) (or dropping it) exports what is
/// pending and stops the exporters and the `/metrics` server.
#[derive(Debug, Default)]
#[must_use = "dropping the guard shuts telemetry down"]
pub struct Telemetry {
    tracer_provider: Option<SdkTracerProvider>,
    meter_provider: Option<SdkMeterProvider>,
    #[cfg(feature = "prometheus")]
    prometheus: Option<prometheus::PrometheusServer>,
    /// Drives the gRPC exporters' connections.
    #[cfg(feature = "otlp")]
    runtime: Option<tokio::runtime::Runtime>,
}

impl Telemetry {
    /// Where `/metrics` is served, if the Prometheus exporter is on.
    pub fn metrics_endpoint(&self) -> Option<SocketAddr> {
        #[cfg(feature = "prometheus")]
        if let Some(server) = &self.prometheus {
            return Some(server.address());
        }
        None
    }

    /// Exports what is pending (spans ended so far, a last collection of metrics) and
    /// stops. Errors say which part failed; everything is stopped either way.
    pub fn shutdown(mut self) -> Result<(), ShutdownError> {
        self.stop()
    }

    fn stop(&mut self) -> Result<(), ShutdownError> {
        let mut failures = Vec::new();
        if let Some(provider) = self.tracer_provider.take()
            && let Err(error) = provider.shutdown_with_timeout(SHUTDOWN_TIMEOUT)
        {
            failures.push(format!("traces: {error}"));
        }
        if let Some(provider) = self.meter_provider.take()
            && let Err(error) = provider.shutdown_with_timeout(SHUTDOWN_TIMEOUT)
        {
            failures.push(format!("metrics: {error}"));
        }
        #[cfg(feature = "prometheus")]
        if let Some(mut server) = self.prometheus.take() {
            server.stop();
        }
        #[cfg(feature = "otlp")]
        if let Some(runtime) = self.runtime.take() {
            // Never blocks, even when dropped inside an async context.
            runtime.shutdown_background();
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(ShutdownError { failures })
        }
    }

    #[cfg(feature = "prometheus")]
    fn prometheus(
        &mut self,
        builder: opentelemetry_sdk::metrics::MeterProviderBuilder,
        host: &str,
        port: u16,
    ) -> Result<opentelemetry_sdk::metrics::MeterProviderBuilder, InitError> {
        let registry = ::prometheus::Registry::new();
        let exporter = opentelemetry_prometheus::exporter()
            .with_registry(registry.clone())
            .build()
            .map_err(|e| InitError::Exporter(format!("prometheus: {e}")))?;
        self.prometheus = Some(prometheus::PrometheusServer::start(host, port, registry)?);
        Ok(builder.with_reader(exporter))
    }

    #[cfg(not(feature = "otlp"))]
    fn otlp_metrics(
        &mut self,
        _: opentelemetry_sdk::metrics::MeterProviderBuilder,
        _: settings::Protocol,
    ) -> Result<opentelemetry_sdk::metrics::MeterProviderBuilder, InitError> {
        Err(InitError::NotBuilt("otlp"))
    }

    #[cfg(not(feature = "otlp"))]
    fn otlp_traces(
        &mut self,
        _: opentelemetry_sdk::trace::TracerProviderBuilder,
        _: settings::Protocol,
    ) -> Result<opentelemetry_sdk::trace::TracerProviderBuilder, InitError> {
        Err(InitError::NotBuilt("otlp"))
    }

    #[cfg(not(feature = "prometheus"))]
    fn prometheus(
        &mut self,
        _: opentelemetry_sdk::metrics::MeterProviderBuilder,
        _: &str,
        _: u16,
    ) -> Result<opentelemetry_sdk::metrics::MeterProviderBuilder, InitError> {
        Err(InitError::NotBuilt("prometheus"))
    }
}

const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

impl Drop for Telemetry {
    fn drop(&mut self) {
        // Best effort: there is no one to tell.
        let _ = self.stop();
    }
}

/// Why [`init`] installed nothing.
#[derive(Debug)]
#[non_exhaustive]
pub enum InitError {
    /// A variable or config key has a value that is not allowed (the value is not repeated).
    Invalid {
        /// The variable or key path.
        source: String,
        /// What is allowed.
        expected: &'static str,
    },
    /// The `/metrics` server could not listen, e.g. the port is in use.
    PrometheusBind {
        /// `host:port`.
        address: String,
        /// Why.
        source: std::io::Error,
    },
    /// An exporter could not be built.
    Exporter(String),
    /// The exporter asked for is behind a cargo feature that is off.
    NotBuilt(&'static str),
}

impl fmt::Display for InitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InitError::Invalid { source, expected } => {
                write!(f, "telemetry set-up: {source} must be {expected}")
            }
            InitError::PrometheusBind { address, source } => write!(
                f,
                "telemetry set-up: cannot serve Prometheus metrics on {address}: {source} \
                 (choose another port with OTEL_EXPORTER_PROMETHEUS_PORT or \
                 backend.telemetry.metrics.prometheus.port)"
            ),
            InitError::Exporter(message) => write!(f, "telemetry set-up: {message}"),
            InitError::NotBuilt(feature) => write!(
                f,
                "telemetry set-up: the `{feature}` exporter is not built in; enable the \
                 `{feature}` feature of backstage-telemetry"
            ),
        }
    }
}

impl std::error::Error for InitError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            InitError::PrometheusBind { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Parts that failed to flush or stop at [`Telemetry::shutdown`].
#[derive(Debug)]
pub struct ShutdownError {
    failures: Vec<String>,
}

impl fmt::Display for ShutdownError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "telemetry shutdown: {}", self.failures.join("; "))
    }
}

impl std::error::Error for ShutdownError {}
