//! Tracing (docs/design.md, "Tracing", "Principal"): [`RootTracingService`] and the plugin- or core-scoped
//! [`TracingService`] that runs work in auto-ending spans.
//!
//! ```
//! use backstage_telemetry::{Config, KeyValue, RootTracingService, SpanOptions};
//!
//! let tracing = RootTracingService::from_config(&Config::default()).for_plugin("todos")?;
//! let result: Result<u32, std::num::ParseIntError> =
//!     tracing.start_active_span("parse-todo", SpanOptions::new(), |span| {
//!         span.set_attribute(KeyValue::new("todo.category", "personal"));
//!         "42".parse::<u32>()
//!     });
//! assert_eq!(result, Ok(42));
//! # Ok::<(), backstage_telemetry::naming::NameError>(())
//! ```

use std::any::Any;
use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use opentelemetry::global::BoxedTracer;
use opentelemetry::trace::{
    Link, SpanBuilder, SpanContext, SpanId, SpanKind, SpanRef, Status, TraceContextExt, TraceFlags,
    TraceId, TraceState, Tracer as _, TracerProvider as _,
};
use opentelemetry::{Context, InstrumentationScope, KeyValue};

use crate::config::Config;
use crate::naming::{NameError, Scope, validate_attribute_key, validate_span_name};
use crate::principal::{BackstageCredentials, CredentialsSource};
use crate::provider::{Bound, tracer_generation};

/// Attribute holding the low-cardinality type of an error (semantic conventions).
pub const ERROR_TYPE_ATTRIBUTE: &str = "error.type";
/// Attribute set to `true` on a span whose future was dropped before it completed.
pub const CANCELLED_ATTRIBUTE: &str = "backstage.span.cancelled";
/// Attribute set to `true` on a span whose name was invalid (empty) and replaced.
pub const INVALID_NAME_ATTRIBUTE: &str = "backstage.span.invalid_name";
/// The name given to a span whose name was invalid.
pub const UNNAMED_SPAN: &str = "unnamed";
/// Attribute counting the [`SpanOptions`] attributes dropped for an invalid key.
pub const INVALID_ATTRIBUTE_KEYS_ATTRIBUTE: &str = "backstage.span.invalid_attribute_keys";

/// Set once something reads the scope of the active span from the context (the JSON logs);
/// until then spans do not carry it, which saves an allocation per span.
pub(crate) static SCOPE_IN_CONTEXT: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// The plugin or core service of the active span, kept in its context.
// Read by the JSON logs only (feature `logs`).
#[cfg_attr(not(feature = "logs"), allow(dead_code))]
#[derive(Clone, Debug)]
pub(crate) struct ActiveScope(pub Scope);

/// The root of tracing: made once from the app-config, it hands out the tracer of every
/// plugin and core service.
///
/// ```
/// use backstage_telemetry::{Config, RootTracingService};
///
/// let root = RootTracingService::from_config(&Config::default());
/// assert_eq!(root.for_plugin("catalog").unwrap().instrumentation_scope().name(), "backstage-plugin-catalog");
/// assert_eq!(root.for_core("scheduler").unwrap().instrumentation_scope().name(), "backstage-core-scheduler");
/// ```
#[derive(Clone, Debug)]
pub struct RootTracingService {
    config: Config,
}

impl RootTracingService {
    /// The root tracing service for `config` (`backend.tracing.*`).
    pub fn from_config(config: &Config) -> Self {
        RootTracingService {
            config: config.clone(),
        }
    }

    /// The tracing service of plugin `plugin_id`: tracer `backstage-plugin-{plugin_id}`
    /// unless `backend.tracing.plugin.{plugin_id}.tracer` says otherwise; every span carries
    /// `backstage.plugin.id = {plugin_id}`.
    pub fn for_plugin(&self, plugin_id: &str) -> Result<TracingService, NameError> {
        Ok(self.service(Scope::plugin(plugin_id.to_owned())?))
    }

    /// The tracing service of core service `service_id`: tracer
    /// `backstage-core-{service_id}`; every span carries `backstage.core.id = {service_id}`.
    pub fn for_core(&self, service_id: &str) -> Result<TracingService, NameError> {
        Ok(self.service(Scope::core(service_id.to_owned())?))
    }

