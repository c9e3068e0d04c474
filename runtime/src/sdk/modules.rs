//! Telemetry modules: the parts an application or a module crate adds to `init`
//! ([`TelemetryModule`], documented there), and how they are kept from harming the rest.

use std::any::Any;
use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Condvar, Mutex, Weak, mpsc};
use std::time::{Duration, Instant};

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::metrics::reader::MetricReader;
use opentelemetry_sdk::metrics::{InstrumentKind, Pipeline, Temporality};
use opentelemetry_sdk::trace::{ShouldSample, Span, SpanData, SpanExporter, SpanProcessor};

use super::problem::SetupProblem;
use super::settings::{Settings, Signal};
use crate::config::Config;

/// Why a module could not register; its message is shown in the [`SetupProblem`], so it
/// should say what is wrong without quoting secrets.
pub type ModuleError = Box<dyn std::error::Error + Send + Sync>;

/// A telemetry module: what an application or a module crate adds to [`init`](super::init)
/// (a vendor's exporter, a redacting edit, a second metric reader, resource attributes, a
/// propagator, a sampler) without giving up what `init` does: zero-config defaults,
/// problems instead of failures, one shutdown deadline, the catalog checks.
///
/// A module implements this trait (or is a closure made one with [`module`]); the
/// application adds it with [`Telemetry::builder`](super::Telemetry::builder). In
/// [`register`](TelemetryModule::register) it adds parts through [`Extensions`]: span
/// exporters and processors, edits applied to every span before any exporter sees it,
/// metric exporters and readers, log exporters and processors, resource attributes,
/// propagators and a sampler.
///
/// ```
/// use backstage_telemetry::sdk::{Extensions, ModuleError, TelemetryModule};
/// use backstage_telemetry::{Config, KeyValue, Telemetry};
///
/// /// Adds the deployment's region to the resource and drops `user.email` from every span.
/// struct Deployment;
///
/// impl TelemetryModule for Deployment {
///     fn name(&self) -> &str {
///         "deployment"
///     }
///
///     fn register(&self, parts: &mut Extensions<'_>) -> Result<(), ModuleError> {
///         let region: Option<String> = parts.config().get_optional("deployment.region")?;
///         parts.add_resource_attribute(KeyValue::new("cloud.region", region.unwrap_or_default()));
///         parts.edit_spans(|span| span.attributes.retain(|kv| kv.key.as_str() != "user.email"));
///         Ok(())
///     }
/// }
///
/// let config = Config::from_yaml_str(
///     "app-config.yaml",
///     "deployment:\n  region: eu-west-1\nbackend:\n  telemetry:\n    metrics:\n      prometheus: { port: 0 }\n",
/// )?;
/// let telemetry = Telemetry::builder(&config).with_module(Deployment).init();
/// assert!(telemetry.problems().is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// **The same guarantees as the built-in parts.**
/// - A module whose `register` returns an error or panics is off as a whole (none of its
///   parts is used) and is a [`SetupProblem`] naming it; everything else runs, and
///   [`init_strict`](super::TelemetryBuilder::init_strict) refuses.
/// - Within the one shutdown deadline: when the shutdown begins, each of a module's
///   processors and readers starts stopping on a thread of its own, beside the built-in
///   ones, and has until nine tenths of the deadline. One that is not done by then is named
///   in the [`ShutdownError`](super::ShutdownError) and left running in the background;
///   the shutdown returns at its deadline all the same, and the built-in exporters have
///   flushed. A panic in a module's processor,
///   reader or span edit is caught: the span, record or collection it was handling is
///   dropped.
/// - The operator's settings win: a module's sampler is used only when neither
///   `OTEL_TRACES_SAMPLER` nor `backend.telemetry.traces.sampler` names one, its resource
///   attributes yield to `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_SERVICE_NAME` and the app-config,
///   and [`replace_default_exporters`](Extensions::replace_default_exporters) replaces only
///   exporters the operator did not choose.
/// - The built-in parts stay unless the module says otherwise: Prometheus on `/metrics`,
///   W3C trace-context and baggage, the spans' unique attributes and plugin ids (module span
///   processors get them too).
pub trait TelemetryModule: Send + Sync {
    /// Names the module in set-up problems and shutdown errors, such as `zipkin`.
    fn name(&self) -> &str;

