//! OTLP exporters over http/protobuf or gRPC, plain or TLS, built from settings that were
//! read and checked already (endpoint, headers, timeout, compression, certificates), so the
//! exporters consult no variable themselves.
//!
//! No message quotes a value: build errors become a [`SetupProblem`], and export errors
//! (which upstream may word with the endpoint URL, credentials included) are replaced by
//! [`Redacted`] with what went wrong and which variable to look at.
//!
//! The gRPC client needs a Tokio runtime to drive its connection; the guard owns a small
//! one (one worker thread), so `init` works inside or outside the application's runtime.

use std::collections::HashMap;
use std::time::Duration;

use opentelemetry_otlp::tonic_types::metadata::MetadataMap;
use opentelemetry_otlp::{
    Compression, Protocol as OtlpProtocol, RetryPolicy, WithExportConfig, WithHttpConfig,
    WithTonicConfig,
};
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};

use super::Telemetry;
use super::grpc::GrpcExporter;
use super::problem::SetupProblem;
use super::retry::{Next, Retry};
use super::settings::{Otlp, Protocol, Signal};
use super::tls::Material;

/// One signal's upstream OTLP exporter over http/protobuf, with the checked settings and
/// the client that retries; `Err` when upstream refuses to build it.
macro_rules! http_exporter {
    ($exporter:ty, $otlp:expr, $signal:expr, $cause:expr, $retry:expr) => {
        http(
            <$exporter>::builder().with_http(),
            $otlp,
            $signal,
            $cause,
            $retry,
        )?
        .build()
        .map_err(|_| not_built($signal))
    };
}

impl Telemetry {
    pub(super) fn otlp_span_exporter(
        &mut self,
        otlp: &Otlp,
    ) -> Result<Redacted<Transport<opentelemetry_otlp::SpanExporter>>, SetupProblem> {
        self.transport(otlp, Signal::Traces, |otlp, signal, cause, retry| {
            http_exporter!(opentelemetry_otlp::SpanExporter, otlp, signal, cause, retry)
        })
    }

    /// Metrics are not retried (they are cumulative), so upstream's gRPC exporter serves.
    pub(super) fn otlp_metric_exporter(
        &mut self,
        otlp: &Otlp,
    ) -> Result<Redacted<opentelemetry_otlp::MetricExporter>, SetupProblem> {
        let signal = Signal::Metrics;
        let cause = LastCause::default();
        let retry = self.retry(signal);
        let exporter = match otlp.protocol {
            Protocol::HttpProtobuf => http_exporter!(
                opentelemetry_otlp::MetricExporter,
                otlp,
                signal,
                &cause,
                &retry
            )?,
            Protocol::Grpc => {
                let _runtime = self.grpc_runtime()?.enter();
                grpc(
                    opentelemetry_otlp::MetricExporter::builder().with_tonic(),
                    otlp,
                    signal,
                )?
                .build()
                .map_err(|_| not_built(signal))?
            }
        };
        Ok(Redacted::new(exporter, otlp, signal, cause, retry))
    }

    #[cfg(feature = "logs")]
    pub(super) fn otlp_log_exporter(
        &mut self,
        otlp: &Otlp,
    ) -> Result<Redacted<Transport<opentelemetry_otlp::LogExporter>>, SetupProblem> {
        self.transport(otlp, Signal::Logs, |otlp, signal, cause, retry| {
            http_exporter!(opentelemetry_otlp::LogExporter, otlp, signal, cause, retry)
        })
    }

    /// A span or log exporter: upstream's over http/protobuf (`http_exporter`), ours over
    /// gRPC.
    fn transport<H>(
        &mut self,
        otlp: &Otlp,
        signal: Signal,
        http_exporter: impl FnOnce(&Otlp, Signal, &LastCause, &Retry) -> Result<H, SetupProblem>,
    ) -> Result<Redacted<Transport<H>>, SetupProblem> {
        let cause = LastCause::default();
        let retry = self.retry(signal);
        let transport = match otlp.protocol {
            Protocol::HttpProtobuf => Transport::Http(http_exporter(otlp, signal, &cause, &retry)?),
            Protocol::Grpc => Transport::Grpc(Box::new(GrpcExporter::new(
                otlp,
                signal,
                retry.clone(),
                self.grpc_runtime()?,
            )?)),
        };
        Ok(Redacted::new(transport, otlp, signal, cause, retry))
    }

