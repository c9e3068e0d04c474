//! Runs one span variant many times, for `valgrind --tool=callgrind`:
//! `profile_span ours|otel|ours_async|otel_async [iterations]`.

#[path = "../benches/common/mod.rs"]
mod common;

fn main() {
    let mut args = std::env::args().skip(1);
    let variant = args.next().unwrap_or_else(|| "ours".to_owned());
    let iterations: u64 = args.next().and_then(|n| n.parse().ok()).unwrap_or(100_000);
    common::install_sdk(true);
    common::warm_up();
    let mut sum = 0;
    for i in 0..iterations {
        sum += match variant.as_str() {
            "ours" => common::plugin::traced(i),
            "otel" => common::hand_traced(i),
            "ours_async" => common::run(common::plugin::traced_async(i)),
            "otel_async" => common::run(common::hand_traced_async(i)),
            other => panic!("unknown variant {other}"),
        };
    }
    println!("{variant}: {sum}");
}
