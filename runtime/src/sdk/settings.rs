//! What `init` installs: the app-config's `backend.telemetry` and the OpenTelemetry
//! environment variables, resolved once by a pure function. Variables win over the file.
//!
//! Nothing here fails: a value that cannot be used becomes a [`SetupProblem`] and turns off
//! only what it belongs to (one exporter, one list entry), and a number outside its range is
//! clamped into it. Every OTLP setting the exporters would otherwise read themselves
//! (endpoint, headers, timeout, compression) is read and checked here and handed to them,
//! so no upstream message ever quotes a value.

use std::ffi::OsString;
use std::fmt;
use std::ops::RangeInclusive;
use std::time::Duration;

use super::problem::SetupProblem;
use crate::config::{Config, TelemetrySettings};

/// The resolved set-up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Settings {
    /// False: install nothing.
    pub enabled: bool,
    pub traces: Vec<Exporter>,
    pub metrics: Vec<Exporter>,
    /// Log records (`tracing` events), when the application installs the log layer.
    pub logs: Vec<Exporter>,
    pub propagators: Vec<Propagator>,
    /// The span queue (`OTEL_BSP_*`).
    pub batch: Batch,
    /// The log record queue (`OTEL_BLRP_*`).
    pub log_batch: Batch,
    /// `OTEL_METRIC_EXPORT_INTERVAL`, for pushed metrics.
    pub metric_interval: Duration,
    /// All flushing at shutdown together.
    pub shutdown_timeout: Duration,
    /// How long a failed span or log batch is retried (zero: not retried).
    pub retry_budget: Duration,
    /// The signals whose exporters are the default ones: the operator named none (or
    /// none usable). A telemetry module may replace them.
    pub defaulted: Vec<Signal>,
    /// `OTEL_TRACES_SAMPLER` / `backend.telemetry.traces.sampler`, if set and usable.
    pub sampler: Option<Sampler>,
    /// `backend.metrics.cardinalityLimit`.
    pub cardinality_limit: Option<usize>,
    /// Everything that could not be used as given.
    pub problems: Vec<SetupProblem>,
}

/// Where a signal goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Exporter {
    Otlp(Otlp),
    Prometheus { host: String, port: u16 },
    Stdout,
}

/// One signal's OTLP exporter, every setting checked.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Otlp {
    pub protocol: Protocol,
    /// The URL requests go to (for http/protobuf, with the signal's path).
    pub endpoint: String,
    pub headers: Vec<(String, String)>,
    pub timeout: Duration,
    pub gzip: bool,
    /// PEM files for TLS, each with the variable that named it.
    pub tls: TlsFiles,
}

/// `OTEL_EXPORTER_OTLP_CERTIFICATE`, `_CLIENT_CERTIFICATE`, `_CLIENT_KEY` (or the
/// per-signal variants): (variable, path).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct TlsFiles {
    pub certificate: Option<(String, std::path::PathBuf)>,
    pub client_certificate: Option<(String, std::path::PathBuf)>,
    pub client_key: Option<(String, std::path::PathBuf)>,
}

/// Endpoints may hold credentials and headers hold API keys: neither is printed.
impl fmt::Debug for Otlp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Otlp")
            .field("protocol", &self.protocol)
            .field("endpoint", &"<redacted>")
            .field("headers", &self.headers.len())
            .field("timeout", &self.timeout)
            .field("gzip", &self.gzip)
            .field("tls", &self.tls)
            .finish()
    }
}

/// The OTLP transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Protocol {
    HttpProtobuf,
    Grpc,
}

/// A trace sampler the specification names (`OTEL_TRACES_SAMPLER`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Sampler {
    AlwaysOn,
    AlwaysOff,
    /// A share of traces by trace id, from 0 to 1.
    TraceIdRatio(f64),
    ParentBasedAlwaysOn,
    ParentBasedAlwaysOff,
    ParentBasedTraceIdRatio(f64),
}

// The ratio is checked to lie in [0, 1], so never NaN.
impl Eq for Sampler {}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Propagator {
    TraceContext,
    Baggage,
}

/// A batch processor's queue and schedule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Batch {
    pub max_queue_size: usize,
    pub max_export_batch_size: usize,
    pub scheduled_delay: Duration,
}

impl Batch {
    /// The defaults, with `delay`'s default schedule.
    fn default_for(delay: &Limit) -> Batch {
        Batch {
            max_queue_size: QUEUE_SIZE.default as usize,
            max_export_batch_size: BATCH_SIZE.default as usize,
            scheduled_delay: Duration::from_millis(delay.default),
        }
    }
}

/// An exporter name of an `OTEL_*_EXPORTER` list.
#[derive(Clone, Copy)]
enum Named {
    None,
    Console,
    Otlp,
    Prometheus,
}

/// A signal; as a number, an index (0, 1, 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Signal {
    Traces = 0,
    Metrics = 1,
    Logs = 2,
}

impl Signal {
    fn upper(self) -> &'static str {
        match self {
            Signal::Traces => "TRACES",
            Signal::Metrics => "METRICS",
            Signal::Logs => "LOGS",
        }
    }

    fn path(self) -> &'static str {
        match self {
            Signal::Traces => "/v1/traces",
            Signal::Metrics => "/v1/metrics",
            Signal::Logs => "/v1/logs",
        }
    }

    pub(crate) fn otlp_off(self) -> &'static str {
        match self {
            Signal::Traces => "trace export over OTLP is off",
            Signal::Metrics => "metric export over OTLP is off",
            Signal::Logs => "log export over OTLP is off",
        }
    }

    /// `traces`, `metrics` or `logs`.
    pub(crate) fn key(self) -> &'static str {
        match self {
            Signal::Traces => "traces",
            Signal::Metrics => "metrics",
            Signal::Logs => "logs",
        }
    }
}

pub(crate) const DEFAULT_PROMETHEUS_HOST: &str = "127.0.0.1";
pub(crate) const DEFAULT_PROMETHEUS_PORT: u16 = 9464;

/// A numeric setting: its default and the range it is clamped into, in its own unit.
pub(crate) struct Limit {
    pub default: u64,
    pub range: RangeInclusive<u64>,
    pub unit: &'static str,
}

impl Limit {
    /// `value` clamped into the range, with a problem of `setting` if it was outside.
    pub(crate) fn clamp(&self, setting: &str, value: u64, problems: &mut Vec<SetupProblem>) -> u64 {
        let (min, max) = (*self.range.start(), *self.range.end());
        let clamped = value.clamp(min, max);
        if clamped != value {
            problems.push(SetupProblem::new(
                setting,
                format!("must be from {min} to {max}{}", self.unit),
                format!("using {clamped}{}", self.unit),
            ));
        }
        clamped
    }
}

/// `OTEL_BSP_MAX_QUEUE_SIZE`: spans waiting for export (each a few hundred bytes to a few KB).
pub(crate) const QUEUE_SIZE: Limit = Limit {
    default: 2_048,
    range: 1..=65_536,
    unit: "",
};
/// `OTEL_BSP_MAX_EXPORT_BATCH_SIZE`, further capped at the queue size.
pub(crate) const BATCH_SIZE: Limit = Limit {
    default: 512,
    range: 1..=65_536,
    unit: "",
};
/// `OTEL_BSP_SCHEDULE_DELAY` (ms): below 100 ms the exporter thread busy-loops.
pub(crate) const SCHEDULE_DELAY: Limit = Limit {
    default: 5_000,
    range: 100..=3_600_000,
    unit: " ms",
};
/// `OTEL_BLRP_SCHEDULE_DELAY` (ms): the log record processor's default is 1 s.
pub(crate) const LOG_SCHEDULE_DELAY: Limit = Limit {
    default: 1_000,
    range: 100..=3_600_000,
    unit: " ms",
};
/// `OTEL_EXPORTER_OTLP_TIMEOUT` and its per-signal variants (ms).
pub(crate) const OTLP_TIMEOUT: Limit = Limit {
    default: 10_000,
    range: 100..=300_000,
    unit: " ms",
};
/// `OTEL_METRIC_EXPORT_INTERVAL` (ms).
pub(crate) const METRIC_INTERVAL: Limit = Limit {
    default: 60_000,
    range: 100..=3_600_000,
    unit: " ms",
};
/// `BACKSTAGE_TELEMETRY_SHUTDOWN_TIMEOUT` / `backend.telemetry.shutdownTimeout` (ms).
pub(crate) const SHUTDOWN_TIMEOUT: Limit = Limit {
    default: 5_000,
    range: 100..=60_000,
    unit: " ms",
};
/// `BACKSTAGE_TELEMETRY_RETRY_BUDGET` / `backend.telemetry.retryBudget` (ms): how long a
/// span or log batch is retried while the collector is away (a rolling restart).
pub(crate) const RETRY_BUDGET: Limit = Limit {
    default: 30_000,
    range: 0..=300_000,
    unit: " ms",
};
/// `backend.metrics.cardinalityLimit`: attribute sets per instrument.
pub(crate) const CARDINALITY_LIMIT: Limit = Limit {
    default: 2_000,
    range: 1..=100_000,
    unit: "",
};