    /// How an exporter of `signal` retries: spans and logs for the retry budget, metrics
    /// not at all (they are cumulative: the next export carries the totals).
    fn retry(&self, signal: Signal) -> Retry {
        let budget = match signal {
            Signal::Metrics => Duration::ZERO,
            Signal::Traces | Signal::Logs => self.retry_budget,
        };
        Retry::new(budget, self.stopping.clone())
    }

    fn grpc_runtime(&mut self) -> Result<&tokio::runtime::Runtime, SetupProblem> {
        let runtime = match self.runtime.take() {
            Some(runtime) => runtime,
            None => tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("backstage-otlp")
                .enable_all()
                .build()
                .map_err(|_| {
                    SetupProblem::new(
                        "the OTLP gRPC exporter",
                        "could not start its runtime thread",
                        "export over OTLP gRPC is off",
                    )
                })?,
        };
        Ok(self.runtime.insert(runtime))
    }
}

/// An http/protobuf exporter builder with the checked settings and its own HTTP client
/// (rustls; the configured CA and client certificate for `https://`), which retries.
fn http<B>(
    builder: B,
    otlp: &Otlp,
    signal: Signal,
    cause: &LastCause,
    retry: &Retry,
) -> Result<B, SetupProblem>
where
    B: WithExportConfig + WithHttpConfig,
{
    let tls = if otlp.endpoint.starts_with("https://") {
        Material::read(otlp, signal)?.rustls(signal)?
    } else {
        // no certificate is ever looked at; reqwest still wants a TLS configuration
        rustls::ClientConfig::builder_with_provider(super::tls::crypto_provider())
            .with_safe_default_protocol_versions()
            .map_err(|_| not_built(signal))?
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth()
    };
    let client = http_client(tls, otlp.timeout).map_err(|()| not_built(signal))?;
    let builder = builder
        .with_protocol(OtlpProtocol::HttpBinary)
        .with_endpoint(&otlp.endpoint)
        .with_timeout(otlp.timeout)
        // retried by the client, which knows the budget and the shutdown and re-sends the
        // request as encoded
        .with_retry_policy(RetryPolicy::disabled())
        .with_headers(otlp.headers.iter().cloned().collect::<HashMap<_, _>>())
        .with_http_client(ClassifyingClient {
            inner: client,
            cause: cause.clone(),
            retry: retry.clone(),
        });
    Ok(if otlp.gzip {
        builder.with_compression(Compression::Gzip)
    } else {
        builder
    })
}

/// The blocking client, built on a thread of its own: it starts a runtime, which must not
/// happen inside the application's.
fn http_client(
    tls: rustls::ClientConfig,
    timeout: Duration,
) -> Result<reqwest::blocking::Client, ()> {
    std::thread::Builder::new()
        .name("backstage-otlp-client".to_owned())
        .spawn(move || {
            reqwest::blocking::Client::builder()
                .use_preconfigured_tls(tls)
                .timeout(timeout)
                .build()
        })
        .map_err(|_| ())?
        .join()
        .map_err(|_| ())?
        .map_err(|_| ())
}

/// A gRPC exporter builder (metrics) with the checked settings (TLS for `https://`).
fn grpc<B>(builder: B, otlp: &Otlp, signal: Signal) -> Result<B, SetupProblem>
where
    B: WithExportConfig + WithTonicConfig,
{
    let mut builder = builder
        .with_endpoint(&otlp.endpoint)
        .with_timeout(otlp.timeout)
        .with_retry_policy(RetryPolicy::disabled())
        .with_metadata(metadata(otlp));
    if otlp.endpoint.starts_with("https://") {
        builder = builder.with_tls_config(Material::read(otlp, signal)?.tonic());
    }
    Ok(if otlp.gzip {
        builder.with_compression(Compression::Gzip)
    } else {
        builder
    })
}

/// Every setting was checked, so this is an upstream refusal; its message may quote the
/// endpoint, so it is not passed on.
pub(super) fn not_built(signal: Signal) -> SetupProblem {
    SetupProblem::new(
        format!("the OTLP {} exporter", signal.key()),
        "could not be built from the OTEL_EXPORTER_OTLP_* settings",
        signal.otlp_off(),
    )
}

