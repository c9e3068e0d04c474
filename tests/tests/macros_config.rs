//! The installed app-config (`set_config`) applies to the spans of the macros. It changes
//! process-wide state, so it has a test binary of its own.

use backstage_telemetry::{Config, span, testing};
use backstage_telemetry_tests::attribute_str;

#[span(credentials = credentials)]
fn configured(credentials: backstage_telemetry::BackstageCredentials) -> usize {
    drop(credentials);
    1
}

#[test]
fn the_installed_config_applies_to_macro_spans() {
    let capture = testing::install().capture();
    let config = Config::from_yaml_str(
        "app-config.yaml",
        "backend:\n  tracing:\n    capture:\n      endUser: true\n    plugin:\n      crate-wide:\n        tracer:\n          name: custom-tracer\n          version: 9.9.9\n",
    )
    .unwrap();
    backstage_telemetry::set_config(config);
    capture.run(|| {
        configured(backstage_telemetry::BackstageCredentials::user(
            "user:default/zoe",
        ))
    });
    backstage_telemetry::set_config(Config::default());
    let span = capture.span("configured");
    assert_eq!(span.instrumentation_scope.name(), "custom-tracer");
    assert_eq!(span.instrumentation_scope.version(), Some("9.9.9"));
    assert_eq!(
        attribute_str(&span, "enduser.id").as_deref(),
        Some("user:default/zoe")
    );
}
