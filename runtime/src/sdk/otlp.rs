//! OTLP exporters over http/protobuf or gRPC, built from settings that were read and
//! checked already (endpoint, headers, timeout, compression), so the exporters consult no
//! variable themselves and no upstream error can quote a value.
//!
//! The gRPC client needs a Tokio runtime to drive its connection; the guard owns a small
//! one (one worker thread), so `init` works inside or outside the application's runtime.

use std::collections::HashMap;

use opentelemetry_otlp::tonic_types::metadata::MetadataMap;
use opentelemetry_otlp::{
    Compression, MetricExporter, Protocol as OtlpProtocol, SpanExporter, WithExportConfig,
    WithHttpConfig, WithTonicConfig,
};

use super::Telemetry;
use super::problem::SetupProblem;
use super::settings::{Otlp, Protocol};

impl Telemetry {
    pub(super) fn otlp_metric_exporter(
        &mut self,
        otlp: &Otlp,
    ) -> Result<MetricExporter, SetupProblem> {
        let built = match otlp.protocol {
            Protocol::HttpProtobuf => {
                let builder = MetricExporter::builder()
                    .with_http()
                    .with_protocol(OtlpProtocol::HttpBinary)
                    .with_endpoint(&otlp.endpoint)
                    .with_timeout(otlp.timeout)
                    .with_headers(http_headers(otlp));
                if otlp.gzip {
                    builder.with_compression(Compression::Gzip).build()
                } else {
                    builder.build()
                }
            }
            Protocol::Grpc => {
                let _runtime = self.grpc_runtime()?.enter();
                let builder = MetricExporter::builder()
                    .with_tonic()
                    .with_endpoint(&otlp.endpoint)
                    .with_timeout(otlp.timeout)
                    .with_metadata(metadata(otlp));
                if otlp.gzip {
                    builder.with_compression(Compression::Gzip).build()
                } else {
                    builder.build()
                }
            }
        };
        built.map_err(|_| not_built("metrics"))
    }

    pub(super) fn otlp_span_exporter(&mut self, otlp: &Otlp) -> Result<SpanExporter, SetupProblem> {
        let built = match otlp.protocol {
            Protocol::HttpProtobuf => {
                let builder = SpanExporter::builder()
                    .with_http()
                    .with_protocol(OtlpProtocol::HttpBinary)
                    .with_endpoint(&otlp.endpoint)
                    .with_timeout(otlp.timeout)
                    .with_headers(http_headers(otlp));
                if otlp.gzip {
                    builder.with_compression(Compression::Gzip).build()
                } else {
                    builder.build()
                }
            }
            Protocol::Grpc => {
                let _runtime = self.grpc_runtime()?.enter();
                let builder = SpanExporter::builder()
                    .with_tonic()
                    .with_endpoint(&otlp.endpoint)
                    .with_timeout(otlp.timeout)
                    .with_metadata(metadata(otlp));
                if otlp.gzip {
                    builder.with_compression(Compression::Gzip).build()
                } else {
                    builder.build()
                }
            }
        };
        built.map_err(|_| not_built("traces"))
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

/// Every setting was checked, so this is an upstream refusal; its message may quote the
/// endpoint, so it is not passed on.
fn not_built(signal: &'static str) -> SetupProblem {
    SetupProblem::new(
        format!("the OTLP {signal} exporter"),
        "could not be built from the OTEL_EXPORTER_OTLP_* settings",
        format!("{signal} export over OTLP is off"),
    )
}

fn http_headers(otlp: &Otlp) -> HashMap<String, String> {
    otlp.headers.iter().cloned().collect()
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
