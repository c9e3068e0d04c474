//! OTLP exporters over http/protobuf or gRPC. Endpoint, headers, timeout and compression
//! come from the `OTEL_EXPORTER_OTLP_*` variables, which the exporters read themselves.
//!
//! The gRPC client needs a Tokio runtime to drive its connection; the guard owns a small
//! one (one worker thread), so `init` works inside or outside the application's runtime.

use opentelemetry_otlp::{
    MetricExporter, Protocol as OtlpProtocol, SpanExporter, WithExportConfig,
};
use opentelemetry_sdk::metrics::MeterProviderBuilder;
use opentelemetry_sdk::trace::{BatchSpanProcessor, TracerProviderBuilder};

use super::settings::Protocol;
use super::{InitError, Telemetry, UniqueAttributes};

impl Telemetry {
    pub(super) fn otlp_metrics(
        &mut self,
        builder: MeterProviderBuilder,
        protocol: Protocol,
    ) -> Result<MeterProviderBuilder, InitError> {
        let exporter = match protocol {
            Protocol::HttpProtobuf => MetricExporter::builder()
                .with_http()
                .with_protocol(OtlpProtocol::HttpBinary)
                .build(),
            Protocol::Grpc => {
                let _runtime = self.grpc_runtime()?.enter();
                MetricExporter::builder().with_tonic().build()
            }
        }
        .map_err(|e| InitError::Exporter(format!("OTLP metrics: {e}")))?;
        Ok(builder.with_periodic_exporter(exporter))
    }

    pub(super) fn otlp_traces(
        &mut self,
        builder: TracerProviderBuilder,
        protocol: Protocol,
    ) -> Result<TracerProviderBuilder, InitError> {
        let exporter = match protocol {
            Protocol::HttpProtobuf => SpanExporter::builder()
                .with_http()
                .with_protocol(OtlpProtocol::HttpBinary)
                .build(),
            Protocol::Grpc => {
                let _runtime = self.grpc_runtime()?.enter();
                SpanExporter::builder().with_tonic().build()
            }
        }
        .map_err(|e| InitError::Exporter(format!("OTLP traces: {e}")))?;
        Ok(builder.with_span_processor(UniqueAttributes::new(
            BatchSpanProcessor::builder(exporter).build(),
        )))
    }

    fn grpc_runtime(&mut self) -> Result<&tokio::runtime::Runtime, InitError> {
        let runtime = match self.runtime.take() {
            Some(runtime) => runtime,
            None => tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("backstage-otlp")
                .enable_all()
                .build()
                .map_err(|e| InitError::Exporter(format!("OTLP gRPC runtime: {e}")))?,
        };
        Ok(self.runtime.insert(runtime))
    }
}
