//! The instrumentation scope (meter or tracer name, version, schema URL) of each plugin and
//! core service: the default names of docs/design.md ("Naming") or the operator's override
//! from the app-config.

use opentelemetry::InstrumentationScope;

use crate::config::{Config, ScopeOverride};
use crate::global::{intern, plugin_version};
use crate::naming::{Scope, ScopeKind};

/// The root meter's scope: `serviceName`, `serviceVersion`.
pub(crate) fn service_scope(config: &Config) -> InstrumentationScope {
    let builder = InstrumentationScope::builder(intern(config.service_name()));
    match config.service_version() {
        Some(version) => builder.with_version(intern(version)).build(),
        None => builder.build(),
    }
}

/// The meter scope of a plugin (default name or override) or core service (the root
/// meter); `None` is the service itself.
pub(crate) fn meter_scope(config: &Config, scope: Option<&Scope>) -> InstrumentationScope {
    match scope {
        Some(scope) if scope.kind() == ScopeKind::Plugin => {
            scope_with(scope, config.meter_override(scope.id()))
        }
        _ => service_scope(config),
    }
}

/// The tracer scope of a plugin (default name or override) or core service.
pub(crate) fn tracer_scope(config: &Config, scope: &Scope) -> InstrumentationScope {
    match scope.kind() {
        ScopeKind::Plugin => scope_with(scope, config.tracer_override(scope.id())),
        ScopeKind::Core => scope_with(scope, None),
    }
}

/// The scope's default name (`backstage-plugin-{id}`) and version (a plugin's: its
/// declaring crate's), or the operator's override.
fn scope_with(scope: &Scope, over: Option<&ScopeOverride>) -> InstrumentationScope {
    let over = over.cloned().unwrap_or_default();
    let name = over
        .name
        .unwrap_or_else(|| scope.instrumentation_scope_name());
    let mut builder = InstrumentationScope::builder(intern(&name));
    if let Some(version) = over.version {
        builder = builder.with_version(intern(&version));
    } else if scope.kind() == ScopeKind::Plugin
        && let Some(version) = plugin_version(scope.id())
    {
        builder = builder.with_version(version);
    }
    if let Some(schema_url) = over.schema_url {
        builder = builder.with_schema_url(intern(&schema_url));
    }
    builder.build()
}
