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

mod error;
mod read;
mod yaml;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

pub use error::ConfigError;
use yaml::{Field, Node, parse};
pub use yaml::{MAX_ALIASES, MAX_DEPTH, MAX_NODES};

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
    views: Vec<MetricView>,
    span_metrics: SpanMetricsSettings,
    telemetry: TelemetrySettings,
    tree: Tree,
}

/// The merged files, for [`Config::get`]; never printed (values may be secrets).
#[derive(Clone)]
struct Tree(Arc<Node>);

impl Default for Tree {
    fn default() -> Self {
        Tree(Arc::new(Node::empty_map()))
    }
}

impl std::fmt::Debug for Tree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tree(..)")
    }
}

/// `backend.tracing.spanMetrics` and each plugin's `backend.tracing.plugin.{id}.spanMetrics`:
/// which `#[span]` sites also record the duration histogram
/// `backstage.plugin.{id}.span.duration` (see [`Config::span_metrics_enabled`]).
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct SpanMetricsSettings {
    /// `backend.tracing.spanMetrics.enabled` (default false): every site records.
    pub enabled: bool,
    /// `backend.tracing.spanMetrics.boundaries`: the histogram's bucket boundaries in
    /// seconds (default [`DEFAULT_SPAN_BOUNDARIES`]); `init` range-checks them.
    pub boundaries: Option<Vec<f64>>,
    /// `backend.tracing.plugin.{id}.spanMetrics`: on or off for every site of one plugin,
    /// whatever the site or the global switch say.
    pub plugins: BTreeMap<String, bool>,
}

/// The default bucket boundaries of span metrics, in seconds: 50 µs to 10 s, in steps of
/// 1, 2.5 and 5 per decade, so quantiles tell apart in-process handlers of tens of
/// microseconds as well as calls of seconds. (The HTTP server histogram's boundaries start
/// at 5 ms: every in-process handler fell in its first bucket, and every p99 was the same.
/// Exponential histograms would resolve any range, but the Prometheus exporter drops them.)
pub const DEFAULT_SPAN_BOUNDARIES: &[f64] = &[
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
    2.5, 5.0, 10.0,
];

/// The most bucket boundaries span metrics take.
pub const MAX_SPAN_BOUNDARIES: usize = 64;

impl SpanMetricsSettings {
    /// The configured boundaries if they are usable (at most [`MAX_SPAN_BOUNDARIES`],
    /// finite, not negative, strictly increasing), else `None`.
    pub fn checked_boundaries(&self) -> Option<&[f64]> {
        let boundaries = self.boundaries.as_deref()?;
        // an instrument's boundaries, and durations: none below 0
        let usable = boundaries.len() <= MAX_SPAN_BOUNDARIES
            && crate::naming::validate_boundaries(boundaries).is_ok()
            && boundaries.iter().all(|b| *b >= 0.0);
        usable.then_some(boundaries)
    }

    /// The boundaries the histogram uses: the configured ones if usable, else the defaults.
    pub fn boundaries_or_default(&self) -> &[f64] {
        self.checked_boundaries().unwrap_or(DEFAULT_SPAN_BOUNDARIES)
    }
}

/// One entry of `backend.metrics.views`: how an operator changes what one instrument (or
/// every instrument of a plugin, `backstage.plugin.catalog.*`) exports, without a code
/// change. `init` checks each entry against the metric catalog and applies it through the
/// SDK's views; what it cannot use is a set-up problem naming the entry's key.
///
/// ```
/// let config = backstage_telemetry::Config::from_yaml_str(
///     "app-config.yaml",
///     "backend:\n  metrics:\n    views:\n      - instrument: backstage.plugin.catalog.processing.duration\n        boundaries: [0.01, 0.1, 1]\n      - instrument: backstage.plugin.scaffolder.*\n        attributes: [result]\n        cardinalityLimit: 100\n",
/// )?;
/// let views = config.views();
/// assert_eq!(views[0].boundaries.as_deref(), Some(&[0.01, 0.1, 1.0][..]));
/// assert_eq!(views[1].attributes.as_deref(), Some(&["result".to_owned()][..]));
/// # Ok::<(), backstage_telemetry::ConfigError>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct MetricView {
    /// `instrument`: an exported name, or a prefix ending in `*`.
    pub instrument: Option<String>,
    /// `boundaries`: a histogram's bucket boundaries.
    pub boundaries: Option<Vec<f64>>,
    /// `attributes`: the attribute keys kept (`[]` keeps none).
    pub attributes: Option<Vec<String>>,
    /// `cardinalityLimit`: series kept per collection, then the overflow series.
    pub cardinality_limit: Option<u64>,
    /// `drop`: export nothing of it.
    pub drop: bool,
}

