//! The tasks: each a span of its own trace linked to the request that created it, its
//! steps spans inside it; a cancelled step's span ends marked cancelled.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use backstage_telemetry::SpanContext;
use backstage_telemetry::{BackstageCredentials, KeyValue, current_span, span};
use serde::Serialize;
use tokio::sync::watch;

use crate::catalog::{CatalogClient, CatalogError};
use crate::metrics::{STEP_DURATION, STEPS, TASK_DURATION, TASKS};

/// A task as the API shows it.
#[derive(Clone, Debug, Serialize)]
pub struct TaskStatus {
    pub id: String,
    pub template: String,
    /// `processing`, `completed`, `failed` or `cancelled`.
    pub status: &'static str,
    pub steps_done: Vec<&'static str>,
}

struct Task {
    status: TaskStatus,
    cancel: watch::Sender<bool>,
}

/// The tasks of this backend.
#[derive(Clone)]
pub struct Scaffolder {
    tasks: Arc<Mutex<HashMap<String, Task>>>,
    next: Arc<AtomicU64>,
    /// Where the templates are.
    catalog: CatalogClient,
}

/// The templates this scaffolder knows.
pub const TEMPLATES: [&str; 4] = ["react-app", "docs-site", "legacy-service", "slow-migration"];

/// How a task ends.
pub const RESULTS: [&str; 3] = ["completed", "failed", "cancelled"];

/// The steps of a template, or `None` for an unknown template.
fn steps(template: &str) -> Option<&'static [&'static str]> {
    match template {
        "react-app" => Some(&["fetch:template", "publish:github", "catalog:register"]),
        "docs-site" => Some(&["fetch:template", "catalog:register"]),
        // publishing always fails for this one
        "legacy-service" => Some(&["fetch:template", "publish:github", "catalog:register"]),
        // long steps, to have something to cancel
        "slow-migration" => Some(&["fetch:template", "migrate:database", "catalog:register"]),
        _ => None,
    }
}

/// Why a step failed.
#[derive(Debug)]
pub struct StepFailed(pub String);

impl std::fmt::Display for StepFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl Scaffolder {
    /// No tasks yet; templates are looked up in `catalog`.
    pub fn new(catalog: CatalogClient) -> Self {
        Scaffolder {
            tasks: Arc::default(),
            next: Arc::default(),
            catalog,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Task>> {
        self.tasks
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Creates a task for `template`, once the catalog says it has that Template entity,
    /// and runs it in the background. `None` for a template this scaffolder does not know or
    /// the catalog does not have.
    #[span(metrics, name = "create-task", credentials = credentials, attributes(scaffolder.template = template.to_owned()))]
    pub async fn create(
        &self,
        template: &str,
        credentials: &BackstageCredentials,
    ) -> Result<Option<TaskStatus>, CatalogError> {
        let Some(steps) = steps(template) else {
            return Ok(None);
        };
        if !self.catalog.has_template(template).await? {
            return Ok(None);
        }
        let id = format!("task-{}", self.next.fetch_add(1, Ordering::Relaxed) + 1);
        let (cancel, cancelled) = watch::channel(false);
        let status = TaskStatus {
            id: id.clone(),
            template: template.to_owned(),
            status: "processing",
            steps_done: Vec::new(),
        };
        self.lock().insert(
            id.clone(),
            Task {
                status: status.clone(),
                cancel,
            },
        );
        tracing::info!(task = %id, template, "task created");
        let scaffolder = self.clone();
        let template = template.to_owned();
        // The task outlives this request: it runs in a trace of its own, linked back to
        // the span of the request that created it.
        let requested_by = current_span().span_context();
        tokio::spawn(async move {
            scaffolder
                .run(id, template, steps, cancelled, requested_by)
                .await
        });
        Ok(Some(status))
    }

    /// A task's status, if there is such a task.
    #[span(metrics, name = "get-task")]
    pub fn status(&self, id: &str) -> Option<TaskStatus> {
        self.lock().get(id).map(|task| task.status.clone())
    }

    /// Asks a running task to stop; false if there is no such task.
    #[span(metrics, name = "cancel-task")]
    pub fn cancel(&self, id: &str) -> bool {
        match self.lock().get(id) {
            Some(task) => {
                let _ = task.cancel.send(true);
                true
            }
            None => false,
        }
    }

    #[span(metrics, name = "run-task", link = requested_by.clone(), attributes(scaffolder.task.id = id.clone(), scaffolder.template = template.clone()))]
    async fn run(
        &self,
        id: String,
        template: String,
        steps: &'static [&'static str],
        mut cancelled: watch::Receiver<bool>,
        requested_by: SpanContext,
    ) -> Result<(), StepFailed> {
        let started = Instant::now();
        let mut outcome = Ok(());
        let mut result = "completed";
        for step in steps {
            let run_step = self.step(&template, step, &requested_by);
            tokio::select! {
                step_outcome = run_step => {
                    if let Err(error) = step_outcome {
                        outcome = Err(error);
                        result = "failed";
                        break;
                    }
                    if let Some(task) = self.lock().get_mut(&id) {
                        task.status.steps_done.push(step);
                    }
                }
                // the step's future is dropped: its span ends marked cancelled
                _ = cancelled.changed() => {
                    STEPS.add(1, &[KeyValue::new("template", template.clone()), KeyValue::new("step", *step), KeyValue::new("result", "cancelled")]);
                    result = "cancelled";
                    break;
                }
            }
        }
        let attributes = [
            KeyValue::new("template", template.clone()),
            KeyValue::new("result", result),
        ];
        TASKS.add(1, &attributes);
        TASK_DURATION.record(started.elapsed().as_secs_f64(), &attributes);
        if let Some(task) = self.lock().get_mut(&id) {
            task.status.status = result;
        }
        tracing::info!(task = %id, template = %template, result, "task finished");
        outcome
    }

    #[span(name = "run-step", link = requested_by.clone(), attributes(scaffolder.step = step))]
    async fn step(
        &self,
        template: &str,
        step: &'static str,
        requested_by: &SpanContext,
    ) -> Result<(), StepFailed> {
        let started = Instant::now();
        let work = match step {
            "migrate:database" => Duration::from_secs(30),
            "publish:github" => Duration::from_millis(150),
            _ => Duration::from_millis(60),
        };
        tokio::time::sleep(work).await;
        let outcome = if template == "legacy-service" && step == "publish:github" {
            Err(StepFailed("repository already exists".to_owned()))
        } else {
            Ok(())
        };
        let result = if outcome.is_ok() {
            "completed"
        } else {
            "failed"
        };
        let attributes = [
            KeyValue::new("template", template.to_owned()),
            KeyValue::new("step", step),
            KeyValue::new("result", result),
        ];
        STEPS.add(1, &attributes);
        STEP_DURATION.record(started.elapsed().as_secs_f64(), &attributes);
        outcome
    }

    /// Stops every running task (at shutdown).
    pub fn stop(&self) {
        for task in self.lock().values() {
            let _ = task.cancel.send(true);
        }
    }
}
