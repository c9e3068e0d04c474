//! The example as a split deployment: the catalog in one backend process, the scaffolder and
//! todos in another (`--plugins`, `--catalog-url`), both exporting to a real collector (the
//! rotel agent). One scaffolder request is one trace across both processes: server span →
//! `create-task` → the client span of the call to the catalog → the catalog process's
//! server span → `get-entity`, with each parent id right and `service.instance.id` telling
//! the processes apart; the call is in the scaffolder's `http.client.request.duration`.

mod common;

use std::time::Duration;

use backstage_telemetry_tests::otlp::{ReceivedSpan, Receiver};
use backstage_telemetry_tests::prometheus::get;
use backstage_telemetry_tests::rotel::{Rotel, agent_or_skip};
use common::{Backend, hex, until};
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;

const TRACE_ID: &str = "0af7651916cd43dd8448eb211c80319c";
const PARENT_SPAN_ID: &str = "b7ad6b7169203331";

fn instance(span: &ReceivedSpan) -> String {
    span.resource
        .iter()
        .find(|(key, _)| key == "service.instance.id")
        .map(|(_, value)| value.clone())
        .unwrap_or_else(|| panic!("no service.instance.id on {}", span.span.name))
}

#[test]
fn one_scaffolder_request_is_one_trace_across_two_backends() {
    let Some(agent) = agent_or_skip() else {
        return;
    };
    let receiver = Receiver::start();
    let rotel = Rotel::start(&agent, receiver.grpc);
    let collector = format!("http://{}", rotel.http);
    let catalog = Backend::launch_to(&collector, &[], &["--plugins", "catalog"], None);
    let catalog_url = format!("http://{}", catalog.address);
    let scaffolder = Backend::launch_to(
        &collector,
        &[],
        &[
            "--plugins",
            "scaffolder,todos",
            "--catalog-url",
            &catalog_url,
        ],
        None,
    );
    for backend in [&catalog, &scaffolder] {
        assert!(
            until(Duration::from_secs(30), || (backend.readiness() == 200)
                .then_some(()))
            .is_some(),
            "a backend did not become ready"
        );
    }
    // each process serves only its own plugins
    assert_eq!(
        scaffolder
            .request("GET", "/api/catalog/entities", &[], "")
            .0,
        404
    );
    assert_eq!(catalog.request("GET", "/api/todos", &[], "").0, 404);

    let traceparent = format!("00-{TRACE_ID}-{PARENT_SPAN_ID}-01");
    let (status, body) = scaffolder.request(
        "POST",
        "/api/scaffolder/v2/tasks",
        &[
            ("authorization", "Bearer ci-token"),
            ("traceparent", &traceparent),
        ],
        r#"{"templateRef":"react-app"}"#,
    );
    assert_eq!(status, 201, "{body}");
    // a template the catalog does not have is not found, through the catalog
    let (status, _) = scaffolder.request(
        "POST",
        "/api/scaffolder/v2/tasks",
        &[("authorization", "Bearer ci-token")],
        r#"{"templateRef":"no-such-template"}"#,
    );
    assert_eq!(status, 404);

    // the call to the catalog in the scaffolder's client-side RED metrics
    let (status, text) = get(scaffolder.metrics, "/metrics").expect("scrape");
    assert_eq!(status, 200);
    let port = format!("server_port=\"{}\"", catalog.address.port());
    assert!(
        text.lines().any(
            |l| l.starts_with("http_client_request_duration_seconds_count{")
                && l.contains("http_request_method=\"GET\"")
                && l.contains("http_response_status_code=\"200\"")
                && l.contains("otel_scope_name=\"backstage-plugin-scaffolder\"")
                && l.contains(&port)
                && l.ends_with(" 1")
        ),
        "{text}"
    );

    for backend in [&scaffolder, &catalog] {
        backend.terminate();
    }
    let received = receiver.wait_for(Duration::from_secs(30), |r| {
        r.spans()
            .iter()
            .filter(|s| hex(&s.span.trace_id) == TRACE_ID)
            .any(|s| s.span.name == "get-entity")
            && r.spans().iter().any(|s| s.span.name == "create-task")
    });
    let spans = received.spans();
    let in_trace: Vec<&ReceivedSpan> = spans
        .iter()
        .filter(|s| hex(&s.span.trace_id) == TRACE_ID)
        .collect();
    let names: Vec<&str> = in_trace.iter().map(|s| s.span.name.as_str()).collect();
    let find = |name: &str, kind: SpanKind| -> &ReceivedSpan {
        in_trace
            .iter()
            .find(|s| s.span.name == name && s.span.kind == kind as i32)
            .unwrap_or_else(|| panic!("no {kind:?} span {name:?} in the trace; got {names:?}"))
    };

    let server = find("POST /api/scaffolder/v2/tasks", SpanKind::Server);
    assert_eq!(hex(&server.span.parent_span_id), PARENT_SPAN_ID);
    let create = find("create-task", SpanKind::Internal);
    assert_eq!(create.span.parent_span_id, server.span.span_id);
    let client = find("GET", SpanKind::Client);
    assert_eq!(client.span.parent_span_id, create.span.span_id);
    assert_eq!(
        client.attribute("backstage.plugin.id").as_deref(),
        Some("scaffolder")
    );
    assert_eq!(client.scope_name, "backstage-plugin-scaffolder");
    assert_eq!(
        client.attribute("url.full"),
        Some(format!(
            "{catalog_url}/api/catalog/entities/by-name/template/default/react-app"
        ))
    );
    assert_eq!(
        client.attribute("server.port"),
        Some(catalog.address.port().to_string())
    );
    assert_eq!(
        client.attribute("http.response.status_code").as_deref(),
        Some("200")
    );

    let catalog_server = in_trace
        .iter()
        .find(|s| {
            s.span.kind == SpanKind::Server as i32 && s.span.parent_span_id == client.span.span_id
        })
        .unwrap_or_else(|| panic!("no catalog server span under the client span; got {names:?}"));
    assert_eq!(
        catalog_server.attribute("http.route").as_deref(),
        Some("/api/catalog/entities/by-name/{kind}/{namespace}/{name}")
    );
    let get_entity = find("get-entity", SpanKind::Internal);
    assert_eq!(get_entity.span.parent_span_id, catalog_server.span.span_id);
    assert_eq!(
        get_entity.attribute("backstage.plugin.id").as_deref(),
        Some("catalog")
    );

    // two processes, told apart by their instance ids
    let scaffolder_instance = instance(server);
    assert_eq!(instance(create), scaffolder_instance);
    assert_eq!(instance(client), scaffolder_instance);
    let catalog_instance = instance(catalog_server);
    assert_eq!(instance(get_entity), catalog_instance);
    assert_ne!(scaffolder_instance, catalog_instance);
    drop(rotel);
}
