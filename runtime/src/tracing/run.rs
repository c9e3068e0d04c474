//! Running a body in a span: active while it runs (across `.await`s), its outcome recorded,
//! ended exactly once.

use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};

use opentelemetry::KeyValue;
use opentelemetry::trace::TraceContextExt;

use super::CANCELLED_ATTRIBUTE;
use super::outcome::{Record, record_panic};
use super::tracer::Started;

/// Runs `body` in the span `started` (if any): active while it runs, outcome recorded with
/// `record`, a panic recorded and resumed, ended exactly once, and its duration recorded
/// if the site has span metrics. A span that does not record is only made active (its
/// context still carries the trace to children and logs); if timed, a panic is not caught
/// but timed as it unwinds.
#[doc(hidden)]
#[inline]
pub fn in_span_sync<R>(started: Option<Started>, body: impl FnOnce() -> R, record: Record<R>) -> R {
    match started {
        None => body(),
        Some(started) => run_sync(started, body, record),
    }
}

#[inline(never)]
fn run_sync<R>(started: Started, body: impl FnOnce() -> R, record: Record<R>) -> R {
    if started.recording {
        let result = {
            let _active = started.cx.clone().attach();
            catch_unwind(AssertUnwindSafe(body))
        };
        return finish(started, result, record);
    }
    let _active = started.cx.attach();
    match started.timer {
        None => body(),
        Some(timer) => timer.time(body, record),
    }
}

/// `future` in the span `started` (if any); see [`in_span_sync`].
#[doc(hidden)]
#[inline]
pub fn in_span_async<F: Future>(
    started: Option<Started>,
    future: F,
    record: Record<F::Output>,
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

/// Ends the span of `started` after its body returned or panicked, and records the
/// duration.
fn finish<R>(started: Started, result: std::thread::Result<R>, record: Record<R>) -> R {
    let Started {
        cx,
        recording,
        timer,
    } = started;
    let span = recording.then(|| cx.span());
    match result {
        Ok(value) => {
            let failure = record(&value, span.as_ref());
            if let Some(span) = &span {
                span.end();
            }
            if let Some(timer) = timer {
                timer.finish(failure, span.as_ref().map(|span| span.span_context()));
            }
            value
        }
        Err(panic) => {
            if let Some(span) = &span {
                record_panic(span, panic.as_ref());
                span.end();
            }
            if let Some(timer) = timer {
                timer.panicked(span.as_ref().map(|span| span.span_context()));
            }
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
        record: Record<F::Output>,
    }

    impl<F: Future> PinnedDrop for InSpan<F> {
        fn drop(this: Pin<&mut Self>) {
            let Some(Started { cx, recording, timer }) = this.project().started.take() else {
                return;
            };
            let span = recording.then(|| cx.span());
            if let Some(span) = &span {
                span.set_attribute(KeyValue::new(CANCELLED_ATTRIBUTE, true));
                span.end();
            }
            if let Some(timer) = timer {
                timer.cancelled(span.as_ref().map(|span| span.span_context()));
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
            if started.recording || started.timer.is_some() {
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
            Ok(Poll::Ready(output)) if !started.recording && started.timer.is_none() => {
                Poll::Ready(output)
            }
            Ok(Poll::Ready(output)) => Poll::Ready(finish(started, Ok(output), *this.record)),
            Err(panic) => Poll::Ready(finish(started, Err(panic), *this.record)),
        }
    }
}
