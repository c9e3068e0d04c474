//! Running a body in a span: active while it runs (across `.await`s), its outcome recorded,
//! ended exactly once.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use opentelemetry::trace::{SpanRef, TraceContextExt};
use opentelemetry::{Context, KeyValue};

use super::CANCELLED_ATTRIBUTE;
use super::outcome::record_panic;
use super::tracer::Started;

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
