//! The backend's HTTP edge: the health endpoints, each plugin's routes under `/api/{id}`,
//! authentication, one server span per request, and the graceful shutdown.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use backend_plugin_api::BackendPlugin;
use backstage_telemetry::BackstageCredentials;
use backstage_telemetry::health::{HealthResponse, RootHealthService};

/// The whole API: health, then every plugin's routes under `/api/{id}`.
pub fn router(plugins: &[Arc<dyn BackendPlugin>], health: RootHealthService) -> Router {
    let mut router = Router::new()
        .route("/.backstage/health/v1/liveness", get(liveness))
        .route("/.backstage/health/v1/readiness", get(readiness))
        .with_state(health);
    for plugin in plugins {
        router = router.nest(&format!("/api/{}", plugin.id()), plugin.router());
    }
    router
        .layer(axum::middleware::from_fn(authenticate))
        // one server span per request, with the W3C traceparent as parent; after the routes
        // so that `http.route` is the matched route
        .layer(
            opentelemetry_instrumentation_tower::http::server::LayerBuilder::builder()
                .with_sensitive_query_parameters(SENSITIVE_QUERY_PARAMETERS.iter().copied())
                .build()
                .expect("the HTTP server layer"),
        )
        .layer(axum::middleware::map_request(absolute_uri))
        .layer(axum::middleware::map_request(known_method))
}

/// Query parameters whose values are replaced by `REDACTED` in `url.query`: the
/// conventions' list and the usual names of tokens and passwords.
const SENSITIVE_QUERY_PARAMETERS: &[&str] = &[
    "access_token",
    "api_key",
    "apikey",
    "apiKey",
    "auth",
    "client_secret",
    "code",
    "id_token",
    "key",
    "password",
    "passwd",
    "refresh_token",
    "secret",
    "session",
    "sig",
    "signature",
    "Signature",
    "state",
    "token",
    "AWSAccessKeyId",
    "X-Amz-Credential",
    "X-Amz-Security-Token",
    "X-Amz-Signature",
    "X-Goog-Signature",
];

/// Records a method outside the standard set as `_OTHER` (as the HTTP semantic conventions
/// ask), so clients cannot mint span names and metric series with made-up methods. No
/// route takes such a method: the answer stays 405.
async fn known_method(mut request: Request) -> Request {
    use axum::http::Method;
    let known = [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::CONNECT,
        Method::OPTIONS,
        Method::TRACE,
        Method::PATCH,
    ];
    if !known.contains(request.method()) {
        *request.method_mut() = Method::from_bytes(b"_OTHER").expect("a valid method token");
    }
    request
}

/// Gives the request its absolute URI (`http://host/path`): a server sees only the path,
/// and the span's `url.scheme` comes from the URI.
async fn absolute_uri(mut request: Request) -> Request {
    let authority = request
        .headers()
        .get("host")
        .and_then(|host| host.to_str().ok())
        .and_then(|host| host.parse::<axum::http::uri::Authority>().ok());
    let mut parts = request.uri().clone().into_parts();
    if parts.scheme.is_none()
        && let Some(authority) = authority
    {
        parts.scheme = Some(axum::http::uri::Scheme::HTTP);
        parts.authority = Some(authority);
        if let Ok(uri) = axum::http::Uri::from_parts(parts) {
            *request.uri_mut() = uri;
        }
    }
    request
}

/// The auth middleware of this example: verifies the bearer token against a fixed table
/// and stores the credentials on the request. Spans read them from there, never the header.
async fn authenticate(mut request: Request, next: Next) -> Response {
    let token = request
        .headers()
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    let credentials = match token {
        Some("alice-token") => BackstageCredentials::user("user:default/alice"),
        Some("bob-token") => BackstageCredentials::user("user:default/bob"),
        Some("ci-token") => BackstageCredentials::service("external:ci-pipeline"),
        _ => BackstageCredentials::none(),
    };
    request.extensions_mut().insert(credentials);
    next.run(request).await
}

/// Waits for SIGINT or SIGTERM, turns readiness to 503, waits `delay` so load balancers
/// notice, then lets the server stop accepting (requests in flight still finish).
pub async fn shutdown_signal(health: RootHealthService, delay: Duration) {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {}
        () = terminate => {}
    }
    health.begin_shutdown();
    tracing::info!(
        delay_ms = delay.as_millis() as u64,
        "shutting down: readiness is now 503"
    );
    tokio::time::sleep(delay).await;
}

fn health_response(response: HealthResponse) -> Response {
    let status = StatusCode::from_u16(response.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [("content-type", "application/json")],
        response.body,
    )
        .into_response()
}

async fn liveness(State(health): State<RootHealthService>) -> Response {
    health_response(health.liveness())
}

async fn readiness(State(health): State<RootHealthService>) -> Response {
    health_response(health.readiness())
}
