//! Production export, end to end with the probe application: OTLP over TLS (a CA and
//! certificates made at test time, mutual TLS), the logs signal over both transports, log
//! correlation with zero configuration, and console output kept off stdout.

mod common;

use std::time::Duration;

use backstage_telemetry_tests::otlp::{Received, Receiver, Refusal};
use backstage_telemetry_tests::pki::Pki;
use common::probe::{config_file, run, stdout};

/// The probe exporting traces to `endpoint` with `protocol` and the extra variables.
fn export(protocol: &str, endpoint: String, extra: &[(&'static str, String)]) -> (bool, String) {
    let mut env = vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol.to_owned()),
        ("OTEL_METRICS_EXPORTER", "none".to_owned()),
        ("OTEL_LOGS_EXPORTER", "none".to_owned()),
        ("BACKSTAGE_TELEMETRY_SHUTDOWN_TIMEOUT", "3000".to_owned()),
    ];
    env.extend_from_slice(extra);
    let output = run(&["--spans", "3"], &env);
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The `error` of the span processor's export error, from the JSON log lines.
fn export_error(stderr: &str) -> Option<String> {
    stderr
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|l| l["message"] == "BatchSpanProcessor.ExportError")
        .and_then(|l| l["error"].as_str().map(str::to_owned))
}

/// The status each trace export was answered, in order.
fn trace_statuses(received: &Received) -> Vec<u16> {
    received
        .requests
        .iter()
        .filter(|r| r.path.ends_with("traces"))
        .map(|r| r.status)
        .collect()
}

fn handle_spans(received: &Received) -> usize {
    received
        .spans()
        .iter()
        .filter(|s| s.span.name == "handle")
        .count()
}

/// gRPC over TLS fails with what went wrong, not a guess about client certificates: an
/// `https://` endpoint where nothing listens is unreachable, and a TLS server that does not
/// choose HTTP/2 through ALPN (here the receiver's HTTP/1.1 port, as a TLS terminator
/// without `h2` would be) is named as such.
#[test]
fn grpc_over_tls_errors_say_unreachable_or_alpn() {
    let pki = Pki::generate();
    let ca = ("OTEL_EXPORTER_OTLP_CERTIFICATE", pki.file("ca.pem"));
    let nobody = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let (ok, stderr) = export(
        "grpc",
        format!("https://127.0.0.1:{}", nobody.port()),
        std::slice::from_ref(&ca),
    );
    assert!(ok, "{stderr}");
    let error = export_error(&stderr).unwrap_or_else(|| panic!("no export error in {stderr}"));
    // (the SDK's own words around ours: "Operation failed: ...")
    assert!(
        error.ends_with("OTLP traces export failed: the collector cannot be reached (check OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT)"),
        "{error}"
    );

    let receiver = Receiver::start_tls(&pki.server(false));
    let (ok, stderr) = export(
        "grpc",
        format!("https://127.0.0.1:{}", receiver.http.port()),
        std::slice::from_ref(&ca),
    );
    assert!(ok, "{stderr}");
    let error = export_error(&stderr).unwrap_or_else(|| panic!("no export error in {stderr}"));
    assert!(
        error.contains("did not choose HTTP/2 through ALPN") && error.contains("`h2`"),
        "{error}"
    );
    assert!(!error.contains("client certificate"), "{error}");
    assert!(
        !error.contains(&receiver.http.port().to_string()),
        "{error}"
    );
}