    /// Adds the module's parts. An error, or a panic, turns this module off as a whole.
    fn register(&self, parts: &mut Extensions<'_>) -> Result<(), ModuleError>;
}

/// A module made of a name and a function, for what an application adds in a few lines.
///
/// ```
/// use backstage_telemetry::sdk::module;
/// use backstage_telemetry::{Config, Telemetry};
///
/// let redact = module("redact", |parts| {
///     parts.edit_spans(|span| span.attributes.retain(|kv| !kv.key.as_str().starts_with("secret.")));
///     Ok(())
/// });
/// # let config = Config::from_yaml_str("app-config.yaml", "backend:\n  telemetry:\n    metrics:\n      exporter: none\n")?;
/// let telemetry = Telemetry::builder(&config).with_module(redact).init();
/// # drop(telemetry);
/// # Ok::<(), backstage_telemetry::ConfigError>(())
/// ```
pub fn module<F>(name: impl Into<String>, register: F) -> FnModule<F>
where
    F: Fn(&mut Extensions<'_>) -> Result<(), ModuleError> + Send + Sync,
{
    FnModule {
        name: name.into(),
        register,
    }
}

/// The module [`module`] makes.
pub struct FnModule<F> {
    name: String,
    register: F,
}

impl<F> fmt::Debug for FnModule<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FnModule")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl<F> TelemetryModule for FnModule<F>
where
    F: Fn(&mut Extensions<'_>) -> Result<(), ModuleError> + Send + Sync,
{
    fn name(&self) -> &str {
        &self.name
    }

    fn register(&self, parts: &mut Extensions<'_>) -> Result<(), ModuleError> {
        (self.register)(parts)
    }
}

/// An edit made to every span before any exporter sees it.
pub(super) type SpanEdit = Arc<dyn Fn(&mut SpanData) + Send + Sync>;

/// What one module adds, kept apart until its `register` has returned `Ok`.
#[derive(Default)]
pub(super) struct Parts {
    pub span_processors: Vec<Contained<dyn SpanProcessor>>,
    pub span_edits: Vec<SpanEdit>,
    pub metric_readers: Vec<Contained<dyn MetricReader>>,
    #[cfg(feature = "logs")]
    pub log_processors: Vec<Contained<dyn opentelemetry_sdk::logs::LogProcessor>>,
    pub resource: Vec<KeyValue>,
    pub propagators: Vec<Box<dyn TextMapPropagator + Send + Sync>>,
    pub sampler: Option<Box<dyn ShouldSample>>,
    /// The signals whose default exporters this module's exporters replace.
    pub replacing: Vec<Signal>,
}

impl Parts {
    /// Adds what `other` (a later module) registered.
    fn extend(&mut self, other: Parts) {
        let other_spans = !other.span_processors.is_empty();
        let other_metrics = !other.metric_readers.is_empty();
        #[cfg(feature = "logs")]
        let other_logs = !other.log_processors.is_empty();
        #[cfg(not(feature = "logs"))]
        let other_logs = false;
        self.span_processors.extend(other.span_processors);
        self.span_edits.extend(other.span_edits);
        self.metric_readers.extend(other.metric_readers);
        #[cfg(feature = "logs")]
        self.log_processors.extend(other.log_processors);
        self.resource.extend(other.resource);
        self.propagators.extend(other.propagators);
        if other.sampler.is_some() {
            self.sampler = other.sampler;
        }
        // a module replaces the defaults of the signals it exports itself
        for signal in other.replacing {
            let exports = match signal {
                Signal::Traces => other_spans,
                Signal::Metrics => other_metrics,
                Signal::Logs => other_logs,
            };
            if exports && !self.replacing.contains(&signal) {
                self.replacing.push(signal);
            }
        }
    }

    /// Whether the module's own exporters replace `signal`'s default ones.
    pub(super) fn replaces(&self, signal: Signal) -> bool {
        self.replacing.contains(&signal)
    }
}

/// Where a module adds its parts, given to [`TelemetryModule::register`]. Exporters are
/// wrapped as the built-in ones are (the span and log queues, the metric export interval,
/// retries aside: those are the exporter's own).
pub struct Extensions<'a> {
    config: &'a Config,
    settings: &'a Settings,
    name: Arc<str>,
    stop: &'a Arc<ModuleStop>,
    parts: Parts,
}

impl fmt::Debug for Extensions<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Extensions")
            .field("module", &self.name)
            .finish_non_exhaustive()
    }
}

