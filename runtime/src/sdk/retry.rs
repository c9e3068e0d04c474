//! Exports that outlast a collector restart. A span or log batch whose export fails with an
//! error worth retrying (the collector cannot be reached, closed the connection, answered
//! 429, 502, 503 or 504, or gRPC `UNAVAILABLE` and the like) is tried again, with pauses
//! that double from 250 ms up to 5 s, for up to the retry budget
//! (`backend.telemetry.retryBudget`, `BACKSTAGE_TELEMETRY_RETRY_BUDGET`; 30 s by default).
//! Meanwhile new spans and records wait in the processor's bounded queue, so a rolling
//! restart loses nothing that fits in it. A collector's `Retry-After` (429, 503) makes the
//! pause longer when it asks for more, within the budget. Over http/protobuf the exporter's
//! HTTP client retries (`otlp.rs`), over gRPC our exporter (`grpc.rs`), which honours the
//! collector's `RetryInfo`: both send the batch as encoded once again.
//! A refusal (400, 401, 403, `INVALID_ARGUMENT`, …)
//! and a failed TLS handshake (an untrusted certificate, a wrong name) are not retried:
//! they would fail again.
//!
//! Shutdown keeps its own deadline whatever the retry state: when it begins, no pause may
//! end past three quarters of the shutdown deadline (a pause under way is cut short there),
//! and a batch whose pause was cut gets one last attempt at that moment, with the rest of
//! the deadline: a collector that comes back before it still receives the batch.
//!
//! Metrics are not retried: they are cumulative, so the next export carries the totals.

use std::future::Future;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};

use super::settings::Signal;

/// The pause after the first failure; each further failure doubles it, up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(250);
/// The longest pause between two attempts.
const MAX_PAUSE: Duration = Duration::from_secs(5);

/// How one exporter retries: its budget and the shutdown it listens to.
#[derive(Clone, Debug)]
pub(super) struct Retry {
    budget: Duration,
    stopping: Arc<Stopping>,
}

impl Retry {
    pub(super) fn new(budget: Duration, stopping: Arc<Stopping>) -> Retry {
        Retry { budget, stopping }
    }

    /// Notes how the last export of `signal` ended, for the shutdown's message.
    pub(super) fn note(&self, signal: Signal, result: &OTelSdkResult) {
        let mut failures = crate::sync::lock(&self.stopping.last_failure);
        failures[signal as usize] = match result {
            Err(OTelSdkError::InternalFailure(message)) => Some(message.clone()),
            _ => None,
        };
    }

    /// Runs `attempt` until `next` says its outcome is final, or the budget (or the
    /// shutdown's cutoff) leaves no room for another pause: the pause is the backoff's, or
    /// the server's delay when it asks for a longer one. Returns the last outcome.
    pub(super) async fn run_with<T, F, Fut>(&self, mut attempt: F, next: impl Fn(&T) -> Next) -> T
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = T>,
    {
        let started = Instant::now();
        let mut pause = FIRST_PAUSE;
        let mut last = false;
        loop {
            let outcome = attempt().await;
            let asked = match next(&outcome) {
                Next::Again(asked) if !last => asked,
                _ => return outcome,
            };
            let left = self.budget.saturating_sub(started.elapsed());
            // the server's delay, when longer, replaces the backoff's (jittered all the same,
            // so that many instances told the same delay do not come back in step)
            let this_pause = jittered(asked.map_or(pause, |asked| asked.max(pause)));
            if this_pause > left {
                return outcome;
            }
            // shutdown cut the pause short: one last attempt at the cutoff
            last = self.stopping.pause(this_pause) == Paused::Cut;
            pause = (pause * 2).min(MAX_PAUSE);
        }
    }
}

/// What to do after an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Next {
    /// Its outcome is final.
    Done,
    /// Try again, after at least the server's delay if it gave one (`Retry-After`,
    /// gRPC `RetryInfo`).
    Again(Option<Duration>),
}

