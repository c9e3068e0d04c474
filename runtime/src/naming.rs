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

pub use backstage_telemetry_naming::{
    CORE_ID_ATTRIBUTE, MAX_ID_LEN, MAX_METRIC_NAME_LEN, MAX_SPAN_NAME_LEN, MAX_UNIT_LEN,
    MetricKind, NameError, PLUGIN_ID_ATTRIBUTE, Problem, QUOTED_PREFIX_LEN, ROOT_NAMESPACE, Scope,
    ScopeKind, Subject, already_registered, exported_metric_name, instrumentation_scope_name,
    metric_prefix, validate_attribute_key, validate_boundaries, validate_core_id,
    validate_metric_name, validate_plugin_id, validate_scope_id, validate_span_name, validate_unit,
};
use opentelemetry::{Key, KeyValue};

/// The attribute every span of `scope` carries: `backstage.plugin.id = {id}` or
/// `backstage.core.id = {id}`.
pub(crate) fn id_attribute(scope: &Scope) -> KeyValue {
    KeyValue::new(
        Key::from_static_str(scope.id_attribute_key()),
        scope.id_cow().clone(),
    )
}