impl Extensions<'_> {
    /// The app-config, for the module's own settings
    /// ([`Config::get`](crate::Config::get)).
    pub fn config(&self) -> &Config {
        self.config
    }

    /// Exports spans with `exporter`, through a batch processor with the span queue's
    /// settings (`OTEL_BSP_*`).
    pub fn add_span_exporter<E: SpanExporter + 'static>(&mut self, exporter: E) {
        let processor = super::batch_processor(exporter, self.settings.batch);
        self.add_span_processor(processor);
    }

    /// Adds a span processor beside the built-in ones. It receives the spans with each
    /// attribute key once, the plugin id of the span they started in, and every
    /// [`edit_spans`](Self::edit_spans) edit made.
    pub fn add_span_processor<P: SpanProcessor + 'static>(&mut self, processor: P) {
        let processor: Arc<dyn SpanProcessor> = Arc::new(processor);
        self.parts
            .span_processors
            .push(self.contained(processor, Signal::Traces, |p, limit| {
                p.shutdown_with_timeout(limit)
            }));
    }

    /// Edits every span before any exporter sees it, the built-in ones included: to redact
    /// or drop an attribute, rename a span, and the like. Edits run in the order added,
    /// once per exporter; an edit that panics drops the span rather than export it unedited.
    pub fn edit_spans(&mut self, edit: impl Fn(&mut SpanData) + Send + Sync + 'static) {
        self.parts.span_edits.push(Arc::new(edit));
    }

    /// Exports metrics with `exporter`, at the export interval (`OTEL_METRIC_EXPORT_INTERVAL`).
    pub fn add_metric_exporter<E: PushMetricExporter>(&mut self, exporter: E) {
        let reader = super::periodic(exporter, self.settings);
        self.add_metric_reader(reader);
    }

    /// Adds a metric reader beside the built-in ones (the views of `backend.metrics.views`
    /// apply to it too).
    pub fn add_metric_reader<R: MetricReader>(&mut self, reader: R) {
        let reader: Arc<dyn MetricReader> = Arc::new(reader);
        self.parts
            .metric_readers
            .push(self.contained(reader, Signal::Metrics, |r, limit| {
                r.shutdown_with_timeout(limit)
            }));
    }

    /// Exports log records with `exporter`, through a batch processor with the log queue's
    /// settings (`OTEL_BLRP_*`); the records carry the plugin id as the built-in ones do.
    #[cfg(feature = "logs")]
    #[cfg_attr(docsrs, doc(cfg(feature = "logs")))]
    pub fn add_log_exporter<E: opentelemetry_sdk::logs::LogExporter + 'static>(
        &mut self,
        exporter: E,
    ) {
        let processor = super::logs::batch_processor(exporter, self.settings.log_batch);
        self.add_log_processor(processor);
    }

    /// Adds a log processor beside the built-in ones. Its records carry the plugin id as
    /// the built-in ones do.
    #[cfg(feature = "logs")]
    #[cfg_attr(docsrs, doc(cfg(feature = "logs")))]
    pub fn add_log_processor<P: opentelemetry_sdk::logs::LogProcessor + 'static>(
        &mut self,
        processor: P,
    ) {
        let processor: Arc<dyn opentelemetry_sdk::logs::LogProcessor> = Arc::new(processor);
        self.parts
            .log_processors
            .push(self.contained(processor, Signal::Logs, |p, limit| {
                p.shutdown_with_timeout(limit)
            }));
    }

    /// Adds a resource attribute. `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_SERVICE_NAME` and the
    /// app-config's service name and version win over it.
    pub fn add_resource_attribute(&mut self, attribute: KeyValue) {
        self.parts.resource.push(attribute);
    }

    /// Adds a propagator after the configured ones (`OTEL_PROPAGATORS`; W3C trace-context
    /// and baggage by default).
    pub fn add_propagator(&mut self, propagator: impl TextMapPropagator + Send + Sync + 'static) {
        self.parts.propagators.push(Box::new(propagator));
    }

    /// Samples spans with `sampler` when the operator names none (`OTEL_TRACES_SAMPLER`,
    /// `backend.telemetry.traces.sampler`); of several modules, the last one added wins.
    pub fn set_sampler(&mut self, sampler: impl ShouldSample + 'static) {
        self.parts.sampler = Some(Box::new(sampler));
    }

    /// For each signal this module adds an exporter, processor or reader to, the default
    /// exporter is not started, unless the operator named the exporters
    /// (`OTEL_METRICS_EXPORTER`, `backend.telemetry.metrics.exporter`, …). Without it, a
    /// module's metric exporter runs beside the default Prometheus endpoint.
    pub fn replace_default_exporters(&mut self) {
        self.parts.replacing = vec![Signal::Traces, Signal::Metrics, Signal::Logs];
    }

    fn contained<T: ?Sized + Send + Sync + 'static>(
        &self,
        inner: Arc<T>,
        signal: Signal,
        shutdown: fn(&T, Duration) -> OTelSdkResult,
    ) -> Contained<T> {
        Contained::new(
            inner,
            self.name.clone(),
            signal,
            self.stop.clone(),
            shutdown,
        )
    }
}

