//! Span metrics: how long each call of a `#[span]` site took and how it ended, in the
//! histogram `backstage.plugin.{id}.span.duration` (unit `s`) of its plugin, when the
//! app-config or the site turns them on ([`Config::span_metrics_enabled`]).
//!
//! Every attribute is bounded by construction: `span.name` is the site's compile-time
//! name, `span.kind` one of five, `outcome` one of five (`ok`, `error`, `rejected`: an
//! error the caller caused, `panic`, `cancelled`), and `error.type` (errors only) the
//! error's type name or its [`ErrorType`](super::ErrorType), never client input; past
//! [`MAX_ERROR_TYPES`] distinct values in one scope, further ones are recorded as
//! [`OTHER_ERROR_TYPE`] (a type's own `error_type` could be built from its data).
//!
//! The `ok`, `panic` and `cancelled` series of each site are bound once per meter provider
//! (OpenTelemetry's bound instruments), so a call records without hashing its attributes;
//! an `error` and a `rejected` series without `error.type` are bound too, and never
//! recorded in, so that every outcome is exported at 0 (an error ratio of a healthy handler
//! is 0, not no data). `init` binds every site the catalog lists, so the series exist from
//! start-up; a site bound by no one yet (providers installed by hand) binds on its first
//! call.
//!
//! [`Config::span_metrics_enabled`]: crate::Config::span_metrics_enabled

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::Instant;

use opentelemetry::KeyValue;
use opentelemetry::metrics::{BoundHistogram, Histogram};
use opentelemetry::trace::SpanContext;

use super::ERROR_TYPE_ATTRIBUTE;
use super::exemplars::{self, Ended, SiteExemplars};
use super::outcome::{Failure, Record};
use crate::binding::Bound;
use crate::config::Config;
use crate::global::meter_generation;
use crate::metrics::{HistogramValue, InstrumentSpec, MeterScope};
use crate::naming::{Scope, SpanKind};
use crate::sync::lock;

/// The authored name of the span-metrics histogram, prefixed with the plugin's.
pub const SPAN_DURATION_METRIC: &str = "span.duration";
/// The description of the span-metrics histogram.
pub const SPAN_DURATION_DESCRIPTION: &str =
    "How long each call of a #[span] function took, by span name, kind and outcome.";
/// The unit of the span-metrics histogram: seconds.
pub const SPAN_DURATION_UNIT: &str = "s";

/// The span-metrics histogram of `scope`: `backstage.{kind}.{id}.span.duration`.
pub(crate) fn span_duration_name(scope: &Scope) -> String {
    scope.metric_prefix() + SPAN_DURATION_METRIC
}

/// Its bucket boundaries under `config` (`backend.tracing.spanMetrics.boundaries`).
pub(crate) fn span_duration_boundaries(config: &Config) -> &[f64] {
    config.span_metrics().boundaries_or_default()
}
/// Attribute holding the span's compile-time name.
pub const SPAN_NAME_ATTRIBUTE: &str = "span.name";
/// Attribute holding the span kind: `internal`, `server`, `client`, `producer`, `consumer`.
pub const SPAN_KIND_ATTRIBUTE: &str = "span.kind";
/// Attribute holding how the call ended: `ok`, `error`, `rejected` (an error the caller
/// caused: [`ErrorType::is_client_error`](super::ErrorType::is_client_error)), `panic` or
/// `cancelled`.
pub const OUTCOME_ATTRIBUTE: &str = "outcome";
/// The most distinct `error.type` values the span metrics of one scope record.
pub const MAX_ERROR_TYPES: usize = 32;
/// The `error.type` recorded for errors past [`MAX_ERROR_TYPES`] (semantic conventions).
pub const OTHER_ERROR_TYPE: &str = "_OTHER";

/// The span-metrics histogram of one scope, per meter provider (and configuration, whose
/// `backend.tracing.spanMetrics.boundaries` it is made with), and the `error.type` values
/// recorded.
pub(crate) struct SpanMetrics {
    meter: &'static MeterScope,
    /// `backstage.{kind}.{id}.span.duration`.
    name: String,
    /// The histogram on each meter provider.
    bound: Bound<Histogram<f64>>,
    error_types: Mutex<BTreeSet<Cow<'static, str>>>,
}

