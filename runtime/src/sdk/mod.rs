//! SDK set-up: [`init`] installs the global tracer and meter providers and the propagator,
//! with zero-configuration defaults, and returns a [`Telemetry`] guard that flushes and
//! shuts down within one deadline.
//!
//! | what | default | config (`backend.telemetry`) | environment (wins) |
//! |---|---|---|---|
//! | everything | on | `enabled` | `OTEL_SDK_DISABLED=true` |
//! | metrics | Prometheus at `http://127.0.0.1:9464/metrics` | `metrics.exporter`, `metrics.prometheus.{host,port}` | `OTEL_METRICS_EXPORTER`, `OTEL_EXPORTER_PROMETHEUS_HOST`, `_PORT` |
//! | traces | OTLP if `OTEL_EXPORTER_OTLP_ENDPOINT` (or `_TRACES_ENDPOINT`) is set, else none | `traces.exporter` | `OTEL_TRACES_EXPORTER` |
//! | OTLP transport | http/protobuf | | `OTEL_EXPORTER_OTLP_PROTOCOL`, `_TRACES_PROTOCOL`, `_METRICS_PROTOCOL` (`grpc`) |
//! | OTLP endpoint, headers, timeout, compression | `localhost:4318` (http), `:4317` (gRPC); 10 s | | `OTEL_EXPORTER_OTLP_*` and per-signal variants |
//! | metric export interval | 60 s | | `OTEL_METRIC_EXPORT_INTERVAL` |
//! | span queue | 2048 spans, batches of 512, every 5 s | | `OTEL_BSP_*` |
//! | series per instrument | 2000 | `backend.metrics.cardinalityLimit` | |
//! | shutdown deadline | 5 s for everything | `shutdownTimeout` (ms) | `BACKSTAGE_TELEMETRY_SHUTDOWN_TIMEOUT` (ms) |
//! | propagation | W3C trace-context and baggage | | `OTEL_PROPAGATORS` |
//! | resource | `service.name` = `backend.metrics.serviceName`, `service.version` | | `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES` |
//!
//! Exporter names: `prometheus`, `otlp`, `console` (or `stdout`), `none`; lists such as
//! `otlp,console` install several.
//!
//! **Bad settings turn off only what they belong to.** A value `init` cannot use (an
//! endpoint that is not a URL, an unknown protocol or exporter, a port in use) turns off
//! that one exporter or list entry, and every other signal runs; a number outside its range
//! (the table in the README) is clamped into it. Each case is a [`SetupProblem`] in
//! [`Telemetry::problems`], naming the variable or key and never its value: log them at
//! start-up. [`init_strict`] refuses instead, for those who would rather not start.
//!
//! ```no_run
//! let config = backstage_telemetry::Config::load(["app-config.yaml"])?;
//! let telemetry = backstage_telemetry::init(&config);
//! for problem in telemetry.problems() {
//!     eprintln!("telemetry: {problem}");
//! }
//! // ... serve ...
//! telemetry.shutdown()?; // or drop it: spans ended so far are exported
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod console;
#[cfg(feature = "otlp")]
mod grpc;
#[cfg(feature = "logs")]
mod logs;
mod modules;
#[cfg(feature = "prometheus")]
mod openmetrics;
#[cfg(feature = "otlp")]
mod otlp;
mod problem;
#[cfg(feature = "prometheus")]
mod prometheus;
// retries are for the OTLP exporters; shutdown's part of them is always there
#[cfg_attr(not(feature = "otlp"), allow(dead_code))]
mod retry;
mod settings;
#[cfg(feature = "otlp")]
mod tls;
mod unique;
mod views;

use crate::tracing::unsampled::KnownSampler;
use std::fmt;
use std::net::SocketAddr;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use opentelemetry::propagation::{TextMapCompositePropagator, TextMapPropagator};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::{
    Instrument, MeterProviderBuilder, PeriodicReader, SdkMeterProvider,
};
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider, SpanExporter,
};

