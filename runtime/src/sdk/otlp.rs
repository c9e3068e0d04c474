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
use super::problem::SetupProblem;
use super::retry::Retry;
use super::settings::{Otlp, Protocol, Signal};
use super::tls::Material;

/// One signal's OTLP exporter over the transport the settings name, with the checked
/// settings, wrapped in [`Redacted`]. (The three exporter builders share no trait.)
macro_rules! otlp_exporter {
    ($telemetry:expr, $exporter:ty, $otlp:expr, $signal:expr) => {{
        let (otlp, signal): (&Otlp, Signal) = ($otlp, $signal);
        let cause = LastCause::default();
        let built = match otlp.protocol {
            Protocol::HttpProtobuf => {
                http(<$exporter>::builder().with_http(), otlp, signal, &cause)?.build()
            }
            Protocol::Grpc => {
                let _runtime = $telemetry.grpc_runtime()?.enter();
                grpc(<$exporter>::builder().with_tonic(), otlp, signal)?.build()
            }
        };
        let retry = $telemetry.retry(signal);
        built
            .map(|exporter| Redacted::new(exporter, otlp, signal, cause, retry))
            .map_err(|_| not_built(signal))
    }};
}

impl Telemetry {
    pub(super) fn otlp_span_exporter(
        &mut self,
        otlp: &Otlp,
    ) -> Result<Redacted<opentelemetry_otlp::SpanExporter>, SetupProblem> {
        otlp_exporter!(self, opentelemetry_otlp::SpanExporter, otlp, Signal::Traces)
    }

    pub(super) fn otlp_metric_exporter(
        &mut self,
        otlp: &Otlp,
    ) -> Result<Redacted<opentelemetry_otlp::MetricExporter>, SetupProblem> {
        otlp_exporter!(
            self,
            opentelemetry_otlp::MetricExporter,
            otlp,
            Signal::Metrics
        )
    }

