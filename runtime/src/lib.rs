//! Metrics, traces and correlated logs for Backstage-style Rust backend plugins, on
//! OpenTelemetry, with almost no code.
//!
//! ```
//! use backstage_telemetry::{backstage_plugin, metric, span};
//!
//! #[backstage_plugin(id = "catalog")]
//! pub mod catalog {
//!     use backstage_telemetry::{KeyValue, metric, span};
//!
//!     metric! {
//!         /// Entities processed by the catalog.
//!         pub static ENTITIES_PROCESSED: Counter<u64> = "entities.processed", unit = "{entity}";
//!     }
//!
//!     #[span]
//!     pub async fn process(kind: &'static str) -> Result<(), std::io::Error> {
//!         ENTITIES_PROCESSED.add(1, &[KeyValue::new("kind", kind)]);
//!         Ok(())
//!     }
//! }
//! // exported as `backstage.plugin.catalog.entities.processed` from meter
//! // `backstage-plugin-catalog`; every call of `process` is a span named "process" from tracer
//! // `backstage-plugin-catalog`, with `backstage.plugin.id = "catalog"`, ended automatically,
//! // errors recorded.
//! # futures::executor::block_on(catalog::process("Component")).unwrap();
//! ```
//!
//! - [`macro@backstage_plugin`] / [`macro@backstage_core`] set the scope of a module (or, in
//!   Cargo.toml, of the whole crate); [`macro@span`] runs a function in a span; [`metric!`]
//!   declares instruments. Names are checked and prefixed at compile time.
//! - [`RootMetricsService`] / [`RootTracingService`], made from the app-[`Config`], hand out
//!   the plugin- or core-scoped [`MetricsService`] and [`TracingService`] for names known
//!   only at run time; they apply the same rules and return a typed error.
//! - Instruments and tracers resolve against the global providers when used: install them
//!   with [`set_meter_provider`] / [`set_tracer_provider`] (or the SDK set-up) before or
//!   after, and everything records from then on. [`set_config`] gives the macros' spans and
//!   metrics the app-config (tracer and meter overrides, `capture.endUser`).
//! - [`testing`] (feature `testing`) installs in-memory exporters for your tests.

#![warn(missing_docs)]
// docs.rs builds with every feature and `--cfg docsrs`: each feature-gated item gets its
// "Available on crate feature …" badge
#![cfg_attr(docsrs, feature(doc_cfg))]
// The docs link to every feature's items; a build without some features documents what it
// has (CI checks the links with every feature on).
#![cfg_attr(
    not(all(
        feature = "sdk",
        feature = "otlp",
        feature = "prometheus",
        feature = "server",
        feature = "testing",
        feature = "logs"
    )),
    allow(rustdoc::broken_intra_doc_links)
)]

mod binding;
pub mod catalog;
pub mod config;
mod global;
pub mod health;
#[cfg(feature = "http-client")]
#[cfg_attr(docsrs, doc(cfg(feature = "http-client")))]
pub mod http_client;
mod instrumentation;
#[cfg(feature = "logs")]
pub mod logs;
pub mod metrics;
pub mod naming;
pub mod principal;
#[cfg(feature = "sdk")]
pub mod sdk;
#[cfg(feature = "server")]
pub mod server;
mod site;
mod sync;
#[cfg(feature = "testing")]
pub mod testing;
pub mod tracing;

pub use backstage_telemetry_macros::{backstage_core, backstage_plugin, error_type, metric, span};
pub use catalog::catalog;
pub use config::{Config, ConfigError, MetricView, TelemetrySettings};
pub use global::{set_config, set_meter_provider, set_tracer_provider};
pub use metrics::{MetricsService, RootMetricsService};
pub use opentelemetry::trace::{SpanContext, SpanKind, Status};
pub use opentelemetry::{InstrumentationScope, KeyValue};
pub use principal::{BackstageCredentials, Principal};
#[cfg(feature = "sdk")]
pub use sdk::{
    InitError, SetupProblem, ShutdownError, Telemetry, TelemetryBuilder, init, init_strict,
};
pub use tracing::{
    ActiveSpan, ErrorType, RootTracingService, SpanOptions, SpanOutcome, TracingService,
    current_span,
};

/// What the macro expansions call. Not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use crate::__record_outcome as record_outcome;
    pub use linkme;

    /// The link-time catalog the expansions add to.
    pub mod catalog {
        pub use crate::catalog::link::{DECLARED, Declared};
    }
    pub use crate::metrics::instrument::{__callback, Callback, InstrumentSpec};
    pub use crate::metrics::meter::MeterScope;
    pub use crate::metrics::{Instrument, MetricInfo, MetricKind};
    pub use crate::naming::{Scope, ScopeKind, SpanKind};
    pub use crate::site::ScopeSite;
    pub use crate::tracing::ErrorType;
    pub use crate::tracing::attribute::attribute_value;
    pub use crate::tracing::error_type::{
        Boxed, BoxedErrorType, ERROR_TYPES, ErrorTypeEntry, Registered as RegisteredErrorType,
    };
    pub use crate::tracing::metrics::SiteMetrics;
    pub use crate::tracing::outcome::{Outcome, RecordOutcome};
    pub use crate::tracing::run::{in_span_async, in_span_sync, with_output};
    pub use crate::tracing::tracer::{Attributes, Options, Plain, SpanInit, SpanStart, Started};
    pub use crate::{KeyValue, SpanOptions, metrics};
    pub use core::option::Option::{None, Some};
    pub use opentelemetry::trace::SpanRef;
    pub use std::sync::LazyLock;

    /// Keeps span metrics' exemplars as if `/metrics` were served (`true`), or stops (for
    /// the benchmarks: the same calls with and without exemplars).
    pub fn keep_exemplars(on: bool) {
        crate::tracing::exemplars::reader(on);
    }

    /// The credentials a `#[span(credentials = ...)]` expression names, owned or borrowed.
    #[inline]
    pub fn credentials<C>(credentials: &C) -> &crate::BackstageCredentials
    where
        C: std::borrow::Borrow<crate::BackstageCredentials> + ?Sized,
    {
        credentials.borrow()
    }
}
