//! The naming rules of backstage-telemetry, shared by the runtime (for names given at run
//! time) and the macros (for names checked at compile time), so the two never disagree.
//!
//! This crate has no dependencies. Users reach it through `backstage_telemetry::naming`.
//!
//! ```
//! use backstage_telemetry_naming::Scope;
//!
//! let catalog = Scope::plugin("catalog").unwrap();
//! assert_eq!(catalog.metric_name("entities.processed").unwrap(), "backstage.plugin.catalog.entities.processed");
//!
//! let err = catalog.metric_name("Entities").unwrap_err();
//! assert!(err.to_string().contains("metric name `Entities`"));
//! ```

use std::borrow::Cow;
use std::fmt;

/// The root namespace of every exported metric name.
pub const ROOT_NAMESPACE: &str = "backstage";
/// Longest plugin or core service id.
pub const MAX_ID_LEN: usize = 63;
/// Longest exported metric name (OpenTelemetry's instrument-name limit).
pub const MAX_METRIC_NAME_LEN: usize = 255;
/// Longest unit (OpenTelemetry's unit limit).
pub const MAX_UNIT_LEN: usize = 63;
/// Longest span name, in bytes. Span names are low-cardinality labels, not messages.
pub const MAX_SPAN_NAME_LEN: usize = 256;
/// How many characters of a rejected value an error message quotes (escaped).
pub const QUOTED_PREFIX_LEN: usize = 32;

/// Whether a scope is a plugin or a core service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ScopeKind {
    /// A backend plugin (`backstage.plugin.{id}.…`).
    Plugin,
    /// A core service such as `scheduler` or `database` (`backstage.core.{id}.…`).
    Core,
}

impl ScopeKind {
    /// The segment that follows `backstage.` in exported names: `plugin` or `core`.
    pub const fn segment(self) -> &'static str {
        match self {
            ScopeKind::Plugin => "plugin",
            ScopeKind::Core => "core",
        }
    }

    fn subject(self) -> Subject {
        match self {
            ScopeKind::Plugin => Subject::PluginId,
            ScopeKind::Core => Subject::CoreServiceId,
        }
    }
}

/// Attribute naming the plugin a span belongs to.
pub const PLUGIN_ID_ATTRIBUTE: &str = "backstage.plugin.id";
/// Attribute naming the core service a span belongs to.
pub const CORE_ID_ATTRIBUTE: &str = "backstage.core.id";

/// A plugin or core service: what prefixes metric names and names meters and tracers. The
/// macros resolve one at compile time, the runtime holds one per service; both use this type.
///
/// ```
/// use backstage_telemetry_naming::{Scope, ScopeKind};
///
/// let scope = Scope::core("database").unwrap();
/// assert_eq!(scope.kind(), ScopeKind::Core);
/// assert_eq!(scope.id(), "database");
/// assert_eq!(scope.metric_name("connections.active").unwrap(), "backstage.core.database.connections.active");
/// assert_eq!(scope.instrumentation_scope_name(), "backstage-core-database");
/// assert!(Scope::plugin("TechInsights").is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Scope {
    kind: ScopeKind,
    id: Cow<'static, str>,
}

impl Scope {
    /// The scope of plugin `id`, if `id` is a valid plugin id.
    pub fn plugin(id: impl Into<Cow<'static, str>>) -> Result<Self, NameError> {
        Self::new(ScopeKind::Plugin, id)
    }

    /// The scope of core service `id`, if `id` is a valid core service id.
    pub fn core(id: impl Into<Cow<'static, str>>) -> Result<Self, NameError> {
        Self::new(ScopeKind::Core, id)
    }

    /// The scope of kind `kind` and id `id`, if `id` is valid.
    pub fn new(kind: ScopeKind, id: impl Into<Cow<'static, str>>) -> Result<Self, NameError> {
        let id = id.into();
        check_id(kind, &id)?;
        Ok(Scope { kind, id })
    }

    /// A scope whose id was checked at compile time by the macros.
    #[doc(hidden)]
    pub const fn __checked(kind: ScopeKind, id: &'static str) -> Self {
        Scope {
            kind,
            id: Cow::Borrowed(id),
        }
    }

    /// Plugin or core service.
    pub fn kind(&self) -> ScopeKind {
        self.kind
    }

