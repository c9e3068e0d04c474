//! Runs one span variant (or a counter add) many times, for `valgrind --tool=callgrind`:
//! `profile_span ours|otel|ours_async|otel_async|counter [iterations] [sampled|reinstalled|none|init]`.
//!
//! The set-up: `sampled` (default) an SDK that samples every span, `reinstalled` the same
//! after the sites were used and new providers were installed (late binding), `none` no SDK at all,
//! `init` what `backstage_telemetry::init` installs with zero configuration (metrics off):
//! an SDK tracer provider without exporters, so log lines carry span ids.

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
        other => panic!("unknown set-up {other}"),
    };
    common::warm_up();
    let mut sum = 0;
    for i in 0..iterations {
        sum += match variant.as_str() {
            "ours" => common::plugin::traced(i),
            "otel" => common::hand_traced(i),
            "ours_async" => common::run(common::plugin::traced_async(i)),
            "otel_async" => common::run(common::hand_traced_async(i)),
            "counter" => {
                common::plugin::COUNTER.add(1, &[]);
                i
            }
            other => panic!("unknown variant {other}"),
        };
    }
    println!("{variant}: {sum}");
}