/// Registers every module, each apart: a module that fails or panics adds nothing but its
/// problem. Returns the parts of those that registered.
pub(super) fn register_all(
    modules: &[Box<dyn TelemetryModule>],
    config: &Config,
    settings: &Settings,
    stop: &Arc<ModuleStop>,
    problems: &mut Vec<SetupProblem>,
) -> Parts {
    let mut all = Parts::default();
    for module in modules {
        let name: Arc<str> = catch_unwind(AssertUnwindSafe(|| module.name().to_owned()))
            .unwrap_or_else(|_| "(unnamed)".to_owned())
            .into();
        let mut extensions = Extensions {
            config,
            settings,
            name: name.clone(),
            stop,
            parts: Parts::default(),
        };
        let outcome = catch_unwind(AssertUnwindSafe(|| module.register(&mut extensions)));
        let failure = match outcome {
            Ok(Ok(())) => None,
            Ok(Err(error)) => Some(format!("could not register: {error}")),
            Err(panic) => Some(format!(
                "panicked while registering{}",
                panic_message(&panic)
            )),
        };
        let Extensions { parts, .. } = extensions;
        if let Some(problem) = failure {
            problems.push(SetupProblem::new(
                format!("telemetry module `{name}`"),
                problem,
                "none of its parts is used",
            ));
            // what it built before failing stops
            parts.stop_in_background(settings.shutdown_timeout);
            continue;
        }
        stop.adopt(&parts);
        all.extend(parts);
    }
    all
}