    /// The plugin or core service id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The id, owned or `'static`, as the scope holds it.
    pub fn id_cow(&self) -> &Cow<'static, str> {
        &self.id
    }

    /// The exported name of metric `authored`: `backstage.{plugin|core}.{id}.{authored}`.
    /// Fails when `authored` is not a valid metric name, or the exported name is longer than
    /// [`MAX_METRIC_NAME_LEN`].
    pub fn metric_name(&self, authored: &str) -> Result<String, NameError> {
        validate_metric_name(authored)?;
        let full = self.metric_prefix() + authored;
        if full.len() > MAX_METRIC_NAME_LEN {
            let len = full.len();
            return Err(NameError::new(
                Subject::ExportedMetricName,
                full,
                Problem::TooLong {
                    len,
                    max: MAX_METRIC_NAME_LEN,
                },
            ));
        }
        Ok(full)
    }

    /// The prefix of every metric of this scope: `backstage.plugin.{id}.` or
    /// `backstage.core.{id}.`.
    pub fn metric_prefix(&self) -> String {
        format!("{ROOT_NAMESPACE}.{}.{}.", self.kind.segment(), self.id)
    }

    /// The default name of this scope's meter and tracer: `backstage-plugin-{id}` or
    /// `backstage-core-{id}`.
    pub fn instrumentation_scope_name(&self) -> String {
        format!("{ROOT_NAMESPACE}-{}-{}", self.kind.segment(), self.id)
    }

    /// The key of the attribute every span of this scope carries: `backstage.plugin.id` or
    /// `backstage.core.id`.
    pub fn id_attribute_key(&self) -> &'static str {
        match self.kind {
            ScopeKind::Plugin => PLUGIN_ID_ATTRIBUTE,
            ScopeKind::Core => CORE_ID_ATTRIBUTE,
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind.segment(), self.id)
    }
}

/// The seven instrument kinds of OpenTelemetry, as the macros and the runtime name them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MetricKind {
    /// A sum that only goes up.
    Counter,
    /// A sum that goes up and down.
    UpDownCounter,
    /// A distribution of values.
    Histogram,
    /// The last recorded value.
    Gauge,
    /// A monotonic sum read by a callback.
    ObservableCounter,
    /// A sum read by a callback.
    ObservableUpDownCounter,
    /// A value read by a callback.
    ObservableGauge,
}

impl MetricKind {
    /// Every kind.
    pub const ALL: [MetricKind; 7] = [
        MetricKind::Counter,
        MetricKind::UpDownCounter,
        MetricKind::Histogram,
        MetricKind::Gauge,
        MetricKind::ObservableCounter,
        MetricKind::ObservableUpDownCounter,
        MetricKind::ObservableGauge,
    ];

    /// The kind's type name, such as `ObservableGauge`.
    pub const fn name(self) -> &'static str {
        match self {
            MetricKind::Counter => "Counter",
            MetricKind::UpDownCounter => "UpDownCounter",
            MetricKind::Histogram => "Histogram",
            MetricKind::Gauge => "Gauge",
            MetricKind::ObservableCounter => "ObservableCounter",
            MetricKind::ObservableUpDownCounter => "ObservableUpDownCounter",
            MetricKind::ObservableGauge => "ObservableGauge",
        }
    }

    /// The value types OpenTelemetry offers for this kind.
    pub const fn value_types(self) -> &'static [&'static str] {
        match self {
            MetricKind::Counter | MetricKind::Histogram | MetricKind::ObservableCounter => {
                &["u64", "f64"]
            }
            MetricKind::UpDownCounter | MetricKind::ObservableUpDownCounter => &["i64", "f64"],
            MetricKind::Gauge | MetricKind::ObservableGauge => &["u64", "i64", "f64"],
        }
    }

    /// Whether values are reported by a callback at collection.
    pub const fn is_observable(self) -> bool {
        matches!(
            self,
            MetricKind::ObservableCounter
                | MetricKind::ObservableUpDownCounter
                | MetricKind::ObservableGauge
        )
    }
}

/// The five span kinds of OpenTelemetry, as `#[span(kind = ..)]`, the span metrics' `span.kind`
/// attribute and the catalog name them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum SpanKind {
    /// Work inside the process (the default).
    #[default]
    Internal,
    /// The handling of a request from a remote client.
    Server,
    /// A request to a remote service.
    Client,
    /// The sending of a message handled later.
    Producer,
    /// The handling of a message sent earlier.
    Consumer,
}

