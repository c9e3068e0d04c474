//! The catalog as the scaffolder reaches it: over HTTP, each call a client span of the
//! scaffolder's tracer with the trace context sent along, so the catalog's spans (in this
//! process or another) join the request's trace.

use std::time::Duration;

use backstage_telemetry::TracingService;
use backstage_telemetry::http_client::{ReqwestService, TracedClient};
use backstage_telemetry::metrics::MetricsService;

/// How long a call to the catalog may take.
const TIMEOUT: Duration = Duration::from_secs(5);

/// The catalog's API at a base URL (`http://127.0.0.1:7007`).
#[derive(Clone, Debug)]
pub struct CatalogClient {
    client: TracedClient<ReqwestService>,
    base: String,
}

/// Why the catalog could not say whether a template exists.
#[derive(Debug)]
pub enum CatalogError {
    /// No answer: refused, timed out, reset.
    Unreachable,
    /// An answer other than 200 or 404.
    Status(u16),
}

impl std::fmt::Display for CatalogError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CatalogError::Unreachable => f.write_str("the catalog is unreachable"),
            CatalogError::Status(status) => write!(f, "the catalog answered {status}"),
        }
    }
}

#[backstage_telemetry::error_type]
impl backstage_telemetry::ErrorType for CatalogError {
    fn error_type(&self) -> std::borrow::Cow<'static, str> {
        match self {
            CatalogError::Unreachable => "catalog_unreachable".into(),
            CatalogError::Status(_) => "catalog_status".into(),
        }
    }
}

impl CatalogClient {
    /// The catalog at `base` (scheme, host, port, no trailing `/`); calls are spans of
    /// `tracing`, recorded in `http.client.request.duration` on the plugin's meter
    /// (`metrics`). Needs a TLS crypto provider for reqwest (the backend installs one).
    pub fn new(
        base: impl Into<String>,
        tracing: TracingService,
        metrics: &MetricsService,
    ) -> CatalogClient {
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .build()
            .expect("an HTTP client (the backend installs reqwest's crypto provider)");
        CatalogClient {
            client: TracedClient::new(ReqwestService::new(client), tracing)
                .with_metrics(&metrics.meter()),
            base: base.into(),
        }
    }

    /// Whether the catalog has the Template entity `name` (one of the scaffolder's known
    /// template names, so safe in a path).
    pub async fn has_template(&self, name: &str) -> Result<bool, CatalogError> {
        let url = format!(
            "{}/api/catalog/entities/by-name/template/default/{name}",
            self.base
        );
        let request = http::Request::get(url)
            .body(reqwest::Body::from(""))
            .map_err(|_| CatalogError::Unreachable)?;
        let response = self
            .client
            .send(request)
            .await
            .map_err(|_| CatalogError::Unreachable)?;
        match response.status().as_u16() {
            200 => Ok(true),
            404 => Ok(false),
            other => Err(CatalogError::Status(other)),
        }
    }
}