    fn service(&self, scope: Scope) -> TracingService {
        let source = TracerSource::Fixed {
            instrumentation: self.config.tracer_scope(&scope),
            capture_end_user: self.config.capture_end_user(),
        };
        TracingService {
            tracer: Arc::new(ScopeTracer {
                scope,
                source,
                tracer: Bound::new(),
            }),
        }
    }
}

/// The tracing of one plugin or core service: runs closures and futures in spans that are
/// active for their body, ended exactly once, and record errors, panics and cancellation.
///
/// Cloning is cheap; clones share the tracer.
#[derive(Clone, Debug)]
pub struct TracingService {
    tracer: Arc<ScopeTracer>,
}

impl TracingService {
    /// The plugin or core service these spans belong to.
    pub fn scope(&self) -> &Scope {
        &self.tracer.scope
    }

    /// The instrumentation scope (tracer name, version, schema URL) of this service's tracer.
    pub fn instrumentation_scope(&self) -> InstrumentationScope {
        self.tracer.resolve().0
    }

    /// Runs `f` in a new span named `name`, active while `f` runs, and returns what `f`
    /// returns.
    ///
    /// The span is a child of the active span, carries `backstage.plugin.id` (or
    /// `backstage.core.id`), the options' attributes and principal, and ends when `f`
    /// returns. An `Err` is recorded (exception event, `error.type`, status ERROR with the
    /// message) and returned unchanged; a panic is recorded and continues.
    ///
    /// ```
    /// use backstage_telemetry::{Config, RootTracingService, SpanKind, SpanOptions, Status};
    ///
    /// let tracing = RootTracingService::from_config(&Config::default()).for_plugin("catalog")?;
    /// tracing.start_active_span("refresh-entity", SpanOptions::new().with_kind(SpanKind::Consumer), |span| {
    ///     span.set_status(Status::error("entity is deprecated"));
    /// });
    /// # Ok::<(), backstage_telemetry::naming::NameError>(())
    /// ```
    pub fn start_active_span<R, F>(
        &self,
        name: impl Into<Cow<'static, str>>,
        options: SpanOptions<'_>,
        f: F,
    ) -> R
    where
        F: FnOnce(ActiveSpan) -> R,
        R: SpanOutcome,
    {
        let Some(cx) = self.tracer.start(name.into(), false, || options) else {
            return f(ActiveSpan::current());
        };
        let body = || f(ActiveSpan { cx: cx.clone() });
        in_span_sync(Some(cx.clone()), body, R::record)
    }

    /// Runs the future `f` returns in a new span, active across every `.await` of it, and
    /// resolves to its output. Same recording as [`start_active_span`](Self::start_active_span);
    /// if the future is dropped before it completes, the span is ended and marked
    /// `backstage.span.cancelled = true`.
    ///
    /// ```
    /// use backstage_telemetry::{Config, RootTracingService, SpanOptions};
    ///
    /// let tracing = RootTracingService::from_config(&Config::default()).for_plugin("todos")?;
    /// let todos = futures::executor::block_on(tracing.start_active_span_async(
    ///     "list-todos",
    ///     SpanOptions::new(),
    ///     |_span| async { Ok::<_, std::io::Error>(vec!["write docs"]) },
    /// ));
    /// assert_eq!(todos.unwrap(), ["write docs"]);
    /// # Ok::<(), backstage_telemetry::naming::NameError>(())
    /// ```
    pub fn start_active_span_async<F, Fut>(
        &self,
        name: impl Into<Cow<'static, str>>,
        options: SpanOptions<'_>,
        f: F,
    ) -> InSpan<Fut>
    where
        F: FnOnce(ActiveSpan) -> Fut,
        Fut: Future,
        Fut::Output: SpanOutcome,
    {
        match self.tracer.start(name.into(), false, || options) {
            Some(cx) => {
                let future = {
                    let _active = cx.clone().attach();
                    f(ActiveSpan { cx: cx.clone() })
                };
                in_span_async(Some(cx), future, <Fut::Output>::record)
            }
            None => in_span_async(None, f(ActiveSpan::current()), <Fut::Output>::record),
        }
    }
}

