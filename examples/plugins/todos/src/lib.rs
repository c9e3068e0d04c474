//! The todos plugin: a CRUD API over an in-memory list, the example of Backstage's Tracing
//! Service docs. Every operation is a span carrying the caller's principal; the spans and
//! metrics belong to plugin `todos` through the crate-wide scope in Cargo.toml.

mod todos;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use backend_plugin_api::{BackendPlugin, Page, Paged};
use backstage_telemetry::{BackstageCredentials, ConfigError};

pub use todos::{
    CATEGORIES, MAX_TITLE_CHARS, MAX_TODOS_PER_PRINCIPAL, NewTodo, Todo, TodoError, TodoUpdate,
    Todos,
};

/// The plugin's instruments. No `id`: the scope is the crate's, from Cargo.toml.
#[backstage_telemetry::backstage_plugin]
pub mod metrics {
    use backstage_telemetry::metric;

    metric! {
        /// Todos created.
        pub static CREATED: Counter<u64> = "todos.created", unit = "{todo}";
        /// Todos open now.
        pub static OPEN: UpDownCounter<i64> = "todos.open", unit = "{todo}";
    }
}

/// The todos plugin.
#[derive(Clone)]
pub struct TodosPlugin {
    todos: Todos,
}

impl TodosPlugin {
    /// The plugin with its settings from the app-config: `todos.maxPerPrincipal` (a
    /// whole number above 0, default [`MAX_TODOS_PER_PRINCIPAL`]).
    ///
    /// ```
    /// let config = backstage_telemetry::Config::from_yaml_str("app-config.yaml", "todos:\n  maxPerPrincipal: 0\n")?;
    /// let error = todos_backend::TodosPlugin::from_config(&config).err().unwrap();
    /// assert_eq!(error.to_string(), "app-config.yaml:2:20: `todos.maxPerPrincipal` must be a nonzero usize");
    /// # Ok::<(), backstage_telemetry::ConfigError>(())
    /// ```
    pub fn from_config(config: &backstage_telemetry::Config) -> Result<Self, ConfigError> {
        let limit = config
            .get_optional::<std::num::NonZeroUsize>("todos.maxPerPrincipal")?
            .map_or(MAX_TODOS_PER_PRINCIPAL, std::num::NonZeroUsize::get);
        Ok(TodosPlugin::with_todos(Todos::with_limit(limit)))
    }

    /// The plugin, with an empty list and the default settings. Its counters start at 0
    /// for every category, so a dashboard shows 0 rather than no data until the first todo.
    pub fn new() -> Self {
        TodosPlugin::with_todos(Todos::default())
    }

    fn with_todos(todos: Todos) -> Self {
        for category in CATEGORIES {
            metrics::CREATED.add(
                0,
                &[backstage_telemetry::KeyValue::new("category", category)],
            );
        }
        metrics::OPEN.add(0, &[]);
        TodosPlugin { todos }
    }
}

/// The same as [`TodosPlugin::new`]: the counters start at 0.
impl Default for TodosPlugin {
    fn default() -> Self {
        TodosPlugin::new()
    }
}

impl BackendPlugin for TodosPlugin {
    fn id(&self) -> &'static str {
        "todos"
    }

    fn router(&self) -> Router {
        Router::new()
            .route("/", get(list).post(create))
            .route("/{id}", get(read).put(update).delete(delete))
            .with_state(self.todos.clone())
    }
}

fn error(error: TodoError) -> Response {
    let status = match error {
        TodoError::EmptyTitle | TodoError::TitleTooLong => StatusCode::BAD_REQUEST,
        TodoError::NotFound(_) => StatusCode::NOT_FOUND,
        TodoError::TooMany(_) => StatusCode::CONFLICT,
    };
    (status, format!("{error}\n")).into_response()
}

/// `GET /`: a page of the todos (`?limit=&offset=`).
async fn list(
    State(todos): State<Todos>,
    Extension(credentials): Extension<BackstageCredentials>,
    Query(page): Query<Page>,
) -> Json<Paged<Todo>> {
    Json(page.of(&todos.list(&credentials)))
}

async fn create(
    State(todos): State<Todos>,
    Extension(credentials): Extension<BackstageCredentials>,
    Json(new): Json<NewTodo>,
) -> Response {
    match todos.create(new, &credentials) {
        Ok(todo) => (StatusCode::CREATED, Json(todo)).into_response(),
        Err(e) => error(e),
    }
}

async fn read(
    State(todos): State<Todos>,
    Extension(credentials): Extension<BackstageCredentials>,
    Path(id): Path<u64>,
) -> Response {
    todos
        .get(id, &credentials)
        .map_or_else(error, |todo| Json(todo).into_response())
}

async fn update(
    State(todos): State<Todos>,
    Extension(credentials): Extension<BackstageCredentials>,
    Path(id): Path<u64>,
    Json(changes): Json<TodoUpdate>,
) -> Response {
    todos
        .update(id, changes, &credentials)
        .map_or_else(error, |todo| Json(todo).into_response())
}

async fn delete(
    State(todos): State<Todos>,
    Extension(credentials): Extension<BackstageCredentials>,
    Path(id): Path<u64>,
) -> Response {
    todos
        .delete(id, &credentials)
        .map_or_else(error, |()| StatusCode::NO_CONTENT.into_response())
}