use crate::config::Config;
pub use modules::{Extensions, FnModule, ModuleError, TelemetryModule, module};
pub use problem::{InitError, SetupProblem};
use settings::{Batch, Exporter, Propagator, Sampler, Settings, Signal};
pub use unique::UniqueAttributes;

/// Installs the global tracer and meter providers, the propagator and `config` (for the
/// macros), as the app-config and the `OTEL_*` variables say; see the [module docs](self)
/// for the defaults. It never fails: what it could not use is in
/// [`Telemetry::problems`], and only the exporter a bad setting belongs to is off.
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
/// let telemetry = backstage_telemetry::init(&config);
/// assert!(telemetry.problems().is_empty());
/// assert!(telemetry.metrics_endpoint().unwrap().ip().is_loopback());
/// telemetry.shutdown()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn init(config: &Config) -> Telemetry {
    Telemetry::builder(config).init()
}

/// Like [`init`], but any problem is an error and nothing is installed.
///
/// ```
/// let config = backstage_telemetry::Config::from_yaml_str(
///     "app-config.yaml",
///     "backend:\n  telemetry:\n    traces:\n      exporter: zipkin\n",
/// )?;
/// let error = backstage_telemetry::init_strict(&config).unwrap_err();
/// assert_eq!(error.problems()[0].setting(), "backend.telemetry.traces.exporter");
/// # Ok::<(), backstage_telemetry::ConfigError>(())
/// ```
pub fn init_strict(config: &Config) -> Result<Telemetry, InitError> {
    Telemetry::builder(config).init_strict()
}

/// [`init`] with [telemetry modules](TelemetryModule): exporters, processors, readers, resource
/// attributes, propagators or a sampler that `init` does not build itself. Made by
/// [`Telemetry::builder`].
///
/// ```
/// use backstage_telemetry::sdk::module;
/// use backstage_telemetry::{Config, KeyValue, Telemetry};
///
/// # let config = Config::from_yaml_str("app-config.yaml", "backend:\n  telemetry:\n    metrics:\n      exporter: none\n")?;
/// let telemetry = Telemetry::builder(&config)
///     .with_module(module("region", |parts| {
///         parts.add_resource_attribute(KeyValue::new("cloud.region", "eu-west-1"));
///         Ok(())
///     }))
///     .init();
/// # drop(telemetry);
/// # Ok::<(), backstage_telemetry::ConfigError>(())
/// ```
#[must_use = "nothing is installed until `init` or `init_strict`"]
pub struct TelemetryBuilder<'c> {
    config: &'c Config,
    modules: Vec<Box<dyn TelemetryModule>>,
}

impl fmt::Debug for TelemetryBuilder<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.modules.iter().map(|m| m.name()).collect();
        f.debug_struct("TelemetryBuilder")
            .field("modules", &names)
            .finish_non_exhaustive()
    }
}

impl TelemetryBuilder<'_> {
    /// Adds a module; modules register in the order added.
    pub fn with_module(mut self, module: impl TelemetryModule + 'static) -> Self {
        self.modules.push(Box::new(module));
        self
    }

    /// Builds and installs everything, as [`init`] does: a module that fails to register is
    /// a problem in [`Telemetry::problems`] and off, the rest runs.
    pub fn init(self) -> Telemetry {
        let mut telemetry =
            Telemetry::build(self.config, &|name| std::env::var_os(name), &self.modules);
        telemetry.install(self.config);
        telemetry
    }

    /// Like [`init`](Self::init), but any problem (a module's included) is an error and
    /// nothing is installed.
    pub fn init_strict(self) -> Result<Telemetry, InitError> {
        let mut telemetry =
            Telemetry::build(self.config, &|name| std::env::var_os(name), &self.modules);
        if telemetry.problems.is_empty() {
            telemetry.install(self.config);
            Ok(telemetry)
        } else {
            let problems = std::mem::take(&mut telemetry.problems);
            drop(telemetry);
            Err(InitError::new(problems))
        }
    }
}

