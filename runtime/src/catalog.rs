//! One catalog of every metric and span site in the binary: what the macros declared, in
//! every crate linked in (gathered at link time), and the instruments built at run time with
//! a [`MetricsService`](crate::MetricsService).
//!
//! [`catalog()`] lists them; [`Catalog::conflicts`] finds what a scrape would mix up: one
//! exported name held by two kinds, value types or units (declared in two crates, or in two
//! files sharing the crate-wide scope), and two names that Prometheus turns into the same
//! series (`.` and `-` become `_`: plugin `tech-insights` with `checks.run` and plugin
//! `tech` with `insights_checks.run` are both `backstage_plugin_tech_insights_checks_run_total`).
//! `init` reports each conflict in [`Telemetry::problems`](crate::Telemetry::problems), and
//! [`assert_consistent`] fails a test on them.
//!
//! ```
//! #[backstage_telemetry::backstage_plugin(id = "catalog-doc")]
//! mod catalog_doc {
//!     backstage_telemetry::metric! {
//!         /// Entities processed.
//!         pub static PROCESSED: Counter<u64> = "entities.processed", unit = "{entity}";
//!     }
//!
//!     #[backstage_telemetry::span]
//!     pub fn process() {}
//! }
//!
//! let catalog = backstage_telemetry::catalog();
//! let metric = catalog
//!     .metrics()
//!     .iter()
//!     .find(|m| m.name == "backstage.plugin.catalog-doc.entities.processed")
//!     .unwrap();
//! assert!(metric.site.module.ends_with("catalog_doc"));
//! assert!(catalog.spans().iter().any(|s| s.name == "process" && s.scope.id() == "catalog-doc"));
//! backstage_telemetry::catalog::assert_consistent();
//! ```

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use crate::config::Config;
use crate::metrics::{Built, MetricKind};
use crate::naming::{Scope, ScopeKind, SpanKind};
use crate::tracing::{
    SPAN_DURATION_DESCRIPTION, SPAN_DURATION_UNIT, span_duration_boundaries, span_duration_name,
};

/// What the expansions write: reachable through `__private` only.
pub(crate) mod link {
    use crate::metrics::MetricInfo;
    use crate::naming::ScopeKind;
    use crate::site::ScopeSite;

    /// What one scoped module, or one site outside such a module, declared: an element of
    /// `DECLARED`, written by the macro expansions.
    #[doc(hidden)]
    #[derive(Debug)]
    pub struct Declared {
        pub kind: ScopeKind,
        pub id: &'static str,
        pub crate_name: &'static str,
        /// The declaring crate's version: a plugin scope's instrumentation-scope version.
        pub crate_version: &'static str,
        pub module: &'static str,
        pub file: &'static str,
        pub metrics: &'static [MetricInfo],
        /// The line of each metric.
        pub metric_lines: &'static [u32],
        /// The name of each span site.
        pub span_names: &'static [&'static str],
        /// The line, kind and whether it asks for span metrics of each span site
        /// (`SpanKind::pack_site`).
        pub span_sites: &'static [u32],
        /// Registers the observable instruments declared (`register_observables`), which
        /// `init` calls.
        pub register: Option<fn()>,
        /// The scope site the span sites keep their span metrics in, at their index in
        /// `span_sites` (`None` without span sites).
        pub site: Option<&'static ScopeSite>,
    }

    /// Every declaration of the macros in the binary, gathered by the linker.
    #[doc(hidden)]
    #[linkme::distributed_slice]
    pub static DECLARED: [Declared];
}

pub(crate) use link::DECLARED;

/// Registers every observable instrument declared at the top of a scoped module or as a
/// `metric!` static, in every crate of the binary, so that none is missing from the export
/// for want of a `register_observables()` call. Registering twice is harmless.
#[cfg(feature = "sdk")]
pub(crate) fn register_observables() {
    for register in DECLARED.iter().filter_map(|declared| declared.register) {
        register();
    }
}