impl SpanKind {
    /// Every kind.
    pub const ALL: [SpanKind; 5] = [
        SpanKind::Internal,
        SpanKind::Server,
        SpanKind::Client,
        SpanKind::Producer,
        SpanKind::Consumer,
    ];

    /// The kind as written in `kind = ..` and exported in `span.kind`: `internal`, `server`,
    /// `client`, `producer` or `consumer`.
    pub const fn name(self) -> &'static str {
        match self {
            SpanKind::Internal => "internal",
            SpanKind::Server => "server",
            SpanKind::Client => "client",
            SpanKind::Producer => "producer",
            SpanKind::Consumer => "consumer",
        }
    }

    /// The kind named `name` (as [`name`](Self::name) writes it), if there is one.
    ///
    /// ```
    /// use backstage_telemetry_naming::SpanKind;
    ///
    /// assert_eq!(SpanKind::from_name("server"), Some(SpanKind::Server));
    /// assert_eq!(SpanKind::from_name("Server"), None);
    /// ```
    pub fn from_name(name: &str) -> Option<SpanKind> {
        SpanKind::ALL.into_iter().find(|kind| kind.name() == name)
    }

    /// A `#[span]` site as the catalog the expansions write stores it: its `line`, this kind
    /// and whether it asks for span metrics, in one number (one literal per site is cheaper
    /// to compile than a tuple or a struct, measured). Read back by
    /// [`unpack_site`](Self::unpack_site).
    ///
    /// ```
    /// use backstage_telemetry_naming::SpanKind;
    ///
    /// let code = SpanKind::Client.pack_site(42, true);
    /// assert_eq!(SpanKind::unpack_site(code), Some((42, SpanKind::Client, true)));
    /// assert_eq!(SpanKind::unpack_site(7 << 1), None); // no kind 7
    /// ```
    pub const fn pack_site(self, line: u32, metrics: bool) -> u32 {
        let kind = match self {
            SpanKind::Internal => 0,
            SpanKind::Server => 1,
            SpanKind::Client => 2,
            SpanKind::Producer => 3,
            SpanKind::Consumer => 4,
        };
        (line << 4) | (kind << 1) | metrics as u32
    }

    /// The line, kind and span-metrics flag [`pack_site`](Self::pack_site) packed; `None`
    /// for a code it cannot have made.
    pub fn unpack_site(code: u32) -> Option<(u32, SpanKind, bool)> {
        let kind = *SpanKind::ALL.get(((code >> 1) & 0b111) as usize)?;
        Some((code >> 4, kind, code & 1 == 1))
    }
}

/// What a [`NameError`] is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Subject {
    /// A plugin id such as `catalog`.
    PluginId,
    /// A core service id such as `scheduler`.
    CoreServiceId,
    /// A metric name as authored, such as `entities.processed`.
    MetricName,
    /// The full exported metric name, such as `backstage.plugin.catalog.entities.processed`.
    ExportedMetricName,
    /// An instrument unit such as `{entity}`.
    Unit,
    /// Histogram bucket boundaries.
    HistogramBoundaries,
    /// A span or metric attribute key such as `catalog.entity.kind`.
    AttributeKey,
    /// A span name.
    SpanName,
}