/// The resource: `service.name` as [`Config::reported_service_name`] says (so
/// `OTEL_SERVICE_NAME` wins over `OTEL_RESOURCE_ATTRIBUTES`), `service.version` from
/// `serviceVersion` unless the variables give one, the rest of `OTEL_RESOURCE_ATTRIBUTES`
/// kept.
///
/// A module's attributes (`extra`) come first, so that all of these win over them.
fn resource(config: &Config, extra: Vec<opentelemetry::KeyValue>) -> Resource {
    let env = |name: &str| std::env::var(name).ok();
    let version_from_env = env("OTEL_RESOURCE_ATTRIBUTES").is_some_and(|list| {
        list.split_terminator(',')
            .any(|pair| pair.split('=').next().map(str::trim) == Some("service.version"))
    });
    // The builder's detectors read OTEL_RESOURCE_ATTRIBUTES; ours are applied after them.
    use opentelemetry_sdk::resource::{
        EnvResourceDetector, SdkProvidedResourceDetector, TelemetryResourceDetector,
    };
    // as `Resource::builder()`, with the modules' attributes below the detectors'
    let mut builder = Resource::builder_empty()
        .with_attributes(extra)
        .with_detectors(&[
            Box::new(SdkProvidedResourceDetector),
            Box::new(TelemetryResourceDetector),
            Box::new(EnvResourceDetector::new()),
        ])
        .with_service_name(config.reported_service_name(&env));
    if let Some(version) = config.service_version()
        && !version_from_env
    {
        builder = builder.with_attribute(opentelemetry::KeyValue::new(
            "service.version",
            version.to_owned(),
        ));
    }
    builder.build()
}

/// What [`init`] installed. [`shutdown`](Self::shutdown) (or dropping it) exports what is
/// pending and stops the exporters and the `/metrics` server, within one deadline.
#[derive(Debug)]
#[must_use = "dropping the guard shuts telemetry down"]
pub struct Telemetry {
    tracer_provider: Option<SdkTracerProvider>,
    /// The tracer provider's sampler, when it is one of the SDK's built-in samplers (not a
    /// module's): the spans it drops are made without the SDK (`tracing::unsampled`).
    known_sampler: Option<KnownSampler>,
    /// The tracer generation installing the tracer provider made.
    tracer_generation: Option<u64>,
    meter_provider: Option<SdkMeterProvider>,
    #[cfg(feature = "logs")]
    logger_provider: Option<opentelemetry_sdk::logs::SdkLoggerProvider>,
    propagators: Vec<Propagator>,
    /// The telemetry modules' propagators, installed after [`Self::propagators`].
    module_propagators: ModulePropagators,
    /// The telemetry modules' side of the shutdown.
    module_stop: std::sync::Arc<modules::ModuleStop>,
    #[cfg(feature = "prometheus")]
    prometheus: Option<prometheus::PrometheusServer>,
    /// Drives the gRPC exporters' connections.
    #[cfg(feature = "otlp")]
    runtime: Option<tokio::runtime::Runtime>,
    shutdown_timeout: Duration,
    /// How long a failed span or log batch is retried.
    #[cfg_attr(not(feature = "otlp"), allow(dead_code))]
    retry_budget: Duration,
    /// Tells the exporters' retries that shutdown has begun.
    stopping: std::sync::Arc<retry::Stopping>,
    problems: Vec<SetupProblem>,
}

/// Propagators given by telemetry modules.
#[derive(Default)]
struct ModulePropagators(Vec<Box<dyn TextMapPropagator + Send + Sync>>);

impl fmt::Debug for ModulePropagators {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} from modules", self.0.len())
    }
}