/// What one `#[span]` site records its span metrics in, found once per meter provider: one
/// per site, in an array of the expansion its scope site points to, so a timed call finds
/// its series with one load and a compare.
#[doc(hidden)]
pub struct SiteMetrics(Bound<&'static SiteSeries>);

impl SiteMetrics {
    #[allow(clippy::new_without_default)] // for the expansion's `static` array
    pub const fn new() -> Self {
        SiteMetrics(Bound::new())
    }

    /// Binds the site's series on the current meter provider now, as its first call would:
    /// every outcome is exported at 0 from then on.
    #[cfg(feature = "sdk")]
    #[cold]
    pub(crate) fn bind(
        &'static self,
        metrics: impl Fn() -> &'static SpanMetrics,
        name: &'static str,
        kind: SpanKind,
    ) {
        self.0
            .get(meter_generation(), || metrics().site(name, kind));
    }

    /// A timer started now for a call of site `name` of `kind`, whose series are in the span
    /// metrics `metrics` gives (asked only when a meter provider is new to this site).
    #[inline]
    pub(crate) fn timer(
        &'static self,
        metrics: impl Fn() -> &'static SpanMetrics,
        name: &'static str,
        kind: SpanKind,
    ) -> SpanTimer {
        let site = *self
            .0
            .get(meter_generation(), || metrics().site(name, kind));
        SpanTimer {
            site,
            start: Instant::now(),
        }
    }
}

impl std::fmt::Debug for SiteMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SiteMetrics").finish_non_exhaustive()
    }
}

/// The series of one site: its three fixed outcomes bound, errors recorded by attribute
/// (their series without `error.type` bound at 0).
struct SiteSeries {
    metrics: &'static SpanMetrics,
    name: &'static str,
    kind: SpanKind,
    histogram: Histogram<f64>,
    ok: BoundHistogram<f64>,
    panic: BoundHistogram<f64>,
    cancelled: BoundHistogram<f64>,
    /// Never recorded in: they keep the `error` and `rejected` series at 0.
    _zero: [BoundHistogram<f64>; 2],
    /// The last sampled call in each bucket of each series.
    exemplars: &'static SiteExemplars,
}

impl SiteSeries {
    fn new(
        metrics: &'static SpanMetrics,
        histogram: &Histogram<f64>,
        name: &'static str,
        kind: SpanKind,
    ) -> Self {
        let bind = |outcome: &'static str| histogram.bind(&attributes(name, kind, outcome));
        let config = crate::global::installed_config();
        SiteSeries {
            ok: bind("ok"),
            panic: bind("panic"),
            cancelled: bind("cancelled"),
            _zero: [bind("error"), bind("rejected")],
            histogram: histogram.clone(),
            metrics,
            name,
            kind,
            exemplars: SiteExemplars::register(
                metrics.name.clone(),
                name,
                kind,
                span_duration_boundaries(&config),
            ),
        }
    }

    /// An `Err`'s duration, in the series of its outcome (`error`, or `rejected` when the
    /// caller caused it) and bounded `error.type`; the call of `span` (when exemplars are
    /// kept) is its bucket's exemplar.
    #[cold]
    #[inline(never)]
    fn error(&self, seconds: f64, failure: Failure, span: Option<&SpanContext>) {
        let outcome = if failure.rejected {
            "rejected"
        } else {
            "error"
        };
        let error_type = self.metrics.bounded(failure.error_type);
        if let Some(span) = span {
            self.exemplars
                .keep_error(outcome, error_type.clone(), span, seconds);
        }
        let [name, kind, outcome] = attributes(self.name, self.kind, outcome);
        let error_type = KeyValue::new(ERROR_TYPE_ATTRIBUTE, error_type);
        self.histogram
            .record(seconds, &[name, kind, outcome, error_type]);
    }
}