impl Subject {
    fn label(self) -> &'static str {
        match self {
            Subject::PluginId => "plugin id",
            Subject::CoreServiceId => "core service id",
            Subject::MetricName => "metric name",
            Subject::ExportedMetricName => "exported metric name",
            Subject::Unit => "unit",
            Subject::HistogramBoundaries => "histogram boundaries",
            Subject::AttributeKey => "attribute key",
            Subject::SpanName => "span name",
        }
    }

    /// How a valid value looks: the second half of every error message.
    pub fn hint(self) -> &'static str {
        match self {
            Subject::PluginId => {
                "plugin ids are 1 to 63 lowercase letters and digits, in words joined by single \
                 hyphens, starting with a letter, e.g. `catalog` or `tech-insights`"
            }
            Subject::CoreServiceId => {
                "core service ids are 1 to 63 lowercase letters and digits, in words joined by \
                 single hyphens, starting with a letter, e.g. `scheduler` or `database`"
            }
            Subject::MetricName => {
                "metric names are `{category}.{name}`: two or more dot-separated segments of \
                 lowercase letters, digits and underscores, each starting with a letter, e.g. \
                 `entities.processed`; the `backstage.plugin.{id}.` prefix is added for you"
            }
            Subject::ExportedMetricName => {
                "the exported name `backstage.{plugin|core}.{id}.{name}` must be at most 255 \
                 characters; shorten the metric name"
            }
            Subject::Unit => {
                "units are at most 63 ASCII characters without whitespace; use UCUM units such \
                 as `s`, `ms`, `By` or `{entity}`"
            }
            Subject::HistogramBoundaries => {
                "bucket boundaries must be finite numbers in strictly increasing order, e.g. \
                 [0.01, 0.1, 1.0, 10.0]"
            }
            Subject::AttributeKey => {
                "attribute keys are lowercase and dot-namespaced: segments of lowercase letters, \
                 digits and underscores, each starting with a letter, e.g. `catalog.entity.kind`"
            }
            Subject::SpanName => {
                "span names are non-empty, low-cardinality literals of at most 256 bytes \
                 without control characters, such as `process-entity`; put variable parts in \
                 attributes"
            }
        }
    }
}

/// What is wrong with a name.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Problem {
    /// The value is empty (or, for span names, blank).
    Empty,
    /// The value is longer than allowed.
    TooLong {
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A character that the rule does not allow.
    InvalidChar {
        /// The character.
        ch: char,
        /// Its position (in characters, from 0).
        at: usize,
    },
    /// A segment (between dots or hyphens) starts with something other than a lowercase letter.
    BadSegmentStart {
        /// The character found.
        ch: char,
        /// Its position (in characters, from 0).
        at: usize,
    },
    /// Two separators in a row, or a separator at either end.
    EmptySegment {
        /// Position of the empty segment (in characters, from 0).
        at: usize,
    },
    /// A metric name with a single segment.
    SingleSegment,
    /// A histogram boundary that is NaN or infinite.
    NonFinite {
        /// Index of the boundary.
        index: usize,
    },
    /// A histogram boundary not greater than the one before it.
    NotIncreasing {
        /// Index of the boundary.
        index: usize,
    },
    /// The metric name is taken in this scope by an instrument of another kind, value
    /// type or unit.
    AlreadyRegistered {
        /// What holds the name, such as `Counter<u64>` with unit `s`.
        existing: String,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Empty => f.write_str("is empty"),
            Problem::TooLong { len, max } => write!(f, "is {len} characters long (at most {max})"),
            Problem::InvalidChar { ch, at } => {
                if ch.is_ascii_uppercase() {
                    write!(f, "has uppercase `{ch}` at position {at}")
                } else if ch.is_whitespace() {
                    write!(f, "has whitespace at position {at}")
                } else if ch.is_control() {
                    write!(f, "has a control character at position {at}")
                } else if !ch.is_ascii() {
                    write!(f, "has non-ASCII `{}` at position {at}", ch.escape_debug())
                } else {
                    write!(f, "has `{ch}` at position {at}, which is not allowed")
                }
            }
            Problem::BadSegmentStart { ch, at } => {
                write!(
                    f,
                    "has a segment starting with `{}` at position {at}",
                    ch.escape_debug()
                )
            }
            Problem::EmptySegment { at } => write!(f, "has an empty segment at position {at}"),
            Problem::SingleSegment => f.write_str("has a single segment"),
            Problem::NonFinite { index } => write!(f, "has a non-finite value at index {index}"),
            Problem::AlreadyRegistered { existing } => write!(
                f,
                "is already registered in this scope as {existing}; one name is one \
                 instrument: use the same kind, value type and unit, or another name"
            ),
            Problem::NotIncreasing { index } => {
                write!(
                    f,
                    "are not strictly increasing at index {index} (each boundary must be greater than the one before)"
                )
            }
        }
    }
}

/// A name that breaks a naming rule. Its message says what is wrong and how to fix it.
#[derive(Clone, Debug, PartialEq)]
pub struct NameError {
    subject: Subject,
    value: String,
    problem: Problem,
}

impl NameError {
    fn new(subject: Subject, value: impl Into<String>, problem: Problem) -> Self {
        NameError {
            subject,
            value: value.into(),
            problem,
        }
    }

    /// What kind of name was rejected.
    pub fn subject(&self) -> Subject {
        self.subject
    }

