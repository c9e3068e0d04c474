//! Instruments: what one is made from ([`InstrumentSpec`]), the builder of the services,
//! and the synchronous kinds, each bound to the current global provider.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use opentelemetry::KeyValue;
use opentelemetry::metrics::{AsyncInstrument, Meter};

use backstage_telemetry_naming::already_registered;

use super::MetricsService;
use super::built::{Built, register};
use super::meter::{MeterRef, MeterScope};
use crate::binding::Bound;
use crate::global::meter_generation;
use crate::naming::{MetricKind, NameError, validate_boundaries, validate_unit};

/// What an instrument is made from: its exported name, description, unit and boundaries,
/// and the meter it resolves against.
#[derive(Clone, Debug)]
#[doc(hidden)]
pub struct InstrumentSpec {
    pub(super) meter: MeterRef,
    pub(super) name: Held<str>,
    /// Empty: none.
    pub(super) description: Held<str>,
    /// Empty: none.
    pub(super) unit: Held<str>,
    boundaries: Option<Held<[f64]>>,
}

/// A part of a spec: given at compile time or made at run time.
///
/// Not a `Cow`, and a description or unit not given is empty rather than `None`: the
/// compiler proves `Sync` for every instrument `static` that `metric!` declares, field by
/// field and again for each, and finding a `Cow`'s owned type through `ToOwned`, or going
/// through an `Option`, makes that proof dearer (BENCHMARKS.md, "Compile time").
#[derive(Debug)]
pub(super) enum Held<T: ?Sized + 'static> {
    Static(&'static T),
    Shared(Arc<T>),
}

impl<T: ?Sized> Clone for Held<T> {
    fn clone(&self) -> Self {
        match self {
            Held::Static(value) => Held::Static(value),
            Held::Shared(value) => Held::Shared(value.clone()),
        }
    }
}

impl<T: ?Sized> std::ops::Deref for Held<T> {
    type Target = T;

    fn deref(&self) -> &T {
        match self {
            Held::Static(value) => value,
            Held::Shared(value) => value,
        }
    }
}

impl Held<str> {
    /// For the OpenTelemetry builders.
    pub(super) fn cow(&self) -> Cow<'static, str> {
        match self {
            Held::Static(value) => Cow::Borrowed(value),
            Held::Shared(value) => Cow::Owned(value.to_string()),
        }
    }
}

impl InstrumentSpec {
    /// The spec of an instrument declared with `metric!` in the scope whose meter is
    /// `meter`: every part checked at compile time. An empty `description` or `unit` is none.
    pub const fn __checked(
        meter: &'static MeterScope,
        name: &'static str,
        description: &'static str,
        unit: &'static str,
        boundaries: Option<&'static [f64]>,
    ) -> Self {
        InstrumentSpec {
            meter: MeterRef::Static(meter),
            name: Held::Static(name),
            description: Held::Static(description),
            unit: Held::Static(unit),
            boundaries: match boundaries {
                Some(boundaries) => Some(Held::Static(boundaries)),
                None => None,
            },
        }
    }

    /// The meter this instrument is made from, bound to the current provider.
    pub(crate) fn meter(&self) -> &Meter {
        self.meter.meter()
    }

    /// The spec of an instrument the runtime makes itself (the span metrics' histogram).
    pub(crate) fn new(
        meter: &'static MeterScope,
        name: String,
        description: &'static str,
        unit: &'static str,
        boundaries: Option<Vec<f64>>,
    ) -> Self {
        InstrumentSpec {
            meter: MeterRef::Static(meter),
            name: Held::Shared(name.into()),
            description: Held::Static(description),
            unit: Held::Static(unit),
            boundaries: boundaries.map(|boundaries| Held::Shared(boundaries.into())),
        }
    }
}

/// A description or unit given to a builder.
fn held(text: Cow<'static, str>) -> Held<str> {
    match text {
        Cow::Borrowed(text) => Held::Static(text),
        Cow::Owned(text) => Held::Shared(text.into()),
    }
}

/// A measurement callback of an observable instrument.
pub type Callback<T> = Arc<dyn Fn(&dyn AsyncInstrument<T>) + Send + Sync>;

/// Gives a `metric!` callback closure its parameter type.
#[doc(hidden)]
pub fn __callback<T, F>(callback: F) -> Vec<Callback<T>>
where
    F: Fn(&dyn AsyncInstrument<T>) + Send + Sync + 'static,
{
    vec![Arc::new(callback)]
}

