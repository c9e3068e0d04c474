//! The tracer of one plugin or core service, bound to the current global provider and
//! configuration, and how it starts a span.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use opentelemetry::global::BoxedTracer;
use opentelemetry::trace::{
    SpanBuilder, SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState, Tracer,
    TracerProvider,
};
use opentelemetry::{Context, InstrumentationScope, KeyValue};

use super::{INVALID_ATTRIBUTE_KEYS_ATTRIBUTE, INVALID_NAME_ATTRIBUTE, SpanOptions, UNNAMED_SPAN};
use crate::binding::Binding;
use crate::config::Config;
use crate::global::{SCOPE_IN_CONTEXT, tracer_generation};
use crate::instrumentation::tracer_scope;
use crate::naming::{Scope, validate_attribute_key, validate_span_name};
use crate::principal::BackstageCredentials;

/// The plugin or core service of the active span, kept in its context.
// Read by the JSON logs only (feature `logs`).
#[cfg_attr(not(feature = "logs"), allow(dead_code))]
#[derive(Clone, Debug)]
pub(crate) struct ActiveScope(pub Scope);

/// The tracer of one plugin or core service, bound to the current global provider.
pub(crate) struct ScopeTracer {
    binding: Binding<Scope, BoundTracer>,
}

struct BoundTracer {
    tracer: ScopeTracerKind,
    /// False for the no-op provider: spans are skipped entirely.
    recording: bool,
    capture_end_user: bool,
    /// `backstage.plugin.id` (or `backstage.core.id`), made once.
    id_attribute: KeyValue,
}

/// The tracer a scope binds to: the SDK's own when it was installed through
/// [`crate::set_tracer_provider`], else the global one, boxed.
enum ScopeTracerKind {
    #[cfg(feature = "sdk")]
    Sdk(opentelemetry_sdk::trace::SdkTracer),
    Boxed(BoxedTracer),
}

impl ScopeTracerKind {
    #[inline]
    fn start(&self, builder: SpanBuilder, parent: &Context) -> Context {
        match self {
            #[cfg(feature = "sdk")]
            ScopeTracerKind::Sdk(tracer) => {
                parent.with_span(tracer.build_with_context(builder, parent))
            }
            ScopeTracerKind::Boxed(tracer) => {
                parent.with_span(tracer.build_with_context(builder, parent))
            }
        }
    }

    fn bind(instrumentation: InstrumentationScope) -> (Self, bool) {
        #[cfg(feature = "sdk")]
        if let Some(provider) = crate::global::sdk_tracer_provider() {
            return (
                ScopeTracerKind::Sdk(provider.tracer_with_scope(instrumentation)),
                true,
            );
        }
        let tracer = opentelemetry::global::tracer_provider().tracer_with_scope(instrumentation);
        let recording = !is_noop(&tracer);
        (ScopeTracerKind::Boxed(tracer), recording)
    }
}

impl ScopeTracer {
    /// The tracer of a scope declared with the macros (configured by [`crate::set_config`]).
    pub(crate) const fn installed(scope: Scope) -> Self {
        ScopeTracer {
            binding: Binding::installed(scope),
        }
    }

    /// The tracer of a service made from `config`.
    pub(crate) fn fixed(scope: Scope, config: Arc<Config>) -> Self {
        ScopeTracer {
            binding: Binding::fixed(scope, config),
        }
    }

    pub(crate) fn scope(&self) -> &Scope {
        self.binding.key()
    }

    /// The instrumentation scope (name, version, schema URL) of this tracer now.
    pub(crate) fn instrumentation_scope(&self) -> InstrumentationScope {
        tracer_scope(&self.binding.config(), self.scope())
    }

    #[inline]
    fn bound(&self) -> &BoundTracer {
        self.binding.get(tracer_generation(), |config, scope| {
            let (tracer, recording) = ScopeTracerKind::bind(tracer_scope(config, scope));
            BoundTracer {
                tracer,
                recording,
                capture_end_user: config.capture_end_user(),
                id_attribute: crate::naming::id_attribute(scope),
            }
        })
    }

