//! The SDK installed, every span sampled (`AlwaysOn`) and handed to a processor that keeps
//! nothing; fastrace with a reporter that keeps nothing as an outside reference.

#[macro_use]
mod common;

benchmarks!();

mod fastrace_reference {
    use std::hint::black_box;

    /// fastrace's span around a call: a root span made the local parent.
    #[divan::bench]
    fn root_span() -> u64 {
        let root = fastrace::Span::root("traced", fastrace::prelude::SpanContext::random());
        let _guard = root.set_local_parent();
        black_box(1u64) + 1
    }
}

struct Discard;

impl fastrace::collector::Reporter for Discard {
    fn report(&mut self, spans: Vec<fastrace::prelude::SpanRecord>) {
        std::hint::black_box(spans);
    }
}

fn main() {
    common::install_sdk(true);
    fastrace::set_reporter(Discard, fastrace::collector::Config::default());
    common::bench();
    fastrace::flush();
}