/// The version of the crate that declares each plugin: its scopes' version (a plugin that
/// crates of different versions declare takes the version of the first crate by name).
#[cfg(feature = "sdk")]
pub(crate) fn plugin_versions() -> BTreeMap<&'static str, &'static str> {
    let mut declared: Vec<&link::Declared> = DECLARED
        .iter()
        .filter(|d| d.kind == ScopeKind::Plugin && !d.crate_version.is_empty())
        .collect();
    declared.sort_by_key(|d| d.crate_name);
    let mut versions = BTreeMap::new();
    for declared in declared {
        versions
            .entry(declared.id)
            .or_insert(declared.crate_version);
    }
    versions
}

/// Binds the span-metric series of every `#[span]` site in the binary that records them, so
/// that each of their outcomes is exported at 0 from start-up rather than from the site's
/// first call. `init` calls it once its providers are installed.
#[cfg(feature = "sdk")]
pub(crate) fn bind_span_metrics() {
    for declared in DECLARED.iter() {
        if let Some(site) = declared.site {
            site.bind_sites(declared.span_names, declared.span_sites);
        }
    }
}

/// Where something was declared.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub struct Site {
    /// The declaring crate's package name (empty for run-time instruments).
    pub crate_name: Cow<'static, str>,
    /// The module path (empty for run-time instruments).
    pub module: Cow<'static, str>,
    /// The source file and line.
    pub file: Cow<'static, str>,
    /// The line of the declaration (of the call that built a run-time instrument).
    pub line: u32,
}

impl fmt::Display for Site {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.module.is_empty() {
            write!(f, "{}:{} (built at run time)", self.file, self.line)
        } else {
            write!(f, "{}:{} ({})", self.file, self.line, self.module)
        }
    }
}

/// One metric of the catalog.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct MetricEntry {
    /// The exported name, such as `backstage.plugin.catalog.entities.processed`.
    pub name: Cow<'static, str>,
    /// The instrument kind.
    pub kind: MetricKind,
    /// `u64`, `i64` or `f64`.
    pub value_type: &'static str,
    /// The unit (empty if none).
    pub unit: Cow<'static, str>,
    /// The description (empty if none).
    pub description: Cow<'static, str>,
    /// The plugin or core service.
    pub scope: Scope,
    /// Where it was declared.
    pub site: Site,
    /// A histogram's bucket boundaries as exported: an operator's view
    /// (`backend.metrics.views`) if one sets them, else the declared ones (the app-config's
    /// for span metrics), else the SDK's default ([`SDK_DEFAULT_BOUNDARIES`]); `None` for
    /// other kinds.
    pub boundaries: Option<Cow<'static, [f64]>>,
}

/// The bucket boundaries the OpenTelemetry SDK gives a histogram that declares none.
pub const SDK_DEFAULT_BOUNDARIES: &[f64] = &[
    0.0, 5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 750.0, 1000.0, 2500.0, 5000.0, 7500.0,
    10000.0,
];

impl MetricEntry {
    /// The names Prometheus scrapes for it, as the exporter translates them: the name with
    /// every character other than letters, digits, `_` and `:` as `_`, the unit's suffix
    /// (`_seconds`, `_bytes`, ..; none for `{entity}`-style annotations), then `_total` for
    /// counters and `_bucket`, `_sum`, `_count` for histograms.
    pub fn prometheus_names(&self) -> Vec<String> {
        let base = prometheus_base(&self.name, &self.unit);
        match self.kind {
            MetricKind::Counter | MetricKind::ObservableCounter => vec![format!("{base}_total")],
            MetricKind::Histogram => ["_bucket", "_sum", "_count", ""]
                .iter()
                .map(|suffix| format!("{base}{suffix}"))
                .collect(),
            _ => vec![base],
        }
    }

    fn same_instrument(&self, other: &MetricEntry) -> bool {
        self.kind == other.kind && self.value_type == other.value_type && self.unit == other.unit
    }
}

/// The name Prometheus scrapes for the metric `name` of `unit`, before any suffix of its
/// kind (`_total`, `_bucket`, ..): as the exporter translates it, every character other than
/// letters, digits, `_` and `:` as `_`, then the unit's suffix.
pub(crate) fn prometheus_base(name: &str, unit: &str) -> String {
    let mut base: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if let Some(suffix) = unit_suffix(unit) {
        base.push('_');
        base.push_str(&suffix);
    }
    base
}

