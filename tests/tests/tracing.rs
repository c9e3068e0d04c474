//! Conformance of `TracingService` (docs/design.md: scopes, tracing, principal), asserted on exported spans.

use std::convert::Infallible;
use std::time::Duration;

use backstage_telemetry::testing::{self, Capture};
use backstage_telemetry::{
    BackstageCredentials, Config, KeyValue, RootTracingService, SpanKind, SpanOptions, Status,
    TracingService, current_span,
};
use backstage_telemetry_tests::{attribute, attribute_count, attribute_str, event_attributes};
use opentelemetry::Value;
use opentelemetry::trace::TraceContextExt;

fn service(plugin: &str) -> TracingService {
    RootTracingService::from_config(&Config::default())
        .for_plugin(plugin)
        .unwrap()
}

fn service_with(yaml: &str, plugin: &str) -> TracingService {
    let config = Config::from_yaml_str("app-config.yaml", yaml).unwrap();
    RootTracingService::from_config(&config)
        .for_plugin(plugin)
        .unwrap()
}

fn capture() -> Capture {
    testing::install().capture()
}

#[test]
fn tracer_scope_defaults_and_config_override() {
    let capture = capture();
    let yaml = "backend:\n  tracing:\n    plugin:\n      catalog:\n        tracer:\n          name: custom-catalog-tracer\n          version: 2.0.0\n          schemaUrl: https://example.com/schema\n";
    let overridden = service_with(yaml, "catalog");
    let default = service_with(yaml, "scaffolder");
    capture.run(|| {
        overridden.start_active_span("a", SpanOptions::new(), |_| ());
        default.start_active_span("b", SpanOptions::new(), |_| ());
    });
    let a = capture.span("a").instrumentation_scope;
    assert_eq!(a.name(), "custom-catalog-tracer");
    assert_eq!(a.version(), Some("2.0.0"));
    assert_eq!(a.schema_url(), Some("https://example.com/schema"));
    let b = capture.span("b").instrumentation_scope;
    assert_eq!(b.name(), "backstage-plugin-scaffolder");
    assert_eq!(b.version(), None);
    assert_eq!(b.schema_url(), None);
}

#[test]
fn name_kind_and_attributes_pass_through() {
    let capture = capture();
    let tracing = service("catalog");
    capture.run(|| {
        tracing.start_active_span(
            "refresh-entity",
            SpanOptions::new()
                .with_kind(SpanKind::Consumer)
                .with_attribute(KeyValue::new("catalog.entity.kind", "Component"))
                .with_attributes([KeyValue::new("catalog.batch.size", 3_i64)]),
            |_| (),
        )
    });
    let span = capture.span("refresh-entity");
    assert_eq!(span.span_kind, SpanKind::Consumer);
    assert_eq!(
        attribute_str(&span, "catalog.entity.kind").as_deref(),
        Some("Component")
    );
    assert_eq!(attribute(&span, "catalog.batch.size"), Some(&Value::I64(3)));
    assert_eq!(
        attribute_str(&span, "backstage.plugin.id").as_deref(),
        Some("catalog")
    );
    // no principal was supplied, so none is recorded
    assert_eq!(attribute(&span, "backstage.principal.type"), None);
    assert_eq!(span.status, Status::Unset);
}

#[test]
fn plugin_id_added_and_overridable_from_the_body() {
    let capture = capture();
    let tracing = service("todos");
    capture.run(|| {
        tracing.start_active_span("own", SpanOptions::new(), |_| ());
        tracing.start_active_span("dispatched", SpanOptions::new(), |span| {
            span.set_attribute(KeyValue::new("backstage.plugin.id", "other-plugin"));
        });
    });
    let own = capture.span("own");
    assert_eq!(
        attribute_str(&own, "backstage.plugin.id").as_deref(),
        Some("todos")
    );
    let dispatched = capture.span("dispatched");
    assert_eq!(
        attribute_str(&dispatched, "backstage.plugin.id").as_deref(),
        Some("other-plugin")
    );
    // exported once, with the body's value
    assert_eq!(attribute_count(&dispatched, "backstage.plugin.id"), 1);
}

