//! Spans the sampler drops, made without the SDK (the runtime's `tracing/unsampled.rs`),
//! against the SDK's own: for every sampler `init` configures and every kind of parent
//! (none, remote or local, sampled or not, with a trace state, an invalid span, telemetry
//! suppressed), and over random parents, the span a `#[span]` body runs in has what the
//! SDK's span would have; the attributes of a dropped span are not evaluated and no
//! processor sees it. A provider the application installs, or `init`'s after its
//! shutdown, is the SDK's alone.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use backstage_telemetry::sdk::module;
use backstage_telemetry::{Config, Telemetry};
use opentelemetry::trace::{
    SpanBuilder, SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState, Tracer,
    TracerProvider,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{
    IdGenerator, Sampler, SamplingDecision, SdkTracerProvider, ShouldSample, Span, SpanData,
    SpanProcessor,
};
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestRunner};

/// What a `#[span]` body saw of its own span.
#[derive(Debug)]
struct Seen {
    span_context: SpanContext,
    recording: bool,
}

fn seen() -> Seen {
    let cx = Context::current();
    Seen {
        span_context: cx.span().span_context().clone(),
        recording: cx.span().is_recording(),
    }
}

/// How many times a span's attributes were evaluated.
static EVALUATED: AtomicUsize = AtomicUsize::new(0);

fn evaluated() -> i64 {
    EVALUATED.fetch_add(1, Ordering::Relaxed);
    1
}

#[backstage_telemetry::backstage_plugin(id = "unsampled")]
mod handlers {
    use backstage_telemetry::span;

    use super::{Seen, evaluated, seen};

    #[span]
    pub fn plain() -> Seen {
        seen()
    }

    #[span(kind = server, attributes(work.evaluated = evaluated()))]
    pub fn with_attributes() -> Seen {
        seen()
    }

    #[span(metrics)]
    pub fn timed() -> Seen {
        seen()
    }

    #[span]
    pub async fn later() -> Seen {
        seen()
    }
}

/// A `#[span]` function, named.
type Call = (&'static str, fn() -> Seen);

/// The `#[span]` functions, each called under the current context.
fn calls() -> [Call; 4] {
    [
        ("plain", handlers::plain),
        ("with_attributes", handlers::with_attributes),
        ("timed", handlers::timed),
        ("later", || futures::executor::block_on(handlers::later())),
    ]
}

/// Counts the spans a processor is told of.
#[derive(Debug, Default)]
struct Counting(Arc<AtomicUsize>);

impl SpanProcessor for Counting {
    fn on_start(&self, _: &mut Span, _: &Context) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    fn on_end(&self, _: SpanData) {}
    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }
    fn shutdown_with_timeout(&self, _: Duration) -> OTelSdkResult {
        Ok(())
    }
}

/// `init` holds global state: one test at a time.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// `init` with `sampler` (app-config), spans going to a processor that counts them (`None`:
/// zero configuration, no processor: `parentbased_always_off`).
fn init(sampler: Option<(&str, f64)>, started: &Arc<AtomicUsize>) -> Telemetry {
    let traces = match sampler {
        Some((name, ratio)) => format!(
            "    traces:\n      exporter: none\n      sampler: {name}\n      samplerArg: {ratio}\n"
        ),
        None => "    traces:\n      exporter: none\n".to_owned(),
    };
    let config = Config::from_yaml_str(
        "app-config.yaml",
        &format!("backend:\n  telemetry:\n    metrics:\n      exporter: none\n{traces}"),
    )
    .unwrap();
    let mut builder = Telemetry::builder(&config);
    if sampler.is_some() {
        let started = started.clone();
        builder = builder.with_module(module("counting", move |parts| {
            parts.add_span_processor(Counting(started.clone()));
            Ok(())
        }));
    }
    let telemetry = builder.init();
    assert!(
        telemetry.problems().is_empty(),
        "{:?}",
        telemetry.problems()
    );
    telemetry
}

