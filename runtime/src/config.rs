//! The app-config (docs/design.md, "Configuration"): one or more YAML files, merged, read into typed settings.
//!
//! Later files win: mappings merge key by key, anything else is replaced. Keys this crate
//! does not use are ignored, since the rest of the backend's configuration lives in the
//! same files. Every setting is checked when the files are loaded, so a wrong type is
//! reported at start-up with the file, line and key path, and never with the value (values
//! may be secrets).
//!
//! ```
//! use backstage_telemetry::Config;
//!
//! let config = Config::from_yaml_sources([
//!     ("app-config.yaml", "backend:\n  metrics:\n    serviceName: portal\n"),
//!     ("app-config.production.yaml", "backend:\n  metrics:\n    serviceVersion: 1.2.3\n"),
//! ])
//! .unwrap();
//! assert_eq!(config.service_name(), "portal");
//! assert_eq!(config.service_version(), Some("1.2.3"));
//!
//! let err = Config::from_yaml_str("app-config.yaml", "backend:\n  tracing:\n    capture:\n      endUser: maybe\n").unwrap_err();
//! assert_eq!(err.to_string(), "app-config.yaml:4:16: `backend.tracing.capture.endUser` must be a boolean (true or false)");
//! ```

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use opentelemetry::InstrumentationScope;

use crate::naming::{Scope, ScopeKind};

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// The default `backend.metrics.serviceName`.
pub const DEFAULT_SERVICE_NAME: &str = "backstage";

/// The settings of this crate, read from app-config files.
///
/// `Config::default()` is the configuration of an empty file: every default applies.
#[derive(Clone, Debug, Default)]
pub struct Config {
    service_name: Option<String>,
    service_version: Option<String>,
    meters: BTreeMap<String, ScopeOverride>,
    tracers: BTreeMap<String, ScopeOverride>,
    capture_end_user: bool,
    cardinality_limit: Option<u64>,
    telemetry: TelemetrySettings,
}

/// `backend.telemetry`: how `init` sets up the SDK. Every key is optional; `OTEL_*`
/// environment variables win over these.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TelemetrySettings {
    /// `enabled` (default true).
    pub enabled: Option<bool>,
    /// `metrics.exporter`: `prometheus` (default), `otlp`, `stdout` or `none`.
    pub metrics_exporter: Option<String>,
    /// `metrics.prometheus.host` (default `127.0.0.1`).
    pub prometheus_host: Option<String>,
    /// `metrics.prometheus.port` (default 9464).
    pub prometheus_port: Option<u16>,
    /// `traces.exporter`: `otlp`, `stdout` or `none` (default: `otlp` when an OTLP endpoint
    /// variable is set, else `none`).
    pub traces_exporter: Option<String>,
    /// `logs.exporter`: `otlp`, `stdout` or `none` (default: `otlp` when an OTLP endpoint
    /// variable is set, else `none`); used when the application installs the log layer.
    pub logs_exporter: Option<String>,
    /// `shutdownTimeout`: milliseconds that flushing at shutdown may take in all (default
    /// 5000; range-checked by `init`).
    pub shutdown_timeout_ms: Option<u64>,
}

/// An operator's override of a plugin's instrumentation scope
/// (`backend.metrics.plugin.{id}.meter` or `backend.tracing.plugin.{id}.tracer`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ScopeOverride {
    /// Replaces the default name `backstage-plugin-{id}`.
    pub name: Option<String>,
    /// The scope's version.
    pub version: Option<String>,
    /// The scope's schema URL.
    pub schema_url: Option<String>,
}