#[test]
fn core_services_get_their_own_tracer_and_id() {
    let capture = capture();
    let tracing = RootTracingService::from_config(&Config::default())
        .for_core("scheduler")
        .unwrap();
    capture.run(|| tracing.start_active_span("run-task", SpanOptions::new(), |_| ()));
    let span = capture.span("run-task");
    assert_eq!(
        span.instrumentation_scope.name(),
        "backstage-core-scheduler"
    );
    assert_eq!(
        attribute_str(&span, "backstage.core.id").as_deref(),
        Some("scheduler")
    );
    assert_eq!(attribute(&span, "backstage.plugin.id"), None);
}

#[test]
fn kind_defaults_to_internal_and_all_five_map() {
    let capture = capture();
    let tracing = service("catalog");
    let kinds = [
        ("server", SpanKind::Server),
        ("client", SpanKind::Client),
        ("producer", SpanKind::Producer),
        ("consumer", SpanKind::Consumer),
        ("internal", SpanKind::Internal),
    ];
    capture.run(|| {
        tracing.start_active_span("default-kind", SpanOptions::new(), |_| ());
        for (name, kind) in kinds.clone() {
            tracing.start_active_span(name, SpanOptions::new().with_kind(kind), |_| ());
        }
    });
    assert_eq!(capture.span("default-kind").span_kind, SpanKind::Internal);
    for (name, kind) in kinds {
        assert_eq!(capture.span(name).span_kind, kind, "{name}");
    }
}

#[test]
fn principal_type_without_end_user_by_default() {
    let capture = capture();
    let tracing = service("catalog");
    let user = BackstageCredentials::user("user:default/alice");
    let service_credentials = BackstageCredentials::service("external:my-service");
    let nobody = BackstageCredentials::none();
    capture.run(|| {
        for (name, credentials) in [
            ("user", &user),
            ("service", &service_credentials),
            ("none", &nobody),
        ] {
            tracing.start_active_span(
                name,
                SpanOptions::new().with_credentials(credentials),
                |_| (),
            );
        }
    });
    for name in ["user", "service", "none"] {
        let span = capture.span(name);
        assert_eq!(
            attribute_str(&span, "backstage.principal.type").as_deref(),
            Some(name)
        );
        assert_eq!(attribute(&span, "enduser.id"), None, "{name}");
    }
}

#[test]
fn end_user_captured_when_enabled() {
    let capture = capture();
    let tracing = service_with(
        "backend:\n  tracing:\n    capture:\n      endUser: true\n",
        "catalog",
    );
    let user = BackstageCredentials::user("user:default/alice");
    let service_credentials = BackstageCredentials::service("external:my-service");
    let nobody = BackstageCredentials::none();
    capture.run(|| {
        tracing.start_active_span("user", SpanOptions::new().with_credentials(&user), |_| ());
        tracing.start_active_span(
            "service",
            SpanOptions::new().with_credentials(&service_credentials),
            |_| (),
        );
        tracing.start_active_span("none", SpanOptions::new().with_credentials(&nobody), |_| ());
    });
    let user = capture.span("user");
    assert_eq!(
        attribute_str(&user, "backstage.principal.type").as_deref(),
        Some("user")
    );
    assert_eq!(
        attribute_str(&user, "enduser.id").as_deref(),
        Some("user:default/alice")
    );
    let service = capture.span("service");
    assert_eq!(
        attribute_str(&service, "backstage.principal.type").as_deref(),
        Some("service")
    );
    assert_eq!(
        attribute_str(&service, "enduser.id").as_deref(),
        Some("external:my-service")
    );
    let none = capture.span("none");
    assert_eq!(
        attribute_str(&none, "backstage.principal.type").as_deref(),
        Some("none")
    );
    assert_eq!(attribute(&none, "enduser.id"), None);
}

