//! Telemetry modules, end to end with the probe application (`--module`, see
//! `src/bin/probe.rs`): a third-party exporter crate (`opentelemetry-zipkin`) against a
//! Zipkin receiver beside the built-in OTLP exporter, an edit that redacts an attribute
//! before every exporter, resource attributes, a propagator, a sampler and a metric exporter
//! that replaces the default; modules that fail or panic while registering, and a processor
//! that hangs at shutdown or panics at every span.

mod common;

use std::time::Duration;

use backstage_telemetry_tests::otlp::{ReceivedSpan, Receiver};
use backstage_telemetry_tests::zipkin::ZipkinReceiver;
use common::probe::{run, stdout};

/// The probe exporting traces over OTLP (http/protobuf) to `receiver`, with `extra`
/// variables; metrics and logs off unless `extra` says otherwise.
fn env(receiver: &Receiver, extra: &[(&'static str, &str)]) -> Vec<(&'static str, String)> {
    let mut env = vec![
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            format!("http://{}", receiver.http),
        ),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf".to_owned()),
        ("OTEL_METRICS_EXPORTER", "none".to_owned()),
        ("OTEL_LOGS_EXPORTER", "none".to_owned()),
        ("BACKSTAGE_TELEMETRY_SHUTDOWN_TIMEOUT", "3000".to_owned()),
    ];
    for (name, value) in extra {
        env.retain(|(n, _)| n != name);
        env.push((name, (*value).to_owned()));
    }
    env
}

fn named<'a>(spans: &'a [ReceivedSpan], name: &str) -> Vec<&'a ReceivedSpan> {
    spans.iter().filter(|s| s.span.name == name).collect()
}

fn problems(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter_map(|l| l.strip_prefix("init-problem: "))
        .collect()
}

