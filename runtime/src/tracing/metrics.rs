//! Span metrics: how long each call of a `#[span]` site took and how it ended, in the
//! histogram `backstage.plugin.{id}.span.duration` (unit `s`) of its plugin, when the
//! app-config or the site turns them on ([`Config::span_metrics_enabled`]).
//!
//! Every attribute is bounded by construction: `span.name` is the site's compile-time
//! name, `span.kind` one of five, `outcome` one of four, and `error.type` (errors only) the
//! error's type name or its [`ErrorType`](super::ErrorType), never client input; past
//! [`MAX_ERROR_TYPES`] distinct values in one scope, further ones are recorded as
//! [`OTHER_ERROR_TYPE`] (a type's own `error_type` could be built from its data).
//!
//! The `ok`, `panic` and `cancelled` series of each site are bound once per meter provider
//! (OpenTelemetry's bound instruments), so a call records without hashing its attributes.
//!
//! [`Config::span_metrics_enabled`]: crate::Config::span_metrics_enabled

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

use opentelemetry::KeyValue;
use opentelemetry::metrics::{BoundHistogram, Histogram};
use opentelemetry::trace::SpanKind;

use super::ERROR_TYPE_ATTRIBUTE;
use crate::binding::Bound;
use crate::global::meter_generation;
use crate::metrics::{HistogramValue, InstrumentSpec, MeterScope};
use crate::sync::lock;

/// The authored name of the span-metrics histogram, prefixed with the plugin's.
pub const SPAN_DURATION_METRIC: &str = "span.duration";
/// The description of the span-metrics histogram.
pub const SPAN_DURATION_DESCRIPTION: &str =
    "How long each call of a #[span] function took, by span name, kind and outcome.";
/// Attribute holding the span's compile-time name.
pub const SPAN_NAME_ATTRIBUTE: &str = "span.name";
/// Attribute holding the span kind: `internal`, `server`, `client`, `producer`, `consumer`.
pub const SPAN_KIND_ATTRIBUTE: &str = "span.kind";
/// Attribute holding how the call ended: `ok`, `error`, `panic` or `cancelled`.
pub const OUTCOME_ATTRIBUTE: &str = "outcome";
/// The most distinct `error.type` values the span metrics of one scope record.
pub const MAX_ERROR_TYPES: usize = 32;
/// The `error.type` recorded for errors past [`MAX_ERROR_TYPES`] (semantic conventions).
pub const OTHER_ERROR_TYPE: &str = "_OTHER";

/// The span-metrics histogram of one scope: per meter provider (and configuration, whose
/// `backend.tracing.spanMetrics.boundaries` it is made with), the series of each site seen;
/// and the `error.type` values recorded.
pub(crate) struct SpanMetrics {
    meter: &'static MeterScope,
    /// `backstage.{kind}.{id}.span.duration`.
    name: String,
    bound: Bound<Series>,
    error_types: Mutex<BTreeSet<Cow<'static, str>>>,
}

/// The histogram of one meter provider, and the series bound to it: one per `#[span]`
/// site of the scope that was called, each kept for the life of the process (timers hold
/// it by reference; sites are compile-time items, so they are few).
struct Series {
    histogram: Histogram<f64>,
    /// The first [`FAST_SITES`] sites, read without a lock: filled in order, never changed.
    fast: [OnceLock<&'static SiteSeries>; FAST_SITES],
    /// Every site (the fast ones too); held while one is added.
    sites: Mutex<Vec<&'static SiteSeries>>,
}

/// Sites of one scope found without a lock; more are found under it.
const FAST_SITES: usize = 16;

/// The series of one site: its three fixed outcomes bound, errors recorded by attribute.
struct SiteSeries {
    metrics: &'static SpanMetrics,
    name: &'static str,
    kind: SpanKind,
    histogram: Histogram<f64>,
    ok: BoundHistogram<f64>,
    panic: BoundHistogram<f64>,
    cancelled: BoundHistogram<f64>,
}

impl SiteSeries {
    fn new(
        metrics: &'static SpanMetrics,
        histogram: &Histogram<f64>,
        name: &'static str,
        kind: SpanKind,
    ) -> Self {
        let bind = |outcome: &'static str| histogram.bind(&attributes(name, &kind, outcome));
        SiteSeries {
            ok: bind("ok"),
            panic: bind("panic"),
            cancelled: bind("cancelled"),
            histogram: histogram.clone(),
            metrics,
            name,
            kind,
        }
    }

    /// Whether this is the series of site `name` of `kind`: the name is a literal of the
    /// site, so comparing pointers first is the fast path.
    #[inline]
    fn is(&self, name: &'static str, kind: &SpanKind) -> bool {
        self.kind == *kind && (std::ptr::eq(self.name, name) || self.name == name)
    }

