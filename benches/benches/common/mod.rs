//! The benchmarks each provider state runs. Every group holds our code (`ours`) and the
//! hand-written OpenTelemetry equivalent (`otel`), and for spans `#[tracing::instrument]`
//! through tracing-opentelemetry (`tracing`), measured in the same run.
//!
//! Each bench binary installs its providers first, then everything here is first used, as
//! in an application that initialises telemetry at start-up.

#![allow(dead_code)] // each bench binary uses its own subset

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::OnceLock;
use std::task::{Context as TaskContext, Waker};
use std::time::Duration;

use opentelemetry::global::BoxedTracer;
use opentelemetry::metrics::{BoundHistogram, Counter, Histogram};
use opentelemetry::trace::{FutureExt, SpanBuilder, TraceContextExt, Tracer, TracerProvider as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider, Temporality};
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider, SpanData, SpanProcessor};
use tracing_subscriber::layer::SubscriberExt;

#[backstage_telemetry::backstage_plugin(id = "bench")]
pub mod plugin {
    use backstage_telemetry::{metric, span};
    use std::hint::black_box;

    metric! {
        pub static COUNTER: Counter<u64> = "calls.made";
        pub static HISTOGRAM: Histogram<f64> = "calls.duration", unit = "s";
    }

    #[span]
    pub fn traced(x: u64) -> u64 {
        black_box(x) + 1
    }

    #[span]
    pub async fn traced_async(x: u64) -> u64 {
        black_box(x) + 1
    }

    #[span(attributes(work.index = x as i64))]
    pub fn traced_attribute(x: u64) -> u64 {
        black_box(x) + 1
    }

    /// `traced` with span metrics: the same span, and its duration in
    /// `backstage.plugin.bench.span.duration`.
    #[span(metrics)]
    pub fn traced_metrics(x: u64) -> u64 {
        black_box(x) + 1
    }
}

/// The SDK's tracer, typed, for the same-behaviour references (set by `install_providers`).
static SDK_TRACER: OnceLock<opentelemetry_sdk::trace::SdkTracer> = OnceLock::new();

/// What `#[span]` does, written by hand on the SDK tracer: the span built with its
/// attributes given at start, its context attached while the body runs, ended explicitly
/// after it. With no SDK installed, the body alone (as `#[span]` does).
fn same<R>(name: &'static str, attributes: Vec<KeyValue>, body: impl FnOnce() -> R) -> R {
    let Some(tracer) = SDK_TRACER.get() else {
        return body();
    };
    let parent = Context::current();
    let builder = SpanBuilder::from_name(name).with_attributes(attributes);
    let cx = parent.with_span(tracer.build_with_context(builder, &parent));
    let output = {
        let _active = cx.clone().attach();
        body()
    };
    cx.span().end();
    output
}

/// `#[span] fn traced`, by hand.
pub fn same_traced(x: u64) -> u64 {
    same(
        "traced",
        vec![KeyValue::new("backstage.plugin.id", "bench")],
        || black_box(x) + 1,
    )
}

/// The least any code can spend on what `#[span] fn traced` does with this SDK: the span
/// built from a builder holding its one attribute, put in a child of the current context
/// without cloning that context, active while the body runs, ended through the active
/// context before leaving it. The same calls `same_traced` makes, with nothing around them.
pub fn floor_traced(x: u64) -> u64 {
    let Some(tracer) = SDK_TRACER.get() else {
        return black_box(x) + 1;
    };
    let cx = Context::map_current(|parent| {
        let mut builder = SpanBuilder::from_name("traced");
        builder.attributes = Some(vec![KeyValue::new("backstage.plugin.id", "bench")]);
        parent.with_span(tracer.build_with_context(builder, parent))
    });
    let _active = cx.attach();
    let output = black_box(x) + 1;
    Context::map_current(|cx| cx.span().end());
    output
}

