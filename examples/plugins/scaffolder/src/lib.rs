//! The scaffolder plugin: tasks made of steps, run in the background. One template fails at
//! a step; tasks can be cancelled mid-step. Backstage's `scaffolder.task.*` and
//! `scaffolder.step.*` metrics, under `backstage.plugin.scaffolder.*` through the
//! crate-wide scope in Cargo.toml.

mod catalog;
mod tasks;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use backend_plugin_api::BackendPlugin;
use backstage_telemetry::{BackstageCredentials, KeyValue};
use serde::Deserialize;

pub use catalog::{CatalogClient, CatalogError};
pub use tasks::{RESULTS, Scaffolder, StepFailed, TEMPLATES, TaskStatus};

/// The plugin's instruments. No `id`: the scope is the crate's, from Cargo.toml.
#[backstage_telemetry::backstage_plugin]
pub mod metrics {
    use backstage_telemetry::metric;

    metric! {
        /// Count of task runs.
        pub static TASKS: Counter<u64> = "task.count", unit = "{task}";
        /// Duration of a task run.
        pub static TASK_DURATION: Histogram<f64> = "task.duration", unit = "s",
            boundaries = [0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
        /// Count of step runs.
        pub static STEPS: Counter<u64> = "step.count", unit = "{step}";
        /// Duration of a step run.
        pub static STEP_DURATION: Histogram<f64> = "step.duration", unit = "s",
            boundaries = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5];
    }
}

/// The scaffolder plugin.
#[derive(Clone)]
pub struct ScaffolderPlugin {
    scaffolder: Scaffolder,
}

impl ScaffolderPlugin {
    /// The plugin, with no tasks, fetching its templates from `catalog`. Tasks by template
    /// and result start at 0, so a dashboard shows 0 rather than no data until the first
    /// task ends.
    pub fn new(catalog: CatalogClient) -> Self {
        for template in TEMPLATES {
            for result in RESULTS {
                metrics::TASKS.add(
                    0,
                    &[
                        KeyValue::new("template", template),
                        KeyValue::new("result", result),
                    ],
                );
            }
        }
        ScaffolderPlugin {
            scaffolder: Scaffolder::new(catalog),
        }
    }
}

impl BackendPlugin for ScaffolderPlugin {
    fn id(&self) -> &'static str {
        "scaffolder"
    }

    fn router(&self) -> Router {
        Router::new()
            .route("/v2/tasks", post(create))
            .route("/v2/tasks/{id}", get(status))
            .route("/v2/tasks/{id}/cancel", post(cancel))
            .with_state(self.scaffolder.clone())
    }

    /// Cancels the tasks still running.
    fn stop(&self) {
        self.scaffolder.stop();
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TaskRequest {
    /// On the `create-task` span: bounded before the span starts.
    #[serde(deserialize_with = "backend_plugin_api::bounded_string::<_, MAX_TEMPLATE_REF_CHARS>")]
    template_ref: String,
}

/// The longest template reference, in characters.
pub const MAX_TEMPLATE_REF_CHARS: usize = 200;

async fn create(
    State(scaffolder): State<Scaffolder>,
    Extension(credentials): Extension<BackstageCredentials>,
    Json(task): Json<TaskRequest>,
) -> Response {
    match scaffolder.create(&task.template_ref, &credentials).await {
        Ok(Some(status)) => (StatusCode::CREATED, Json(status)).into_response(),
        // the value is not echoed
        Ok(None) => (StatusCode::NOT_FOUND, "no such template\n").into_response(),
        Err(error) => (StatusCode::BAD_GATEWAY, format!("{error}\n")).into_response(),
    }
}

async fn status(State(scaffolder): State<Scaffolder>, Path(id): Path<String>) -> Response {
    match scaffolder.status(&id) {
        Some(status) => Json(status).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn cancel(State(scaffolder): State<Scaffolder>, Path(id): Path<String>) -> StatusCode {
    if scaffolder.cancel(&id) {
        StatusCode::ACCEPTED
    } else {
        StatusCode::NOT_FOUND
    }
}
