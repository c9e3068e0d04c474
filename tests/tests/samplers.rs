//! Trace sampling as an operator sets it (`OTEL_TRACES_SAMPLER` / `_ARG`, or
//! `backend.telemetry.traces.sampler` / `samplerArg`), on what the probe exports over OTLP:
//! the share of 10 000 root traces a ratio keeps, and parent-based decisions following an
//! incoming `traceparent`.

mod common;

use std::time::Duration;

use backstage_telemetry_tests::otlp::Receiver;
use common::probe::{config_file, run};

/// The `handle` spans exported when the probe handles `items` with these settings.
fn exported(items: u64, args: &[&str], env: &[(&'static str, &str)]) -> usize {
    let receiver = Receiver::start();
    let mut vars = vec![
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            format!("http://{}", receiver.http),
        ),
        ("OTEL_METRICS_EXPORTER", "none".to_owned()),
        // room for every span: the count is the sampler's, not the queue's
        ("OTEL_BSP_MAX_QUEUE_SIZE", "65536".to_owned()),
        ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "8192".to_owned()),
    ];
    vars.extend(env.iter().map(|(name, value)| (*name, (*value).to_owned())));
    let items = items.to_string();
    let mut all = vec!["--spans", items.as_str()];
    all.extend_from_slice(args);
    let output = run(&all, &vars);
    assert!(output.status.success(), "{output:?}");
    assert!(
        !String::from_utf8_lossy(&output.stderr).contains("init-problem"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // the probe has flushed at its shutdown: what arrived is all there is
    std::thread::sleep(Duration::from_millis(200));
    receiver
        .received()
        .spans()
        .iter()
        .filter(|s| s.span.name == "handle")
        .count()
}

#[test]
fn a_ratio_keeps_its_share_of_10_000_root_traces() {
    const ROOTS: u64 = 10_000;
    for (ratio, env_or_file) in [("0.25", "env"), ("0.1", "file")] {
        let config = config_file(&format!(
            "backend:\n  telemetry:\n    traces:\n      sampler: traceidratio\n      samplerArg: {ratio}\n"
        ));
        let count = match env_or_file {
            "env" => exported(
                ROOTS,
                &[],
                &[
                    ("OTEL_TRACES_SAMPLER", "TraceIdRatio"),
                    ("OTEL_TRACES_SAMPLER_ARG", ratio),
                ],
            ),
            _ => exported(ROOTS, &["--config", config.as_str()], &[]),
        };
        // binomial: within 5 standard deviations of the expected count
        let p: f64 = ratio.parse().unwrap();
        let expected = ROOTS as f64 * p;
        let sigma = (ROOTS as f64 * p * (1.0 - p)).sqrt();
        eprintln!("{ratio} ({env_or_file}): {count} of {ROOTS} root traces exported");
        assert!(
            (count as f64 - expected).abs() < 5.0 * sigma,
            "{ratio}: {count} of {ROOTS} (expected {expected} ± {})",
            5.0 * sigma
        );
    }
    assert_eq!(
        exported(100, &[], &[("OTEL_TRACES_SAMPLER", "always_off")]),
        0
    );
    assert_eq!(
        exported(100, &[], &[("OTEL_TRACES_SAMPLER", "always_on")]),
        100
    );
}

#[test]
fn parent_based_samplers_follow_the_incoming_traceparent() {
    const SAMPLED: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    const NOT_SAMPLED: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
    let with = |sampler: &str, traceparent: Option<&str>| {
        let mut args = Vec::new();
        if let Some(traceparent) = traceparent {
            args.extend(["--traceparent", traceparent]);
        }
        exported(20, &args, &[("OTEL_TRACES_SAMPLER", sampler)])
    };
    // the parent's decision wins over the root sampler
    assert_eq!(with("parentbased_always_off", Some(SAMPLED)), 20);
    assert_eq!(with("parentbased_always_on", Some(NOT_SAMPLED)), 0);
    assert_eq!(with("parentbased_traceidratio", Some(SAMPLED)), 20);
    // without a parent, the root sampler decides
    assert_eq!(with("parentbased_always_off", None), 0);
    assert_eq!(with("parentbased_always_on", None), 20);
    // not parent-based: the parent is ignored
    assert_eq!(with("always_off", Some(SAMPLED)), 0);
    assert_eq!(with("always_on", Some(NOT_SAMPLED)), 20);
    // the default is parent-based, always on
    assert_eq!(exported(20, &["--traceparent", NOT_SAMPLED], &[]), 0);
}

#[test]
fn a_bad_sampler_is_a_problem_and_the_default_applies() {
    let receiver = Receiver::start();
    let output = run(
        &["--spans", "5"],
        &[
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                format!("http://{}", receiver.http),
            ),
            ("OTEL_METRICS_EXPORTER", "none".to_owned()),
            ("OTEL_TRACES_SAMPLER", "traceidratio".to_owned()),
            ("OTEL_TRACES_SAMPLER_ARG", "1.5".to_owned()),
        ],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("init-problem: OTEL_TRACES_SAMPLER_ARG must be a number from 0 to 1; using 1 (every trace)"),
        "{stderr}"
    );
    assert!(!stderr.contains("1.5"), "{stderr}");
    std::thread::sleep(Duration::from_millis(200));
    let handled = receiver
        .received()
        .spans()
        .iter()
        .filter(|s| s.span.name == "handle")
        .count();
    assert_eq!(handled, 5, "a ratio of 1: every trace");
}