impl Config {
    /// Loads and merges app-config files in order; later files win.
    ///
    /// ```no_run
    /// let config = backstage_telemetry::Config::load(["app-config.yaml", "app-config.local.yaml"])?;
    /// # Ok::<(), backstage_telemetry::ConfigError>(())
    /// ```
    pub fn load<P: AsRef<Path>>(paths: impl IntoIterator<Item = P>) -> Result<Self, ConfigError> {
        let mut merged = Node::empty_map();
        for path in paths {
            let path = path.as_ref();
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_path_buf(),
                source,
            })?;
            merged.merge(parse(&path.display().to_string(), &text)?);
        }
        Self::from_tree(&merged)
    }

    /// Reads one YAML document; `source` names it in errors.
    pub fn from_yaml_str(source: &str, yaml: &str) -> Result<Self, ConfigError> {
        Self::from_yaml_sources([(source, yaml)])
    }

    /// Reads and merges YAML documents in order, each named for errors; later ones win.
    pub fn from_yaml_sources<'a>(
        sources: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, ConfigError> {
        let mut merged = Node::empty_map();
        for (source, yaml) in sources {
            merged.merge(parse(source, yaml)?);
        }
        Self::from_tree(&merged)
    }

    /// `backend.metrics.serviceName`, default `backstage`: names the root meter and the
    /// `service.name` resource. It never changes metric names.
    pub fn service_name(&self) -> &str {
        self.service_name.as_deref().unwrap_or(DEFAULT_SERVICE_NAME)
    }

    /// The `service.name` telemetry reports: `OTEL_SERVICE_NAME`, else `service.name` in
    /// `OTEL_RESOURCE_ATTRIBUTES`, else [`service_name`](Self::service_name). The exported
    /// resource and the JSON logs both use this.
    ///
    /// ```
    /// let config = backstage_telemetry::Config::default();
    /// let env = |name: &str| match name {
    ///     "OTEL_SERVICE_NAME" => Some("portal".to_owned()),
    ///     "OTEL_RESOURCE_ATTRIBUTES" => Some("service.name=other,team=a".to_owned()),
    ///     _ => None,
    /// };
    /// assert_eq!(config.reported_service_name(&env), "portal");
    /// ```
    pub fn reported_service_name(&self, env: &dyn Fn(&str) -> Option<String>) -> String {
        let set =
            |value: Option<String>| value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        set(env("OTEL_SERVICE_NAME"))
            .or_else(|| {
                env("OTEL_RESOURCE_ATTRIBUTES").and_then(|list| {
                    list.split_terminator(',').find_map(|pair| {
                        let (key, value) = pair.split_once('=')?;
                        (key.trim() == "service.name").then(|| set(Some(value.to_owned())))?
                    })
                })
            })
            .unwrap_or_else(|| self.service_name().to_owned())
    }

    /// `backend.metrics.serviceVersion`, if set.
    pub fn service_version(&self) -> Option<&str> {
        self.service_version.as_deref()
    }

    /// `backend.tracing.capture.endUser`, default `false`: whether spans carry `enduser.id`.
    pub fn capture_end_user(&self) -> bool {
        self.capture_end_user
    }

    /// `backend.metrics.cardinalityLimit`: the most attribute sets one instrument keeps per
    /// collection (default: the SDK's 2000); `init` range-checks it. Measurements with
    /// further attribute sets are added to one overflow series with the attribute
    /// `otel.metric.overflow = true`.
    pub fn cardinality_limit(&self) -> Option<u64> {
        self.cardinality_limit
    }

    /// `backend.telemetry`: the SDK set-up settings.
    pub fn telemetry(&self) -> &TelemetrySettings {
        &self.telemetry
    }

    /// `backend.metrics.plugin.{plugin_id}.meter`, if set.
    pub fn meter_override(&self, plugin_id: &str) -> Option<&ScopeOverride> {
        self.meters.get(plugin_id)
    }

    /// `backend.tracing.plugin.{plugin_id}.tracer`, if set.
    pub fn tracer_override(&self, plugin_id: &str) -> Option<&ScopeOverride> {
        self.tracers.get(plugin_id)
    }

    /// The root meter's scope: `serviceName`, `serviceVersion`.
    pub(crate) fn service_scope(&self) -> InstrumentationScope {
        let builder = InstrumentationScope::builder(intern(self.service_name()));
        match self.service_version() {
            Some(version) => builder.with_version(intern(version)).build(),
            None => builder.build(),
        }
    }

    /// The meter scope of a plugin (default name or override) or core service (root meter).
    pub(crate) fn meter_scope(&self, scope: &Scope) -> InstrumentationScope {
        match scope.kind() {
            ScopeKind::Plugin => scope_with(scope, self.meter_override(scope.id())),
            ScopeKind::Core => self.service_scope(),
        }
    }

    /// The tracer scope of a plugin (default name or override) or core service.
    pub(crate) fn tracer_scope(&self, scope: &Scope) -> InstrumentationScope {
        match scope.kind() {
            ScopeKind::Plugin => scope_with(scope, self.tracer_override(scope.id())),
            ScopeKind::Core => scope_with(scope, None),
        }
    }

    fn from_tree(root: &Node) -> Result<Self, ConfigError> {
        let root = Field {
            node: Some(root),
            path: String::new(),
        };
        let metrics = root.get("backend")?.get("metrics")?;
        let tracing = root.get("backend")?.get("tracing")?;
        let telemetry = root.get("backend")?.get("telemetry")?;
        let prometheus = telemetry.get("metrics")?.get("prometheus")?;
        Ok(Config {
            service_name: metrics.get("serviceName")?.string()?,
            service_version: metrics.get("serviceVersion")?.string()?,
            meters: scope_overrides(&metrics.get("plugin")?, "meter")?,
            tracers: scope_overrides(&tracing.get("plugin")?, "tracer")?,
            capture_end_user: tracing
                .get("capture")?
                .get("endUser")?
                .boolean()?
                .unwrap_or(false),
            cardinality_limit: metrics.get("cardinalityLimit")?.whole_number()?,
            telemetry: TelemetrySettings {
                enabled: telemetry.get("enabled")?.boolean()?,
                metrics_exporter: telemetry.get("metrics")?.get("exporter")?.string()?,
                prometheus_host: prometheus.get("host")?.string()?,
                prometheus_port: prometheus.get("port")?.port()?,
                traces_exporter: telemetry.get("traces")?.get("exporter")?.string()?,
                logs_exporter: telemetry.get("logs")?.get("exporter")?.string()?,
                shutdown_timeout_ms: telemetry.get("shutdownTimeout")?.whole_number()?,
            },
        })
    }
}