/// The least any code can spend making a span that does not record current for a body
/// through OpenTelemetry's `Context`, whatever decides and whatever makes the ids: a child
/// span context (the ids from a counter, the parent's trace state) put in a child of the
/// current context, attached while the body runs, detached and dropped. What a span that
/// `init`'s sampler drops cannot cost less than.
pub fn context_floor(x: u64) -> u64 {
    use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId};
    thread_local!(static NEXT: std::cell::Cell<u64> = const { std::cell::Cell::new(1) });
    let id = NEXT.with(|next| next.replace(next.get() + 1));
    let cx = Context::map_current(|parent| {
        let span_context = SpanContext::new(
            TraceId::from(u128::from(id)),
            SpanId::from(id),
            TraceFlags::default(),
            false,
            parent.span().span_context().trace_state().clone(),
        );
        parent.with_remote_span_context(span_context)
    });
    let _active = cx.attach();
    black_box(x) + 1
}

/// `#[span(metrics)] fn traced_metrics`, by hand: the span of [`same_traced`] with the
/// body's panic caught for the outcome, the call timed with `Instant`, and the duration
/// recorded in a histogram series bound once (the leanest the SDK offers).
pub fn same_traced_metrics(x: u64) -> u64 {
    let Some(tracer) = SDK_TRACER.get() else {
        return black_box(x) + 1;
    };
    let start = std::time::Instant::now();
    let parent = Context::current();
    let builder = SpanBuilder::from_name("traced_metrics")
        .with_attributes(vec![KeyValue::new("backstage.plugin.id", "bench")]);
    let cx = parent.with_span(tracer.build_with_context(builder, &parent));
    let output = {
        let _active = cx.clone().attach();
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| black_box(x) + 1))
    };
    cx.span().end();
    let (series, outcome) = match &output {
        Ok(_) => (&hand().span_ok, "ok"),
        Err(_) => (&hand().span_panic, "panic"),
    };
    black_box(outcome);
    series.record(start.elapsed().as_secs_f64());
    output.unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// `#[span(attributes(work.index = x))] fn traced_attribute`, by hand.
pub fn same_traced_attribute(x: u64) -> u64 {
    same(
        "traced_attribute",
        vec![
            KeyValue::new("backstage.plugin.id", "bench"),
            KeyValue::new("work.index", x as i64),
        ],
        || black_box(x) + 1,
    )
}

/// `#[span] async fn traced_async`, by hand: the span started at the first poll, active
/// on every poll, ended when the body completes.
pub async fn same_traced_async(x: u64) -> u64 {
    let Some(tracer) = SDK_TRACER.get() else {
        return black_box(x) + 1;
    };
    let parent = Context::current();
    let builder = SpanBuilder::from_name("traced_async")
        .with_attributes(vec![KeyValue::new("backstage.plugin.id", "bench")]);
    let cx = parent.with_span(tracer.build_with_context(builder, &parent));
    let output = async { black_box(x) + 1 }.with_context(cx.clone()).await;
    cx.span().end();
    output
}

/// The hand-written side: instruments and tracer made once, after the providers.
pub struct Hand {
    pub counter: Counter<u64>,
    pub histogram: Histogram<f64>,
    pub tracer: BoxedTracer,
    /// The span-metrics series of `same_traced_metrics`, bound once.
    pub span_ok: BoundHistogram<f64>,
    pub span_panic: BoundHistogram<f64>,
}

static HAND: OnceLock<Hand> = OnceLock::new();

pub fn hand() -> &'static Hand {
    HAND.get_or_init(|| {
        let meter = opentelemetry::global::meter_provider().meter("bench-hand");
        let spans = meter
            .f64_histogram("bench.hand.span.duration")
            .with_unit("s")
            .build();
        let series = |outcome: &'static str| {
            spans.bind(&[
                KeyValue::new("span.name", "traced_metrics"),
                KeyValue::new("span.kind", "internal"),
                KeyValue::new("outcome", outcome),
            ])
        };
        Hand {
            span_ok: series("ok"),
            span_panic: series("panic"),
            counter: meter.u64_counter("bench.hand.calls.made").build(),
            histogram: meter
                .f64_histogram("bench.hand.calls.duration")
                .with_unit("s")
                .build(),
            tracer: opentelemetry::global::tracer("bench-hand"),
        }
    })
}

/// A span processor that keeps nothing: the cost measured is the span's, not an exporter's.
#[derive(Debug)]
struct Discard;