    /// The rejected value.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// What is wrong with it.
    pub fn problem(&self) -> &Problem {
        &self.problem
    }

    /// The message without the rejected value, for places that already show it
    /// (a compile error pointing at the literal).
    pub fn short_message(&self) -> String {
        format!(
            "{} {}: {}",
            self.subject.label(),
            self.problem,
            self.subject.hint()
        )
    }
}

/// The message quotes at most [`QUOTED_PREFIX_LEN`] characters of the value, escaped, so a
/// hostile value can neither flood a log nor put control characters in it.
impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} `{}` {}: {}",
            self.subject.label(),
            quoted(&self.value),
            self.problem,
            self.subject.hint()
        )
    }
}

/// The first [`QUOTED_PREFIX_LEN`] characters of `value`, escaped, with `…` if cut.
fn quoted(value: &str) -> String {
    let mut quoted: String = value
        .chars()
        .take(QUOTED_PREFIX_LEN)
        .flat_map(char::escape_debug)
        .collect();
    if value.chars().nth(QUOTED_PREFIX_LEN).is_some() {
        quoted.push('…');
    }
    quoted
}

impl std::error::Error for NameError {}

/// Checks a plugin or core service id: `^[a-z][a-z0-9]*(-[a-z0-9]+)*$`, 1–63 characters
/// (the one check behind [`Scope::new`]).
fn check_id(kind: ScopeKind, id: &str) -> Result<(), NameError> {
    let subject = kind.subject();
    check_len(subject, id, MAX_ID_LEN)?;
    check_segments(id, '-', |c| c.is_ascii_lowercase() || c.is_ascii_digit())
        .map_err(|p| NameError::new(subject, id, p))?;
    // Only the first word must start with a letter (`k8s-v2` is fine).
    match id.chars().next() {
        Some(c) if c.is_ascii_lowercase() => Ok(()),
        Some(ch) => Err(NameError::new(
            subject,
            id,
            Problem::BadSegmentStart { ch, at: 0 },
        )),
        None => Err(NameError::new(subject, id, Problem::Empty)),
    }
}

/// Checks a metric name as authored: two or more dot-separated `^[a-z][a-z0-9_]*$` segments.
pub fn validate_metric_name(name: &str) -> Result<(), NameError> {
    let subject = Subject::MetricName;
    check_len(subject, name, MAX_METRIC_NAME_LEN)?;
    check_dotted(subject, name)?;
    if !name.contains('.') {
        return Err(NameError::new(subject, name, Problem::SingleSegment));
    }
    Ok(())
}

/// Checks a unit: ASCII without whitespace or control characters, at most 63 characters.
/// The empty unit (no unit) is allowed.
pub fn validate_unit(unit: &str) -> Result<(), NameError> {
    let subject = Subject::Unit;
    if let Some((at, ch)) = unit
        .chars()
        .enumerate()
        .find(|(_, c)| !c.is_ascii_graphic())
    {
        return Err(NameError::new(
            subject,
            unit,
            Problem::InvalidChar { ch, at },
        ));
    }
    if unit.len() > MAX_UNIT_LEN {
        return Err(NameError::new(
            subject,
            unit,
            Problem::TooLong {
                len: unit.len(),
                max: MAX_UNIT_LEN,
            },
        ));
    }
    Ok(())
}

/// Checks histogram bucket boundaries: finite and strictly increasing.
pub fn validate_boundaries(boundaries: &[f64]) -> Result<(), NameError> {
    let error = |problem| {
        NameError::new(
            Subject::HistogramBoundaries,
            format!("{boundaries:?}"),
            problem,
        )
    };
    if let Some(index) = boundaries.iter().position(|b| !b.is_finite()) {
        return Err(error(Problem::NonFinite { index }));
    }
    if let Some(index) = (1..boundaries.len()).find(|&i| boundaries[i] <= boundaries[i - 1]) {
        return Err(error(Problem::NotIncreasing { index }));
    }
    Ok(())
}

/// Checks an attribute key: `^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$`.
pub fn validate_attribute_key(key: &str) -> Result<(), NameError> {
    check_dotted(Subject::AttributeKey, key)
}