/// The scope's default name (`backstage-plugin-{id}`) or the operator's override.
fn scope_with(scope: &Scope, over: Option<&ScopeOverride>) -> InstrumentationScope {
    let over = over.cloned().unwrap_or_default();
    let name = over
        .name
        .unwrap_or_else(|| scope.instrumentation_scope_name());
    let mut builder = InstrumentationScope::builder(intern(&name));
    if let Some(version) = over.version {
        builder = builder.with_version(intern(&version));
    }
    if let Some(schema_url) = over.schema_url {
        builder = builder.with_schema_url(intern(&schema_url));
    }
    builder.build()
}

/// `text` as a `&'static str`, each distinct text leaked once. Instrumentation scopes are
/// cloned into every exported span; with static names that clone copies a pointer instead of
/// allocating (measured: ~160 instructions per span). Scope names are few (one per plugin
/// and configuration), so what is leaked stays small.
fn intern(text: &str) -> &'static str {
    static INTERNED: std::sync::Mutex<std::collections::BTreeSet<&'static str>> =
        std::sync::Mutex::new(std::collections::BTreeSet::new());
    let mut interned = INTERNED.lock().unwrap_or_else(|p| p.into_inner());
    match interned.get(text) {
        Some(existing) => existing,
        None => {
            let leaked: &'static str = Box::leak(text.to_owned().into_boxed_str());
            interned.insert(leaked);
            leaked
        }
    }
}

static INSTALLED: RwLock<Option<Arc<Config>>> = RwLock::new(None);

/// Makes `config` the configuration of the spans and metrics declared with the macros
/// (tracer and meter overrides, `capture.endUser`). Those already in use pick it up at
/// their next use. Services made with `from_config` keep the configuration they were given.
///
/// ```
/// let config = backstage_telemetry::Config::from_yaml_str(
///     "app-config.yaml",
///     "backend:\n  tracing:\n    capture:\n      endUser: true\n",
/// ).unwrap();
/// backstage_telemetry::set_config(config);
/// ```
pub fn set_config(config: Config) {
    *INSTALLED.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(config));
    crate::provider::config_changed();
}

/// The configuration installed with [`set_config`], or the defaults.
pub(crate) fn installed() -> Arc<Config> {
    INSTALLED
        .read()
        .unwrap_or_else(|p| p.into_inner())
        .clone()
        .unwrap_or_default()
}

fn scope_overrides(
    plugins: &Field<'_>,
    section: &str,
) -> Result<BTreeMap<String, ScopeOverride>, ConfigError> {
    let mut overrides = BTreeMap::new();
    for (plugin_id, plugin) in plugins.entries()? {
        let scope = plugin.get(section)?;
        if scope.node.is_none() {
            continue;
        }
        overrides.insert(
            plugin_id.to_owned(),
            ScopeOverride {
                name: scope.get("name")?.string()?,
                version: scope.get("version")?.string()?,
                schema_url: scope.get("schemaUrl")?.string()?,
            },
        );
    }
    Ok(overrides)
}

/// Why configuration could not be loaded. Messages name the file, line and key path but
/// never a value.
#[derive(Debug)]
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
        }
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