#[test]
fn otlp_over_tls_with_a_custom_ca_and_mutual_tls() {
    let pki = Pki::generate();
    for (protocol, transport) in [("http/protobuf", "http"), ("grpc", "grpc")] {
        let receiver = Receiver::start_tls(&pki.server(false));
        let address = if transport == "grpc" {
            receiver.grpc
        } else {
            receiver.http
        };
        let endpoint = format!("https://127.0.0.1:{}", address.port());

        // with the CA: everything arrives
        let (ok, stderr) = export(
            protocol,
            endpoint.clone(),
            &[("OTEL_EXPORTER_OTLP_CERTIFICATE", pki.file("ca.pem"))],
        );
        assert!(ok, "{protocol}: {stderr}");
        let received = receiver.wait_for(Duration::from_secs(20), |r| handle_spans(r) >= 3);
        assert_eq!(
            handle_spans(&received),
            3,
            "{protocol} with the CA: {stderr}"
        );

        // without it (the system's roots do not know the test CA): nothing arrives, and the
        // error says which variable to set, without the endpoint
        let before = handle_spans(&receiver.received());
        let (ok, stderr) = export(protocol, endpoint.clone(), &[]);
        assert!(ok, "{protocol}: {stderr}");
        std::thread::sleep(Duration::from_millis(500));
        assert_eq!(
            handle_spans(&receiver.received()),
            before,
            "{protocol} without the CA"
        );
        let error = export_error(&stderr)
            .unwrap_or_else(|| panic!("{protocol}: no export error in {stderr}"));
        assert!(
            error.contains("the TLS handshake failed")
                && error.contains("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE"),
            "{protocol} without the CA: {error}"
        );
        assert!(!error.contains(&endpoint), "{error}");

        // a CA file that does not exist: a set-up problem naming the variable, not the path
        let (ok, stderr) = export(
            protocol,
            endpoint,
            &[(
                "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
                pki.file("missing.pem"),
            )],
        );
        assert!(ok);
        assert!(
            stderr.contains("init-problem: OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE names a file that cannot be read (no such file); trace export over OTLP is off"),
            "{stderr}"
        );
        assert!(!stderr.contains("missing.pem"), "{stderr}");
    }

    // mutual TLS: refused without a client certificate, accepted with it
    for (protocol, transport) in [("http/protobuf", "http"), ("grpc", "grpc")] {
        let receiver = Receiver::start_tls(&pki.server(true));
        let address = if transport == "grpc" {
            receiver.grpc
        } else {
            receiver.http
        };
        let endpoint = format!("https://127.0.0.1:{}", address.port());
        let ca = ("OTEL_EXPORTER_OTLP_CERTIFICATE", pki.file("ca.pem"));

        let (ok, stderr) = export(protocol, endpoint.clone(), std::slice::from_ref(&ca));
        assert!(ok, "{stderr}");
        std::thread::sleep(Duration::from_millis(500));
        assert_eq!(
            handle_spans(&receiver.received()),
            0,
            "{protocol}: refused without a client certificate"
        );
        let error = export_error(&stderr)
            .unwrap_or_else(|| panic!("{protocol}: no export error in {stderr}"));
        assert!(
            error.contains("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE") && !error.contains(&endpoint),
            "{protocol}: {error}"
        );

        let (ok, stderr) = export(
            protocol,
            endpoint,
            &[
                ca,
                (
                    "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
                    pki.file("client.pem"),
                ),
                (
                    "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY",
                    pki.file("client-key.pem"),
                ),
            ],
        );
        assert!(ok, "{stderr}");
        let received = receiver.wait_for(Duration::from_secs(20), |r| handle_spans(r) >= 3);
        assert_eq!(
            handle_spans(&received),
            3,
            "{protocol} with a client certificate: {stderr}"
        );
    }
}

#[test]
fn a_client_certificate_without_its_key_turns_off_only_that_exporter() {
    let pki = Pki::generate();
    let config =
        config_file("backend:\n  telemetry:\n    metrics:\n      prometheus: { port: 0 }\n");
    let output = run(
        &["--config", config.as_str(), "--spans", "1"],
        &[
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                "https://127.0.0.1:1".to_owned(),
            ),
            (
                "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
                pki.file("client.pem"),
            ),
        ],
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success());
    assert!(
        stderr.contains(
            "init-problem: OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE is set without its pair"
        ),
        "{stderr}"
    );
    assert!(stdout(&output).contains("metrics-endpoint: 127.0.0.1:"));
}

