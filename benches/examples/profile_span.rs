//! Runs one variant many times, for `valgrind --tool=callgrind` (and
//! `benches/callgrind/run.py`, which compares them):
//! `profile_span VARIANT [iterations] [sampled|unsampled|reinstalled|none|init|init_ratio]`.
//!
//! Variants: `ours`, `ours_attribute`, `ours_async` (`#[span]` functions), `ours_metrics`
//! (`#[span(metrics)]`); `same`,
//! `same_attribute`, `same_async`, `same_metrics` (the same behaviour by hand on the SDK); `floor`
//! (that of `same`, in the fewest calls the SDK allows); `otel`,
//! `otel_async` (`tracer.in_span` and `with_context`); `tracing` (`#[instrument]` through
//! tracing-opentelemetry); `counter`, `counter_hand` (`metric!` and a hand-cached counter);
//! `bare` (the body alone, for what the loop itself costs).
//!
//! The set-up: `sampled` (default) an SDK that samples every span, `sampled_exemplars` the
//! same with span metrics' exemplars kept (as while `/metrics` is served), `unsampled` one
//! that samples none, `reinstalled` the sampled one
//! after the sites were used and new providers were installed (late binding), `none` no SDK at all,
//! `init` what `backstage_telemetry::init` installs with zero configuration (metrics off):
//! an SDK tracer provider without exporters, so log lines carry span ids; `init_ratio` `init`
//! with `parentbased_traceidratio` at 0 and a span processor (every root dropped).

#[path = "../benches/common/mod.rs"]
mod common;

fn main() {
    let mut args = std::env::args().skip(1);
    let variant = args.next().unwrap_or_else(|| "ours".to_owned());
    let iterations: u64 = args.next().and_then(|n| n.parse().ok()).unwrap_or(100_000);
    let setup = args.next().unwrap_or_else(|| "sampled".to_owned());
    let _telemetry = match setup.as_str() {
        "sampled" => {
            common::install_sdk(true);
            None
        }
        "unsampled" => {
            common::install_sdk(false);
            None
        }
        "sampled_exemplars" => {
            common::install_sdk(true);
            backstage_telemetry::__private::keep_exemplars(true);
            None
        }
        "reinstalled" => {
            common::install_sdk(true);
            common::warm_up();
            let _ = common::plugin::COUNTER.name();
            common::plugin::COUNTER.add(1, &[]);
            common::install_providers(true);
            None
        }
        "none" => {
            common::install_none();
            None
        }
        "init" => {
            let config = backstage_telemetry::Config::from_yaml_str(
                "app-config.yaml",
                "backend:\n  telemetry:\n    metrics:\n      exporter: none\n",
            )
            .expect("config");
            Some(backstage_telemetry::init(&config))
        }
        "init_ratio" => {
            // an operator's ratio, with somewhere for kept spans to go: every root is
            // dropped (ratio 0), by the decision on its new trace id
            let config = backstage_telemetry::Config::from_yaml_str(
                "app-config.yaml",
                "backend:\n  telemetry:\n    metrics:\n      exporter: none\n    traces:\n      exporter: none\n      sampler: parentbased_traceidratio\n      samplerArg: 0\n",
            )
            .expect("config");
            let kept = backstage_telemetry::sdk::module("kept", |parts| {
                parts.add_span_processor(Kept);
                Ok(())
            });
            let telemetry = backstage_telemetry::Telemetry::builder(&config)
                .with_module(kept)
                .init();
            assert!(
                telemetry.problems().is_empty(),
                "{:?}",
                telemetry.problems()
            );
            Some(telemetry)
        }
        other => panic!("unknown set-up {other}"),
    };
    common::warm_up();
    // chosen once: the loop is one indirect call per iteration, the same for every variant
    let call: fn(u64) -> u64 = match variant.as_str() {
        "bare" => |i| std::hint::black_box(i) + 1,
        "ours" => common::plugin::traced,
        "otel" => common::hand_traced,
        "ours_async" => |i| common::run(common::plugin::traced_async(i)),
        "otel_async" => |i| common::run(common::hand_traced_async(i)),
        "ours_attribute" => common::plugin::traced_attribute,
        "ours_metrics" => common::plugin::traced_metrics,
        "same" => common::same_traced,
        "same_attribute" => common::same_traced_attribute,
        "same_metrics" => common::same_traced_metrics,
        "same_async" => |i| common::run(common::same_traced_async(i)),
        "floor" => common::floor_traced,
        "context_floor" => common::context_floor,
        "tracing" => common::instrumented,
        "counter" => |i| {
            common::plugin::COUNTER.add(1, &[]);
            i
        },
        "counter_hand" => |i| {
            common::hand().counter.add(1, &[]);
            i
        },
        other => panic!("unknown variant {other}"),
    };
    let mut sum = 0u64;
    for i in 0..iterations {
        sum = sum.wrapping_add(call(std::hint::black_box(i)));
    }
    println!("{variant}: {sum}");
}

/// A span processor that keeps nothing (spans kept by the sampler would reach it).
#[derive(Debug)]
struct Kept;

impl opentelemetry_sdk::trace::SpanProcessor for Kept {
    fn on_start(&self, _: &mut opentelemetry_sdk::trace::Span, _: &opentelemetry::Context) {}
    fn on_end(&self, _: opentelemetry_sdk::trace::SpanData) {}
    fn force_flush(&self) -> opentelemetry_sdk::error::OTelSdkResult {
        Ok(())
    }
    fn shutdown_with_timeout(
        &self,
        _: std::time::Duration,
    ) -> opentelemetry_sdk::error::OTelSdkResult {
        Ok(())
    }
}