/// The Prometheus suffix of a unit, as opentelemetry-prometheus chooses it.
fn unit_suffix(unit: &str) -> Option<String> {
    fn units(unit: &str) -> Option<&'static str> {
        Some(match unit {
            "d" => "days",
            "h" => "hours",
            "min" => "minutes",
            "s" => "seconds",
            "ms" => "milliseconds",
            "us" => "microseconds",
            "ns" => "nanoseconds",
            "By" | "B" => "bytes",
            "KiBy" => "kibibytes",
            "MiBy" => "mebibytes",
            "GiBy" => "gibibytes",
            "TiBy" => "tibibytes",
            "KBy" | "KB" => "kilobytes",
            "MBy" | "MB" => "megabytes",
            "GBy" | "GB" => "gigabytes",
            "TBy" | "TB" => "terabytes",
            "m" => "meters",
            "V" => "volts",
            "A" => "amperes",
            "J" => "joules",
            "W" => "watts",
            "g" => "grams",
            "Cel" => "celsius",
            "Hz" => "hertz",
            "1" => "ratio",
            "%" => "percent",
            _ => return None,
        })
    }
    fn per_unit(unit: &str) -> Option<&'static str> {
        Some(match unit {
            "s" => "second",
            "m" => "minute",
            "h" => "hour",
            "d" => "day",
            "w" => "week",
            "mo" => "month",
            "y" => "year",
            _ => return None,
        })
    }
    if unit.is_empty() {
        return None;
    }
    if let Some(matched) = units(unit) {
        return Some(matched.to_owned());
    }
    let (first, second) = unit.split_once('/')?;
    let not_applicable = ["1", "d", "h", "min", "s", "ms", "us", "ns"].contains(&first);
    match (not_applicable, units(first), per_unit(second)) {
        (true, _, Some(second)) | (false, None, Some(second)) => Some(format!("per_{second}")),
        (false, Some(first), Some(second)) => Some(format!("{first}_per_{second}")),
        _ => None,
    }
}

/// One `#[span]` site of the catalog.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct SpanEntry {
    /// The span name.
    pub name: &'static str,
    /// The span kind.
    pub kind: SpanKind,
    /// Whether the site asks for span metrics (`#[span(metrics)]`).
    pub metrics: bool,
    /// The plugin or core service.
    pub scope: Scope,
    /// Where it was declared.
    pub site: Site,
}

/// Two declarations a scrape would mix up.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Conflict {
    /// One exported name, two different kinds, value types or units.
    SameName {
        /// The first declaration.
        first: Box<MetricEntry>,
        /// The other.
        second: Box<MetricEntry>,
    },
    /// Two exported names that Prometheus scrapes under one name.
    SamePrometheusName {
        /// The name both are scraped under.
        prometheus: String,
        /// The first declaration.
        first: Box<MetricEntry>,
        /// The other.
        second: Box<MetricEntry>,
    },
    /// A span site whose kind and span-metrics flag do not decode: written by macros of
    /// another release than this runtime's. It is left out of the catalog, and its span
    /// metrics bind at its first call.
    UndecodableSpanSite {
        /// The site's span name.
        name: &'static str,
        /// Where it was declared (line 0: the line did not decode either).
        site: Site,
    },
}

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let describe = |m: &MetricEntry| {
            let unit = if m.unit.is_empty() {
                "no unit".to_owned()
            } else {
                format!("unit `{}`", m.unit)
            };
            format!(
                "{}<{}> with {unit}, declared at {}",
                m.kind.name(),
                m.value_type,
                m.site
            )
        };
        match self {
            Conflict::SameName { first, second } => write!(
                f,
                "metric `{}` is declared twice, differently: {} and {}; give one of them another name",
                first.name,
                describe(first),
                describe(second)
            ),
            Conflict::SamePrometheusName {
                prometheus,
                first,
                second,
            } => write!(
                f,
                "metrics `{}` ({}) and `{}` ({}) are both scraped by Prometheus as `{prometheus}`; rename one",
                first.name,
                describe(first),
                second.name,
                describe(second)
            ),
            Conflict::UndecodableSpanSite { name, site } => write!(
                f,
                "span site `{name}` declared at {site} does not decode (its kind and span-metrics \
                 flag were written by the macros of another release); build with one release of \
                 backstage-telemetry and its macros"
            ),
        }
    }
}