    #[cfg(feature = "logs")]
    pub(super) fn otlp_log_exporter(
        &mut self,
        otlp: &Otlp,
    ) -> Result<Redacted<opentelemetry_otlp::LogExporter>, SetupProblem> {
        otlp_exporter!(self, opentelemetry_otlp::LogExporter, otlp, Signal::Logs)
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
/// (rustls; the configured CA and client certificate for `https://`).
fn http<B>(builder: B, otlp: &Otlp, signal: Signal, cause: &LastCause) -> Result<B, SetupProblem>
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
        // retried by `Redacted`, which knows the budget and the shutdown
        .with_retry_policy(RetryPolicy::disabled())
        .with_headers(otlp.headers.iter().cloned().collect::<HashMap<_, _>>())
        .with_http_client(ClassifyingClient {
            inner: client,
            cause: cause.clone(),
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

/// A gRPC exporter builder with the checked settings (TLS for `https://`).
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
fn not_built(signal: Signal) -> SetupProblem {
    SetupProblem::new(
        format!("the OTLP {} exporter", signal.key()),
        "could not be built from the OTEL_EXPORTER_OTLP_* settings",
        signal.otlp_off(),
    )
}

/// gRPC metadata from the headers (checked as header names and values already).
fn metadata(otlp: &Otlp) -> MetadataMap {
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

/// An exporter that retries what may go through later ([`Retry`]) and whose errors say what
/// went wrong and which variable to look at, without the upstream text (which may hold the
/// endpoint URL and its credentials).
#[derive(Debug)]
pub(super) struct Redacted<E> {
    inner: E,
    signal: Signal,
    tls: bool,
    cause: LastCause,
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

    /// The result of `attempt`, made final (not retried) when the TLS handshake failed:
    /// the http/protobuf exporter reports it as a bare "network error".
    async fn final_if_tls(
        &self,
        attempt: impl std::future::Future<Output = OTelSdkResult>,
    ) -> OTelSdkResult {
        match attempt.await {
            Err(_) if self.cause.is_tls() => Err(OTelSdkError::InternalFailure(TLS_FAILED.into())),
            result => result,
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

    /// Whether the last failure was the TLS handshake (a configuration problem: trying
    /// again would fail the same way).
    fn is_tls(&self) -> bool {
        *crate::sync::lock(&self.0) == Some(TLS_FAILED)
    }
}

/// What [`classify`] calls a failed TLS handshake.
const TLS_FAILED: &str = "tls handshake failed";

/// The blocking reqwest client, with errors that say what failed (TLS, timeout, connect)
/// and quote nothing: reqwest's own name the URL.
#[derive(Debug)]
struct ClassifyingClient {
    inner: reqwest::blocking::Client,
    cause: LastCause,
}

impl opentelemetry_http::HttpClient for ClassifyingClient {
    fn send_bytes<'client, 'future>(
        &'client self,
        request: http::Request<bytes::Bytes>,
    ) -> std::pin::Pin<
        Box<
            dyn std::future::Future<
                    Output = Result<http::Response<bytes::Bytes>, opentelemetry_http::HttpError>,
                > + Send
                + 'future,
        >,
    >
    where
        'client: 'future,
        Self: 'future,
    {
        Box::pin(async move {
            match self.inner.send_bytes(request).await {
                Ok(response) => Ok(response),
                Err(error) => {
                    let cause = classify(&*error);
                    self.cause.set(cause);
                    Err(cause.into())
                }
            }
        })
    }
}

/// The kind of a transport error, from its whole chain of causes.
fn classify(error: &(dyn std::error::Error + 'static)) -> &'static str {
    let mut chain = String::new();
    let mut next = Some(error);
    while let Some(error) = next {
        chain.push_str(&error.to_string().to_ascii_lowercase());
        chain.push(' ');
        next = error.source();
    }
    if ["certificate", "unknownissuer", "handshake", "alert", "tls"]
        .iter()
        .any(|word| chain.contains(word))
    {
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
    } else if tls
        && (text.contains("certificate")
            || text.contains("unknownissuer")
            || text.contains("handshake")
            || text.contains("tls")
            || text.contains("alert"))
    {
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

impl<E: opentelemetry_sdk::trace::SpanExporter> opentelemetry_sdk::trace::SpanExporter
    for Redacted<E>
{
    async fn export(&self, batch: Vec<opentelemetry_sdk::trace::SpanData>) -> OTelSdkResult {
        let mut batch = Some(batch);
        let result = self
            .retry
            .run(|| {
                // each attempt sends a copy, unless there is only the one
                let spans = if self.retry.is_off() {
                    batch.take().unwrap_or_default()
                } else {
                    batch.clone().unwrap_or_default()
                };
                self.final_if_tls(self.inner.export(spans))
            })
            .await;
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
        let records: Vec<_> = batch.iter().collect();
        let result = self
            .retry
            .run(|| {
                self.final_if_tls(
                    self.inner
                        .export(opentelemetry_sdk::logs::LogBatch::new(&records)),
                )
            })
            .await;
        self.redact(result)
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &opentelemetry_sdk::Resource) {
        self.inner.set_resource(resource);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A failed TLS handshake over http/protobuf (upstream says only "network error") is
    /// tried once, not for the retry budget.
    #[test]
    fn a_failed_tls_handshake_is_not_retried() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let cause = LastCause::default();
        let exporter = Redacted {
            inner: (),
            signal: Signal::Traces,
            tls: true,
            cause: cause.clone(),
            retry: Retry::new(Duration::from_secs(1), Default::default()),
        };
        let attempts = AtomicUsize::new(0);
        let result = futures::executor::block_on(exporter.retry.run(|| {
            attempts.fetch_add(1, Ordering::Relaxed);
            // what the classifying client notes, then what upstream reports
            cause.set(TLS_FAILED);
            exporter.final_if_tls(async {
                Err(OTelSdkError::InternalFailure(
                    "HTTP export failed: network error".into(),
                ))
            })
        }));
        assert_eq!(attempts.into_inner(), 1);
        let explained = exporter.redact(result).unwrap_err().to_string();
        assert!(
            explained.contains("the TLS handshake failed"),
            "{explained}"
        );
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
