//! The tracer of one plugin or core service, bound to the current global provider and
//! configuration, and how it starts a span.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use opentelemetry::global::BoxedTracer;
use opentelemetry::trace::{
    Link, SpanBuilder, SpanContext, SpanId, SpanKind, TraceContextExt, TraceFlags, TraceId,
    TraceState, Tracer, TracerProvider,
};
use opentelemetry::{Context, InstrumentationScope, KeyValue};

use super::{INVALID_ATTRIBUTE_KEYS_ATTRIBUTE, INVALID_NAME_ATTRIBUTE, SpanOptions, UNNAMED_SPAN};
use crate::binding::Binding;
use crate::config::Config;
use crate::global::{SCOPE_IN_CONTEXT, meter_installed, tracer_generation};
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

pub(crate) struct BoundTracer {
    tracer: ScopeTracerKind,
    /// False for the no-op provider: spans are skipped entirely.
    pub(crate) recording: bool,
    capture_end_user: bool,
    /// `backstage.plugin.id` (or `backstage.core.id`), made once.
    id_attribute: KeyValue,
    /// Whether a `#[span]` site records span metrics, by whether it asks for them
    /// (`#[span(metrics)]`): `[no, yes]`. Never for services' spans, nor before a meter
    /// provider is installed.
    pub(crate) span_metrics: [bool; 2],
}

impl BoundTracer {
    /// Nothing to do for a `#[span]` site that asks for span metrics or not (`metrics`):
    /// no span is recorded, no duration, and nothing reads the scope from the context.
    #[inline]
    pub(crate) fn idle(&self, metrics: bool) -> bool {
        !self.recording
            && !self.span_metrics[usize::from(metrics)]
            && !SCOPE_IN_CONTEXT.load(Ordering::Relaxed)
    }
}

/// The tracer a scope binds to: the SDK's own when it was installed through
/// [`crate::set_tracer_provider`], else the global one, boxed.
enum ScopeTracerKind {
    #[cfg(feature = "sdk")]
    Sdk(opentelemetry_sdk::trace::SdkTracer),
    Boxed(BoxedTracer),
}

