//! An OTLP receiver for the tests: gRPC (tonic) and http/protobuf (`/v1/traces`,
//! `/v1/metrics`, `/v1/logs`) on 127.0.0.1, plain or TLS (optionally asking for a client
//! certificate), decoding every export request it gets.

use std::collections::VecDeque;
use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;

use crate::http::{HttpRequest, read_request};

/// What the receiver got.
#[derive(Clone, Debug, Default)]
pub struct Received {
    pub traces: Vec<ExportTraceServiceRequest>,
    pub metrics: Vec<ExportMetricsServiceRequest>,
    pub logs: Vec<ExportLogsServiceRequest>,
    /// Per request: transport (`grpc`/`http`), path, headers (lowercase names).
    pub requests: Vec<Request>,
}

#[derive(Clone, Debug)]
pub struct Request {
    pub transport: &'static str,
    pub path: String,
    pub headers: Vec<(String, String)>,
    /// When it arrived.
    pub at: Instant,
    /// The HTTP status it was answered (200, or a [`Receiver::refuse_next`] refusal).
    pub status: u16,
}

impl Request {
    /// The value of header `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        crate::http::header(&self.headers, name)
    }
}

impl Received {
    /// Every span received, with its resource attributes and scope.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        let mut spans = Vec::new();
        for request in &self.traces {
            for resource_spans in &request.resource_spans {
                let resource = resource_spans.resource.clone().unwrap_or_default();
                for scope_spans in &resource_spans.scope_spans {
                    let scope = scope_spans.scope.clone().unwrap_or_default();
                    for span in &scope_spans.spans {
                        spans.push(ReceivedSpan {
                            resource: attributes(&resource.attributes),
                            scope_name: scope.name.clone(),
                            scope_version: scope.version.clone(),
                            schema_url: scope_spans.schema_url.clone(),
                            span: span.clone(),
                        });
                    }
                }
            }
        }
        spans
    }

    /// Every metric received (latest collection last), with its resource attributes and scope.
    pub fn metrics(&self) -> Vec<ReceivedMetric> {
        let mut metrics = Vec::new();
        for request in &self.metrics {
            for resource_metrics in &request.resource_metrics {
                let resource = resource_metrics.resource.clone().unwrap_or_default();
                for scope_metrics in &resource_metrics.scope_metrics {
                    let scope = scope_metrics.scope.clone().unwrap_or_default();
                    for metric in &scope_metrics.metrics {
                        metrics.push(ReceivedMetric {
                            resource: attributes(&resource.attributes),
                            scope_name: scope.name.clone(),
                            metric: metric.clone(),
                        });
                    }
                }
            }
        }
        metrics
    }
}

impl Received {
    /// Every log record received, with its resource attributes and scope.
    pub fn logs(&self) -> Vec<ReceivedLog> {
        let mut logs = Vec::new();
        for request in &self.logs {
            for resource_logs in &request.resource_logs {
                let resource = resource_logs.resource.clone().unwrap_or_default();
                for scope_logs in &resource_logs.scope_logs {
                    let scope = scope_logs.scope.clone().unwrap_or_default();
                    for record in &scope_logs.log_records {
                        logs.push(ReceivedLog {
                            resource: attributes(&resource.attributes),
                            scope_name: scope.name.clone(),
                            record: record.clone(),
                        });
                    }
                }
            }
        }
        logs
    }
}

pub struct ReceivedLog {
    pub resource: Vec<(String, String)>,
    pub scope_name: String,
    pub record: opentelemetry_proto::tonic::logs::v1::LogRecord,
}

impl ReceivedLog {
    pub fn attribute(&self, key: &str) -> Option<String> {
        attributes(&self.record.attributes)
            .into_iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }

    /// The body, if it is a string.
    pub fn body(&self) -> Option<String> {
        use opentelemetry_proto::tonic::common::v1::any_value::Value;
        match self.record.body.as_ref()?.value.as_ref()? {
            Value::StringValue(s) => Some(s.clone()),
            _ => None,
        }
    }
}

pub struct ReceivedSpan {
    pub resource: Vec<(String, String)>,
    pub scope_name: String,
    pub scope_version: String,
    pub schema_url: String,
    pub span: opentelemetry_proto::tonic::trace::v1::Span,
}

impl ReceivedSpan {
    pub fn attribute(&self, key: &str) -> Option<String> {
        attributes(&self.span.attributes)
            .into_iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }
}

pub struct ReceivedMetric {
    pub resource: Vec<(String, String)>,
    pub scope_name: String,
    pub metric: opentelemetry_proto::tonic::metrics::v1::Metric,
}

/// `key = value` pairs, values as text.
pub fn attributes(
    list: &[opentelemetry_proto::tonic::common::v1::KeyValue],
) -> Vec<(String, String)> {
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    list.iter()
        .map(|kv| {
            let value = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(Value::StringValue(s)) => s.clone(),
                Some(Value::BoolValue(b)) => b.to_string(),
                Some(Value::IntValue(i)) => i.to_string(),
                Some(Value::DoubleValue(d)) => d.to_string(),
                other => format!("{other:?}"),
            };
            (kv.key.clone(), value)
        })
        .collect()
}