/// The probe's `shutdown: ...` line.
fn shutdown_line(out: &str) -> &str {
    out.lines()
        .find(|l| l.starts_with("shutdown: "))
        .expect("shutdown line")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A vendor's exporter crate plugged in through a module receives the same spans as the
/// built-in OTLP exporter, with the same trace and span ids, parents, unique attributes and
/// plugin id, and the redacting module's edit applied before both.
#[test]
fn a_third_party_exporter_and_a_redacting_edit_reach_every_exporter() {
    let receiver = Receiver::start();
    let zipkin = ZipkinReceiver::start();
    let module = format!("zipkin={}", zipkin.endpoint());
    let output = run(
        &[
            "--spans", "5", "--module", &module, "--module", "redact", "--module", "resource",
        ],
        &env(&receiver, &[]),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(problems(&stderr).is_empty(), "{stderr}");
    assert!(
        stdout(&output).contains("shutdown: ok"),
        "{}",
        stdout(&output)
    );

    // the built-in exporter
    let received = receiver.wait_for(Duration::from_secs(10), |r| {
        named(&r.spans(), "handle").len() >= 5
    });
    let spans = received.spans();
    let handles = named(&spans, "handle");
    assert_eq!(handles.len(), 5);
    for span in &handles {
        assert_eq!(
            span.attribute("probe.item.index").as_deref(),
            Some("[redacted]")
        );
        assert_eq!(
            span.attribute("backstage.plugin.id").as_deref(),
            Some("probe")
        );
        assert!(
            span.resource
                .contains(&("deployment.region".to_owned(), "probe-region".to_owned())),
            "{:?}",
            span.resource
        );
    }

    // the module's exporter, over Zipkin's JSON
    let zipkin_spans = zipkin.wait_for(Duration::from_secs(10), |s| {
        s.iter().filter(|s| s["name"] == "handle").count() >= 5
    });
    let zipkin_handles: Vec<_> = zipkin_spans
        .iter()
        .filter(|s| s["name"] == "handle")
        .collect();
    assert_eq!(zipkin_handles.len(), 5, "{zipkin_spans:?}");
    for span in &zipkin_handles {
        assert_eq!(span["tags"]["probe.item.index"], "[redacted]", "{span}");
        assert_eq!(span["tags"]["backstage.plugin.id"], "probe", "{span}");
        assert_eq!(span["kind"], "SERVER", "{span}");
        // the same span as the one exported over OTLP
        let id = span["id"].as_str().expect("id");
        let twin = handles
            .iter()
            .find(|s| hex(&s.span.span_id) == id)
            .unwrap_or_else(|| panic!("no OTLP span with id {id}"));
        assert_eq!(
            span["traceId"].as_str(),
            Some(hex(&twin.span.trace_id).as_str())
        );
    }
    // parents as in the process: each validate-item span is a child of its handle span
    let validates: Vec<_> = zipkin_spans
        .iter()
        .filter(|s| s["name"] == "validate-item")
        .collect();
    assert_eq!(validates.len(), 5);
    for span in validates {
        assert!(
            zipkin_handles.iter().any(|h| h["id"] == span["parentId"]),
            "{span}"
        );
    }
}

/// A module whose registration fails or panics is named in a problem and adds nothing (its
/// exporter never runs); the other modules and the built-in exporters run. `init_strict`
/// refuses and names both.
#[test]
fn a_module_that_fails_or_panics_while_registering_is_off_alone() {
    let receiver = Receiver::start();
    let modules = [
        "--spans",
        "3",
        "--module",
        "failing",
        "--module",
        "panicking",
        "--module",
        "resource",
    ];
    let output = run(&modules, &env(&receiver, &[]));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert_eq!(
        problems(&stderr),
        [
            "telemetry module `failing` could not register: the module's endpoint is not set; \
             none of its parts is used",
            "telemetry module `panicking` panicked while registering: registration bug; none \
             of its parts is used",
        ],
        "{stderr}"
    );
    let out = stdout(&output);
    assert!(!out.contains("leaked-span"), "{out}");
    assert!(out.contains("shutdown: ok"), "{out}");
    let received = receiver.wait_for(Duration::from_secs(10), |r| {
        named(&r.spans(), "handle").len() >= 3
    });
    let spans = received.spans();
    assert_eq!(named(&spans, "handle").len(), 3);
    assert!(
        spans[0]
            .resource
            .contains(&("deployment.region".to_owned(), "probe-region".to_owned()))
    );

    let mut strict = modules.to_vec();
    strict.push("--strict");
    let output = run(&strict, &env(&receiver, &[]));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(
            "init-error: telemetry set-up: telemetry module `failing` could not register: the \
             module's endpoint is not set; telemetry module `panicking` panicked while \
             registering: registration bug"
        ),
        "{stderr}"
    );
}

/// A module's processor that never finishes its shutdown cannot hold the shutdown past its
/// deadline: it is named, left running, and the built-in exporter has flushed every span
/// before it. A processor that panics at every span's end harms nothing else.
#[test]
fn a_hanging_module_cannot_extend_the_shutdown_deadline() {
    let receiver = Receiver::start();
    let output = run(
        &[
            "--spans",
            "4",
            "--module",
            "hanging",
            "--module",
            "panicking-processor",
        ],
        &env(
            &receiver,
            &[("BACKSTAGE_TELEMETRY_SHUTDOWN_TIMEOUT", "1500")],
        ),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(problems(&stderr).is_empty(), "{stderr}");
    let out = stdout(&output);
    let line = shutdown_line(&out);
    assert!(
        line.starts_with(
            "shutdown: telemetry shutdown: telemetry module `hanging` (traces): shutdown did \
             not finish by the deadline (1500 ms; left running in the background) after "
        ),
        "{line}"
    );
    // the only failure: the panicking processor's and the built-in exporter's are fine
    assert_eq!(line.matches("telemetry module").count(), 1, "{line}");
    let took: u64 = line
        .rsplit("after ")
        .next()
        .and_then(|rest| rest.strip_suffix(" ms"))
        .and_then(|ms| ms.parse().ok())
        .expect("shutdown duration");
    // the processor sleeps an hour; the deadline is 1.5 s
    assert!(took < 10_000, "{line}");
    let spans = receiver.received().spans();
    assert_eq!(named(&spans, "handle").len(), 4);
    assert_eq!(named(&spans, "validate-item").len(), 4);
}

/// A module's metric reader that never stops is held to the deadline as a processor is,
/// and the built-in metric exporter still sends its last collection.
#[test]
fn a_hanging_metric_reader_cannot_extend_the_shutdown_deadline() {
    let receiver = Receiver::start();
    let output = run(
        &["--metrics", "--spans", "2", "--module", "hanging-reader"],
        &env(
            &receiver,
            &[
                ("OTEL_METRICS_EXPORTER", "otlp"),
                ("BACKSTAGE_TELEMETRY_SHUTDOWN_TIMEOUT", "1500"),
            ],
        ),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let out = stdout(&output);
    let line = shutdown_line(&out);
    assert!(
        line.starts_with(
            "shutdown: telemetry shutdown: telemetry module `hanging-reader` (metrics): shutdown \
             did not finish by the deadline (1500 ms; left running in the background) after "
        ),
        "{line}"
    );
    assert_eq!(line.matches("telemetry module").count(), 1, "{line}");
    let metrics = receiver.received().metrics();
    assert!(
        metrics
            .iter()
            .any(|m| m.metric.name == "backstage.plugin.probe.items.handled"),
        "the built-in exporter's last collection"
    );
}

/// A module's metric exporter replaces the default `/metrics` endpoint when the operator
/// named no metrics exporter, and runs beside the one the operator named.
#[test]
fn a_module_replaces_default_exporters_only_unless_the_operator_chose() {
    let receiver = Receiver::start();
    let defaults = env(&receiver, &[]);
    let defaults: Vec<_> = defaults
        .into_iter()
        .filter(|(n, _)| *n != "OTEL_METRICS_EXPORTER")
        .collect();
    let output = run(
        &["--metrics", "--spans", "2", "--module", "metrics"],
        &defaults,
    );
    let out = stdout(&output);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!out.contains("metrics-endpoint:"), "{out}");
    assert!(
        out.contains("module-metric: backstage.plugin.probe.items.handled"),
        "{out}"
    );

    let chosen = env(
        &receiver,
        &[
            ("OTEL_METRICS_EXPORTER", "prometheus"),
            ("OTEL_EXPORTER_PROMETHEUS_PORT", "0"),
        ],
    );
    let output = run(
        &["--metrics", "--spans", "2", "--module", "metrics"],
        &chosen,
    );
    let out = stdout(&output);
    assert!(out.contains("metrics-endpoint: 127.0.0.1:"), "{out}");
    assert!(
        out.contains("module-metric: backstage.plugin.probe.items.handled"),
        "{out}"
    );
}

/// A module's propagator is installed after the configured ones; a module's sampler is
/// used unless the operator names one.
#[test]
fn a_module_propagator_is_added_and_its_sampler_yields_to_the_operator() {
    let receiver = Receiver::start();
    let args = [
        "--spans",
        "3",
        "--inject",
        "--module",
        "propagator",
        "--module",
        "sampler",
    ];
    let output = run(&args, &env(&receiver, &[]));
    let out = stdout(&output);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let injected = |out: &str, name: &str| -> String {
        out.lines()
            .find_map(|l| l.strip_prefix(&format!("injected: {name}=")))
            .unwrap_or_else(|| panic!("no {name} in {out}"))
            .to_owned()
    };
    let traceparent = injected(&out, "traceparent");
    let parts: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(parts.len(), 4, "{traceparent}");
    assert_eq!(injected(&out, "x-probe-span"), parts[2]);
    // the module's sampler drops every span
    assert_eq!(parts[3], "00", "{traceparent}");
    assert!(receiver.received().spans().is_empty());

    let output = run(
        &args,
        &env(&receiver, &[("OTEL_TRACES_SAMPLER", "always_on")]),
    );
    let out = stdout(&output);
    assert!(injected(&out, "traceparent").ends_with("-01"), "{out}");
    let received = receiver.wait_for(Duration::from_secs(10), |r| {
        named(&r.spans(), "handle").len() >= 3
    });
    assert_eq!(named(&received.spans(), "handle").len(), 3);
}

/// A module's log exporter gets the `tracing` events as log records, with the plugin id of
/// the span they were logged in, and the resource, as the built-in exporters do.
#[test]
fn a_module_log_exporter_gets_records_with_the_plugin_id_and_the_resource() {
    let receiver = Receiver::start();
    let output = run(
        &["--spans", "2", "--log-items", "--module", "logs"],
        &env(&receiver, &[("OTEL_SERVICE_NAME", "portal")]),
    );
    let out = stdout(&output);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let logs: Vec<&str> = out
        .lines()
        .filter(|l| l.starts_with("module-log: "))
        .collect();
    assert_eq!(
        logs.iter()
            .filter(|l| l.contains("\"item handled\""))
            .count(),
        2,
        "{out}"
    );
    assert!(
        logs.iter()
            .all(|l| l.ends_with("plugin=String(Owned(\"probe\"))")
                || l.ends_with("plugin=String(Static(\"probe\"))")),
        "{out}"
    );
    // the provider gave the module's exporter its resource
    assert!(logs.iter().all(|l| l.contains(" service=portal ")), "{out}");
}