/// Every metric and span site in the binary: see the [module](self).
#[derive(Clone, Debug, Default)]
pub struct Catalog {
    metrics: Vec<MetricEntry>,
    spans: Vec<SpanEntry>,
    /// Span sites whose codes did not decode ([`Conflict::UndecodableSpanSite`]).
    undecodable: Vec<(&'static str, Site)>,
}

/// The catalog of this binary now: the macros' declarations, the span-metrics histogram of
/// each scope whose span metrics are on (by its sites and the installed configuration), and
/// the instruments built so far. Sorted by scope, then where they were declared.
pub fn catalog() -> Catalog {
    let config = crate::global::installed_config();
    let mut metrics = Vec::new();
    let mut spans = Vec::new();
    let mut undecodable = Vec::new();
    for declared in DECLARED.iter() {
        let scope = Scope::__checked(declared.kind, declared.id);
        let site = |line| Site {
            crate_name: Cow::Borrowed(declared.crate_name),
            module: Cow::Borrowed(declared.module),
            file: Cow::Borrowed(declared.file),
            line,
        };
        for (info, line) in declared.metrics.iter().zip(declared.metric_lines) {
            metrics.push(MetricEntry {
                name: Cow::Borrowed(info.name),
                kind: info.kind,
                value_type: info.value_type,
                unit: Cow::Borrowed(info.unit),
                description: Cow::Borrowed(info.description),
                scope: scope.clone(),
                site: site(*line),
                boundaries: (!info.boundaries.is_empty()).then_some(Cow::Borrowed(info.boundaries)),
            });
        }
        for (&name, &code) in declared.span_names.iter().zip(declared.span_sites) {
            // made by the macros of the same release (an exact dependency of this crate),
            // unless two releases were linked
            let Some((line, kind, metrics)) = SpanKind::unpack_site(code) else {
                undecodable.push((name, site(0)));
                continue;
            };
            spans.push(SpanEntry {
                name,
                kind,
                metrics,
                scope: scope.clone(),
                site: site(line),
            });
        }
    }
    spans.sort_by(|a, b| order(&a.scope, &a.site).cmp(&order(&b.scope, &b.site)));
    // the span-metrics histogram of each scope, at its first site that records them
    let mut timed: Vec<(Scope, Site)> = Vec::new();
    for span in &spans {
        let plugin = (span.scope.kind() == ScopeKind::Plugin).then(|| span.scope.id());
        if config.span_metrics_enabled(plugin, span.metrics)
            && !timed.iter().any(|(scope, _)| *scope == span.scope)
        {
            timed.push((span.scope.clone(), span.site.clone()));
        }
    }
    for (scope, site) in timed {
        metrics.push(MetricEntry {
            name: Cow::Owned(span_duration_name(&scope)),
            kind: MetricKind::Histogram,
            value_type: "f64",
            unit: Cow::Borrowed(SPAN_DURATION_UNIT),
            description: Cow::Borrowed(SPAN_DURATION_DESCRIPTION),
            scope,
            site,
            boundaries: Some(Cow::Owned(span_duration_boundaries(&config).to_vec())),
        });
    }
    metrics.extend(crate::metrics::built().into_iter().map(MetricEntry::from));
    for metric in &mut metrics {
        metric.boundaries = effective_boundaries(&config, metric);
    }
    metrics.sort_by(|a, b| order(&a.scope, &a.site).cmp(&order(&b.scope, &b.site)));
    Catalog {
        metrics,
        spans,
        undecodable,
    }
}

/// What a histogram exports: the boundaries of a view that applies, else its own, else
/// the SDK's; `None` for other kinds.
fn effective_boundaries(config: &Config, metric: &MetricEntry) -> Option<Cow<'static, [f64]>> {
    if metric.kind != MetricKind::Histogram {
        return None;
    }
    let viewed = config
        .view_for(&metric.name)
        .filter(|view| !view.drop)
        .and_then(|view| view.boundaries.as_deref())
        .filter(|boundaries| crate::naming::validate_boundaries(boundaries).is_ok());
    match (viewed, &metric.boundaries) {
        (Some(boundaries), _) => Some(Cow::Owned(boundaries.to_vec())),
        (None, Some(own)) => Some(own.clone()),
        (None, None) => Some(Cow::Borrowed(SDK_DEFAULT_BOUNDARIES)),
    }
}