/// The SDK's sampler `init` configures for `sampler`.
fn sdk_sampler(sampler: Option<(&str, f64)>) -> Sampler {
    match sampler {
        None | Some(("parentbased_always_off", _)) => {
            Sampler::ParentBased(Box::new(Sampler::AlwaysOff))
        }
        Some(("always_on", _)) => Sampler::AlwaysOn,
        Some(("always_off", _)) => Sampler::AlwaysOff,
        Some(("traceidratio", ratio)) => Sampler::TraceIdRatioBased(ratio),
        Some(("parentbased_always_on", _)) => Sampler::ParentBased(Box::new(Sampler::AlwaysOn)),
        Some(("parentbased_traceidratio", ratio)) => {
            Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(ratio)))
        }
        Some((other, _)) => panic!("{other}"),
    }
}

const SAMPLERS: [Option<(&str, f64)>; 9] = [
    None,
    Some(("always_on", 1.0)),
    Some(("always_off", 1.0)),
    Some(("traceidratio", 0.5)),
    Some(("traceidratio", 0.0)),
    Some(("parentbased_always_on", 1.0)),
    Some(("parentbased_always_off", 1.0)),
    Some(("parentbased_traceidratio", 0.5)),
    Some(("parentbased_traceidratio", 0.0)),
];

fn span_context(trace: u128, span: u64, sampled: bool, remote: bool, state: bool) -> SpanContext {
    let flags = if sampled {
        TraceFlags::SAMPLED
    } else {
        TraceFlags::default()
    };
    let state = if state {
        TraceState::from_key_value([("vendor", "abc"), ("other", "1")]).unwrap()
    } else {
        TraceState::default()
    };
    SpanContext::new(
        TraceId::from(trace),
        SpanId::from(span),
        flags,
        remote,
        state,
    )
}

/// Every kind of parent, named.
fn parents() -> Vec<(&'static str, Context)> {
    let trace = 0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736;
    let with = |sc| Context::new().with_remote_span_context(sc);
    vec![
        ("no parent", Context::new()),
        (
            "remote, sampled",
            with(span_context(trace, 0xb7ad, true, true, true)),
        ),
        (
            "remote, not sampled",
            with(span_context(trace, 0xb7ad, false, true, true)),
        ),
        (
            "local, sampled",
            with(span_context(trace, 0x00f0, true, false, false)),
        ),
        (
            "local, not sampled",
            with(span_context(trace, 0x00f0, false, false, true)),
        ),
        // a ratio decides by this one's low half: sampled at 0.5
        (
            "remote, not sampled, low trace id",
            with(span_context(1 << 64 | 2, 0x00f0, false, true, false)),
        ),
        ("an invalid span", with(SpanContext::empty_context())),
        (
            "telemetry suppressed",
            with(span_context(trace, 0xb7ad, false, true, false)).with_telemetry_suppressed(),
        ),
    ]
}

/// Whether the SDK's `sampler` keeps a span of `trace_id` under `parent`.
fn sdk_keeps(sampler: &Sampler, parent: &Context, trace_id: TraceId) -> bool {
    let attributes: [KeyValue; 0] = [];
    let result = sampler.should_sample(
        Some(parent),
        trace_id,
        "x",
        &opentelemetry::trace::SpanKind::Internal,
        &attributes,
        &[],
    );
    result.decision == SamplingDecision::RecordAndSample
}

/// Checks what each call saw under `parent` against the SDK's span for the same parent,
/// from a provider with the same sampler. Each call's name and whether its span was kept.
fn check(
    sampler: &Sampler,
    reference: &SdkTracerProvider,
    parent: &Context,
    what: &str,
) -> Vec<(&'static str, bool)> {
    let theirs = reference
        .tracer("reference")
        .build_with_context(SpanBuilder::from_name("x"), parent);
    let theirs_context = opentelemetry::trace::Span::span_context(&theirs).clone();
    let theirs_recording = opentelemetry::trace::Span::is_recording(&theirs);
    let mut kept = Vec::new();
    for (name, call) in calls() {
        let ours = {
            let _attached = parent.clone().attach();
            call()
        };
        let what = format!("{what}, {name}: {ours:?} against {theirs_context:?}");
        let made = &ours.span_context;
        assert_eq!(made.is_valid(), theirs_context.is_valid(), "{what}");
        assert_eq!(made.is_remote(), theirs_context.is_remote(), "{what}");
        assert_eq!(made.trace_state(), theirs_context.trace_state(), "{what}");
        assert_eq!(ours.recording, made.is_sampled(), "{what}");
        kept.push((name, made.is_sampled()));
        if !made.is_valid() {
            continue;
        }
        let parent_span = parent.span();
        let parent_context = parent_span.span_context();
        if parent_context.is_valid() {
            // the same trace, so the same decision and flags as the SDK's span
            assert_eq!(made.trace_id(), parent_context.trace_id(), "{what}");
            assert_ne!(made.span_id(), parent_context.span_id(), "{what}");
            assert_eq!(made.trace_flags(), theirs_context.trace_flags(), "{what}");
            assert_eq!(ours.recording, theirs_recording, "{what}");
        }
        // a new trace id for a root: the SDK's sampler decides the same for it
        assert_eq!(
            made.is_sampled(),
            sdk_keeps(sampler, parent, made.trace_id()),
            "{what}"
        );
        assert_ne!(made.span_id(), SpanId::INVALID, "{what}");
    }
    kept
}

