//! The process-wide state every other module reads: the installed providers and their
//! generations, the installed configuration, the observable instruments to register with
//! each new meter provider, whether spans carry their scope in the context (for the logs),
//! and the interned instrumentation scope names.
//!
//! Every instrument and tracer resolves against the global providers when it is used and
//! caches what it resolved with the *generation* [`set_meter_provider`],
//! [`set_tracer_provider`] and [`set_config`] advance (the `binding` module); only after a
//! new one is installed does the next use bind again.
//!
//! Install providers through these functions (or [`crate::init`]-style set-up that calls
//! them). A provider installed with `opentelemetry::global::set_*_provider` directly is seen
//! by everything first used after it, but not by what was already bound.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::AtomicBool;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock, Weak};

use opentelemetry::metrics::MeterProvider;
use opentelemetry::trace::{Span, TracerProvider};

use crate::config::Config;
use crate::sync::{lock, read, write};

static METER_GENERATION: AtomicU64 = AtomicU64::new(0);
/// Whether a meter provider was installed through [`set_meter_provider`]: until then span
/// metrics are not even timed (there is nothing to record them). Tracers bind again when it
/// changes, since they decide whether a call is timed.
static METER_INSTALLED: AtomicBool = AtomicBool::new(false);
static TRACER_GENERATION: AtomicU64 = AtomicU64::new(0);

/// Observable instruments alive in the process: their callbacks are registered again with
/// every new meter provider. Held while a meter provider is installed so that a provider
/// and its generation are always seen together.
static OBSERVABLES: Mutex<Vec<Weak<dyn Register>>> = Mutex::new(Vec::new());

/// Something that registers itself with the current global meter provider.
pub(crate) trait Register: Send + Sync {
    fn register(&self);
}

/// Installs `provider` as the global meter provider. Every instrument of this crate, created
/// before or after, records through it from its next use on; observable instruments'
/// callbacks are registered with it.
///
/// ```
/// use opentelemetry_sdk::metrics::SdkMeterProvider;
///
/// backstage_telemetry::set_meter_provider(SdkMeterProvider::builder().build());
/// ```
pub fn set_meter_provider<P>(provider: P)
where
    P: MeterProvider + Send + Sync + 'static,
{
    let mut observables = lock(&OBSERVABLES);
    opentelemetry::global::set_meter_provider(provider);
    METER_INSTALLED.store(true, Ordering::Release);
    METER_GENERATION.fetch_add(1, Ordering::AcqRel);
    TRACER_GENERATION.fetch_add(1, Ordering::AcqRel);
    observables.retain(|weak| match weak.upgrade() {
        Some(observable) => {
            observable.register();
            true
        }
        None => false,
    });
}

/// Installs `provider` as the global tracer provider. Every tracer of this crate, created
/// before or after, starts its spans from it from its next use on.
///
/// ```
/// use opentelemetry_sdk::trace::SdkTracerProvider;
///
/// backstage_telemetry::set_tracer_provider(SdkTracerProvider::builder().build());
/// ```
pub fn set_tracer_provider<P, T, S>(provider: P)
where
    S: Span + Send + Sync + 'static,
    T: opentelemetry::trace::Tracer<Span = S> + Send + Sync + 'static,
    P: TracerProvider<Tracer = T> + Send + Sync + 'static,
{
    #[cfg(feature = "sdk")]
    {
        // The SDK's provider is kept typed as well: its tracers start spans without the
        // boxing of `global::BoxedTracer` (one allocation less per span).
        let sdk = (&provider as &dyn std::any::Any)
            .downcast_ref::<opentelemetry_sdk::trace::SdkTracerProvider>()
            .cloned();
        *write(&SDK_TRACER_PROVIDER) = sdk;
    }
    opentelemetry::global::set_tracer_provider(provider);
    TRACER_GENERATION.fetch_add(1, Ordering::AcqRel);
}

/// The global tracer provider when it is the SDK's, installed through [`set_tracer_provider`].
#[cfg(feature = "sdk")]
static SDK_TRACER_PROVIDER: RwLock<Option<opentelemetry_sdk::trace::SdkTracerProvider>> =
    RwLock::new(None);

/// The SDK tracer provider installed now, if the global one is the SDK's.
#[cfg(feature = "sdk")]
pub(crate) fn sdk_tracer_provider() -> Option<opentelemetry_sdk::trace::SdkTracerProvider> {
    read(&SDK_TRACER_PROVIDER).clone()
}

#[inline]
pub(crate) fn meter_generation() -> u64 {
    METER_GENERATION.load(Ordering::Acquire)
}

