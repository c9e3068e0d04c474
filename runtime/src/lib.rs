//! Metrics, traces and correlated logs for Backstage-style Rust backend plugins, on
//! OpenTelemetry.
//!
//! This crate holds the root services made from the app-config, the plugin- and
//! core-scoped services that create instruments and spans with checked, prefixed names,
//! and the pieces that install OpenTelemetry providers.
//!
//! ```
//! use backstage_telemetry::{Config, KeyValue, RootMetricsService, RootTracingService, SpanOptions};
//!
//! let config = Config::default();
//! let metrics = RootMetricsService::from_config(&config).for_plugin("catalog")?;
//! let tracing = RootTracingService::from_config(&config).for_plugin("catalog")?;
//!
//! let processed = metrics.counter::<u64>("entities.processed").with_unit("{entity}").build()?;
//! tracing.start_active_span("process", SpanOptions::new(), |_span| {
//!     processed.add(1, &[KeyValue::new("kind", "Component")]);
//! });
//! // exported as `backstage.plugin.catalog.entities.processed` from meter
//! // `backstage-plugin-catalog`, in a span named "process" with `backstage.plugin.id = "catalog"`.
//! # Ok::<(), backstage_telemetry::naming::NameError>(())
//! ```
//!
//! Install providers with [`set_meter_provider`] and [`set_tracer_provider`]: instruments
//! and tracers created before then record from their next use on.

#![warn(missing_docs)]

pub mod config;
pub mod metrics;
pub mod naming;
pub mod principal;
mod provider;
#[cfg(feature = "sdk")]
pub mod sdk;
#[cfg(feature = "testing")]
pub mod testing;
pub mod tracing;

pub use backstage_telemetry_macros::{backstage_core, backstage_plugin, metric, span};
pub use config::{Config, ConfigError, set_config};
pub use metrics::{MetricsService, RootMetricsService};
pub use opentelemetry::trace::{SpanKind, Status};
pub use opentelemetry::{InstrumentationScope, KeyValue};
pub use principal::{BackstageCredentials, Principal};
pub use provider::{set_meter_provider, set_tracer_provider};
pub use tracing::{
    ActiveSpan, ErrorType, RootTracingService, SpanOptions, SpanOutcome, TracingService,
    current_span,
};

/// What the macro expansions call. Not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use crate::metrics::{
        __callback, Callback, InstrumentSpec, MeterScope, MetricInfo, MetricKind,
        ObservableInstrument,
    };
    pub use crate::naming::{Scope, ScopeKind};
    pub use crate::tracing::{
        Outcome, RecordDebugError, RecordDisplayError, RecordNothing, RecordTypedError, SpanSite,
        in_span_async, in_span_sync, with_output,
    };
    pub use opentelemetry::trace::SpanRef;
    pub use std::sync::LazyLock;

    /// The credentials a `#[span(credentials = ...)]` expression names, owned or borrowed.
    #[inline]
    pub fn credentials<C>(credentials: &C) -> &crate::BackstageCredentials
    where
        C: std::borrow::Borrow<crate::BackstageCredentials> + ?Sized,
    {
        credentials.borrow()
    }
}
