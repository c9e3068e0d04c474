//! With no SDK installed, log lines inside plugin code still name the plugin (and carry no
//! trace ids). No provider is installed in this binary.

use std::io::Write;
use std::sync::{Arc, Mutex};

use backstage_telemetry::logs::JsonLogs;
use backstage_telemetry::{Config, span};
use tracing_subscriber::layer::SubscriberExt;

#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<u8>>>);

impl Write for Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[span(plugin = "quiet")]
fn work() -> Result<(), std::fmt::Error> {
    tracing::info!("working");
    Err(std::fmt::Error)
}

#[test]
fn plugin_without_an_sdk() {
    let lines = Lines::default();
    let writer = lines.clone();
    let subscriber = tracing_subscriber::registry()
        .with(JsonLogs::new(&Config::default()).with_writer(move || writer.clone()));
    let result = tracing::subscriber::with_default(subscriber, work);
    assert!(result.is_err());
    let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
    let line: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(line["plugin"], "quiet");
    assert_eq!(line["message"], "working");
    assert!(line.get("trace_id").is_none(), "{line}");
}
