//! The tracer of one plugin or core service, bound to the current global provider and
//! configuration, and how it starts a span.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use opentelemetry::global::BoxedTracer;
use opentelemetry::trace::{
    Link, SpanBuilder, SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState,
    Tracer, TracerProvider,
};
use opentelemetry::{Context, InstrumentationScope, Key, KeyValue};

use super::{INVALID_ATTRIBUTE_KEYS_ATTRIBUTE, INVALID_NAME_ATTRIBUTE, SpanOptions, UNNAMED_SPAN};
use crate::binding::Binding;
use crate::config::Config;
#[cfg(feature = "sdk")]
use crate::global::SCOPE_FOR_LOGS;
use crate::global::{SCOPE_IN_CONTEXT, meter_installed, tracer_generation};
use crate::instrumentation::tracer_scope;
use crate::naming::{Scope, SpanKind, validate_attribute_key, validate_span_name};
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
    /// `backstage.plugin.id` (or `backstage.core.id`).
    id_attribute: IdAttribute,
    /// Which `#[span]` sites of the scope record span metrics.
    pub(crate) timed: TimedSites,
    /// The sampler, when `init` built the provider: the spans it drops are made without
    /// the SDK (`unsampled`).
    #[cfg(feature = "sdk")]
    unsampled: Option<super::unsampled::KnownSampler>,
}

/// A scope's attribute, as each new span gets it.
enum IdAttribute {
    /// Its `'static` key and value (every scope the macros declare), made anew for each
    /// span: a few instructions, where a `KeyValue` clone, with its two enums matched, is
    /// about 50 of every span (measured).
    Static(&'static str, &'static str),
    /// Made once and cloned (a service's scope, whose id is owned).
    Made(KeyValue),
}

impl IdAttribute {
    fn of(scope: &Scope) -> Self {
        match scope.id_cow() {
            Cow::Borrowed(id) => IdAttribute::Static(scope.id_attribute_key(), id),
            Cow::Owned(_) => IdAttribute::Made(crate::naming::id_attribute(scope)),
        }
    }
}

impl BoundTracer {
    /// The scope attribute for a new span.
    #[inline]
    pub(crate) fn id_attribute(&self) -> KeyValue {
        match &self.id_attribute {
            IdAttribute::Static(key, value) => KeyValue::new(Key::from_static_str(key), *value),
            IdAttribute::Made(attribute) => attribute.clone(),
        }
    }

    /// Whether a call has nothing to do: no tracer records, it is not timed (`timed`), and
    /// the logs do not read the scope from the context. The one idle check.
    #[inline]
    pub(crate) fn idle(&self, timed: bool) -> bool {
        !timed && !self.recording && !SCOPE_IN_CONTEXT.load(Ordering::Relaxed)
    }
}

/// Which `#[span]` sites record span metrics, by whether they ask for them
/// (`#[span(metrics)]`): the app-config decides ([`Config::span_metrics_enabled`]). Never a
/// service's spans, nor anything before a meter provider is installed.
///
/// [`Config::span_metrics_enabled`]: crate::Config::span_metrics_enabled
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct TimedSites {
    /// Sites that ask for span metrics.
    pub(crate) asking: bool,
    /// Sites that do not.
    pub(crate) others: bool,
}

