//! The macros with the crate-wide scope of this crate's Cargo.toml
//! (`[package.metadata.backstage] pluginId = "crate-wide"`), asserted on exported data.

use std::borrow::Cow;

use backstage_telemetry::testing::{self, PointValue};
use backstage_telemetry::{KeyValue, Status, metric, span};
use backstage_telemetry_tests::{attribute, attribute_str};

metric! {
    /// Jobs run, crate-wide.
    pub static JOBS: Counter<u64> = "jobs.run", unit = "{job}";
}

#[span]
fn run_job(id: u32) -> anyhow::Result<u32> {
    JOBS.add(
        1,
        &[KeyValue::new(
            "result",
            if id == 0 { "failure" } else { "success" },
        )],
    );
    metric!(Histogram<u64>, "jobs.size", unit = "By").record(u64::from(id), &[]);
    if id == 0 {
        anyhow::bail!("job {id} has no work");
    }
    Ok(id)
}

#[span(plugin = "crate-wide-override")]
fn overridden() -> u8 {
    metric!(Counter<u64>, "calls.made", plugin = "crate-wide-override").add(1, &[]);
    1
}

/// Uses the crate-wide id: the manifest and `register_observables` of one module.
#[backstage_telemetry::backstage_plugin]
mod declared {
    backstage_telemetry::metric! {
        pub static LAG: ObservableGauge<i64> = "queue.lag", unit = "s", callback = |o| o.observe(-2, &[]);
    }
}

#[span]
async fn outer(depth: u32) -> Result<u32, std::fmt::Error> {
    tokio::task::yield_now().await;
    let inner = inner(depth).await?;
    Ok(inner + 1)
}

#[span]
async fn inner(depth: u32) -> Result<u32, std::fmt::Error> {
    tokio::task::yield_now().await;
    if depth == 0 {
        Err(std::fmt::Error)
    } else {
        Ok(depth)
    }
}

trait Repository {
    async fn find(&self, id: u32) -> Option<String>;

    #[span]
    async fn exists(&self, id: u32) -> bool {
        self.find(id).await.is_some()
    }
}

struct Memory;

impl Repository for Memory {
    #[span]
    async fn find(&self, id: u32) -> Option<String> {
        (id == 1).then(|| "one".to_owned())
    }
}

#[async_trait::async_trait]
trait Notifier {
    async fn notify(&self, message: &str) -> Result<usize, Failure>;
}

#[derive(Debug)]
struct Failure;

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("notification failed")
    }
}

#[backstage_telemetry::error_type]
impl backstage_telemetry::ErrorType for Failure {
    fn error_type(&self) -> Cow<'static, str> {
        "notify_failed".into()
    }
}

struct Email;

#[async_trait::async_trait]
impl Notifier for Email {
    #[span(name = "send-email", kind = producer)]
    async fn notify(&self, message: &str) -> Result<usize, Failure> {
        tokio::task::yield_now().await;
        if message.is_empty() {
            Err(Failure)
        } else {
            Ok(message.len())
        }
    }
}

#[test]
fn crate_wide_scope_and_anyhow_alias() {
    let kit = testing::install();
    let capture = kit.capture();
    assert_eq!(capture.run(|| run_job(3)).unwrap(), 3);
    assert_eq!(
        capture.run(|| run_job(0)).unwrap_err().to_string(),
        "job 0 has no work"
    );
    capture.run(overridden);
    let spans: Vec<_> = capture
        .spans()
        .into_iter()
        .filter(|s| s.name == "run_job")
        .collect();
    assert_eq!(spans.len(), 2);
    assert_eq!(
        attribute_str(&spans[0], "backstage.plugin.id").as_deref(),
        Some("crate-wide")
    );
    assert_eq!(
        spans[0].instrumentation_scope.name(),
        "backstage-plugin-crate-wide"
    );
    assert_eq!(
        attribute_str(&spans[1], "error.type").as_deref(),
        Some("anyhow::Error")
    );
    assert_eq!(spans[1].status, Status::error("job 0 has no work"));
    let overridden = capture.span("overridden");
    assert_eq!(
        attribute_str(&overridden, "backstage.plugin.id").as_deref(),
        Some("crate-wide-override")
    );

    let metrics = kit.metrics();
    let jobs = metrics.metric("backstage.plugin.crate-wide.jobs.run");
    assert_eq!(jobs.description, "Jobs run, crate-wide.");
    assert_eq!(
        jobs.point(&[KeyValue::new("result", "success")])
            .unwrap()
            .value,
        PointValue::U64(1)
    );
    assert_eq!(
        jobs.point(&[KeyValue::new("result", "failure")])
            .unwrap()
            .value,
        PointValue::U64(1)
    );
    assert!(
        metrics
            .get("backstage.plugin.crate-wide.jobs.size")
            .is_some()
    );
    let calls = metrics.metric("backstage.plugin.crate-wide-override.calls.made");
    assert_eq!(calls.scope.name(), "backstage-plugin-crate-wide-override");
}

#[test]
fn a_module_without_id_uses_the_crate_wide_scope() {
    let kit = testing::install();
    declared::register_observables();
    assert_eq!(
        declared::METRICS[0].name,
        "backstage.plugin.crate-wide.queue.lag"
    );
    let lag = kit
        .metrics()
        .metric("backstage.plugin.crate-wide.queue.lag")
        .points[0]
        .value
        .clone();
    assert_eq!(lag, PointValue::I64(-2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn span_inside_span_across_await() {
    let capture = testing::install().capture();
    let ok = tokio::spawn(capture.run_async(outer(2))).await.unwrap();
    assert_eq!(ok, Ok(3));
    let err = capture.run_async(outer(0)).await;
    assert_eq!(err, Err(std::fmt::Error));
    let spans = capture.spans();
    let outers: Vec<_> = spans.iter().filter(|s| s.name == "outer").collect();
    let inners: Vec<_> = spans.iter().filter(|s| s.name == "inner").collect();
    for (outer, inner) in outers.iter().zip(&inners) {
        assert_eq!(inner.parent_span_id, outer.span_context.span_id());
    }
    assert_eq!(
        attribute_str(outers[1], "error.type").as_deref(),
        Some("fmt::Error")
    );
}

#[tokio::test]
async fn async_fn_in_traits_and_async_trait() {
    let capture = testing::install().capture();
    assert!(capture.run_async(Memory.exists(1)).await);
    assert_eq!(capture.run_async(Email.notify("hi")).await.unwrap(), 2);
    assert!(capture.run_async(Email.notify("")).await.is_err());
    let exists = capture.span("exists");
    let find = capture.span("find");
    assert_eq!(find.parent_span_id, exists.span_context.span_id());
    let sends: Vec<_> = capture
        .spans()
        .into_iter()
        .filter(|s| s.name == "send-email")
        .collect();
    assert_eq!(sends.len(), 2);
    assert_eq!(sends[0].span_kind, opentelemetry::trace::SpanKind::Producer);
    assert_eq!(
        attribute_str(&sends[1], "error.type").as_deref(),
        Some("notify_failed")
    );
    assert_eq!(attribute(&sends[0], "error.type"), None);
}