/// A key in the merged tree, present or not, with its path for errors.
struct Field<'a> {
    node: Option<&'a Node>,
    path: String,
}

impl<'a> Field<'a> {
    fn child_path(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_owned()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    /// The mapping's entries; a missing or null key has none.
    fn entries(&self) -> Result<Vec<(&'a str, Field<'a>)>, ConfigError> {
        match self.node.map(|n| (n, &n.value)) {
            None | Some((_, Value::Null)) => Ok(Vec::new()),
            Some((_, Value::Map(entries))) => Ok(entries
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str(),
                        Field {
                            node: Some(v),
                            path: self.child_path(k),
                        },
                    )
                })
                .collect()),
            Some((node, _)) => Err(self.wrong_type(node, "a mapping of keys to values")),
        }
    }

    fn get(&self, key: &str) -> Result<Field<'a>, ConfigError> {
        let node = match self.node.map(|n| (n, &n.value)) {
            None | Some((_, Value::Null)) => None,
            Some((_, Value::Map(entries))) => entries.get(key),
            Some((node, _)) => return Err(self.wrong_type(node, "a mapping of keys to values")),
        };
        Ok(Field {
            node,
            path: self.child_path(key),
        })
    }

    fn string(&self) -> Result<Option<String>, ConfigError> {
        match self.node.map(|n| (n, &n.value)) {
            None | Some((_, Value::Null)) => Ok(None),
            Some((_, Value::String(s))) => Ok(Some(s.clone())),
            Some((node, _)) => Err(self.wrong_type(
                node,
                "a string (quote it if it looks like a number or boolean)",
            )),
        }
    }

    fn port(&self) -> Result<Option<u16>, ConfigError> {
        match self.node.map(|n| (n, &n.value)) {
            None | Some((_, Value::Null)) => Ok(None),
            Some((node, Value::Integer(i))) => u16::try_from(*i)
                .map(Some)
                .map_err(|_| self.wrong_type(node, "a port number from 0 to 65535")),
            Some((node, _)) => Err(self.wrong_type(node, "a port number from 0 to 65535")),
        }
    }

    /// A non-negative integer; whether it is in range is for its user to say.
    fn whole_number(&self) -> Result<Option<u64>, ConfigError> {
        const EXPECTED: &str = "a whole number (0 or more)";
        match self.node.map(|n| (n, &n.value)) {
            None | Some((_, Value::Null)) => Ok(None),
            Some((node, Value::Integer(i))) => u64::try_from(*i)
                .map(Some)
                .map_err(|_| self.wrong_type(node, EXPECTED)),
            Some((node, _)) => Err(self.wrong_type(node, EXPECTED)),
        }
    }

    fn boolean(&self) -> Result<Option<bool>, ConfigError> {
        match self.node.map(|n| (n, &n.value)) {
            None | Some((_, Value::Null)) => Ok(None),
            Some((_, Value::Bool(b))) => Ok(Some(*b)),
            Some((node, _)) => Err(self.wrong_type(node, "a boolean (true or false)")),
        }
    }

    fn wrong_type(&self, node: &Node, expected: &'static str) -> ConfigError {
        ConfigError::WrongType {
            source: node.origin.source.to_string(),
            line: node.origin.line,
            column: node.origin.column,
            key: self.path.clone(),
            expected,
        }
    }
}

fn parse(source: &str, yaml: &str) -> Result<Node, ConfigError> {
    let origin_source: Arc<str> = Arc::from(source);
    let options = serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_depth: MAX_DEPTH,
            max_nodes: MAX_NODES,
            max_aliases: MAX_ALIASES,
        },
        // `.nan` and `.inf` are values like any other; no key of ours takes a float.
        non_finite_float_policy: serde_saphyr::NonFiniteFloatPolicy::PassThrough,
    };
    let document: Option<Node> =
        serde_saphyr::from_str_with_options(yaml, options).map_err(|error| {
            let (line, column) = error
                .location()
                .map_or((0, 0), |l| (l.line() as u32, l.column() as u32));
            ConfigError::Syntax {
                source: source.to_owned(),
                line,
                column,
                reason: syntax_reason(&error),
            }
        })?;
    let mut document = document.unwrap_or_else(Node::empty_map);
    document.set_source(&origin_source);
    match document.value {
        Value::Map(_) => Ok(document),
        Value::Null => Ok(Node::empty_map()),
        _ => Err(ConfigError::WrongType {
            source: source.to_owned(),
            line: document.origin.line,
            column: document.origin.column,
            key: String::new(),
            expected: "a mapping of keys to values",
        }),
    }
}

