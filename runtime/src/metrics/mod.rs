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

mod built;
pub(crate) mod instrument;
pub(crate) mod meter;
mod observable;

use std::sync::Arc;

use opentelemetry::InstrumentationScope;
use opentelemetry::metrics::Meter;

use crate::config::Config;
pub use crate::naming::MetricKind;
use crate::naming::{NameError, Scope};
pub(crate) use built::{Built, all as built};
pub(crate) use instrument::InstrumentSpec;
pub use instrument::{
    Counter, CounterValue, Gauge, GaugeValue, Histogram, HistogramValue, Instrument,
    InstrumentBuilder, Observed, UpDownCounter, UpDownCounterValue,
};
pub(crate) use meter::MeterScope;
pub use observable::{
    ObservableCounter, ObservableCounterValue, ObservableGauge, ObservableGaugeValue,
    ObservableUpDownCounter, ObservableUpDownCounterValue,
};

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
    config: Arc<Config>,
    root: Arc<MeterScope>,
}

impl RootMetricsService {
    /// The root metrics service for `config` (`backend.metrics.*`).
    pub fn from_config(config: &Config) -> Self {
        let config = Arc::new(config.clone());
        RootMetricsService {
            root: Arc::new(MeterScope::fixed(None, config.clone())),
            config,
        }
    }

    /// The metrics service of plugin `plugin_id`: metric names are prefixed
    /// `backstage.plugin.{plugin_id}.`, the meter is `backstage-plugin-{plugin_id}` unless
    /// `backend.metrics.plugin.{plugin_id}.meter` says otherwise.
    pub fn for_plugin(&self, plugin_id: &str) -> Result<MetricsService, NameError> {
        let scope = Scope::plugin(plugin_id.to_owned())?;
        let meter = Arc::new(MeterScope::fixed(Some(scope.clone()), self.config.clone()));
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

/// One metric a scope declares with `metric!`: an entry of the `METRICS` manifest that
/// `#[backstage_plugin]` adds to its module.
#[derive(Clone, Copy, Debug, PartialEq)]
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
    /// A histogram's bucket boundaries as declared (empty: none declared).
    pub boundaries: &'static [f64],
}