impl SpanProcessor for Discard {
    fn on_start(&self, _: &mut opentelemetry_sdk::trace::Span, _: &Context) {}
    fn on_end(&self, span: SpanData) {
        black_box(span);
    }
    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }
    fn shutdown_with_timeout(&self, _: Duration) -> OTelSdkResult {
        Ok(())
    }
}

#[derive(Debug)]
struct DiscardMetrics;

impl PushMetricExporter for DiscardMetrics {
    async fn export(&self, _: &ResourceMetrics) -> OTelSdkResult {
        Ok(())
    }
    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }
    fn shutdown_with_timeout(&self, _: Duration) -> OTelSdkResult {
        Ok(())
    }
    fn temporality(&self) -> Temporality {
        Temporality::Cumulative
    }
}

/// Installs SDK providers (spans sampled or not, no I/O) and the tracing subscriber.
pub fn install_sdk(sampled: bool) {
    let tracing_tracer = install_providers(sampled);
    install_tracing(tracing_opentelemetry::layer().with_tracer(tracing_tracer));
}

/// Installs new SDK providers (no I/O) through the crate, as a reinstall would; returns a
/// tracer of the new tracer provider for the tracing layer.
pub fn install_providers(sampled: bool) -> opentelemetry_sdk::trace::SdkTracer {
    let sampler = if sampled {
        Sampler::AlwaysOn
    } else {
        Sampler::AlwaysOff
    };
    let tracer_provider = SdkTracerProvider::builder()
        .with_sampler(sampler)
        .with_span_processor(Discard)
        .build();
    let reader = PeriodicReader::builder(DiscardMetrics)
        .with_interval(Duration::from_secs(3600))
        .build();
    let meter_provider = SdkMeterProvider::builder().with_reader(reader).build();
    let tracing_tracer = tracer_provider.tracer("tracing");
    let _ = SDK_TRACER.set(tracer_provider.tracer("bench-same"));
    backstage_telemetry::set_tracer_provider(tracer_provider);
    backstage_telemetry::set_meter_provider(meter_provider);
    tracing_tracer
}

/// No SDK: the tracing subscriber with tracing-opentelemetry's no-op tracer.
pub fn install_none() {
    install_tracing(tracing_opentelemetry::layer());
}

fn install_tracing<L>(layer: L)
where
    L: tracing_subscriber::Layer<tracing_subscriber::Registry> + Send + Sync + 'static,
{
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::set_global_default(subscriber).expect("one subscriber per process");
}

#[tracing::instrument]
pub fn instrumented(x: u64) -> u64 {
    black_box(x) + 1
}

/// The hand-written span around a call doing what `#[span]` does: `tracer.in_span`, with
/// the plugin attribute.
pub fn hand_traced(x: u64) -> u64 {
    hand().tracer.in_span("traced", |cx| {
        cx.span()
            .set_attribute(KeyValue::new("backstage.plugin.id", "bench"));
        black_box(x) + 1
    })
}

/// The hand-written span around a future: started with the plugin attribute, attached on
/// every poll, ended when done.
pub fn hand_traced_async(x: u64) -> impl Future<Output = u64> {
    let tracer = &hand().tracer;
    let span = tracer
        .span_builder("traced_async")
        .with_attributes([KeyValue::new("backstage.plugin.id", "bench")])
        .start(tracer);
    let cx = Context::current_with_span(span);
    async move { black_box(x) + 1 }.with_context(cx)
}

/// Polls a future that completes at once.
pub fn run<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = TaskContext::from_waker(Waker::noop());
    loop {
        if let std::task::Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
    }
}

/// Calls everything once, so one-time work (binding to the providers, registering
/// callsites) happens before measuring.
pub fn warm_up() {
    plugin::COUNTER.add(1, &[]);
    plugin::HISTOGRAM.record(0.25, &[]);
    hand().counter.add(1, &[]);
    hand().histogram.record(0.25, &[]);
    black_box(plugin::traced(1));
    black_box(hand_traced(1));
    black_box(instrumented(1));
    black_box(run(plugin::traced_async(1)));
    black_box(run(hand_traced_async(1)));
    black_box(plugin::traced_attribute(1));
    black_box(same_traced(1));
    black_box(same_traced_attribute(1));
    black_box(run(same_traced_async(1)));
}