/// Plugins before core services, then by id, then where.
fn order<'a>(scope: &'a Scope, site: &'a Site) -> (bool, &'a str, &'a Site) {
    (scope.kind() == ScopeKind::Core, scope.id(), site)
}

impl From<Built> for MetricEntry {
    /// An instrument built at run time, declared where the code that built it is.
    fn from(built: Built) -> Self {
        MetricEntry {
            name: Cow::Owned(built.name),
            kind: built.kind,
            value_type: built.value_type,
            unit: Cow::Owned(built.unit),
            description: Cow::Owned(built.description),
            scope: built.scope,
            site: Site {
                crate_name: Cow::Borrowed(""),
                module: Cow::Borrowed(""),
                file: Cow::Borrowed(built.location.file()),
                line: built.location.line(),
            },
            boundaries: built.boundaries.map(Cow::Owned),
        }
    }
}

impl Catalog {
    /// Every metric, sorted by scope, then where it was declared.
    pub fn metrics(&self) -> &[MetricEntry] {
        &self.metrics
    }

    /// Every `#[span]` site, sorted the same way.
    pub fn spans(&self) -> &[SpanEntry] {
        &self.spans
    }

    /// What a scrape would mix up: every pair of declarations of one exported name that
    /// differ in kind, value type or unit, and every pair of names Prometheus scrapes as one;
    /// and every span site that does not decode (linked from another release's macros).
    pub fn conflicts(&self) -> Vec<Conflict> {
        let mut conflicts = Vec::new();
        let mut by_name: BTreeMap<&str, &MetricEntry> = BTreeMap::new();
        for metric in &self.metrics {
            match by_name.get(metric.name.as_ref()) {
                Some(first) if !first.same_instrument(metric) => {
                    conflicts.push(Conflict::SameName {
                        first: Box::new((*first).clone()),
                        second: Box::new(metric.clone()),
                    });
                }
                Some(_) => {}
                None => {
                    by_name.insert(&metric.name, metric);
                }
            }
        }
        conflicts.extend(self.undecodable.iter().map(|(name, site)| {
            Conflict::UndecodableSpanSite {
                name,
                site: site.clone(),
            }
        }));
        let mut scraped: BTreeMap<String, &MetricEntry> = BTreeMap::new();
        for metric in by_name.values() {
            for prometheus in metric.prometheus_names() {
                match scraped.get(&prometheus) {
                    Some(first) if first.name != metric.name => {
                        conflicts.push(Conflict::SamePrometheusName {
                            prometheus,
                            first: Box::new((*first).clone()),
                            second: Box::new((*metric).clone()),
                        });
                        break;
                    }
                    Some(_) => {}
                    None => {
                        scraped.insert(prometheus, metric);
                    }
                }
            }
        }
        conflicts
    }

    /// The metrics as a Markdown table: name, kind, unit, description, scope, declared at.
    pub fn to_markdown(&self) -> String {
        let mut table = String::from(
            "| metric | kind | unit | description | scope | declared at |\n|---|---|---|---|---|---|\n",
        );
        for m in &self.metrics {
            table.push_str(&format!(
                "| `{}` | {}<{}> | `{}` | {} | {} | {} |\n",
                m.name,
                m.kind.name(),
                m.value_type,
                m.unit,
                m.description,
                m.scope,
                m.site
            ));
        }
        table
    }