impl Parts {
    /// Shuts down, in the background, the processors and readers of a module that failed
    /// to register: `init` does not wait for them.
    fn stop_in_background(self, timeout: Duration) {
        let Parts {
            span_processors,
            metric_readers,
            #[cfg(feature = "logs")]
            log_processors,
            ..
        } = self;
        let _ = std::thread::Builder::new()
            .name("backstage-module-stop".to_owned())
            .spawn(move || {
                for processor in span_processors {
                    let _ = processor.inner.shutdown_with_timeout(timeout);
                }
                for reader in metric_readers {
                    let _ = reader.inner.shutdown_with_timeout(timeout);
                }
                #[cfg(feature = "logs")]
                for processor in log_processors {
                    let _ = processor.inner.shutdown_with_timeout(timeout);
                }
            });
    }
}

/// The panic's message, if it is text, after `: `.
fn panic_message(panic: &Box<dyn Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .map_or_else(String::new, |message| format!(": {message}"))
}

/// The modules' side of the shutdown: every part of a registered module, shut down all at
/// once when the shutdown begins, and what did not stop by the deadline.
#[derive(Debug)]
pub(super) struct ModuleStop {
    /// The shutdown timeout, also the bound of a flush.
    timeout: Duration,
    deadline: Mutex<Option<Instant>>,
    parts: Mutex<Vec<Arc<Stopper>>>,
    failures: Mutex<Vec<String>>,
}

impl ModuleStop {
    pub(super) fn new(timeout: Duration) -> ModuleStop {
        ModuleStop {
            timeout,
            deadline: Mutex::new(None),
            parts: Mutex::new(Vec::new()),
            failures: Mutex::new(Vec::new()),
        }
    }

    /// Shutdown has begun: every module part starts stopping now, each on a thread of its
    /// own (one that hangs cannot hold up the others), and must be done by `deadline`.
    pub(super) fn begin(&self, deadline: Instant) {
        *crate::sync::lock(&self.deadline) = Some(deadline);
        for part in crate::sync::lock(&self.parts).iter() {
            part.spawn(deadline.saturating_duration_since(Instant::now()));
        }
    }

    /// What failed to flush or stop, by module and signal.
    pub(super) fn take_failures(&self) -> Vec<String> {
        std::mem::take(&mut *crate::sync::lock(&self.failures))
    }

    /// Takes over the shutdown of a registered module's parts.
    fn adopt(&self, parts: &Parts) {
        let mut all = crate::sync::lock(&self.parts);
        all.extend(parts.span_processors.iter().map(|p| p.stopper.clone()));
        all.extend(parts.metric_readers.iter().map(|r| r.stopper.clone()));
        #[cfg(feature = "logs")]
        all.extend(parts.log_processors.iter().map(|p| p.stopper.clone()));
    }

    /// The shutdown's deadline once it has begun.
    fn deadline(&self) -> Option<Instant> {
        *crate::sync::lock(&self.deadline)
    }

    fn fail(&self, module: &str, signal: Signal, failure: String) {
        crate::sync::lock(&self.failures).push(format!(
            "telemetry module `{module}` ({}): {failure}",
            signal.key()
        ));
    }
}

/// The shutdown of one module part, and how it ended once it has.
struct Stopper {
    /// The part's shutdown, until it is started. It holds a reference to the part, taken
    /// away while the provider sets the part's resource (which needs the only one).
    shutdown: Mutex<Option<StopPart>>,
    /// `Err` with the reason when it failed.
    result: Mutex<Option<Result<(), String>>>,
    finished: Condvar,
}

impl fmt::Debug for Stopper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stopper").finish_non_exhaustive()
    }
}

/// A module part's shutdown, given the time it has.
type StopPart = Box<dyn FnOnce(Duration) -> OTelSdkResult + Send>;