/// gRPC metadata from the headers (checked as header names and values already).
pub(super) fn metadata(otlp: &Otlp) -> MetadataMap {
    let mut headers = http::HeaderMap::new();
    for (key, value) in &otlp.headers {
        if let (Ok(key), Ok(value)) = (
            http::HeaderName::from_bytes(key.as_bytes()),
            http::HeaderValue::from_str(value),
        ) {
            headers.append(key, value);
        }
    }
    MetadataMap::from_headers(headers)
}

/// An exporter whose errors say what went wrong and which variable to look at, without the
/// upstream text (which may hold the endpoint URL and its credentials). The retrying is
/// done below it, where the batch is encoded already: by the HTTP client over
/// http/protobuf, by [`GrpcExporter`] over gRPC.
#[derive(Debug)]
pub(super) struct Redacted<E> {
    inner: E,
    signal: Signal,
    tls: bool,
    cause: LastCause,
    /// Where the last failure is noted for the shutdown's report.
    retry: Retry,
}

impl<E> Redacted<E> {
    fn new(inner: E, otlp: &Otlp, signal: Signal, cause: LastCause, retry: Retry) -> Self {
        Redacted {
            inner,
            signal,
            tls: otlp.endpoint.starts_with("https://"),
            cause,
            retry,
        }
    }

    fn redact(&self, result: OTelSdkResult) -> OTelSdkResult {
        let cause = self.cause.take();
        let result = result.map_err(|error| match error {
            OTelSdkError::InternalFailure(message) => {
                let text = cause.map_or(message, |cause| cause.to_owned());
                OTelSdkError::InternalFailure(explain(&text, self.signal, self.tls))
            }
            other => other,
        });
        self.retry.note(self.signal, &result);
        result
    }
}

/// What the HTTP client last saw go wrong, in the words [`explain`] reads: the http/protobuf
/// exporter reports every failure as a bare "network error", so the cause is noted here.
#[derive(Clone, Debug, Default)]
struct LastCause(std::sync::Arc<std::sync::Mutex<Option<&'static str>>>);

impl LastCause {
    fn set(&self, cause: &'static str) {
        *crate::sync::lock(&self.0) = Some(cause);
    }

    fn take(&self) -> Option<&'static str> {
        crate::sync::lock(&self.0).take()
    }
}

/// What [`classify`] calls a failed TLS handshake.
const TLS_FAILED: &str = "tls handshake failed";

/// The blocking reqwest client, with errors that say what failed (TLS, timeout, connect)
/// and quote nothing (reqwest's own name the URL), retrying what may go through later
/// ([`Retry`]): the request as the exporter encoded (and compressed) it is sent again, its
/// body shared, not copied; a `Retry-After` on 429 and 503 sets the pause.
#[derive(Debug)]
struct ClassifyingClient<C = reqwest::blocking::Client> {
    inner: C,
    cause: LastCause,
    retry: Retry,
}

impl<C: opentelemetry_http::HttpClient> ClassifyingClient<C> {
    /// Sends `request` until its outcome is final (see [`Retry::run_with`]).
    async fn send_retrying(
        &self,
        request: http::Request<bytes::Bytes>,
    ) -> Result<http::Response<bytes::Bytes>, &'static str> {
        let (head, body) = request.into_parts();
        self.retry
            .run_with(
                || {
                    let mut request = http::Request::new(body.clone());
                    *request.method_mut() = head.method.clone();
                    *request.uri_mut() = head.uri.clone();
                    *request.version_mut() = head.version;
                    *request.headers_mut() = head.headers.clone();
                    async move {
                        match self.inner.send_bytes(request).await {
                            Ok(response) => {
                                // an answer: an earlier attempt's transport error is stale
                                self.cause.take();
                                Ok(response)
                            }
                            Err(error) => {
                                let cause = classify(&*error);
                                self.cause.set(cause);
                                Err(cause)
                            }
                        }
                    }
                },
                |outcome| match outcome {
                    Ok(response) => match response.status().as_u16() {
                        429 | 503 => Next::Again(retry_after(response.headers())),
                        502 | 504 => Next::Again(None),
                        _ => Next::Done,
                    },
                    // a configuration problem: it would fail the same way again
                    Err(cause) if *cause == TLS_FAILED => Next::Done,
                    Err(_) => Next::Again(None),
                },
            )
            .await
    }
}

