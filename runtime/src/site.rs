//! The statics the macro expansions start spans and build instruments from: the glue between
//! a `#[backstage_plugin]` module (or a lone `#[span]` / `metric!`) and the runtime.

use std::borrow::Cow;
use std::fmt;
use std::sync::OnceLock;

use crate::metrics::MeterScope;
use crate::naming::{Scope, ScopeKind};
use crate::tracing::{BoundTracer, ScopeTracer, SiteMetrics, SpanInit, SpanMetrics, Started};

/// The tracer and meter of one plugin or core service, as a `static` of the expansion: one
/// per `#[backstage_plugin]` / `#[backstage_core]` module, shared by every `#[span]` and
/// `metric!` inside it, or one per site outside such a module. Both bind to the global
/// providers on first use, and again whenever new ones are installed.
#[doc(hidden)]
pub struct ScopeSite {
    tracer: ScopeTracer,
    /// The scope's meter: a `static` of its own, which the `metric!` instruments of the
    /// scope are made from (`__BT_METER`).
    meter: &'static MeterScope,
    /// `backstage.{kind}.{id}.span.duration`, made when first needed.
    span_duration: OnceLock<SpanMetrics>,
    /// The series of each `#[span]` of the scope, once found.
    sites: &'static [SiteMetrics],
}

impl ScopeSite {
    /// The site of scope `id` of `kind` (checked by the macro), with the scope's `meter`,
    /// for `#[span]` sites with one `SiteMetrics` each in `sites`.
    pub const fn new(
        kind: ScopeKind,
        id: &'static str,
        meter: &'static MeterScope,
        sites: &'static [SiteMetrics],
    ) -> Self {
        ScopeSite {
            tracer: ScopeTracer::installed(Scope::__checked(kind, id)),
            meter,
            span_duration: OnceLock::new(),
            sites,
        }
    }

    /// Starts a call of the `#[span]` site `site` (its index among the scope's span sites)
    /// named `name`: its span, made from `init` only if a tracer records, and its timer if
    /// the site records span metrics (`metrics`: whether it asks for them,
    /// `#[span(metrics)]`; the app-config decides). `None`, with nothing evaluated, when
    /// there is nothing to do.
    #[inline]
    pub fn start<I: SpanInit>(
        &'static self,
        site: usize,
        metrics: bool,
        name: &'static str,
        init: I,
    ) -> Option<Started> {
        let bound = self.tracer.bound();
        if bound.idle(bound.timed.timed(metrics)) {
            return None;
        }
        Some(self.active(bound, metrics, site, name, init))
    }

    /// A call that is not idle, out of line (the function a `#[span]` expands to keeps a
    /// small frame; `metrics` is read again here rather than kept in a register there).
    #[inline(never)]
    fn active<I: SpanInit>(
        &'static self,
        bound: &BoundTracer,
        metrics: bool,
        site: usize,
        name: &'static str,
        init: I,
    ) -> Started {
        if bound.timed.timed(metrics) {
            self.timed(bound, site, name, init)
        } else {
            self.tracer.open(bound, Cow::Borrowed(name), init)
        }
    }

    /// A call of a site with span metrics: timed from before its span (if a tracer records)
    /// starts. Inside [`ScopeSite::active`], itself out of line, so the function a
    /// `#[span]` expands to keeps its small frame either way.
    #[inline]
    fn timed<I: SpanInit>(
        &'static self,
        bound: &BoundTracer,
        site: usize,
        name: &'static str,
        init: I,
    ) -> Started {
        // the expansion gives each site of the scope its own index
        let timer = self
            .sites
            .get(site)
            .map(|series| series.timer(|| self.span_metrics(), name, init.kind()));
        debug_assert!(
            timer.is_some(),
            "span site {site} of {:?}",
            self.tracer.scope()
        );
        let mut started = self.tracer.open(bound, Cow::Borrowed(name), init);
        started.timer = timer;
        started
    }

    /// Binds the span-metric series of every site of the scope that records them under the
    /// installed configuration and providers, as their first calls would (see
    /// [`SiteMetrics::bind`]): `names` and `packed` (`SpanKind::pack_site`) describe the
    /// sites, in the order of their indexes. A code that does not unpack is skipped (the
    /// catalog reports it).
    #[cfg(feature = "sdk")]
    pub(crate) fn bind_sites(&'static self, names: &[&'static str], packed: &[u32]) {
        let bound = self.tracer.bound();
        for ((series, name), code) in self.sites.iter().zip(names).zip(packed) {
            if let Some((_, kind, metrics)) = crate::naming::SpanKind::unpack_site(*code)
                && bound.timed.timed(metrics)
            {
                series.bind(|| self.span_metrics(), name, kind);
            }
        }
    }

    /// `backstage.{kind}.{id}.span.duration`, made the first time a site of this scope is
    /// timed.
    fn span_metrics(&'static self) -> &'static SpanMetrics {
        self.span_duration
            .get_or_init(|| SpanMetrics::new(self.meter, self.tracer.scope()))
    }
}

impl fmt::Debug for ScopeSite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopeSite")
            .field("scope", self.tracer.scope())
            .finish_non_exhaustive()
    }
}