impl Telemetry {
    /// Starts an [`init`] with [telemetry modules](TelemetryModule).
    pub fn builder(config: &Config) -> TelemetryBuilder<'_> {
        TelemetryBuilder {
            config,
            modules: Vec::new(),
        }
    }

    /// Builds every part the settings and the modules ask for; nothing is global yet.
    fn build(
        config: &Config,
        env: settings::Env<'_>,
        modules: &[Box<dyn TelemetryModule>],
    ) -> Telemetry {
        let settings = Settings::resolve(config, env);
        let mut telemetry = Telemetry {
            tracer_provider: None,
            known_sampler: None,
            tracer_generation: None,
            meter_provider: None,
            #[cfg(feature = "logs")]
            logger_provider: None,
            propagators: settings.propagators.clone(),
            module_propagators: ModulePropagators::default(),
            module_stop: std::sync::Arc::new(modules::ModuleStop::new(settings.shutdown_timeout)),
            #[cfg(feature = "prometheus")]
            prometheus: None,
            #[cfg(feature = "otlp")]
            runtime: None,
            shutdown_timeout: settings.shutdown_timeout,
            retry_budget: settings.retry_budget,
            stopping: std::sync::Arc::default(),
            problems: settings.problems.clone(),
        };
        // names a scrape would mix up, declared anywhere in the binary
        for conflict in crate::catalog().conflicts() {
            telemetry.problems.push(SetupProblem::new(
                "metric catalog",
                format!("has a conflict: {conflict}"),
                "both are exported as declared",
            ));
        }
        if !settings.enabled {
            return telemetry;
        }
        let mut parts = modules::register_all(
            modules,
            config,
            &settings,
            &telemetry.module_stop,
            &mut telemetry.problems,
        );
        let resource = resource(config, std::mem::take(&mut parts.resource));
        telemetry.module_propagators = ModulePropagators(std::mem::take(&mut parts.propagators));
        // the built-in exporters of each signal, unless a module replaces the defaults
        let metric_exporters = built_in(&settings, &parts, Signal::Metrics);
        let span_exporters = built_in(&settings, &parts, Signal::Traces);
        #[cfg(feature = "logs")]
        let log_exporters = built_in(&settings, &parts, Signal::Logs);

        if !metric_exporters.is_empty() || !parts.metric_readers.is_empty() {
            let mut builder = SdkMeterProvider::builder().with_resource(resource.clone());
            let views = views::Views::check(
                config.views(),
                &crate::catalog(),
                settings.cardinality_limit,
                &mut telemetry.problems,
            );
            if !views.is_empty() {
                builder =
                    builder.with_view(move |instrument: &Instrument| views.stream(instrument));
            }
            let mut readers = 0;
            for exporter in metric_exporters {
                match telemetry.metric_reader(builder, exporter, &settings) {
                    Ok(with_reader) => {
                        builder = with_reader;
                        readers += 1;
                    }
                    Err((without, problem)) => {
                        builder = without;
                        telemetry.problems.push(problem);
                    }
                }
            }
            // after the built-in readers: the provider stops its readers one after another, and
            // waiting for a module's reader must not delay the built-in ones
            for reader in parts.metric_readers.drain(..) {
                builder = builder.with_reader(reader);
                readers += 1;
            }
            if readers > 0 {
                telemetry.meter_provider = Some(builder.build());
            }
        }

        // Traces: the exporters asked for. With none (or none usable), a provider without
        // exporters still gives every span real ids, so log lines inside spans carry their
        // own trace_id and span_id; local roots are not sampled, so spans cost little.
        let mut builder = SdkTracerProvider::builder().with_resource(resource.clone());
        let mut processors = 0;
        let edits: std::sync::Arc<[modules::SpanEdit]> =
            std::mem::take(&mut parts.span_edits).into();
        for exporter in span_exporters {
            let processor = match exporter {
                Exporter::Otlp(otlp) => telemetry
                    .otlp_span_exporter(otlp)
                    .map(|exporter| batch(exporter, settings.batch, &edits)),
                Exporter::Stdout => Ok(batch(
                    console::ConsoleSpanExporter::default(),
                    settings.batch,
                    &edits,
                )),
                Exporter::Prometheus { .. } => continue,
            };
            match processor {
                Ok(processor) => {
                    builder = builder.with_span_processor(processor);
                    processors += 1;
                }
                Err(problem) => telemetry.problems.push(problem),
            }
        }
        // after the built-in processors: the provider stops its processors one after
        // another, and waiting for a module's processor must not delay the built-in ones
        for processor in parts.span_processors.drain(..) {
            builder =
                builder.with_span_processor(UniqueAttributes::with_edits(processor, edits.clone()));
            processors += 1;
        }
        let sampler: Box<dyn opentelemetry_sdk::trace::ShouldSample> = if processors == 0 {
            telemetry.known_sampler = Some(KnownSampler::PARENT_BASED_ALWAYS_OFF);
            Box::new(opentelemetry_sdk::trace::Sampler::ParentBased(Box::new(
                opentelemetry_sdk::trace::Sampler::AlwaysOff,
            )))
        } else {
            // the operator's sampler, else a module's, else the default
            match parts.sampler.take() {
                Some(sampler) if settings.sampler.is_none() => sampler,
                _ => {
                    let sampler = settings.sampler.unwrap_or(Sampler::ParentBasedAlwaysOn);
                    telemetry.known_sampler = known_sampler(sampler);
                    Box::new(sdk_sampler(sampler))
                }
            }
        };
        // ids the spans the sampler drops are made with too: a root the sampler keeps on a
        // trace id drawn before the SDK starts it gets that trace id (`unsampled::Ids`)
        builder = builder
            .with_sampler(sampler)
            .with_id_generator(crate::tracing::unsampled::Ids);
        telemetry.tracer_provider = Some(builder.build());

        #[cfg(feature = "logs")]
        telemetry.build_logs(
            &settings,
            log_exporters,
            std::mem::take(&mut parts.log_processors),
            resource,
        );
        telemetry
    }

    /// Makes what was built global.
    fn install(&mut self, config: &Config) {
        crate::global::set_plugin_versions(crate::catalog::plugin_versions);
        crate::global::set_config(config.clone());
        if let Some(provider) = &self.meter_provider {
            crate::global::set_meter_provider(provider.clone());
            // every observable declared with `metric!`, without a `register_observables()`
            crate::catalog::register_observables();
        }
        if let Some(provider) = &self.tracer_provider {
            // remembered for the generation the install makes, before any tracer binds to it
            let generation = crate::global::tracer_generation() + 1;
            crate::tracing::unsampled::remember(generation, self.known_sampler);
            crate::global::set_tracer_provider(provider.clone());
            self.tracer_generation = Some(generation);
        }
        // every outcome of every span site with span metrics, at 0 from now
        crate::catalog::bind_span_metrics();
        if !self.propagators.is_empty() || !self.module_propagators.0.is_empty() {
            let module_propagators = std::mem::take(&mut self.module_propagators.0);
            let propagators = self
                .propagators
                .iter()
                .map(|p| -> Box<dyn TextMapPropagator + Send + Sync> {
                    match p {
                        Propagator::TraceContext => {
                            Box::new(opentelemetry_sdk::propagation::TraceContextPropagator::new())
                        }
                        Propagator::Baggage => {
                            Box::new(opentelemetry_sdk::propagation::BaggagePropagator::new())
                        }
                    }
                })
                .chain(module_propagators)
                .collect();
            opentelemetry::global::set_text_map_propagator(TextMapCompositePropagator::new(
                propagators,
            ));
        }
    }

    /// What could not be used as given, each with what was done instead. Empty when every
    /// setting was fine.
    pub fn problems(&self) -> &[SetupProblem] {
        &self.problems
    }

    /// Where `/metrics` is served, if the Prometheus exporter is on.
    pub fn metrics_endpoint(&self) -> Option<SocketAddr> {
        #[cfg(feature = "prometheus")]
        if let Some(server) = &self.prometheus {
            return Some(server.address());
        }
        None
    }

    /// Exports what is pending (spans ended so far, a last collection of metrics) and
    /// stops, all parts at once, within the shutdown deadline (default 5 s). Errors say
    /// which part failed or was still busy at the deadline; everything is stopped either way.
    pub fn shutdown(mut self) -> Result<(), ShutdownError> {
        self.stop()
    }

    fn stop(&mut self) -> Result<(), ShutdownError> {
        let deadline = Instant::now() + self.shutdown_timeout;
        let timeout = self.shutdown_timeout;
        // retries under way stop pausing in time for a last attempt
        self.stopping.stop_at(Instant::now() + timeout * 3 / 4);
        // modules' parts give up a little before the deadline, so that a hanging one is
        // named as such and its signal's built-in parts report on their own
        self.module_stop.begin(Instant::now() + timeout * 9 / 10);
        let stopping = &self.stopping;
        let (done, finished) = mpsc::channel::<(&'static str, Result<(), String>)>();
        let mut parts: Vec<(&'static str, StopPart)> = Vec::new();
        // spans from now are the SDK's own, which knows its provider is shut down
        if let Some(generation) = self.tracer_generation.take()
            && crate::tracing::unsampled::forget(generation)
        {
            crate::global::rebind_tracers();
        }
        if let Some(provider) = self.tracer_provider.take() {
            parts.push(provider_part(Signal::Traces, stopping, move || {
                provider.shutdown_with_timeout(timeout)
            }));
        }
        if let Some(provider) = self.meter_provider.take() {
            parts.push(provider_part(Signal::Metrics, stopping, move || {
                provider.shutdown_with_timeout(timeout)
            }));
        }
        #[cfg(feature = "logs")]
        if let Some(provider) = self.logger_provider.take() {
            parts.push(provider_part(Signal::Logs, stopping, move || {
                provider.shutdown_with_timeout(timeout)
            }));
        }
        #[cfg(feature = "prometheus")]
        if let Some(mut server) = self.prometheus.take() {
            parts.push((
                "/metrics server",
                Box::new(move || {
                    server.stop(timeout);
                    Ok(())
                }),
            ));
        }
        let mut waiting = Vec::new();
        for (name, part) in parts {
            let done = done.clone();
            let spawned = std::thread::Builder::new()
                .name("backstage-shutdown".to_owned())
                .spawn(move || {
                    let _ = done.send((name, part()));
                });
            // No thread to be had: the part is skipped rather than run past the deadline.
            if spawned.is_ok() {
                waiting.push(name);
            }
        }
        let mut failures = Vec::new();
        while !waiting.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            match finished.recv_timeout(left) {
                Ok((name, result)) => {
                    waiting.retain(|w| *w != name);
                    if let Err(error) = result {
                        failures.push(format!("{name}: {error}"));
                    }
                }
                Err(_) => {
                    for name in waiting.drain(..) {
                        failures.push(format!(
                            "{name}: not finished within {} ms (left running in the background)",
                            timeout.as_millis()
                        ));
                    }
                }
            }
        }
        #[cfg(feature = "otlp")]
        if let Some(runtime) = self.runtime.take() {
            // Never blocks, even when dropped inside an async context.
            runtime.shutdown_background();
        }
        failures.extend(self.module_stop.take_failures());
        if failures.is_empty() {
            Ok(())
        } else {
            Err(ShutdownError { failures })
        }
    }

    /// Adds the reader of one metrics exporter, or gives the builder back with the problem.
    #[allow(clippy::result_large_err)]
    fn metric_reader(
        &mut self,
        builder: MeterProviderBuilder,
        exporter: &Exporter,
        settings: &Settings,
    ) -> Result<MeterProviderBuilder, (MeterProviderBuilder, SetupProblem)> {
        match exporter {
            Exporter::Prometheus { host, port } => self.prometheus(builder, host, *port),
            Exporter::Otlp(otlp) => match self.otlp_metric_exporter(otlp) {
                Ok(exporter) => Ok(builder.with_reader(periodic(exporter, settings))),
                Err(problem) => Err((builder, problem)),
            },
            Exporter::Stdout => Ok(builder.with_reader(periodic(
                console::ConsoleMetricExporter::default(),
                settings,
            ))),
        }
    }

    #[cfg(feature = "prometheus")]
    #[allow(clippy::result_large_err)]
    fn prometheus(
        &mut self,
        builder: MeterProviderBuilder,
        host: &str,
        port: u16,
    ) -> Result<MeterProviderBuilder, (MeterProviderBuilder, SetupProblem)> {
        let registry = ::prometheus::Registry::new();
        let exporter = match opentelemetry_prometheus::exporter()
            .with_registry(registry.clone())
            .build()
        {
            Ok(exporter) => exporter,
            Err(_) => {
                return Err((
                    builder,
                    SetupProblem::new(
                        "the Prometheus exporter",
                        "could not be built",
                        "metrics for Prometheus are off",
                    ),
                ));
            }
        };
        match prometheus::PrometheusServer::serve(host, port, registry) {
            Ok(server) => {
                self.prometheus = Some(server);
                Ok(builder.with_reader(exporter))
            }
            Err(problem) => Err((builder, problem)),
        }
    }

    #[cfg(not(feature = "prometheus"))]
    #[allow(clippy::result_large_err)]
    fn prometheus(
        &mut self,
        builder: MeterProviderBuilder,
        _: &str,
        _: u16,
    ) -> Result<MeterProviderBuilder, (MeterProviderBuilder, SetupProblem)> {
        Err((
            builder,
            not_built("prometheus", "metrics for Prometheus are off"),
        ))
    }

    #[cfg(not(feature = "otlp"))]
    fn otlp_metric_exporter(
        &mut self,
        _: &settings::Otlp,
    ) -> Result<console::ConsoleMetricExporter, SetupProblem> {
        Err(not_built("otlp", "metric export over OTLP is off"))
    }

    #[cfg(not(feature = "otlp"))]
    fn otlp_span_exporter(
        &mut self,
        _: &settings::Otlp,
    ) -> Result<console::ConsoleSpanExporter, SetupProblem> {
        Err(not_built("otlp", "trace export over OTLP is off"))
    }
}

