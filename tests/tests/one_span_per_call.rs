//! One span per call: every method of a `#[span]` impl block is traced exactly once,
//! whatever its position in the block, with or without a `#[span]` of its own, under a
//! renamed import, sync or async, inside a plugin module and outside one. Asserted on the
//! exported spans (their names and parents) and on the span-metrics series.

use backstage_telemetry::SpanKind;
use backstage_telemetry::testing::{self, Capture, PointValue};
use opentelemetry_sdk::trace::SpanData;

#[backstage_telemetry::backstage_plugin(id = "one-span")]
mod inside {
    use backstage_telemetry::span;

    pub struct Many;

    #[span(metrics, kind = server)]
    impl Many {
        #[span(name = "own-first")]
        pub fn first(&self) -> u8 {
            1
        }

        #[span(name = "own-second")]
        pub fn second(&self) -> u8 {
            2
        }

        pub fn plain(&self) -> u8 {
            3
        }

        #[span(name = "own-third", metrics)]
        pub async fn third(&self) -> u8 {
            4
        }

        pub async fn plain_async(&self) -> u8 {
            5
        }
    }

    pub mod renamed {
        use backstage_telemetry::span as traced;

        pub struct Renamed;

        #[traced(metrics)]
        impl Renamed {
            #[traced(name = "renamed-first")]
            pub fn first(&self) -> u8 {
                1
            }

            #[traced(name = "renamed-second")]
            pub async fn second(&self) -> u8 {
                2
            }

            pub fn plain(&self) -> u8 {
                3
            }
        }
    }
}

mod outside {
    use backstage_telemetry::span as traced;

    pub struct Outside;

    #[backstage_telemetry::span(plugin = "one-span-outside", metrics)]
    impl Outside {
        #[backstage_telemetry::span(plugin = "one-span-outside", name = "outside-first")]
        pub fn first(&self) -> u8 {
            1
        }

        #[traced(plugin = "one-span-outside", name = "outside-second")]
        pub fn second(&self) -> u8 {
            2
        }

        #[traced(plugin = "one-span-outside", name = "outside-third")]
        pub async fn third(&self) -> u8 {
            3
        }

        pub fn plain(&self) -> u8 {
            4
        }
    }
}

/// The names of the exported spans, each with its parent's name (`None`: a root).
fn tree(spans: &[SpanData]) -> Vec<(String, Option<String>)> {
    let mut tree: Vec<(String, Option<String>)> = spans
        .iter()
        .map(|span| {
            let parent = spans
                .iter()
                .find(|p| p.span_context.span_id() == span.parent_span_id)
                .map(|p| p.name.to_string());
            (span.name.to_string(), parent)
        })
        .collect();
    tree.sort();
    tree
}

fn roots(names: &[&str]) -> Vec<(String, Option<String>)> {
    let mut roots: Vec<(String, Option<String>)> =
        names.iter().map(|n| ((*n).to_owned(), None)).collect();
    roots.sort();
    roots
}

/// `(span.name, span.kind, count)` of every span-duration series of `metric` that counted
/// a call.
fn timed(kit: &testing::TestTelemetry, metric: &str) -> Vec<(String, String, u64)> {
    let metrics = kit.metrics();
    let mut timed: Vec<(String, String, u64)> = metrics
        .metric(metric)
        .points
        .iter()
        .filter_map(|point| {
            let PointValue::Histogram { count, .. } = &point.value else {
                panic!("{point:?}");
            };
            (*count > 0).then_some((
                point.attribute("span.name")?,
                point.attribute("span.kind")?,
                *count,
            ))
        })
        .collect();
    timed.sort();
    timed
}

fn run<T>(capture: &Capture, future: impl Future<Output = T>) -> T {
    futures::executor::block_on(capture.run_async(future))
}

#[test]
fn every_method_of_a_block_is_one_span_in_a_plugin_module() {
    let kit = testing::install();
    let capture = kit.capture();
    let many = inside::Many;
    let renamed = inside::renamed::Renamed;
    let sum = run(&capture, async {
        many.first()
            + many.second()
            + many.plain()
            + many.third().await
            + many.plain_async().await
            + renamed.first()
            + renamed.second().await
            + renamed.plain()
    });
    assert_eq!(sum, 21);
    let spans = capture.spans();
    assert_eq!(
        tree(&spans),
        roots(&[
            "own-first",
            "own-second",
            "plain",
            "own-third",
            "plain_async",
            "renamed-first",
            "renamed-second",
            "plain",
        ]),
        "one root span per call, none nested in another"
    );
    // exactly one span of each of these names
    let kind = |name: &str| capture.span(name).span_kind;
    assert_eq!(
        kind("own-first"),
        SpanKind::Internal,
        "own options replace the block's"
    );
    assert_eq!(kind("plain_async"), SpanKind::Server);
    // span metrics: the block's methods, and the own attribute that asks for them
    assert_eq!(
        timed(kit, "backstage.plugin.one-span.span.duration"),
        [
            ("own-third".to_owned(), "internal".to_owned(), 1),
            ("plain".to_owned(), "internal".to_owned(), 1),
            ("plain".to_owned(), "server".to_owned(), 1),
            ("plain_async".to_owned(), "server".to_owned(), 1),
        ]
    );
}

#[test]
fn every_method_of_a_block_is_one_span_outside_plugin_modules() {
    let kit = testing::install();
    let capture = kit.capture();
    let outside = outside::Outside;
    let sum = run(&capture, async {
        outside.first() + outside.second() + outside.third().await + outside.plain()
    });
    assert_eq!(sum, 10);
    let spans = capture.spans();
    assert_eq!(
        tree(&spans),
        roots(&["outside-first", "outside-second", "outside-third", "plain"]),
        "one root span per call, none nested in another"
    );
    for span in &spans {
        assert_eq!(
            span.instrumentation_scope.name(),
            "backstage-plugin-one-span-outside"
        );
    }
    assert_eq!(
        timed(kit, "backstage.plugin.one-span-outside.span.duration"),
        [("plain".to_owned(), "internal".to_owned(), 1)]
    );
}
