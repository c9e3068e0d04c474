//! What `init` installs: the app-config's `backend.telemetry` and the OpenTelemetry
//! environment variables, resolved once. Variables win over the file.

use std::fmt;

use super::InitError;
use crate::config::Config;

/// The resolved set-up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Settings {
    /// False: install nothing.
    pub enabled: bool,
    pub traces: Vec<Exporter>,
    pub metrics: Vec<Exporter>,
    pub propagators: Vec<Propagator>,
}

/// Where a signal goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Exporter {
    Otlp(Protocol),
    Prometheus { host: String, port: u16 },
    Stdout,
}

/// The OTLP transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Protocol {
    HttpProtobuf,
    Grpc,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Propagator {
    TraceContext,
    Baggage,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Signal {
    Traces,
    Metrics,
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Signal::Traces => "TRACES",
            Signal::Metrics => "METRICS",
        })
    }
}

pub(crate) const DEFAULT_PROMETHEUS_HOST: &str = "127.0.0.1";
pub(crate) const DEFAULT_PROMETHEUS_PORT: u16 = 9464;

impl Settings {
    /// Resolves `config` against the environment `env` (a lookup, so tests need not touch
    /// the process environment).
    pub fn resolve(
        config: &Config,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, InitError> {
        let var = |name: &str| {
            env(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let telemetry = config.telemetry();
        let disabled = match var("OTEL_SDK_DISABLED") {
            Some(value) => value.eq_ignore_ascii_case("true"),
            None => telemetry.enabled == Some(false),
        };
        if disabled {
            return Ok(Settings {
                enabled: false,
                traces: Vec::new(),
                metrics: Vec::new(),
                propagators: Vec::new(),
            });
        }
        let protocol = |signal: Signal| -> Result<Protocol, InitError> {
            let name = format!("OTEL_EXPORTER_OTLP_{signal}_PROTOCOL");
            let (source, value) = match var(&name) {
                Some(value) => (name, value),
                None => match var("OTEL_EXPORTER_OTLP_PROTOCOL") {
                    Some(value) => ("OTEL_EXPORTER_OTLP_PROTOCOL".to_owned(), value),
                    None => return Ok(Protocol::HttpProtobuf),
                },
            };
            match value.as_str() {
                "http/protobuf" => Ok(Protocol::HttpProtobuf),
                "grpc" => Ok(Protocol::Grpc),
                _ => Err(InitError::Invalid {
                    source,
                    expected: "`http/protobuf` or `grpc`",
                }),
            }
        };
        let prometheus = || -> Result<Exporter, InitError> {
            let host = var("OTEL_EXPORTER_PROMETHEUS_HOST")
                .or_else(|| telemetry.prometheus_host.clone())
                .unwrap_or_else(|| DEFAULT_PROMETHEUS_HOST.to_owned());
            let port = match var("OTEL_EXPORTER_PROMETHEUS_PORT") {
                Some(port) => port.parse().map_err(|_| InitError::Invalid {
                    source: "OTEL_EXPORTER_PROMETHEUS_PORT".to_owned(),
                    expected: "a port number from 0 to 65535",
                })?,
                None => telemetry.prometheus_port.unwrap_or(DEFAULT_PROMETHEUS_PORT),
            };
            Ok(Exporter::Prometheus { host, port })
        };

        let endpoint_set = |signal: Signal| {
            var("OTEL_EXPORTER_OTLP_ENDPOINT").is_some()
                || var(&format!("OTEL_EXPORTER_OTLP_{signal}_ENDPOINT")).is_some()
        };
        let traces = exporters(
            Signal::Traces,
            var("OTEL_TRACES_EXPORTER"),
            telemetry.traces_exporter.clone(),
            if endpoint_set(Signal::Traces) {
                "otlp"
            } else {
                "none"
            },
            |name| match name {
                "otlp" => Ok(Some(Exporter::Otlp(protocol(Signal::Traces)?))),
                "console" | "stdout" => Ok(Some(Exporter::Stdout)),
                "none" => Ok(None),
                _ => Err(InitErrorOrUnknown::Unknown),
            },
        )?;
        let metrics = exporters(
            Signal::Metrics,
            var("OTEL_METRICS_EXPORTER"),
            telemetry.metrics_exporter.clone(),
            "prometheus",
            |name| match name {
                "prometheus" => Ok(Some(prometheus()?)),
                "otlp" => Ok(Some(Exporter::Otlp(protocol(Signal::Metrics)?))),
                "console" | "stdout" => Ok(Some(Exporter::Stdout)),
                "none" => Ok(None),
                _ => Err(InitErrorOrUnknown::Unknown),
            },
        )?;
        let propagators = match var("OTEL_PROPAGATORS") {
            None => vec![Propagator::TraceContext, Propagator::Baggage],
            Some(list) => {
                let mut propagators = Vec::new();
                for name in list.split(',').map(str::trim) {
                    match name {
                        "tracecontext" => propagators.push(Propagator::TraceContext),
                        "baggage" => propagators.push(Propagator::Baggage),
                        "none" => {}
                        _ => {
                            return Err(InitError::Invalid {
                                source: "OTEL_PROPAGATORS".to_owned(),
                                expected: "a list of `tracecontext`, `baggage` or `none`",
                            });
                        }
                    }
                }
                propagators
            }
        };
        Ok(Settings {
            enabled: true,
            traces,
            metrics,
            propagators,
        })
    }
}

/// The exporters of one signal: from `OTEL_{signal}_EXPORTER` (a comma-separated list), else
/// the config key, else `default`.
fn exporters(
    signal: Signal,
    from_env: Option<String>,
    from_config: Option<String>,
    default: &str,
    make: impl Fn(&str) -> Result<Option<Exporter>, InitErrorOrUnknown>,
) -> Result<Vec<Exporter>, InitError> {
    let variable = format!("OTEL_{signal}_EXPORTER");
    let config_key = match signal {
        Signal::Traces => "backend.telemetry.traces.exporter",
        Signal::Metrics => "backend.telemetry.metrics.exporter",
    };
    let expected = match signal {
        Signal::Traces => "`otlp`, `console` (or `stdout`) or `none`",
        Signal::Metrics => "`prometheus`, `otlp`, `console` (or `stdout`) or `none`",
    };
    let (source, list) = match (from_env, from_config) {
        (Some(list), _) => (variable, list),
        (None, Some(name)) => (config_key.to_owned(), name),
        (None, None) => (String::new(), default.to_owned()),
    };
    let mut exporters = Vec::new();
    for name in list.split(',').map(str::trim) {
        match make(name) {
            Ok(Some(exporter)) if !exporters.contains(&exporter) => exporters.push(exporter),
            Ok(_) => {}
            Err(InitErrorOrUnknown::Init(error)) => return Err(error),
            Err(InitErrorOrUnknown::Unknown) => {
                return Err(InitError::Invalid {
                    source: source.clone(),
                    expected,
                });
            }
        }
    }
    Ok(exporters)
}

/// An exporter name that is not known, or an error resolving a known one.
enum InitErrorOrUnknown {
    Init(InitError),
    Unknown,
}

impl From<InitError> for InitErrorOrUnknown {
    fn from(error: InitError) -> Self {
        InitErrorOrUnknown::Init(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(yaml: &str, vars: &[(&str, &str)]) -> Result<Settings, InitError> {
        let config = Config::from_yaml_str("app-config.yaml", yaml).unwrap();
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Settings::resolve(&config, &|name| {
            vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })
    }

    fn ok(yaml: &str, vars: &[(&str, &str)]) -> Settings {
        resolve(yaml, vars).unwrap()
    }

    fn prometheus(host: &str, port: u16) -> Exporter {
        Exporter::Prometheus {
            host: host.to_owned(),
            port,
        }
    }

    fn invalid(yaml: &str, vars: &[(&str, &str)]) -> String {
        match resolve(yaml, vars) {
            Err(InitError::Invalid { source, .. }) => source,
            other => panic!("expected an invalid-setting error, got {other:?}"),
        }
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
    }

    #[test]
    fn an_otlp_endpoint_turns_traces_on() {
        for var in [
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        ] {
            let settings = ok("", &[(var, "http://127.0.0.1:4318")]);
            assert_eq!(
                settings.traces,
                [Exporter::Otlp(Protocol::HttpProtobuf)],
                "{var}"
            );
            // metrics stay on Prometheus unless asked
            assert_eq!(settings.metrics, [prometheus("127.0.0.1", 9464)], "{var}");
        }
        // the metrics endpoint alone does not
        assert_eq!(
            ok("", &[("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "http://x")]).traces,
            []
        );
        // blank values count as unset
        assert_eq!(ok("", &[("OTEL_EXPORTER_OTLP_ENDPOINT", " ")]).traces, []);
    }

    #[test]
    fn protocols_general_and_per_signal() {
        let vars = [
            ("OTEL_TRACES_EXPORTER", "otlp"),
            ("OTEL_METRICS_EXPORTER", "otlp"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
        ];
        let settings = ok("", &vars);
        assert_eq!(settings.traces, [Exporter::Otlp(Protocol::Grpc)]);
        assert_eq!(settings.metrics, [Exporter::Otlp(Protocol::Grpc)]);
        let settings = ok(
            "",
            &[
                vars[0],
                vars[1],
                vars[2],
                ("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "http/protobuf"),
            ],
        );
        assert_eq!(settings.traces, [Exporter::Otlp(Protocol::Grpc)]);
        assert_eq!(settings.metrics, [Exporter::Otlp(Protocol::HttpProtobuf)]);
        let settings = ok(
            "",
            &[vars[0], ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc")],
        );
        assert_eq!(settings.traces, [Exporter::Otlp(Protocol::Grpc)]);
        assert_eq!(
            invalid("", &[vars[0], ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")]),
            "OTEL_EXPORTER_OTLP_PROTOCOL"
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
        assert_eq!(
            from_env.metrics,
            [
                prometheus("127.0.0.1", 9464),
                Exporter::Otlp(Protocol::HttpProtobuf)
            ]
        );
        assert_eq!(from_env.traces, []);
        assert_eq!(
            ok("", &[("OTEL_TRACES_EXPORTER", "console,otlp,console")]).traces,
            [Exporter::Stdout, Exporter::Otlp(Protocol::HttpProtobuf)]
        );
        assert_eq!(ok("", &[("OTEL_METRICS_EXPORTER", "none")]).metrics, []);
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
            invalid("", &[("OTEL_EXPORTER_PROMETHEUS_PORT", "ninety")]),
            "OTEL_EXPORTER_PROMETHEUS_PORT"
        );
        assert_eq!(
            invalid("", &[("OTEL_EXPORTER_PROMETHEUS_PORT", "70000")]),
            "OTEL_EXPORTER_PROMETHEUS_PORT"
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
        assert!(ok("", &[("OTEL_SDK_DISABLED", "false")]).enabled);
        // disabled means nothing is checked or installed
        assert_eq!(
            ok(
                "",
                &[
                    ("OTEL_SDK_DISABLED", "true"),
                    ("OTEL_TRACES_EXPORTER", "bogus")
                ]
            )
            .traces,
            []
        );
    }

    #[test]
    fn propagators() {
        assert_eq!(
            ok("", &[("OTEL_PROPAGATORS", "tracecontext")]).propagators,
            [Propagator::TraceContext]
        );
        assert_eq!(ok("", &[("OTEL_PROPAGATORS", "none")]).propagators, []);
        assert_eq!(
            invalid("", &[("OTEL_PROPAGATORS", "b3")]),
            "OTEL_PROPAGATORS"
        );
    }

    #[test]
    fn unknown_exporters_are_errors_naming_where_they_came_from() {
        assert_eq!(
            invalid("", &[("OTEL_TRACES_EXPORTER", "zipkin")]),
            "OTEL_TRACES_EXPORTER"
        );
        assert_eq!(
            invalid("", &[("OTEL_METRICS_EXPORTER", "statsd")]),
            "OTEL_METRICS_EXPORTER"
        );
        assert_eq!(
            invalid(
                "backend:\n  telemetry:\n    traces:\n      exporter: prometheus\n",
                &[]
            ),
            "backend.telemetry.traces.exporter"
        );
        let message = resolve("", &[("OTEL_TRACES_EXPORTER", "secret-value")])
            .unwrap_err()
            .to_string();
        assert_eq!(
            message,
            "telemetry set-up: OTEL_TRACES_EXPORTER must be `otlp`, `console` (or `stdout`) or `none`"
        );
    }
}