impl ScopeTracerKind {
    /// The span in a child context of `parent`, and whether it records (read from the typed
    /// span, before it is shared, so no lock is taken).
    #[inline]
    fn start(&self, builder: SpanBuilder, parent: &Context) -> (Context, bool) {
        match self {
            #[cfg(feature = "sdk")]
            ScopeTracerKind::Sdk(tracer) => {
                let span = tracer.build_with_context(builder, parent);
                let recording = opentelemetry::trace::Span::is_recording(&span);
                (parent.with_span(span), recording)
            }
            ScopeTracerKind::Boxed(tracer) => {
                let span = tracer.build_with_context(builder, parent);
                let recording = opentelemetry::trace::Span::is_recording(&span);
                (parent.with_span(span), recording)
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
    pub(crate) fn bound(&self) -> &BoundTracer {
        self.binding.get(tracer_generation(), |config, scope| {
            let installed = self.binding.is_installed();
            let (tracer, recording) = ScopeTracerKind::bind(tracer_scope(config, scope));
            let plugin = (scope.kind() == crate::naming::ScopeKind::Plugin).then(|| scope.id());
            let metrics =
                |asks| installed && meter_installed() && config.span_metrics_enabled(plugin, asks);
            BoundTracer {
                tracer,
                recording,
                capture_end_user: config.capture_end_user(),
                id_attribute: crate::naming::id_attribute(scope),
                span_metrics: [metrics(false), metrics(true)],
            }
        })
    }

    /// Starts a span as a child of the current context, or `None` when no SDK is installed
    /// (then `options` is not even evaluated). `name_checked`: the name and attribute keys
    /// were checked at compile time (a `#[span]` site).
    #[inline]
    pub(crate) fn start<'a>(
        &self,
        name: Cow<'static, str>,
        name_checked: bool,
        options: impl FnOnce() -> SpanOptions<'a>,
    ) -> Option<Started> {
        self.start_bound(self.bound(), |bound| {
            self.start_with_options(bound, name, name_checked, options)
        })
    }

    /// The one check every start makes: a recording tracer starts a span with `recording`;
    /// without one, only the scope is noted for the logs, if they read it; else nothing.
    #[inline]
    pub(crate) fn start_bound(
        &self,
        bound: &BoundTracer,
        recording: impl FnOnce(&BoundTracer) -> Started,
    ) -> Option<Started> {
        if bound.recording {
            Some(recording(bound))
        } else if SCOPE_IN_CONTEXT.load(Ordering::Relaxed) {
            Some(self.scope_only())
        } else {
            None
        }
    }

    /// What a timed call runs in when no tracer records: the scope for the logs, if they
    /// read it, else the current context.
    #[cold]
    #[inline(never)]
    pub(crate) fn untraced(&self) -> Started {
        if SCOPE_IN_CONTEXT.load(Ordering::Relaxed) {
            return self.scope_only();
        }
        Started {
            cx: Context::current(),
            recording: false,
            timer: None,
        }
    }

    /// No span, but logs still learn the plugin: the context keeps the parent's span
    /// context without its span, so nothing here can end or change the parent.
    #[cold]
    #[inline(never)]
    fn scope_only(&self) -> Started {
        let parent = Context::current();
        let span_context = parent.span().span_context().clone();
        Started {
            cx: parent
                .with_remote_span_context(span_context)
                .with_value(ActiveScope(self.scope().clone())),
            recording: false,
            timer: None,
        }
    }

    /// A `#[span]` site's span with options: `kind` is the site's.
    pub(crate) fn start_checked<'a>(
        &self,
        bound: &BoundTracer,
        name: &'static str,
        kind: SpanKind,
        options: impl FnOnce() -> SpanOptions<'a>,
    ) -> Started {
        self.start_with_options(bound, Cow::Borrowed(name), true, || SpanOptions {
            kind,
            ..options()
        })
    }

    #[inline(never)]
    pub(crate) fn start_plain_recording(&self, bound: &BoundTracer, name: &'static str) -> Started {
        self.start_with_recording(bound, name, SpanKind::Internal, |scope| [scope])
    }

    #[inline(never)]
    pub(crate) fn start_with_recording<const N: usize>(
        &self,
        bound: &BoundTracer,
        name: &'static str,
        kind: SpanKind,
        attributes: impl FnOnce(KeyValue) -> [KeyValue; N],
    ) -> Started {
        let attributes = Vec::from(attributes(bound.id_attribute.clone()));
        self.start_span(bound, Cow::Borrowed(name), kind, attributes, None)
    }

    #[inline(never)]
    fn start_with_options<'a>(
        &self,
        bound: &BoundTracer,
        name: Cow<'static, str>,
        name_checked: bool,
        options: impl FnOnce() -> SpanOptions<'a>,
    ) -> Started {
        let SpanOptions {
            mut attributes,
            links,
            kind,
            credentials,
            request,
        } = options();
        // Keys of a `#[span]` site were checked at compile time; run-time ones here.
        let dropped = if name_checked {
            0
        } else {
            let before = attributes.len();
            attributes.retain(|kv| validate_attribute_key(kv.key.as_str()).is_ok());
            before - attributes.len()
        };
        let credentials = match (credentials, request) {
            (Some(credentials), _) => Some(Cow::Borrowed(credentials)),
            (None, Some(request)) => Some(BackstageCredentials::from_request(request)),
            (None, None) => None,
        };
        // One vector: the options' own, if it has room (a `#[span]` site sizes it exactly).
        let room = 1 + usize::from(dropped > 0) + if credentials.is_some() { 2 } else { 0 };
        attributes.reserve(room);
        attributes.insert(0, bound.id_attribute.clone());
        if dropped > 0 {
            attributes.push(KeyValue::new(
                INVALID_ATTRIBUTE_KEYS_ATTRIBUTE,
                dropped as i64,
            ));
        }
        if let Some(credentials) = credentials {
            credentials.span_attributes(bound.capture_end_user, &mut attributes);
        }
        let name = if name_checked || validate_span_name(&name).is_ok() {
            name
        } else {
            attributes.push(KeyValue::new(INVALID_NAME_ATTRIBUTE, true));
            Cow::Borrowed(UNNAMED_SPAN)
        };
        let links = (!links.is_empty()).then_some(links);
        self.start_span(bound, name, kind, attributes, links)
    }

    #[inline]
    fn start_span(
        &self,
        bound: &BoundTracer,
        name: Cow<'static, str>,
        kind: SpanKind,
        attributes: Vec<KeyValue>,
        links: Option<Vec<Link>>,
    ) -> Started {
        let builder = SpanBuilder {
            span_kind: Some(kind),
            name,
            start_time: None,
            attributes: Some(attributes),
            events: None,
            links,
        };
        let parent = Context::current();
        let (cx, recording) = bound.tracer.start(builder, &parent);
        let cx = if SCOPE_IN_CONTEXT.load(Ordering::Relaxed) {
            cx.with_value(ActiveScope(self.scope().clone()))
        } else {
            cx
        };
        Started {
            cx,
            recording,
            timer: None,
        }
    }
}

/// A span just started: its context (the current one when only span metrics are on and no
/// tracer records), whether the span records (an unsampled one does not: nothing is recorded on
/// it and it is not ended explicitly), and the span-metrics timer if the site has one.
#[doc(hidden)]
#[derive(Debug)]
pub struct Started {
    pub(crate) cx: Context,
    pub(crate) recording: bool,
    pub(crate) timer: Option<super::metrics::SpanTimer>,
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
