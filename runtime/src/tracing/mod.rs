//! Tracing (docs/design.md, "Tracing", "Principal"): [`RootTracingService`] and the plugin- or core-scoped
//! [`TracingService`] that runs work in auto-ending spans.
//!
//! ```
//! use backstage_telemetry::{Config, KeyValue, RootTracingService, SpanOptions};
//!
//! let tracing = RootTracingService::from_config(&Config::default()).for_plugin("todos")?;
//! let result: Result<u32, std::num::ParseIntError> =
//!     tracing.start_active_span("parse-todo", SpanOptions::new(), |span| {
//!         span.set_attribute(KeyValue::new("todo.category", "personal"));
//!         "42".parse::<u32>()
//!     });
//! assert_eq!(result, Ok(42));
//! # Ok::<(), backstage_telemetry::naming::NameError>(())
//! ```

pub(crate) mod attribute;
pub(crate) mod error_type;
// read by `/metrics` only (feature `prometheus`)
#[cfg_attr(not(feature = "prometheus"), allow(dead_code))]
pub(crate) mod exemplars;
pub(crate) mod metrics;
mod options;
pub(crate) mod outcome;
pub(crate) mod run;
pub(crate) mod tracer;
#[cfg(feature = "sdk")]
pub(crate) mod unsampled;

use std::borrow::Cow;
use std::future::Future;
use std::sync::Arc;

use opentelemetry::InstrumentationScope;

use crate::config::Config;
use crate::naming::{NameError, Scope};
pub use attribute::IntoAttributeValue;
pub use error_type::BOXED_ERROR_TYPE;
pub use metrics::{
    MAX_ERROR_TYPES, OTHER_ERROR_TYPE, OUTCOME_ATTRIBUTE, SPAN_DURATION_DESCRIPTION,
    SPAN_DURATION_METRIC, SPAN_DURATION_UNIT, SPAN_KIND_ATTRIBUTE, SPAN_NAME_ATTRIBUTE,
};
pub(crate) use metrics::{SiteMetrics, SpanMetrics, span_duration_boundaries, span_duration_name};
pub use options::{ActiveSpan, SpanOptions, current_span};
pub use outcome::{ErrorType, SpanOutcome};
pub use run::InSpan;
use run::{in_span_async, in_span_sync};
#[cfg_attr(not(any(feature = "logs", feature = "sdk")), allow(unused_imports))]
pub(crate) use tracer::ActiveScope;
pub(crate) use tracer::{BoundTracer, ScopeTracer, SpanInit, Started};

/// Attribute holding the low-cardinality type of an error (semantic conventions).
pub const ERROR_TYPE_ATTRIBUTE: &str = "error.type";
/// Attribute set to `true` on a span whose future was dropped before it completed.
pub const CANCELLED_ATTRIBUTE: &str = "backstage.span.cancelled";
/// Attribute set to `true` on a span whose name was invalid (empty) and replaced.
pub const INVALID_NAME_ATTRIBUTE: &str = "backstage.span.invalid_name";
/// The name given to a span whose name was invalid.
pub const UNNAMED_SPAN: &str = "unnamed";
/// Attribute counting the [`SpanOptions`] attributes dropped for an invalid key.
pub const INVALID_ATTRIBUTE_KEYS_ATTRIBUTE: &str = "backstage.span.invalid_attribute_keys";

/// The root of tracing: made once from the app-config, it hands out the tracer of every
/// plugin and core service.
///
/// ```
/// use backstage_telemetry::{Config, RootTracingService};
///
/// let root = RootTracingService::from_config(&Config::default());
/// assert_eq!(root.for_plugin("catalog").unwrap().instrumentation_scope().name(), "backstage-plugin-catalog");
/// assert_eq!(root.for_core("scheduler").unwrap().instrumentation_scope().name(), "backstage-core-scheduler");
/// ```
#[derive(Clone, Debug)]
pub struct RootTracingService {
    config: Arc<Config>,
}

impl RootTracingService {
    /// The root tracing service for `config` (`backend.tracing.*`).
    pub fn from_config(config: &Config) -> Self {
        RootTracingService {
            config: Arc::new(config.clone()),
        }
    }

    /// The tracing service of plugin `plugin_id`: tracer `backstage-plugin-{plugin_id}`
    /// unless `backend.tracing.plugin.{plugin_id}.tracer` says otherwise; every span carries
    /// `backstage.plugin.id = {plugin_id}`.
    pub fn for_plugin(&self, plugin_id: &str) -> Result<TracingService, NameError> {
        Ok(self.service(Scope::plugin(plugin_id.to_owned())?))
    }

