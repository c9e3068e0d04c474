//! Through a real collector: the probe exports traces, metrics and logs to the rotel agent
//! (its OTLP receivers, over http/protobuf and gRPC), which exports them over OTLP to the
//! receiver of this test. Names, scopes, resource and ids must arrive intact.
//!
//! The agent is `rotel-agent` (`backstage_telemetry_tests::rotel`). Missing, the test says so
//! and passes; under CI (`CI` set) it fails.

mod common;

use std::time::Duration;

use backstage_telemetry_tests::otlp::Receiver;
use backstage_telemetry_tests::rotel::{Rotel, agent_or_skip};
use common::probe::run;

#[test]
fn traces_metrics_and_logs_pass_through_a_real_collector() {
    let Some(agent) = agent_or_skip() else {
        return;
    };
    for protocol in ["http/protobuf", "grpc"] {
        let receiver = Receiver::start();
        let rotel = Rotel::start(&agent, receiver.grpc);
        let endpoint = match protocol {
            "grpc" => rotel.grpc,
            _ => rotel.http,
        };
        let output = run(
            &["--spans", "10", "--metrics", "--log-items"],
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{endpoint}")),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol.to_owned()),
                ("OTEL_METRICS_EXPORTER", "otlp".to_owned()),
                ("OTEL_SERVICE_NAME", "portal".to_owned()),
            ],
        );
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let received = receiver.wait_for(Duration::from_secs(30), |r| {
            r.spans().len() >= 20 && !r.metrics().is_empty() && r.logs().len() >= 9
        });
        let spans = received.spans();
        let handles: Vec<_> = spans.iter().filter(|s| s.span.name == "handle").collect();
        assert_eq!(handles.len(), 10, "{protocol}: spans through rotel");
        for span in &handles {
            assert_eq!(span.scope_name, "backstage-plugin-probe");
            assert!(
                span.resource
                    .contains(&("service.name".to_owned(), "portal".to_owned()))
            );
            assert_eq!(
                span.attribute("backstage.plugin.id").as_deref(),
                Some("probe")
            );
        }
        let validate = spans
            .iter()
            .find(|s| s.span.name == "validate-item")
            .expect("validate-item");
        let parent = spans
            .iter()
            .find(|s| s.span.span_id == validate.span.parent_span_id)
            .expect("its parent came through too");
        assert_eq!(
            (parent.span.name.as_str(), &parent.span.trace_id),
            ("handle", &validate.span.trace_id)
        );

        let metrics = received.metrics();
        let items = metrics
            .iter()
            .find(|m| m.metric.name == "backstage.plugin.probe.items.handled")
            .expect("the counter through rotel");
        assert_eq!(items.scope_name, "backstage-plugin-probe");
        assert_eq!(items.metric.unit, "{item}");
        assert!(
            items
                .resource
                .contains(&("service.name".to_owned(), "portal".to_owned()))
        );

        let logs = received.logs();
        let handled: Vec<_> = logs
            .iter()
            .filter(|l| l.body().as_deref() == Some("item handled"))
            .collect();
        assert_eq!(
            handled.len(),
            9,
            "{protocol}: one log record per accepted item"
        );
        for log in &handled {
            assert_eq!(
                log.attribute("backstage.plugin.id").as_deref(),
                Some("probe")
            );
            assert!(
                handles.iter().any(|s| s.span.span_id == log.record.span_id
                    && s.span.trace_id == log.record.trace_id),
                "{protocol}: a log record's ids match its span"
            );
        }
        drop(rotel);
    }
}

