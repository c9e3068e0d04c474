//! A small application for the SDK set-up tests: `init` from the app-config and the
//! environment, some spans and metrics through the macros, then shutdown. The tests run it
//! as a separate process, so each scenario has its own environment and global providers.
//!
//! ```text
//! probe [--config FILE] [--spans N] [--interval-ms M] [--metrics] [--traceparent VALUE] [--burst N] [--serve] [--tokio] [--strict] [--distinct N] [--log-items] [--module SPEC]... [--inject] [--latencies N]
//! ```
//!
//! `--module` adds a telemetry module (see [`modules`]); `--inject` prints the headers the
//! global propagator injects inside a span, as `injected: NAME=VALUE` lines.
//!
//! It prints `metrics-endpoint: ADDR`, `ready`, `burst: ...` and `shutdown: ok` lines; each
//! set-up problem goes to stderr as `init-problem: ...`, and JSON log lines go to stderr; with `--strict` an `init_strict`
//! error goes to stderr with exit code 2.

use std::io::BufRead;
use std::time::Instant;

use backstage_telemetry::{Config, KeyValue};

#[backstage_telemetry::backstage_plugin(id = "probe")]
mod probe {
    use backstage_telemetry::{KeyValue, current_span, metric, span};

    metric! {
        /// Work items handled by the probe.
        pub static ITEMS: Counter<u64> = "items.handled", unit = "{item}";
        /// Time to handle one item.
        pub static DURATION: Histogram<f64> = "items.duration", unit = "s", boundaries = [0.001, 0.01, 0.1, 1.0];
        /// Items waiting.
        pub static QUEUED: ObservableGauge<i64> = "items.queued", unit = "{item}",
            callback = |observer| observer.observe(4, &[KeyValue::new("queue", "main")]);
    }

    /// `--log-items`: log an event in every `handle` (and one in a `tracing` span in it).
    pub static LOG_ITEMS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

    #[derive(Debug)]
    pub struct Rejected;

    impl std::fmt::Display for Rejected {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("item rejected")
        }
    }

    #[span(metrics, kind = server, attributes(probe.item.index = index as i64))]
    pub fn handle(index: u64) -> Result<u64, Rejected> {
        validate(index)?;
        if LOG_ITEMS.load(std::sync::atomic::Ordering::Relaxed) {
            tracing::info!(item = index, "item handled");
            let _check = tracing::info_span!("check-item", item = index).entered();
            tracing::info!("item checked");
        }
        ITEMS.add(1, &[KeyValue::new("result", "ok")]);
        DURATION.record(0.005, &[]);
        current_span().add_event(
            "handled",
            vec![KeyValue::new("probe.item.index", index as i64)],
        );
        Ok(index)
    }

    /// A handler of about 100 µs (busy, so no timer slack adds to it).
    #[span(metrics, name = "fast-handler")]
    pub fn fast() {
        let until = std::time::Instant::now() + std::time::Duration::from_micros(100);
        while std::time::Instant::now() < until {
            std::hint::spin_loop();
        }
    }

    /// A handler of about 2 ms.
    #[span(metrics, name = "slow-handler")]
    pub fn slow() {
        std::thread::sleep(std::time::Duration::from_millis(2));
    }

    /// A site with its own scope inside the module: `init` binds its series under that
    /// scope.
    #[span(metrics, plugin = "probe-other")]
    pub fn elsewhere() {}

    /// The headers the global propagator injects for this span.
    #[span]
    pub fn inject() -> std::collections::HashMap<String, String> {
        let mut headers = std::collections::HashMap::new();
        opentelemetry::global::get_text_map_propagator(|propagator| {
            propagator.inject_context(&opentelemetry::Context::current(), &mut headers);
        });
        headers
    }

    #[span(name = "validate-item")]
    fn validate(index: u64) -> Result<(), Rejected> {
        if index % 10 == 9 {
            Err(Rejected)
        } else {
            Ok(())
        }
    }
}

/// A site outside any scoped module.
#[backstage_telemetry::span(metrics, plugin = "probe-lone")]
fn lone() {}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--tokio") {
        // as an async application does: init, work and shutdown inside the runtime
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            tokio::task::spawn(async move { application(&args) })
                .await
                .expect("task")
        });
    } else {
        application(&args);
    }
}