impl MetricView {
    /// How closely this view names the exported metric `name`: `None` if it does not cover
    /// it; otherwise an exact name ranks above any prefix, and a longer prefix above a
    /// shorter one.
    pub(crate) fn covers(&self, name: &str) -> Option<(bool, usize)> {
        let instrument = self.instrument.as_deref()?.trim();
        match instrument.strip_suffix('*') {
            Some(prefix) => name.starts_with(prefix).then_some((false, prefix.len())),
            None => (instrument == name).then_some((true, instrument.len())),
        }
    }

    fn read(view: &Field<'_>) -> Result<MetricView, ConfigError> {
        // a mapping, or the first `get` says it must be one
        Ok(MetricView {
            instrument: view.get("instrument")?.string()?,
            boundaries: view.get("boundaries")?.numbers()?,
            attributes: view.get("attributes")?.strings()?,
            cardinality_limit: view.get("cardinalityLimit")?.whole_number()?,
            drop: view.get("drop")?.boolean()?.unwrap_or(false),
        })
    }
}

/// Of `views` (each with what to return for it), the one that applies to `name`: see
/// [`Config::view_for`].
pub(crate) fn best_view<'a, T>(
    views: impl IntoIterator<Item = (&'a MetricView, T)>,
    name: &str,
) -> Option<T> {
    let mut best: Option<(T, (bool, usize))> = None;
    for (view, value) in views {
        if let Some(rank) = view.covers(name)
            && best.as_ref().is_none_or(|(_, best)| rank > *best)
        {
            best = Some((value, rank));
        }
    }
    best.map(|(value, _)| value)
}