/// Checks a span name: not empty or blank, at most [`MAX_SPAN_NAME_LEN`] bytes, no control
/// characters.
pub fn validate_span_name(name: &str) -> Result<(), NameError> {
    if name.trim().is_empty() {
        return Err(NameError::new(Subject::SpanName, name, Problem::Empty));
    }
    check_len(Subject::SpanName, name, MAX_SPAN_NAME_LEN)?;
    if let Some((at, ch)) = name.chars().enumerate().find(|(_, c)| c.is_control()) {
        return Err(NameError::new(
            Subject::SpanName,
            name,
            Problem::InvalidChar { ch, at },
        ));
    }
    Ok(())
}

/// The error for a metric name taken in its scope by another kind, value type or unit.
pub fn already_registered(name: &str, existing: impl Into<String>) -> NameError {
    NameError::new(
        Subject::MetricName,
        name,
        Problem::AlreadyRegistered {
            existing: existing.into(),
        },
    )
}

fn check_len(subject: Subject, value: &str, max: usize) -> Result<(), NameError> {
    if value.is_empty() {
        return Err(NameError::new(subject, value, Problem::Empty));
    }
    if value.len() > max {
        return Err(NameError::new(
            subject,
            value,
            Problem::TooLong {
                len: value.len(),
                max,
            },
        ));
    }
    Ok(())
}

/// Dot-separated segments, each `^[a-z][a-z0-9_]*$`.
fn check_dotted(subject: Subject, value: &str) -> Result<(), NameError> {
    if value.is_empty() {
        return Err(NameError::new(subject, value, Problem::Empty));
    }
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_';
    check_segments(value, '.', allowed).map_err(|p| NameError::new(subject, value, p))?;
    // Every segment starts with a letter.
    let mut at = 0;
    for segment in value.split('.') {
        let first = segment.chars().next().expect("segments are non-empty here");
        if !first.is_ascii_lowercase() {
            return Err(NameError::new(
                subject,
                value,
                Problem::BadSegmentStart { ch: first, at },
            ));
        }
        at += segment.chars().count() + 1;
    }
    Ok(())
}

