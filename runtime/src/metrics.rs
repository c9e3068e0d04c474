//! Metrics (docs/design.md, "Scopes and late binding", "Metrics"): [`RootMetricsService`] and the plugin- or core-scoped
//! [`MetricsService`] that creates instruments with checked, prefixed names.
//!
//! Instruments resolve against the global meter provider when they are used, so one
//! created before the SDK is installed records once it is (see [`crate::set_meter_provider`]).
//!
//! ```
//! use backstage_telemetry::{Config, KeyValue, RootMetricsService};
//!
//! let root = RootMetricsService::from_config(&Config::default());
//! let metrics = root.for_plugin("catalog")?;
//! let processed = metrics
//!     .counter::<u64>("entities.processed")
//!     .with_description("Entities processed by the catalog")
//!     .with_unit("{entity}")
//!     .build()?;
//! assert_eq!(processed.name(), "backstage.plugin.catalog.entities.processed");
//! processed.add(1, &[KeyValue::new("kind", "Component")]);
//!
//! assert!(metrics.counter::<u64>("Processed").build().is_err());
//! # Ok::<(), backstage_telemetry::naming::NameError>(())
//! ```

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Weak};

use opentelemetry::metrics::{AsyncInstrument, Meter};
use opentelemetry::{InstrumentationScope, KeyValue};

use crate::config::Config;
pub use crate::naming::MetricKind;
use crate::naming::{NameError, Scope, already_registered, validate_boundaries, validate_unit};
use crate::provider::{Bound, Register, meter_generation, register_observable};

/// The root of metrics: made once from the app-config, it hands out the meter of every
/// plugin and core service.
///
/// ```
/// use backstage_telemetry::{Config, RootMetricsService};
///
/// let config = Config::from_yaml_str("app-config.yaml", "backend:\n  metrics:\n    serviceName: portal\n").unwrap();
/// let root = RootMetricsService::from_config(&config);
/// assert_eq!(root.for_plugin("catalog").unwrap().instrumentation_scope().name(), "backstage-plugin-catalog");
/// assert_eq!(root.for_core("database").unwrap().instrumentation_scope().name(), "portal");
/// ```
#[derive(Clone, Debug)]
pub struct RootMetricsService {
    config: Config,
    root: Arc<MeterScope>,
}

impl RootMetricsService {
    /// The root metrics service for `config` (`backend.metrics.*`).
    pub fn from_config(config: &Config) -> Self {
        RootMetricsService {
            config: config.clone(),
            root: Arc::new(MeterScope::fixed(config.service_scope())),
        }
    }

    /// The metrics service of plugin `plugin_id`: metric names are prefixed
    /// `backstage.plugin.{plugin_id}.`, the meter is `backstage-plugin-{plugin_id}` unless
    /// `backend.metrics.plugin.{plugin_id}.meter` says otherwise.
    pub fn for_plugin(&self, plugin_id: &str) -> Result<MetricsService, NameError> {
        let scope = Scope::plugin(plugin_id.to_owned())?;
        let meter = Arc::new(MeterScope::fixed(self.config.meter_scope(&scope)));
        Ok(MetricsService { scope, meter })
    }

    /// The metrics service of core service `service_id`: metric names are prefixed
    /// `backstage.core.{service_id}.`, the meter is the root meter (`serviceName`).
    pub fn for_core(&self, service_id: &str) -> Result<MetricsService, NameError> {
        let scope = Scope::core(service_id.to_owned())?;
        Ok(MetricsService {
            scope,
            meter: self.root.clone(),
        })
    }

    /// The root meter, named by `backend.metrics.serviceName` and `serviceVersion`.
    pub fn meter(&self) -> Meter {
        self.root.meter().clone()
    }
}

/// The meter of one plugin or core service, bound to the current global provider.
#[doc(hidden)]
pub struct MeterScope {
    source: ScopeSource,
    meter: Bound<Meter>,
}

