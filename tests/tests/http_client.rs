//! Outbound HTTP calls (`http_client::TracedClient` over `ReqwestService`) against a small
//! HTTP/1.1 server in this test that notes the requests it receives: the client span, its
//! attributes and status, and the trace context the server gets.

use std::io::{BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use backstage_telemetry::http_client::{ReqwestService, TracedClient};
use backstage_telemetry::testing::{self, PointValue, attribute_str};
use backstage_telemetry::{Config, RootMetricsService, RootTracingService, SpanKind, SpanOptions};
use backstage_telemetry_tests::http::{HttpRequest, read_request};
use opentelemetry::baggage::BaggageExt;
use opentelemetry::trace::Status;
use opentelemetry::{Context, KeyValue};

/// The requests the server received.
type Requests = Arc<Mutex<Vec<HttpRequest>>>;

/// A server answering `/status/N` with status N (else 200) and noting every request.
fn server() -> (u16, Requests) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    let requests: Requests = Arc::default();
    let noted = requests.clone();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().take(64).flatten() {
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let Ok(Some(request)) = read_request(&mut reader, 1 << 20) else {
                continue;
            };
            let status = request
                .path
                .strip_prefix("/status/")
                .and_then(|code| code.parse::<u16>().ok())
                .unwrap_or(200);
            noted.lock().unwrap().push(request);
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok"
            );
        }
    });
    (port, requests)
}

/// A client whose calls are spans of `plugin` and recorded on its meter. (reqwest's rustls
/// has no crypto provider of its own here; `ring::default_provider` is deprecated in rustls
/// 0.23.48, *ring* having no post-quantum key exchange.)
#[allow(deprecated)]
fn client(plugin: &str) -> TracedClient<ReqwestService> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let tracing = RootTracingService::from_config(&Config::default())
        .for_plugin(plugin)
        .expect("plugin id");
    let meter = RootMetricsService::from_config(&Config::default())
        .for_plugin(plugin)
        .expect("plugin id")
        .meter();
    TracedClient::new(ReqwestService::new(reqwest::Client::new()), tracing).with_metrics(&meter)
}

/// The number of calls in `http.client.request.duration` of `plugin`'s meter with exactly
/// `attributes`.
fn calls(plugin: &str, attributes: &[KeyValue]) -> u64 {
    let snapshot = testing::install().metrics();
    let scope = format!("backstage-plugin-{plugin}");
    snapshot
        .metrics
        .iter()
        .filter(|m| m.name == "http.client.request.duration" && m.scope.name() == scope)
        .filter_map(|m| m.point(attributes))
        .map(|point| match point.value {
            PointValue::Histogram { count, .. } => count,
            _ => panic!("not a histogram"),
        })
        .sum()
}

fn get(url: &str) -> http::Request<reqwest::Body> {
    http::Request::get(url)
        .body(reqwest::Body::from(""))
        .expect("request")
}

#[tokio::test]
async fn a_call_is_a_client_span_whose_context_the_server_receives() {
    let kit = testing::install();
    let capture = kit.capture();
    let (port, requests) = server();
    let catalog = client("http-client-ok");
    let parent = RootTracingService::from_config(&Config::default())
        .for_plugin("http-client-ok")
        .expect("plugin id");
    let url = format!("http://robot:pw@127.0.0.1:{port}/api/entities?filter=kind&token=abc#part");
    let response = capture
        .run_async(async {
            // (the span starts when `send` is called, in the context current then)
            let _baggage = Context::current()
                .with_baggage([KeyValue::new("tenant", "acme")])
                .attach();
            parent
                .start_active_span_async("handle-request", SpanOptions::new(), |_| {
                    catalog.send(get(&url))
                })
                .await
        })
        .await
        .expect("answer");
    assert_eq!(response.status(), 200);

    let span = capture.span("GET");
    let handle = capture.span("handle-request");
    assert_eq!(span.span_kind, SpanKind::Client);
    assert_eq!(span.parent_span_id, handle.span_context.span_id());
    assert_eq!(
        span.instrumentation_scope.name(),
        "backstage-plugin-http-client-ok"
    );
    let attribute = |key| attribute_str(&span, key);
    assert_eq!(
        attribute("backstage.plugin.id").as_deref(),
        Some("http-client-ok")
    );
    assert_eq!(attribute("http.request.method").as_deref(), Some("GET"));
    assert_eq!(attribute("server.address").as_deref(), Some("127.0.0.1"));
    assert_eq!(attribute("server.port"), Some(port.to_string()));
    assert_eq!(
        attribute("url.full"),
        Some(format!(
            "http://127.0.0.1:{port}/api/entities?filter=REDACTED&token=REDACTED"
        ))
    );
    assert_eq!(
        attribute("http.response.status_code").as_deref(),
        Some("200")
    );
    assert_eq!(
        attribute("network.protocol.version").as_deref(),
        Some("1.1")
    );
    assert_eq!(attribute("error.type"), None);
    assert_eq!(span.status, Status::Unset);

    // the server got the client span's context, and the baggage
    let requests = requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 1);
    assert_eq!(
        requests[0].header("traceparent"),
        Some(
            format!(
                "00-{}-{}-01",
                span.span_context.trace_id(),
                span.span_context.span_id()
            )
            .as_str()
        )
    );
    assert_eq!(requests[0].header("baggage"), Some("tenant=acme"));
    // and the call is in the duration histogram, without the URL
    let server = [
        KeyValue::new("http.request.method", "GET"),
        KeyValue::new("server.address", "127.0.0.1"),
        KeyValue::new("server.port", i64::from(port)),
    ];
    let mut ok = server.to_vec();
    ok.push(KeyValue::new("http.response.status_code", 200));
    assert_eq!(calls("http-client-ok", &ok), 1);
    // and the query is not changed on the wire
    assert_eq!(requests[0].path, "/api/entities?filter=kind&token=abc");
}