/// Builds an instrument; [`build`](Self::build) checks the name, unit and boundaries.
pub struct InstrumentBuilder<'a, I: Instrument> {
    service: &'a MetricsService,
    name: String,
    description: Option<Cow<'static, str>>,
    unit: Option<Cow<'static, str>>,
    boundaries: Option<Vec<f64>>,
    callbacks: Vec<Callback<I::Value>>,
}

impl<'a, I: Instrument> InstrumentBuilder<'a, I> {
    pub(super) fn new(service: &'a MetricsService, name: &str) -> Self {
        InstrumentBuilder {
            service,
            name: name.to_owned(),
            description: None,
            unit: None,
            boundaries: None,
            callbacks: Vec::new(),
        }
    }

    /// What the instrument measures.
    pub fn with_description(mut self, description: impl Into<Cow<'static, str>>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// The unit of the values, UCUM style: `s`, `By`, `{entity}`.
    pub fn with_unit(mut self, unit: impl Into<Cow<'static, str>>) -> Self {
        self.unit = Some(unit.into());
        self
    }

    /// The instrument, or why its name, unit or boundaries are invalid. An observable
    /// instrument's callbacks run while it (or a clone) is alive. It is listed in the
    /// catalog (`backstage_telemetry::catalog()`) with the place of this call.
    #[track_caller]
    pub fn build(self) -> Result<I, NameError> {
        let location = std::panic::Location::caller();
        let name = self.service.scope.metric_name(&self.name)?;
        if let Some(unit) = &self.unit {
            validate_unit(unit)?;
        }
        if let Some(boundaries) = &self.boundaries {
            validate_boundaries(boundaries)?;
        }
        register(Built {
            name: name.clone(),
            kind: I::KIND,
            value_type: I::VALUE_TYPE,
            unit: self.unit.as_deref().unwrap_or("").to_owned(),
            description: self.description.as_deref().unwrap_or("").to_owned(),
            boundaries: self.boundaries.clone(),
            scope: self.service.scope.clone(),
            location,
        })
        .map_err(|held| already_registered(&self.name, held))?;
        let spec = InstrumentSpec {
            meter: MeterRef::Shared(self.service.meter.clone()),
            name: Held::Shared(name.into()),
            description: self.description.map_or(Held::Static(""), held),
            unit: self.unit.map_or(Held::Static(""), held),
            boundaries: self
                .boundaries
                .map(|boundaries| Held::Shared(boundaries.into())),
        };
        Ok(I::from_parts(spec, self.callbacks))
    }
}

impl<T: HistogramValue> InstrumentBuilder<'_, Histogram<T>> {
    /// Explicit bucket boundaries (finite, strictly increasing).
    pub fn with_boundaries(mut self, boundaries: Vec<f64>) -> Self {
        self.boundaries = Some(boundaries);
        self
    }
}

impl<I: Instrument + Observed> InstrumentBuilder<'_, I> {
    /// A callback run at every collection, reporting values with `observer.observe(value, attributes)`.
    pub fn with_callback<F>(mut self, callback: F) -> Self
    where
        F: Fn(&dyn AsyncInstrument<I::Value>) + Send + Sync + 'static,
    {
        self.callbacks.push(Arc::new(callback));
        self
    }
}

/// An instrument kind: [`Counter`], [`UpDownCounter`], [`Histogram`], [`Gauge`],
/// [`ObservableCounter`](super::ObservableCounter),
/// [`ObservableUpDownCounter`](super::ObservableUpDownCounter) or
/// [`ObservableGauge`](super::ObservableGauge).
pub trait Instrument: Sized + sealed::Sealed {
    /// The value type it records.
    type Value;
    /// The instrument kind.
    const KIND: MetricKind;
    /// The value type's name: `u64`, `i64` or `f64`.
    const VALUE_TYPE: &'static str;

    #[doc(hidden)]
    fn from_parts(spec: InstrumentSpec, callbacks: Vec<Callback<Self::Value>>) -> Self;
}

/// The observable kinds, which take callbacks.
pub trait Observed: sealed::Sealed {}

pub(super) mod sealed {
    pub trait Sealed {}
}

/// Applies a spec's description, unit (and boundaries) to an OpenTelemetry builder.
macro_rules! configure {
    ($builder:expr, $spec:expr) => {{
        let mut builder = $builder;
        if !$spec.description.is_empty() {
            builder = builder.with_description($spec.description.cow());
        }
        if !$spec.unit.is_empty() {
            builder = builder.with_unit($spec.unit.cow());
        }
        builder
    }};
}
pub(super) use configure;

/// Applies a spec's bucket boundaries where the instrument has buckets.
trait WithBoundaries: Sized {
    fn boundaries(self, _spec: &InstrumentSpec) -> Self {
        self
    }
}

