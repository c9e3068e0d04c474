//! Why configuration could not be loaded.

use std::fmt;
use std::path::PathBuf;

/// Why configuration could not be loaded. Messages name the file, line and key path but
/// never a value. `Debug` prints the same message, so `main` returning
/// `Result<(), ConfigError>` says `Error: app-config.yaml:4:16: ...`.
#[non_exhaustive]
pub enum ConfigError {
    /// A file could not be read.
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file is not well-formed YAML.
    Syntax {
        /// The file.
        source: String,
        /// Where the parser stopped (1-based), if known.
        line: u32,
        /// Column (1-based), if known.
        column: u32,
        /// What is wrong, such as `repeats a key of the same mapping`.
        reason: &'static str,
    },
    /// A key has a value of the wrong type.
    WrongType {
        /// The file the value came from.
        source: String,
        /// Its line (1-based).
        line: u32,
        /// Its column (1-based).
        column: u32,
        /// The dotted key path, such as `backend.metrics.serviceName`.
        key: String,
        /// What was expected, such as `a string`.
        expected: &'static str,
    },
    /// A key read with [`Config::get`](super::Config::get) is not set in any file.
    Missing {
        /// The dotted key path, such as `billing.taxRate`.
        key: String,
    },
    /// A key read with [`Config::get`](super::Config::get) does not read as the type asked
    /// for.
    Invalid {
        /// The file the value came from.
        source: String,
        /// Its line (1-based).
        line: u32,
        /// Its column (1-based).
        column: u32,
        /// The dotted key path, with list indexes (`billing.plans[1].price`).
        key: String,
        /// What is wrong, such as `must be a number`; never the value.
        reason: String,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Read { path, source } => {
                write!(f, "cannot read config file {}: {source}", path.display())
            }
            ConfigError::Syntax {
                source,
                line,
                column,
                reason,
            } => write!(f, "{source}:{line}:{column}: {reason}"),
            ConfigError::WrongType {
                source,
                line,
                column,
                key,
                expected,
            } => {
                let key = if key.is_empty() { "the document" } else { key };
                write!(f, "{source}:{line}:{column}: `{key}` must be {expected}")
            }
            ConfigError::Missing { key } => {
                write!(f, "`{key}` is not set in the app-config")
            }
            ConfigError::Invalid {
                source,
                line,
                column,
                key,
                reason,
            } => write!(f, "{source}:{line}:{column}: `{key}` {reason}"),
        }
    }
}

/// The message, as `Display` gives it (the fields are there to match on).
impl fmt::Debug for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl std::error::Error for ConfigError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConfigError::Read { source, .. } => Some(source),
            _ => None,
        }
    }
}
