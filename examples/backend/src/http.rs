//! The backend's HTTP edge: the health endpoints, each plugin's routes under `/api/{id}`,
//! authentication, limits on what a client may send, one server span per request, and the
//! signal that starts the graceful shutdown. The server itself, with its timeouts and
//! connection cap, is `backstage_telemetry::server` (see `main.rs`).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use backend_plugin_api::{BackendPlugin, redacted_query};
use backstage_telemetry::health::{HealthResponse, RootHealthService};
use backstage_telemetry::server::Limits;
use backstage_telemetry::{BackstageCredentials, Principal};

use subtle::ConstantTimeEq as _;

use crate::http_metrics::HttpMetricsLayer;

/// The options of the API's edge: the bounds of the server and the shutdown's pauses.
#[derive(Clone, Copy, Debug, clap::Args)]
pub struct EdgeOptions {
    /// How long readiness reports 503 before the server stops accepting, so load balancers
    /// notice.
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    shutdown_delay_ms: u64,
    /// Then, how long requests in flight may take before their connections are closed.
    #[arg(long, value_name = "MS", default_value_t = 10_000)]
    shutdown_grace_ms: u64,
    /// Connections the API keeps open at once (keep it well below `ulimit -n`).
    #[arg(long, value_name = "N", default_value_t = 512,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    max_connections: u32,
    /// How long a request may take, from its head to its answer (reading the body
    /// included), before it is answered 503.
    #[arg(long, value_name = "MS", default_value_t = 30_000,
          value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    request_timeout_ms: u64,
    /// The slowest a request body may arrive while a handler waits for it, in bytes per
    /// second (0: no minimum); slower, it is answered 408 and its connection closed.
    #[arg(long, value_name = "BYTES", default_value_t = 240)]
    min_body_rate: u32,
    /// How long a handler may wait for a request body before the minimum rate applies.
    #[arg(long, value_name = "MS", default_value_t = 5_000,
          value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    body_grace_ms: u64,
}

impl EdgeOptions {
    /// How long readiness reports 503 before the server stops accepting.
    pub fn shutdown_delay(&self) -> Duration {
        Duration::from_millis(self.shutdown_delay_ms)
    }

    /// The request deadline the router answers at (`503`, recorded).
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }

    /// The bounds of the server. Its own request deadline, a second after the router's, is
    /// the backstop.
    pub fn limits(&self) -> Limits {
        Limits {
            max_connections: self.max_connections as usize,
            shutdown_grace: Duration::from_millis(self.shutdown_grace_ms),
            request_timeout: self.request_timeout() + Duration::from_secs(1),
            min_body_rate: self.min_body_rate,
            body_grace: Duration::from_millis(self.body_grace_ms),
            ..Limits::default()
        }
    }
}

/// The whole API: health, then every plugin's routes under `/api/{id}`. A request not
/// answered within `request_timeout` is answered `503` (and recorded as such).
pub fn router(
    plugins: &[Arc<dyn BackendPlugin>],
    health: RootHealthService,
    request_timeout: Duration,
) -> Router {
    let mut router = Router::new()
        .route("/.backstage/health/v1/liveness", get(liveness))
        .route("/.backstage/health/v1/readiness", get(readiness))
        .with_state(health);
    for plugin in plugins {
        router = router.nest(&format!("/api/{}", plugin.id()), plugin.router());
    }
    router
        .layer(axum::middleware::from_fn(authenticate))
        // larger bodies are refused with 413 before a handler reads them
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        // one server span per request, with the W3C traceparent as parent; after the routes
        // so that `http.route` is the matched route
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            request_timeout,
        ))
        // every request recorded, however it ends (`http_metrics.rs`)
        .layer(HttpMetricsLayer::new(&opentelemetry::global::meter(
            crate::http_metrics::METER_NAME,
        )))
        // the handlers see the query as sent; the span saw it redacted
        .layer(axum::middleware::map_request(unredacted_uri))
        .layer(
            opentelemetry_instrumentation_tower::http::server::LayerBuilder::builder()
                .with_metrics(false)
                .build()
                .expect("the HTTP server layer"),
        )
        .layer(axum::middleware::map_request(server_uri))
        .layer(axum::middleware::map_request(known_method))
}

/// The largest request body a handler reads.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Records a method outside the standard set as `_OTHER` (as the HTTP semantic conventions
/// ask), so clients cannot mint span names and metric series with made-up methods. No
/// route takes such a method: the answer stays 405.
async fn known_method(mut request: Request) -> Request {
    if crate::http_metrics::standard_method(request.method()).is_none() {
        *request.method_mut() = Method::from_bytes(b"_OTHER").expect("a valid method token");
    }
    request
}