/// Deepest nesting of mappings and sequences in one file.
pub const MAX_DEPTH: usize = 64;
/// Most YAML nodes (keys, values, items) in one file.
pub const MAX_NODES: usize = 1_000_000;
/// Most aliases (`*name`) in one file; each expansion counts towards [`MAX_NODES`] too.
pub const MAX_ALIASES: usize = 1_000;

/// What a parser error means, in words that never quote the file.
fn syntax_reason(error: &serde_saphyr::Error) -> &'static str {
    use serde_saphyr::budget::BudgetBreach;
    let mut error = error;
    while let serde_saphyr::Error::WithSnippet { error: inner, .. }
    | serde_saphyr::Error::AliasError { error: inner, .. } = error
    {
        error = inner;
    }
    match error {
        serde_saphyr::Error::DuplicateMappingKey { .. } => {
            "repeats a key of the same mapping (each key may appear once; remove one of them)"
        }
        serde_saphyr::Error::MultipleDocuments { .. } => {
            "holds more than one YAML document (`---`); use one document per file and list several files"
        }
        serde_saphyr::Error::Budget { breach, .. } => match breach {
            BudgetBreach::Depth { .. } => "nests mappings and sequences more than 64 levels deep",
            BudgetBreach::Aliases { .. }
            | BudgetBreach::Anchors { .. }
            | BudgetBreach::AliasAnchorRatio { .. } => {
                "uses more than 1000 aliases (`*name`); write the values out"
            }
            _ => "is larger than a config file may be (more than 1,000,000 YAML nodes)",
        },
        serde_saphyr::Error::AliasReplayLimitExceeded { .. }
        | serde_saphyr::Error::AliasExpansionLimitExceeded { .. }
        | serde_saphyr::Error::AliasReplayStackDepthExceeded { .. }
        | serde_saphyr::Error::AliasReplayCounterOverflow { .. } => {
            "expands aliases (`*name`) into more nodes than allowed; write the values out"
        }
        serde_saphyr::Error::UnknownAnchor { .. } => {
            "uses an alias (`*name`) with no anchor (`&name`) before it"
        }
        _ => "not valid YAML (check indentation, quoting and `key: value` pairs near this line)",
    }
}

/// A YAML node and where it was written.
#[derive(Clone, Debug)]
struct Node {
    value: Value,
    origin: Origin,
}

#[derive(Clone, Debug)]
struct Origin {
    source: Arc<str>,
    line: u32,
    column: u32,
}

#[derive(Clone, Debug)]
enum Value {
    Null,
    Bool(bool),
    Integer(i128),
    Float,
    String(String),
    Seq,
    Map(BTreeMap<String, Node>),
}

impl Node {
    fn empty_map() -> Self {
        Node {
            value: Value::Map(BTreeMap::new()),
            origin: Origin {
                source: Arc::from(""),
                line: 0,
                column: 0,
            },
        }
    }

    /// Merges `later` into `self`: mappings key by key, anything else replaced.
    fn merge(&mut self, later: Node) {
        match (&mut self.value, later.value) {
            (Value::Map(entries), Value::Map(later_entries)) => {
                for (key, value) in later_entries {
                    match entries.entry(key) {
                        Entry::Occupied(mut existing) => existing.get_mut().merge(value),
                        Entry::Vacant(slot) => {
                            slot.insert(value);
                        }
                    }
                }
            }
            (_, value) => {
                self.value = value;
                self.origin = later.origin;
            }
        }
    }

    fn set_source(&mut self, source: &Arc<str>) {
        self.origin.source = source.clone();
        if let Value::Map(entries) = &mut self.value {
            for node in entries.values_mut() {
                node.set_source(source);
            }
        }
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spanned = serde_saphyr::Spanned::<Value>::deserialize(deserializer)?;
        Ok(Node {
            value: spanned.value,
            origin: Origin {
                source: Arc::from(""),
                line: spanned.referenced.line() as u32,
                column: spanned.referenced.column() as u32,
            },
        })
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        Value::deserialize(deserializer)
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Integer(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Integer(v.into()))
    }