    /// Starts a span as a child of the current context, or `None` when no SDK is installed
    /// (then `options` is not even evaluated).
    /// `name_checked`: the name was checked at compile time (a `#[span]` site).
    #[inline]
    pub(crate) fn start<'a>(
        &self,
        name: Cow<'static, str>,
        name_checked: bool,
        options: impl FnOnce() -> SpanOptions<'a>,
    ) -> Option<Context> {
        let bound = self.bound();
        if bound.recording {
            Some(self.start_recording(bound, name, name_checked, options()))
        } else if SCOPE_IN_CONTEXT.load(Ordering::Relaxed) {
            // No span, but logs still learn the plugin: the context keeps the parent's span
            // context without its span, so nothing here can end or change the parent.
            let parent = Context::current();
            let span_context = parent.span().span_context().clone();
            Some(
                parent
                    .with_remote_span_context(span_context)
                    .with_value(ActiveScope(self.scope().clone())),
            )
        } else {
            None
        }
    }

    fn start_recording(
        &self,
        bound: &BoundTracer,
        name: Cow<'static, str>,
        name_checked: bool,
        options: SpanOptions<'_>,
    ) -> Context {
        let SpanOptions {
            attributes: mut given,
            links,
            kind,
            credentials,
            request,
        } = options;
        // Keys of a `#[span]` site were checked at compile time; run-time ones here.
        let dropped = if name_checked {
            0
        } else {
            let before = given.len();
            given.retain(|kv| validate_attribute_key(kv.key.as_str()).is_ok());
            before - given.len()
        };
        // one allocation, sized for the scope, the given attributes and a principal
        let mut attributes = Vec::with_capacity(given.len() + 4);
        attributes.push(bound.id_attribute.clone());
        attributes.append(&mut given);
        if dropped > 0 {
            attributes.push(KeyValue::new(
                INVALID_ATTRIBUTE_KEYS_ATTRIBUTE,
                dropped as i64,
            ));
        }
        let credentials = match (credentials, request) {
            (Some(credentials), _) => Some(Cow::Borrowed(credentials)),
            (None, Some(request)) => Some(BackstageCredentials::from_request(request)),
            (None, None) => None,
        };
        if let Some(credentials) = credentials {
            credentials.span_attributes(bound.capture_end_user, &mut attributes);
        }
        let name = if name_checked || validate_span_name(&name).is_ok() {
            name
        } else {
            attributes.push(KeyValue::new(INVALID_NAME_ATTRIBUTE, true));
            Cow::Borrowed(UNNAMED_SPAN)
        };
        let parent = Context::current();
        let mut builder = SpanBuilder::from_name(name)
            .with_kind(kind)
            .with_attributes(attributes);
        if !links.is_empty() {
            builder = builder.with_links(links);
        }
        let cx = bound.tracer.start(builder, &parent);
        if SCOPE_IN_CONTEXT.load(Ordering::Relaxed) {
            cx.with_value(ActiveScope(self.scope().clone()))
        } else {
            cx
        }
    }
}

impl fmt::Debug for ScopeTracer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopeTracer")
            .field("scope", self.scope())
            .finish_non_exhaustive()
    }
}

/// Whether `tracer` comes from the no-op provider. The probe span's parent is remote and
/// telemetry is suppressed, so an SDK answers with an empty, unrecorded span (nothing is
/// exported), while the no-op tracer hands back the parent's context unchanged.
fn is_noop(tracer: &BoxedTracer) -> bool {
    let probe = SpanContext::new(
        TraceId::from(0x6261_636b_7374_6167_655f_7072_6f62_6521),
        SpanId::from(0x7072_6f62_6573_7061),
        TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    );
    let parent = Context::new()
        .with_remote_span_context(probe.clone())
        .with_telemetry_suppressed();
    let span = tracer.build_with_context(SpanBuilder::from_name("probe"), &parent);
    opentelemetry::trace::Span::span_context(&span) == &probe
}