impl TimedSites {
    /// Whether a site that asks for span metrics (`asks`) or not records them.
    #[inline]
    pub(crate) fn timed(self, asks: bool) -> bool {
        if asks { self.asking } else { self.others }
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
    #[inline(always)]
    fn build(&self, builder: SpanBuilder, parent: &Context) -> (Context, bool) {
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
            // read again here, off the hot path: the generation the provider read next was
            // installed at (a capture of the caller's would cost every call)
            #[cfg(feature = "sdk")]
            let generation = tracer_generation();
            let (tracer, recording) = ScopeTracerKind::bind(tracer_scope(config, scope));
            #[cfg(feature = "sdk")]
            let unsampled = match tracer {
                ScopeTracerKind::Sdk(_) => super::unsampled::known_at(generation),
                ScopeTracerKind::Boxed(_) => None,
            };
            let plugin = (scope.kind() == crate::naming::ScopeKind::Plugin).then(|| scope.id());
            let timed =
                |asks| installed && meter_installed() && config.span_metrics_enabled(plugin, asks);
            BoundTracer {
                tracer,
                recording,
                capture_end_user: config.capture_end_user(),
                id_attribute: IdAttribute::of(scope),
                timed: TimedSites {
                    asking: timed(true),
                    others: timed(false),
                },
                #[cfg(feature = "sdk")]
                unsampled,
            }
        })
    }

    /// Starts the span `init` describes, unless the call is idle (then `init` is not
    /// evaluated): what a service starts.
    #[inline]
    pub(crate) fn start(
        &self,
        bound: &BoundTracer,
        name: Cow<'static, str>,
        init: impl SpanInit,
    ) -> Option<Started> {
        if bound.idle(false) {
            return None;
        }
        Some(self.open(bound, name, init))
    }

    /// For a call that is not idle: the span `init` describes as a child of the current
    /// context when a tracer records; else the current context, with the scope for the logs
    /// if they read it.
    #[inline(always)]
    pub(crate) fn open(
        &self,
        bound: &BoundTracer,
        name: Cow<'static, str>,
        init: impl SpanInit,
    ) -> Started {
        #[cfg(feature = "sdk")]
        let sampler_known = bound.unsampled.is_some();
        #[cfg(not(feature = "sdk"))]
        let sampler_known = false;
        // a provider the application installed: the SDK starts every span (the hot path of
        // a recording span, kept as it was)
        if bound.recording && !sampler_known {
            return init.open(
                SpanStart {
                    tracer: self,
                    bound,
                },
                name,
            );
        }
        match self.without_sdk(bound) {
            Some(started) => started,
            None => init.open(
                SpanStart {
                    tracer: self,
                    bound,
                },
                name,
            ),
        }
    }

    /// What a call runs in when the SDK need not start its span: no tracer records
    /// ([`Self::untraced`]), or `init`'s sampler drops it ([`Self::unrecorded`]). `None`:
    /// the SDK starts it. Inlined: a call of its own cost a dropped span 23 instructions,
    /// and a span the SDK starts 1 to 3 fewer (measured with `benches/callgrind/run.py`).
    #[inline(always)]
    fn without_sdk(&self, bound: &BoundTracer) -> Option<Started> {
        if !bound.recording {
            return Some(self.untraced());
        }
        #[cfg(feature = "sdk")]
        if let Some(sampler) = bound.unsampled {
            return self.unrecorded(sampler);
        }
        None
    }

    /// A span the sampler drops, made without the SDK and without evaluating what the
    /// span would start with (`unsampled`); `None` when the sampler keeps it.
    #[cfg(feature = "sdk")]
    #[inline(always)]
    fn unrecorded(&self, sampler: super::unsampled::KnownSampler) -> Option<Started> {
        let cx = Context::map_current(|parent| sampler.unrecorded(parent))?;
        let cx = if SCOPE_FOR_LOGS.load(Ordering::Relaxed) {
            cx.with_value(ActiveScope(self.scope().clone()))
        } else {
            cx
        };
        Some(Started {
            cx,
            recording: false,
            timer: None,
        })
    }

    /// What a call runs in when no tracer records: the scope for the logs, if they read it,
    /// else the current context.
    #[cold]
    #[inline(never)]
    fn untraced(&self) -> Started {
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

    /// A span with `options`; `name_checked`: the name and attribute keys were checked at
    /// compile time (a `#[span]` site), else they are checked here.
    #[inline(never)]
    fn with_options(
        &self,
        bound: &BoundTracer,
        name: Cow<'static, str>,
        name_checked: bool,
        options: SpanOptions<'_>,
    ) -> Started {
        let SpanOptions {
            mut attributes,
            links,
            kind,
            credentials,
            request,
        } = options;
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
        attributes.insert(0, bound.id_attribute());
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
        self.span(bound, name, kind, attributes, links)
    }

    /// A site's span without options: kind internal, the scope attribute alone.
    #[inline]
    fn plain(&self, bound: &BoundTracer, name: Cow<'static, str>) -> Started {
        let attributes = Vec::from([bound.id_attribute()]);
        self.span(
            bound,
            name,
            opentelemetry::trace::SpanKind::Internal,
            attributes,
            None,
        )
    }

    /// The span, started now as a child of the current context (inlined into each way of
    /// starting one: measured, a call here costs more than the copy).
    #[inline(always)]
    fn span(
        &self,
        bound: &BoundTracer,
        name: Cow<'static, str>,
        kind: opentelemetry::trace::SpanKind,
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
        let (cx, recording) = bound.tracer.build(builder, &parent);
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

/// A span started by [`ScopeTracer::start`] for a [`SpanInit`]: the tracer and its binding.
#[doc(hidden)]
pub struct SpanStart<'a> {
    tracer: &'a ScopeTracer,
    bound: &'a BoundTracer,
}

/// What a span is started with, evaluated only when a span is started: nothing more than the
/// scope attribute ([`Plain`]), a kind and attributes ([`Attributes`]), or options
/// ([`Options`]: links, a principal). `#[span]` sites name one; services give their options.
#[doc(hidden)]
pub trait SpanInit: Sized {
    /// The span kind, known without evaluating anything (span metrics record it).
    fn kind(&self) -> SpanKind;

    /// The span named `name`, started on `at`'s tracer.
    fn open(self, at: SpanStart<'_>, name: Cow<'static, str>) -> Started;
}

/// A `#[span]` site without options.
#[doc(hidden)]
#[derive(Clone, Copy, Debug)]
pub struct Plain;

impl SpanInit for Plain {
    #[inline]
    fn kind(&self) -> SpanKind {
        SpanKind::Internal
    }

    #[inline]
    fn open(self, at: SpanStart<'_>, name: Cow<'static, str>) -> Started {
        at.tracer.plain(at.bound, name)
    }
}

/// A `#[span]` site with a kind and attributes: the function gets the scope attribute and
/// returns them all (one exactly sized vector).
#[doc(hidden)]
pub struct Attributes<F>(pub SpanKind, pub F);

impl<F, const N: usize> SpanInit for Attributes<F>
where
    F: FnOnce(KeyValue) -> [KeyValue; N],
{
    #[inline]
    fn kind(&self) -> SpanKind {
        self.0
    }

    #[inline(never)]
    fn open(self, at: SpanStart<'_>, name: Cow<'static, str>) -> Started {
        let Attributes(kind, attributes) = self;
        let attributes = Vec::from(attributes(at.bound.id_attribute()));
        at.tracer.span(
            at.bound,
            name,
            crate::naming::otel_kind(kind),
            attributes,
            None,
        )
    }
}

/// A `#[span]` site with options (links, a principal): the function makes them. Its name and
/// attribute keys were checked at compile time.
#[doc(hidden)]
pub struct Options<F>(pub SpanKind, pub F);

impl<'a, F> SpanInit for Options<F>
where
    F: FnOnce() -> SpanOptions<'a>,
{
    #[inline]
    fn kind(&self) -> SpanKind {
        self.0
    }

    #[inline]
    fn open(self, at: SpanStart<'_>, name: Cow<'static, str>) -> Started {
        let Options(kind, options) = self;
        let options = SpanOptions {
            kind: crate::naming::otel_kind(kind),
            ..options()
        };
        at.tracer.with_options(at.bound, name, true, options)
    }
}

/// A service's span: a name and options given at run time, checked here.
impl SpanInit for SpanOptions<'_> {
    fn kind(&self) -> SpanKind {
        use opentelemetry::trace::SpanKind as Otel;
        match self.kind {
            Otel::Internal => SpanKind::Internal,
            Otel::Server => SpanKind::Server,
            Otel::Client => SpanKind::Client,
            Otel::Producer => SpanKind::Producer,
            Otel::Consumer => SpanKind::Consumer,
        }
    }

    #[inline]
    fn open(self, at: SpanStart<'_>, name: Cow<'static, str>) -> Started {
        at.tracer.with_options(at.bound, name, false, self)
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