#[test]
fn principal_from_what_auth_middleware_stored_on_the_request() {
    let capture = capture();
    let tracing = service_with(
        "backend:\n  tracing:\n    capture:\n      endUser: true\n",
        "catalog",
    );
    let mut authenticated = http::Request::builder()
        .header("authorization", "Bearer secret-token")
        .body(())
        .unwrap();
    authenticated
        .extensions_mut()
        .insert(BackstageCredentials::user("user:default/bob"));
    // Headers alone are never trusted nor exported.
    let anonymous = http::Request::builder()
        .header("authorization", "Bearer secret-token")
        .header("x-user", "user:default/mallory")
        .body(())
        .unwrap();
    let (parts, ()) = {
        let mut request = http::Request::new(());
        request
            .extensions_mut()
            .insert(BackstageCredentials::service("plugin:scaffolder"));
        request.into_parts()
    };
    capture.run(|| {
        tracing.start_active_span(
            "request",
            SpanOptions::new().with_request(&authenticated),
            |_| (),
        );
        tracing.start_active_span(
            "anonymous",
            SpanOptions::new().with_request(&anonymous),
            |_| (),
        );
        tracing.start_active_span("parts", SpanOptions::new().with_request(&parts), |_| ());
    });
    let request = capture.span("request");
    assert_eq!(
        attribute_str(&request, "backstage.principal.type").as_deref(),
        Some("user")
    );
    assert_eq!(
        attribute_str(&request, "enduser.id").as_deref(),
        Some("user:default/bob")
    );
    let anonymous = capture.span("anonymous");
    assert_eq!(
        attribute_str(&anonymous, "backstage.principal.type").as_deref(),
        Some("none")
    );
    assert_eq!(attribute(&anonymous, "enduser.id"), None);
    let parts = capture.span("parts");
    assert_eq!(
        attribute_str(&parts, "backstage.principal.type").as_deref(),
        Some("service")
    );
    assert_eq!(
        attribute_str(&parts, "enduser.id").as_deref(),
        Some("plugin:scaffolder")
    );
    for span in capture.spans() {
        for kv in &span.attributes {
            let value = kv.value.as_str();
            assert!(
                !value.contains("secret-token") && !value.contains("mallory"),
                "{kv:?}"
            );
        }
    }
}

#[test]
fn credentials_win_over_request() {
    let capture = capture();
    let tracing = service_with(
        "backend:\n  tracing:\n    capture:\n      endUser: true\n",
        "catalog",
    );
    let mut request = http::Request::new(());
    request
        .extensions_mut()
        .insert(BackstageCredentials::user("user:default/from-request"));
    let credentials = BackstageCredentials::service("external:from-credentials");
    capture.run(|| {
        tracing.start_active_span(
            "both",
            SpanOptions::new()
                .with_request(&request)
                .with_credentials(&credentials),
            |_| (),
        )
    });
    let span = capture.span("both");
    assert_eq!(
        attribute_str(&span, "backstage.principal.type").as_deref(),
        Some("service")
    );
    assert_eq!(
        attribute_str(&span, "enduser.id").as_deref(),
        Some("external:from-credentials")
    );
    assert_eq!(attribute_count(&span, "backstage.principal.type"), 1);
}

#[test]
fn set_status_attributes_and_events_from_the_body() {
    let capture = capture();
    let tracing = service("catalog");
    capture.run(|| {
        tracing.start_active_span("ok", SpanOptions::new(), |span| span.set_status(Status::Ok));
        tracing.start_active_span("error", SpanOptions::new(), |span| {
            span.set_status(Status::error("entity is deprecated"));
        });
        tracing.start_active_span("unset", SpanOptions::new(), |span| {
            span.set_status(Status::Unset)
        });
        tracing.start_active_span("current", SpanOptions::new(), |_| {
            // the body reaches its span without the handle
            let span = current_span();
            span.set_attribute(KeyValue::new("catalog.entity.kind", "API"));
            span.add_event("validated", vec![KeyValue::new("catalog.rules", 4_i64)]);
        });
    });
    assert_eq!(capture.span("ok").status, Status::Ok);
    assert_eq!(
        capture.span("error").status,
        Status::error("entity is deprecated")
    );
    assert_eq!(capture.span("unset").status, Status::Unset);
    let current = capture.span("current");
    assert_eq!(
        attribute_str(&current, "catalog.entity.kind").as_deref(),
        Some("API")
    );
    assert_eq!(
        event_attributes(&current, "validated"),
        Some(vec![("catalog.rules".to_owned(), "4".to_owned())])
    );
}