/// Runs `body` in the span of `cx` (if any): active while it runs, outcome recorded with
/// `record`, a panic recorded and resumed, ended exactly once.
#[doc(hidden)]
#[inline]
pub fn in_span_sync<R>(
    cx: Option<Context>,
    body: impl FnOnce() -> R,
    record: fn(&R, &SpanRef<'_>),
) -> R {
    let Some(cx) = cx else {
        return body();
    };
    let result = {
        let _active = cx.clone().attach();
        catch_unwind(AssertUnwindSafe(body))
    };
    finish(&cx, result, record)
}

/// `future` in the span of `cx` (if any); see [`in_span_sync`].
#[doc(hidden)]
#[inline]
pub fn in_span_async<F: Future>(
    cx: Option<Context>,
    future: F,
    record: fn(&F::Output, &SpanRef<'_>),
) -> InSpan<F> {
    InSpan { future, cx, record }
}

/// `future`, its output type stated: lets a `#[span]` expansion name the output of an
/// `async` block before recording it.
#[doc(hidden)]
#[inline]
pub fn with_output<O, F: Future<Output = O>>(future: F) -> F {
    future
}

/// Ends the span of `cx` after its body returned or panicked.
fn finish<R>(cx: &Context, result: std::thread::Result<R>, record: fn(&R, &SpanRef<'_>)) -> R {
    let span = cx.span();
    match result {
        Ok(value) => {
            record(&value, &span);
            span.end();
            value
        }
        Err(panic) => {
            record_panic(&span, panic.as_ref());
            span.end();
            resume_unwind(panic)
        }
    }
}

/// The tracer of one plugin or core service, bound to the current global provider.
pub(crate) struct ScopeTracer {
    scope: Scope,
    source: TracerSource,
    tracer: Bound<BoundTracer>,
}

enum TracerSource {
    /// Resolved when the service was made from its config.
    Fixed {
        instrumentation: InstrumentationScope,
        capture_end_user: bool,
    },
    /// Declared with the macros: resolved against the installed config at each binding.
    Installed,
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
        if let Some(provider) = crate::provider::sdk_tracer_provider() {
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
    /// The instrumentation scope and `capture.endUser` of this tracer.
    fn resolve(&self) -> (InstrumentationScope, bool) {
        match &self.source {
            TracerSource::Fixed {
                instrumentation,
                capture_end_user,
            } => (instrumentation.clone(), *capture_end_user),
            TracerSource::Installed => {
                let config = crate::config::installed();
                (config.tracer_scope(&self.scope), config.capture_end_user())
            }
        }
    }

    #[inline]
    fn bound(&self) -> &BoundTracer {
        self.tracer.get(tracer_generation(), || {
            let (instrumentation, capture_end_user) = self.resolve();
            let (tracer, recording) = ScopeTracerKind::bind(instrumentation);
            BoundTracer {
                tracer,
                recording,
                capture_end_user,
                id_attribute: crate::naming::id_attribute(&self.scope),
            }
        })
    }

    /// Starts a span as a child of the current context, or `None` when no SDK is installed
    /// (then `options` is not even evaluated).
    #[inline]
    /// `name_checked`: the name was checked at compile time (a `#[span]` site).
    fn start<'a>(
        &self,
        name: Cow<'static, str>,
        name_checked: bool,
        options: impl FnOnce() -> SpanOptions<'a>,
    ) -> Option<Context> {
        let bound = self.bound();
        if bound.recording {
            Some(self.start_recording(bound, name, name_checked, options()))
        } else if SCOPE_IN_CONTEXT.load(std::sync::atomic::Ordering::Relaxed) {
            // No span, but logs still learn the plugin: the context keeps the parent's span
            // context without its span, so nothing here can end or change the parent.
            let parent = Context::current();
            let span_context = parent.span().span_context().clone();
            Some(
                parent
                    .with_remote_span_context(span_context)
                    .with_value(ActiveScope(self.scope.clone())),
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
        if SCOPE_IN_CONTEXT.load(std::sync::atomic::Ordering::Relaxed) {
            cx.with_value(ActiveScope(self.scope.clone()))
        } else {
            cx
        }
    }
}

impl fmt::Debug for ScopeTracer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopeTracer")
            .field("scope", &self.scope)
            .finish_non_exhaustive()
    }
}

/// A `#[span]` call site: its scope's tracer and its span name, both fixed at compile time.
#[doc(hidden)]
pub struct SpanSite {
    tracer: ScopeTracer,
    name: &'static str,
}

impl SpanSite {
    /// A call site of `scope` whose spans are named `name` (checked by the macro).
    pub const fn new(scope: Scope, name: &'static str) -> Self {
        SpanSite {
            tracer: ScopeTracer {
                scope,
                source: TracerSource::Installed,
                tracer: Bound::new(),
            },
            name,
        }
    }

    /// Starts this site's span, or `None` (without evaluating `options`) with no SDK.
    #[inline]
    pub fn start<'a>(&self, options: impl FnOnce() -> SpanOptions<'a>) -> Option<Context> {
        self.tracer.start(Cow::Borrowed(self.name), true, options)
    }
}

impl fmt::Debug for SpanSite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpanSite")
            .field("scope", &self.tracer.scope)
            .field("name", &self.name)
            .finish()
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

/// How a span is started: attributes, kind and the principal behind it.
///
/// ```
/// use backstage_telemetry::{BackstageCredentials, KeyValue, SpanKind, SpanOptions};
///
/// let credentials = BackstageCredentials::service("external:my-service");
/// let options = SpanOptions::new()
///     .with_attribute(KeyValue::new("catalog.entity.kind", "Component"))
///     .with_kind(SpanKind::Server)
///     .with_credentials(&credentials);
/// ```
pub struct SpanOptions<'a> {
    attributes: Vec<KeyValue>,
    links: Vec<Link>,
    kind: SpanKind,
    credentials: Option<&'a BackstageCredentials>,
    request: Option<&'a dyn CredentialsSource>,
}

impl Default for SpanOptions<'_> {
    fn default() -> Self {
        SpanOptions {
            attributes: Vec::new(),
            links: Vec::new(),
            kind: SpanKind::Internal,
            credentials: None,
            request: None,
        }
    }
}

