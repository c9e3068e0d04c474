//! The naming rules (docs/design.md, "Naming") and the scope of a plugin or core service.
//!
//! These are the same rules the macros check at compile time, so a name accepted there is
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
    MetricKind, NameError, PLUGIN_ID_ATTRIBUTE, Problem, ROOT_NAMESPACE, Scope, ScopeKind,
    SpanKind, Subject, validate_attribute_key, validate_boundaries, validate_metric_name,
    validate_span_name, validate_unit,
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

/// `kind` as OpenTelemetry's span kind.
pub(crate) fn otel_kind(kind: SpanKind) -> opentelemetry::trace::SpanKind {
    use opentelemetry::trace::SpanKind as Otel;
    match kind {
        SpanKind::Internal => Otel::Internal,
        SpanKind::Server => Otel::Server,
        SpanKind::Client => Otel::Client,
        SpanKind::Producer => Otel::Producer,
        SpanKind::Consumer => Otel::Consumer,
    }
}
