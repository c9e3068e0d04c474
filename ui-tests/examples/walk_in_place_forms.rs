#![deny(warnings)]
//! What a scoped module expands in place, with warnings denied: the imports of `span` and
//! `metric` stay used (at the top and inside a function), a body's inner attributes stay
//! first, `metric!(..);` as items at module level, and a keyword before a macro path.

#[backstage_telemetry::backstage_plugin(id = "walk")]
mod walk {
    use backstage_telemetry::{metric, span};

    metric!(
        pub static CALLS: Counter<u64> = "walk.calls";
    );

    #[span]
    pub fn first() -> u64 {
        #![allow(clippy::let_and_return)]
        let value = 1;
        value
    }

    pub fn local_imports() -> usize {
        use backstage_telemetry::metric as instrument;
        #[backstage_telemetry::span(name = "inner")]
        fn inner() -> usize {
            instrument!(Counter<u64>, "walk.inner").add(1, &[]);
            2
        }
        inner()
    }

    // a path after a keyword (`return ::a::metric!(..)`) is the macro's whole path
    #[allow(clippy::needless_return)]
    pub fn name() -> &'static str {
        return ::backstage_telemetry::metric!(Counter<u64>, "walk.named").name();
    }
}

fn main() {
    let kit = backstage_telemetry::testing::install();
    let capture = kit.capture();
    capture.run(|| {
        walk::CALLS.add(1, &[]);
        assert_eq!(walk::first(), 1);
        assert_eq!(walk::local_imports(), 2);
    });
    assert_eq!(walk::name(), "backstage.plugin.walk.walk.named");
    let names: Vec<String> = capture.spans().iter().map(|s| s.name.to_string()).collect();
    assert_eq!(names, ["first", "inner"]);
    let metrics = kit.metrics();
    metrics.metric("backstage.plugin.walk.walk.calls");
    metrics.metric("backstage.plugin.walk.walk.inner");
    assert_eq!(walk::METRICS.len(), 3);
}