/// An environment lookup: the process environment in `init`, a table in tests.
pub(crate) type Env<'a> = &'a dyn Fn(&str) -> Option<OsString>;

impl Settings {
    /// Resolves `config` against the environment `env`.
    pub fn resolve(config: &Config, env: Env<'_>) -> Settings {
        Resolver {
            env,
            problems: Vec::new(),
        }
        .settings(config)
    }
}

/// Reads settings, collecting what cannot be used.
struct Resolver<'a> {
    env: Env<'a>,
    problems: Vec<SetupProblem>,
}

/// A variable that is set but unusable as text.
struct NotUnicode;

impl Resolver<'_> {
    fn settings(mut self, config: &Config) -> Settings {
        let telemetry = config.telemetry();
        let disabled = match self.text("OTEL_SDK_DISABLED", "telemetry stays on") {
            Some(value) if value.eq_ignore_ascii_case("true") => true,
            Some(value) if value.eq_ignore_ascii_case("false") => false,
            Some(_) => {
                self.problem(
                    "OTEL_SDK_DISABLED",
                    "must be `true` or `false`",
                    "telemetry stays on",
                );
                false
            }
            None => telemetry.enabled == Some(false),
        };
        let shutdown_timeout = self.duration_in(
            "BACKSTAGE_TELEMETRY_SHUTDOWN_TIMEOUT",
            telemetry
                .shutdown_timeout_ms
                .map(|ms| ("backend.telemetry.shutdownTimeout", ms)),
            &SHUTDOWN_TIMEOUT,
        );
        let retry_budget = self.duration_in(
            "BACKSTAGE_TELEMETRY_RETRY_BUDGET",
            telemetry
                .retry_budget_ms
                .map(|ms| ("backend.telemetry.retryBudget", ms)),
            &RETRY_BUDGET,
        );
        if disabled {
            return Settings {
                enabled: false,
                traces: Vec::new(),
                metrics: Vec::new(),
                logs: Vec::new(),
                propagators: Vec::new(),
                batch: Batch::default_for(&SCHEDULE_DELAY),
                log_batch: Batch::default_for(&LOG_SCHEDULE_DELAY),
                metric_interval: Duration::ZERO,
                shutdown_timeout,
                retry_budget,
                defaulted: Vec::new(),
                sampler: None,
                cardinality_limit: None,
                problems: self.problems,
            };
        }

        let mut defaulted = Vec::new();
        let traces_default = self.otlp_if_endpoint(Signal::Traces);
        let traces = self.exporters(Signal::Traces, telemetry, traces_default, &mut defaulted);
        let metrics = self.exporters(Signal::Metrics, telemetry, "prometheus", &mut defaulted);
        let logs_default = self.otlp_if_endpoint(Signal::Logs);
        let logs = self.exporters(Signal::Logs, telemetry, logs_default, &mut defaulted);
        let propagators = self.propagators();
        let sampler = self.sampler(telemetry);
        let batch = self.batch("BSP", &SCHEDULE_DELAY);
        let log_batch = self.batch("BLRP", &LOG_SCHEDULE_DELAY);
        let metric_interval =
            self.duration_in("OTEL_METRIC_EXPORT_INTERVAL", None, &METRIC_INTERVAL);
        let cardinality_limit = config.cardinality_limit().map(|limit| {
            self.clamp(
                "backend.metrics.cardinalityLimit",
                limit,
                &CARDINALITY_LIMIT,
            ) as usize
        });
        let span_metrics = config.span_metrics();
        if span_metrics.boundaries.is_some() && span_metrics.checked_boundaries().is_none() {
            self.problem(
                "backend.tracing.spanMetrics.boundaries",
                &format!(
                    "must be at most {} numbers, each finite, 0 or more and larger than the one \
                     before",
                    crate::config::MAX_SPAN_BOUNDARIES
                ),
                "span metrics use the default boundaries",
            );
        }
        Settings {
            enabled: true,
            traces,
            metrics,
            logs,
            propagators,
            batch,
            log_batch,
            metric_interval,
            shutdown_timeout,
            retry_budget,
            defaulted,
            sampler,
            cardinality_limit,
            problems: self.problems,
        }
    }

    fn problem(&mut self, setting: &str, problem: &str, effect: impl Into<String>) {
        self.problems
            .push(SetupProblem::new(setting, problem, effect));
    }

    /// A variable's trimmed value; blank counts as unset.
    fn var(&self, name: &str) -> Result<Option<String>, NotUnicode> {
        match (self.env)(name) {
            None => Ok(None),
            Some(value) => match value.into_string() {
                Ok(value) => {
                    let value = value.trim();
                    Ok((!value.is_empty()).then(|| value.to_owned()))
                }
                Err(_) => Err(NotUnicode),
            },
        }
    }

    /// A variable's value; one that is not UTF-8 is a problem with `effect`.
    fn text(&mut self, name: &str, effect: &str) -> Option<String> {
        match self.var(name) {
            Ok(value) => value,
            Err(NotUnicode) => {
                self.problem(name, "is not valid UTF-8", effect);
                None
            }
        }
    }

    /// The first of `names` that is set (with its name), or a problem with `effect` and
    /// `Err` if that one is not UTF-8.
    fn first_of(&mut self, names: &[String], effect: &str) -> Result<Option<(String, String)>, ()> {
        for name in names {
            match self.var(name) {
                Ok(Some(value)) => return Ok(Some((name.clone(), value))),
                Ok(None) => {}
                Err(NotUnicode) => {
                    self.problem(name, "is not valid UTF-8", effect);
                    return Err(());
                }
            }
        }
        Ok(None)
    }

    /// `value` clamped into `limit`'s range, with a problem if it was outside.
    fn clamp(&mut self, setting: &str, value: u64, limit: &Limit) -> u64 {
        limit.clamp(setting, value, &mut self.problems)
    }

    /// A number from the variable `name`, else from a config key, else the default; a
    /// non-number uses the default, an outsider is clamped.
    fn number(&mut self, name: &str, from_config: Option<(&str, u64)>, limit: &Limit) -> u64 {
        let default_effect = format!("using the default {}{}", limit.default, limit.unit);
        match self.text(name, &default_effect) {
            Some(text) => match text.parse::<u64>() {
                Ok(value) => self.clamp(name, value, limit),
                Err(_) => {
                    let (min, max) = (limit.range.start(), limit.range.end());
                    self.problem(
                        name,
                        &format!("must be a whole number from {min} to {max}{}", limit.unit),
                        default_effect,
                    );
                    limit.default
                }
            },
            None => match from_config {
                Some((key, value)) => self.clamp(key, value, limit),
                None => limit.default,
            },
        }
    }

    fn duration_in(
        &mut self,
        name: &str,
        from_config: Option<(&str, u64)>,
        limit: &Limit,
    ) -> Duration {
        Duration::from_millis(self.number(name, from_config, limit))
    }

    /// A batch processor's settings: `OTEL_{prefix}_MAX_QUEUE_SIZE`,
    /// `_MAX_EXPORT_BATCH_SIZE`, `_SCHEDULE_DELAY` (prefix `BSP` or `BLRP`).
    fn batch(&mut self, prefix: &str, delay: &Limit) -> Batch {
        let max_queue_size =
            self.number(&format!("OTEL_{prefix}_MAX_QUEUE_SIZE"), None, &QUEUE_SIZE) as usize;
        let batch_size = self.number(
            &format!("OTEL_{prefix}_MAX_EXPORT_BATCH_SIZE"),
            None,
            &BATCH_SIZE,
        ) as usize;
        Batch {
            max_queue_size,
            // a batch larger than the queue is the queue
            max_export_batch_size: batch_size.min(max_queue_size),
            scheduled_delay: self.duration_in(
                &format!("OTEL_{prefix}_SCHEDULE_DELAY"),
                None,
                delay,
            ),
        }
    }

    /// A signal's default exporter: `otlp` when an endpoint variable for it is set (a value
    /// that is not UTF-8 counts as set: the problem is reported when it is read).
    fn otlp_if_endpoint(&self, signal: Signal) -> &'static str {
        let general = self.var("OTEL_EXPORTER_OTLP_ENDPOINT");
        let specific = self.var(&format!("OTEL_EXPORTER_OTLP_{}_ENDPOINT", signal.upper()));
        if matches!(general, Ok(None)) && matches!(specific, Ok(None)) {
            "none"
        } else {
            "otlp"
        }
    }

    /// The exporters of one signal: from `OTEL_{signal}_EXPORTER` (a comma-separated list),
    /// else the config key, else `default`. Unknown entries are skipped. A signal left with
    /// its default is added to `defaulted`.
    fn exporters(
        &mut self,
        signal: Signal,
        telemetry: &TelemetrySettings,
        default: &str,
        defaulted: &mut Vec<Signal>,
    ) -> Vec<Exporter> {
        let from_config = match signal {
            Signal::Traces => telemetry.traces_exporter.as_deref(),
            Signal::Metrics => telemetry.metrics_exporter.as_deref(),
            Signal::Logs => telemetry.logs_exporter.as_deref(),
        };
        let variable = format!("OTEL_{}_EXPORTER", signal.upper());
        let (setting, list) = match self.text(&variable, "that signal is not exported") {
            Some(list) => (variable, list),
            None => match from_config {
                Some(name) => (
                    format!("backend.telemetry.{}.exporter", signal.key()),
                    name.to_owned(),
                ),
                None => (String::new(), default.to_owned()),
            },
        };
        let (exporters, known) = self.exporter_list(signal, telemetry, &setting, &list, default);
        // Nothing in the list named an exporter at all (a typo such as `promethues`): the
        // signal keeps its default rather than going dark.
        if setting.is_empty() || !known {
            defaulted.push(signal);
        }
        if known || list.split(',').all(|name| name.trim().is_empty()) {
            exporters
        } else {
            self.exporter_list(signal, telemetry, "", default, default)
                .0
        }
    }

    /// The exporters `list` names (case-insensitive, each once), and whether any entry was
    /// a known name (`none` included). An unknown entry is a problem of `setting`.
    fn exporter_list(
        &mut self,
        signal: Signal,
        telemetry: &TelemetrySettings,
        setting: &str,
        list: &str,
        default: &str,
    ) -> (Vec<Exporter>, bool) {
        let expected = match signal {
            Signal::Traces | Signal::Logs => "must name `otlp`, `console` (or `stdout`) or `none`",
            Signal::Metrics => "must name `prometheus`, `otlp`, `console` (or `stdout`) or `none`",
        };
        // each entry by name, `None` for a name this signal has no exporter by
        let entries: Vec<Option<Named>> = list
            .split(',')
            .map(|name| name.trim().to_ascii_lowercase())
            .filter(|name| !name.is_empty())
            .map(|name| match (signal, name.as_str()) {
                (_, "none") => Some(Named::None),
                (_, "console" | "stdout") => Some(Named::Console),
                (_, "otlp") => Some(Named::Otlp),
                (Signal::Metrics, "prometheus") => Some(Named::Prometheus),
                _ => None,
            })
            .collect();
        let any_known = entries.iter().any(Option::is_some);
        let mut exporters = Vec::new();
        for entry in entries {
            let exporter = match entry {
                Some(Named::None) => None,
                Some(Named::Console) => Some(Exporter::Stdout),
                Some(Named::Otlp) => self.otlp(signal).map(Exporter::Otlp),
                Some(Named::Prometheus) => self.prometheus(telemetry),
                None => {
                    let effect = if any_known {
                        "that entry is ignored".to_owned()
                    } else {
                        format!("using the default `{default}`")
                    };
                    self.problem(setting, expected, effect);
                    None
                }
            };
            if let Some(exporter) = exporter
                && !exporters.contains(&exporter)
            {
                exporters.push(exporter);
            }
        }
        (exporters, any_known)
    }

    /// `host:port` from the variables, else the config, else 127.0.0.1:9464.
    fn prometheus(&mut self, telemetry: &TelemetrySettings) -> Option<Exporter> {
        const OFF: &str = "metrics for Prometheus are off";
        let host = match self.var("OTEL_EXPORTER_PROMETHEUS_HOST") {
            Ok(host) => host
                .or_else(|| telemetry.prometheus_host.clone())
                .unwrap_or_else(|| DEFAULT_PROMETHEUS_HOST.to_owned()),
            Err(NotUnicode) => {
                self.problem("OTEL_EXPORTER_PROMETHEUS_HOST", "is not valid UTF-8", OFF);
                return None;
            }
        };
        let port = match self.var("OTEL_EXPORTER_PROMETHEUS_PORT") {
            Ok(Some(port)) => match port.parse::<u16>() {
                Ok(port) => port,
                Err(_) => {
                    self.problem(
                        "OTEL_EXPORTER_PROMETHEUS_PORT",
                        "must be a port number from 0 to 65535",
                        OFF,
                    );
                    return None;
                }
            },
            Ok(None) => match telemetry.prometheus_port.map(u16::try_from) {
                None => DEFAULT_PROMETHEUS_PORT,
                Some(Ok(port)) => port,
                Some(Err(_)) => {
                    self.problem(
                        "backend.telemetry.metrics.prometheus.port",
                        "must be a port number from 0 to 65535",
                        OFF,
                    );
                    return None;
                }
            },
            Err(NotUnicode) => {
                self.problem("OTEL_EXPORTER_PROMETHEUS_PORT", "is not valid UTF-8", OFF);
                return None;
            }
        };
        Some(Exporter::Prometheus { host, port })
    }

    /// One signal's OTLP settings, or `None` (with a problem) if any of them is unusable.
    fn otlp(&mut self, signal: Signal) -> Option<Otlp> {
        let off = signal.otlp_off();
        let s = signal.upper();
        let names = |what: &str| {
            [
                format!("OTEL_EXPORTER_OTLP_{s}_{what}"),
                format!("OTEL_EXPORTER_OTLP_{what}"),
            ]
        };

        let protocol = match self.first_of(&names("PROTOCOL"), off).ok()? {
            None => Protocol::HttpProtobuf,
            Some((_, value)) if value.eq_ignore_ascii_case("http/protobuf") => {
                Protocol::HttpProtobuf
            }
            Some((_, value)) if value.eq_ignore_ascii_case("grpc") => Protocol::Grpc,
            Some((name, _)) => {
                self.problem(&name, "must be `http/protobuf` or `grpc`", off);
                return None;
            }
        };

        let endpoint_names = names("ENDPOINT");
        let endpoint = match self.first_of(&endpoint_names, off).ok()? {
            Some((name, value)) => {
                // gRPC may leave the scheme out: TLS unless `_INSECURE` is true.
                let value = if protocol == Protocol::Grpc && !value.contains("://") {
                    let insecure = match self.first_of(&names("INSECURE"), off).ok()? {
                        Some((_, flag)) if flag.eq_ignore_ascii_case("true") => true,
                        Some((_, flag)) if flag.eq_ignore_ascii_case("false") => false,
                        None => false,
                        Some((flag_name, _)) => {
                            self.problem(&flag_name, "must be `true` or `false`", off);
                            return None;
                        }
                    };
                    let scheme = if insecure { "http" } else { "https" };
                    format!("{scheme}://{value}")
                } else {
                    value
                };
                if !is_endpoint(&value) {
                    self.problem(
                        &name,
                        "must be an http:// or https:// URL with a host, such as http://localhost:4318",
                        off,
                    );
                    return None;
                }
                // Only the general variable gets the signal's path (http/protobuf).
                if name == endpoint_names[1] && protocol == Protocol::HttpProtobuf {
                    format!("{}{}", value.trim_end_matches('/'), signal.path())
                } else {
                    value
                }
            }
            None => match protocol {
                Protocol::HttpProtobuf => format!("http://localhost:4318{}", signal.path()),
                Protocol::Grpc => "http://localhost:4317".to_owned(),
            },
        };

        let headers = match self.first_of(&names("HEADERS"), off).ok()? {
            None => Vec::new(),
            Some((name, value)) => match parse_headers(&value) {
                Ok(headers) => headers,
                Err(entry) => {
                    self.problem(
                        &name,
                        &format!(
                            "must be a list of `key=value` pairs with valid header names and values (entry {entry} is not)"
                        ),
                        off,
                    );
                    return None;
                }
            },
        };

        let gzip = match self.first_of(&names("COMPRESSION"), off).ok()? {
            None => false,
            Some((_, value)) if value.eq_ignore_ascii_case("gzip") => true,
            Some((_, value)) if value.eq_ignore_ascii_case("none") => false,
            Some((name, _)) => {
                self.problem(&name, "must be `gzip` or `none`", off);
                return None;
            }
        };

        let timeout_names = names("TIMEOUT");
        let timeout_name = match self.first_of(&timeout_names, off).ok()? {
            Some((name, _)) => name,
            None => timeout_names[1].clone(),
        };
        let timeout = self.duration_in(&timeout_name, None, &OTLP_TIMEOUT);

        let mut file = |what: &str| -> Result<Option<(String, std::path::PathBuf)>, ()> {
            Ok(self
                .first_of(&names(what), off)?
                .map(|(name, path)| (name, std::path::PathBuf::from(path))))
        };
        let tls = TlsFiles {
            certificate: file("CERTIFICATE").ok()?,
            client_certificate: file("CLIENT_CERTIFICATE").ok()?,
            client_key: file("CLIENT_KEY").ok()?,
        };
        match (&tls.client_certificate, &tls.client_key) {
            (Some((name, _)), None) | (None, Some((name, _))) => {
                self.problem(
                    name,
                    "is set without its pair (mutual TLS needs both `_CLIENT_CERTIFICATE` and `_CLIENT_KEY`)",
                    off,
                );
                return None;
            }
            _ => {}
        }

        Some(Otlp {
            protocol,
            endpoint,
            headers,
            timeout,
            gzip,
            tls,
        })
    }

    /// The sampler from `OTEL_TRACES_SAMPLER` (and `_ARG`), else the config keys; `None`
    /// (the default, `parentbased_always_on`) when unset or unusable.
    fn sampler(&mut self, telemetry: &TelemetrySettings) -> Option<Sampler> {
        const DEFAULT: &str = "using the default `parentbased_always_on`";
        let (setting, name) = match self.text("OTEL_TRACES_SAMPLER", DEFAULT) {
            Some(name) => ("OTEL_TRACES_SAMPLER", name),
            None => (
                "backend.telemetry.traces.sampler",
                telemetry.traces_sampler.clone()?,
            ),
        };
        let sampler = match name.trim().to_ascii_lowercase().as_str() {
            "always_on" => Sampler::AlwaysOn,
            "always_off" => Sampler::AlwaysOff,
            "traceidratio" => Sampler::TraceIdRatio(self.sampler_ratio(telemetry)),
            "parentbased_always_on" => Sampler::ParentBasedAlwaysOn,
            "parentbased_always_off" => Sampler::ParentBasedAlwaysOff,
            "parentbased_traceidratio" => {
                Sampler::ParentBasedTraceIdRatio(self.sampler_ratio(telemetry))
            }
            _ => {
                self.problem(
                    setting,
                    "must be `always_on`, `always_off`, `traceidratio`, `parentbased_always_on`, \
                     `parentbased_always_off` or `parentbased_traceidratio`",
                    DEFAULT,
                );
                return None;
            }
        };
        Some(sampler)
    }

    /// The ratio of a `traceidratio` sampler: `OTEL_TRACES_SAMPLER_ARG`, else
    /// `backend.telemetry.traces.samplerArg`, else 1 (as the specification says).
    fn sampler_ratio(&mut self, telemetry: &TelemetrySettings) -> f64 {
        const EFFECT: &str = "using 1 (every trace)";
        let (setting, ratio) = match self.text("OTEL_TRACES_SAMPLER_ARG", EFFECT) {
            Some(text) => ("OTEL_TRACES_SAMPLER_ARG", text.parse::<f64>().ok()),
            None => match telemetry.traces_sampler_arg {
                Some(ratio) => ("backend.telemetry.traces.samplerArg", Some(ratio)),
                None => return 1.0,
            },
        };
        match ratio {
            Some(ratio) if (0.0..=1.0).contains(&ratio) => ratio,
            _ => {
                self.problem(setting, "must be a number from 0 to 1", EFFECT);
                1.0
            }
        }
    }

    fn propagators(&mut self) -> Vec<Propagator> {
        const NAME: &str = "OTEL_PROPAGATORS";
        let default = vec![Propagator::TraceContext, Propagator::Baggage];
        let Some(list) = self.text(NAME, "using `tracecontext,baggage`") else {
            return default;
        };
        let mut propagators = Vec::new();
        for name in list.split(',').map(|name| name.trim().to_ascii_lowercase()) {
            let propagator = match name.as_str() {
                "tracecontext" => Propagator::TraceContext,
                "baggage" => Propagator::Baggage,
                "none" | "" => continue,
                _ => {
                    self.problem(
                        NAME,
                        "must name `tracecontext`, `baggage` or `none`",
                        "that entry is ignored",
                    );
                    continue;
                }
            };
            if !propagators.contains(&propagator) {
                propagators.push(propagator);
            }
        }
        propagators
    }
}

