//! Logs (feature `logs`): a `tracing` layer that writes one JSON object per event,
//! in the shape Backstage's structured logs have, correlated with the active span:
//!
//! ```json
//! {"timestamp":"2026-11-21T05:20:00.123Z","level":"info","service":"backstage","type":"plugin","plugin":"catalog","message":"entity processed","target":"backend::catalog","trace_id":"0af7651916cd43dd8448eb211c80319c","span_id":"b7ad6b7169203331","entity":"component:default/x"}
//! ```
//!
//! `plugin` (or `core` for a core service) is filled in automatically inside the spans of
//! `#[span]` and the tracing services.
//!
//! OpenTelemetry's own events (an export that failed, a queue that is full) come through
//! as lines too: one with no message takes the event's name as its message, and a warning
//! or error repeated within [`REPEAT_INTERVAL`] (one minute) is written once; the next line
//! of that event carries `repeated`, how many were held back. Events inside such a span are also added to it as span
//! events, unless [`JsonLogs::with_span_events`] turns that off. Which events are written is
//! read from `RUST_LOG` (`info` without it, so dependencies' debug lines stay out;
//! [`JsonLogs::with_filter`] sets it in code). Spans of crates using
//! `tracing` reach OpenTelemetry through `tracing-opentelemetry`'s layer, which nests them
//! with ours in both directions.
//!
//! ```
//! use tracing_subscriber::layer::SubscriberExt;
//!
//! let config = backstage_telemetry::Config::default();
//! let subscriber = tracing_subscriber::registry().with(backstage_telemetry::logs::JsonLogs::new(&config));
//! tracing::subscriber::with_default(subscriber, || tracing::info!(entity = "component:default/x", "processed"));
//! ```

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry::trace::TraceContextExt;
use opentelemetry::{KeyValue, Value as OtelValue};
use serde_json::Value;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

use crate::config::Config;
use crate::naming::ScopeKind;
use crate::tracing::ActiveScope;

/// The JSON log layer; see the [module docs](self).
#[derive(Debug)]
pub struct JsonLogs<W = fn() -> std::io::Stdout> {
    service: String,
    span_events: bool,
    writer: W,
    repeats: Repeats,
    /// Which events are written (and added to spans): `RUST_LOG`, else `info`.
    filter: Targets,
}

/// How long OpenTelemetry's repeated warnings and errors are held back after one is
/// written (see the [module docs](self)).
pub const REPEAT_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);

/// OpenTelemetry's warnings and errors by event name: when one was last written, and how
/// many came since.
#[derive(Debug)]
struct Repeats {
    interval: std::time::Duration,
    seen: std::sync::Mutex<std::collections::HashMap<String, (std::time::Instant, u64)>>,
}

impl Repeats {
    fn new(interval: std::time::Duration) -> Self {
        Repeats {
            interval,
            seen: std::sync::Mutex::new(std::collections::HashMap::new()),
        }
    }

    /// `None`: hold this one back. `Some(n)`: write it, noting `n` held back before it.
    fn admit(&self, name: &str) -> Option<u64> {
        let now = std::time::Instant::now();
        let mut seen = crate::sync::lock(&self.seen);
        match seen.get_mut(name) {
            Some((last, held)) if now.duration_since(*last) < self.interval => {
                *held += 1;
                None
            }
            Some((last, held)) => {
                *last = now;
                Some(std::mem::take(held))
            }
            None => {
                // the distinct names are OpenTelemetry's own, a few dozen at most
                seen.insert(name.to_owned(), (now, 0));
                Some(0)
            }
        }
    }
}

impl JsonLogs {
    /// Logs to stdout, with `service` as the exported resource has it
    /// ([`Config::reported_service_name`]).
    pub fn new(config: &Config) -> Self {
        // From now on spans carry their scope in their context, for the `plugin` field.
        crate::global::scope_for_logs();
        let service = config.reported_service_name(&|name| std::env::var(name).ok());
        JsonLogs {
            service,
            span_events: true,
            writer: std::io::stdout,
            repeats: Repeats::new(REPEAT_INTERVAL),
            filter: filter_from(std::env::var("RUST_LOG").ok().as_deref()),
        }
    }
}

