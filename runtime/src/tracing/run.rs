//! Running a body in a span: active while it runs (across `.await`s), its outcome recorded,
//! ended exactly once; and the `#[span]` call site that starts it.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use opentelemetry::trace::{SpanRef, TraceContextExt};
use opentelemetry::{Context, KeyValue};

use super::outcome::record_panic;
use super::tracer::ScopeTracer;
use super::{CANCELLED_ATTRIBUTE, SpanOptions};
use crate::naming::Scope;

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
    pub fn start<'a>(&self, options: impl FnOnce() -> SpanOptions<'a>) -> Option<Context> {
        self.tracer.start(Cow::Borrowed(self.name), true, options)
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
