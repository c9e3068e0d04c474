//! With no SDK installed, a `#[span]` call and a `metric!` measurement allocate nothing
//! (the no-SDK budget of docs/design.md; their cost is measured by the benchmarks). Counted with a
//! global allocator, so this binary installs no provider and has this one test.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use backstage_telemetry::{KeyValue, metric, span};

/// Counts allocations made by this thread's test while `COUNTING` is set.
struct Counting;

static COUNTING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: `GlobalAlloc` is an unsafe trait; this implementation only counts and forwards
// every call unchanged to the system allocator, which upholds the trait's contract. It is
// the one way to observe allocations, and exists only in this test binary.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

metric! {
    static CALLS: Counter<u64> = "calls.made";
    static DURATION: Histogram<f64> = "calls.duration", unit = "s";
}

#[span(attributes(call.index = index as i64))]
fn traced(index: u64) -> Result<u64, std::fmt::Error> {
    CALLS.add(1, &[KeyValue::new("result", "ok")]);
    DURATION.record(0.5, &[]);
    Ok(index)
}

#[span]
async fn traced_async(index: u64) -> u64 {
    index
}

#[test]
fn spans_and_measurements_allocate_nothing_without_an_sdk() {
    // first use binds to the (no-op) providers: allowed to allocate once
    traced(0).unwrap();
    futures::executor::block_on(traced_async(0));

    COUNTING.store(true, Ordering::SeqCst);
    let mut sum = 0;
    for index in 1..=1000 {
        sum += traced(index).unwrap();
        sum += futures::executor::block_on(traced_async(index));
    }
    COUNTING.store(false, Ordering::SeqCst);

    assert_eq!(sum, 1000 * 1001);
    assert_eq!(ALLOCATIONS.load(Ordering::SeqCst), 0);
}