/// One part of the shutdown, run on a thread of its own.
type StopPart = Box<dyn FnOnce() -> Result<(), String> + Send>;

/// The shutdown of `signal`'s provider as a part, with a failure said in words. A provider
/// reports at most that its exporter failed (the batch processors not even that), so the
/// part fails whenever the signal's last export did, with the exporter's explanation.
fn provider_part(
    signal: Signal,
    stopping: &std::sync::Arc<retry::Stopping>,
    shutdown: impl FnOnce() -> opentelemetry_sdk::error::OTelSdkResult + Send + 'static,
) -> (&'static str, StopPart) {
    use opentelemetry_sdk::error::OTelSdkError;
    let stopping = stopping.clone();
    let part = move || {
        let result = shutdown();
        let last_export = stopping
            .last_failure(signal)
            .map(|why| format!("the last export failed: {why}"));
        match (result, last_export) {
            (Err(OTelSdkError::AlreadyShutdown), _) => Err("was shut down already".to_owned()),
            (Err(OTelSdkError::Timeout(_)), _) => {
                Err("what was pending could not be exported within the deadline".to_owned())
            }
            (_, Some(failed)) => Err(failed),
            (Err(OTelSdkError::InternalFailure(_)), None) => {
                Err("what was pending could not be exported".to_owned())
            }
            (Ok(()), None) => Ok(()),
        }
    };
    (signal.key(), Box::new(part))
}

