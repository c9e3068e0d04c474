//! With no SDK installed, log lines inside plugin code still name the plugin (and carry no
//! trace ids). No provider is installed in this binary.

use backstage_telemetry::logs::JsonLogs;
use backstage_telemetry::{Config, span};
use backstage_telemetry_tests::LogLines;
use tracing_subscriber::layer::SubscriberExt;

#[span(plugin = "quiet")]
fn work() -> Result<(), std::fmt::Error> {
    tracing::info!("working");
    Err(std::fmt::Error)
}

#[test]
fn plugin_without_an_sdk() {
    let lines = LogLines::default();
    let writer = lines.clone();
    let subscriber = tracing_subscriber::registry()
        .with(JsonLogs::new(&Config::default()).with_writer(move || writer.clone()));
    let result = tracing::subscriber::with_default(subscriber, work);
    assert!(result.is_err());
    let text = lines.text();
    let line: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(line["plugin"], "quiet");
    assert_eq!(line["message"], "working");
    assert!(line.get("trace_id").is_none(), "{line}");
}
