//! Helpers shared by the integration tests: reading exported spans, an OTLP receiver, a
//! Zipkin receiver, a real Prometheus server, and (in `src/bin/probe.rs`) the application the SDK set-up tests
//! run.

pub mod http;
pub mod otlp;
pub mod pki;
pub mod prometheus;
pub mod rotel;
pub mod zipkin;

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

// The span assertions plugin authors use too live in the public test kit.
pub use backstage_telemetry::testing::{
    attribute, attribute_count, attribute_str, event_attributes,
};
