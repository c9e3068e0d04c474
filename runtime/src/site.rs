//! The statics the macro expansions start spans and build instruments from.

use std::fmt;
use std::sync::OnceLock;

use opentelemetry::KeyValue;
use opentelemetry::trace::SpanKind;

use crate::metrics::MeterScope;
use crate::naming::{self, Scope, ScopeKind};
use crate::tracing::{
    BoundTracer, SPAN_DURATION_METRIC, ScopeTracer, SpanMetrics, SpanOptions, SpanTimer, Started,
};

/// The tracer and meter of one plugin or core service, as a `static` of the expansion: one
/// per `#[backstage_plugin]` / `#[backstage_core]` module, shared by every `#[span]` and
/// `metric!` inside it, or one per site outside such a module. Both bind to the global
/// providers on first use, and again whenever new ones are installed.
///
/// Each start takes `metrics`: whether the site asked for span metrics (`#[span(metrics)]`);
/// the app-config decides with it whether the call is timed ([`Config::span_metrics_enabled`]).
///
/// [`Config::span_metrics_enabled`]: crate::Config::span_metrics_enabled
#[doc(hidden)]
pub struct ScopeSite {
    tracer: ScopeTracer,
    meter: MeterScope,
    /// `backstage.{kind}.{id}.span.duration`, made when first needed.
    span_duration: OnceLock<SpanMetrics>,
}

impl ScopeSite {
    /// The site of scope `id` of `kind` (checked by the macro).
    pub const fn new(kind: ScopeKind, id: &'static str) -> Self {
        ScopeSite {
            tracer: ScopeTracer::installed(Scope::__checked(kind, id)),
            meter: MeterScope::installed(Scope::__checked(kind, id)),
            span_duration: OnceLock::new(),
        }
    }

    pub(crate) const fn meter(&self) -> &MeterScope {
        &self.meter
    }

    pub(crate) fn scope(&self) -> &Scope {
        self.tracer.scope()
    }

    /// Starts the span `name` (checked by the macro) of `kind`, or `None` without
    /// evaluating `options` when no SDK is installed (and no span metrics are on).
    #[inline]
    pub fn start<'a>(
        &'static self,
        name: &'static str,
        kind: SpanKind,
        metrics: bool,
        options: impl FnOnce() -> SpanOptions<'a>,
    ) -> Option<Started> {
        let bound = self.tracer.bound();
        if bound.idle(metrics) {
            return None;
        }
        self.timed(bound, metrics, name, &kind.clone(), || {
            self.tracer.start_bound(bound, |bound| {
                self.tracer.start_checked(bound, name, kind, options)
            })
        })
    }

    /// Starts the span `name` of a site without options.
    #[inline]
    pub fn start_plain(&'static self, name: &'static str, metrics: bool) -> Option<Started> {
        let bound = self.tracer.bound();
        if bound.idle(metrics) {
            return None;
        }
        self.start_plain_active(bound, name, metrics)
    }

    #[inline(never)]
    fn start_plain_active(
        &'static self,
        bound: &BoundTracer,
        name: &'static str,
        metrics: bool,
    ) -> Option<Started> {
        self.timed(bound, metrics, name, &SpanKind::Internal, || {
            self.tracer.start_plain(bound, name)
        })
    }

    /// Starts the span `name` of a site that gives only a kind and attributes:
    /// `attributes` gets the scope attribute and returns them all.
    #[inline]
    pub fn start_with<const N: usize>(
        &'static self,
        name: &'static str,
        kind: SpanKind,
        metrics: bool,
        attributes: impl FnOnce(KeyValue) -> [KeyValue; N],
    ) -> Option<Started> {
        let bound = self.tracer.bound();
        if bound.idle(metrics) {
            return None;
        }
        self.timed(bound, metrics, name, &kind.clone(), || {
            self.tracer.start_with(bound, name, kind, attributes)
        })
    }

    /// What `start` starts, timed from before it if span metrics are on for this site.
    #[inline]
    fn timed(
        &'static self,
        bound: &BoundTracer,
        metrics: bool,
        name: &'static str,
        kind: &SpanKind,
        start: impl FnOnce() -> Option<Started>,
    ) -> Option<Started> {
        if !bound.span_metrics[usize::from(metrics)] {
            return start();
        }
        let timer = Some(self.start_timer(name, kind));
        match start() {
            Some(mut started) => {
                started.timer = timer;
                Some(started)
            }
            None => Some(Started {
                cx: opentelemetry::Context::current(),
                recording: false,
                timer,
            }),
        }
    }

    #[inline(never)]
    fn start_timer(&'static self, name: &'static str, kind: &SpanKind) -> SpanTimer {
        let metrics = self.span_duration.get_or_init(|| {
            let scope = self.scope();
            let name = naming::metric_prefix(scope.kind(), scope.id()) + SPAN_DURATION_METRIC;
            SpanMetrics::new(&self.meter, name)
        });
        metrics.start(name, kind.clone())
    }
}

impl fmt::Debug for ScopeSite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopeSite")
            .field("scope", self.tracer.scope())
            .finish_non_exhaustive()
    }
}