/// The built-in exporters of `signal`: the settings', unless a module replaces the defaults
/// and the operator named none.
fn built_in<'s>(settings: &'s Settings, parts: &modules::Parts, signal: Signal) -> &'s [Exporter] {
    let exporters = match signal {
        Signal::Traces => &settings.traces,
        Signal::Metrics => &settings.metrics,
        Signal::Logs => &settings.logs,
    };
    if parts.replaces(signal) && settings.defaulted.contains(&signal) {
        &[]
    } else {
        exporters
    }
}

/// The decisions of [`sdk_sampler`]`(sampler)`, known without the SDK; none for
/// `always_on`, which drops no span (asking it would only cost the spans it keeps).
fn known_sampler(sampler: Sampler) -> Option<KnownSampler> {
    Some(match sampler {
        Sampler::AlwaysOn => return None,
        Sampler::AlwaysOff => KnownSampler::ALWAYS_OFF,
        Sampler::TraceIdRatio(ratio) => KnownSampler::trace_id_ratio(ratio),
        Sampler::ParentBasedAlwaysOn => KnownSampler::PARENT_BASED_ALWAYS_ON,
        Sampler::ParentBasedAlwaysOff => KnownSampler::PARENT_BASED_ALWAYS_OFF,
        Sampler::ParentBasedTraceIdRatio(ratio) => KnownSampler::parent_based_trace_id_ratio(ratio),
    })
}