/// A rolling restart of the collector in the middle of a steady load: the agent is killed
/// for 6 s while the probe handles an item every 100 ms (spans, log records and a counter,
/// exported every 200 ms), then started again on the same ports. Every span and log record
/// arrives, and the last cumulative counter carries the full total. (With
/// `BACKSTAGE_TELEMETRY_RETRY_BUDGET=0` added to the probe's environment this fails: 30 of
/// the 90 spans arrive.)
#[test]
fn a_collector_restart_loses_nothing_that_fits_in_the_queue() {
    use opentelemetry_proto::tonic::metrics::v1::{metric::Data, number_data_point::Value};
    let Some(agent) = agent_or_skip() else {
        return;
    };
    for protocol in ["http/protobuf", "grpc"] {
        let receiver = Receiver::start();
        let rotel = Rotel::start(&agent, receiver.grpc);
        let (grpc, http) = (rotel.grpc, rotel.http);
        let endpoint = match protocol {
            "grpc" => grpc,
            _ => http,
        };
        const ITEMS: u64 = 90;
        let probe = std::thread::spawn(move || {
            run(
                &[
                    "--spans",
                    &ITEMS.to_string(),
                    "--interval-ms",
                    "100",
                    "--metrics",
                    "--log-items",
                ],
                &[
                    ("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{endpoint}")),
                    ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol.to_owned()),
                    ("OTEL_METRICS_EXPORTER", "otlp".to_owned()),
                    ("OTEL_BSP_SCHEDULE_DELAY", "200".to_owned()),
                    ("OTEL_BLRP_SCHEDULE_DELAY", "200".to_owned()),
                    ("OTEL_METRIC_EXPORT_INTERVAL", "200".to_owned()),
                    ("OTEL_EXPORTER_OTLP_TIMEOUT", "2000".to_owned()),
                    ("BACKSTAGE_TELEMETRY_SHUTDOWN_TIMEOUT", "10000".to_owned()),
                ],
            )
        });
        // 1.5 s of load through the agent, then 6 s without it, then a new agent
        std::thread::sleep(Duration::from_millis(1_500));
        let before = receiver.received().spans().len();
        assert!(before > 0, "{protocol}: spans arrive before the restart");
        drop(rotel);
        std::thread::sleep(Duration::from_secs(6));
        let during = receiver.received().spans().len();
        let rotel = Rotel::start_on(&agent, receiver.grpc, grpc, http);
        let output = probe.join().expect("probe thread");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(stdout.contains("shutdown: ok"), "{protocol}: {stdout}");

        let expected_logs = ITEMS - ITEMS / 10;
        let item_logs = |r: &backstage_telemetry_tests::otlp::Received| {
            r.logs()
                .iter()
                .filter(|l| l.body().as_deref() == Some("item handled"))
                .count() as u64
        };
        let received = receiver.wait_for(Duration::from_secs(30), |r| {
            r.spans().iter().filter(|s| s.span.name == "handle").count() as u64 >= ITEMS
                && item_logs(r) >= expected_logs
        });
        let mut handled: Vec<i64> = received
            .spans()
            .iter()
            .filter(|s| s.span.name == "handle")
            .filter_map(|s| s.attribute("probe.item.index")?.parse().ok())
            .collect();
        handled.sort_unstable();
        handled.dedup();
        assert_eq!(
            handled,
            (0..ITEMS as i64).collect::<Vec<_>>(),
            "{protocol}: every span of the {ITEMS} calls (before the outage: {before}, during: {during})"
        );
        assert_eq!(
            item_logs(&received),
            expected_logs,
            "{protocol}: every log record"
        );
        // cumulative: the last export of the counter holds every increment
        let totals: Vec<i64> = received
            .metrics()
            .iter()
            .filter(|m| m.metric.name == "backstage.plugin.probe.items.handled")
            .filter_map(|m| match &m.metric.data {
                Some(Data::Sum(sum)) => Some(
                    sum.data_points
                        .iter()
                        .map(|p| match p.value {
                            Some(Value::AsInt(v)) => v,
                            _ => 0,
                        })
                        .sum(),
                ),
                _ => None,
            })
            .collect();
        assert_eq!(
            totals.last(),
            Some(&(expected_logs as i64 + 2)),
            "{protocol}: the counter's total after the outage (the items handled, and 2 retried)"
        );
        drop(rotel);
    }
}
