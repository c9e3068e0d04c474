//! The statics the macro expansions start spans and build instruments from.

use std::borrow::Cow;
use std::fmt;

use opentelemetry::KeyValue;
use opentelemetry::trace::SpanKind;

use crate::metrics::MeterScope;
use crate::naming::{Scope, ScopeKind};
use crate::tracing::{ScopeTracer, SpanOptions, Started};

/// The tracer and meter of one plugin or core service, as a `static` of the expansion: one
/// per `#[backstage_plugin]` / `#[backstage_core]` module, shared by every `#[span]` and
/// `metric!` inside it, or one per site outside such a module. Both bind to the global
/// providers on first use, and again whenever new ones are installed.
#[doc(hidden)]
pub struct ScopeSite {
    tracer: ScopeTracer,
    meter: MeterScope,
}

impl ScopeSite {
    /// The site of scope `id` of `kind` (checked by the macro).
    pub const fn new(kind: ScopeKind, id: &'static str) -> Self {
        ScopeSite {
            tracer: ScopeTracer::installed(Scope::__checked(kind, id)),
            meter: MeterScope::installed(Scope::__checked(kind, id)),
        }
    }

    pub(crate) const fn meter(&self) -> &MeterScope {
        &self.meter
    }

    /// Starts the span `name` (checked by the macro), or `None` without evaluating
    /// `options` when no SDK is installed.
    #[inline]
    pub fn start<'a>(
        &self,
        name: &'static str,
        options: impl FnOnce() -> SpanOptions<'a>,
    ) -> Option<Started> {
        self.tracer.start(Cow::Borrowed(name), true, options)
    }

    /// Starts the span `name` of a site without options.
    #[inline]
    pub fn start_plain(&self, name: &'static str) -> Option<Started> {
        self.tracer.start_plain(name)
    }

    /// Starts the span `name` of a site that gives only a kind and attributes:
    /// `attributes` gets the scope attribute and returns them all.
    #[inline]
    pub fn start_with<const N: usize>(
        &self,
        name: &'static str,
        kind: SpanKind,
        attributes: impl FnOnce(KeyValue) -> [KeyValue; N],
    ) -> Option<Started> {
        self.tracer.start_with(name, kind, attributes)
    }
}

impl fmt::Debug for ScopeSite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopeSite")
            .field("scope", self.tracer.scope())
            .finish_non_exhaustive()
    }
}
