//! The statics the macro expansions start spans and build instruments from.

use std::fmt;
use std::sync::OnceLock;

use opentelemetry::KeyValue;
use opentelemetry::trace::SpanKind;

use crate::metrics::MeterScope;
use crate::naming::{self, Scope, ScopeKind};
use crate::tracing::{
    BoundTracer, SPAN_DURATION_METRIC, ScopeTracer, SiteMetrics, SpanMetrics, SpanOptions, Started,
};

/// The tracer and meter of one plugin or core service, as a `static` of the expansion: one
/// per `#[backstage_plugin]` / `#[backstage_core]` module, shared by every `#[span]` and
/// `metric!` inside it, or one per site outside such a module. Both bind to the global
/// providers on first use, and again whenever new ones are installed.
///
/// Each start takes `metrics`: whether the site asked for span metrics (`#[span(metrics)]`);
/// the app-config decides with it whether the call is timed ([`Config::span_metrics_enabled`]).
/// And `site`: the index of the `#[span]` among the scope's span sites, where its
/// span-metrics series are kept once found.
///
/// [`Config::span_metrics_enabled`]: crate::Config::span_metrics_enabled
#[doc(hidden)]
pub struct ScopeSite {
    tracer: ScopeTracer,
    meter: MeterScope,
    /// `backstage.{kind}.{id}.span.duration`, made when first needed.
    span_duration: OnceLock<SpanMetrics>,
    /// The series of each `#[span]` of the scope, once found.
    sites: &'static [SiteMetrics],
}

impl ScopeSite {
    /// The site of scope `id` of `kind` (checked by the macro), for `#[span]` sites with
    /// one `SiteMetrics` each in `sites`.
    pub const fn new(kind: ScopeKind, id: &'static str, sites: &'static [SiteMetrics]) -> Self {
        ScopeSite {
            tracer: ScopeTracer::installed(Scope::__checked(kind, id)),
            meter: MeterScope::installed(Scope::__checked(kind, id)),
            span_duration: OnceLock::new(),
            sites,
        }
    }

    pub(crate) const fn meter(&self) -> &MeterScope {
        &self.meter
    }

    pub(crate) fn scope(&self) -> &Scope {
        self.tracer.scope()
    }

    /// `backstage.{kind}.{id}.span.duration`, made the first time a site of this scope is
    /// timed.
    fn span_metrics(&'static self) -> &'static SpanMetrics {
        self.span_duration.get_or_init(|| {
            let scope = self.scope();
            let name = naming::metric_prefix(scope.kind(), scope.id()) + SPAN_DURATION_METRIC;
            SpanMetrics::new(&self.meter, name)
        })
    }

    /// Starts the span `name` (checked by the macro) of `kind`, or `None` without
    /// evaluating `options` when no SDK is installed (and no span metrics are on).
    #[inline]
    pub fn start<'a>(
        &'static self,
        name: &'static str,
        kind: SpanKind,
        metrics: bool,
        site: usize,
        options: impl FnOnce() -> SpanOptions<'a>,
    ) -> Option<Started> {
        let bound = self.tracer.bound();
        if bound.idle(metrics) {
            return None;
        }
        let timer_kind = kind.clone();
        self.start_site(bound, name, &timer_kind, metrics, site, |bound| {
            self.tracer.start_checked(bound, name, kind, options)
        })
    }

    /// Starts the span `name` of a site without options.
    #[inline]
    pub fn start_plain(
        &'static self,
        name: &'static str,
        metrics: bool,
        site: usize,
    ) -> Option<Started> {
        let bound = self.tracer.bound();
        if bound.idle(metrics) {
            return None;
        }
        self.start_plain_active(bound, name, metrics, site)
    }

    #[inline(never)]
    fn start_plain_active(
        &'static self,
        bound: &BoundTracer,
        name: &'static str,
        metrics: bool,
        site: usize,
    ) -> Option<Started> {
        self.start_site(bound, name, &SpanKind::Internal, metrics, site, |bound| {
            self.tracer.start_plain_recording(bound, name)
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
        site: usize,
        attributes: impl FnOnce(KeyValue) -> [KeyValue; N],
    ) -> Option<Started> {
        let bound = self.tracer.bound();
        if bound.idle(metrics) {
            return None;
        }
        let timer_kind = kind.clone();
        self.start_site(bound, name, &timer_kind, metrics, site, |bound| {
            self.tracer
                .start_with_recording(bound, name, kind, attributes)
        })
    }

    /// What `start` starts for a site of `kind` that is not idle: timed when span metrics
    /// are on for it, else the span alone (if a tracer records).
    #[inline]
    fn start_site(
        &'static self,
        bound: &BoundTracer,
        name: &'static str,
        kind: &SpanKind,
        metrics: bool,
        site: usize,
        start: impl FnOnce(&BoundTracer) -> Started,
    ) -> Option<Started> {
        if bound.span_metrics[usize::from(metrics)] {
            Some(self.start_timed(bound, name, kind, site, start))
        } else {
            self.tracer.start_bound(bound, start)
        }
    }

    /// What `start` starts (its span, if a tracer records), timed from before it: the site
    /// has span metrics.
    #[inline(never)]
    fn start_timed(
        &'static self,
        bound: &BoundTracer,
        name: &'static str,
        kind: &SpanKind,
        site: usize,
        start: impl FnOnce(&BoundTracer) -> Started,
    ) -> Started {
        // the expansion gives each site of the scope its own index
        let timer = self
            .sites
            .get(site)
            .map(|site| site.start(|| self.span_metrics(), name, kind));
        debug_assert!(timer.is_some(), "span site {site} of {:?}", self.scope());
        let mut started = if bound.recording {
            start(bound)
        } else {
            self.tracer.untraced()
        };
        started.timer = timer;
        started
    }
}

impl fmt::Debug for ScopeSite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopeSite")
            .field("scope", self.tracer.scope())
            .finish_non_exhaustive()
    }
}