impl Stopper {
    /// Runs the part's shutdown on a thread of its own, with `limit`; a second call does
    /// nothing.
    fn spawn(self: &Arc<Self>, limit: Duration) {
        let Some(shutdown) = crate::sync::lock(&self.shutdown).take() else {
            return;
        };
        let stopper = self.clone();
        let spawned = std::thread::Builder::new()
            .name("backstage-module-stop".to_owned())
            .spawn(move || {
                let result =
                    catch_unwind(AssertUnwindSafe(|| shutdown(limit))).unwrap_or_else(|_| {
                        Err(OTelSdkError::InternalFailure("it panicked".to_owned()))
                    });
                stopper.finish(result);
            });
        if spawned.is_err() {
            self.finish(Err(OTelSdkError::InternalFailure(
                "no thread to stop it on".to_owned(),
            )));
        }
    }

    fn finish(&self, result: OTelSdkResult) {
        let result = match result {
            Ok(()) | Err(OTelSdkError::AlreadyShutdown) => Ok(()),
            Err(error) => Err(error.to_string()),
        };
        *crate::sync::lock(&self.result) = Some(result);
        self.finished.notify_all();
    }

    /// How the shutdown ended, waiting for it until `deadline`: `None` if it has not.
    fn wait(&self, deadline: Instant) -> Option<Result<(), String>> {
        let mut result = crate::sync::lock(&self.result);
        loop {
            if let Some(done) = result.as_ref() {
                return Some(done.clone());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            result = match self.finished.wait_timeout(result, left) {
                Ok((result, _)) => result,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }
}

/// Runs `work` on a thread of its own and waits at most `limit` for it: `None` when it did
/// not finish in time (it is left running) or no thread could be had.
fn bounded<T: Send + 'static>(
    limit: Duration,
    work: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let (done, finished) = mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name("backstage-module-flush".to_owned())
        .spawn(move || {
            let _ = done.send(catch_unwind(AssertUnwindSafe(work)));
        })
        .ok()?;
    finished.recv_timeout(limit).ok()?.ok()
}

/// A module's processor or reader, kept from harming the rest: panics caught, flush and
/// shutdown bounded by the shutdown deadline and reported under the module's name.
pub(super) struct Contained<T: ?Sized> {
    inner: Arc<T>,
    module: Arc<str>,
    signal: Signal,
    stop: Arc<ModuleStop>,
    stopper: Arc<Stopper>,
    /// How the part is shut down (its trait's `shutdown_with_timeout`).
    shutdown: fn(&T, Duration) -> OTelSdkResult,
}

impl<T: ?Sized> fmt::Debug for Contained<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Contained")
            .field("module", &self.module)
            .field("signal", &self.signal)
            .finish_non_exhaustive()
    }
}

impl<T: ?Sized + Send + Sync + 'static> Contained<T> {
    fn new(
        inner: Arc<T>,
        module: Arc<str>,
        signal: Signal,
        stop: Arc<ModuleStop>,
        shutdown: fn(&T, Duration) -> OTelSdkResult,
    ) -> Contained<T> {
        let contained = Contained {
            inner,
            module,
            signal,
            stop,
            stopper: Arc::new(Stopper {
                shutdown: Mutex::new(None),
                result: Mutex::new(None),
                finished: Condvar::new(),
            }),
            shutdown,
        };
        contained.arm();
        contained
    }

    /// Gives the stopper the part's shutdown.
    fn arm(&self) {
        let part = self.inner.clone();
        let shutdown = self.shutdown;
        *crate::sync::lock(&self.stopper.shutdown) =
            Some(Box::new(move |limit| shutdown(&*part, limit)));
    }

    /// Runs `set` on the part, which the provider does once while it is built: the
    /// stopper's reference is taken away meanwhile, so that this one is the only one.
    fn with_only_reference(&mut self, set: impl FnOnce(&mut T)) {
        drop(crate::sync::lock(&self.stopper.shutdown).take());
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            set(inner);
        }
        self.arm();
    }

    /// A flush of the inner part within the shutdown timeout, noted under the module's
    /// name when it fails or does not finish. `Ok` either way: the failure is the
    /// module's, not the signal's.
    fn flush(&self, run: fn(&T) -> OTelSdkResult) -> OTelSdkResult {
        let limit = self.stop.timeout;
        let inner = self.inner.clone();
        match bounded(limit, move || run(&*inner)) {
            Some(Ok(())) => {}
            Some(Err(error)) => self.fail(format!("flush failed: {error}")),
            None => self.fail(format!(
                "flush did not finish within {} ms (left running in the background)",
                limit.as_millis()
            )),
        }
        Ok(())
    }

    /// The inner part's shutdown: begun with everything else's when the shutdown began
    /// (else now), waited for until the modules' deadline. `Ok` either way, as a flush.
    fn shutdown(&self) -> OTelSdkResult {
        let deadline = match self.stop.deadline() {
            Some(deadline) => deadline,
            // a provider shut down by other means than `Telemetry`'s shutdown
            None => {
                self.stopper.spawn(self.stop.timeout);
                Instant::now() + self.stop.timeout
            }
        };
        match self.stopper.wait(deadline) {
            Some(Ok(())) => {}
            Some(Err(error)) => self.fail(format!("shutdown failed: {error}")),
            None => self.fail(format!(
                "shutdown did not finish by the deadline ({} ms; left running in the background)",
                self.stop.timeout.as_millis()
            )),
        }
        Ok(())
    }

    fn fail(&self, failure: String) {
        self.stop.fail(&self.module, self.signal, failure);
    }
}