pub(crate) fn meter_installed() -> bool {
    METER_INSTALLED.load(Ordering::Acquire)
}

#[inline]
pub(crate) fn tracer_generation() -> u64 {
    TRACER_GENERATION.load(Ordering::Acquire)
}

/// Makes every tracer bind again on its next use, to the same provider (what it learned
/// of that provider when it bound has changed).
#[cfg(feature = "sdk")]
pub(crate) fn rebind_tracers() {
    TRACER_GENERATION.fetch_add(1, Ordering::AcqRel);
}

/// Registers an observable with the current provider now and with every later one.
pub(crate) fn register_observable(observable: Arc<dyn Register>) {
    let mut observables = lock(&OBSERVABLES);
    observable.register();
    observables.push(Arc::downgrade(&observable));
}

static INSTALLED: RwLock<Option<Arc<Config>>> = RwLock::new(None);

/// Makes `config` the configuration of the spans and metrics declared with the macros
/// (tracer and meter overrides, `capture.endUser`). Those already in use pick it up at
/// their next use. Services made with `from_config` keep the configuration they were given.
///
/// ```
/// let config = backstage_telemetry::Config::from_yaml_str(
///     "app-config.yaml",
///     "backend:\n  tracing:\n    capture:\n      endUser: true\n",
/// ).unwrap();
/// backstage_telemetry::set_config(config);
/// ```
pub fn set_config(config: Config) {
    *write(&INSTALLED) = Some(Arc::new(config));
    // everything binds again: scope names may differ
    METER_GENERATION.fetch_add(1, Ordering::AcqRel);
    TRACER_GENERATION.fetch_add(1, Ordering::AcqRel);
}

/// The configuration installed with [`set_config`], or the defaults.
pub(crate) fn installed_config() -> Arc<Config> {
    read(&INSTALLED).clone().unwrap_or_default()
}

/// The version of the crate that declares each plugin, a plugin scope's default
/// instrumentation-scope version (`otel_scope_version`): set by `init` and the test kit,
/// from the catalog, before they install providers.
static PLUGIN_VERSIONS: OnceLock<BTreeMap<&'static str, &'static str>> = OnceLock::new();

/// Sets [`plugin_version`]'s answers (once: they are the binary's declarations).
#[cfg(feature = "sdk")]
pub(crate) fn set_plugin_versions(versions: impl FnOnce() -> BTreeMap<&'static str, &'static str>) {
    PLUGIN_VERSIONS.get_or_init(versions);
}

/// The version of the crate that declares plugin `id`, once `init` has run.
pub(crate) fn plugin_version(id: &str) -> Option<&'static str> {
    PLUGIN_VERSIONS.get()?.get(id).copied()
}

/// Set once something reads the scope of the active span from the context (the logs, or
/// span processors for the spans started inside); until then spans do not carry it, which
/// saves an allocation per span.
pub(crate) static SCOPE_IN_CONTEXT: AtomicBool = AtomicBool::new(false);

/// Set once the logs read the scope of the active span from the context (a log line in a
/// span the sampler dropped has its plugin too). Span processors need it only in spans
/// that record: a span the sampler drops has no recorded descendant under the samplers
/// `init` configures.
#[cfg_attr(not(feature = "sdk"), allow(dead_code))]
pub(crate) static SCOPE_FOR_LOGS: AtomicBool = AtomicBool::new(false);

/// Spans carry their scope in their context from now on, for the logs.
#[cfg_attr(not(feature = "logs"), allow(dead_code))]
pub(crate) fn scope_for_logs() {
    SCOPE_IN_CONTEXT.store(true, Ordering::Relaxed);
    SCOPE_FOR_LOGS.store(true, Ordering::Relaxed);
}

/// Instrumentation scope names made `'static` (see [`intern`]).
static INTERNED: Mutex<BTreeSet<&'static str>> = Mutex::new(BTreeSet::new());

/// `text` as a `&'static str`, each distinct text leaked once. Instrumentation scopes are
/// cloned into every exported span; with static names that clone copies a pointer instead of
/// allocating (measured: ~160 instructions per span). Scope names are few (one per plugin
/// and configuration), so what is leaked stays small.
pub(crate) fn intern(text: &str) -> &'static str {
    let mut interned = lock(&INTERNED);
    match interned.get(text) {
        Some(existing) => existing,
        None => {
            let leaked: &'static str = Box::leak(text.to_owned().into_boxed_str());
            interned.insert(leaked);
            leaked
        }
    }
}
