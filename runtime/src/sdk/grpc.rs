//! OTLP over gRPC for spans and log records, each batch encoded once: the batch is turned
//! into its protobuf message and encoded to bytes, and every attempt ([`Retry`]) sends those
//! bytes (upstream's exporter converts a copy of the batch for every attempt). A status
//! the OTLP specification calls retryable is tried again (`UNAVAILABLE`, `CANCELLED`,
//! `DEADLINE_EXCEEDED`, `ABORTED`, `OUT_OF_RANGE`, `DATA_LOSS`, and `RESOURCE_EXHAUSTED`
//! when the collector says when to come back); the collector's `RetryInfo` sets the pause
//! when it asks for more than the backoff's.
//!
//! Failures are reported in upstream's words (`… export failed with gRPC code: Unavailable:
//! transport error: …`, the transport's causes only, never the collector's message, which
//! may echo credentials), so `otlp.rs` explains them the same way.
//!
//! Metrics, which are not retried, keep upstream's exporter.

use std::time::Duration;

use bytes::{Buf as _, BufMut as _, Bytes};
use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use prost::Message as _;
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::transport::Channel;
use tonic_types::StatusExt as _;

use super::otlp::{causes, says_tls};
use super::problem::SetupProblem;
use super::retry::{Next, Retry};
use super::settings::{Otlp, Signal};
use super::tls::Material;

/// One signal's gRPC client: where to, with what, and how it retries.
#[derive(Debug)]
pub(super) struct GrpcExporter {
    channel: Channel,
    metadata: tonic::metadata::MetadataMap,
    gzip: bool,
    timeout: Duration,
    path: http::uri::PathAndQuery,
    /// Upstream's word for the signal in its messages (`Traces`, `Logs`).
    client: &'static str,
    resource: ResourceAttributesWithSchema,
    retry: Retry,
}

impl GrpcExporter {
    /// A client for `signal` (traces or logs) with the checked settings; its connection is
    /// made on first use, on `runtime`.
    pub(super) fn new(
        otlp: &Otlp,
        signal: Signal,
        retry: Retry,
        runtime: &tokio::runtime::Runtime,
    ) -> Result<GrpcExporter, SetupProblem> {
        let (path, client) = match signal {
            Signal::Traces => (
                "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
                "Traces",
            ),
            Signal::Logs => (
                "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
                "Logs",
            ),
            Signal::Metrics => return Err(super::otlp::not_built(signal)),
        };
        let mut endpoint = tonic::transport::Endpoint::from_shared(otlp.endpoint.clone())
            .map_err(|_| super::otlp::not_built(signal))?;
        if otlp.endpoint.starts_with("https://") {
            endpoint = endpoint
                .tls_config(Material::read(otlp, signal)?.tonic())
                .map_err(|_| super::otlp::not_built(signal))?;
        }
        let channel = {
            let _runtime = runtime.enter();
            endpoint.timeout(otlp.timeout).connect_lazy()
        };
        Ok(GrpcExporter {
            channel,
            metadata: super::otlp::metadata(otlp),
            gzip: otlp.gzip,
            timeout: otlp.timeout,
            path: http::uri::PathAndQuery::from_static(path),
            client,
            resource: ResourceAttributesWithSchema::default(),
            retry,
        })
    }

    /// Sends an encoded request until its outcome is final; a failure in upstream's words.
    async fn send(&self, message: Bytes) -> OTelSdkResult {
        self.retry
            .run_with(|| self.attempt(message.clone()), next)
            .await
            .map_err(|status| OTelSdkError::InternalFailure(self.describe(&status)))
    }

    async fn attempt(&self, message: Bytes) -> Result<(), tonic::Status> {
        let mut grpc = tonic::client::Grpc::new(self.channel.clone());
        if self.gzip {
            grpc = grpc.send_compressed(CompressionEncoding::Gzip);
        }
        grpc.ready().await.map_err(|error| {
            let mut status = tonic::Status::unavailable("not ready");
            status.set_source(std::sync::Arc::new(error));
            status
        })?;
        let mut request = tonic::Request::new(message);
        *request.metadata_mut() = self.metadata.clone();
        request.set_timeout(self.timeout);
        grpc.unary(request, self.path.clone(), Encoded)
            .await
            .map(drop)
    }

    /// `<Signal> export failed with gRPC code: <code>`, with the transport's causes when
    /// the status was made locally (upstream's wording); never the collector's message.
    fn describe(&self, status: &tonic::Status) -> String {
        let mut text = format!(
            "{} export failed with gRPC code: {:?}",
            self.client,
            status.code()
        );
        if let Some(source) = std::error::Error::source(status) {
            text.push_str(": ");
            text.push_str(&causes(source));
        }
        text
    }
}

