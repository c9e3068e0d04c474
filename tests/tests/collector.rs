//! Through a real collector: the probe exports traces, metrics and logs to the rotel agent
//! (its OTLP receivers, over http/protobuf and gRPC), which exports them over OTLP to the
//! receiver of this test. Names, scopes, resource and ids must arrive intact.
//!
//! The agent is `rotel-agent` (PyPI: `pip install --pre rotel`): `ROTEL_AGENT`, else on
//! `PATH`, else inside the installed `rotel` Python package. Missing, the test says so and
//! passes; under CI (`CI` set) it fails.

mod common;

use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use backstage_telemetry_tests::otlp::Receiver;
use backstage_telemetry_tests::prometheus::free_address;
use common::probe::run;

fn rotel_agent() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("ROTEL_AGENT") {
        return Some(PathBuf::from(path));
    }
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            let candidate = dir.join("rotel-agent");
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    let output = Command::new("python3")
        .args([
            "-c",
            "import os, rotel; print(os.path.join(os.path.dirname(rotel.__file__), 'rotel-agent'))",
        ])
        .output()
        .ok()?;
    let path = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    path.is_file().then_some(path)
}

/// A running agent, killed by its PID when dropped.
struct Rotel {
    child: Child,
    grpc: SocketAddr,
    http: SocketAddr,
    _pid_file: PathBuf,
}

impl Rotel {
    fn start(agent: &PathBuf, export_to: SocketAddr) -> Rotel {
        let (grpc, http) = (free_address(), free_address());
        let pid_file = std::env::temp_dir().join(format!(
            "bt-rotel-{}-{}.pid",
            std::process::id(),
            grpc.port()
        ));
        let child = Command::new(agent)
            .arg("start")
            .args(["--otlp-grpc-endpoint", &grpc.to_string()])
            .args(["--otlp-http-endpoint", &http.to_string()])
            .args(["--exporter", "otlp"])
            .args(["--otlp-exporter-endpoint", &format!("http://{export_to}")])
            .args(["--otlp-exporter-protocol", "grpc"])
            .args(["--pid-file", pid_file.to_str().expect("utf-8 path")])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start rotel-agent");
        let deadline = Instant::now() + Duration::from_secs(20);
        for address in [grpc, http] {
            while TcpStream::connect_timeout(&address, Duration::from_millis(200)).is_err() {
                assert!(
                    Instant::now() < deadline,
                    "rotel-agent did not listen on {address}"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        Rotel {
            child,
            grpc,
            http,
            _pid_file: pid_file,
        }
    }
}

impl Drop for Rotel {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self._pid_file);
    }
}

#[test]
fn traces_metrics_and_logs_pass_through_a_real_collector() {
    let Some(agent) = rotel_agent() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "rotel-agent is missing under CI (.ci/run installs it with `pip install --pre rotel`)"
        );
        eprintln!("skipped: rotel-agent not found (pip install --pre rotel, or set ROTEL_AGENT)");
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
