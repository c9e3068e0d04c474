//! The scheduler core service: runs the plugins' background tasks on an interval until the
//! backend shuts down, each run in a span and measured (Backstage's
//! `backend_tasks.task.runs.*`, here `backstage.core.scheduler.task.runs.*`).

use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use backstage_telemetry::{KeyValue, span};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The scheduler's instruments. No `id`: the scope is the crate's, from Cargo.toml.
#[backstage_telemetry::backstage_core]
pub mod metrics {
    use backstage_telemetry::metric;

    metric! {
        /// Total number of times a task has been run.
        pub static TASK_RUNS: Counter<u64> = "task.runs.count", unit = "{run}";
        /// Histogram of task run durations.
        pub static TASK_RUN_DURATION: Histogram<f64> = "task.runs.duration", unit = "s",
            boundaries = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0];
    }
}

/// Runs background tasks until [`shutdown`](Scheduler::shutdown). Cloning is cheap; clones
/// share the tasks.
#[derive(Clone)]
pub struct Scheduler {
    stop: watch::Sender<bool>,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Default for Scheduler {
    fn default() -> Self {
        Scheduler {
            stop: watch::channel(false).0,
            tasks: Arc::default(),
        }
    }
}

impl fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scheduler").finish_non_exhaustive()
    }
}

impl Scheduler {
    /// Runs `work` every `every` (the first run at once) until shutdown. Each run is a span
    /// `task-run` with `backstage.task.id`, counted and timed with `task_id` and `result`.
    pub fn schedule<F, Fut>(&self, task_id: &'static str, every: Duration, work: F)
    where
        F: Fn() -> Fut + Send + 'static,
        Fut: Future<Output = Result<usize, String>> + Send,
    {
        let mut stop = self.stop.subscribe();
        let task = tokio::spawn(async move {
            let mut interval = tokio::time::interval(every);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = interval.tick() => {
                        let _ = run(task_id, work()).await;
                    }
                    _ = stop.changed() => break,
                }
            }
        });
        self.tasks
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(task);
    }

    /// Stops every task (a run in progress finishes first) and waits for them.
    pub async fn shutdown(&self) {
        let _ = self.stop.send(true);
        let tasks = std::mem::take(
            &mut *self
                .tasks
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        );
        for task in tasks {
            let _ = task.await;
        }
    }
}

#[span(name = "task-run", attributes(backstage.task.id = task_id))]
async fn run<Fut>(task_id: &'static str, work: Fut) -> Result<usize, String>
where
    Fut: Future<Output = Result<usize, String>>,
{
    let started = Instant::now();
    let outcome = work.await;
    let result = if outcome.is_ok() {
        "completed"
    } else {
        "failed"
    };
    let attributes = [
        KeyValue::new("task_id", task_id),
        KeyValue::new("result", result),
    ];
    metrics::TASK_RUNS.add(1, &attributes);
    metrics::TASK_RUN_DURATION.record(started.elapsed().as_secs_f64(), &attributes);
    outcome
}