/// The SDK's sampler for one the settings name.
fn sdk_sampler(sampler: Sampler) -> opentelemetry_sdk::trace::Sampler {
    use opentelemetry_sdk::trace::Sampler as Sdk;
    match sampler {
        Sampler::AlwaysOn => Sdk::AlwaysOn,
        Sampler::AlwaysOff => Sdk::AlwaysOff,
        Sampler::TraceIdRatio(ratio) => Sdk::TraceIdRatioBased(ratio),
        Sampler::ParentBasedAlwaysOn => Sdk::ParentBased(Box::new(Sdk::AlwaysOn)),
        Sampler::ParentBasedAlwaysOff => Sdk::ParentBased(Box::new(Sdk::AlwaysOff)),
        Sampler::ParentBasedTraceIdRatio(ratio) => {
            Sdk::ParentBased(Box::new(Sdk::TraceIdRatioBased(ratio)))
        }
    }
}

/// An exporter asked for whose cargo feature is off.
#[allow(dead_code)] // used only when some feature is off
fn not_built(feature: &'static str, effect: &'static str) -> SetupProblem {
    SetupProblem::new(
        format!("the `{feature}` exporter"),
        format!("is not built in (enable the `{feature}` feature of backstage-telemetry)"),
        effect,
    )
}

/// A batch processor with the checked queue settings, deduplicating attributes and
/// applying the modules' `edits`.
fn batch<E: SpanExporter + 'static>(
    exporter: E,
    settings: Batch,
    edits: &std::sync::Arc<[modules::SpanEdit]>,
) -> UniqueAttributes<BatchSpanProcessor> {
    UniqueAttributes::with_edits(batch_processor(exporter, settings), edits.clone())
}

/// A batch processor with the checked queue settings.
fn batch_processor<E: SpanExporter + 'static>(exporter: E, settings: Batch) -> BatchSpanProcessor {
    let config = BatchConfigBuilder::default()
        .with_max_queue_size(settings.max_queue_size)
        .with_max_export_batch_size(settings.max_export_batch_size)
        .with_scheduled_delay(settings.scheduled_delay)
        .build();
    BatchSpanProcessor::builder(exporter)
        .with_batch_config(config)
        .build()
}

/// A periodic reader with the checked interval and timeout.
fn periodic<E>(exporter: E, settings: &Settings) -> PeriodicReader<E>
where
    E: opentelemetry_sdk::metrics::exporter::PushMetricExporter,
{
    PeriodicReader::builder(exporter)
        .with_interval(settings.metric_interval)
        .build()
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        // Best effort: there is no one to tell. Bounded by the same deadline.
        let _ = self.stop();
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