/// Shutdown as the exporters' retries see it.
#[derive(Debug, Default)]
pub(super) struct Stopping {
    /// No pause may end after this, once shutdown has begun.
    cutoff: Mutex<Option<Instant>>,
    changed: Condvar,
    /// The explained error of each signal's last export, if it failed.
    last_failure: Mutex<[Option<String>; 3]>,
}

impl Stopping {
    /// Why the last export of `signal` failed, if it did.
    pub(super) fn last_failure(&self, signal: Signal) -> Option<String> {
        crate::sync::lock(&self.last_failure)[signal as usize].clone()
    }

    /// From now on no pause ends after `cutoff`; pauses under way are woken to check.
    /// Failures noted before are forgotten: the shutdown reports only exports that end
    /// during it (a process idle for hours after one failed export shuts down cleanly).
    pub(super) fn stop_at(&self, cutoff: Instant) {
        *crate::sync::lock(&self.last_failure) = Default::default();
        *crate::sync::lock(&self.cutoff) = Some(cutoff);
        self.changed.notify_all();
    }

    /// Waits `pause`, or until the shutdown's cutoff if that comes first (at once when it
    /// has passed): [`Paused::Cut`] then.
    fn pause(&self, pause: Duration) -> Paused {
        let until = Instant::now() + pause;
        let mut cutoff = crate::sync::lock(&self.cutoff);
        loop {
            let (end, paused) = match *cutoff {
                Some(cutoff) if until > cutoff => (cutoff, Paused::Cut),
                _ => (until, Paused::Whole),
            };
            let now = Instant::now();
            if now >= end {
                return paused;
            }
            cutoff = match self.changed.wait_timeout(cutoff, end - now) {
                Ok((cutoff, _)) => cutoff,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }
}

/// How a pause between two attempts ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Paused {
    /// It lasted as long as asked.
    Whole,
    /// Shutdown's cutoff ended it: the next attempt is the last.
    Cut,
}

/// `pause` plus up to a tenth more, so that many instances restarted together do not
/// retry in step.
fn jittered(pause: Duration) -> Duration {
    let spread = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.subsec_micros());
    pause + pause / 10 * (spread % 100) / 100
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn failure(message: &str) -> OTelSdkError {
        OTelSdkError::InternalFailure(message.to_owned())
    }

    fn attempts(retry: &Retry, fail_first: usize, message: &'static str) -> (usize, OTelSdkResult) {
        let calls = AtomicUsize::new(0);
        let result = futures::executor::block_on(retry.run_with(
            || {
                let call = calls.fetch_add(1, Ordering::Relaxed);
                async move {
                    if call < fail_first {
                        Err(failure(message))
                    } else {
                        Ok(())
                    }
                }
            },
            |result| match result {
                Err(OTelSdkError::InternalFailure(message)) if !message.contains("refused") => {
                    Next::Again(None)
                }
                _ => Next::Done,
            },
        ));
        (calls.into_inner(), result)
    }

    #[test]
    fn a_failed_batch_is_retried_until_it_goes_through() {
        let retry = Retry::new(Duration::from_secs(5), Arc::default());
        let (calls, result) = attempts(&retry, 2, "HTTP export failed: network error");
        assert_eq!(calls, 3);
        assert!(result.is_ok());
    }

    #[test]
    fn the_budget_bounds_the_retries() {
        let retry = Retry::new(Duration::from_millis(900), Arc::default());
        let started = Instant::now();
        let (calls, result) = attempts(&retry, usize::MAX, "HTTP export failed: network error");
        // pauses of 250 and 500 ms fit in 900 ms; a third of 1 s does not
        assert_eq!(calls, 3);
        assert!(result.is_err());
        assert!(started.elapsed() < Duration::from_millis(1_500));
    }

    #[test]
    fn refusals_and_a_zero_budget_are_tried_once() {
        let retry = Retry::new(Duration::from_secs(30), Arc::default());
        let (calls, _) = attempts(&retry, usize::MAX, "refused");
        assert_eq!(calls, 1);
        let retry = Retry::new(Duration::ZERO, Arc::default());
        let (calls, _) = attempts(&retry, usize::MAX, "HTTP export failed: network error");
        assert_eq!(calls, 1);
    }