/// Where an instrumentation scope comes from.
pub(crate) enum ScopeSource {
    /// Resolved when the service was made from its config.
    Fixed(InstrumentationScope),
    /// Declared with the macros: resolved against the installed config at each binding.
    Installed(Scope),
}

impl MeterScope {
    fn fixed(instrumentation: InstrumentationScope) -> Self {
        MeterScope {
            source: ScopeSource::Fixed(instrumentation),
            meter: Bound::new(),
        }
    }

    /// The meter of a scope declared with the macros.
    pub const fn installed(scope: Scope) -> Self {
        MeterScope {
            source: ScopeSource::Installed(scope),
            meter: Bound::new(),
        }
    }

    fn instrumentation(&self) -> InstrumentationScope {
        match &self.source {
            ScopeSource::Fixed(instrumentation) => instrumentation.clone(),
            ScopeSource::Installed(scope) => crate::config::installed().meter_scope(scope),
        }
    }

    fn meter(&self) -> &Meter {
        self.meter.get(meter_generation(), || {
            opentelemetry::global::meter_provider().meter_with_scope(self.instrumentation())
        })
    }
}

impl fmt::Debug for MeterScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let source = match &self.source {
            ScopeSource::Fixed(instrumentation) => instrumentation.name().to_owned(),
            ScopeSource::Installed(scope) => scope.to_string(),
        };
        f.debug_struct("MeterScope")
            .field("source", &source)
            .finish_non_exhaustive()
    }
}

/// A meter scope shared by a service's instruments, or the static one of a macro site.
#[derive(Clone, Debug)]
enum MeterRef {
    Shared(Arc<MeterScope>),
    Static(&'static MeterScope),
}

impl std::ops::Deref for MeterRef {
    type Target = MeterScope;

    fn deref(&self) -> &MeterScope {
        match self {
            MeterRef::Shared(scope) => scope,
            MeterRef::Static(scope) => scope,
        }
    }
}

/// The metrics of one plugin or core service: creates instruments whose names are checked
/// and prefixed with `backstage.plugin.{id}.` or `backstage.core.{id}.`.
///
/// Cloning is cheap; clones share the meter.
#[derive(Clone, Debug)]
pub struct MetricsService {
    scope: Scope,
    meter: Arc<MeterScope>,
}

impl MetricsService {
    /// The plugin or core service these metrics belong to.
    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    /// The instrumentation scope (meter name, version, schema URL) of this service's meter.
    pub fn instrumentation_scope(&self) -> InstrumentationScope {
        self.meter.instrumentation()
    }

    /// The underlying OpenTelemetry meter, from the global provider installed now.
    ///
    /// Instruments made directly on it keep the provider of the moment and their names are
    /// not prefixed; prefer this service's methods.
    pub fn meter(&self) -> Meter {
        self.meter.meter().clone()
    }

    /// A counter (`u64` or `f64`): a sum that only goes up.
    pub fn counter<T: CounterValue>(&self, name: &str) -> InstrumentBuilder<'_, Counter<T>> {
        InstrumentBuilder::new(self, name)
    }

    /// An up-down counter (`i64` or `f64`): a sum that goes up and down.
    pub fn up_down_counter<T: UpDownCounterValue>(
        &self,
        name: &str,
    ) -> InstrumentBuilder<'_, UpDownCounter<T>> {
        InstrumentBuilder::new(self, name)
    }

    /// A histogram (`u64` or `f64`): a distribution of recorded values.
    pub fn histogram<T: HistogramValue>(&self, name: &str) -> InstrumentBuilder<'_, Histogram<T>> {
        InstrumentBuilder::new(self, name)
    }

    /// A gauge (`u64`, `i64` or `f64`): the last recorded value.
    pub fn gauge<T: GaugeValue>(&self, name: &str) -> InstrumentBuilder<'_, Gauge<T>> {
        InstrumentBuilder::new(self, name)
    }

    /// An observable counter (`u64` or `f64`): a monotonic sum read by a callback.
    pub fn observable_counter<T: ObservableCounterValue>(
        &self,
        name: &str,
    ) -> InstrumentBuilder<'_, ObservableCounter<T>> {
        InstrumentBuilder::new(self, name)
    }

    /// An observable up-down counter (`i64` or `f64`): a sum read by a callback.
    pub fn observable_up_down_counter<T: ObservableUpDownCounterValue>(
        &self,
        name: &str,
    ) -> InstrumentBuilder<'_, ObservableUpDownCounter<T>> {
        InstrumentBuilder::new(self, name)
    }

    /// An observable gauge (`u64`, `i64` or `f64`): a value read by a callback.
    pub fn observable_gauge<T: ObservableGaugeValue>(
        &self,
        name: &str,
    ) -> InstrumentBuilder<'_, ObservableGauge<T>> {
        InstrumentBuilder::new(self, name)
    }
}