impl SpanProcessor for Contained<dyn SpanProcessor> {
    fn on_start(&self, span: &mut Span, cx: &Context) {
        let _ = catch_unwind(AssertUnwindSafe(|| self.inner.on_start(span, cx)));
    }

    fn on_end(&self, span: SpanData) {
        let _ = catch_unwind(AssertUnwindSafe(|| self.inner.on_end(span)));
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.flush(|p| p.force_flush())
    }

    fn shutdown_with_timeout(&self, _: Duration) -> OTelSdkResult {
        self.shutdown()
    }

    fn set_resource(&mut self, resource: &opentelemetry_sdk::Resource) {
        self.with_only_reference(|inner| inner.set_resource(resource));
    }
}

impl MetricReader for Contained<dyn MetricReader> {
    fn register_pipeline(&self, pipeline: Weak<Pipeline>) {
        self.inner.register_pipeline(pipeline);
    }

    fn collect(&self, rm: &mut ResourceMetrics) -> OTelSdkResult {
        catch_unwind(AssertUnwindSafe(|| self.inner.collect(rm))).unwrap_or_else(|_| {
            Err(OTelSdkError::InternalFailure(format!(
                "telemetry module `{}`: its reader panicked",
                self.module
            )))
        })
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.flush(|r| r.force_flush())
    }

    fn shutdown_with_timeout(&self, _: Duration) -> OTelSdkResult {
        self.shutdown()
    }

    fn temporality(&self, kind: InstrumentKind) -> Temporality {
        self.inner.temporality(kind)
    }
}

#[cfg(feature = "logs")]
impl opentelemetry_sdk::logs::LogProcessor
    for Contained<dyn opentelemetry_sdk::logs::LogProcessor>
{
    fn emit(
        &self,
        record: &mut opentelemetry_sdk::logs::SdkLogRecord,
        scope: &opentelemetry::InstrumentationScope,
    ) {
        let _ = catch_unwind(AssertUnwindSafe(|| self.inner.emit(record, scope)));
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.flush(|p| p.force_flush())
    }

    fn shutdown_with_timeout(&self, _: Duration) -> OTelSdkResult {
        self.shutdown()
    }

    fn event_enabled(
        &self,
        level: opentelemetry::logs::Severity,
        target: &str,
        name: Option<&str>,
    ) -> bool {
        catch_unwind(AssertUnwindSafe(|| {
            self.inner.event_enabled(level, target, name)
        }))
        .unwrap_or(false)
    }

    fn set_resource(&mut self, resource: &opentelemetry_sdk::Resource) {
        self.with_only_reference(|inner| inner.set_resource(resource));
    }
}
