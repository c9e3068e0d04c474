//! A Backstage-like backend written with backstage-telemetry: the catalog, scaffolder and
//! todos plugins and the scheduler core service, on axum.
//!
//! ```text
//! cargo run --example backend [-- --config app-config.yaml] [--port 7007] [--shutdown-delay-ms 1000]
//! cargo run --example backend -- --metrics-table     # print the metric reference table
//! ```
//!
//! - API on `http://127.0.0.1:7007`: `/api/catalog/...`, `/api/scaffolder/v2/tasks...`,
//!   `/api/todos...`, health at `/.backstage/health/v1/{liveness,readiness}`;
//! - metrics at `http://127.0.0.1:9464/metrics`; traces over OTLP when
//!   `OTEL_EXPORTER_OTLP_ENDPOINT` is set; JSON logs on stdout;
//! - SIGINT/SIGTERM: readiness turns 503, requests in flight finish, telemetry is flushed.

mod catalog;
mod scaffolder;
mod scheduler;
mod todos;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use backstage_telemetry::health::{HealthResponse, RootHealthService};
use backstage_telemetry::logs::JsonLogs;
use backstage_telemetry::{BackstageCredentials, Config};
use tokio::sync::watch;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use catalog::catalog as catalog_plugin;
use scaffolder::scaffolder::Scaffolder;
use todos::todos::{NewTodo, TodoError, TodoUpdate, Todos};

struct Args {
    configs: Vec<String>,
    port: u16,
    shutdown_delay: Duration,
    metrics_table: bool,
}