    /// The tracing service of core service `service_id`: tracer
    /// `backstage-core-{service_id}`; every span carries `backstage.core.id = {service_id}`.
    pub fn for_core(&self, service_id: &str) -> Result<TracingService, NameError> {
        Ok(self.service(Scope::core(service_id.to_owned())?))
    }

    fn service(&self, scope: Scope) -> TracingService {
        TracingService {
            tracer: Arc::new(ScopeTracer::fixed(scope, self.config.clone())),
        }
    }
}

/// The tracing of one plugin or core service: runs closures and futures in spans that are
/// active for their body, ended exactly once, and record errors, panics and cancellation.
///
/// Cloning is cheap; clones share the tracer.
#[derive(Clone, Debug)]
pub struct TracingService {
    tracer: Arc<ScopeTracer>,
}

impl TracingService {
    /// The plugin or core service these spans belong to.
    pub fn scope(&self) -> &Scope {
        self.tracer.scope()
    }

    /// The instrumentation scope (tracer name, version, schema URL) of this service's tracer.
    pub fn instrumentation_scope(&self) -> InstrumentationScope {
        self.tracer.instrumentation_scope()
    }

    /// Runs `f` in a new span named `name`, active while `f` runs, and returns what `f`
    /// returns.
    ///
    /// The span is a child of the active span, carries `backstage.plugin.id` (or
    /// `backstage.core.id`), the options' attributes and principal, and ends when `f`
    /// returns. An `Err` is recorded (exception event, `error.type`, status ERROR with the
    /// message) and returned unchanged; a panic is recorded and continues.
    ///
    /// ```
    /// use backstage_telemetry::{Config, RootTracingService, SpanKind, SpanOptions, Status};
    ///
    /// let tracing = RootTracingService::from_config(&Config::default()).for_plugin("catalog")?;
    /// tracing.start_active_span("refresh-entity", SpanOptions::new().with_kind(SpanKind::Consumer), |span| {
    ///     span.set_status(Status::error("entity is deprecated"));
    /// });
    /// # Ok::<(), backstage_telemetry::naming::NameError>(())
    /// ```
    pub fn start_active_span<R, F>(
        &self,
        name: impl Into<Cow<'static, str>>,
        options: SpanOptions<'_>,
        f: F,
    ) -> R
    where
        F: FnOnce(ActiveSpan) -> R,
        R: SpanOutcome,
    {
        let bound = self.tracer.bound();
        let Some(started) = self.tracer.start(bound, name.into(), options) else {
            return f(ActiveSpan::current());
        };
        let active = ActiveSpan {
            cx: started.cx.clone(),
        };
        in_span_sync(Some(started), || f(active), R::RECORD)
    }

    /// Runs the future `f` returns in a new span, active across every `.await` of it, and
    /// resolves to its output. Same recording as [`start_active_span`](Self::start_active_span);
    /// if the future is dropped before it completes, the span is ended and marked
    /// `backstage.span.cancelled = true`.
    ///
    /// ```
    /// use backstage_telemetry::{Config, RootTracingService, SpanOptions};
    ///
    /// let tracing = RootTracingService::from_config(&Config::default()).for_plugin("todos")?;
    /// let todos = futures::executor::block_on(tracing.start_active_span_async(
    ///     "list-todos",
    ///     SpanOptions::new(),
    ///     |_span| async { Ok::<_, std::io::Error>(vec!["write docs"]) },
    /// ));
    /// assert_eq!(todos.unwrap(), ["write docs"]);
    /// # Ok::<(), backstage_telemetry::naming::NameError>(())
    /// ```
    pub fn start_active_span_async<F, Fut>(
        &self,
        name: impl Into<Cow<'static, str>>,
        options: SpanOptions<'_>,
        f: F,
    ) -> InSpan<Fut>
    where
        F: FnOnce(ActiveSpan) -> Fut,
        Fut: Future,
        Fut::Output: SpanOutcome,
    {
        let bound = self.tracer.bound();
        match self.tracer.start(bound, name.into(), options) {
            Some(started) => {
                let cx = started.cx.clone();
                let future = {
                    let _active = cx.clone().attach();
                    f(ActiveSpan { cx })
                };
                in_span_async(Some(started), future, Fut::Output::RECORD)
            }
            None => in_span_async(None, f(ActiveSpan::current()), Fut::Output::RECORD),
        }
    }
}
