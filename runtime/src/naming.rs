//! The naming rules (docs/design.md, "Naming") and the scope of a plugin or core service.
//!
//! These are the same functions the macros run at compile time, so a name accepted there is
//! accepted here and the other way round.
//!
//! ```
//! use backstage_telemetry::naming::Scope;
//!
//! let scope = Scope::plugin("tech-insights").unwrap();
//! assert_eq!(scope.metric_name("checks.run").unwrap(), "backstage.plugin.tech-insights.checks.run");
//! assert_eq!(scope.instrumentation_scope_name(), "backstage-plugin-tech-insights");
//! assert!(Scope::plugin("TechInsights").is_err());
//! ```

use std::borrow::Cow;
use std::fmt;

pub use backstage_telemetry_naming::{
    MAX_ID_LEN, MAX_METRIC_NAME_LEN, MAX_SPAN_NAME_LEN, MAX_UNIT_LEN, MetricKind, NameError,
    Problem, QUOTED_PREFIX_LEN, ROOT_NAMESPACE, ScopeKind, Subject, already_registered,
    exported_metric_name, instrumentation_scope_name, metric_prefix, validate_attribute_key,
    validate_boundaries, validate_core_id, validate_metric_name, validate_plugin_id,
    validate_scope_id, validate_span_name, validate_unit,
};
use opentelemetry::{Key, KeyValue};

/// Attribute naming the plugin a span belongs to.
pub const PLUGIN_ID_ATTRIBUTE: &str = "backstage.plugin.id";
/// Attribute naming the core service a span belongs to.
pub const CORE_ID_ATTRIBUTE: &str = "backstage.core.id";

/// A plugin or core service: what prefixes metric names and names meters and tracers.
///
/// ```
/// use backstage_telemetry::naming::{Scope, ScopeKind};
///
/// let scope = Scope::core("database").unwrap();
/// assert_eq!(scope.kind(), ScopeKind::Core);
/// assert_eq!(scope.id(), "database");
/// assert_eq!(scope.metric_name("connections.active").unwrap(), "backstage.core.database.connections.active");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Scope {
    kind: ScopeKind,
    id: Cow<'static, str>,
}

impl Scope {
    /// The scope of plugin `id`, if `id` is a valid plugin id.
    pub fn plugin(id: impl Into<Cow<'static, str>>) -> Result<Self, NameError> {
        Self::new(ScopeKind::Plugin, id)
    }

    /// The scope of core service `id`, if `id` is a valid core service id.
    pub fn core(id: impl Into<Cow<'static, str>>) -> Result<Self, NameError> {
        Self::new(ScopeKind::Core, id)
    }

    /// The scope of kind `kind` and id `id`, if `id` is valid.
    pub fn new(kind: ScopeKind, id: impl Into<Cow<'static, str>>) -> Result<Self, NameError> {
        let id = id.into();
        validate_scope_id(kind, &id)?;
        Ok(Scope { kind, id })
    }

    /// A scope whose id was checked at compile time by the macros.
    #[doc(hidden)]
    pub const fn __checked(kind: ScopeKind, id: &'static str) -> Self {
        Scope {
            kind,
            id: Cow::Borrowed(id),
        }
    }

    /// Plugin or core service.
    pub fn kind(&self) -> ScopeKind {
        self.kind
    }

    /// The plugin or core service id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The exported name of metric `authored`: `backstage.{plugin|core}.{id}.{authored}`.
    pub fn metric_name(&self, authored: &str) -> Result<String, NameError> {
        exported_metric_name(self.kind, &self.id, authored)
    }

    /// The default name of this scope's meter and tracer: `backstage-plugin-{id}` or
    /// `backstage-core-{id}`.
    pub fn instrumentation_scope_name(&self) -> String {
        instrumentation_scope_name(self.kind, &self.id)
    }

    /// The attribute every span of this scope carries: `backstage.plugin.id = {id}` or
    /// `backstage.core.id = {id}`.
    pub fn id_attribute(&self) -> KeyValue {
        let key = match self.kind {
            ScopeKind::Plugin => PLUGIN_ID_ATTRIBUTE,
            ScopeKind::Core => CORE_ID_ATTRIBUTE,
        };
        KeyValue::new(Key::from_static_str(key), self.id.clone())
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind.segment(), self.id)
    }
}