fn args() -> Result<Args, String> {
    let mut args = Args {
        configs: Vec::new(),
        port: 7007,
        shutdown_delay: Duration::from_millis(1000),
        metrics_table: false,
    };
    let mut iter = std::env::args().skip(1);
    while let Some(arg) = iter.next() {
        let mut value = |name: &str| iter.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--config" => args.configs.push(value("--config")?),
            "--port" => {
                args.port = value("--port")?
                    .parse()
                    .map_err(|_| "--port takes a port number")?
            }
            "--shutdown-delay-ms" => {
                let ms = value("--shutdown-delay-ms")?
                    .parse()
                    .map_err(|_| "--shutdown-delay-ms takes milliseconds")?;
                args.shutdown_delay = Duration::from_millis(ms);
            }
            "--metrics-table" => args.metrics_table = true,
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    Ok(args)
}

#[derive(Clone)]
struct AppState {
    health: RootHealthService,
    scaffolder: Scaffolder,
    todos: Todos,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("backend: {message}");
            return ExitCode::from(2);
        }
    };
    if args.metrics_table {
        print!("{}", metrics_table());
        return ExitCode::SUCCESS;
    }
    let config = if args.configs.is_empty() {
        Config::default()
    } else {
        match Config::load(&args.configs) {
            Ok(config) => config,
            Err(error) => {
                eprintln!("backend: {error}");
                return ExitCode::from(2);
            }
        }
    };

    // Telemetry first, so everything below records. A setting it cannot use turns off only
    // the exporter it belongs to; the problems are logged once logging is up.
    let telemetry = backstage_telemetry::init(&config);
    tracing_subscriber::registry()
        .with(tracing_subscriber::filter::LevelFilter::INFO)
        .with(JsonLogs::new(&config))
        .with(tracing_opentelemetry::layer().with_tracer(opentelemetry::global::tracer("backend")))
        // log records over OTLP when a logs exporter is on (OTEL_LOGS_EXPORTER, or an endpoint)
        .with(telemetry.log_layer())
        .init();
    for problem in telemetry.problems() {
        tracing::warn!(setting = problem.setting(), "telemetry set-up: {problem}");
    }

    let health = RootHealthService::new();
    let (stop, stopped) = watch::channel(false);
    let state = AppState {
        health: health.clone(),
        scaffolder: Scaffolder::default(),
        todos: Todos::default(),
    };
    let address = SocketAddr::from(([127, 0, 0, 1], args.port));
    let listener = match tokio::net::TcpListener::bind(address).await {
        Ok(listener) => listener,
        Err(error) => {
            tracing::error!(%address, %error, "cannot listen");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(%address, "listening");
    if let Some(endpoint) = telemetry.metrics_endpoint() {
        tracing::info!(metrics = %format!("http://{endpoint}/metrics"), "serving metrics");
    }

    // Plugins start after the server listens: readiness is 503 until they have. The
    // catalog has started once its bootstrap locations are processed and stitched.
    let catalog_startup = health.register("catalog");
    let scaffolder_startup = health.register("scaffolder");
    let todos_startup = health.register("todos");
    scaffolder::scaffolder::register_observables();
    scaffolder_startup.started();
    todos_startup.started();
    let mut loops = catalog_plugin::start(&stopped);
    let startup_stopped = stopped.clone();
    loops.push(tokio::spawn(async move {
        while !catalog_plugin::caught_up() {
            if *startup_stopped.borrow() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        catalog_startup.started();
        tracing::info!("all plugins started");
    }));

    let app = router(state.clone());
    let shutdown = shutdown_signal(health.clone(), args.shutdown_delay);
    if let Err(error) = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
    {
        tracing::error!(%error, "server failed");
    }

    // Requests in flight have finished; stop the background work, then flush telemetry.
    let _ = stop.send(true);
    state.scaffolder.stop();
    for handle in loops.drain(..) {
        let _ = handle.await;
    }
    tracing::info!("shutdown complete");
    if let Err(error) = telemetry.shutdown() {
        eprintln!("backend: {error}");
    }
    ExitCode::SUCCESS
}

fn router(state: AppState) -> Router {
    Router::new()
        .route("/.backstage/health/v1/liveness", get(liveness))
        .route("/.backstage/health/v1/readiness", get(readiness))
        .route("/api/catalog/entities", get(list_entities))
        .route(
            "/api/catalog/entities/by-name/{kind}/{namespace}/{name}",
            get(get_entity),
        )
        .route("/api/catalog/locations", post(register_location))
        .route("/api/scaffolder/v2/tasks", post(create_task))
        .route("/api/scaffolder/v2/tasks/{id}", get(task_status))
        .route("/api/scaffolder/v2/tasks/{id}/cancel", post(cancel_task))
        .route("/api/todos", get(list_todos).post(create_todo))
        .route(
            "/api/todos/{id}",
            get(get_todo).put(update_todo).delete(delete_todo),
        )
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
        .with_state(state)
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
async fn shutdown_signal(health: RootHealthService, delay: Duration) {
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

async fn liveness(State(state): State<AppState>) -> Response {
    health_response(state.health.liveness())
}

async fn readiness(State(state): State<AppState>) -> Response {
    health_response(state.health.readiness())
}

async fn list_entities() -> Json<Vec<catalog_plugin::Entity>> {
    Json(catalog_plugin::store().entities())
}

async fn get_entity(Path((kind, namespace, name)): Path<(String, String, String)>) -> Response {
    let entity_ref = catalog_plugin::entity_ref(&kind, &namespace, &name);
    match catalog_plugin::store().get(&entity_ref) {
        Some(entity) => Json(entity).into_response(),
        None => (StatusCode::NOT_FOUND, format!("no entity {entity_ref}\n")).into_response(),
    }
}

#[derive(serde::Deserialize)]
struct LocationRequest {
    target: String,
}

async fn register_location(Json(location): Json<LocationRequest>) -> Response {
    match catalog_plugin::register_location(&location.target) {
        Ok(count) => (
            StatusCode::CREATED,
            Json(serde_json::json!({ "entities": count })),
        )
            .into_response(),
        Err(error) => (StatusCode::BAD_REQUEST, format!("{error}\n")).into_response(),
    }
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct TaskRequest {
    template_ref: String,
}

async fn create_task(
    State(state): State<AppState>,
    Extension(credentials): Extension<BackstageCredentials>,
    Json(task): Json<TaskRequest>,
) -> Response {
    match state.scaffolder.create(&task.template_ref, &credentials) {
        Some(status) => (StatusCode::CREATED, Json(status)).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            format!("no template {}\n", task.template_ref),
        )
            .into_response(),
    }
}

async fn task_status(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    match state.scaffolder.status(&id) {
        Some(status) => Json(status).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn cancel_task(State(state): State<AppState>, Path(id): Path<String>) -> StatusCode {
    if state.scaffolder.cancel(&id) {
        StatusCode::ACCEPTED
    } else {
        StatusCode::NOT_FOUND
    }
}

fn todo_error(error: TodoError) -> Response {
    let status = match error {
        TodoError::EmptyTitle => StatusCode::BAD_REQUEST,
        TodoError::NotFound(_) => StatusCode::NOT_FOUND,
    };
    (status, format!("{error}\n")).into_response()
}

async fn list_todos(
    State(state): State<AppState>,
    Extension(credentials): Extension<BackstageCredentials>,
) -> Response {
    Json(state.todos.list(&credentials)).into_response()
}

async fn create_todo(
    State(state): State<AppState>,
    Extension(credentials): Extension<BackstageCredentials>,
    Json(new): Json<NewTodo>,
) -> Response {
    match state.todos.create(new, &credentials) {
        Ok(todo) => (StatusCode::CREATED, Json(todo)).into_response(),
        Err(error) => todo_error(error),
    }
}

async fn get_todo(
    State(state): State<AppState>,
    Extension(credentials): Extension<BackstageCredentials>,
    Path(id): Path<u64>,
) -> Response {
    state
        .todos
        .get(id, &credentials)
        .map_or_else(todo_error, |todo| Json(todo).into_response())
}

async fn update_todo(
    State(state): State<AppState>,
    Extension(credentials): Extension<BackstageCredentials>,
    Path(id): Path<u64>,
    Json(update): Json<TodoUpdate>,
) -> Response {
    state
        .todos
        .update(id, update, &credentials)
        .map_or_else(todo_error, |todo| Json(todo).into_response())
}

async fn delete_todo(
    State(state): State<AppState>,
    Extension(credentials): Extension<BackstageCredentials>,
    Path(id): Path<u64>,
) -> Response {
    state
        .todos
        .delete(id, &credentials)
        .map_or_else(todo_error, |()| StatusCode::NO_CONTENT.into_response())
}

/// Backstage's metric names (from its OpenTelemetry set-up guide) and what each is here.
const UPSTREAM: &[(&str, &str)] = &[
    (
        "catalog_entities_count",
        "backstage.plugin.catalog.entities.count",
    ),
    (
        "catalog_registered_locations_count",
        "backstage.plugin.catalog.registered_locations.count",
    ),
    (
        "catalog_relations_count",
        "backstage.plugin.catalog.relations.count",
    ),
    (
        "catalog.processed.entities.count",
        "backstage.plugin.catalog.processed.entities.count",
    ),
    (
        "catalog.processing.duration",
        "backstage.plugin.catalog.processing.duration",
    ),
    (
        "catalog.processors.duration",
        "backstage.plugin.catalog.processors.duration",
    ),
    (
        "catalog.processing.queue.delay",
        "backstage.plugin.catalog.processing.queue.delay",
    ),
    (
        "catalog.stitched.entities.count",
        "backstage.plugin.catalog.stitched.entities.count",
    ),
    (
        "catalog.stitching.duration",
        "backstage.plugin.catalog.stitching.duration",
    ),
    (
        "catalog.stitching.queue.length",
        "backstage.plugin.catalog.stitching.queue.length",
    ),
    (
        "catalog.stitching.queue.delay",
        "backstage.plugin.catalog.stitching.queue.delay",
    ),
    (
        "scaffolder.task.count",
        "backstage.plugin.scaffolder.task.count",
    ),
    (
        "scaffolder.task.duration",
        "backstage.plugin.scaffolder.task.duration",
    ),
    (
        "scaffolder.step.count",
        "backstage.plugin.scaffolder.step.count",
    ),
    (
        "scaffolder.step.duration",
        "backstage.plugin.scaffolder.step.duration",
    ),
    (
        "backend_tasks.task.runs.count",
        "backstage.core.scheduler.task.runs.count",
    ),
    (
        "backend_tasks.task.runs.duration",
        "backstage.core.scheduler.task.runs.duration",
    ),
];

/// The reference table of the metrics this backend emits, from the plugins' manifests.
fn metrics_table() -> String {
    let manifests = [
        catalog_plugin::METRICS,
        scaffolder::scaffolder::METRICS,
        scheduler::scheduler::METRICS,
        todos::todos::METRICS,
    ];
    let mut table = String::from(
        "| Backstage (Node.js) | backstage-telemetry | kind | unit | description |\n|---|---|---|---|---|\n",
    );
    for metric in manifests.into_iter().flatten() {
        let upstream = UPSTREAM
            .iter()
            .find(|(_, new)| *new == metric.name)
            .map_or("(new)", |(old, _)| old);
        table.push_str(&format!(
            "| `{upstream}` | `{}` | {}<{}> | `{}` | {} |\n",
            metric.name,
            metric.kind.name(),
            metric.value_type,
            metric.unit,
            metric.description
        ));
    }
    table
}