/// A running receiver; stops with the test process.
pub struct Receiver {
    pub grpc: SocketAddr,
    pub http: SocketAddr,
    received: Arc<Mutex<Received>>,
    refusals: Arc<Mutex<VecDeque<Refusal>>>,
    _runtime: tokio::runtime::Runtime,
}

/// A server certificate and key (PEM), and the CA whose client certificates it asks for.
#[derive(Clone)]
pub struct ServerTls {
    pub certificate: String,
    pub key: String,
    /// Ask for a client certificate signed by this CA (mutual TLS).
    pub client_ca: Option<String>,
}

/// An answer other than success: over http/protobuf a status and, if any, a `Retry-After`
/// value (seconds or an HTTP date); over gRPC, 429 is `RESOURCE_EXHAUSTED`, anything else
/// `UNAVAILABLE`, with a `RetryInfo` of the `Retry-After` seconds, if any.
#[derive(Clone, Debug)]
pub struct Refusal {
    pub status: u16,
    pub retry_after: Option<String>,
}

impl Receiver {
    /// The next requests (of any signal or transport) are answered `refusals`, one each in
    /// order, their data dropped; then success again.
    pub fn refuse_next(&self, refusals: impl IntoIterator<Item = Refusal>) {
        self.refusals.lock().unwrap().extend(refusals);
    }

    pub fn start() -> Receiver {
        Receiver::start_with(None)
    }

    /// A receiver speaking TLS on both transports.
    pub fn start_tls(tls: &ServerTls) -> Receiver {
        Receiver::start_with(Some(tls))
    }

    fn start_with(tls: Option<&ServerTls>) -> Receiver {
        let received = Arc::new(Mutex::new(Received::default()));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind gRPC receiver");
        let grpc = listener.local_addr().expect("gRPC address");
        let refusals = Arc::new(Mutex::new(VecDeque::new()));
        let service = Collector(received.clone(), refusals.clone());
        let mut server = tonic::transport::Server::builder();
        if let Some(tls) = tls {
            use tonic::transport::{Certificate, Identity, ServerTlsConfig};
            let mut config =
                ServerTlsConfig::new().identity(Identity::from_pem(&tls.certificate, &tls.key));
            if let Some(ca) = &tls.client_ca {
                config = config.client_ca_root(Certificate::from_pem(ca));
            }
            server = server.tls_config(config).expect("gRPC TLS");
        }
        runtime.spawn(
            server
                .add_service(
                    TraceServiceServer::new(service.clone())
                        .accept_compressed(tonic::codec::CompressionEncoding::Gzip),
                )
                .add_service(
                    MetricsServiceServer::new(service.clone())
                        .accept_compressed(tonic::codec::CompressionEncoding::Gzip),
                )
                .add_service(
                    LogsServiceServer::new(service)
                        .accept_compressed(tonic::codec::CompressionEncoding::Gzip),
                )
                .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
        );
        let http_listener = TcpListener::bind("127.0.0.1:0").expect("bind HTTP receiver");
        let http = http_listener.local_addr().expect("HTTP address");
        let store = received.clone();
        let refuse = refusals.clone();
        let tls_config = tls.map(rustls_server_config);
        std::thread::spawn(move || {
            for stream in http_listener.incoming().flatten() {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                let _ = match &tls_config {
                    Some(config) => match rustls::ServerConnection::new(config.clone()) {
                        Ok(connection) => serve_http(
                            rustls::StreamOwned::new(connection, stream),
                            &store,
                            &refuse,
                        ),
                        Err(_) => Ok(()),
                    },
                    None => serve_http(stream, &store, &refuse),
                };
            }
        });
        Receiver {
            grpc,
            http,
            received,
            refusals,
            _runtime: runtime,
        }
    }

    /// What has arrived so far.
    pub fn received(&self) -> Received {
        self.received.lock().unwrap().clone()
    }