    /// The metrics and span sites as JSON: `{"metrics": [..], "spans": [..]}`.
    pub fn to_json(&self) -> String {
        let text = |s: &str| {
            let mut out = String::from("\"");
            for c in s.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                    c => out.push(c),
                }
            }
            out.push('"');
            out
        };
        let site = |s: &Site| {
            format!(
                "\"crate\":{},\"module\":{},\"file\":{},\"line\":{}",
                text(&s.crate_name),
                text(&s.module),
                text(&s.file),
                s.line
            )
        };
        let metrics: Vec<String> = self
            .metrics
            .iter()
            .map(|m| {
                let boundaries = m.boundaries.as_ref().map_or_else(String::new, |b| {
                    let values: Vec<String> = b.iter().map(f64::to_string).collect();
                    format!(",\"boundaries\":[{}]", values.join(","))
                });
                format!(
                    "{{\"name\":{},\"kind\":{},\"value_type\":{},\"unit\":{},\"description\":{},\"scope\":{},{}{boundaries}}}",
                    text(&m.name),
                    text(m.kind.name()),
                    text(m.value_type),
                    text(&m.unit),
                    text(&m.description),
                    text(&m.scope.to_string()),
                    site(&m.site)
                )
            })
            .collect();
        let spans: Vec<String> = self
            .spans
            .iter()
            .map(|s| {
                format!(
                    "{{\"name\":{},\"kind\":{},\"metrics\":{},\"scope\":{},{}}}",
                    text(s.name),
                    text(s.kind.name()),
                    s.metrics,
                    text(&s.scope.to_string()),
                    site(&s.site)
                )
            })
            .collect();
        format!(
            "{{\"metrics\":[{}],\"spans\":[{}]}}",
            metrics.join(","),
            spans.join(",")
        )
    }
}

/// Panics listing every [`Conflict`] of the [`catalog()`]: one line in a backend's tests
/// fails them when two crates declare one metric differently.
///
/// ```
/// backstage_telemetry::catalog::assert_consistent();
/// ```
#[track_caller]
pub fn assert_consistent() {
    let conflicts = catalog().conflicts();
    if !conflicts.is_empty() {
        let list: Vec<String> = conflicts.iter().map(|c| format!("- {c}")).collect();
        panic!(
            "{} metric conflict(s) in this binary:\n{}",
            conflicts.len(),
            list.join("\n")
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scope whose second span site was written by the macros of another release: its
    /// kind code (7) is none of the five.
    #[linkme::distributed_slice(DECLARED)]
    static FROM_ANOTHER_RELEASE: link::Declared = link::Declared {
        kind: ScopeKind::Plugin,
        id: "catalog-unit",
        crate_name: "other",
        crate_version: "9.0.0",
        module: "other::handlers",
        file: "src/handlers.rs",
        metrics: &[],
        metric_lines: &[],
        span_names: &["decodes", "does-not-decode"],
        span_sites: &[SpanKind::Server.pack_site(10, true), (12 << 4) | (7 << 1)],
        register: None,
        site: None,
    };

    #[test]
    fn a_span_site_that_does_not_decode_is_a_conflict_not_a_default() {
        let catalog = catalog();
        let decoded: Vec<_> = catalog
            .spans()
            .iter()
            .filter(|s| s.scope.id() == "catalog-unit")
            .map(|s| (s.name, s.kind, s.metrics, s.site.line))
            .collect();
        assert_eq!(decoded, [("decodes", SpanKind::Server, true, 10)]);
        let conflicts = catalog.conflicts();
        let undecodable: Vec<String> = conflicts
            .iter()
            .filter(|c| matches!(c, Conflict::UndecodableSpanSite { .. }))
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            undecodable,
            [
                "span site `does-not-decode` declared at src/handlers.rs:0 (other::handlers) does \
              not decode (its kind and span-metrics flag were written by the macros of another \
              release); build with one release of backstage-telemetry and its macros"
            ]
        );
        let panic = std::panic::catch_unwind(assert_consistent).expect_err("a conflict");
        let message = panic.downcast_ref::<String>().expect("a message");
        assert!(message.contains("`does-not-decode`"), "{message}");
    }
}