fn attributes(name: &'static str, kind: SpanKind, outcome: &'static str) -> [KeyValue; 3] {
    [
        KeyValue::new(SPAN_NAME_ATTRIBUTE, name),
        KeyValue::new(SPAN_KIND_ATTRIBUTE, kind.name()),
        KeyValue::new(OUTCOME_ATTRIBUTE, outcome),
    ]
}

impl SpanMetrics {
    /// The span metrics of `scope`, whose meter is `meter`.
    pub(crate) fn new(meter: &'static MeterScope, scope: &Scope) -> Self {
        SpanMetrics {
            meter,
            name: span_duration_name(scope),
            bound: Bound::new(),
            error_types: Mutex::new(BTreeSet::new()),
        }
    }

    /// The histogram on the current meter provider, with the installed configuration's
    /// boundaries (both changes advance the meter generation, so this runs again).
    #[cold]
    fn histogram(&self) -> Histogram<f64> {
        let config = crate::global::installed_config();
        let spec = InstrumentSpec::new(
            self.meter,
            self.name.clone(),
            SPAN_DURATION_DESCRIPTION,
            SPAN_DURATION_UNIT,
            Some(span_duration_boundaries(&config).to_vec()),
        );
        f64::build(spec.meter(), &spec)
    }

    /// The series of site `name` of `kind` on the current meter provider, bound now: each
    /// site binds once per provider and keeps them (in its [`SiteMetrics`], for the life of
    /// the process: timers hold them by reference, and sites are compile-time items, so they
    /// are few). Sites that bind the same attributes share the SDK's series.
    fn site(&'static self, name: &'static str, kind: SpanKind) -> &'static SiteSeries {
        let histogram = self.bound.get(meter_generation(), || self.histogram());
        Box::leak(Box::new(SiteSeries::new(self, histogram, name, kind)))
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

/// The clock of one call of a site with span metrics, started with the call.
#[doc(hidden)]
#[derive(Clone, Copy)]
pub struct SpanTimer {
    site: &'static SiteSeries,
    start: Instant,
}

impl SpanTimer {
    /// Runs `body` (of a span that does not record) and records its duration with how it
    /// ended: its `Err` found by `record`, or a panic, recorded while it unwinds (nothing is
    /// caught: no span needs its payload).
    #[inline]
    pub(crate) fn time<R>(self, body: impl FnOnce() -> R, record: Record<R>) -> R {
        let unwinding = OnUnwind(self);
        let value = body();
        std::mem::forget(unwinding);
        self.finish(record(&value, None), None);
        value
    }

    /// Records the call's duration as a success, or as the `failure`; the call of `span`
    /// (its span, if it records) is its bucket's exemplar when exemplars are kept.
    #[inline]
    pub(crate) fn finish(self, failure: Option<Failure>, span: Option<&SpanContext>) {
        let seconds = self.seconds();
        let span = span.filter(|_| exemplars::kept());
        match failure {
            None => {
                self.site.ok.record(seconds);
                if let Some(span) = span {
                    self.site.exemplars.keep(Ended::Ok, span, seconds);
                }
            }
            Some(failure) => self.site.error(seconds, failure, span),
        }
    }

    /// Records the call's duration as a panic.
    pub(crate) fn panicked(self, span: Option<&SpanContext>) {
        self.ended(&self.site.panic, Ended::Panic, span);
    }

    /// Records the call's duration as cancelled (its future dropped before it completed).
    pub(crate) fn cancelled(self, span: Option<&SpanContext>) {
        self.ended(&self.site.cancelled, Ended::Cancelled, span);
    }

    fn ended(self, series: &BoundHistogram<f64>, ended: Ended, span: Option<&SpanContext>) {
        let seconds = self.seconds();
        series.record(seconds);
        if let Some(span) = span.filter(|_| exemplars::kept()) {
            self.site.exemplars.keep(ended, span, seconds);
        }
    }

    #[inline]
    fn seconds(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }
}

/// Records its timer's call as a panic when dropped: dropped only while the body unwinds.
struct OnUnwind(SpanTimer);

impl Drop for OnUnwind {
    fn drop(&mut self) {
        self.0.panicked(None);
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