    /// Waits (at most `timeout`) until `done` holds, then returns what arrived.
    pub fn wait_for(&self, timeout: Duration, done: impl Fn(&Received) -> bool) -> Received {
        let deadline = Instant::now() + timeout;
        loop {
            let received = self.received();
            if done(&received) || Instant::now() > deadline {
                return received;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The rustls server side of the http/protobuf receiver, on *ring* as the runtime's
/// exporters are (rustls 0.23.48 deprecates `ring::default_provider` for lacking
/// post-quantum key exchange; allowed so that a fresh lock file builds under `-D warnings`).
#[allow(deprecated)]
fn rustls_server_config(tls: &ServerTls) -> Arc<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let certificates: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(tls.certificate.as_bytes())
            .map(|c| c.expect("certificate"))
            .collect();
    let key = PrivateKeyDer::from_pem_slice(tls.key.as_bytes()).expect("key");
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("versions");
    let builder = match &tls.client_ca {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for certificate in CertificateDer::pem_slice_iter(ca.as_bytes()) {
                roots.add(certificate.expect("CA")).expect("CA");
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .expect("client verifier");
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    Arc::new(
        builder
            .with_single_cert(certificates, key)
            .expect("server certificate"),
    )
}

#[derive(Clone)]
struct Collector(Arc<Mutex<Received>>, Arc<Mutex<VecDeque<Refusal>>>);

impl Collector {
    /// Notes the request; `Err` with the next refusal, if any.
    fn record(
        &self,
        path: &str,
        metadata: &tonic::metadata::MetadataMap,
    ) -> Result<(), tonic::Status> {
        let refusal = self.1.lock().unwrap().pop_front();
        let headers = metadata
            .iter()
            .filter_map(|entry| match entry {
                tonic::metadata::KeyAndValueRef::Ascii(k, v) => Some((
                    k.as_str().to_owned(),
                    v.to_str().unwrap_or_default().to_owned(),
                )),
                tonic::metadata::KeyAndValueRef::Binary(..) => None,
            })
            .collect();
        self.0.lock().unwrap().requests.push(Request {
            transport: "grpc",
            path: path.to_owned(),
            headers,
            at: Instant::now(),
            status: refusal.as_ref().map_or(200, |r| r.status),
        });
        let Some(refusal) = refusal else {
            return Ok(());
        };
        let code = match refusal.status {
            429 => tonic::Code::ResourceExhausted,
            _ => tonic::Code::Unavailable,
        };
        let delay = refusal
            .retry_after
            .and_then(|seconds| seconds.parse().ok())
            .map(Duration::from_secs);
        Err(match delay {
            Some(delay) => {
                use tonic_types::StatusExt as _;
                tonic::Status::with_error_details(
                    code,
                    "refused",
                    tonic_types::ErrorDetails::with_retry_info(Some(delay)),
                )
            }
            None => tonic::Status::new(code, "refused"),
        })
    }
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.record("traces", request.metadata())?;
        self.0.lock().unwrap().traces.push(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl MetricsService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        self.record("metrics", request.metadata())?;
        self.0.lock().unwrap().metrics.push(request.into_inner());
        Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl LogsService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportLogsServiceRequest>,
    ) -> Result<tonic::Response<ExportLogsServiceResponse>, tonic::Status> {
        self.record("logs", request.metadata())?;
        self.0.lock().unwrap().logs.push(request.into_inner());
        Ok(tonic::Response::new(ExportLogsServiceResponse::default()))
    }
}

/// The largest export request body read.
const MAX_BODY: usize = 64 << 20;

/// One http/protobuf request: head, `Content-Length` body (gzip if so encoded), decode, 200
/// (or the next refusal, the data dropped).
fn serve_http(
    mut stream: impl Read + Write,
    store: &Mutex<Received>,
    refusals: &Mutex<VecDeque<Refusal>>,
) -> std::io::Result<()> {
    let Some(request) = read_request(&mut BufReader::new(&mut stream), MAX_BODY)? else {
        return Ok(());
    };
    let HttpRequest {
        path,
        headers,
        mut body,
        ..
    } = request;
    if headers
        .iter()
        .any(|(k, v)| k == "content-encoding" && v == "gzip")
    {
        let mut decoded = Vec::new();
        flate2::read::GzDecoder::new(&body[..]).read_to_end(&mut decoded)?;
        body = decoded;
    }
    let at = Instant::now();
    if let Some(refusal) = refusals.lock().unwrap().pop_front() {
        store.lock().unwrap().requests.push(Request {
            transport: "http",
            path,
            headers,
            at,
            status: refusal.status,
        });
        let retry_after = refusal
            .retry_after
            .map(|value| format!("Retry-After: {value}\r\n"))
            .unwrap_or_default();
        let answer = format!(
            "HTTP/1.1 {} Refused\r\n{retry_after}Content-Length: 0\r\nConnection: close\r\n\r\n",
            refusal.status
        );
        stream.write_all(answer.as_bytes())?;
        return stream.flush();
    }
    {
        let mut received = store.lock().unwrap();
        match path.as_str() {
            "/v1/traces" => {
                if let Ok(request) = ExportTraceServiceRequest::decode(&body[..]) {
                    received.traces.push(request);
                }
            }
            "/v1/metrics" => {
                if let Ok(request) = ExportMetricsServiceRequest::decode(&body[..]) {
                    received.metrics.push(request);
                }
            }
            "/v1/logs" => {
                if let Ok(request) = ExportLogsServiceRequest::decode(&body[..]) {
                    received.logs.push(request);
                }
            }
            _ => {}
        }
        received.requests.push(Request {
            transport: "http",
            path,
            headers,
            at,
            status: 200,
        });
    }
    stream.write_all(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    )?;
    stream.flush()
}