/// Segments separated by `separator`: none empty, every character `allowed`.
fn check_segments(
    value: &str,
    separator: char,
    allowed: impl Fn(char) -> bool,
) -> Result<(), Problem> {
    let mut previous_was_separator = true; // a leading separator is an empty segment
    let mut count = 0;
    for (at, ch) in value.chars().enumerate() {
        count = at + 1;
        if ch == separator {
            if previous_was_separator {
                return Err(Problem::EmptySegment { at });
            }
            previous_was_separator = true;
        } else if allowed(ch) {
            previous_was_separator = false;
        } else {
            return Err(Problem::InvalidChar { ch, at });
        }
    }
    if previous_was_separator {
        return Err(Problem::EmptySegment { at: count });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem<T>(r: Result<T, NameError>) -> Problem {
        r.err().expect("expected an error").problem().clone()
    }

    #[test]
    fn scope_ids() {
        for ok in [
            "catalog",
            "tech-insights",
            "k8s",
            "a",
            "a1-b2-c3",
            &"a".repeat(63),
        ] {
            Scope::plugin(ok.to_owned()).unwrap();
            Scope::core(ok.to_owned()).unwrap();
        }
        assert_eq!(problem(Scope::plugin("")), Problem::Empty);
        assert_eq!(
            problem(Scope::plugin("Catalog")),
            Problem::InvalidChar { ch: 'C', at: 0 }
        );
        assert_eq!(
            problem(Scope::plugin("_catalog")),
            Problem::InvalidChar { ch: '_', at: 0 }
        );
        assert_eq!(
            problem(Scope::plugin("1catalog")),
            Problem::BadSegmentStart { ch: '1', at: 0 }
        );
        assert_eq!(
            problem(Scope::plugin("tech--insights")),
            Problem::EmptySegment { at: 5 }
        );
        assert_eq!(
            problem(Scope::plugin("catalog-")),
            Problem::EmptySegment { at: 8 }
        );
        assert_eq!(
            problem(Scope::plugin("a".repeat(64))),
            Problem::TooLong { len: 64, max: 63 }
        );
        let err = Scope::core("Db").unwrap_err();
        assert_eq!(err.subject(), Subject::CoreServiceId);
        assert!(
            err.to_string()
                .starts_with("core service id `Db` has uppercase `D`")
        );
    }

    #[test]
    fn metric_names() {
        for ok in [
            "entities.processed",
            "a.b.c",
            "tasks.step_duration",
            "x1.y2",
        ] {
            validate_metric_name(ok).unwrap();
        }
        assert_eq!(
            problem(validate_metric_name("entities")),
            Problem::SingleSegment
        );
        assert_eq!(
            problem(validate_metric_name("Entities.processed")),
            Problem::InvalidChar { ch: 'E', at: 0 }
        );
        assert_eq!(
            problem(validate_metric_name("entities..processed")),
            Problem::EmptySegment { at: 9 }
        );
        assert_eq!(
            problem(validate_metric_name("entities._processed")),
            Problem::BadSegmentStart { ch: '_', at: 9 }
        );
        assert_eq!(
            problem(validate_metric_name("entities.processed-total")),
            Problem::InvalidChar { ch: '-', at: 18 }
        );
    }

    #[test]
    fn exported_names() {
        assert_eq!(
            Scope::core("database")
                .unwrap()
                .metric_name("connections.active")
                .unwrap(),
            "backstage.core.database.connections.active"
        );
        let long = format!("a.{}", "b".repeat(240));
        let catalog = Scope::plugin("catalog").unwrap();
        let err = catalog.metric_name(&long).unwrap_err();
        assert_eq!(err.subject(), Subject::ExportedMetricName);
        assert_eq!(
            err.problem(),
            &Problem::TooLong {
                len: 25 + long.len(),
                max: 255
            }
        );
        // exactly 255 is fine
        let fits = format!("a.{}", "b".repeat(255 - 25 - 2));
        assert_eq!(catalog.metric_name(&fits).unwrap().len(), 255);
        assert_eq!(
            catalog.instrumentation_scope_name(),
            "backstage-plugin-catalog"
        );
        assert_eq!(
            Scope::core("http").unwrap().instrumentation_scope_name(),
            "backstage-core-http"
        );
    }

    #[test]
    fn units() {
        for ok in ["", "s", "By", "{entity}", "ms", "1", "%", &"x".repeat(63)] {
            validate_unit(ok).unwrap();
        }
        assert_eq!(
            problem(validate_unit("µs")),
            Problem::InvalidChar { ch: 'µ', at: 0 }
        );
        assert_eq!(
            problem(validate_unit("per second")),
            Problem::InvalidChar { ch: ' ', at: 3 }
        );
        assert_eq!(
            problem(validate_unit(&"x".repeat(64))),
            Problem::TooLong { len: 64, max: 63 }
        );
    }

    #[test]
    fn boundaries() {
        validate_boundaries(&[]).unwrap();
        validate_boundaries(&[-1.0, 0.0, 0.5, 10.0]).unwrap();
        assert_eq!(
            problem(validate_boundaries(&[1.0, 1.0])),
            Problem::NotIncreasing { index: 1 }
        );
        assert_eq!(
            problem(validate_boundaries(&[1.0, f64::NAN])),
            Problem::NonFinite { index: 1 }
        );
        assert_eq!(
            problem(validate_boundaries(&[f64::NEG_INFINITY, 1.0])),
            Problem::NonFinite { index: 0 }
        );
    }

    #[test]
    fn attribute_keys_and_span_names() {
        for ok in ["kind", "catalog.entity.kind", "http.response.status_code"] {
            validate_attribute_key(ok).unwrap();
        }
        assert_eq!(
            problem(validate_attribute_key("Kind")),
            Problem::InvalidChar { ch: 'K', at: 0 }
        );
        assert_eq!(
            problem(validate_attribute_key("entity.")),
            Problem::EmptySegment { at: 7 }
        );
        validate_span_name("process").unwrap();
        assert_eq!(problem(validate_span_name("")), Problem::Empty);
        assert_eq!(problem(validate_span_name("  ")), Problem::Empty);
    }

    #[test]
    fn messages_say_how_to_fix() {
        let err = validate_metric_name("entities").unwrap_err();
        assert_eq!(
            err.to_string(),
            "metric name `entities` has a single segment: metric names are `{category}.{name}`: \
             two or more dot-separated segments of lowercase letters, digits and underscores, \
             each starting with a letter, e.g. `entities.processed`; the \
             `backstage.plugin.{id}.` prefix is added for you"
        );
        assert!(
            err.short_message()
                .starts_with("metric name has a single segment: ")
        );
    }
}
