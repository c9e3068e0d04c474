//! Helpers shared by the integration tests: reading exported spans, an OTLP receiver, a
//! real Prometheus server, and (in `src/bin/probe.rs`) the application the SDK set-up tests
//! run.

pub mod otlp;
pub mod pki;
pub mod prometheus;

use std::sync::{Arc, Mutex};

/// Log lines written to memory, for `JsonLogs::with_writer(move || lines.clone())`.
#[derive(Clone, Default)]
pub struct LogLines(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogLines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl LogLines {
    /// Everything written, as text.
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).expect("UTF-8 logs")
    }
}

use opentelemetry::{Key, Value};
use opentelemetry_sdk::trace::SpanData;

/// The value of attribute `key` on `span` (the last one if the key appears twice, as
/// exporters would report it), if any.
pub fn attribute<'a>(span: &'a SpanData, key: &str) -> Option<&'a Value> {
    span.attributes
        .iter()
        .rev()
        .find(|kv| kv.key == Key::from(key.to_owned()))
        .map(|kv| &kv.value)
}

/// How many times `key` appears among the span's attributes.
pub fn attribute_count(span: &SpanData, key: &str) -> usize {
    span.attributes
        .iter()
        .filter(|kv| kv.key.as_str() == key)
        .count()
}

/// The value of attribute `key` as a string, if present.
pub fn attribute_str(span: &SpanData, key: &str) -> Option<String> {
    attribute(span, key).map(|v| v.as_str().into_owned())
}

/// The attributes of the span's event named `name`, as `(key, value-as-string)` pairs.
pub fn event_attributes(span: &SpanData, name: &str) -> Option<Vec<(String, String)>> {
    span.events.iter().find(|e| e.name == name).map(|e| {
        e.attributes
            .iter()
            .map(|kv| (kv.key.as_str().to_owned(), kv.value.as_str().into_owned()))
            .collect()
    })
}