/// `init` with `sampler`, the count of spans its processor saw, and the SDK's sampler and a
/// provider of its own with it, for reference.
fn set_up(
    sampler: Option<(&str, f64)>,
) -> (Telemetry, Arc<AtomicUsize>, Sampler, SdkTracerProvider) {
    let started = Arc::new(AtomicUsize::new(0));
    let telemetry = init(sampler, &started);
    let reference = SdkTracerProvider::builder()
        .with_sampler(sdk_sampler(sampler))
        .build();
    (telemetry, started, sdk_sampler(sampler), reference)
}

#[test]
fn every_sampler_and_parent_gives_the_sdks_span_without_evaluating_a_dropped_ones_attributes() {
    let _serial = serial();
    for sampler in SAMPLERS {
        let (telemetry, started, sdk, reference) = set_up(sampler);
        let mut expected_started = 0;
        let mut expected_evaluated = 0;
        let before = EVALUATED.load(Ordering::Relaxed);
        for (name, parent) in parents() {
            let kept = check(&sdk, &reference, &parent, &format!("{sampler:?}, {name}"));
            let suppressed = parent.is_telemetry_suppressed();
            for (call, kept) in kept {
                // a processor sees each span kept, and no other
                expected_started += usize::from(kept);
                // attributes are evaluated only where the SDK starts the span
                if call == "with_attributes" && (kept || suppressed) {
                    expected_evaluated += 1;
                }
            }
        }
        assert_eq!(
            EVALUATED.load(Ordering::Relaxed) - before,
            expected_evaluated,
            "{sampler:?}: attributes evaluated"
        );
        if sampler.is_some() {
            assert_eq!(
                started.load(Ordering::Relaxed),
                expected_started,
                "{sampler:?}: spans a processor saw"
            );
        }
        telemetry.shutdown().unwrap();
    }
}

#[test]
fn random_parents_give_the_sdks_span() {
    let _serial = serial();
    for sampler in [
        Some(("parentbased_traceidratio", 0.5)),
        Some(("traceidratio", 0.5)),
        None,
    ] {
        let (telemetry, _, sdk, reference) = set_up(sampler);
        let mut runner = TestRunner::new(ProptestConfig::with_cases(256));
        runner
            .run(
                &(1..=u128::MAX, 1..=u64::MAX, any::<[bool; 3]>()),
                |(trace, span, [sampled, remote, state])| {
                    let parent = Context::new().with_remote_span_context(span_context(
                        trace, span, sampled, remote, state,
                    ));
                    check(&sdk, &reference, &parent, &format!("{sampler:?}"));
                    Ok(())
                },
            )
            .unwrap();
        telemetry.shutdown().unwrap();
    }
}

/// A ratio keeps its share of root traces: a root decided kept is started by the SDK on the
/// trace id it was decided on, not decided again on a new one.
#[test]
fn a_ratio_keeps_its_share_of_roots() {
    let _serial = serial();
    const ROOTS: u32 = 4_000;
    for sampler in [
        Some(("traceidratio", 0.5)),
        Some(("parentbased_traceidratio", 0.5)),
        Some(("traceidratio", 0.25)),
    ] {
        let started = Arc::new(AtomicUsize::new(0));
        let telemetry = init(sampler, &started);
        let ratio = sampler.unwrap().1;
        let mut kept = 0u32;
        let mut traces = std::collections::HashSet::new();
        for _ in 0..ROOTS {
            let seen = handlers::plain();
            kept += u32::from(seen.span_context.is_sampled());
            traces.insert(seen.span_context.trace_id());
        }
        let expected = f64::from(ROOTS) * ratio;
        let sigma = (f64::from(ROOTS) * ratio * (1.0 - ratio)).sqrt();
        assert!(
            (f64::from(kept) - expected).abs() < 5.0 * sigma,
            "{sampler:?}: {kept} of {ROOTS} roots kept (expected {expected} ± {})",
            5.0 * sigma
        );
        // every root its own trace
        assert_eq!(traces.len(), ROOTS as usize, "{sampler:?}");
        assert_eq!(
            started.load(Ordering::Relaxed),
            kept as usize,
            "{sampler:?}"
        );
        telemetry.shutdown().unwrap();
    }
}