impl<'a> SpanOptions<'a> {
    /// No attributes, kind internal, no principal.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an attribute set when the span starts.
    pub fn with_attribute(mut self, attribute: KeyValue) -> Self {
        self.attributes.push(attribute);
        self
    }

    /// Adds attributes set when the span starts.
    pub fn with_attributes(mut self, attributes: impl IntoIterator<Item = KeyValue>) -> Self {
        self.attributes.extend(attributes);
        self
    }

    /// Links the span to another one, such as the request that queued the work this span
    /// does. Takes a `SpanContext` or an `Option<SpanContext>`; `None` and invalid contexts
    /// add nothing.
    ///
    /// ```
    /// use backstage_telemetry::SpanOptions;
    /// use opentelemetry::trace::{TraceContextExt, SpanContext};
    ///
    /// // where the work was queued:
    /// let queued_by: SpanContext = opentelemetry::Context::current().span().span_context().clone();
    /// // later, where it runs:
    /// let options = SpanOptions::new().with_link(queued_by);
    /// ```
    pub fn with_link(self, context: impl Into<Option<SpanContext>>) -> Self {
        match context.into() {
            Some(context) => self.with_link_attributes(context, []),
            None => self,
        }
    }

    /// Links the span to another one, with attributes on the link.
    pub fn with_link_attributes(
        mut self,
        context: SpanContext,
        attributes: impl IntoIterator<Item = KeyValue>,
    ) -> Self {
        if context.is_valid() {
            self.links
                .push(Link::new(context, attributes.into_iter().collect(), 0));
        }
        self
    }

    /// The span kind; internal by default.
    pub fn with_kind(mut self, kind: SpanKind) -> Self {
        self.kind = kind;
        self
    }

    /// The principal behind the work: adds `backstage.principal.type`, and `enduser.id`
    /// when `backend.tracing.capture.endUser` is on. Wins over [`with_request`](Self::with_request).
    pub fn with_credentials(mut self, credentials: &'a BackstageCredentials) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// The request behind the work: its principal is what auth middleware stored on it
    /// (none if nothing was), never its headers.
    pub fn with_request(mut self, request: &'a impl CredentialsSource) -> Self {
        self.request = Some(request);
        self
    }
}

impl fmt::Debug for SpanOptions<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpanOptions")
            .field("attributes", &self.attributes)
            .field("links", &self.links.len())
            .field("kind", &self.kind)
            .field("credentials", &self.credentials)
            .field("request", &self.request.map(|_| ".."))
            .finish()
    }
}