/// Whether a status is worth another attempt, and after how long the collector asks.
fn next(outcome: &Result<(), tonic::Status>) -> Next {
    use tonic::Code;
    let Err(status) = outcome else {
        return Next::Done;
    };
    let asked = status
        .get_details_retry_info()
        .and_then(|info| info.retry_delay);
    match status.code() {
        // a configuration problem (an untrusted certificate, a wrong name): it would fail
        // the same way again
        Code::Unavailable if is_tls(status) => Next::Done,
        Code::Cancelled
        | Code::DeadlineExceeded
        | Code::Aborted
        | Code::OutOfRange
        | Code::Unavailable
        | Code::DataLoss => Next::Again(asked),
        // throttled: retryable only when the collector says when to come back
        Code::ResourceExhausted if asked.is_some() => Next::Again(asked),
        _ => Next::Done,
    }
}

/// Whether a locally made status is a failed TLS handshake.
fn is_tls(status: &tonic::Status) -> bool {
    std::error::Error::source(status)
        .is_some_and(|source| says_tls(&causes(source).to_ascii_lowercase()))
}

impl opentelemetry_sdk::trace::SpanExporter for GrpcExporter {
    async fn export(&self, batch: Vec<opentelemetry_sdk::trace::SpanData>) -> OTelSdkResult {
        use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
        use opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope;
        let request = ExportTraceServiceRequest {
            resource_spans: group_spans_by_resource_and_scope(batch, &self.resource),
        };
        self.send(request.encode_to_vec().into()).await
    }

    fn set_resource(&mut self, resource: &opentelemetry_sdk::Resource) {
        self.resource = resource.into();
    }
}

#[cfg(feature = "logs")]
impl opentelemetry_sdk::logs::LogExporter for GrpcExporter {
    async fn export(&self, batch: opentelemetry_sdk::logs::LogBatch<'_>) -> OTelSdkResult {
        use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
        use opentelemetry_proto::transform::logs::tonic::group_logs_by_resource_and_scope;
        let request = ExportLogsServiceRequest {
            resource_logs: group_logs_by_resource_and_scope(&batch, &self.resource),
        };
        self.send(request.encode_to_vec().into()).await
    }

    fn set_resource(&mut self, resource: &opentelemetry_sdk::Resource) {
        self.resource = resource.into();
    }
}

/// A codec sending bytes encoded already, and ignoring the answer's body (an export
/// response holds only a partial success, which the OTLP specification says not to retry).
#[derive(Clone, Copy, Debug, Default)]
struct Encoded;

impl Codec for Encoded {
    type Encode = Bytes;
    type Decode = ();
    type Encoder = Encoded;
    type Decoder = Encoded;

    fn encoder(&mut self) -> Encoded {
        Encoded
    }

    fn decoder(&mut self) -> Encoded {
        Encoded
    }
}

impl Encoder for Encoded {
    type Item = Bytes;
    type Error = tonic::Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for Encoded {
    type Item = ();
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<()>, tonic::Status> {
        src.advance(src.remaining());
        Ok(Some(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status_with_delay(code: tonic::Code, delay: Option<Duration>) -> tonic::Status {
        let details = tonic_types::ErrorDetails::with_retry_info(delay);
        tonic::Status::with_error_details(code, "throttled", details)
    }

    #[test]
    fn retryable_statuses_and_the_collector_delay() {
        use tonic::Code;
        let second = Some(Duration::from_secs(1));
        assert_eq!(next(&Ok(())), Next::Done);
        assert_eq!(
            next(&Err(tonic::Status::unavailable("down"))),
            Next::Again(None)
        );
        assert_eq!(
            next(&Err(status_with_delay(Code::Unavailable, second))),
            Next::Again(second)
        );
        assert_eq!(
            next(&Err(status_with_delay(Code::ResourceExhausted, second))),
            Next::Again(second)
        );
        // throttled without saying when: not retried (the OTLP specification)
        assert_eq!(
            next(&Err(tonic::Status::resource_exhausted("full"))),
            Next::Done
        );
        // made locally from a transport error: a failed handshake is final, a refused
        // connection is not
        let local = |cause: &str| {
            let mut status = tonic::Status::unavailable("transport error");
            status.set_source(std::sync::Arc::new(std::io::Error::other(cause.to_owned())));
            status
        };
        assert_eq!(
            next(&Err(local("invalid peer certificate: UnknownIssuer"))),
            Next::Done
        );
        assert_eq!(
            next(&Err(local("tcp connect error: Connection refused"))),
            Next::Again(None)
        );
        for refused in [
            tonic::Status::invalid_argument("bad"),
            tonic::Status::unauthenticated("who"),
            tonic::Status::permission_denied("no"),
        ] {
            assert_eq!(next(&Err(refused)), Next::Done);
        }
    }
}