/// An absolute `http` or `https` URL with a host.
fn is_endpoint(value: &str) -> bool {
    match value.parse::<http::Uri>() {
        Ok(uri) => {
            matches!(uri.scheme_str(), Some("http" | "https"))
                && uri.host().is_some_and(|host| !host.is_empty())
        }
        Err(_) => false,
    }
}

/// `key=value,key2=value2` with percent-encoded values (the OTLP exporter format); the
/// 1-based index of the first bad entry on error.
fn parse_headers(list: &str) -> Result<Vec<(String, String)>, usize> {
    let mut headers = Vec::new();
    for (index, entry) in list.split(',').enumerate() {
        let entry = entry.trim();
        if entry.is_empty() {
            continue;
        }
        let (key, value) = entry.split_once('=').ok_or(index + 1)?;
        let key = key.trim();
        let value = percent_decode(value.trim()).ok_or(index + 1)?;
        if http::HeaderName::from_bytes(key.as_bytes()).is_err()
            || http::HeaderValue::from_str(&value).is_err()
        {
            return Err(index + 1);
        }
        headers.push((key.to_owned(), value));
    }
    Ok(headers)
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            decoded.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            decoded.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(decoded).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "SECRETPASS123";

    fn resolve_with(yaml: &str, vars: &[(&str, OsString)]) -> Settings {
        let config = Config::from_yaml_str("app-config.yaml", yaml).unwrap();
        Settings::resolve(&config, &|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.clone())
        })
    }

    fn resolve(yaml: &str, vars: &[(&str, &str)]) -> Settings {
        let vars: Vec<(&str, OsString)> =
            vars.iter().map(|(k, v)| (*k, OsString::from(v))).collect();
        resolve_with(yaml, &vars)
    }

    /// Settings that must resolve without a problem.
    fn ok(yaml: &str, vars: &[(&str, &str)]) -> Settings {
        let settings = resolve(yaml, vars);
        assert_eq!(settings.problems, [], "{vars:?}");
        settings
    }

    fn prometheus(host: &str, port: u16) -> Exporter {
        Exporter::Prometheus {
            host: host.to_owned(),
            port,
        }
    }

    fn otlp(exporters: &[Exporter]) -> Vec<&Otlp> {
        exporters
            .iter()
            .filter_map(|e| match e {
                Exporter::Otlp(otlp) => Some(otlp),
                _ => None,
            })
            .collect()
    }

    fn protocols(exporters: &[Exporter]) -> Vec<Protocol> {
        otlp(exporters).iter().map(|o| o.protocol).collect()
    }

    /// The settings named by the problems, and a check that no message quotes a value.
    fn problem_settings(settings: &Settings) -> Vec<String> {
        for problem in &settings.problems {
            let message = problem.to_string();
            assert!(!message.contains(SECRET), "{message}");
        }
        settings
            .problems
            .iter()
            .map(|p| p.setting().to_owned())
            .collect()
    }

    #[test]
    fn zero_config_defaults() {
        let settings = ok("", &[]);
        assert!(settings.enabled);
        assert_eq!(settings.metrics, [prometheus("127.0.0.1", 9464)]);
        assert_eq!(settings.traces, []);
        assert_eq!(
            settings.propagators,
            [Propagator::TraceContext, Propagator::Baggage]
        );
        assert_eq!(
            settings.batch,
            Batch {
                max_queue_size: 2048,
                max_export_batch_size: 512,
                scheduled_delay: Duration::from_secs(5)
            }
        );
        assert_eq!(settings.metric_interval, Duration::from_secs(60));
        assert_eq!(settings.shutdown_timeout, Duration::from_secs(5));
        assert_eq!(settings.cardinality_limit, None);
        assert_eq!(
            settings.defaulted,
            [Signal::Traces, Signal::Metrics, Signal::Logs]
        );
    }

    #[test]
    fn an_otlp_endpoint_turns_traces_on_with_the_signal_path() {
        let settings = ok(
            "",
            &[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/")],
        );
        let traces = otlp(&settings.traces);
        assert_eq!(traces.len(), 1);
        assert_eq!(traces[0].endpoint, "http://collector:4318/v1/traces");
        assert_eq!(traces[0].timeout, Duration::from_secs(10));
        // metrics stay on Prometheus unless asked
        assert_eq!(settings.metrics, [prometheus("127.0.0.1", 9464)]);
        // the per-signal variable is used as it is, and wins
        let settings = ok(
            "",
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://general:4318"),
                (
                    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                    "https://traces:443/custom",
                ),
            ],
        );
        assert_eq!(
            otlp(&settings.traces)[0].endpoint,
            "https://traces:443/custom"
        );
        // gRPC takes the endpoint as it is
        let settings = ok(
            "",
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4317"),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ],
        );
        assert_eq!(otlp(&settings.traces)[0].endpoint, "http://collector:4317");
        // the metrics endpoint alone does not turn traces on; blank counts as unset
        assert_eq!(
            ok("", &[("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://x")]).traces,
            []
        );
        assert_eq!(ok("", &[("OTEL_EXPORTER_OTLP_ENDPOINT", " ")]).traces, []);
        // defaults per transport
        let settings = ok(
            "",
            &[
                ("OTEL_TRACES_EXPORTER", "otlp"),
                ("OTEL_METRICS_EXPORTER", "otlp"),
            ],
        );
        assert_eq!(
            otlp(&settings.traces)[0].endpoint,
            "http://localhost:4318/v1/traces"
        );
        assert_eq!(
            otlp(&settings.metrics)[0].endpoint,
            "http://localhost:4318/v1/metrics"
        );
    }

    #[test]
    fn protocols_general_and_per_signal() {
        let vars = [
            ("OTEL_TRACES_EXPORTER", "otlp"),
            ("OTEL_METRICS_EXPORTER", "otlp"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ];
        let settings = ok("", &vars);
        assert_eq!(protocols(&settings.traces), [Protocol::Grpc]);
        assert_eq!(protocols(&settings.metrics), [Protocol::Grpc]);
        let settings = ok(
            "",
            &[
                vars[0],
                vars[1],
                vars[2],
                ("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "http/protobuf"),
            ],
        );
        assert_eq!(protocols(&settings.traces), [Protocol::Grpc]);
        assert_eq!(protocols(&settings.metrics), [Protocol::HttpProtobuf]);
    }

    #[test]
    fn headers_timeout_and_compression_are_read_and_checked() {
        let settings = ok(
            "",
            &[
                ("OTEL_TRACES_EXPORTER", "otlp"),
                (
                    "OTEL_EXPORTER_OTLP_HEADERS",
                    "x-api-key=abc%20def, tenant=a",
                ),
                ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "2500"),
                ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
            ],
        );
        let traces = otlp(&settings.traces)[0];
        assert_eq!(
            traces.headers,
            [
                ("x-api-key".to_owned(), "abc def".to_owned()),
                ("tenant".to_owned(), "a".to_owned())
            ]
        );
        assert_eq!(traces.timeout, Duration::from_millis(2500));
        assert!(traces.gzip);
        // the Debug form shows neither endpoint nor header values
        let debug = format!("{traces:?}");
        assert!(
            !debug.contains("abc") && !debug.contains("localhost"),
            "{debug}"
        );
    }

    /// Each bad setting turns off only the part it belongs to, names the variable, and
    /// never quotes the value.
    #[test]
    fn a_bad_setting_turns_off_only_its_own_exporter() {
        let traces_on = ("OTEL_TRACES_EXPORTER", "otlp");
        let bad_otlp = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "not a url SECRETPASS123"),
            (
                "OTEL_EXPORTER_OTLP_ENDPOINT",
                "http://user:SECRETPASS123@[::1",
            ),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "ftp://SECRETPASS123/"),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "SECRETPASS123"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "bogus"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "SECRETPASS123"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "authorization"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "bad key=SECRETPASS123"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "k=SECRETPASS123%zz"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "zstd-SECRETPASS123"),
        ];
        for (name, value) in bad_otlp {
            let settings = resolve("", &[traces_on, (name, value)]);
            assert_eq!(settings.traces, [], "{name}={value}");
            // Prometheus is untouched
            assert_eq!(settings.metrics, [prometheus("127.0.0.1", 9464)], "{name}");
            // one problem per signal the variable belongs to (a general one: logs too)
            let named = problem_settings(&settings);
            assert!(
                !named.is_empty() && named.iter().all(|s| s == name),
                "{name}={value}: {named:?}"
            );
            assert_eq!(
                settings.problems[0].effect(),
                "trace export over OTLP is off"
            );
        }
        // and the reverse: a bad Prometheus port leaves OTLP traces running
        let settings = resolve(
            "",
            &[
                traces_on,
                ("OTEL_EXPORTER_PROMETHEUS_PORT", "SECRETPASS123"),
            ],
        );
        assert_eq!(settings.metrics, []);
        assert_eq!(protocols(&settings.traces), [Protocol::HttpProtobuf]);
        assert_eq!(
            problem_settings(&settings),
            ["OTEL_EXPORTER_PROMETHEUS_PORT"]
        );
        assert_eq!(
            settings.problems[0].effect(),
            "metrics for Prometheus are off"
        );
        // a bad metrics-only setting leaves traces alone
        let settings = resolve(
            "",
            &[
                traces_on,
                ("OTEL_METRICS_EXPORTER", "otlp,prometheus"),
                ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "SECRETPASS123"),
            ],
        );
        assert_eq!(settings.metrics, [prometheus("127.0.0.1", 9464)]);
        assert_eq!(protocols(&settings.traces), [Protocol::HttpProtobuf]);
        assert_eq!(
            problem_settings(&settings),
            ["OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"]
        );
    }

    #[test]
    fn unknown_list_entries_are_skipped_and_named() {
        let settings = resolve("", &[("OTEL_TRACES_EXPORTER", "zipkin,console")]);
        assert_eq!(settings.traces, [Exporter::Stdout]);
        assert_eq!(problem_settings(&settings), ["OTEL_TRACES_EXPORTER"]);
        assert_eq!(
            settings.problems[0].to_string(),
            "OTEL_TRACES_EXPORTER must name `otlp`, `console` (or `stdout`) or `none`; that entry is ignored"
        );
        // a list that names no exporter at all keeps the signal's default
        let settings = resolve("", &[("OTEL_METRICS_EXPORTER", "statsd")]);
        assert_eq!(settings.metrics, [prometheus("127.0.0.1", 9464)]);
        assert_eq!(problem_settings(&settings), ["OTEL_METRICS_EXPORTER"]);
        assert_eq!(
            settings.problems[0].to_string(),
            "OTEL_METRICS_EXPORTER must name `prometheus`, `otlp`, `console` (or `stdout`) or `none`; using the default `prometheus`"
        );
        let settings = resolve("", &[("OTEL_METRICS_EXPORTER", "statsd,zipkin")]);
        assert_eq!(settings.metrics, [prometheus("127.0.0.1", 9464)]);
        // `none` is a choice, not a typo
        assert_eq!(ok("", &[("OTEL_METRICS_EXPORTER", "none")]).metrics, []);
        let settings = resolve(
            "backend:\n  telemetry:\n    traces:\n      exporter: prometheus\n",
            &[],
        );
        assert_eq!(
            problem_settings(&settings),
            ["backend.telemetry.traces.exporter"]
        );
        let settings = resolve("", &[("OTEL_PROPAGATORS", "b3,tracecontext")]);
        assert_eq!(settings.propagators, [Propagator::TraceContext]);
        assert_eq!(problem_settings(&settings), ["OTEL_PROPAGATORS"]);
        assert_eq!(ok("", &[("OTEL_PROPAGATORS", "none")]).propagators, []);
    }

    #[test]
    fn enumerated_values_are_case_insensitive() {
        let settings = ok(
            "",
            &[
                ("OTEL_METRICS_EXPORTER", "Prometheus,CONSOLE"),
                ("OTEL_TRACES_EXPORTER", "OTLP"),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "GRPC"),
                ("OTEL_EXPORTER_OTLP_COMPRESSION", "Gzip"),
                ("OTEL_PROPAGATORS", "TraceContext"),
                ("OTEL_TRACES_SAMPLER", "ParentBased_TraceIdRatio"),
                ("OTEL_TRACES_SAMPLER_ARG", "0.5"),
            ],
        );
        assert_eq!(
            settings.metrics,
            [prometheus("127.0.0.1", 9464), Exporter::Stdout]
        );
        assert_eq!(protocols(&settings.traces), [Protocol::Grpc]);
        assert!(otlp(&settings.traces)[0].gzip);
        assert_eq!(settings.propagators, [Propagator::TraceContext]);
        assert_eq!(
            settings.sampler,
            Some(Sampler::ParentBasedTraceIdRatio(0.5))
        );
    }

    #[test]
    fn samplers_from_the_variables_or_the_file_checked() {
        for (name, sampler) in [
            ("always_on", Sampler::AlwaysOn),
            ("always_off", Sampler::AlwaysOff),
            ("traceidratio", Sampler::TraceIdRatio(1.0)),
            ("parentbased_always_on", Sampler::ParentBasedAlwaysOn),
            ("parentbased_always_off", Sampler::ParentBasedAlwaysOff),
            (
                "parentbased_traceidratio",
                Sampler::ParentBasedTraceIdRatio(1.0),
            ),
        ] {
            assert_eq!(
                ok("", &[("OTEL_TRACES_SAMPLER", name)]).sampler,
                Some(sampler)
            );
        }
        assert_eq!(ok("", &[]).sampler, None);
        let file = "backend:\n  telemetry:\n    traces:\n      sampler: traceidratio\n      samplerArg: 0.1\n";
        assert_eq!(ok(file, &[]).sampler, Some(Sampler::TraceIdRatio(0.1)));
        // the variables win, each on its own
        assert_eq!(
            ok(file, &[("OTEL_TRACES_SAMPLER_ARG", "0.2")]).sampler,
            Some(Sampler::TraceIdRatio(0.2))
        );
        assert_eq!(
            ok(file, &[("OTEL_TRACES_SAMPLER", "always_off")]).sampler,
            Some(Sampler::AlwaysOff)
        );
        // an unknown sampler keeps the default; a bad ratio means 1; neither is quoted
        let settings = resolve("", &[("OTEL_TRACES_SAMPLER", "jaeger_remote_SECRET")]);
        assert_eq!(settings.sampler, None);
        assert_eq!(problem_settings(&settings), ["OTEL_TRACES_SAMPLER"]);
        assert!(!settings.problems[0].to_string().contains("SECRET"));
        for arg in ["1.5", "-0.1", "NaN", "half"] {
            let settings = resolve(
                "",
                &[
                    ("OTEL_TRACES_SAMPLER", "traceidratio"),
                    ("OTEL_TRACES_SAMPLER_ARG", arg),
                ],
            );
            assert_eq!(settings.sampler, Some(Sampler::TraceIdRatio(1.0)), "{arg}");
            assert_eq!(
                problem_settings(&settings),
                ["OTEL_TRACES_SAMPLER_ARG"],
                "{arg}"
            );
            assert!(!settings.problems[0].to_string().contains(arg), "{arg}");
        }
        let settings = resolve(
            "backend:\n  telemetry:\n    traces:\n      sampler: traceidratio\n      samplerArg: 7\n",
            &[],
        );
        assert_eq!(
            problem_settings(&settings),
            ["backend.telemetry.traces.samplerArg"]
        );
    }

    #[test]
    fn the_retry_budget_is_read_and_clamped() {
        assert_eq!(ok("", &[]).retry_budget, Duration::from_secs(30));
        assert_eq!(
            ok("backend:\n  telemetry:\n    retryBudget: 0\n", &[]).retry_budget,
            Duration::ZERO
        );
        let settings = resolve("", &[("BACKSTAGE_TELEMETRY_RETRY_BUDGET", "86400000")]);
        assert_eq!(settings.retry_budget, Duration::from_secs(300));
        assert_eq!(
            problem_settings(&settings),
            ["BACKSTAGE_TELEMETRY_RETRY_BUDGET"]
        );
        // beyond any integer in the file: clamped too, not fatal
        let settings = resolve(
            "backend:\n  telemetry:\n    retryBudget: 99999999999999999999999\n  metrics:\n    cardinalityLimit: 18446744073709551617\n",
            &[],
        );
        assert_eq!(settings.retry_budget, Duration::from_secs(300));
        assert_eq!(settings.cardinality_limit, Some(100_000));
        let settings = resolve(
            "backend:\n  telemetry:\n    metrics:\n      prometheus: { port: 70000 }\n",
            &[],
        );
        assert_eq!(settings.metrics, []);
        assert_eq!(
            problem_settings(&settings),
            ["backend.telemetry.metrics.prometheus.port"]
        );
    }

    #[test]
    fn bad_span_metric_boundaries_fall_back_to_the_defaults_alone() {
        for bad in ["[1, 0.5]", "[-1, 1]", "[.nan]", "[.inf]", "[1, 1]"] {
            let settings = resolve(
                &format!("backend:\n  tracing:\n    spanMetrics:\n      boundaries: {bad}\n"),
                &[],
            );
            assert_eq!(
                problem_settings(&settings),
                ["backend.tracing.spanMetrics.boundaries"],
                "{bad}"
            );
            let message = settings.problems[0].to_string();
            assert!(message.contains("default boundaries"), "{message}");
            assert!(
                !message.contains("nan") && !message.contains("0.5"),
                "{message}"
            );
            // everything else is still on
            assert!(!settings.metrics.is_empty(), "{bad}");
        }
        let many = (1..=65)
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(", ");
        let settings = resolve(
            &format!("backend:\n  tracing:\n    spanMetrics:\n      boundaries: [{many}]\n"),
            &[],
        );
        assert_eq!(
            problem_settings(&settings),
            ["backend.tracing.spanMetrics.boundaries"]
        );
        let fine = resolve(
            "backend:\n  tracing:\n    spanMetrics:\n      boundaries: [0, 0.5, 2]\n",
            &[],
        );
        assert!(fine.problems.is_empty());
    }

    #[test]
    fn numbers_are_clamped_into_their_range() {
        let settings = resolve(
            "",
            &[
                ("OTEL_BSP_MAX_QUEUE_SIZE", "100000000"),
                ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "0"),
                ("OTEL_BSP_SCHEDULE_DELAY", "0"),
                ("OTEL_METRIC_EXPORT_INTERVAL", "0"),
                ("OTEL_TRACES_EXPORTER", "otlp"),
                ("OTEL_EXPORTER_OTLP_TIMEOUT", "99999999999"),
                ("BACKSTAGE_TELEMETRY_SHUTDOWN_TIMEOUT", "3600000"),
            ],
        );
        assert_eq!(
            settings.batch,
            Batch {
                max_queue_size: 65_536,
                max_export_batch_size: 1,
                scheduled_delay: Duration::from_millis(100)
            }
        );
        assert_eq!(settings.metric_interval, Duration::from_millis(100));
        assert_eq!(otlp(&settings.traces)[0].timeout, Duration::from_secs(300));
        assert_eq!(settings.shutdown_timeout, Duration::from_secs(60));
        assert_eq!(
            problem_settings(&settings),
            [
                "BACKSTAGE_TELEMETRY_SHUTDOWN_TIMEOUT",
                "OTEL_EXPORTER_OTLP_TIMEOUT",
                "OTEL_BSP_MAX_QUEUE_SIZE",
                "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
                "OTEL_BSP_SCHEDULE_DELAY",
                "OTEL_METRIC_EXPORT_INTERVAL",
            ]
        );
        assert_eq!(
            settings.problems[2].to_string(),
            "OTEL_BSP_MAX_QUEUE_SIZE must be from 1 to 65536; using 65536"
        );
        // not a number: the default
        let settings = resolve("", &[("OTEL_BSP_SCHEDULE_DELAY", "SECRETPASS123")]);
        assert_eq!(settings.batch.scheduled_delay, Duration::from_secs(5));
        assert_eq!(
            settings.problems[0].to_string(),
            "OTEL_BSP_SCHEDULE_DELAY must be a whole number from 100 to 3600000 ms; using the default 5000 ms"
        );
        // the batch is never larger than the queue
        assert_eq!(
            ok("", &[("OTEL_BSP_MAX_QUEUE_SIZE", "100")])
                .batch
                .max_export_batch_size,
            100
        );
        // config keys are clamped too, named by their path
        let settings = resolve(
            "backend:\n  metrics:\n    cardinalityLimit: 0\n  telemetry:\n    shutdownTimeout: 1\n",
            &[],
        );
        assert_eq!(settings.cardinality_limit, Some(1));
        assert_eq!(settings.shutdown_timeout, Duration::from_millis(100));
        assert_eq!(
            problem_settings(&settings),
            [
                "backend.telemetry.shutdownTimeout",
                "backend.metrics.cardinalityLimit"
            ]
        );
        let settings = ok(
            "backend:\n  metrics:\n    cardinalityLimit: 50\n  telemetry:\n    shutdownTimeout: 2000\n",
            &[],
        );
        assert_eq!(settings.cardinality_limit, Some(50));
        assert_eq!(settings.shutdown_timeout, Duration::from_secs(2));
        // the variable wins over the key
        let settings = ok(
            "backend:\n  telemetry:\n    shutdownTimeout: 2000\n",
            &[("BACKSTAGE_TELEMETRY_SHUTDOWN_TIMEOUT", "1500")],
        );
        assert_eq!(settings.shutdown_timeout, Duration::from_millis(1500));
    }

    #[cfg(unix)]
    #[test]
    fn values_that_are_not_utf8_are_reported_as_such() {
        use std::os::unix::ffi::OsStringExt;
        let bad = || OsString::from_vec(vec![0x68, 0xff, 0x74]);
        let settings = resolve_with(
            "",
            &[
                ("OTEL_TRACES_EXPORTER", OsString::from("otlp")),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", bad()),
                ("OTEL_BSP_MAX_QUEUE_SIZE", bad()),
            ],
        );
        assert_eq!(settings.traces, []);
        assert_eq!(settings.batch.max_queue_size, 2048);
        assert_eq!(settings.metrics, [prometheus("127.0.0.1", 9464)]);
        let messages: Vec<String> = settings.problems.iter().map(ToString::to_string).collect();
        assert_eq!(
            messages,
            [
                "OTEL_EXPORTER_OTLP_ENDPOINT is not valid UTF-8; trace export over OTLP is off",
                "OTEL_EXPORTER_OTLP_ENDPOINT is not valid UTF-8; log export over OTLP is off",
                "OTEL_BSP_MAX_QUEUE_SIZE is not valid UTF-8; using the default 2048",
            ]
        );
        let settings = resolve_with("", &[("OTEL_SDK_DISABLED", bad())]);
        assert!(settings.enabled);
        assert_eq!(problem_settings(&settings), ["OTEL_SDK_DISABLED"]);
    }

    #[test]
    fn logs_follow_the_same_rules_as_traces() {
        // off unless an endpoint is set or asked for
        assert_eq!(ok("", &[]).logs, []);
        let settings = ok(
            "",
            &[(
                "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
                "http://collector:4318/custom/logs",
            )],
        );
        assert_eq!(
            otlp(&settings.logs)[0].endpoint,
            "http://collector:4318/custom/logs"
        );
        assert_eq!(
            settings.traces,
            [],
            "the logs endpoint alone turns on logs only"
        );
        let settings = ok(
            "",
            &[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")],
        );
        assert_eq!(
            otlp(&settings.logs)[0].endpoint,
            "http://collector:4318/v1/logs"
        );
        assert_eq!(
            ok("", &[("OTEL_LOGS_EXPORTER", "console")]).logs,
            [Exporter::Stdout]
        );
        assert_eq!(
            ok(
                "backend:\n  telemetry:\n    logs:\n      exporter: stdout\n",
                &[]
            )
            .logs,
            [Exporter::Stdout]
        );
        let settings = resolve("", &[("OTEL_LOGS_EXPORTER", "loki")]);
        assert_eq!(problem_settings(&settings), ["OTEL_LOGS_EXPORTER"]);
        // the log record queue is bounded like the span queue, with a 1 s default delay
        assert_eq!(
            ok("", &[]).log_batch.scheduled_delay,
            Duration::from_secs(1)
        );
        let settings = resolve(
            "",
            &[
                ("OTEL_BLRP_MAX_QUEUE_SIZE", "100000000"),
                ("OTEL_BLRP_SCHEDULE_DELAY", "0"),
            ],
        );
        assert_eq!(settings.log_batch.max_queue_size, 65_536);
        assert_eq!(
            settings.log_batch.scheduled_delay,
            Duration::from_millis(100)
        );
        assert_eq!(
            problem_settings(&settings),
            ["OTEL_BLRP_MAX_QUEUE_SIZE", "OTEL_BLRP_SCHEDULE_DELAY"]
        );
    }

    #[test]
    fn grpc_endpoints_without_a_scheme_use_tls_unless_insecure() {
        let grpc = |extra: &[(&str, &str)]| {
            let mut vars = vec![
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317"),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ];
            vars.extend_from_slice(extra);
            resolve("", &vars)
        };
        assert_eq!(
            otlp(&grpc(&[]).traces)[0].endpoint,
            "https://collector:4317"
        );
        assert_eq!(
            otlp(&grpc(&[("OTEL_EXPORTER_OTLP_INSECURE", "true")]).traces)[0].endpoint,
            "http://collector:4317"
        );
        assert_eq!(
            otlp(&grpc(&[("OTEL_EXPORTER_OTLP_TRACES_INSECURE", "TRUE")]).traces)[0].endpoint,
            "http://collector:4317"
        );
        // (traces and logs each report it)
        let settings = grpc(&[("OTEL_EXPORTER_OTLP_INSECURE", "SECRETPASS123")]);
        assert_eq!(settings.traces, []);
        assert_eq!(
            problem_settings(&settings),
            ["OTEL_EXPORTER_OTLP_INSECURE", "OTEL_EXPORTER_OTLP_INSECURE"]
        );
        // http/protobuf needs the scheme
        let settings = resolve(
            "",
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318"),
                ("OTEL_LOGS_EXPORTER", "none"),
            ],
        );
        assert_eq!(problem_settings(&settings), ["OTEL_EXPORTER_OTLP_ENDPOINT"]);
    }

    #[test]
    fn certificate_files_are_named_per_signal() {
        let settings = ok(
            "",
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://collector:4318"),
                ("OTEL_EXPORTER_OTLP_CERTIFICATE", "/etc/ca.pem"),
                (
                    "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE",
                    "/etc/client.pem",
                ),
                ("OTEL_EXPORTER_OTLP_CLIENT_KEY", "/etc/client-key.pem"),
                ("OTEL_LOGS_EXPORTER", "none"),
            ],
        );
        let tls = &otlp(&settings.traces)[0].tls;
        assert_eq!(
            tls.certificate,
            Some((
                "OTEL_EXPORTER_OTLP_CERTIFICATE".to_owned(),
                "/etc/ca.pem".into()
            ))
        );
        assert_eq!(
            tls.client_certificate,
            Some((
                "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE".to_owned(),
                "/etc/client.pem".into()
            ))
        );
        assert_eq!(
            tls.client_key,
            Some((
                "OTEL_EXPORTER_OTLP_CLIENT_KEY".to_owned(),
                "/etc/client-key.pem".into()
            ))
        );
        // a key without its certificate (for logs only) turns off only logs
        let settings = resolve(
            "",
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://collector:4318"),
                ("OTEL_EXPORTER_OTLP_LOGS_CLIENT_KEY", "/etc/client-key.pem"),
            ],
        );
        assert_eq!(settings.logs, []);
        assert_eq!(otlp(&settings.traces).len(), 1);
        assert_eq!(
            problem_settings(&settings),
            ["OTEL_EXPORTER_OTLP_LOGS_CLIENT_KEY"]
        );
    }

    #[test]
    fn exporter_variables_win_over_the_file() {
        let yaml = "backend:\n  telemetry:\n    metrics:\n      exporter: stdout\n    traces:\n      exporter: stdout\n";
        let from_file = ok(yaml, &[]);
        assert_eq!(from_file.metrics, [Exporter::Stdout]);
        assert_eq!(from_file.traces, [Exporter::Stdout]);
        let from_env = ok(
            yaml,
            &[
                ("OTEL_METRICS_EXPORTER", "prometheus,otlp"),
                ("OTEL_TRACES_EXPORTER", "none"),
            ],
        );
        assert_eq!(from_env.metrics[0], prometheus("127.0.0.1", 9464));
        assert_eq!(protocols(&from_env.metrics), [Protocol::HttpProtobuf]);
        assert_eq!(from_env.traces, []);
        assert_eq!(
            ok("", &[("OTEL_TRACES_EXPORTER", "console,console")]).traces,
            [Exporter::Stdout]
        );
        // what the operator named is not a default a telemetry module may replace; a list
        // naming nothing known is
        assert_eq!(from_file.defaulted, [Signal::Logs]);
        assert_eq!(from_env.defaulted, [Signal::Logs]);
        let typo = resolve("", &[("OTEL_METRICS_EXPORTER", "promethues")]);
        assert_eq!(typo.metrics, [prometheus("127.0.0.1", 9464)]);
        assert_eq!(
            typo.defaulted,
            [Signal::Traces, Signal::Metrics, Signal::Logs]
        );
    }

    #[test]
    fn prometheus_address_from_file_then_variables() {
        let yaml = "backend:\n  telemetry:\n    metrics:\n      prometheus:\n        host: 0.0.0.0\n        port: 9000\n";
        assert_eq!(ok(yaml, &[]).metrics, [prometheus("0.0.0.0", 9000)]);
        assert_eq!(
            ok(yaml, &[("OTEL_EXPORTER_PROMETHEUS_HOST", "localhost")]).metrics,
            [prometheus("localhost", 9000)]
        );
        assert_eq!(
            ok(yaml, &[("OTEL_EXPORTER_PROMETHEUS_PORT", "9100")]).metrics,
            [prometheus("0.0.0.0", 9100)]
        );
        assert_eq!(
            resolve("", &[("OTEL_EXPORTER_PROMETHEUS_PORT", "70000")]).metrics,
            []
        );
    }

    #[test]
    fn disabled_by_variable_or_file() {
        assert!(!ok("", &[("OTEL_SDK_DISABLED", "true")]).enabled);
        assert!(!ok("", &[("OTEL_SDK_DISABLED", "TRUE")]).enabled);
        let disabled = "backend:\n  telemetry:\n    enabled: false\n";
        assert!(!ok(disabled, &[]).enabled);
        // the variable wins in both directions
        assert!(ok(disabled, &[("OTEL_SDK_DISABLED", "false")]).enabled);
        // disabled means no exporter is checked or installed
        let settings = ok(
            "",
            &[
                ("OTEL_SDK_DISABLED", "true"),
                ("OTEL_TRACES_EXPORTER", "bogus"),
            ],
        );
        assert_eq!(settings.traces, []);
        // anything but true/false is reported and leaves telemetry on
        let settings = resolve("", &[("OTEL_SDK_DISABLED", "yes")]);
        assert!(settings.enabled);
        assert_eq!(problem_settings(&settings), ["OTEL_SDK_DISABLED"]);
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    const VARIABLES: &[&str] = &[
        "OTEL_SDK_DISABLED",
        "OTEL_TRACES_EXPORTER",
        "OTEL_METRICS_EXPORTER",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        "OTEL_EXPORTER_OTLP_HEADERS",
        "OTEL_EXPORTER_OTLP_TIMEOUT",
        "OTEL_EXPORTER_OTLP_COMPRESSION",
        "OTEL_EXPORTER_PROMETHEUS_HOST",
        "OTEL_EXPORTER_PROMETHEUS_PORT",
        "OTEL_BSP_MAX_QUEUE_SIZE",
        "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
        "OTEL_BSP_SCHEDULE_DELAY",
        "OTEL_METRIC_EXPORT_INTERVAL",
        "OTEL_PROPAGATORS",
        "BACKSTAGE_TELEMETRY_SHUTDOWN_TIMEOUT",
    ];

    proptest! {
        /// Any values at all: resolving never panics, every number lands in its range, and
        /// no problem quotes a value (each carries the marker `Zq9`).
        #[test]
        fn any_environment_resolves_within_bounds(values in proptest::collection::vec(
            prop_oneof![
                "Zq9[ -~]{0,30}",
                "[0-9]{1,25}",
                "(otlp|console|none|prometheus|grpc|http/protobuf|gzip|true|false)(,Zq9[a-z]{0,4})?",
                "https?://Zq9[a-z:@\\[\\]/]{0,20}",
            ],
            VARIABLES.len(),
        )) {
            let config = Config::default();
            let settings = Settings::resolve(&config, &|name| {
                VARIABLES
                    .iter()
                    .position(|v| *v == name)
                    .map(|i| OsString::from(&values[i]))
            });
            for problem in &settings.problems {
                prop_assert!(!problem.to_string().contains("Zq9"), "{problem}");
            }
            prop_assert!(QUEUE_SIZE.range.contains(&(settings.batch.max_queue_size as u64)));
            prop_assert!(settings.batch.max_export_batch_size <= settings.batch.max_queue_size);
            prop_assert!(settings.batch.scheduled_delay >= Duration::from_millis(100));
            prop_assert!(settings.metric_interval >= Duration::from_millis(100) || !settings.enabled);
            prop_assert!(settings.shutdown_timeout <= Duration::from_secs(60));
            for exporter in settings.traces.iter().chain(&settings.metrics) {
                if let Exporter::Otlp(otlp) = exporter {
                    prop_assert!(otlp.timeout <= Duration::from_secs(300));
                    prop_assert!(is_endpoint(&otlp.endpoint));
                }
            }
        }

        /// Any YAML at all: loading never panics, and an error never quotes the text.
        #[test]
        fn any_config_text_loads_or_fails_without_quoting_it(
            text in "(backend:\n  (metrics|telemetry|tracing):\n    [a-zA-Z]{1,12}: )?[ -~\n]{0,60}Zq9[ -~\n]{0,20}"
        ) {
            if let Err(error) = Config::from_yaml_str("app-config.yaml", &text) {
                let message = error.to_string();
                prop_assert!(!message.contains("Zq9"), "{message}");
                prop_assert!(message.starts_with("app-config.yaml:"), "{message}");
            }
        }
    }
}