/// The span a body runs in: set attributes and status, add events.
///
/// With no SDK installed it is the (non-recording) current span and every call does
/// nothing.
#[derive(Clone, Debug)]
pub struct ActiveSpan {
    cx: Context,
}

impl ActiveSpan {
    /// The span active on this thread (or task) now.
    pub fn current() -> Self {
        ActiveSpan {
            cx: Context::current(),
        }
    }

    /// Sets an attribute; a key set again replaces the earlier value in exported data.
    pub fn set_attribute(&self, attribute: KeyValue) {
        self.cx.span().set_attribute(attribute);
    }

    /// Sets several attributes.
    pub fn set_attributes(&self, attributes: impl IntoIterator<Item = KeyValue>) {
        self.cx.span().set_attributes(attributes);
    }

    /// Sets the status: `Status::Ok`, `Status::error("message")` or `Status::Unset`.
    /// As OpenTelemetry specifies, `Ok` is final and `Unset` never replaces a status.
    pub fn set_status(&self, status: Status) {
        self.cx.span().set_status(status);
    }

    /// Adds an event with attributes.
    pub fn add_event(&self, name: impl Into<Cow<'static, str>>, attributes: Vec<KeyValue>) {
        self.cx.span().add_event(name, attributes);
    }

    /// The span's trace and span ids.
    pub fn span_context(&self) -> SpanContext {
        self.cx.span().span_context().clone()
    }

    /// Whether the span records what is set on it.
    pub fn is_recording(&self) -> bool {
        self.cx.span().is_recording()
    }

    /// The OpenTelemetry context holding the span, for propagation and interop.
    pub fn context(&self) -> &Context {
        &self.cx
    }
}

/// The span active now (shorthand for [`ActiveSpan::current`]).
pub fn current_span() -> ActiveSpan {
    ActiveSpan::current()
}

