//! The export path's cost per exported span: allocations, counted over the shutdown that
//! exports `N` queued spans (up to 4096, one batch) to a collector in another process (the test
//! receiver, so its own work is not counted); `benches/export_path.py` runs it.
//!
//! ```text
//! profile_export receiver                 # serve; prints `grpc ADDR` and `http ADDR`
//! profile_export PROTOCOL ENDPOINT N      # prints `allocations A bytes B`
//! ```
//!
//! Two runs at different `N` cancel start-up and shutdown: their difference over the
//! difference in `N` is the cost of exporting one span (converting, encoding, sending).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use opentelemetry::KeyValue;
use opentelemetry::trace::{Span as _, Tracer as _};

/// The system allocator, counting while `COUNTING` is set.
struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
            BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        }
        // SAFETY: forwarded as is
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
            BYTES.fetch_add(new_size as u64, Ordering::Relaxed);
        }
        // SAFETY: forwarded as is
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("receiver") {
        let receiver = backstage_telemetry_tests::otlp::Receiver::start();
        println!("grpc {}", receiver.grpc);
        println!("http {}", receiver.http);
        // until the measuring process closes our standard input
        let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut Vec::new());
        return;
    }
    let [protocol, endpoint, n] = &args[..] else {
        eprintln!("usage: profile_export receiver | profile_export PROTOCOL ENDPOINT N");
        std::process::exit(2);
    };
    let n: usize = n.parse().expect("N");
    // SAFETY: single-threaded here, before anything reads the environment
    unsafe {
        std::env::set_var("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint);
        std::env::set_var("OTEL_EXPORTER_OTLP_PROTOCOL", protocol);
        std::env::set_var("OTEL_METRICS_EXPORTER", "none");
        std::env::set_var("OTEL_LOGS_EXPORTER", "none");
        // everything waits in the queue until shutdown
        std::env::set_var("OTEL_BSP_SCHEDULE_DELAY", "600000");
        std::env::set_var("OTEL_BSP_MAX_QUEUE_SIZE", "8192");
        std::env::set_var("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "4096");
        std::env::set_var("BACKSTAGE_TELEMETRY_SHUTDOWN_TIMEOUT", "20000");
    }
    let telemetry = backstage_telemetry::init(&backstage_telemetry::Config::default());
    for problem in telemetry.problems() {
        eprintln!("init-problem: {problem}");
    }
    let tracer = opentelemetry::global::tracer("profile-export");
    for i in 0..n {
        // a typical server span: a handful of attributes and one event
        let mut span = tracer.start("handle");
        span.set_attribute(KeyValue::new("http.request.method", "GET"));
        span.set_attribute(KeyValue::new("http.route", "/api/todos/{id}"));
        span.set_attribute(KeyValue::new("http.response.status_code", 200));
        span.set_attribute(KeyValue::new("item.index", i as i64));
        span.add_event("validated", vec![KeyValue::new("rules", 3)]);
        span.end();
    }
    COUNTING.store(true, Ordering::Relaxed);
    let result = telemetry.shutdown();
    COUNTING.store(false, Ordering::Relaxed);
    if let Err(error) = result {
        eprintln!("shutdown: {error}");
        std::process::exit(1);
    }
    println!(
        "allocations {} bytes {}",
        ALLOCATIONS.load(Ordering::Relaxed),
        BYTES.load(Ordering::Relaxed)
    );
}