/// What [`opentelemetry_http::HttpClient::send_bytes`] returns.
type Sending<'future> = std::pin::Pin<
    Box<
        dyn std::future::Future<
                Output = Result<http::Response<bytes::Bytes>, opentelemetry_http::HttpError>,
            > + Send
            + 'future,
    >,
>;

impl<C: opentelemetry_http::HttpClient> opentelemetry_http::HttpClient for ClassifyingClient<C> {
    fn send_bytes<'client, 'future>(
        &'client self,
        request: http::Request<bytes::Bytes>,
    ) -> Sending<'future>
    where
        'client: 'future,
        Self: 'future,
    {
        Box::pin(async move { self.send_retrying(request).await.map_err(Into::into) })
    }
}

/// The delay a `Retry-After` header asks for: seconds, or an HTTP date (RFC 9110 §10.2.3).
fn retry_after(headers: &http::HeaderMap) -> Option<Duration> {
    let value = headers
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(std::time::SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// The kind of a transport error, from its whole chain of causes.
fn classify(error: &(dyn std::error::Error + 'static)) -> &'static str {
    let chain = causes(error).to_ascii_lowercase();
    if says_tls(&chain) {
        TLS_FAILED
    } else if chain.contains("broken pipe") || chain.contains("reset") || chain.contains("closed") {
        "connection closed"
    } else if chain.contains("timed out") || chain.contains("timeout") {
        "timed out"
    } else if chain.contains("connect") || chain.contains("dns") || chain.contains("resolve") {
        "cannot connect"
    } else {
        "request failed"
    }
}

/// An error and its causes, as one text (`error: cause: cause`).
pub(super) fn causes(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut next = error.source();
    while let Some(cause) = next {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        next = cause.source();
    }
    text
}

/// Whether an error's text (lowercase) says a TLS handshake failed: an untrusted
/// certificate, a wrong name, an alert from the other side. It would fail the same way
/// again.
pub(super) fn says_tls(text: &str) -> bool {
    [
        "certificate",
        "unknownissuer",
        "notvalidforname",
        "handshake",
        "alert",
        "tls",
    ]
    .iter()
    .any(|word| text.contains(word))
}

/// What an upstream export error means, in words that quote nothing of it.
fn explain(upstream: &str, signal: Signal, tls: bool) -> String {
    let text = upstream.to_ascii_lowercase();
    let s = signal.key().to_ascii_uppercase();
    let unreachable = format!(
        "the collector cannot be reached (check OTEL_EXPORTER_OTLP_{s}_ENDPOINT or \
         OTEL_EXPORTER_OTLP_ENDPOINT)"
    );
    let what = if text.contains("http/2 was not negotiated") {
        "the collector (or a TLS terminator in front of it) did not choose HTTP/2 through ALPN, \
         which gRPC over TLS needs: have it offer `h2`, or export over http/protobuf \
         (OTEL_EXPORTER_OTLP_PROTOCOL)"
            .to_owned()
    } else if tls && says_tls(&text) {
        format!(
            "the TLS handshake failed: the collector's certificate is not trusted (give its CA \
             with OTEL_EXPORTER_OTLP_{s}_CERTIFICATE or OTEL_EXPORTER_OTLP_CERTIFICATE) or the \
             collector wants a client certificate (OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE and \
             OTEL_EXPORTER_OTLP_CLIENT_KEY)"
        )
    } else if text.contains("refused")
        || text.contains("unreachable")
        || text.contains("no route")
        || text.contains("dns")
        || text.contains("cannot connect")
        || text.contains("tcp connect")
    {
        unreachable
    } else if tls
        && (text.contains("broken pipe")
            || text.contains("reset")
            || text.contains("closed")
            || text.contains("transport error"))
    {
        "the collector closed the TLS connection (a collector that wants a client certificate \
         refuses one this way: set OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE and \
         OTEL_EXPORTER_OTLP_CLIENT_KEY)"
            .to_owned()
    } else if text.contains("timed out") || text.contains("timeout") || text.contains("deadline") {
        "the collector did not answer in time (OTEL_EXPORTER_OTLP_TIMEOUT)".to_owned()
    } else if text.contains("connect") {
        unreachable
    } else if let Some(answer) = unavailable(&text) {
        format!("the collector was unavailable or overloaded (it answered {answer})")
    } else if text.contains("status")
        || text.contains("unauthenticated")
        || text.contains("permission")
    {
        "the collector refused the request (check OTEL_EXPORTER_OTLP_HEADERS for credentials)"
            .to_owned()
    } else {
        "the request failed".to_owned()
    };
    format!("OTLP {} export failed: {what}", signal.key())
}

/// The answer of a collector that is unavailable or throttling, in an upstream error
/// (lowercase): `HTTP 503`, `gRPC UNAVAILABLE` and the like.
fn unavailable(text: &str) -> Option<&'static str> {
    [
        ("status code: 429", "HTTP 429"),
        ("status code: 502", "HTTP 502"),
        ("status code: 503", "HTTP 503"),
        ("status code: 504", "HTTP 504"),
        ("grpc code: unavailable", "gRPC UNAVAILABLE"),
        ("grpc code: resourceexhausted", "gRPC RESOURCE_EXHAUSTED"),
    ]
    .into_iter()
    .find(|(upstream, _)| text.contains(upstream))
    .map(|(_, answer)| answer)
}

impl<E: opentelemetry_sdk::trace::SpanExporter> opentelemetry_sdk::trace::SpanExporter
    for Redacted<E>
{
    async fn export(&self, batch: Vec<opentelemetry_sdk::trace::SpanData>) -> OTelSdkResult {
        let result = self.inner.export(batch).await;
        self.redact(result)
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &opentelemetry_sdk::Resource) {
        self.inner.set_resource(resource);
    }
}

impl<E: opentelemetry_sdk::metrics::exporter::PushMetricExporter>
    opentelemetry_sdk::metrics::exporter::PushMetricExporter for Redacted<E>
{
    async fn export(
        &self,
        metrics: &opentelemetry_sdk::metrics::data::ResourceMetrics,
    ) -> OTelSdkResult {
        let result = self.inner.export(metrics).await;
        self.redact(result)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn temporality(&self) -> opentelemetry_sdk::metrics::Temporality {
        self.inner.temporality()
    }
}

#[cfg(feature = "logs")]
impl<E: opentelemetry_sdk::logs::LogExporter> opentelemetry_sdk::logs::LogExporter for Redacted<E> {
    async fn export(&self, batch: opentelemetry_sdk::logs::LogBatch<'_>) -> OTelSdkResult {
        let result = self.inner.export(batch).await;
        self.redact(result)
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &opentelemetry_sdk::Resource) {
        self.inner.set_resource(resource);
    }
}

/// A span or log exporter over either transport.
#[derive(Debug)]
pub(super) enum Transport<H> {
    /// Upstream's http/protobuf exporter, whose HTTP client retries.
    Http(H),
    /// Ours over gRPC (encoded once, retried with `RetryInfo`).
    Grpc(Box<GrpcExporter>),
}

impl<H: opentelemetry_sdk::trace::SpanExporter> opentelemetry_sdk::trace::SpanExporter
    for Transport<H>
{
    async fn export(&self, batch: Vec<opentelemetry_sdk::trace::SpanData>) -> OTelSdkResult {
        match self {
            Transport::Http(exporter) => exporter.export(batch).await,
            Transport::Grpc(exporter) => exporter.export(batch).await,
        }
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        match self {
            Transport::Http(exporter) => exporter.shutdown_with_timeout(timeout),
            Transport::Grpc(_) => Ok(()),
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        match self {
            Transport::Http(exporter) => exporter.force_flush(),
            Transport::Grpc(_) => Ok(()),
        }
    }

    fn set_resource(&mut self, resource: &opentelemetry_sdk::Resource) {
        match self {
            Transport::Http(exporter) => exporter.set_resource(resource),
            Transport::Grpc(exporter) => {
                opentelemetry_sdk::trace::SpanExporter::set_resource(&mut **exporter, resource);
            }
        }
    }
}

#[cfg(feature = "logs")]
impl<H: opentelemetry_sdk::logs::LogExporter> opentelemetry_sdk::logs::LogExporter
    for Transport<H>
{
    async fn export(&self, batch: opentelemetry_sdk::logs::LogBatch<'_>) -> OTelSdkResult {
        match self {
            Transport::Http(exporter) => exporter.export(batch).await,
            Transport::Grpc(exporter) => exporter.export(batch).await,
        }
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        match self {
            Transport::Http(exporter) => exporter.shutdown_with_timeout(timeout),
            Transport::Grpc(_) => Ok(()),
        }
    }

    fn set_resource(&mut self, resource: &opentelemetry_sdk::Resource) {
        match self {
            Transport::Http(exporter) => exporter.set_resource(resource),
            Transport::Grpc(exporter) => {
                opentelemetry_sdk::logs::LogExporter::set_resource(&mut **exporter, resource);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One scripted answer: a status and a `Retry-After`, or a transport error's text.
    type Answer = Result<(u16, Option<&'static str>), &'static str>;

    /// An HTTP client answering from a script, noting what it was sent.
    #[derive(Debug, Default)]
    struct Scripted {
        /// Per attempt: a status and a `Retry-After`, or a transport error's text.
        answers: std::sync::Mutex<std::collections::VecDeque<Answer>>,
        /// Per attempt: when, and where its body's bytes were.
        sent: std::sync::Mutex<Vec<(std::time::Instant, usize)>>,
    }

    impl opentelemetry_http::HttpClient for Scripted {
        fn send_bytes<'client, 'future>(
            &'client self,
            request: http::Request<bytes::Bytes>,
        ) -> Sending<'future>
        where
            'client: 'future,
            Self: 'future,
        {
            self.sent
                .lock()
                .unwrap()
                .push((std::time::Instant::now(), request.body().as_ptr() as usize));
            let answer = self
                .answers
                .lock()
                .unwrap()
                .pop_front()
                .unwrap_or(Ok((200, None)));
            Box::pin(async move {
                let (status, retry_after) =
                    answer.map_err(|text| -> opentelemetry_http::HttpError { text.into() })?;
                let mut response = http::Response::new(bytes::Bytes::new());
                *response.status_mut() = http::StatusCode::from_u16(status).unwrap();
                if let Some(value) = retry_after {
                    response.headers_mut().insert(
                        http::header::RETRY_AFTER,
                        http::HeaderValue::from_static(value),
                    );
                }
                Ok(response)
            })
        }
    }

    /// Sends one request through a retrying client over `script`; returns the final
    /// status (or error) and the pauses between attempts.
    fn send(
        script: Vec<Answer>,
    ) -> (
        Result<u16, &'static str>,
        Vec<Duration>,
        ClassifyingClient<Scripted>,
    ) {
        let client = ClassifyingClient {
            inner: Scripted {
                answers: std::sync::Mutex::new(script.into()),
                sent: Default::default(),
            },
            cause: LastCause::default(),
            retry: Retry::new(Duration::from_secs(10), Default::default()),
        };
        let body = bytes::Bytes::from(vec![7u8; 4096]);
        let outcome =
            futures::executor::block_on(client.send_retrying(http::Request::new(body.clone())))
                .map(|response| response.status().as_u16());
        let sent = client.inner.sent.lock().unwrap().clone();
        // the same bytes every time, never a copy
        assert!(
            sent.iter().all(|(_, at)| *at == body.as_ptr() as usize),
            "a copy was sent"
        );
        let pauses = sent.windows(2).map(|w| w[1].0 - w[0].0).collect();
        (outcome, pauses, client)
    }

    /// A throttling collector's `Retry-After` sets the pause; the request is re-sent as
    /// it was encoded.
    #[test]
    fn retry_after_sets_the_pause_and_the_same_bytes_are_sent_again() {
        let (outcome, pauses, _) = send(vec![Ok((429, Some("1"))), Ok((503, None))]);
        assert_eq!(outcome, Ok(200));
        assert_eq!(pauses.len(), 2, "{pauses:?}");
        assert!(pauses[0] >= Duration::from_secs(1), "{pauses:?}");
        // without a Retry-After, the backoff's (500 ms after a first pause)
        assert!(pauses[1] >= Duration::from_millis(500), "{pauses:?}");
        assert!(pauses[1] < Duration::from_millis(900), "{pauses:?}");
    }

    #[test]
    fn refusals_are_sent_once_and_transport_errors_again() {
        let (outcome, pauses, _) = send(vec![Ok((400, None))]);
        assert_eq!((outcome, pauses.len()), (Ok(400), 0));
        let (outcome, pauses, _) = send(vec![Err("connection refused"), Ok((502, None))]);
        assert_eq!((outcome, pauses.len()), (Ok(200), 2));
    }

    /// A failed TLS handshake over http/protobuf (upstream says only "network error") is
    /// tried once, not for the retry budget, and explained as such.
    #[test]
    fn a_failed_tls_handshake_is_not_retried() {
        let (outcome, pauses, client) = send(vec![Err("invalid peer certificate: UnknownIssuer")]);
        assert_eq!(outcome, Err(TLS_FAILED));
        assert!(pauses.is_empty(), "{pauses:?}");
        let exporter = Redacted {
            inner: (),
            signal: Signal::Traces,
            tls: true,
            cause: client.cause.clone(),
            retry: client.retry.clone(),
        };
        let explained = exporter
            .redact(Err(OTelSdkError::InternalFailure(
                "HTTP export failed: network error".into(),
            )))
            .unwrap_err()
            .to_string();
        assert!(
            explained.contains("the TLS handshake failed"),
            "{explained}"
        );
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let delay = |value: &str| {
            let mut headers = http::HeaderMap::new();
            headers.insert(
                http::header::RETRY_AFTER,
                http::HeaderValue::from_str(value).unwrap(),
            );
            retry_after(&headers)
        };
        assert_eq!(delay("7"), Some(Duration::from_secs(7)));
        assert_eq!(delay(" 2 "), Some(Duration::from_secs(2)));
        let soon = httpdate::fmt_http_date(std::time::SystemTime::now() + Duration::from_secs(30));
        let until = delay(&soon).unwrap();
        assert!(
            until > Duration::from_secs(25) && until <= Duration::from_secs(30),
            "{until:?}"
        );
        assert_eq!(delay("Sun, 06 Nov 1994 08:49:37 GMT"), Some(Duration::ZERO));
        assert_eq!(delay("soon"), None);
        assert_eq!(delay("-1"), None);
        assert_eq!(retry_after(&http::HeaderMap::new()), None);
    }

    #[test]
    fn explanations_quote_nothing_of_the_upstream_error() {
        let upstream = "error sending request for url (https://user:SECRET@collector:4318/v1/traces): invalid peer certificate: UnknownIssuer";
        let message = explain(upstream, Signal::Traces, true);
        assert!(
            !message.contains("SECRET") && !message.contains("collector:4318"),
            "{message}"
        );
        assert!(
            message.contains("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE"),
            "{message}"
        );
        let message = explain(
            "tcp connect error: Connection refused (os error 111) http://x:SECRET@h",
            Signal::Metrics,
            false,
        );
        assert_eq!(
            message,
            "OTLP metrics export failed: the collector cannot be reached (check OTEL_EXPORTER_OTLP_METRICS_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT)"
        );
        assert_eq!(
            explain("something else SECRET", Signal::Logs, false),
            "OTLP logs export failed: the request failed"
        );
        // an overloaded collector is not a credentials problem
        for (upstream, answer) in [
            ("HTTP export failed with status code: 503", "HTTP 503"),
            (
                "Traces export failed with gRPC code: ResourceExhausted",
                "gRPC RESOURCE_EXHAUSTED",
            ),
        ] {
            let message = explain(upstream, Signal::Traces, false);
            assert!(
                message.contains(answer) && !message.contains("HEADERS"),
                "{message}"
            );
        }
        assert!(
            explain(
                "HTTP export failed with status code: 401",
                Signal::Traces,
                false
            )
            .contains("OTEL_EXPORTER_OTLP_HEADERS")
        );
    }

    #[test]
    fn grpc_over_tls_says_unreachable_or_alpn_not_client_certificate() {
        // what tonic says with an https:// endpoint where nothing listens
        let refused = "Traces export failed with gRPC code: Unavailable: transport error: \
                       tcp connect error: Connection refused (os error 111)";
        assert_eq!(
            explain(refused, Signal::Traces, true),
            "OTLP traces export failed: the collector cannot be reached (check OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT)"
        );
        // and through a TLS terminator that does not negotiate h2
        let alpn = "Traces export failed with gRPC code: Unavailable: transport error: \
                    HTTP/2 was not negotiated.";
        let message = explain(alpn, Signal::Traces, true);
        assert!(
            message.contains("ALPN") && message.contains("`h2`"),
            "{message}"
        );
        assert!(!message.contains("client certificate"), "{message}");
        // a connection closed during the handshake still points at the client certificate
        let closed = "Traces export failed with gRPC code: Unavailable: transport error: \
                      connection reset by peer";
        assert!(explain(closed, Signal::Traces, true).contains("client certificate"));
    }
}