fn application(args: &[String]) {
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let config = match value("--config") {
        Some(path) => Config::load([path]).unwrap_or_else(|e| fail(&e.to_string())),
        None => Config::default(),
    };
    let mut builder = backstage_telemetry::Telemetry::builder(&config);
    for (i, arg) in args.iter().enumerate() {
        if arg == "--module"
            && let Some(spec) = args.get(i + 1)
        {
            builder = modules::add(builder, spec);
        }
    }
    let telemetry = if args.iter().any(|a| a == "--strict") {
        builder
            .init_strict()
            .unwrap_or_else(|e| fail(&e.to_string()))
    } else {
        builder.init()
    };
    for problem in telemetry.problems() {
        eprintln!("init-problem: {problem}");
    }
    // JSON lines on stderr (stdout is this program's protocol), `tracing` spans through
    // tracing-opentelemetry, and log records when a logs exporter is on.
    {
        use tracing_subscriber::layer::SubscriberExt;
        use tracing_subscriber::util::SubscriberInitExt;
        tracing_subscriber::registry()
            .with(tracing_subscriber::filter::LevelFilter::INFO)
            .with(backstage_telemetry::logs::JsonLogs::new(&config).with_writer(std::io::stderr))
            .with(
                tracing_opentelemetry::layer().with_tracer(opentelemetry::global::tracer("probe")),
            )
            .with(telemetry.log_layer())
            .init();
    }
    if let Some(address) = telemetry.metrics_endpoint() {
        println!("metrics-endpoint: {address}");
    }

    if args.iter().any(|a| a == "--log-items") {
        probe::LOG_ITEMS.store(true, std::sync::atomic::Ordering::Relaxed);
    }
    if args.iter().any(|a| a == "--metrics") {
        probe::register_observables();
        probe::ITEMS.add(2, &[KeyValue::new("result", "retried")]);
    }
    // one series per value: a client-controlled label, as the cardinality limit meets it
    if let Some(count) = value("--distinct").and_then(|n| n.parse::<u64>().ok()) {
        for i in 0..count {
            probe::ITEMS.add(1, &[KeyValue::new("result", format!("r{i}"))]);
        }
    }
    let spans: u64 = value("--spans").map_or(0, |n| n.parse().unwrap_or(0));
    // `--interval-ms`: a steady load, one call every M ms
    let interval = value("--interval-ms")
        .and_then(|ms| ms.parse().ok())
        .map(std::time::Duration::from_millis);
    let run = || {
        for index in 0..spans {
            let _ = probe::handle(index);
            if let Some(interval) = interval {
                std::thread::sleep(interval);
            }
        }
    };
    match value("--traceparent") {
        Some(traceparent) => {
            let carrier =
                std::collections::HashMap::from([("traceparent".to_owned(), traceparent)]);
            let parent = opentelemetry::global::get_text_map_propagator(|p| p.extract(&carrier));
            let _attached = parent.attach();
            run();
        }
        None => run(),
    }

    // `--latencies N`: N calls of a 100 µs handler and N of a 2 ms one
    if let Some(count) = value("--latencies").and_then(|n| n.parse::<u64>().ok()) {
        for _ in 0..count {
            probe::fast();
            probe::slow();
        }
        probe::elsewhere();
        lone();
    }
    if let Some(count) = value("--burst").and_then(|n| n.parse::<usize>().ok()) {
        burst(count);
    }
    if args.iter().any(|a| a == "--inject") {
        let mut headers: Vec<(String, String)> = probe::inject().into_iter().collect();
        headers.sort();
        for (name, value) in headers {
            println!("injected: {name}={value}");
        }
    }

    if args.iter().any(|a| a == "--serve") {
        println!("ready");
        // serve until the test closes stdin
        for line in std::io::stdin().lock().lines() {
            if line.is_err() {
                break;
            }
        }
    }
    let started = Instant::now();
    match telemetry.shutdown() {
        Ok(()) => println!("shutdown: ok in {} ms", started.elapsed().as_millis()),
        Err(e) => println!("shutdown: {e} after {} ms", started.elapsed().as_millis()),
    }
}

/// Calls `handle` `count` times and reports the call latency and the resident memory.
fn burst(count: usize) {
    let rss_before = resident_kb();
    let mut latencies = Vec::with_capacity(count);
    for index in 0..count {
        let start = Instant::now();
        let _ = probe::handle(index as u64);
        latencies.push(start.elapsed().as_nanos() as u64);
    }
    let rss_after = resident_kb();
    latencies.sort_unstable();
    let mean = latencies.iter().sum::<u64>() / count.max(1) as u64;
    let p99 = latencies[(count * 99 / 100).min(count - 1)];
    let max = latencies[count - 1];
    println!(
        "burst: n={count} mean_ns={mean} p99_ns={p99} max_ns={max} rss_before_kb={rss_before} rss_after_kb={rss_after}"
    );
}

fn resident_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse().ok())
        })
        .unwrap_or(0)
}

fn fail(message: &str) -> ! {
    eprintln!("init-error: {message}");
    std::process::exit(2);
}