impl<W> JsonLogs<W> {
    /// Whether events are also added to the active span as span events (default true).
    pub fn with_span_events(mut self, span_events: bool) -> Self {
        self.span_events = span_events;
        self
    }

    /// Writes somewhere else than stdout.
    pub fn with_writer<W2: for<'a> MakeWriter<'a> + 'static>(self, writer: W2) -> JsonLogs<W2> {
        JsonLogs {
            service: self.service,
            span_events: self.span_events,
            writer,
            repeats: self.repeats,
            filter: self.filter,
        }
    }

    /// Which events are written (and added to spans as span events), instead of
    /// `RUST_LOG`'s (else `info`): e.g. `"info,my_plugin=debug".parse()`.
    pub fn with_filter(mut self, filter: Targets) -> Self {
        self.filter = filter;
        self
    }

    /// How long OpenTelemetry's repeated warnings and errors are held back (default
    /// [`REPEAT_INTERVAL`]).
    pub fn with_repeat_interval(mut self, interval: std::time::Duration) -> Self {
        self.repeats = Repeats::new(interval);
        self
    }
}

/// The filter `RUST_LOG` gives (`target=level` directives and a default level, as
/// `tracing_subscriber::filter::Targets` reads them), else `info`: dependencies' debug and
/// trace lines (the SDK's, hyper's, axum's) are not written unless asked for. A value that
/// does not parse is ignored for `info`.
fn filter_from(rust_log: Option<&str>) -> Targets {
    rust_log
        .and_then(|value| value.parse::<Targets>().ok())
        .unwrap_or_else(|| Targets::new().with_default(LevelFilter::INFO))
}

impl<S, W> Layer<S> for JsonLogs<W>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'a> MakeWriter<'a> + 'static,
{
    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        if !self
            .filter
            .would_enable(event.metadata().target(), event.metadata().level())
        {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        let metadata = event.metadata();
        let mut repeated = 0;
        let own = metadata.target().starts_with("opentelemetry");
        if own {
            // OpenTelemetry's events carry their name in a `name` field, often no message.
            let name = fields
                .values
                .iter()
                .find(|(key, _)| *key == "name")
                .and_then(|(_, value)| value.as_str().map(str::to_owned))
                .unwrap_or_else(|| metadata.name().to_owned());
            if *metadata.level() <= tracing::Level::WARN {
                match self.repeats.admit(&name) {
                    Some(held) => repeated = held,
                    None => return,
                }
            }
            if fields.message.is_empty() {
                fields.message = name;
            }
            // Its fields may quote the endpoint (`url`, `error`): never its credentials.
            fields.message = without_userinfo(&fields.message);
            for (_, value) in &mut fields.values {
                if let Value::String(text) = value {
                    *text = without_userinfo(text);
                }
            }
        }
        let cx = opentelemetry::Context::current();
        let span = cx.span();
        let span_context = span.span_context();

        let timestamp = timestamp(SystemTime::now());
        let trace_id = span_context.trace_id().to_bytes();
        let span_id = span_context.span_id().to_bytes();
        // the line's own members, each once
        let mut line = Line::default();
        line.push("timestamp", Entry::Text(&timestamp));
        line.push("level", Entry::Text(level_name(*metadata.level())));
        line.push("service", Entry::Text(&self.service));
        if let Some(ActiveScope(scope)) = cx.get::<ActiveScope>() {
            let kind = match scope.kind() {
                ScopeKind::Plugin => "plugin",
                ScopeKind::Core => "core",
            };
            line.push("type", Entry::Text(kind));
            line.push(kind, Entry::Text(scope.id()));
        }
        line.push("message", Entry::Text(&fields.message));
        line.push("target", Entry::Text(metadata.target()));
        if span_context.is_valid() {
            line.push("trace_id", Entry::Hex(&trace_id));
            line.push("span_id", Entry::Hex(&span_id));
        }
        for (key, value) in &fields.values {
            line.insert_new(key, Entry::Json(value));
        }
        let held = Value::from(repeated);
        if repeated > 0 {
            line.insert("repeated", Entry::Json(&held));
        }
        let Ok(text) = line.into_json() else {
            return;
        };
        // A log line that cannot be written is dropped; logging never fails the caller.
        let _ = self.writer.make_writer().write_all(&text);

        // Inside a `tracing` span, tracing-opentelemetry adds the event to that span.
        // OpenTelemetry's own events are not the application's: they stay off its spans.
        if self.span_events && !own && ctx.lookup_current().is_none() && span.is_recording() {
            let mut attributes = vec![KeyValue::new("level", metadata.level().as_str())];
            attributes.extend(
                fields
                    .values
                    .iter()
                    .map(|(k, v)| KeyValue::new(*k, otel_value(v))),
            );
            span.add_event(fields.message, attributes);
        }
    }
}

