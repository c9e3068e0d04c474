//! Pieces of the OpenTelemetry SDK pipeline this crate installs.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use opentelemetry::trace::Span as _;
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{Span, SpanData, SpanProcessor};

use super::modules::SpanEdit;
use crate::global::SCOPE_IN_CONTEXT;
use crate::naming::ScopeKind;
use crate::tracing::ActiveScope;

/// Wraps a span processor so that every span it receives has each attribute key once,
/// with the value set last, and carries the plugin (or core service) it ran in.
///
/// The OpenTelemetry specification says that setting an attribute again replaces its value;
/// the Rust SDK appends instead, so a body that re-attributes a span
/// (`backstage.plugin.id = "other-plugin"`) would export the key twice. And a span started
/// inside a plugin's span by another tracer, such as a `tracing` span through
/// tracing-opentelemetry, gets that plugin's `backstage.plugin.id` (or `backstage.core.id`)
/// unless it has one of its own. Every pipeline this crate installs is wrapped in this.
///
/// ```
/// use backstage_telemetry::sdk::UniqueAttributes;
/// use opentelemetry_sdk::trace::{SdkTracerProvider, SimpleSpanProcessor};
/// # #[derive(Debug)]
/// # struct MyExporter;
/// # impl opentelemetry_sdk::trace::SpanExporter for MyExporter {
/// #     async fn export(&self, _: Vec<opentelemetry_sdk::trace::SpanData>) -> opentelemetry_sdk::error::OTelSdkResult { Ok(()) }
/// # }
///
/// let provider = SdkTracerProvider::builder()
///     .with_span_processor(UniqueAttributes::new(SimpleSpanProcessor::new(MyExporter)))
///     .build();
/// ```
pub struct UniqueAttributes<P> {
    inner: P,
    /// The telemetry modules' edits, applied last (`Extensions::edit_spans`).
    edits: Arc<[SpanEdit]>,
}

impl<P: fmt::Debug> fmt::Debug for UniqueAttributes<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UniqueAttributes")
            .field("inner", &self.inner)
            .field("edits", &self.edits.len())
            .finish()
    }
}

impl<P: SpanProcessor> UniqueAttributes<P> {
    /// Wraps `inner`. From now on spans carry their scope in their context, so that spans
    /// started inside them can inherit it.
    pub fn new(inner: P) -> Self {
        Self::with_edits(inner, Arc::new([]))
    }

    /// Wraps `inner`, editing each span with `edits` after the attributes are made unique.
    pub(super) fn with_edits(inner: P, edits: Arc<[SpanEdit]>) -> Self {
        SCOPE_IN_CONTEXT.store(true, Ordering::Relaxed);
        UniqueAttributes { inner, edits }
    }
}

/// Where a span notes, at its start, the scope of the span it started in.
const INHERITED_PLUGIN: &str = "backstage.inherited.plugin.id";
const INHERITED_CORE: &str = "backstage.inherited.core.id";

impl<P: SpanProcessor> SpanProcessor for UniqueAttributes<P> {
    fn on_start(&self, span: &mut Span, cx: &Context) {
        if let Some(ActiveScope(scope)) = cx.get::<ActiveScope>() {
            let key = match scope.kind() {
                ScopeKind::Plugin => INHERITED_PLUGIN,
                ScopeKind::Core => INHERITED_CORE,
            };
            span.set_attribute(KeyValue::new(key, crate::naming::id_attribute(scope).value));
        }
        self.inner.on_start(span, cx);
    }

    fn on_end(&self, mut span: SpanData) {
        inherit_scope(&mut span.attributes);
        keep_last_of_each_key(&mut span.attributes);
        for edit in self.edits.iter() {
            // an edit that panics may have left a secret in place: the span is not exported
            if catch_unwind(AssertUnwindSafe(|| edit(&mut span))).is_err() {
                return;
            }
        }
        self.inner.on_end(span);
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// Turns the noted scope into `backstage.plugin.id` / `backstage.core.id` if the span has
/// neither (a span of ours has its own), and drops the note.
fn inherit_scope(attributes: &mut Vec<KeyValue>) {
    let Some(noted) = attributes
        .iter()
        .position(|kv| kv.key.as_str() == INHERITED_PLUGIN || kv.key.as_str() == INHERITED_CORE)
    else {
        return;
    };
    let has_own = attributes.iter().any(|kv| {
        kv.key.as_str() == crate::naming::PLUGIN_ID_ATTRIBUTE
            || kv.key.as_str() == crate::naming::CORE_ID_ATTRIBUTE
    });
    let note = attributes.remove(noted);
    if !has_own {
        let key = if note.key.as_str() == INHERITED_PLUGIN {
            crate::naming::PLUGIN_ID_ATTRIBUTE
        } else {
            crate::naming::CORE_ID_ATTRIBUTE
        };
        attributes.insert(noted, KeyValue::new(key, note.value));
    }
}

/// Removes every attribute whose key appears again later, keeping the order of the rest.
fn keep_last_of_each_key(attributes: &mut Vec<opentelemetry::KeyValue>) {
    // Spans have few attributes (128 at most by default): a quadratic scan beats hashing,
    // and the common case (no duplicates) allocates nothing.
    let duplicated = |i: usize, attributes: &[opentelemetry::KeyValue]| {
        attributes[i + 1..]
            .iter()
            .any(|later| later.key == attributes[i].key)
    };
    if !(0..attributes.len()).any(|i| duplicated(i, attributes)) {
        return;
    }
    let mut index = 0;
    let snapshot = attributes.clone();
    attributes.retain(|_| {
        let keep = !duplicated(index, &snapshot);
        index += 1;
        keep
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::KeyValue;

    #[test]
    fn keeps_the_last_value_of_each_key() {
        let mut attributes = vec![
            KeyValue::new("backstage.plugin.id", "catalog"),
            KeyValue::new("a", 1),
            KeyValue::new("backstage.plugin.id", "other"),
            KeyValue::new("b", 2),
            KeyValue::new("a", 3),
        ];
        keep_last_of_each_key(&mut attributes);
        assert_eq!(
            attributes,
            vec![
                KeyValue::new("backstage.plugin.id", "other"),
                KeyValue::new("b", 2),
                KeyValue::new("a", 3),
            ]
        );
        let mut unique = vec![KeyValue::new("a", 1), KeyValue::new("b", 2)];
        keep_last_of_each_key(&mut unique);
        assert_eq!(unique, vec![KeyValue::new("a", 1), KeyValue::new("b", 2)]);
    }
}