/// The telemetry modules `--module` adds:
///
/// - `zipkin=URL`: spans to a Zipkin server, with the `opentelemetry-zipkin` crate;
/// - `redact`: every span's `probe.item.index` becomes `[redacted]`, before any exporter;
/// - `resource`: the resource attribute `deployment.region = probe-region`;
/// - `propagator`: a propagator injecting `x-probe-span` (the span id);
/// - `sampler`: a sampler that drops every span;
/// - `metrics`: a metric exporter printing `module-metric: NAME` lines, replacing the
///   default exporters;
/// - `logs`: a log exporter printing `module-log: BODY service=NAME plugin=ID` lines;
/// - `failing`: registration fails; `panicking`: registration panics (both after adding a
///   span exporter that prints `leaked-span:` lines, which must never run);
/// - `hanging`: a span processor whose flush and shutdown never end; `hanging-reader`: a
///   metric reader whose shutdown never ends;
/// - `panicking-processor`: a span processor that panics at every span's end.
mod modules {
    use std::time::Duration;

    use backstage_telemetry::TelemetryBuilder;
    use backstage_telemetry::sdk::{Extensions, ModuleError, module};
    use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
    use opentelemetry::trace::TraceContextExt;
    use opentelemetry::{Context, KeyValue};
    use opentelemetry_sdk::error::OTelSdkResult;
    use opentelemetry_sdk::metrics::Temporality;
    use opentelemetry_sdk::metrics::data::ResourceMetrics;
    use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
    use opentelemetry_sdk::trace::{Span, SpanData, SpanExporter, SpanProcessor};

