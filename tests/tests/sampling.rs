//! What `#[span]` does with spans a sampler does not sample. An unsampled span is only made
//! active (its trace still reaches children and logs) and not ended or recorded on
//! explicitly; a sampler that records without sampling (`RecordOnly`) still gets the whole
//! span, outcome included, because what counts is whether the span records. This binary
//! installs its own providers, so it holds one test.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use backstage_telemetry::{Status, span};
use opentelemetry::trace::{Link, SpanKind, TraceContextExt, TraceId, TraceState};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{
    SamplingDecision, SamplingResult, SdkTracerProvider, ShouldSample, SpanData, SpanProcessor,
};

/// Records spans whose name starts with `record-`, samples none.
#[derive(Clone, Debug)]
struct RecordSome;

impl ShouldSample for RecordSome {
    fn should_sample(
        &self,
        _: Option<&Context>,
        _: TraceId,
        name: &str,
        _: &SpanKind,
        _: &[KeyValue],
        _: &[Link],
    ) -> SamplingResult {
        let decision = if name.starts_with("record-") {
            SamplingDecision::RecordOnly
        } else {
            SamplingDecision::Drop
        };
        SamplingResult {
            decision,
            attributes: Vec::new(),
            trace_state: TraceState::default(),
        }
    }
}

/// Every span that ends, sampled or not.
#[derive(Debug, Default, Clone)]
struct Ended(Arc<Mutex<Vec<SpanData>>>);

impl SpanProcessor for Ended {
    fn on_start(&self, _: &mut opentelemetry_sdk::trace::Span, _: &Context) {}
    fn on_end(&self, span: SpanData) {
        self.0.lock().unwrap().push(span);
    }
    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }
    fn shutdown_with_timeout(&self, _: Duration) -> OTelSdkResult {
        Ok(())
    }
}

#[span(plugin = "sampling", name = "record-failing")]
fn record_only_failing() -> Result<(), std::io::Error> {
    Err(std::io::Error::other("disk full"))
}

#[span(plugin = "sampling", name = "dropped-failing")]
fn dropped_failing() -> Result<bool, std::io::Error> {
    // the unsampled span is still the active one: its trace reaches what runs inside
    let cx = Context::current();
    let span = cx.span();
    let active = span.span_context().is_valid() && !span.is_recording();
    if active {
        Err(std::io::Error::other("disk full"))
    } else {
        Ok(false)
    }
}

#[span(plugin = "sampling", name = "record-cancelled")]
async fn record_only_cancelled() {
    std::future::pending::<()>().await;
}

#[test]
fn record_only_spans_are_recorded_and_unsampled_ones_only_made_active() {
    let ended = Ended::default();
    let provider = SdkTracerProvider::builder()
        .with_sampler(RecordSome)
        .with_span_processor(ended.clone())
        .build();
    backstage_telemetry::set_tracer_provider(provider);

    assert!(record_only_failing().is_err());
    assert!(
        dropped_failing().is_err(),
        "the unsampled span was not active"
    );
    // a future dropped before it completes: its recording span is ended, marked cancelled
    {
        let mut future = std::pin::pin!(record_only_cancelled());
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        assert!(future.as_mut().poll(&mut cx).is_pending());
    }

    let spans = ended.0.lock().unwrap().clone();
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_ref()).collect();
    assert_eq!(names, ["record-failing", "record-cancelled"]);
    let failing = &spans[0];
    assert!(!failing.span_context.is_sampled());
    assert_eq!(failing.status, Status::error("disk full"));
    assert!(failing.events.iter().any(|e| e.name == "exception"));
    assert!(
        spans[1]
            .attributes
            .iter()
            .any(|kv| kv.key.as_str() == "backstage.span.cancelled")
    );
}