#[derive(Debug, PartialEq)]
struct NotFound(&'static str);

impl std::fmt::Display for NotFound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "entity {} not found", self.0)
    }
}

#[test]
fn err_is_recorded_and_returned_unchanged() {
    let capture = capture();
    let tracing = service("catalog");
    let result: Result<u32, NotFound> = capture.run(|| {
        tracing.start_active_span("lookup", SpanOptions::new(), |_| {
            Err(NotFound("component:default/x"))
        })
    });
    assert_eq!(result, Err(NotFound("component:default/x")));
    let io: std::io::Result<()> = capture.run(|| {
        tracing.start_active_span("read", SpanOptions::new(), |_| {
            Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no such file",
            ))
        })
    });
    assert_eq!(io.unwrap_err().kind(), std::io::ErrorKind::NotFound);

    let span = capture.span("lookup");
    let type_name = std::any::type_name::<NotFound>();
    assert_eq!(
        span.status,
        Status::error("entity component:default/x not found")
    );
    assert_eq!(
        attribute_str(&span, "error.type").as_deref(),
        Some(type_name)
    );
    assert_eq!(
        event_attributes(&span, "exception"),
        Some(vec![
            ("exception.type".to_owned(), type_name.to_owned()),
            (
                "exception.message".to_owned(),
                "entity component:default/x not found".to_owned()
            ),
        ])
    );
    assert!(span.end_time >= span.start_time);
    let read = capture.span("read");
    assert_eq!(
        attribute_str(&read, "error.type").as_deref(),
        Some("io::Error")
    );
    assert_eq!(read.status, Status::error("no such file"));
}

#[test]
fn success_returns_the_value_and_ends_once() {
    let capture = capture();
    let tracing = service("catalog");
    let value = capture.run(|| {
        tracing.start_active_span("compute", SpanOptions::new(), |span| {
            // ending early from the body must not export the span twice
            span.context().span().end();
            Ok::<_, Infallible>(vec![1, 2, 3])
        })
    });
    assert_eq!(value, Ok(vec![1, 2, 3]));
    capture.run(|| tracing.start_active_span("plain", SpanOptions::new(), |_| ()));
    let spans = capture.spans();
    assert_eq!(spans.iter().filter(|s| s.name == "compute").count(), 1);
    assert_eq!(spans.iter().filter(|s| s.name == "plain").count(), 1);
    let compute = capture.span("compute");
    assert_eq!(compute.status, Status::Unset);
    assert!(compute.events.is_empty());
    assert_eq!(attribute(&compute, "error.type"), None);
}

#[test]
fn panic_is_recorded_then_continues() {
    let capture = capture();
    let tracing = service("catalog");
    let entity = String::from("component:default/x");
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        capture.run(|| {
            tracing.start_active_span("explode", SpanOptions::new(), |_| -> () {
                panic!("stitching failed for {entity}")
            })
        })
    }));
    let payload = outcome.unwrap_err();
    assert_eq!(
        payload.downcast_ref::<String>().map(String::as_str),
        Some("stitching failed for component:default/x")
    );
    let span = capture.span("explode");
    assert_eq!(
        span.status,
        Status::error("stitching failed for component:default/x")
    );
    assert_eq!(attribute_str(&span, "error.type").as_deref(), Some("panic"));
    assert_eq!(
        event_attributes(&span, "exception"),
        Some(vec![
            ("exception.type".to_owned(), "panic".to_owned()),
            (
                "exception.message".to_owned(),
                "stitching failed for component:default/x".to_owned()
            ),
        ])
    );
}

