//! How a span is started ([`SpanOptions`]) and the span active now ([`ActiveSpan`]).

use std::borrow::Cow;
use std::fmt;

use opentelemetry::trace::{Link, SpanContext, SpanKind, Status, TraceContextExt};
use opentelemetry::{Context, KeyValue};

use crate::principal::{BackstageCredentials, CredentialsSource};

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
    pub(super) attributes: Vec<KeyValue>,
    pub(super) links: Vec<Link>,
    pub(super) kind: SpanKind,
    pub(super) credentials: Option<&'a BackstageCredentials>,
    pub(super) request: Option<&'a dyn CredentialsSource>,
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
    pub(super) cx: Context,
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