/// `backend.telemetry`: how `init` sets up the SDK. Every key is optional; `OTEL_*`
/// environment variables win over these.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct TelemetrySettings {
    /// `enabled` (default true).
    pub enabled: Option<bool>,
    /// `metrics.exporter`: `prometheus` (default), `otlp`, `stdout` or `none`.
    pub metrics_exporter: Option<String>,
    /// `metrics.prometheus.host` (default `127.0.0.1`).
    pub prometheus_host: Option<String>,
    /// `metrics.prometheus.port` (default 9464; one above 65535 turns the exporter off
    /// with a problem at `init`).
    pub prometheus_port: Option<u64>,
    /// `traces.exporter`: `otlp`, `stdout` or `none` (default: `otlp` when an OTLP endpoint
    /// variable is set, else `none`).
    pub traces_exporter: Option<String>,
    /// `logs.exporter`: `otlp`, `stdout` or `none` (default: `otlp` when an OTLP endpoint
    /// variable is set, else `none`); used when the application installs the log layer.
    pub logs_exporter: Option<String>,
    /// `traces.sampler`: a sampler the OpenTelemetry specification names, such as
    /// `parentbased_traceidratio` (default `parentbased_always_on`).
    pub traces_sampler: Option<String>,
    /// `traces.samplerArg`: the ratio of the `traceidratio` samplers, from 0 to 1.
    pub traces_sampler_arg: Option<f64>,
    /// `retryBudget`: milliseconds a span or log batch is retried while the collector is
    /// unreachable (default 30000, 0 turns retries off; range-checked by `init`).
    pub retry_budget_ms: Option<u64>,
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
        Self::from_tree(merged)
    }

    /// Like [`Config::load`], skipping the files that do not exist, so an application
    /// starts with the defaults when it has no app-config; any other problem with a file
    /// (unreadable, not YAML, a wrong type) is still an error.
    ///
    /// ```
    /// let config = backstage_telemetry::Config::load_existing(["app-config.yaml", "app-config.local.yaml"])?;
    /// # Ok::<(), backstage_telemetry::ConfigError>(())
    /// ```
    pub fn load_existing<P: AsRef<Path>>(
        paths: impl IntoIterator<Item = P>,
    ) -> Result<Self, ConfigError> {
        Self::load(paths.into_iter().filter(|path| {
            !matches!(
                std::fs::metadata(path.as_ref()),
                Err(error) if error.kind() == std::io::ErrorKind::NotFound
            )
        }))
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
        Self::from_tree(merged)
    }

    /// Any key of the merged files, read as a `T`: a plugin's own settings, merged across
    /// files like every other key (Backstage's `config.getString('billing.taxRate')`).
    /// `key` is a dotted path; an error names the file, line, column and key, and what was
    /// expected, never the value.
    ///
    /// ```
    /// #[derive(serde::Deserialize)]
    /// #[serde(rename_all = "camelCase")]
    /// struct Billing {
    ///     tax_rate: f64,
    ///     currencies: Vec<String>,
    /// }
    ///
    /// let config = backstage_telemetry::Config::from_yaml_sources([
    ///     ("app-config.yaml", "billing:\n  taxRate: 0.2\n  currencies: [EUR]\n"),
    ///     ("app-config.local.yaml", "billing:\n  currencies: [EUR, USD]\n"),
    /// ])?;
    /// let billing: Billing = config.get("billing")?;
    /// assert_eq!(billing.tax_rate, 0.2);
    /// assert_eq!(billing.currencies, ["EUR", "USD"]);
    /// assert_eq!(config.get::<f64>("billing.taxRate")?, 0.2);
    ///
    /// let error = config.get::<u32>("billing.currencies").unwrap_err();
    /// assert_eq!(error.to_string(), "app-config.local.yaml:2:15: `billing.currencies` must be u32");
    /// assert_eq!(
    ///     config.get::<String>("billing.owner").unwrap_err().to_string(),
    ///     "`billing.owner` is not set in the app-config"
    /// );
    /// # Ok::<(), backstage_telemetry::ConfigError>(())
    /// ```
    pub fn get<T: serde::de::DeserializeOwned>(&self, key: &str) -> Result<T, ConfigError> {
        self.get_optional(key)?.ok_or_else(|| ConfigError::Missing {
            key: key.to_owned(),
        })
    }

    /// Like [`Config::get`], with `None` when the key is not set (or is `null`).
    pub fn get_optional<T: serde::de::DeserializeOwned>(
        &self,
        key: &str,
    ) -> Result<Option<T>, ConfigError> {
        match self.tree.0.at_path(key) {
            None => Ok(None),
            Some(node) if matches!(node.value(), yaml::Value::Null) => Ok(None),
            Some(node) => read::read(node, key).map(Some),
        }
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

    /// `backend.metrics.views`, in the order written.
    pub fn views(&self) -> &[MetricView] {
        &self.views
    }

    /// The view that applies to the exported metric `name`: the one naming it exactly, else
    /// the one with the longest prefix covering it (the first written, of equals).
    pub fn view_for(&self, name: &str) -> Option<&MetricView> {
        best_view(self.views.iter().map(|view| (view, view)), name)
    }

    /// `backend.tracing.spanMetrics` and the per-plugin switches.
    pub fn span_metrics(&self) -> &SpanMetricsSettings {
        &self.span_metrics
    }

    /// Whether a `#[span]` site of plugin `plugin_id` records span metrics: the plugin's
    /// `backend.tracing.plugin.{id}.spanMetrics` if set, else whether the site asks for
    /// them (`#[span(metrics)]`) or `backend.tracing.spanMetrics.enabled` is true.
    ///
    /// ```
    /// let config = backstage_telemetry::Config::from_yaml_str(
    ///     "app-config.yaml",
    ///     "backend:\n  tracing:\n    spanMetrics:\n      enabled: true\n    plugin:\n      todos:\n        spanMetrics: false\n",
    /// ).unwrap();
    /// assert!(config.span_metrics_enabled(Some("catalog"), false));
    /// assert!(!config.span_metrics_enabled(Some("todos"), true));
    /// ```
    pub fn span_metrics_enabled(&self, plugin_id: Option<&str>, site_asks: bool) -> bool {
        plugin_id
            .and_then(|id| self.span_metrics.plugins.get(id).copied())
            .unwrap_or(site_asks || self.span_metrics.enabled)
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

    fn from_tree(tree: Node) -> Result<Self, ConfigError> {
        let root = Field {
            node: Some(&tree),
            path: String::new(),
        };
        let metrics = root.get("backend")?.get("metrics")?;
        let tracing = root.get("backend")?.get("tracing")?;
        let telemetry = root.get("backend")?.get("telemetry")?;
        let prometheus = telemetry.get("metrics")?.get("prometheus")?;
        let span_metrics = tracing.get("spanMetrics")?;
        let mut config = Config {
            service_name: metrics.get("serviceName")?.string()?,
            service_version: metrics.get("serviceVersion")?.string()?,
            meters: per_plugin(&metrics.get("plugin")?, |p| {
                scope_override(&p.get("meter")?)
            })?,
            tracers: per_plugin(&tracing.get("plugin")?, |p| {
                scope_override(&p.get("tracer")?)
            })?,
            capture_end_user: tracing
                .get("capture")?
                .get("endUser")?
                .boolean()?
                .unwrap_or(false),
            cardinality_limit: metrics.get("cardinalityLimit")?.whole_number()?,
            views: metrics
                .get("views")?
                .items("a list of views, each a mapping with `instrument`")?
                .iter()
                .map(MetricView::read)
                .collect::<Result<_, _>>()?,
            span_metrics: SpanMetricsSettings {
                enabled: span_metrics.get("enabled")?.boolean()?.unwrap_or(false),
                boundaries: span_metrics.get("boundaries")?.numbers()?,
                plugins: per_plugin(&tracing.get("plugin")?, |p| p.get("spanMetrics")?.boolean())?,
            },
            telemetry: TelemetrySettings {
                enabled: telemetry.get("enabled")?.boolean()?,
                metrics_exporter: telemetry.get("metrics")?.get("exporter")?.string()?,
                prometheus_host: prometheus.get("host")?.string()?,
                prometheus_port: prometheus.get("port")?.whole_number()?,
                traces_exporter: telemetry.get("traces")?.get("exporter")?.string()?,
                traces_sampler: telemetry.get("traces")?.get("sampler")?.string()?,
                traces_sampler_arg: telemetry.get("traces")?.get("samplerArg")?.number()?,
                retry_budget_ms: telemetry.get("retryBudget")?.whole_number()?,
                logs_exporter: telemetry.get("logs")?.get("exporter")?.string()?,
                shutdown_timeout_ms: telemetry.get("shutdownTimeout")?.whole_number()?,
            },
            tree: Tree::default(),
        };
        // the settings are read: the tree is kept for `get`
        config.tree = Tree(Arc::new(tree));
        Ok(config)
    }
}

/// What `read` finds in each plugin's section under `plugins`, by plugin id, where set.
fn per_plugin<T>(
    plugins: &Field<'_>,
    read: impl Fn(&Field<'_>) -> Result<Option<T>, ConfigError>,
) -> Result<BTreeMap<String, T>, ConfigError> {
    let mut found = BTreeMap::new();
    for (plugin_id, plugin) in plugins.entries()? {
        if let Some(value) = read(&plugin)? {
            found.insert(plugin_id.to_owned(), value);
        }
    }
    Ok(found)
}

/// A `meter` or `tracer` section: name, version, schema URL.
fn scope_override(scope: &Field<'_>) -> Result<Option<ScopeOverride>, ConfigError> {
    if scope.node.is_none() {
        return Ok(None);
    }
    Ok(Some(ScopeOverride {
        name: scope.get("name")?.string()?,
        version: scope.get("version")?.string()?,
        schema_url: scope.get("schemaUrl")?.string()?,
    }))
}

#[cfg(test)]
mod tests;