#[tokio::test]
async fn async_panic_is_recorded_then_continues() {
    let capture = capture();
    let tracing = service("catalog");
    let task = tokio::spawn(capture.run_async(async move {
        tracing
            .start_active_span_async("explode-async", SpanOptions::new(), |_| async {
                tokio::task::yield_now().await;
                if true {
                    panic!("async boom");
                }
            })
            .await
    }));
    let payload = task.await.unwrap_err().into_panic();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"async boom"));
    let span = capture.span("explode-async");
    assert_eq!(span.status, Status::error("async boom"));
    assert_eq!(attribute_str(&span, "error.type").as_deref(), Some("panic"));
}

#[tokio::test]
async fn dropped_future_ends_the_span_marked_cancelled() {
    let capture = capture();
    let tracing = service("scaffolder");
    // started eagerly, like Backstage's startActiveSpan: the parent is the caller's context
    let slow = capture.run(|| {
        tracing.start_active_span_async("slow-step", SpanOptions::new(), |_| async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        })
    });
    let timed_out = tokio::time::timeout(Duration::from_millis(20), slow).await;
    assert!(timed_out.is_err());
    let span = capture.span("slow-step");
    assert_eq!(
        attribute(&span, "backstage.span.cancelled"),
        Some(&Value::Bool(true))
    );
    assert_eq!(span.status, Status::Unset);
    // a future that completes is not marked
    capture
        .run_async(async {
            tracing
                .start_active_span_async("quick-step", SpanOptions::new(), |_| async {})
                .await
        })
        .await;
    assert_eq!(
        attribute(&capture.span("quick-step"), "backstage.span.cancelled"),
        None
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn children_nest_under_the_active_span_across_await() {
    let capture = capture();
    let catalog = service("catalog");
    let search = service("search");
    let process = capture.run(|| {
        catalog.start_active_span_async("process", SpanOptions::new(), |_| {
            let search = search.clone();
            let catalog = catalog.clone();
            async move {
                tokio::time::sleep(Duration::from_millis(5)).await;
                search
                    .start_active_span_async("index", SpanOptions::new(), |_| async {
                        tokio::task::yield_now().await;
                        // a sync child of an async child
                        catalog.start_active_span("stitch", SpanOptions::new(), |_| ());
                        Ok::<_, Infallible>(7)
                    })
                    .await
            }
        })
    });
    // polled on the runtime's worker threads, across a sleep
    let result = tokio::spawn(process).await.unwrap();
    assert_eq!(result, Ok(7));
    let process = capture.span("process");
    let index = capture.span("index");
    let stitch = capture.span("stitch");
    let trace_id = process.span_context.trace_id();
    assert_eq!(index.span_context.trace_id(), trace_id);
    assert_eq!(stitch.span_context.trace_id(), trace_id);
    assert_eq!(index.parent_span_id, process.span_context.span_id());
    assert_eq!(stitch.parent_span_id, index.span_context.span_id());
    assert_eq!(
        attribute_str(&index, "backstage.plugin.id").as_deref(),
        Some("search")
    );
    // the parent started outside any of our spans is the root
    assert_eq!(
        process.parent_span_id,
        opentelemetry::trace::SpanId::INVALID
    );
}

#[test]
fn nests_under_a_span_active_on_entry() {
    let capture = capture();
    let tracing = service("catalog");
    let incoming = opentelemetry::trace::SpanContext::new(
        opentelemetry::trace::TraceId::from(0x0af7651916cd43dd8448eb211c80319c),
        opentelemetry::trace::SpanId::from(0xb7ad6b7169203331),
        opentelemetry::trace::TraceFlags::SAMPLED,
        true,
        Default::default(),
    );
    let _remote = capture
        .context()
        .with_remote_span_context(incoming.clone())
        .attach();
    tracing.start_active_span("handle", SpanOptions::new(), |_| ());
    let span = capture.span("handle");
    assert_eq!(span.span_context.trace_id(), incoming.trace_id());
    assert_eq!(span.parent_span_id, incoming.span_id());
    assert!(span.parent_span_is_remote);
}

#[test]
fn an_empty_name_is_replaced_visibly() {
    let capture = capture();
    let tracing = service("catalog");
    let value = capture
        .run(|| tracing.start_active_span("", SpanOptions::new(), |_| Ok::<_, Infallible>(1)));
    assert_eq!(value, Ok(1));
    let span = capture.span("unnamed");
    assert_eq!(
        attribute(&span, "backstage.span.invalid_name"),
        Some(&Value::Bool(true))
    );
}

#[test]
fn long_or_control_character_names_are_replaced_too() {
    let capture = capture();
    let tracing = service("names");
    let long = "x".repeat(10_000);
    for name in [long.as_str(), "line\nbreak", "esc\u{1b}[31m"] {
        capture.run(|| tracing.start_active_span(name.to_owned(), SpanOptions::new(), |_| ()));
    }
    let spans = capture.spans();
    assert_eq!(spans.len(), 3);
    for span in &spans {
        assert_eq!(span.name, "unnamed");
        assert_eq!(
            attribute(span, "backstage.span.invalid_name"),
            Some(&Value::Bool(true))
        );
    }
    // a name at the limit is kept
    let at_limit = "y".repeat(backstage_telemetry::naming::MAX_SPAN_NAME_LEN);
    capture.run(|| tracing.start_active_span(at_limit.clone(), SpanOptions::new(), |_| ()));
    capture.span(&at_limit);
}

#[test]
fn run_time_attribute_keys_are_checked_like_span_attributes() {
    let capture = capture();
    let tracing = service("keys");
    let options = SpanOptions::new()
        .with_attribute(KeyValue::new("", "empty"))
        .with_attribute(KeyValue::new("Bad Key\n", "bad"))
        .with_attribute(KeyValue::new("catalog.entity.kind", "Component"));
    capture.run(|| tracing.start_active_span("with-keys", options, |_| ()));
    let span = capture.span("with-keys");
    assert_eq!(
        attribute_str(&span, "catalog.entity.kind"),
        Some("Component".to_owned())
    );
    assert_eq!(attribute(&span, ""), None);
    assert_eq!(attribute(&span, "Bad Key\n"), None);
    assert_eq!(
        attribute(&span, "backstage.span.invalid_attribute_keys"),
        Some(&Value::I64(2))
    );
}

#[test]
fn links_with_attributes_and_invalid_contexts_skipped() {
    use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
    let capture = capture();
    let tracing = service("links");
    let request = SpanContext::new(
        TraceId::from_hex("4bf92f3577b34da6a3ce929d0e0e4736").unwrap(),
        SpanId::from_hex("00f067aa0ba902b7").unwrap(),
        TraceFlags::SAMPLED,
        false,
        TraceState::default(),
    );
    let options = SpanOptions::new()
        .with_link_attributes(
            request.clone(),
            [KeyValue::new("scaffolder.task.id", "task-1")],
        )
        .with_link(None)
        .with_link(SpanContext::empty_context());
    capture.run(|| tracing.start_active_span("run-task", options, |_| ()));
    let span = capture.span("run-task");
    assert_eq!(span.links.len(), 1);
    let link = &span.links[0];
    assert_eq!(link.span_context, request);
    assert_eq!(
        link.attributes,
        [KeyValue::new("scaffolder.task.id", "task-1")]
    );
}

#[test]
fn invalid_ids_are_typed_errors() {
    let root = RootTracingService::from_config(&Config::default());
    let err = root.for_plugin("Catalog").unwrap_err();
    assert_eq!(
        err.subject(),
        backstage_telemetry::naming::Subject::PluginId
    );
    assert!(err.to_string().contains("uppercase `C`"), "{err}");
    let err = root.for_core("-db").unwrap_err();
    assert_eq!(
        err.subject(),
        backstage_telemetry::naming::Subject::CoreServiceId
    );
}