/// Runs the benchmarks registered in this binary: 100 samples of 1000 calls each.
pub fn bench() {
    warm_up();
    divan::Divan::from_args().sample_size(1000).main();
}

pub fn static_attributes() -> [KeyValue; 3] {
    [
        KeyValue::new("result", "ok"),
        KeyValue::new("kind", "Component"),
        KeyValue::new("step", "fetch"),
    ]
}

pub fn dynamic_attributes(i: u64) -> [KeyValue; 3] {
    [
        KeyValue::new("result", if i.is_multiple_of(2) { "ok" } else { "failed" }),
        KeyValue::new("kind", format!("kind-{}", i % 4)),
        KeyValue::new("shard", (i % 8) as i64),
    ]
}

/// The groups every provider state runs.
#[allow(unused_macros)] // the profiling example includes this module without them
macro_rules! benchmarks {
    () => {
        mod counter_add_0_attributes {
            use super::common::*;
            #[divan::bench(threads = [1, 2])]
            fn ours() {
                plugin::COUNTER.add(1, &[]);
            }
            #[divan::bench(threads = [1, 2])]
            fn otel() {
                hand().counter.add(1, &[]);
            }
        }

        mod counter_add_3_static_attributes {
            use super::common::*;
            #[divan::bench]
            fn ours() {
                plugin::COUNTER.add(1, &static_attributes());
            }
            #[divan::bench]
            fn otel() {
                hand().counter.add(1, &static_attributes());
            }
        }

        mod counter_add_3_dynamic_attributes {
            use super::common::*;
            #[divan::bench]
            fn ours(bencher: divan::Bencher) {
                let mut i = 0;
                bencher.bench_local(|| {
                    i += 1;
                    plugin::COUNTER.add(1, &dynamic_attributes(i));
                });
            }
            #[divan::bench]
            fn otel(bencher: divan::Bencher) {
                let mut i = 0;
                bencher.bench_local(|| {
                    i += 1;
                    hand().counter.add(1, &dynamic_attributes(i));
                });
            }
        }

        mod histogram_record_0_attributes {
            use super::common::*;
            #[divan::bench]
            fn ours() {
                plugin::HISTOGRAM.record(0.25, &[]);
            }
            #[divan::bench]
            fn otel() {
                hand().histogram.record(0.25, &[]);
            }
        }

        mod histogram_record_3_static_attributes {
            use super::common::*;
            #[divan::bench]
            fn ours() {
                plugin::HISTOGRAM.record(0.25, &static_attributes());
            }
            #[divan::bench]
            fn otel() {
                hand().histogram.record(0.25, &static_attributes());
            }
        }

        mod histogram_record_3_dynamic_attributes {
            use super::common::*;
            #[divan::bench]
            fn ours(bencher: divan::Bencher) {
                let mut i = 0;
                bencher.bench_local(|| {
                    i += 1;
                    plugin::HISTOGRAM.record(0.25, &dynamic_attributes(i));
                });
            }
            #[divan::bench]
            fn otel(bencher: divan::Bencher) {
                let mut i = 0;
                bencher.bench_local(|| {
                    i += 1;
                    hand().histogram.record(0.25, &dynamic_attributes(i));
                });
            }
        }

        mod span_sync {
            use super::common::*;
            #[divan::bench(threads = [1, 2])]
            fn ours() -> u64 {
                plugin::traced(divan::black_box(1))
            }
            #[divan::bench(threads = [1, 2])]
            fn otel() -> u64 {
                hand_traced(divan::black_box(1))
            }
            #[divan::bench]
            fn tracing() -> u64 {
                instrumented(divan::black_box(1))
            }
        }

        mod span_async {
            use super::common::*;
            #[divan::bench]
            fn ours() -> u64 {
                run(plugin::traced_async(divan::black_box(1)))
            }
            #[divan::bench]
            fn otel() -> u64 {
                run(hand_traced_async(divan::black_box(1)))
            }
        }
    };
}