    /// An `Err`'s duration, in the series of its bounded `error.type`.
    #[cold]
    #[inline(never)]
    fn error(&self, seconds: f64, error_type: Cow<'static, str>) {
        let [name, kind, outcome] = attributes(self.name, &self.kind, "error");
        let error_type = KeyValue::new(ERROR_TYPE_ATTRIBUTE, self.metrics.bounded(error_type));
        self.histogram
            .record(seconds, &[name, kind, outcome, error_type]);
    }
}

fn attributes(name: &'static str, kind: &SpanKind, outcome: &'static str) -> [KeyValue; 3] {
    [
        KeyValue::new(SPAN_NAME_ATTRIBUTE, name),
        KeyValue::new(SPAN_KIND_ATTRIBUTE, kind_name(kind)),
        KeyValue::new(OUTCOME_ATTRIBUTE, outcome),
    ]
}

impl SpanMetrics {
    pub(crate) fn new(meter: &'static MeterScope, name: String) -> Self {
        SpanMetrics {
            meter,
            name,
            bound: Bound::new(),
            error_types: Mutex::new(BTreeSet::new()),
        }
    }

    /// Starts timing a call of site `name`.
    #[inline]
    pub(crate) fn start(&'static self, name: &'static str, kind: SpanKind) -> SpanTimer {
        SpanTimer {
            site: self.site(name, kind),
            start: Instant::now(),
        }
    }

    /// The series of site `name` of `kind` for the current meter provider.
    #[inline]
    fn site(&'static self, name: &'static str, kind: SpanKind) -> &'static SiteSeries {
        let series = self.bound.get(meter_generation(), || Series {
            histogram: self.histogram(),
            fast: [const { OnceLock::new() }; FAST_SITES],
            sites: Mutex::new(Vec::new()),
        });
        for slot in &series.fast {
            match slot.get() {
                Some(site) if site.is(name, &kind) => return site,
                Some(_) => {}
                None => break,
            }
        }
        self.add_site(series, name, kind)
    }

    /// The histogram on the current meter provider, with the installed configuration's
    /// boundaries (both changes advance the meter generation, so this runs again).
    #[cold]
    fn histogram(&self) -> Histogram<f64> {
        let config = crate::global::installed_config();
        let boundaries = config.span_metrics().boundaries_or_default();
        let spec = InstrumentSpec::span_duration(self.meter, &self.name, boundaries);
        f64::build(spec.meter(), &spec)
    }

    /// Finds or adds the series of a site under the lock.
    #[cold]
    #[inline(never)]
    fn add_site(
        &'static self,
        series: &Series,
        name: &'static str,
        kind: SpanKind,
    ) -> &'static SiteSeries {
        let mut sites = lock(&series.sites);
        if let Some(site) = sites.iter().find(|site| site.is(name, &kind)) {
            return site;
        }
        let site: &'static SiteSeries = Box::leak(Box::new(SiteSeries::new(
            self,
            &series.histogram,
            name,
            kind,
        )));
        if let Some(slot) = series.fast.get(sites.len()) {
            let _ = slot.set(site);
        }
        sites.push(site);
        site
    }

    /// `error_type` if it is one of the first [`MAX_ERROR_TYPES`] seen, else `_OTHER`.
    fn bounded(&self, error_type: Cow<'static, str>) -> Cow<'static, str> {
        let mut seen = lock(&self.error_types);
        if seen.contains(&error_type) {
            error_type
        } else if seen.len() < MAX_ERROR_TYPES {
            seen.insert(error_type.clone());
            error_type
        } else {
            Cow::Borrowed(OTHER_ERROR_TYPE)
        }
    }
}

/// How a timed call ended.
pub(crate) enum Ending {
    Ok,
    /// An `Err`, with its `error.type`.
    Error(Cow<'static, str>),
    Panic,
    Cancelled,
}

/// The clock of one call of a site with span metrics, started with the call.
#[doc(hidden)]
pub struct SpanTimer {
    site: &'static SiteSeries,
    start: Instant,
}

impl SpanTimer {
    /// Records the call's duration with how it ended.
    #[inline]
    pub(crate) fn finish(self, ending: Ending) {
        let seconds = self.start.elapsed().as_secs_f64();
        let site = self.site;
        match ending {
            Ending::Ok => site.ok.record(seconds),
            Ending::Panic => site.panic.record(seconds),
            Ending::Cancelled => site.cancelled.record(seconds),
            Ending::Error(error_type) => site.error(seconds, error_type),
        }
    }
}

impl std::fmt::Debug for SpanTimer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpanTimer")
            .field("name", &self.site.name)
            .field("kind", &self.site.kind)
            .finish_non_exhaustive()
    }
}

/// The value of `span.kind` (and of the catalog's span kinds).
pub(crate) fn kind_name(kind: &SpanKind) -> &'static str {
    match kind {
        SpanKind::Internal => "internal",
        SpanKind::Server => "server",
        SpanKind::Client => "client",
        SpanKind::Producer => "producer",
        SpanKind::Consumer => "consumer",
    }
}