#[tokio::test]
async fn an_error_status_or_a_failed_call_is_an_error_and_other_methods_are_other() {
    let kit = testing::install();
    let capture = kit.capture();
    let (port, _requests) = server();
    let client = client("http-client-errors");
    let not_found = capture
        .run_async(async {
            client
                .send(get(&format!("http://127.0.0.1:{port}/status/404")))
                .await
        })
        .await
        .expect("answer");
    assert_eq!(not_found.status(), 404);
    let span = capture.span("GET");
    assert_eq!(
        attribute_str(&span, "http.response.status_code").as_deref(),
        Some("404")
    );
    assert_eq!(attribute_str(&span, "error.type").as_deref(), Some("404"));
    assert!(
        matches!(span.status, Status::Error { .. }),
        "{:?}",
        span.status
    );

    let capture = kit.capture();
    let purge = http::Request::builder()
        .method(http::Method::from_bytes(b"PURGE").unwrap())
        .uri(format!("http://127.0.0.1:{port}/cache"))
        .body(reqwest::Body::from(""))
        .unwrap();
    capture
        .run_async(async { client.send(purge).await })
        .await
        .expect("answer");
    let span = capture.span("HTTP");
    assert_eq!(
        attribute_str(&span, "http.request.method").as_deref(),
        Some("_OTHER")
    );
    assert_eq!(
        attribute_str(&span, "http.request.method_original").as_deref(),
        Some("PURGE")
    );
    assert_eq!(span.status, Status::Unset);

    // nothing listens there any more: the call fails, and the span says so
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let capture = kit.capture();
    let failed = capture
        .run_async(async {
            client
                .send(get(&format!("http://127.0.0.1:{closed}/")))
                .await
        })
        .await;
    assert!(failed.is_err());
    let span = capture.span("GET");
    assert!(
        matches!(span.status, Status::Error { .. }),
        "{:?}",
        span.status
    );
    let error_type = attribute_str(&span, "error.type").expect("error.type");
    assert_eq!(attribute_str(&span, "http.response.status_code"), None);

    // each call in the duration histogram: the error type as on the span
    let at = |port: u16, method: &str, extra: &[KeyValue]| {
        let mut attributes = vec![
            KeyValue::new("http.request.method", method.to_owned()),
            KeyValue::new("server.address", "127.0.0.1"),
            KeyValue::new("server.port", i64::from(port)),
        ];
        attributes.extend_from_slice(extra);
        calls("http-client-errors", &attributes)
    };
    let status = |code: i64| KeyValue::new("http.response.status_code", code);
    assert_eq!(
        at(
            port,
            "GET",
            &[status(404), KeyValue::new("error.type", "404")]
        ),
        1
    );
    assert_eq!(at(port, "_OTHER", &[status(200)]), 1);
    assert_eq!(
        at(closed, "GET", &[KeyValue::new("error.type", error_type)]),
        1
    );
}