    fn visit_i128<E>(self, v: i128) -> Result<Value, E> {
        Ok(Value::Integer(v))
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Value, E> {
        i128::try_from(v).map(Value::Integer).or(Ok(Value::Float))
    }

    fn visit_f64<E>(self, _: f64) -> Result<Value, E> {
        Ok(Value::Float)
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        while seq.next_element::<de::IgnoredAny>()?.is_some() {}
        Ok(Value::Seq)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut entries = BTreeMap::new();
        while let Some(key) = map.next_key::<Key>()? {
            // The parser rejects a key repeated in one mapping before it gets here; two keys
            // that read the same as text (`1` and `"1"`) keep the later value.
            entries.insert(key.0, map.next_value()?);
        }
        Ok(Value::Map(entries))
    }
}

/// A mapping key: any scalar, as text.
struct Key(String);

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a scalar key")
            }
            fn visit_str<E>(self, v: &str) -> Result<Key, E> {
                Ok(Key(v.to_owned()))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Key, E> {
                Ok(Key(v.to_string()))
            }
            fn visit_unit<E>(self) -> Result<Key, E> {
                Ok(Key(String::new()))
            }
        }
        deserializer.deserialize_any(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wrong_type(yaml: &str) -> (u32, String, &'static str) {
        match Config::from_yaml_str("app-config.yaml", yaml).unwrap_err() {
            ConfigError::WrongType {
                line,
                key,
                expected,
                ..
            } => (line, key, expected),
            other => panic!("expected a type error, got {other:?}"),
        }
    }

    #[test]
    fn defaults_from_nothing() {
        for config in [
            Config::default(),
            Config::from_yaml_str("empty", "").unwrap(),
            Config::from_yaml_str("comment", "# nothing\n").unwrap(),
            Config::from_yaml_str("null backend", "backend:\n").unwrap(),
            Config::from_yaml_str(
                "other keys",
                "app:\n  title: x\nbackend:\n  baseUrl: http://x\n",
            )
            .unwrap(),
        ] {
            assert_eq!(config.service_name(), "backstage");
            assert_eq!(config.service_version(), None);
            assert!(!config.capture_end_user());
            assert_eq!(config.meter_override("catalog"), None);
            assert_eq!(config.tracer_override("catalog"), None);
        }
    }

    #[test]
    fn reads_every_key() {
        let config = Config::from_yaml_str(
            "app-config.yaml",
            r#"
backend:
  metrics:
    serviceName: portal
    serviceVersion: "1.2"
    plugin:
      catalog:
        meter: { name: custom-catalog-meter, version: 2.0.0, schemaUrl: https://example.com/m }
  tracing:
    capture:
      endUser: true
    plugin:
      catalog:
        tracer:
          name: custom-catalog-tracer
          version: 3.0.0
          schemaUrl: https://example.com/t
      scaffolder:
        other: ignored
"#,
        )
        .unwrap();
        assert_eq!(config.service_name(), "portal");
        assert_eq!(config.service_version(), Some("1.2"));
        assert!(config.capture_end_user());
        let meter = config.meter_override("catalog").unwrap();
        assert_eq!(meter.name.as_deref(), Some("custom-catalog-meter"));
        assert_eq!(meter.version.as_deref(), Some("2.0.0"));
        assert_eq!(meter.schema_url.as_deref(), Some("https://example.com/m"));
        let tracer = config.tracer_override("catalog").unwrap();
        assert_eq!(tracer.name.as_deref(), Some("custom-catalog-tracer"));
        assert_eq!(tracer.version.as_deref(), Some("3.0.0"));
        assert_eq!(tracer.schema_url.as_deref(), Some("https://example.com/t"));
        assert_eq!(config.tracer_override("scaffolder"), None);
    }

    #[test]
    fn reads_the_telemetry_section() {
        let config = Config::from_yaml_str(
            "app-config.yaml",
            "backend:\n  telemetry:\n    enabled: false\n    metrics:\n      exporter: otlp\n      prometheus: { host: 0.0.0.0, port: 9999 }\n    traces:\n      exporter: stdout\n",
        )
        .unwrap();
        let telemetry = config.telemetry();
        assert_eq!(telemetry.enabled, Some(false));
        assert_eq!(telemetry.metrics_exporter.as_deref(), Some("otlp"));
        assert_eq!(telemetry.prometheus_host.as_deref(), Some("0.0.0.0"));
        assert_eq!(telemetry.prometheus_port, Some(9999));
        assert_eq!(telemetry.traces_exporter.as_deref(), Some("stdout"));
        assert_eq!(Config::default().telemetry(), &TelemetrySettings::default());
        for (port, line) in [("70000", 6), ("-1", 6), ("\"9464\"", 6), ("1.5", 6)] {
            let yaml = format!(
                "backend:\n  telemetry:\n    metrics:\n      prometheus:\n        host: h\n        port: {port}\n"
            );
            assert_eq!(
                wrong_type(&yaml),
                (
                    line,
                    "backend.telemetry.metrics.prometheus.port".to_owned(),
                    "a port number from 0 to 65535"
                ),
                "{port}"
            );
        }
    }

    #[test]
    fn later_sources_win_and_maps_merge_deeply() {
        let config = Config::from_yaml_sources([
            (
                "app-config.yaml",
                "backend:\n  metrics:\n    serviceName: first\n    serviceVersion: 1.0.0\n    plugin:\n      catalog:\n        meter:\n          name: a\n          version: v1\n",
            ),
            (
                "app-config.local.yaml",
                "backend:\n  metrics:\n    serviceName: second\n    plugin:\n      catalog:\n        meter:\n          version: v2\n",
            ),
        ])
        .unwrap();
        assert_eq!(config.service_name(), "second");
        assert_eq!(config.service_version(), Some("1.0.0"));
        let meter = config.meter_override("catalog").unwrap();
        assert_eq!(meter.name.as_deref(), Some("a"));
        assert_eq!(meter.version.as_deref(), Some("v2"));

        // a later scalar replaces an earlier mapping and the other way round
        let config = Config::from_yaml_sources([
            ("a.yaml", "backend:\n  tracing: off\n"),
            (
                "b.yaml",
                "backend:\n  tracing:\n    capture:\n      endUser: true\n",
            ),
        ])
        .unwrap();
        assert!(config.capture_end_user());
        let err = Config::from_yaml_sources([
            (
                "a.yaml",
                "backend:\n  tracing:\n    capture:\n      endUser: true\n",
            ),
            ("b.yaml", "backend:\n  tracing: 5\n"),
        ])
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "b.yaml:2:12: `backend.tracing` must be a mapping of keys to values"
        );
    }

    #[test]
    fn files_merge_in_order() {
        let dir = std::env::temp_dir().join(format!("bt-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let first = dir.join("app-config.yaml");
        let second = dir.join("app-config.local.yaml");
        std::fs::write(&first, "backend:\n  metrics:\n    serviceName: a\n").unwrap();
        std::fs::write(&second, "backend:\n  metrics:\n    serviceName: b\n").unwrap();
        assert_eq!(Config::load([&first, &second]).unwrap().service_name(), "b");
        assert_eq!(Config::load([&second, &first]).unwrap().service_name(), "a");
        std::fs::write(&second, "backend:\n  metrics:\n    serviceName: [b]\n").unwrap();
        let err = Config::load([&first, &second]).unwrap_err().to_string();
        assert_eq!(
            err,
            format!(
                "{}:3:18: `backend.metrics.serviceName` must be a string (quote it if it looks like a number or boolean)",
                second.display()
            )
        );
        let missing = dir.join("missing.yaml");
        let err = Config::load([&missing]).unwrap_err();
        assert!(matches!(err, ConfigError::Read { .. }));
        assert!(err.to_string().starts_with("cannot read config file "));
        assert!(err.to_string().contains("missing.yaml"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn wrong_types_name_line_and_key_without_the_value() {
        let secret = "s3cr3t-value";
        let cases = [
            (
                format!("backend:\n  metrics:\n    serviceName: {{ x: {secret} }}\n"),
                3,
                "backend.metrics.serviceName",
                "a string (quote it if it looks like a number or boolean)",
            ),
            (
                "backend:\n  metrics:\n    serviceVersion: 2\n".to_owned(),
                3,
                "backend.metrics.serviceVersion",
                "a string (quote it if it looks like a number or boolean)",
            ),
            (
                format!("backend:\n  tracing:\n    capture:\n      endUser: {secret}\n"),
                4,
                "backend.tracing.capture.endUser",
                "a boolean (true or false)",
            ),
            (
                format!("backend:\n  metrics: {secret}\n"),
                2,
                "backend.metrics",
                "a mapping of keys to values",
            ),
            (
                format!("backend:\n  tracing:\n    plugin:\n      - {secret}\n"),
                4,
                "backend.tracing.plugin",
                "a mapping of keys to values",
            ),
            (
                format!("backend:\n  metrics:\n    plugin:\n      catalog:\n        meter: {secret}\n"),
                5,
                "backend.metrics.plugin.catalog.meter",
                "a mapping of keys to values",
            ),
            (
                "backend:\n  tracing:\n    plugin:\n      catalog:\n        tracer:\n          schemaUrl: true\n".to_owned(),
                6,
                "backend.tracing.plugin.catalog.tracer.schemaUrl",
                "a string (quote it if it looks like a number or boolean)",
            ),
        ];
        for (yaml, line, key, expected) in cases {
            assert_eq!(
                wrong_type(&yaml),
                (line, key.to_owned(), expected),
                "{yaml}"
            );
            let message = Config::from_yaml_str("app-config.yaml", &yaml)
                .unwrap_err()
                .to_string();
            assert!(!message.contains(secret), "{message}");
            assert!(
                message.starts_with(&format!("app-config.yaml:{line}:")),
                "{message}"
            );
        }
        let err = Config::from_yaml_str("list.yaml", &format!("- {secret}\n")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "list.yaml:1:1: `the document` must be a mapping of keys to values"
        );
    }

    #[test]
    fn malformed_yaml_names_the_place_not_the_text() {
        let secret = "hunter2";
        for (yaml, line) in [
            (
                format!("backend:\n  metrics:\n    serviceName: \"{secret}\n"),
                3,
            ),
            (format!("backend:\n  metrics: [{secret}\n"), 3),
            (format!("backend:\n\tmetrics: {secret}\n"), 2),
        ] {
            let err = Config::from_yaml_str("app-config.yaml", &yaml).unwrap_err();
            let ConfigError::Syntax { line: got, .. } = err else {
                panic!("expected a syntax error, got {err:?}");
            };
            assert!(got >= 1 && got <= line + 1, "{yaml}: line {got}");
            let message = err.to_string();
            assert!(message.starts_with("app-config.yaml:"), "{message}");
            assert!(message.contains("not valid YAML"), "{message}");
            assert!(!message.contains(secret), "{message}");
        }
    }

    fn syntax_message(yaml: &str) -> String {
        let err = Config::from_yaml_str("app-config.yaml", yaml).unwrap_err();
        assert!(matches!(err, ConfigError::Syntax { .. }), "{err:?}");
        err.to_string()
    }

    #[test]
    fn parser_limits_and_duplicates_have_their_own_messages() {
        let secret = "hunter2";
        let duplicate =
            format!("backend:\n  metrics:\n    serviceName: a\n    serviceName: {secret}\n");
        let message = syntax_message(&duplicate);
        assert!(message.starts_with("app-config.yaml:4:"), "{message}");
        assert!(
            message.contains("repeats a key of the same mapping"),
            "{message}"
        );
        assert!(!message.contains(secret), "{message}");

        let deep = format!("a: {}1{}\n", "[".repeat(100), "]".repeat(100));
        assert!(
            syntax_message(&deep).contains("more than 64 levels deep"),
            "{}",
            syntax_message(&deep)
        );
        let mut bomb = String::from("a: &a [x, x]\n");
        for i in 0..1100 {
            bomb.push_str(&format!("k{i}: *a\n"));
        }
        assert!(
            syntax_message(&bomb).contains("aliases"),
            "{}",
            syntax_message(&bomb)
        );
        assert!(
            syntax_message("backend: {}\n---\napp: {}\n").contains("more than one YAML document"),
            "{}",
            syntax_message("backend: {}\n---\napp: {}\n")
        );
        // `.nan` is a value like any other where no key of ours reads it
        let config =
            Config::from_yaml_str("app-config.yaml", "app:\n  ratio: .nan\n  top: .inf\n").unwrap();
        assert_eq!(config.service_name(), "backstage");
    }

    /// A mapping of 120 000 keys (in a section this crate does not read, as real config
    /// files have) loads and merges. The time is printed, not asserted: 0.75 s in release
    /// (the parser alone 0.53 s), 0.38 s for 60 000 keys; the quadratic tree took 24.6 s.
    #[test]
    fn a_file_of_120_000_keys_loads_and_merges() {
        let mut yaml = String::from("backend:\n  metrics:\n    serviceName: big\napp:\n");
        for i in 0..120_000 {
            yaml.push_str(&format!("  key{i}: value{i}\n"));
        }
        let later = "app:\n  key5: changed\nbackend:\n  metrics:\n    serviceVersion: 2.0.0\n";
        let started = std::time::Instant::now();
        let config =
            Config::from_yaml_sources([("big.yaml", yaml.as_str()), ("later.yaml", later)])
                .unwrap();
        eprintln!("120 000 keys loaded and merged in {:?}", started.elapsed());
        assert_eq!(config.service_name(), "big");
        assert_eq!(config.service_version(), Some("2.0.0"));
    }
}