/// The fields of an event: `message` apart.
#[derive(Default)]
struct Fields {
    message: String,
    values: Vec<(&'static str, Value)>,
}

impl Fields {
    fn push(&mut self, field: &Field, value: Value) {
        if field.name() == "message" {
            self.message = match value {
                Value::String(s) => s,
                other => other.to_string(),
            };
        } else {
            self.values.push((field.name(), value));
        }
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.push(field, Value::String(value.to_owned()));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.push(field, Value::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.push(field, Value::from(value));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.push(field, Value::from(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.push(field, Value::from(value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.push(field, Value::String(format!("{value:?}")));
    }
}

/// One log line's members, by key: written as a JSON object in key order (as the
/// `serde_json::Map` the lines were once built in ordered them), each value escaped by
/// `serde_json`, without building a `Value` for the line.
#[derive(Default)]
struct Line<'a> {
    members: Vec<(&'a str, Entry<'a>)>,
}

/// A member's value: text, an id's bytes (written in lowercase hex, as the ids' `Display`
/// writes them), or a field's JSON value.
enum Entry<'a> {
    Text(&'a str),
    Hex(&'a [u8]),
    Json(&'a Value),
}

impl<'a> Line<'a> {
    /// Adds `key`, which the line has no value for.
    fn push(&mut self, key: &'a str, entry: Entry<'a>) {
        debug_assert!(self.members.iter().all(|(at, _)| *at != key), "{key}");
        self.members.push((key, entry));
    }

    /// Sets `key` to `entry`, replacing its value if it has one.
    fn insert(&mut self, key: &'a str, entry: Entry<'a>) {
        match self.members.iter_mut().find(|(at, _)| *at == key) {
            Some((_, value)) => *value = entry,
            None => self.members.push((key, entry)),
        }
    }

    /// Sets `key` to `entry` unless it has a value (an event's field never replaces the
    /// line's own members, nor an earlier field of the same name). An event has at most 32
    /// fields (`tracing`'s limit), so the search stays short.
    fn insert_new(&mut self, key: &'a str, entry: Entry<'a>) {
        if !self.members.iter().any(|(at, _)| *at == key) {
            self.members.push((key, entry));
        }
    }

    /// The line: `{"key":value,...}` in key order, and a newline.
    fn into_json(mut self) -> serde_json::Result<Vec<u8>> {
        self.members.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let mut out = Vec::with_capacity(256);
        out.push(b'{');
        for (index, (key, entry)) in self.members.iter().enumerate() {
            if index > 0 {
                out.push(b',');
            }
            serde_json::to_writer(&mut out, key)?;
            out.push(b':');
            match entry {
                Entry::Text(text) => serde_json::to_writer(&mut out, text)?,
                Entry::Hex(bytes) => {
                    const DIGITS: &[u8; 16] = b"0123456789abcdef";
                    out.push(b'"');
                    for byte in *bytes {
                        out.push(DIGITS[usize::from(byte >> 4)]);
                        out.push(DIGITS[usize::from(byte & 0xf)]);
                    }
                    out.push(b'"');
                }
                Entry::Json(value) => serde_json::to_writer(&mut out, value)?,
            }
        }
        out.extend_from_slice(b"}\n");
        Ok(out)
    }
}

/// `level` as the lines spell it.
fn level_name(level: tracing::Level) -> &'static str {
    match level {
        tracing::Level::ERROR => "error",
        tracing::Level::WARN => "warn",
        tracing::Level::INFO => "info",
        tracing::Level::DEBUG => "debug",
        tracing::Level::TRACE => "trace",
    }
}

fn otel_value(value: &Value) -> OtelValue {
    match value {
        Value::Bool(b) => OtelValue::Bool(*b),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => OtelValue::I64(i),
            (None, Some(f)) => OtelValue::F64(f),
            _ => OtelValue::String(n.to_string().into()),
        },
        Value::String(s) => OtelValue::String(s.clone().into()),
        other => OtelValue::String(other.to_string().into()),
    }
}

/// `text` with the `user:password@` of every URL in it removed.
fn without_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (head, tail) = rest.split_at(at + 3);
        out.push_str(head);
        let authority_end = tail
            .find(|c: char| {
                matches!(c, '/' | '?' | '#' | ')' | '"' | '\'' | ',') || c.is_whitespace()
            })
            .unwrap_or(tail.len());
        let authority = &tail[..authority_end];
        out.push_str(match authority.rfind('@') {
            Some(userinfo_end) => &authority[userinfo_end + 1..],
            None => authority,
        });
        rest = &tail[authority_end..];
    }
    out.push_str(rest);
    out
}

/// RFC 3339 in UTC with milliseconds, e.g. `2026-11-21T05:20:00.123Z`.
fn timestamp(time: SystemTime) -> String {
    let since_epoch = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = since_epoch.as_secs();
    let (days, rest) = (seconds / 86_400, seconds % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60,
        since_epoch.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;
    use tracing_subscriber::layer::SubscriberExt;

    /// The lines written by `logs` for the events `emit` sends.
    fn written(logs: JsonLogs, emit: impl FnOnce()) -> String {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let sink = buffer.clone();
        let logs = logs.with_writer(move || SharedWriter(sink.clone()));
        let subscriber = tracing_subscriber::registry().with(logs);
        tracing::subscriber::with_default(subscriber, emit);
        let bytes = buffer.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    struct SharedWriter(Arc<Mutex<Vec<u8>>>);

    impl Write for SharedWriter {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn emit() {
        tracing::debug!(target: "hyper::proto", "connection accepted");
        tracing::debug!(target: "billing", "tax computed");
        tracing::info!(target: "billing", "invoice sent");
    }

    #[test]
    fn without_rust_log_only_info_and_above_is_written() {
        let logs = JsonLogs::new(&Config::default()).with_filter(filter_from(None));
        let text = written(logs, emit);
        assert!(text.contains("invoice sent"), "{text}");
        assert!(!text.contains("connection accepted"), "{text}");
        assert!(!text.contains("tax computed"), "{text}");
    }

    #[test]
    fn rust_log_directives_choose_what_is_written() {
        let logs =
            JsonLogs::new(&Config::default()).with_filter(filter_from(Some("warn,billing=debug")));
        let text = written(logs, emit);
        assert!(
            text.contains("invoice sent") && text.contains("tax computed"),
            "{text}"
        );
        assert!(!text.contains("connection accepted"), "{text}");
        // a value that does not parse is `info`
        let logs = JsonLogs::new(&Config::default()).with_filter(filter_from(Some("=[")));
        let text = written(logs, emit);
        assert!(
            text.contains("invoice sent") && !text.contains("tax computed"),
            "{text}"
        );
    }

    /// A line as it was built before it was written member by member: a `serde_json::Map`
    /// (ordered by key) with the line's own members, the event's fields where their names
    /// are free, and `repeated` over all.
    fn line_by_map(members: &[(&str, &str)], fields: &[(&'static str, Value)]) -> String {
        let mut map = serde_json::Map::new();
        for (key, value) in members {
            map.insert((*key).to_owned(), Value::String((*value).to_owned()));
        }
        for (key, value) in fields {
            map.entry(*key).or_insert_with(|| value.clone());
        }
        let mut text = Value::Object(map).to_string();
        text.push('\n');
        text
    }

    #[test]
    fn a_line_is_written_as_the_map_of_its_members_would_be() {
        let odd = "quote \" backslash \\ newline \n tab \t nul \u{0} bell \u{7} é 😀 </script>";
        let fields: Vec<(&'static str, Value)> = vec![
            ("entity", Value::from("component:default/x")),
            (
                "message",
                Value::from("a field named message never replaces it"),
            ),
            ("level", Value::from("neither does level")),
            ("count", Value::from(-42)),
            ("ratio", Value::from(0.125)),
            ("big", Value::from(u64::MAX)),
            ("ok", Value::from(true)),
            ("odd", Value::from(odd)),
            ("entity", Value::from("a second entity field is dropped")),
            ("Zeta", Value::from("upper case sorts first")),
            ("trace_id", Value::from("nor trace_id")),
        ];
        let members = [
            ("timestamp", "2026-11-21T05:20:00.123Z"),
            ("level", "info"),
            ("service", "backstage"),
            ("type", "plugin"),
            ("plugin", "catalog"),
            ("message", odd),
            ("target", "backend::catalog"),
            ("trace_id", "0af7651916cd43dd8448eb211c80319c"),
            ("span_id", "b7ad6b7169203331"),
        ];
        for (members, fields) in [
            (&members[..], &fields[..]),
            (&members[..6], &fields[..3]),
            (&members[..0], &fields[..0]),
        ] {
            let mut line = Line::default();
            for (key, value) in members {
                line.push(key, Entry::Text(value));
            }
            for (key, value) in fields {
                line.insert_new(key, Entry::Json(value));
            }
            let written = String::from_utf8(line.into_json().unwrap()).unwrap();
            assert_eq!(written, line_by_map(members, fields));
            let parsed: Value = serde_json::from_str(&written).unwrap();
            assert_eq!(
                parsed["message"].as_str(),
                members.iter().find(|m| m.0 == "message").map(|m| m.1)
            );
        }
        // `repeated` replaces a field of that name
        let field = Value::from("a field");
        let held = Value::from(3u64);
        let mut line = Line::default();
        line.insert_new("repeated", Entry::Json(&field));
        line.insert("repeated", Entry::Json(&held));
        assert_eq!(line.into_json().unwrap(), b"{\"repeated\":3}\n");
    }

    #[test]
    fn ids_and_levels_are_spelled_as_before() {
        use opentelemetry::trace::{SpanId, TraceId};
        for value in [
            0u128,
            1,
            0x0af7_6519_16cd_43dd_8448_eb21_1c80_319c,
            u128::MAX,
        ] {
            let trace_id = TraceId::from(value);
            #[allow(clippy::cast_possible_truncation)]
            let span_id = SpanId::from(value as u64);
            let (trace_bytes, span_bytes) = (trace_id.to_bytes(), span_id.to_bytes());
            let mut line = Line::default();
            line.push("trace_id", Entry::Hex(&trace_bytes));
            line.push("span_id", Entry::Hex(&span_bytes));
            let written = String::from_utf8(line.into_json().unwrap()).unwrap();
            assert_eq!(
                written,
                format!("{{\"span_id\":\"{span_id}\",\"trace_id\":\"{trace_id}\"}}\n")
            );
        }
        for level in [
            tracing::Level::ERROR,
            tracing::Level::WARN,
            tracing::Level::INFO,
            tracing::Level::DEBUG,
            tracing::Level::TRACE,
        ] {
            assert_eq!(level_name(level), level.as_str().to_ascii_lowercase());
        }
    }

    #[test]
    fn urls_lose_their_userinfo() {
        assert_eq!(
            without_userinfo(
                "error sending request for url (http://user:SECRET@collector:4318/v1/traces)"
            ),
            "error sending request for url (http://collector:4318/v1/traces)"
        );
        assert_eq!(
            without_userinfo("https://a:b@x https://y/p?q=u@v"),
            "https://x https://y/p?q=u@v"
        );
        assert_eq!(without_userinfo("no url here"), "no url here");
    }

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(timestamp(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            timestamp(UNIX_EPOCH + Duration::from_millis(1_795_237_801_821)),
            "2026-11-21T05:10:01.821Z"
        );
        assert_eq!(
            timestamp(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00.000Z"
        );
    }
}