    /// Shutdown at 1 s, during the third pause: the pause ends there and one last attempt
    /// follows. `fail_first`: how many attempts fail.
    fn shutdown_during_a_pause(fail_first: usize) -> (usize, OTelSdkResult, Duration) {
        let stopping = Arc::new(Stopping::default());
        let retry = Retry::new(Duration::from_secs(60), stopping.clone());
        let started = Instant::now();
        let waker = {
            let stopping = stopping.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(1_000));
                stopping.stop_at(Instant::now());
            })
        };
        let (calls, result) = attempts(&retry, fail_first, "HTTP export failed: network error");
        waker.join().unwrap();
        (calls, result, started.elapsed())
    }

    #[test]
    fn shutdown_cuts_a_pause_short_and_makes_one_last_attempt() {
        // 250 + 500 ms pass, the 1 s pause is cut short when shutdown begins at 1 s, and
        // the last attempt fails too: nothing more
        let (calls, result, elapsed) = shutdown_during_a_pause(usize::MAX);
        assert_eq!(calls, 4);
        assert!(result.is_err());
        assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
    }

    /// Attempts of `retry` answered by `answers` in turn (then done); returns the time
    /// each attempt started, from the first.
    fn paced(retry: &Retry, answers: &[Next]) -> Vec<Duration> {
        let started = Instant::now();
        let times = Mutex::new(Vec::new());
        let calls = AtomicUsize::new(0);
        futures::executor::block_on(retry.run_with(
            || {
                times.lock().unwrap().push(started.elapsed());
                let call = calls.fetch_add(1, Ordering::Relaxed);
                async move { call }
            },
            |call| answers.get(*call).copied().unwrap_or(Next::Done),
        ));
        times.into_inner().unwrap()
    }

    #[test]
    fn a_server_delay_longer_than_the_backoff_is_honoured() {
        let retry = Retry::new(Duration::from_secs(10), Arc::default());
        let times = paced(
            &retry,
            &[
                Next::Again(Some(Duration::from_millis(700))),
                Next::Again(None),
            ],
        );
        assert_eq!(times.len(), 3, "{times:?}");
        // 700 ms asked (not the backoff's 250), then the backoff's 500 ms
        let first = times[1] - times[0];
        let second = times[2] - times[1];
        assert!(first >= Duration::from_millis(700), "{times:?}");
        assert!(second >= Duration::from_millis(500), "{times:?}");
        assert!(second < Duration::from_millis(700), "{times:?}");
        // a shorter delay than the backoff's does not shorten it
        let times = paced(&retry, &[Next::Again(Some(Duration::from_millis(10)))]);
        assert!(
            times[1] - times[0] >= Duration::from_millis(250),
            "{times:?}"
        );
    }

    #[test]
    fn a_server_delay_past_the_budget_ends_the_retries_at_once() {
        let retry = Retry::new(Duration::from_secs(2), Arc::default());
        let started = Instant::now();
        let times = paced(&retry, &[Next::Again(Some(Duration::from_secs(60)))]);
        assert_eq!(times.len(), 1);
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn failures_before_the_shutdown_are_not_reported_by_it() {
        let stopping = Arc::new(Stopping::default());
        let retry = Retry::new(Duration::from_secs(1), stopping.clone());
        retry.note(Signal::Traces, &Err(failure("an hour ago")));
        stopping.stop_at(Instant::now() + Duration::from_secs(1));
        assert_eq!(stopping.last_failure(Signal::Traces), None);
        retry.note(Signal::Traces, &Err(failure("during the shutdown")));
        assert_eq!(
            stopping.last_failure(Signal::Traces).as_deref(),
            Some("during the shutdown")
        );
    }

    #[test]
    fn a_collector_back_before_the_deadline_gets_the_batch_at_the_last_attempt() {
        let (calls, result, elapsed) = shutdown_during_a_pause(3);
        assert_eq!(calls, 4);
        assert!(result.is_ok(), "{result:?}");
        assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
    }
}
