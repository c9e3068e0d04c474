//! Installing the global OpenTelemetry providers, and the late binding that lets instruments
//! and tracers created before the SDK was installed record once it is.
//!
//! Every instrument and tracer of this crate resolves against the global providers when it
//! is used. It caches what it resolved together with a *generation* that
//! [`set_meter_provider`] and [`set_tracer_provider`] advance, so the hot path is one atomic
//! load and a compare; only after a new provider is installed does the next use bind again.
//!
//! Install providers through these functions (or [`crate::init`]-style set-up that calls
//! them). A provider installed with `opentelemetry::global::set_*_provider` directly is seen
//! by everything first used after it, but not by what was already bound.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};

use opentelemetry::metrics::MeterProvider;
use opentelemetry::trace::{Span, TracerProvider};

static METER_GENERATION: AtomicU64 = AtomicU64::new(0);
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
    METER_GENERATION.fetch_add(1, Ordering::AcqRel);
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
        *SDK_TRACER_PROVIDER
            .write()
            .unwrap_or_else(|p| p.into_inner()) = sdk;
    }
    opentelemetry::global::set_tracer_provider(provider);
    TRACER_GENERATION.fetch_add(1, Ordering::AcqRel);
}

/// The installed configuration changed: everything binds again (scope names may differ).
pub(crate) fn config_changed() {
    METER_GENERATION.fetch_add(1, Ordering::AcqRel);
    TRACER_GENERATION.fetch_add(1, Ordering::AcqRel);
}

/// The global tracer provider when it is the SDK's, installed through [`set_tracer_provider`].
#[cfg(feature = "sdk")]
static SDK_TRACER_PROVIDER: std::sync::RwLock<Option<opentelemetry_sdk::trace::SdkTracerProvider>> =
    std::sync::RwLock::new(None);

/// The SDK tracer provider installed now, if the global one is the SDK's.
#[cfg(feature = "sdk")]
pub(crate) fn sdk_tracer_provider() -> Option<opentelemetry_sdk::trace::SdkTracerProvider> {
    SDK_TRACER_PROVIDER
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .clone()
}

#[inline]
pub(crate) fn meter_generation() -> u64 {
    METER_GENERATION.load(Ordering::Acquire)
}

#[inline]
pub(crate) fn tracer_generation() -> u64 {
    TRACER_GENERATION.load(Ordering::Acquire)
}

/// Registers an observable with the current provider now and with every later one.
pub(crate) fn register_observable(observable: Arc<dyn Register>) {
    let mut observables = lock(&OBSERVABLES);
    observable.register();
    observables.push(Arc::downgrade(&observable));
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding this lock cannot leave the list inconsistent.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A value resolved against a global provider, bound again when the provider changes.
///
/// Bindings form a chain, one link per provider generation seen; old links stay alive (they
/// are few: one per provider installed while this value was in use), which lets readers
/// hold plain references without locks.
pub(crate) struct Bound<T> {
    head: OnceLock<Slot<T>>,
}

struct Slot<T> {
    generation: u64,
    value: T,
    next: OnceLock<Box<Slot<T>>>,
}

impl<T> Slot<T> {
    fn new(generation: u64, value: T) -> Self {
        Slot {
            generation,
            value,
            next: OnceLock::new(),
        }
    }
}

impl<T> Bound<T> {
    pub(crate) const fn new() -> Self {
        Bound {
            head: OnceLock::new(),
        }
    }

    /// The value bound at `generation` or later, binding it with `bind` if there is none.
    #[inline]
    pub(crate) fn get(&self, generation: u64, bind: impl Fn() -> T) -> &T {
        match self.head.get() {
            Some(slot) if slot.generation >= generation => &slot.value,
            _ => self.rebind(generation, bind),
        }
    }

    #[cold]
    #[inline(never)]
    fn rebind(&self, generation: u64, bind: impl Fn() -> T) -> &T {
        let mut slot = self.head.get_or_init(|| Slot::new(generation, bind()));
        while slot.generation < generation {
            slot = slot
                .next
                .get_or_init(|| Box::new(Slot::new(generation, bind())));
        }
        &slot.value
    }
}

impl<T> std::fmt::Debug for Bound<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bound").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn binds_once_per_generation() {
        let bound = Bound::new();
        let binds = Cell::new(0);
        let bind = || {
            binds.set(binds.get() + 1);
            binds.get()
        };
        assert_eq!(*bound.get(0, bind), 1);
        assert_eq!(*bound.get(0, bind), 1);
        assert_eq!(*bound.get(3, bind), 2);
        assert_eq!(*bound.get(3, bind), 2);
        // a reader that saw an older generation still gets the newest binding
        assert_eq!(*bound.get(1, bind), 2);
        assert_eq!(*bound.get(4, bind), 3);
        assert_eq!(binds.get(), 3);
    }
}
