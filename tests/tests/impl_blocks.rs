//! `#[span]` on impl blocks, on exported spans and span metrics: every method traced as
//! `#[span]` with the block's options on it would be, a method's own `#[span(..)]` in their
//! place, `const fn` and associated items left alone, trait impls too.

use backstage_telemetry::testing::{self, PointValue};
use backstage_telemetry::{KeyValue, SpanKind, Status};
use backstage_telemetry_tests::{attribute_str, event_attributes};

#[backstage_telemetry::backstage_plugin(id = "impl-store")]
mod store {
    use backstage_telemetry::span;

    #[derive(Debug)]
    pub struct Missing;

    impl std::fmt::Display for Missing {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("no such entity")
        }
    }

    #[derive(Default)]
    pub struct Store {
        entities: Vec<String>,
    }

    pub trait Lookup {
        fn find(&self, name: &str) -> Result<usize, Missing>;
    }

    #[span(metrics, kind = server)]
    impl Store {
        pub const LIMIT: usize = 3;

        pub fn add(&mut self, entity: &str) {
            self.entities.push(entity.to_owned());
        }

        #[span(name = "count-entities")]
        pub fn count(&self) -> usize {
            self.entities.len()
        }

        pub const fn limit() -> usize {
            Self::LIMIT
        }

        pub async fn first(&self) -> Option<String> {
            self.entities.first().cloned()
        }
    }

    #[span(kind = client)]
    impl Lookup for Store {
        fn find(&self, name: &str) -> Result<usize, Missing> {
            self.entities.iter().position(|e| e == name).ok_or(Missing)
        }
    }
}

#[test]
fn every_method_of_a_block_is_traced_as_span_on_it_would_be() {
    use store::Lookup as _;
    let kit = testing::install();
    let capture = kit.capture();
    let mut store = store::Store::default();
    capture.run(|| {
        store.add("a");
        store.add("b");
        assert_eq!(store.count(), 2);
        assert_eq!(store::Store::limit(), 3);
        assert_eq!(store.find("b").ok(), Some(1));
        assert!(store.find("z").is_err());
    });
    let first = futures::executor::block_on(capture.run_async(store.first()));
    assert_eq!(first.as_deref(), Some("a"));

    let spans = capture.spans();
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_ref()).collect();
    assert_eq!(
        names,
        ["add", "add", "count-entities", "find", "find", "first"],
        "the const fn is not traced"
    );
    for span in &spans {
        assert_eq!(
            span.instrumentation_scope.name(),
            "backstage-plugin-impl-store"
        );
        assert_eq!(
            attribute_str(span, "backstage.plugin.id").as_deref(),
            Some("impl-store")
        );
    }
    // the block's kind; the method's own attribute replaces the block's options
    let kind = |name: &str| {
        spans
            .iter()
            .find(|s| s.name == name)
            .unwrap()
            .span_kind
            .clone()
    };
    assert_eq!(kind("add"), SpanKind::Server);
    assert_eq!(kind("first"), SpanKind::Server);
    assert_eq!(kind("count-entities"), SpanKind::Internal);
    assert_eq!(kind("find"), SpanKind::Client);
    // an Err of a trait impl's method is recorded
    let failed = spans
        .iter()
        .find(|s| s.name == "find" && s.status != Status::Unset)
        .expect("the failed lookup");
    assert_eq!(failed.status, Status::error("no such entity"));
    let exception = event_attributes(failed, "exception").expect("an exception event");
    assert!(exception.contains(&("exception.message".to_owned(), "no such entity".to_owned())));

    // span metrics for the block's methods (`metrics` on the block), not for the method
    // whose own attribute has none, nor for the trait impl
    let metrics = kit.metrics();
    let duration = metrics.metric("backstage.plugin.impl-store.span.duration");
    let count = |name: &str| {
        duration
            .point(&[
                KeyValue::new("span.name", name.to_owned()),
                KeyValue::new("span.kind", "server"),
                KeyValue::new("outcome", "ok"),
            ])
            .map(|point| match &point.value {
                PointValue::Histogram { count, .. } => *count,
                other => panic!("{other:?}"),
            })
    };
    assert_eq!(count("add"), Some(2));
    assert_eq!(count("first"), Some(1));
    assert!(
        duration.points.iter().all(|p| !p
            .attributes
            .contains(&KeyValue::new("span.name", "count-entities"))
            && !p.attributes.contains(&KeyValue::new("span.name", "find"))),
        "{:?}",
        duration.points
    );
}
