//! What `init` could not use: one [`SetupProblem`] per rejected or clamped setting, and the
//! [`InitError`] of [`init_strict`](super::init_strict).

use std::fmt;

/// A setting that [`init`](super::init) could not use as given, and what it did instead:
/// turned off the one part the setting belongs to, or clamped the value into its range.
/// The message names the variable or config key, never its value.
///
/// ```
/// let config = backstage_telemetry::Config::from_yaml_str(
///     "app-config.yaml",
///     "backend:\n  telemetry:\n    metrics:\n      exporter: none\n    traces:\n      exporter: zipkin\n",
/// )?;
/// let telemetry = backstage_telemetry::init(&config);
/// let problem = &telemetry.problems()[0];
/// assert_eq!(problem.setting(), "backend.telemetry.traces.exporter");
/// assert_eq!(
///     problem.to_string(),
///     "backend.telemetry.traces.exporter must name `otlp`, `console` (or `stdout`) or `none`; \
///      using the default `none`",
/// );
/// # Ok::<(), backstage_telemetry::ConfigError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetupProblem {
    setting: String,
    problem: String,
    effect: String,
}

impl SetupProblem {
    pub(crate) fn new(
        setting: impl Into<String>,
        problem: impl Into<String>,
        effect: impl Into<String>,
    ) -> Self {
        SetupProblem {
            setting: setting.into(),
            problem: problem.into(),
            effect: effect.into(),
        }
    }

    /// The variable or config key (or, for a server that could not start, the part).
    pub fn setting(&self) -> &str {
        &self.setting
    }

    /// What `init` did instead, such as `trace export over OTLP is off` or `using 65536`.
    pub fn effect(&self) -> &str {
        &self.effect
    }
}

impl fmt::Display for SetupProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}; {}", self.setting, self.problem, self.effect)
    }
}

impl std::error::Error for SetupProblem {}

/// Why [`init_strict`](super::init_strict) refused: every problem [`init`](super::init)
/// would have worked around. Nothing stays installed.
#[derive(Debug)]
pub struct InitError {
    problems: Vec<SetupProblem>,
}

impl InitError {
    pub(crate) fn new(problems: Vec<SetupProblem>) -> Self {
        InitError { problems }
    }

    /// The problems, in the order they were found.
    pub fn problems(&self) -> &[SetupProblem] {
        &self.problems
    }
}

impl fmt::Display for InitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("telemetry set-up: ")?;
        for (i, problem) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{} {}", problem.setting, problem.problem)?;
        }
        Ok(())
    }
}

impl std::error::Error for InitError {}
