//! The observable kinds: callbacks registered with every meter provider installed while the
//! instrument is alive.

use std::fmt;
use std::sync::{Arc, Weak};

use opentelemetry::metrics::{AsyncInstrument, Meter};

use super::instrument::{Callback, Instrument, InstrumentSpec, Observed, configure, sealed};
use crate::global::{Register, register_observable};
use crate::naming::MetricKind;

/// The state behind an observable instrument: its callbacks, registered with every meter
/// provider installed while it is alive.
#[doc(hidden)]
pub struct Observable<T> {
    spec: InstrumentSpec,
    callbacks: Vec<Callback<T>>,
    register: fn(&Meter, &InstrumentSpec, Weak<Observable<T>>),
    this: Weak<Observable<T>>,
}

impl<T: Send + Sync + 'static> Observable<T> {
    /// The observable of `spec`, its callbacks registered with the current meter provider
    /// and every later one.
    fn new(
        spec: InstrumentSpec,
        callbacks: Vec<Callback<T>>,
        register: fn(&Meter, &InstrumentSpec, Weak<Observable<T>>),
    ) -> Arc<Self> {
        let observable = Arc::new_cyclic(|this| Observable {
            spec,
            callbacks,
            register,
            this: this.clone(),
        });
        register_observable(observable.clone());
        observable
    }

    /// The callback given to the provider: runs ours while the instrument is alive.
    fn observe(this: &Weak<Observable<T>>, observer: &dyn AsyncInstrument<T>) {
        if let Some(observable) = this.upgrade() {
            for callback in &observable.callbacks {
                callback(observer);
            }
        }
    }
}

impl<T: Send + Sync + 'static> Register for Observable<T> {
    fn register(&self) {
        // Meters are cheap to make; the bound meter of the scope may lag behind a provider
        // being installed right now, so ask the global provider directly.
        let meter = opentelemetry::global::meter_provider()
            .meter_with_scope(self.spec.meter.instrumentation());
        (self.register)(&meter, &self.spec, self.this.clone());
    }
}

macro_rules! observable_instrument {
    ($(#[$doc:meta])* $name:ident, $value:ident, { $($ty:ty => $make:ident),* }) => {
        $(#[$doc])*
        pub struct $name<T> {
            observable: Arc<Observable<T>>,
        }

        /// A value type of this instrument kind.
        pub trait $value: Copy + Send + Sync + 'static {
            /// The type's name: `u64`, `i64` or `f64`.
            #[doc(hidden)]
            const NAME: &'static str;
            #[doc(hidden)]
            fn register(meter: &Meter, spec: &InstrumentSpec, this: Weak<Observable<Self>>);
        }

        $(impl $value for $ty {
            const NAME: &'static str = stringify!($ty);
            fn register(meter: &Meter, spec: &InstrumentSpec, this: Weak<Observable<Self>>) {
                configure!(meter.$make(spec.name.cow()), spec)
                    .with_callback(move |observer| Observable::observe(&this, observer))
                    .build();
            }
        })*

        impl<T> $name<T> {
            /// The exported name, such as `backstage.plugin.catalog.entities.count`.
            pub fn name(&self) -> &str {
                &self.observable.spec.name
            }
        }

        impl<T> sealed::Sealed for $name<T> {}

        impl<T: $value> Instrument for $name<T> {
            type Value = T;
            const KIND: MetricKind = MetricKind::$name;
            const VALUE_TYPE: &'static str = T::NAME;

            fn from_parts(spec: InstrumentSpec, callbacks: Vec<Callback<T>>) -> Self {
                $name { observable: Observable::new(spec, callbacks, T::register) }
            }
        }

        impl<T> Observed for $name<T> {}

        impl<T> Clone for $name<T> {
            fn clone(&self) -> Self {
                $name { observable: self.observable.clone() }
            }
        }

        impl<T> fmt::Debug for $name<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name)).field("name", &self.name()).finish()
            }
        }
    };
}

observable_instrument!(
    /// A monotonic sum read by a callback at each collection, such as CPU time. Made by
    /// [`MetricsService::observable_counter`](super::MetricsService::observable_counter); its callbacks run while it or a clone is alive.
    ObservableCounter, ObservableCounterValue,
    { u64 => u64_observable_counter, f64 => f64_observable_counter }
);

observable_instrument!(
    /// A sum read by a callback at each collection, such as entities stored. Made by
    /// [`MetricsService::observable_up_down_counter`](super::MetricsService::observable_up_down_counter); its callbacks run while it or a clone
    /// is alive.
    ObservableUpDownCounter, ObservableUpDownCounterValue,
    { i64 => i64_observable_up_down_counter, f64 => f64_observable_up_down_counter }
);

observable_instrument!(
    /// A value read by a callback at each collection, such as the last refresh age. Made by
    /// [`MetricsService::observable_gauge`](super::MetricsService::observable_gauge); its callbacks run while it or a clone is alive.
    ObservableGauge, ObservableGaugeValue,
    { u64 => u64_observable_gauge, i64 => i64_observable_gauge, f64 => f64_observable_gauge }
);