/// Ids from a generator the application chose: only the SDK uses it.
#[derive(Debug)]
struct Fixed;

impl IdGenerator for Fixed {
    fn new_trace_id(&self) -> TraceId {
        TraceId::from(0x0102)
    }
    fn new_span_id(&self) -> SpanId {
        SpanId::from(0x0304)
    }
}

#[test]
fn a_provider_the_application_installs_starts_every_span_itself() {
    let _serial = serial();
    let started = Arc::new(AtomicUsize::new(0));
    let telemetry = init(None, &started);
    backstage_telemetry::set_tracer_provider(
        SdkTracerProvider::builder()
            .with_sampler(Sampler::ParentBased(Box::new(Sampler::AlwaysOff)))
            .with_id_generator(Fixed)
            .build(),
    );
    let before = EVALUATED.load(Ordering::Relaxed);
    let seen = handlers::with_attributes();
    assert_eq!(seen.span_context.span_id(), SpanId::from(0x0304));
    assert_eq!(seen.span_context.trace_id(), TraceId::from(0x0102));
    assert!(!seen.recording);
    assert_eq!(EVALUATED.load(Ordering::Relaxed) - before, 1);
    telemetry.shutdown().unwrap();
}

#[test]
fn after_shutdown_spans_are_the_sdks_again() {
    let _serial = serial();
    let started = Arc::new(AtomicUsize::new(0));
    let telemetry = init(None, &started);
    let before = EVALUATED.load(Ordering::Relaxed);
    let running = handlers::with_attributes();
    assert!(running.span_context.is_valid() && !running.recording);
    assert_eq!(EVALUATED.load(Ordering::Relaxed) - before, 0);
    telemetry.shutdown().unwrap();
    // the SDK makes no span once its provider is shut down
    let stopped = handlers::with_attributes();
    assert!(!stopped.span_context.is_valid(), "{stopped:?}");
}

#[test]
fn the_span_is_current_in_its_body_and_goes_out_in_traceparent() {
    let _serial = serial();
    let started = Arc::new(AtomicUsize::new(0));
    let telemetry = init(None, &started);
    let parent = Context::new().with_remote_span_context(span_context(
        0x0af7_6519_16cd_43dd_8448_eb21_1c80_319c,
        0xb7ad_6b71_6920_3331,
        false,
        true,
        false,
    ));
    let _attached = parent.attach();
    let seen = handlers::plain();
    let propagator = opentelemetry_sdk::propagation::TraceContextPropagator::new();
    let injected = {
        #[backstage_telemetry::backstage_plugin(id = "unsampled-inject")]
        mod inject {
            use std::collections::HashMap;

            use backstage_telemetry::span;
            use opentelemetry::propagation::TextMapPropagator;

            #[span]
            pub fn traceparent(
                propagator: &opentelemetry_sdk::propagation::TraceContextPropagator,
            ) -> (String, super::Seen) {
                let mut carrier = HashMap::new();
                propagator.inject(&mut carrier);
                (carrier["traceparent"].clone(), super::seen())
            }
        }
        inject::traceparent(&propagator)
    };
    assert!(seen.span_context.is_valid() && !seen.recording);
    let (traceparent, inside) = injected;
    assert_eq!(
        traceparent,
        format!(
            "00-0af7651916cd43dd8448eb211c80319c-{}-00",
            inside.span_context.span_id()
        )
    );
    assert_ne!(
        inside.span_context.span_id(),
        SpanId::from(0xb7ad_6b71_6920_3331)
    );
    drop(_attached);
    telemetry.shutdown().unwrap();
}
