//! The scheduler core service: runs the plugins' background tasks and measures every run
//! (Backstage's `backend_tasks.task.runs.*`).

#[backstage_telemetry::backstage_core(id = "scheduler")]
pub mod scheduler {
    use std::future::Future;
    use std::time::{Duration, Instant};

    use backstage_telemetry::{KeyValue, metric, span};
    use tokio::sync::watch;
    use tokio::task::JoinHandle;

    metric! {
        /// Total number of times a task has been run.
        pub static TASK_RUNS: Counter<u64> = "task.runs.count", unit = "{run}";
        /// Histogram of task run durations.
        pub static TASK_RUN_DURATION: Histogram<f64> = "task.runs.duration", unit = "s",
            boundaries = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0];
    }

    /// Runs `work` every `every` until `stop` turns true.
    pub fn schedule<F, Fut>(
        task_id: &'static str,
        every: Duration,
        mut stop: watch::Receiver<bool>,
        work: F,
    ) -> JoinHandle<()>
    where
        F: Fn() -> Fut + Send + 'static,
        Fut: Future<Output = Result<usize, String>> + Send,
    {
        tokio::spawn(async move {
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
        })
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
        TASK_RUNS.add(1, &attributes);
        TASK_RUN_DURATION.record(started.elapsed().as_secs_f64(), &attributes);
        outcome
    }
}