    pub fn add<'c>(builder: TelemetryBuilder<'c>, spec: &str) -> TelemetryBuilder<'c> {
        match spec.split_once('=') {
            Some(("zipkin", url)) => {
                let url = url.to_owned();
                builder.with_module(module("zipkin", move |parts| zipkin(parts, &url)))
            }
            _ => match spec {
                "redact" => builder.with_module(module("redact", |parts| {
                    parts.edit_spans(|span| {
                        for kv in &mut span.attributes {
                            if kv.key.as_str() == "probe.item.index" {
                                *kv = KeyValue::new("probe.item.index", "[redacted]");
                            }
                        }
                    });
                    Ok(())
                })),
                "resource" => builder.with_module(module("resource", |parts| {
                    parts
                        .add_resource_attribute(KeyValue::new("deployment.region", "probe-region"));
                    Ok(())
                })),
                "propagator" => builder.with_module(module("propagator", |parts| {
                    parts.add_propagator(SpanIdHeader::default());
                    Ok(())
                })),
                "sampler" => builder.with_module(module("sampler", |parts| {
                    parts.set_sampler(opentelemetry_sdk::trace::Sampler::AlwaysOff);
                    Ok(())
                })),
                "metrics" => builder.with_module(module("printed-metrics", |parts| {
                    parts.add_metric_exporter(PrintedMetrics);
                    parts.replace_default_exporters();
                    Ok(())
                })),
                "logs" => builder.with_module(module("printed-logs", |parts| {
                    parts.add_log_exporter(PrintedLogs::default());
                    Ok(())
                })),
                "failing" => builder.with_module(module("failing", |parts| {
                    parts.add_span_exporter(LeakedSpans);
                    Err("the module's endpoint is not set".into())
                })),
                "panicking" => builder.with_module(module("panicking", |parts| {
                    parts.add_span_exporter(LeakedSpans);
                    panic!("registration bug");
                })),
                "hanging" => builder.with_module(module("hanging", |parts| {
                    parts.add_span_processor(Hanging);
                    Ok(())
                })),
                "hanging-reader" => builder.with_module(module("hanging-reader", |parts| {
                    parts.add_metric_reader(HangingReader(
                        opentelemetry_sdk::metrics::ManualReader::builder().build(),
                    ));
                    Ok(())
                })),
                "panicking-processor" => {
                    builder.with_module(module("panicking-processor", |parts| {
                        parts.add_span_processor(PanicAtEnd);
                        Ok(())
                    }))
                }
                other => panic!("unknown module {other}"),
            },
        }
    }

    // Upstream deprecated the crate (Zipkin takes OTLP now), but it is a real exporter of
    // another wire format from another crate: what a vendor's exporter module looks like.
    #[allow(deprecated)]
    fn zipkin(parts: &mut Extensions<'_>, url: &str) -> Result<(), ModuleError> {
        // reqwest's rustls, without a provider of its own here (the function is deprecated
        // in rustls 0.23.48: *ring* has no post-quantum key exchange)
        let _ = rustls::crypto::ring::default_provider().install_default();
        let exporter = opentelemetry_zipkin::ZipkinExporter::builder()
            .with_collector_endpoint(url)
            .build()?;
        parts.add_span_exporter(exporter);
        Ok(())
    }

    /// Injects `x-probe-span` with the current span's id; extracts nothing.
    #[derive(Debug, Default)]
    struct SpanIdHeader {
        fields: [String; 1],
    }

    impl TextMapPropagator for SpanIdHeader {
        fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
            injector.set(
                "x-probe-span",
                cx.span().span_context().span_id().to_string(),
            );
        }

        fn extract_with_context(&self, cx: &Context, _: &dyn Extractor) -> Context {
            cx.clone()
        }

        fn fields(&self) -> opentelemetry::propagation::text_map_propagator::FieldIter<'_> {
            opentelemetry::propagation::text_map_propagator::FieldIter::new(&self.fields)
        }
    }

    /// Prints the name of every metric it exports.
    #[derive(Debug)]
    struct PrintedMetrics;

    impl PushMetricExporter for PrintedMetrics {
        async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
            for scope in metrics.scope_metrics() {
                for metric in scope.metrics() {
                    println!("module-metric: {}", metric.name());
                }
            }
            Ok(())
        }

        fn force_flush(&self) -> OTelSdkResult {
            Ok(())
        }

        fn shutdown_with_timeout(&self, _: Duration) -> OTelSdkResult {
            Ok(())
        }

        fn temporality(&self) -> Temporality {
            Temporality::Cumulative
        }
    }

    /// Prints the body and plugin id of every log record it exports, and the service name
    /// of the resource the provider gave it.
    #[derive(Debug, Default)]
    struct PrintedLogs {
        service: String,
    }

    impl opentelemetry_sdk::logs::LogExporter for PrintedLogs {
        async fn export(&self, batch: opentelemetry_sdk::logs::LogBatch<'_>) -> OTelSdkResult {
            for (record, _) in batch.iter() {
                let plugin = record
                    .attributes_iter()
                    .find(|(key, _)| key.as_str() == "backstage.plugin.id")
                    .map(|(_, value)| format!("{value:?}"));
                println!(
                    "module-log: {:?} service={} plugin={}",
                    record.body(),
                    self.service,
                    plugin.unwrap_or_default()
                );
            }
            Ok(())
        }

        fn set_resource(&mut self, resource: &opentelemetry_sdk::Resource) {
            if let Some(name) = resource.get(&opentelemetry::Key::new("service.name")) {
                self.service = name.to_string();
            }
        }
    }

    /// An exporter that must never run: it belongs to a module that failed to register.
    #[derive(Debug)]
    struct LeakedSpans;

    impl SpanExporter for LeakedSpans {
        async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
            for span in batch {
                println!("leaked-span: {}", span.name);
            }
            Ok(())
        }
    }

    /// A processor whose flush and shutdown never end.
    #[derive(Debug)]
    struct Hanging;

    impl SpanProcessor for Hanging {
        fn on_start(&self, _: &mut Span, _: &Context) {}

        fn on_end(&self, _: SpanData) {}

        fn force_flush(&self) -> OTelSdkResult {
            std::thread::sleep(Duration::from_secs(3600));
            Ok(())
        }

        fn shutdown_with_timeout(&self, _: Duration) -> OTelSdkResult {
            std::thread::sleep(Duration::from_secs(3600));
            Ok(())
        }
    }

    /// A metric reader whose shutdown never ends.
    #[derive(Debug)]
    struct HangingReader(opentelemetry_sdk::metrics::ManualReader);

    impl opentelemetry_sdk::metrics::reader::MetricReader for HangingReader {
        fn register_pipeline(
            &self,
            pipeline: std::sync::Weak<opentelemetry_sdk::metrics::Pipeline>,
        ) {
            self.0.register_pipeline(pipeline);
        }

        fn collect(&self, rm: &mut ResourceMetrics) -> OTelSdkResult {
            self.0.collect(rm)
        }

        fn force_flush(&self) -> OTelSdkResult {
            self.0.force_flush()
        }

        fn shutdown_with_timeout(&self, _: Duration) -> OTelSdkResult {
            std::thread::sleep(Duration::from_secs(3600));
            Ok(())
        }

        fn temporality(&self, kind: opentelemetry_sdk::metrics::InstrumentKind) -> Temporality {
            self.0.temporality(kind)
        }
    }

    /// A processor that panics at every span's end.
    #[derive(Debug)]
    struct PanicAtEnd;

    impl SpanProcessor for PanicAtEnd {
        fn on_start(&self, _: &mut Span, _: &Context) {}

        fn on_end(&self, span: SpanData) {
            panic!("processor bug at {}", span.name);
        }

        fn force_flush(&self) -> OTelSdkResult {
            Ok(())
        }

        fn shutdown_with_timeout(&self, _: Duration) -> OTelSdkResult {
            Ok(())
        }
    }
}
