//! Running a body in a span: active while it runs (across `.await`s), its outcome recorded,
//! ended exactly once; and the `#[span]` call site that starts it.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use opentelemetry::trace::{SpanKind, SpanRef, TraceContextExt};
use opentelemetry::{Context, KeyValue};

use super::outcome::record_panic;
use super::tracer::{ScopeTracer, Started};
use super::{CANCELLED_ATTRIBUTE, SpanOptions};
use crate::naming::Scope;

/// Runs `body` in the span `started` (if any): active while it runs, outcome recorded with
/// `record`, a panic recorded and resumed, ended exactly once. A span that does not record
/// is only made active (its context still carries the trace to children and logs).
#[doc(hidden)]
#[inline]
pub fn in_span_sync<R>(
    started: Option<Started>,
    body: impl FnOnce() -> R,
    record: fn(&R, &SpanRef<'_>),
) -> R {
    match started {
        None => body(),
        Some(started) => run_sync(started, body, record),
    }
}

#[inline(never)]
fn run_sync<R>(started: Started, body: impl FnOnce() -> R, record: fn(&R, &SpanRef<'_>)) -> R {
    let Started { cx, recording } = started;
    if !recording {
        let _active = cx.attach();
        return body();
    }
    let result = {
        let _active = cx.clone().attach();
        catch_unwind(AssertUnwindSafe(body))
    };
    finish(&cx, result, record)
}

/// `future` in the span `started` (if any); see [`in_span_sync`].
#[doc(hidden)]
#[inline]
pub fn in_span_async<F: Future>(
    started: Option<Started>,
    future: F,
    record: fn(&F::Output, &SpanRef<'_>),
) -> InSpan<F> {
    InSpan {
        future,
        started,
        record,
    }
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
            tracer: ScopeTracer::installed(scope),
            name,
        }
    }

    /// Starts this site's span, or `None` (without evaluating `options`) with no SDK.
    #[inline]
    pub fn start<'a>(&self, options: impl FnOnce() -> SpanOptions<'a>) -> Option<Started> {
        self.tracer.start(Cow::Borrowed(self.name), true, options)
    }

    /// Starts this site's span when the site has no options.
    #[inline]
    pub fn start_plain(&self) -> Option<Started> {
        self.tracer.start_plain(self.name)
    }

    /// Starts this site's span when the site gives only a kind and attributes:
    /// `attributes` gets the scope attribute and returns the whole, exactly sized vector.
    #[inline]
    pub fn start_with(
        &self,
        kind: SpanKind,
        attributes: impl FnOnce(KeyValue) -> Vec<KeyValue>,
    ) -> Option<Started> {
        self.tracer.start_with(self.name, kind, attributes)
    }
}

impl fmt::Debug for SpanSite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpanSite")
            .field("scope", self.tracer.scope())
            .field("name", &self.name)
            .finish()
    }
}

pin_project_lite::pin_project! {
    /// A future running in a span; see [`TracingService::start_active_span_async`].
    #[must_use = "futures do nothing unless awaited"]
    pub struct InSpan<F: Future> {
        #[pin]
        future: F,
        started: Option<Started>,
        record: fn(&F::Output, &SpanRef<'_>),
    }

    impl<F: Future> PinnedDrop for InSpan<F> {
        fn drop(this: Pin<&mut Self>) {
            if let Some(Started { cx, recording: true }) = this.project().started.take() {
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
        let Some(started) = this.started.take() else {
            return this.future.poll(task);
        };
        let result = {
            let _active = started.cx.clone().attach();
            let future = this.future;
            if started.recording {
                catch_unwind(AssertUnwindSafe(|| future.poll(task)))
            } else {
                Ok(future.poll(task))
            }
        };
        match result {
            Ok(Poll::Pending) => {
                *this.started = Some(started);
                Poll::Pending
            }
            Ok(Poll::Ready(output)) if !started.recording => Poll::Ready(output),
            Ok(Poll::Ready(output)) => Poll::Ready(finish(&started.cx, Ok(output), *this.record)),
            Err(panic) => Poll::Ready(finish(&started.cx, Err(panic), *this.record)),
        }
    }
}