/// Log records over both transports: body, severity, fields, the span's ids, the plugin.
#[test]
fn tracing_events_are_exported_as_log_records() {
    for protocol in ["http/protobuf", "grpc"] {
        let receiver = Receiver::start();
        let endpoint = match protocol {
            "grpc" => receiver.grpc,
            _ => receiver.http,
        };
        let output = run(
            &["--spans", "3", "--log-items"],
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{endpoint}")),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol.to_owned()),
                ("OTEL_METRICS_EXPORTER", "none".to_owned()),
                ("OTEL_SERVICE_NAME", "portal".to_owned()),
            ],
        );
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let received = receiver.wait_for(Duration::from_secs(20), |r| {
            r.logs().len() >= 6 && r.spans().len() >= 9
        });
        let logs = received.logs();
        let spans = received.spans();
        let handled: Vec<_> = logs
            .iter()
            .filter(|l| l.body().as_deref() == Some("item handled"))
            .collect();
        assert_eq!(handled.len(), 3, "{protocol}");
        for log in &handled {
            assert_eq!(log.record.severity_text, "INFO");
            assert_eq!(log.record.severity_number, 9);
            // the time of the event, not only when it was observed
            assert_ne!(log.record.time_unix_nano, 0, "{protocol}: Timestamp");
            assert_eq!(
                log.record.time_unix_nano, log.record.observed_time_unix_nano,
                "{protocol}"
            );
            assert_eq!(
                log.attribute("backstage.plugin.id").as_deref(),
                Some("probe")
            );
            let item = log.attribute("item").expect("the event's field");
            assert!(
                log.resource
                    .contains(&("service.name".to_owned(), "portal".to_owned()))
            );
            // the record carries the ids of the `handle` span it was logged in
            let span = spans
                .iter()
                .find(|s| s.span.span_id == log.record.span_id)
                .expect("the span the record was logged in");
            assert_eq!(span.span.name, "handle");
            assert_eq!(span.span.trace_id, log.record.trace_id);
            assert_eq!(span.attribute("probe.item.index"), Some(item));
        }
        // inside a `tracing` span inside the `#[span]`: that span's ids, and the plugin
        let checked: Vec<_> = logs
            .iter()
            .filter(|l| l.body().as_deref() == Some("item checked"))
            .collect();
        assert_eq!(checked.len(), 3, "{protocol}");
        for log in &checked {
            assert_eq!(
                log.attribute("backstage.plugin.id").as_deref(),
                Some("probe")
            );
            let span = spans
                .iter()
                .find(|s| s.span.span_id == log.record.span_id)
                .expect("the tracing span");
            assert_eq!(span.span.name, "check-item");
            // the `tracing` span inherits the plugin of the span it started in
            assert_eq!(
                span.attribute("backstage.plugin.id").as_deref(),
                Some("probe")
            );
            let parent = spans
                .iter()
                .find(|s| s.span.span_id == span.span.parent_span_id)
                .expect("its parent");
            assert_eq!(parent.span.name, "handle");
        }
        // nothing of OpenTelemetry's own is exported as a log record
        assert!(
            logs.iter()
                .all(|l| !l.record.event_name.starts_with("BatchSpanProcessor"))
        );
    }
}

/// With no configuration (traces not exported) log lines still carry their own span's ids.
#[test]
fn log_lines_carry_span_ids_with_zero_configuration() {
    let config =
        config_file("backend:\n  telemetry:\n    metrics:\n      prometheus: { port: 0 }\n");
    let lines = |args: &[&str]| -> Vec<serde_json::Value> {
        let mut all = vec!["--config", config.as_str(), "--spans", "3", "--log-items"];
        all.extend_from_slice(args);
        let output = run(&all, &[]);
        assert!(output.status.success());
        String::from_utf8_lossy(&output.stderr)
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|l| l["message"] == "item handled")
            .collect()
    };
    let handled = lines(&[]);
    assert_eq!(handled.len(), 3);
    let mut span_ids = std::collections::BTreeSet::new();
    for line in &handled {
        let trace = line["trace_id"].as_str().expect("trace_id");
        let span = line["span_id"].as_str().expect("span_id");
        assert_eq!((trace.len(), span.len()), (32, 16), "{line}");
        assert_ne!(span, "0000000000000000");
        assert_eq!(line["plugin"], "probe");
        span_ids.insert(span.to_owned());
    }
    assert_eq!(span_ids.len(), 3, "each call has a span of its own");

    // a caller's traceparent: its trace id, our own span id
    let caller_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller_span = "00f067aa0ba902b7";
    for flags in ["01", "00"] {
        let handled = lines(&[
            "--traceparent",
            &format!("00-{caller_trace}-{caller_span}-{flags}"),
        ]);
        assert_eq!(handled.len(), 3);
        for line in &handled {
            assert_eq!(line["trace_id"], caller_trace, "{line}");
            assert_ne!(line["span_id"], caller_span, "{line}");
        }
    }
}

/// `console` exporters write to stderr: stdout stays the application's own.
#[test]
fn console_exporters_write_to_stderr() {
    let output = run(
        &["--spans", "2", "--metrics", "--log-items"],
        &[
            ("OTEL_TRACES_EXPORTER", "console".to_owned()),
            ("OTEL_METRICS_EXPORTER", "console".to_owned()),
            ("OTEL_LOGS_EXPORTER", "console".to_owned()),
        ],
    );
    let (out, err) = (
        stdout(&output),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    );
    assert!(output.status.success(), "{err}");
    assert!(err.contains("span handle trace="), "{err}");
    assert!(err.contains("backstage.plugin.id=probe"), "{err}");
    assert!(
        err.contains(
            "metric backstage.plugin.probe.items.handled {item} scope=backstage-plugin-probe"
        ),
        "{err}"
    );
    assert!(err.contains(" INFO \"item handled\" trace="), "{err}");
    for line in out.lines() {
        assert!(
            !line.starts_with("span ") && !line.starts_with("metric ") && !line.starts_with("log "),
            "console output on stdout: {line}"
        );
    }
}