/// What a traced body returned, as far as the span is concerned: a `Result` records its
/// `Err`; `()` is always a success.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be the result of a traced body",
    label = "return a `Result` (its `Err` is recorded on the span) or `()`",
    note = "for a value that cannot fail, return `Ok::<_, std::convert::Infallible>(value)`; the `#[span]` macro accepts any return type"
)]
pub trait SpanOutcome {
    /// Records this outcome on `span` before it ends.
    fn record(&self, span: &SpanRef<'_>);
}

impl SpanOutcome for () {
    fn record(&self, _span: &SpanRef<'_>) {}
}

impl<T, E: fmt::Display> SpanOutcome for Result<T, E> {
    fn record(&self, span: &SpanRef<'_>) {
        if let Err(error) = self {
            let type_name = std::any::type_name::<E>();
            record_error(span, type_name, Cow::Borrowed(type_name), error.to_string());
        }
    }
}

/// Gives the `error.type` that `#[span]` records for an error, instead of its type name:
/// a short, low-cardinality kind such as an enum variant.
///
/// ```
/// use std::borrow::Cow;
///
/// #[derive(Debug)]
/// enum ProcessError { NotFound, Invalid(String) }
///
/// impl backstage_telemetry::ErrorType for ProcessError {
///     fn error_type(&self) -> Cow<'static, str> {
///         match self {
///             ProcessError::NotFound => "not_found".into(),
///             ProcessError::Invalid(_) => "invalid".into(),
///         }
///     }
/// }
/// ```
pub trait ErrorType {
    /// The value of `error.type` for this error.
    fn error_type(&self) -> Cow<'static, str>;
}

/// The closure a `#[span]` expansion hands to `in_span_*` to record the body's outcome: the
/// most specific `Record*` trait for its type (autoref specialisation). The expansion names
/// only this; the traits and the depth of `&` live here, beside their impls.
#[doc(hidden)]
#[macro_export]
macro_rules! __record_outcome {
    () => {
        |outcome, span| {
            #[allow(unused_imports)]
            use $crate::__private::{
                RecordDebugError as _, RecordDisplayError as _, RecordNothing as _,
                RecordTypedError as _,
            };
            (&&&&$crate::__private::Outcome(outcome)).record_outcome(span)
        }
    };
}

/// What a `#[span]` body returned; the macro records it through the most specific of the
/// `Record*` traits below (autoref specialisation), so any return type works and `Err`
/// is found by type, whatever alias names it.
#[doc(hidden)]
pub struct Outcome<'a, T: ?Sized>(pub &'a T);

/// `Err` of an error with its own [`ErrorType`].
#[doc(hidden)]
pub trait RecordTypedError {
    fn record_outcome(&self, span: &SpanRef<'_>);
}

impl<T, E: ErrorType + fmt::Display> RecordTypedError for &&&Outcome<'_, Result<T, E>> {
    fn record_outcome(&self, span: &SpanRef<'_>) {
        if let Err(error) = self.0 {
            record_error(
                span,
                std::any::type_name::<E>(),
                error.error_type(),
                error.to_string(),
            );
        }
    }
}

/// `Err` of a displayable error: `error.type` is its type name.
#[doc(hidden)]
pub trait RecordDisplayError {
    fn record_outcome(&self, span: &SpanRef<'_>);
}

impl<T, E: fmt::Display> RecordDisplayError for &&Outcome<'_, Result<T, E>> {
    fn record_outcome(&self, span: &SpanRef<'_>) {
        if let Err(error) = self.0 {
            let type_name = std::any::type_name::<E>();
            record_error(span, type_name, Cow::Borrowed(type_name), error.to_string());
        }
    }
}

/// `Err` of an error that is only `Debug`.
#[doc(hidden)]
pub trait RecordDebugError {
    fn record_outcome(&self, span: &SpanRef<'_>);
}

impl<T, E: fmt::Debug> RecordDebugError for &Outcome<'_, Result<T, E>> {
    fn record_outcome(&self, span: &SpanRef<'_>) {
        if let Err(error) = self.0 {
            let type_name = std::any::type_name::<E>();
            record_error(
                span,
                type_name,
                Cow::Borrowed(type_name),
                format!("{error:?}"),
            );
        }
    }
}

/// Anything else: a success.
#[doc(hidden)]
pub trait RecordNothing {
    fn record_outcome(&self, _span: &SpanRef<'_>) {}
}

impl<T: ?Sized> RecordNothing for Outcome<'_, T> {}

/// Records an error: exception event (`exception.type`, `exception.message`),
/// `error.type`, status ERROR with the message.
pub(crate) fn record_error(
    span: &SpanRef<'_>,
    exception_type: &str,
    error_type: Cow<'static, str>,
    message: String,
) {
    span.add_event(
        "exception",
        vec![
            KeyValue::new("exception.type", exception_type.to_owned()),
            KeyValue::new("exception.message", message.clone()),
        ],
    );
    span.set_attribute(KeyValue::new(ERROR_TYPE_ATTRIBUTE, error_type));
    span.set_status(Status::error(message));
}

fn record_panic(span: &SpanRef<'_>, payload: &(dyn Any + Send)) {
    let message = if let Some(message) = payload.downcast_ref::<&'static str>() {
        (*message).to_owned()
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message.clone()
    } else {
        "panic with a non-string payload".to_owned()
    };
    record_error(span, "panic", Cow::Borrowed("panic"), message);
}

pin_project_lite::pin_project! {
    /// A future running in a span; see [`TracingService::start_active_span_async`].
    #[must_use = "futures do nothing unless awaited"]
    pub struct InSpan<F: Future> {
        #[pin]
        future: F,
        cx: Option<Context>,
        record: fn(&F::Output, &SpanRef<'_>),
    }

    impl<F: Future> PinnedDrop for InSpan<F> {
        fn drop(this: Pin<&mut Self>) {
            if let Some(cx) = this.project().cx.take() {
                let span = cx.span();
                span.set_attribute(KeyValue::new(CANCELLED_ATTRIBUTE, true));
                span.end();
            }
        }
    }
}

impl<F: Future> Future for InSpan<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, task: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Some(cx) = this.cx.take() else {
            return this.future.poll(task);
        };
        let result = {
            let _active = cx.clone().attach();
            let future = this.future;
            catch_unwind(AssertUnwindSafe(|| future.poll(task)))
        };
        match result {
            Ok(Poll::Pending) => {
                *this.cx = Some(cx);
                Poll::Pending
            }
            Ok(Poll::Ready(output)) => Poll::Ready(finish(&cx, Ok(output), *this.record)),
            Err(panic) => Poll::Ready(finish(&cx, Err(panic), *this.record)),
        }
    }
}