/// What an instrument is made from: its exported name, description, unit and boundaries,
/// and the meter it resolves against.
#[derive(Clone, Debug)]
#[doc(hidden)]
pub struct InstrumentSpec {
    meter: MeterRef,
    name: Cow<'static, str>,
    description: Option<Cow<'static, str>>,
    unit: Option<Cow<'static, str>>,
    boundaries: Option<Cow<'static, [f64]>>,
}

impl InstrumentSpec {
    /// The spec of an instrument declared with `metric!`: every part checked at compile time.
    pub const fn __checked(
        meter: &'static MeterScope,
        name: &'static str,
        description: Option<&'static str>,
        unit: Option<&'static str>,
        boundaries: Option<&'static [f64]>,
    ) -> Self {
        InstrumentSpec {
            meter: MeterRef::Static(meter),
            name: Cow::Borrowed(name),
            description: match description {
                Some(description) => Some(Cow::Borrowed(description)),
                None => None,
            },
            unit: match unit {
                Some(unit) => Some(Cow::Borrowed(unit)),
                None => None,
            },
            boundaries: match boundaries {
                Some(boundaries) => Some(Cow::Borrowed(boundaries)),
                None => None,
            },
        }
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

/// One metric a scope declares with `metric!`: an entry of the `METRICS` manifest that
/// `#[backstage_plugin]` adds to its module.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MetricInfo {
    /// The exported name, such as `backstage.plugin.catalog.entities.processed`.
    pub name: &'static str,
    /// The instrument kind.
    pub kind: MetricKind,
    /// The value type: `u64`, `i64` or `f64`.
    pub value_type: &'static str,
    /// The unit (empty if none).
    pub unit: &'static str,
    /// The description (empty if none).
    pub description: &'static str,
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
    fn new(service: &'a MetricsService, name: &str) -> Self {
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
    /// instrument's callbacks run while it (or a clone) is alive.
    pub fn build(self) -> Result<I, NameError> {
        let name = self.service.scope.metric_name(&self.name)?;
        if let Some(unit) = &self.unit {
            validate_unit(unit)?;
        }
        if let Some(boundaries) = &self.boundaries {
            validate_boundaries(boundaries)?;
        }
        claim::<I>(&name, &self.name, self.unit.as_deref().unwrap_or(""))?;
        let spec = InstrumentSpec {
            meter: MeterRef::Shared(self.service.meter.clone()),
            name: Cow::Owned(name),
            description: self.description,
            unit: self.unit,
            boundaries: self.boundaries.map(Cow::Owned),
        };
        Ok(I::from_parts(spec, self.callbacks))
    }
}

/// Exported names built at run time, with the instrument type and unit that hold each:
/// one name is one instrument, as the macros check at compile time.
static CLAIMED: std::sync::Mutex<BTreeMap<String, (&'static str, String)>> =
    std::sync::Mutex::new(BTreeMap::new());

/// Registers `name` for an `I` with `unit`, or says what holds it already.
fn claim<I: Instrument>(name: &str, authored: &str, unit: &str) -> Result<(), NameError> {
    let kind = short_type_name(std::any::type_name::<I>());
    let mut claimed = crate::provider::lock(&CLAIMED);
    match claimed.get(name) {
        Some((held_kind, held_unit)) if *held_kind == kind && held_unit == unit => Ok(()),
        Some((held_kind, held_unit)) => Err(already_registered(
            authored,
            format!("{held_kind} with unit `{held_unit}`"),
        )),
        None => {
            claimed.insert(name.to_owned(), (kind, unit.to_owned()));
            Ok(())
        }
    }
}

/// `backstage_telemetry::metrics::Counter<u64>` as `Counter<u64>`.
fn short_type_name(full: &'static str) -> &'static str {
    let generic = full.find('<').unwrap_or(full.len());
    match full[..generic].rfind("::") {
        Some(at) => &full[at + 2..],
        None => full,
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
/// [`ObservableCounter`], [`ObservableUpDownCounter`] or [`ObservableGauge`].
pub trait Instrument: Sized + sealed::Sealed {
    /// The value type it records.
    type Value;

    #[doc(hidden)]
    fn from_parts(spec: InstrumentSpec, callbacks: Vec<Callback<Self::Value>>) -> Self;
}

/// The observable kinds, which take callbacks.
pub trait Observed: sealed::Sealed {}

mod sealed {
    pub trait Sealed {}
}

/// Applies a spec's description, unit (and boundaries) to an OpenTelemetry builder.
macro_rules! configure {
    ($builder:expr, $spec:expr) => {{
        let mut builder = $builder;
        if let Some(description) = &$spec.description {
            builder = builder.with_description(description.clone());
        }
        if let Some(unit) = &$spec.unit {
            builder = builder.with_unit(unit.clone());
        }
        builder
    }};
}

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
            spec: InstrumentSpec,
            bound: Bound<opentelemetry::metrics::$name<T>>,
        }

        /// A value type of this instrument kind.
        pub trait $value: Copy + Send + Sync + 'static {
            #[doc(hidden)]
            fn build(meter: &Meter, spec: &InstrumentSpec) -> opentelemetry::metrics::$name<Self>;
        }

        $(impl $value for $ty {
            fn build(meter: &Meter, spec: &InstrumentSpec) -> opentelemetry::metrics::$name<Self> {
                configure!(meter.$make(spec.name.clone()), spec)
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
            /// An instrument declared with `metric!`.
            #[doc(hidden)]
            pub const fn __declared(spec: InstrumentSpec) -> Self {
                $name { spec, bound: Bound::new() }
            }
        }

        impl<T> sealed::Sealed for $name<T> {}

        impl<T: $value> Instrument for $name<T> {
            type Value = T;

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
    fn start(
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
            #[doc(hidden)]
            fn register(meter: &Meter, spec: &InstrumentSpec, this: Weak<Observable<Self>>);
        }

        $(impl $value for $ty {
            fn register(meter: &Meter, spec: &InstrumentSpec, this: Weak<Observable<Self>>) {
                configure!(meter.$make(spec.name.clone()), spec)
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

            fn from_parts(spec: InstrumentSpec, callbacks: Vec<Callback<T>>) -> Self {
                $name { observable: Observable::start(spec, callbacks, T::register) }
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
    /// [`MetricsService::observable_counter`]; its callbacks run while it or a clone is alive.
    ObservableCounter, ObservableCounterValue,
    { u64 => u64_observable_counter, f64 => f64_observable_counter }
);

observable_instrument!(
    /// A sum read by a callback at each collection, such as entities stored. Made by
    /// [`MetricsService::observable_up_down_counter`]; its callbacks run while it or a clone
    /// is alive.
    ObservableUpDownCounter, ObservableUpDownCounterValue,
    { i64 => i64_observable_up_down_counter, f64 => f64_observable_up_down_counter }
);

observable_instrument!(
    /// A value read by a callback at each collection, such as the last refresh age. Made by
    /// [`MetricsService::observable_gauge`]; its callbacks run while it or a clone is alive.
    ObservableGauge, ObservableGaugeValue,
    { u64 => u64_observable_gauge, i64 => i64_observable_gauge, f64 => f64_observable_gauge }
);