impl<T> WithBoundaries for opentelemetry::metrics::InstrumentBuilder<'_, T> {}

impl<T> WithBoundaries for opentelemetry::metrics::HistogramBuilder<'_, T> {
    fn boundaries(self, spec: &InstrumentSpec) -> Self {
        match &spec.boundaries {
            Some(boundaries) => self.with_boundaries(boundaries.to_vec()),
            None => self,
        }
    }
}

/// A synchronous instrument: `$method` forwards to the OpenTelemetry instrument bound to
/// the current provider.
macro_rules! sync_instrument {
    ($(#[$doc:meta])* $name:ident, $value:ident, $method:ident, $(#[$method_doc:meta])*
     { $($ty:ty => $make:ident),* }) => {
        $(#[$doc])*
        pub struct $name<T> {
            // first: the compiler checks every `static` of this type for interior
            // mutability field by field, and stops at this one (BENCHMARKS.md)
            bound: Bound<opentelemetry::metrics::$name<T>>,
            spec: InstrumentSpec,
        }

        /// A value type of this instrument kind.
        pub trait $value: Copy + Send + Sync + 'static {
            /// The type's name: `u64`, `i64` or `f64`.
            #[doc(hidden)]
            const NAME: &'static str;
            #[doc(hidden)]
            fn build(meter: &Meter, spec: &InstrumentSpec) -> opentelemetry::metrics::$name<Self>;
        }

        $(impl $value for $ty {
            const NAME: &'static str = stringify!($ty);
            fn build(meter: &Meter, spec: &InstrumentSpec) -> opentelemetry::metrics::$name<Self> {
                configure!(meter.$make(spec.name.cow()), spec)
                    .boundaries(spec)
                    .build()
            }
        })*

        impl<T: $value> $name<T> {
            $(#[$method_doc])*
            #[inline]
            pub fn $method(&self, value: T, attributes: &[KeyValue]) {
                self.bound
                    .get(meter_generation(), || T::build(self.spec.meter.meter(), &self.spec))
                    .$method(value, attributes)
            }

            /// The exported name, such as `backstage.plugin.catalog.entities.processed`.
            pub fn name(&self) -> &str {
                &self.spec.name
            }
        }

        impl<T> $name<T> {
            /// An instrument declared with `metric!` in the scope whose meter is `meter`, every
            /// part checked at compile time. An empty `description` or `unit` is none.
            #[doc(hidden)]
            pub const fn __declared(
                meter: &'static MeterScope,
                name: &'static str,
                description: &'static str,
                unit: &'static str,
                boundaries: Option<&'static [f64]>,
            ) -> Self {
                $name {
                    spec: InstrumentSpec::__checked(meter, name, description, unit, boundaries),
                    bound: Bound::new(),
                }
            }
        }

        impl<T> sealed::Sealed for $name<T> {}

        impl<T: $value> Instrument for $name<T> {
            type Value = T;
            const KIND: MetricKind = MetricKind::$name;
            const VALUE_TYPE: &'static str = T::NAME;

            fn from_parts(spec: InstrumentSpec, _callbacks: Vec<Callback<T>>) -> Self {
                $name { spec, bound: Bound::new() }
            }
        }

        impl<T> Clone for $name<T> {
            fn clone(&self) -> Self {
                $name { spec: self.spec.clone(), bound: Bound::new() }
            }
        }

        impl<T> fmt::Debug for $name<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name)).field("name", &self.spec.name).finish()
            }
        }
    };
}

sync_instrument!(
    /// A sum that only goes up, such as entities processed. Made by [`MetricsService::counter`].
    Counter, CounterValue, add,
    /// Adds `value` (never negative) to the series of `attributes`.
    { u64 => u64_counter, f64 => f64_counter }
);

sync_instrument!(
    /// A sum that goes up and down, such as tasks in flight. Made by
    /// [`MetricsService::up_down_counter`].
    UpDownCounter, UpDownCounterValue, add,
    /// Adds `value` (positive or negative) to the series of `attributes`.
    { i64 => i64_up_down_counter, f64 => f64_up_down_counter }
);

sync_instrument!(
    /// A distribution of values, such as durations. Made by [`MetricsService::histogram`].
    Histogram, HistogramValue, record,
    /// Records `value` in the distribution of the series of `attributes`.
    { u64 => u64_histogram, f64 => f64_histogram }
);

sync_instrument!(
    /// A gauge: the last value recorded, such as a queue length. Made by [`MetricsService::gauge`].
    Gauge, GaugeValue, record,
    /// Records `value` as the current value of the series of `attributes`.
    { u64 => u64_gauge, i64 => i64_gauge, f64 => f64_gauge }
);
