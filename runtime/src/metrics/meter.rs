//! The meter of a scope, bound to the current global provider and configuration.

use std::fmt;
use std::sync::Arc;

use opentelemetry::InstrumentationScope;
use opentelemetry::metrics::Meter;

use crate::binding::Binding;
use crate::config::Config;
use crate::global::meter_generation;
use crate::instrumentation::meter_scope;
use crate::naming::Scope;

/// The meter of one plugin or core service (or the root meter), bound to the current
/// global provider.
#[doc(hidden)]
pub struct MeterScope {
    /// A plugin's or core service's scope; `None` for the root meter.
    binding: Binding<Option<Scope>, Meter>,
}

impl MeterScope {
    pub(crate) fn fixed(scope: Option<Scope>, config: Arc<Config>) -> Self {
        MeterScope {
            binding: Binding::fixed(scope, config),
        }
    }

    /// The meter of a scope declared with the macros.
    pub const fn installed(scope: Scope) -> Self {
        MeterScope {
            binding: Binding::installed(Some(scope)),
        }
    }

    pub(crate) fn instrumentation(&self) -> InstrumentationScope {
        meter_scope(&self.binding.config(), self.binding.key().as_ref())
    }

    pub(crate) fn meter(&self) -> &Meter {
        self.binding.get(meter_generation(), |config, scope| {
            opentelemetry::global::meter_provider()
                .meter_with_scope(meter_scope(config, scope.as_ref()))
        })
    }
}

impl fmt::Debug for MeterScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MeterScope")
            .field("binding", &self.binding)
            .finish()
    }
}

/// A meter scope shared by a service's instruments, or the static one of a macro site.
///
/// Held as `dyn Scoped`: the compiler proves `Sync` for every instrument `static` that
/// `metric!` declares, field by field, and a trait object ends that proof where the meter
/// scope begins (BENCHMARKS.md, "Compile time").
#[derive(Clone)]
pub(super) enum MeterRef {
    Shared(Arc<dyn Scoped>),
    Static(&'static dyn Scoped),
}

/// A [`MeterScope`] behind a trait object (see [`MeterRef`]).
pub(super) trait Scoped: Send + Sync {
    fn scope(&self) -> &MeterScope;
}

impl Scoped for MeterScope {
    fn scope(&self) -> &MeterScope {
        self
    }
}

impl std::ops::Deref for MeterRef {
    type Target = MeterScope;

    fn deref(&self) -> &MeterScope {
        match self {
            MeterRef::Shared(scope) => scope.scope(),
            MeterRef::Static(scope) => scope.scope(),
        }
    }
}

impl fmt::Debug for MeterRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        MeterScope::fmt(self, f)
    }
}