/// Gives the request the URI of this server (`http://{Host}/path`), whatever the request
/// target said: a server sees only the path, the span's `url.scheme` comes from the URI, and
/// a client sending `s1://x/api/todos` must not choose a metric label. The authority is the
/// `Host` header, or `localhost` without a usable one (it is on no metric). The value of
/// every credential-like query parameter is `REDACTED` in it, for the server span's
/// `url.query`; [`unredacted_uri`] gives the handlers the query as sent.
async fn server_uri(mut request: Request) -> Request {
    use axum::http::uri::{Authority, Scheme};
    let authority = request
        .headers()
        .get("host")
        .and_then(|host| host.to_str().ok())
        .and_then(|host| host.parse::<Authority>().ok())
        .unwrap_or_else(|| Authority::from_static("localhost"));
    let mut parts = request.uri().clone().into_parts();
    parts.scheme = Some(Scheme::HTTP);
    parts.authority = Some(authority);
    if let Some(path_and_query) = &parts.path_and_query
        && let Some(query) = path_and_query.query()
        && let redacted = redacted_query(query)
        && matches!(redacted, std::borrow::Cow::Owned(_))
    {
        let redacted = format!("{}?{redacted}", path_and_query.path());
        parts.path_and_query = redacted.parse().ok();
        let sent = request.uri().clone();
        request.extensions_mut().insert(Unredacted(sent));
    }
    if parts.path_and_query.is_none() {
        parts.path_and_query = Some(axum::http::uri::PathAndQuery::from_static("/"));
    }
    match axum::http::Uri::from_parts(parts) {
        Ok(uri) => *request.uri_mut() = uri,
        // never an unredacted query on the span
        Err(_) if request.extensions().get::<Unredacted>().is_some() => {
            *request.uri_mut() = axum::http::Uri::from_static("/");
        }
        Err(_) => {}
    }
    request
}

/// The URI a request was sent with, where [`server_uri`] redacted its query.
#[derive(Clone)]
struct Unredacted(axum::http::Uri);

/// Gives the request back the query it was sent with (inside the server span's layer).
async fn unredacted_uri(mut request: Request) -> Request {
    if let Some(Unredacted(uri)) = request.extensions_mut().remove::<Unredacted>() {
        *request.uri_mut() = uri;
    }
    request
}

/// The auth middleware of this example: verifies the bearer token against a fixed table
/// and stores the credentials on the request; spans read them from there, never the
/// header. As Backstage's default policy asks, a token that does not verify is a 401, and
/// so is a write (`POST`, `PUT`, `PATCH`, `DELETE`) without a token; reads are open.
async fn authenticate(mut request: Request, next: Next) -> Response {
    let credentials = match request.headers().get("authorization") {
        None => BackstageCredentials::none(),
        Some(value) => {
            let token = value.to_str().ok().and_then(bearer_token);
            match token.and_then(verify) {
                Some(credentials) => credentials,
                None => return unauthorized("the token is not valid"),
            }
        }
    };
    let write =
        [Method::POST, Method::PUT, Method::PATCH, Method::DELETE].contains(request.method());
    if write && matches!(credentials.principal(), Principal::None) {
        return unauthorized("writes need a token: Authorization: Bearer <token>");
    }
    request.extensions_mut().insert(credentials);
    next.run(request).await
}

/// Who a token belongs to (the example's stand-in for Backstage's token verification).
fn verify(token: &str) -> Option<BackstageCredentials> {
    // every known token compared in constant time, none skipped: how long this takes says
    // nothing of how much of a token was right
    let mut found = None;
    for (known, credentials) in [
        ("alice-token", Credentials::User("user:default/alice")),
        ("bob-token", Credentials::User("user:default/bob")),
        ("ci-token", Credentials::Service("external:ci-pipeline")),
    ] {
        if bool::from(known.as_bytes().ct_eq(token.as_bytes())) {
            found = Some(credentials);
        }
    }
    found.map(|credentials| match credentials {
        Credentials::User(entity_ref) => BackstageCredentials::user(entity_ref),
        Credentials::Service(subject) => BackstageCredentials::service(subject),
    })
}

/// Whom a known token stands for.
#[derive(Clone, Copy)]
enum Credentials {
    User(&'static str),
    Service(&'static str),
}

/// The token of an `Authorization: Bearer <token>` value; the scheme in any case (RFC 7235).
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim_start_matches(' '))
}

fn unauthorized(why: &'static str) -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [("www-authenticate", "Bearer")],
        format!("{why}\n"),
    )
        .into_response()
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