/// A throttling collector, over both transports: the first trace export is refused as
/// throttled with a delay of 2 s (http/protobuf: 429 with `Retry-After: 2`; gRPC:
/// `RESOURCE_EXHAUSTED` with a `RetryInfo` of 2 s), the next as unavailable with 1 s (503 /
/// `UNAVAILABLE`). The exporter waits what it is told (measured as the receiver's arrival
/// times, not the 250 ms and 500 ms of its own backoff) and every span arrives, once. Over
/// gRPC, `RESOURCE_EXHAUSTED` without a `RetryInfo` is not retried.
#[test]
fn a_throttling_collector_sets_the_pause_and_nothing_is_lost() {
    for (protocol, transport) in [("http/protobuf", "http"), ("grpc", "grpc")] {
        let receiver = Receiver::start();
        receiver.refuse_next([
            Refusal {
                status: 429,
                retry_after: Some("2".to_owned()),
            },
            Refusal {
                status: 503,
                retry_after: Some("1".to_owned()),
            },
        ]);
        let endpoint = match transport {
            "grpc" => receiver.grpc,
            _ => receiver.http,
        };
        let (ok, stderr) = export(
            protocol,
            format!("http://{endpoint}"),
            &[
                ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned()),
                ("BACKSTAGE_TELEMETRY_SHUTDOWN_TIMEOUT", "8000".to_owned()),
            ],
        );
        assert!(ok, "{protocol}: {stderr}");
        let received = receiver.wait_for(Duration::from_secs(10), |r| handle_spans(r) >= 3);
        let traces: Vec<_> = received
            .requests
            .iter()
            .filter(|r| r.path.ends_with("traces"))
            .collect();
        assert_eq!(
            trace_statuses(&received),
            [429, 503, 200],
            "{protocol}: {traces:?}"
        );
        let pauses: Vec<Duration> = traces.windows(2).map(|w| w[1].at - w[0].at).collect();
        eprintln!("{protocol}: pauses between attempts: {pauses:?}");
        assert!(
            pauses[0] >= Duration::from_secs(2),
            "{protocol}: {pauses:?}"
        );
        assert!(
            pauses[1] >= Duration::from_secs(1),
            "{protocol}: {pauses:?}"
        );
        assert_eq!(handle_spans(&received), 3, "{protocol}: every span, once");
    }

    // throttled without saying when: the batch is not tried again
    let receiver = Receiver::start();
    receiver.refuse_next([Refusal {
        status: 429,
        retry_after: None,
    }]);
    let (_, stderr) = export(
        "grpc",
        format!("http://{}", receiver.grpc),
        &[("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned())],
    );
    let received = receiver.wait_for(Duration::from_secs(2), |r| handle_spans(r) >= 3);
    assert_eq!(trace_statuses(&received), [429], "{stderr}");
}

/// Shutdown during a pause between attempts: the collector answers 503 three times
/// (attempts at about 0, 0.25 and 0.75 s; the next pause would end at 1.75 s), and the
/// shutdown's 2 s deadline cuts the pause at 1.5 s for one last attempt, which the
/// collector, back by then, takes: the batch arrives.
#[test]
fn a_collector_back_before_the_shutdown_deadline_gets_the_batch() {
    let receiver = Receiver::start();
    let unavailable = || Refusal {
        status: 503,
        retry_after: None,
    };
    receiver.refuse_next([unavailable(), unavailable(), unavailable()]);
    let (ok, stderr) = export(
        "http/protobuf",
        format!("http://{}", receiver.http),
        &[
            ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned()),
            ("BACKSTAGE_TELEMETRY_SHUTDOWN_TIMEOUT", "2000".to_owned()),
        ],
    );
    assert!(ok, "{stderr}");
    let received = receiver.wait_for(Duration::from_secs(5), |r| handle_spans(r) >= 3);
    assert_eq!(trace_statuses(&received), [503, 503, 503, 200], "{stderr}");
    assert_eq!(handle_spans(&received), 3, "every span, once");
}
