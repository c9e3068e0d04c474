//! Exemplars of span metrics: for each bucket of each series of a site's span-duration
//! histogram, the last sampled call that landed in it (its trace and span ids and its
//! duration), so a latency spike on a dashboard leads to a trace that caused it.
//!
//! Kept only while something can read them ([`reader`]: `/metrics` is served, whose
//! OpenMetrics answers carry them) and only for calls whose span is sampled; a span that
//! does not record adds nothing. Keeping one finds the bucket (from the value's binary
//! exponent, then a step or two) and writes the slot's atomics under its sequence number
//! (a seqlock, in safe atomics): a call that finds the slot being written by another
//! thread's call leaves the exemplar to that one, and the scrape reads a slot again if a
//! write overlapped its read.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering, fence};

use opentelemetry::trace::{SpanContext, SpanId, TraceId};

use crate::naming::SpanKind;
use crate::sync::lock;

/// How many readers of exemplars there are now (`/metrics` servers).
static READERS: AtomicUsize = AtomicUsize::new(0);

/// Every site's exemplars, for the scrape (a site's series, bound once per meter provider,
/// live as long as the process).
static SERIES: Mutex<Vec<&'static SiteExemplars>> = Mutex::new(Vec::new());

/// A reader of exemplars started (`true`) or stopped: they are kept while there is one.
pub(crate) fn reader(started: bool) {
    if started {
        READERS.fetch_add(1, Ordering::Relaxed);
    } else {
        READERS.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Whether exemplars are kept now.
#[inline]
pub(crate) fn kept() -> bool {
    READERS.load(Ordering::Relaxed) > 0
}

/// One exemplar: a sampled call's ids and its duration in seconds. No time: reading the
/// clock as a number cost 55 instructions a call (measured), and OpenMetrics leaves an
/// exemplar's timestamp out at will (Prometheus stamps it with the scrape that first sees
/// it, and keeps a repeat of it once).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Exemplar {
    pub(crate) trace_id: TraceId,
    pub(crate) span_id: SpanId,
    pub(crate) value: f64,
}

/// One bucket's exemplar, in atomics: `sequence` is odd while it is written, and 0 before
/// the first write.
#[derive(Default)]
struct Slot {
    sequence: AtomicU64,
    trace_id: [AtomicU64; 2],
    span_id: AtomicU64,
    value: AtomicU64,
}

impl Slot {
    /// Writes `exemplar` unless another call is writing this slot now.
    #[inline]
    fn write(&self, span: &SpanContext, value: f64) {
        let sequence = self.sequence.load(Ordering::Relaxed);
        if sequence & 1 == 1
            || self
                .sequence
                .compare_exchange(sequence, sequence + 1, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        // the odd sequence is seen before any of the writes below
        fence(Ordering::Release);
        let trace_id = u128::from_be_bytes(span.trace_id().to_bytes());
        #[allow(clippy::cast_possible_truncation)]
        let (high, low) = ((trace_id >> 64) as u64, trace_id as u64);
        self.trace_id[0].store(high, Ordering::Relaxed);
        self.trace_id[1].store(low, Ordering::Relaxed);
        self.span_id.store(
            u64::from_be_bytes(span.span_id().to_bytes()),
            Ordering::Relaxed,
        );
        self.value.store(value.to_bits(), Ordering::Relaxed);
        self.sequence.store(sequence + 2, Ordering::Release);
    }

    /// The exemplar, read whole (again while a write overlaps; `None` if writes keep
    /// overlapping, which a scrape can do without).
    fn read(&self) -> Option<Exemplar> {
        for _ in 0..64 {
            let before = self.sequence.load(Ordering::Acquire);
            if before == 0 {
                return None;
            }
            if before & 1 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let trace_id = (u128::from(self.trace_id[0].load(Ordering::Relaxed)) << 64)
                | u128::from(self.trace_id[1].load(Ordering::Relaxed));
            let span_id = self.span_id.load(Ordering::Relaxed);
            let value = f64::from_bits(self.value.load(Ordering::Relaxed));
            fence(Ordering::Acquire);
            if self.sequence.load(Ordering::Relaxed) == before {
                return Some(Exemplar {
                    trace_id: TraceId::from(trace_id),
                    span_id: SpanId::from(span_id),
                    value,
                });
            }
        }
        None
    }
}

/// The exemplars of one series: one slot per bucket (the histogram's boundaries, then
/// `+Inf`).
struct Slots(Box<[Slot]>);

impl Slots {
    fn new(buckets: usize) -> Self {
        Slots((0..buckets).map(|_| Slot::default()).collect())
    }

    fn snapshot(&self) -> Vec<Option<Exemplar>> {
        self.0.iter().map(Slot::read).collect()
    }
}

/// The binary exponents [`Octaves`] has a start for: 2^-40 s (under a picosecond) to 2^23 s
/// (97 days); values outside start from the nearest.
const LOWEST_EXPONENT: i64 = -40;
const EXPONENTS: usize = 64;

/// For each binary exponent, the first bucket a value of that exponent can fall in: a
/// bucket is found from there in a step or two (a search over the boundaries cost most of
/// keeping an exemplar: 44 of about 100 instructions, measured).
struct Octaves([u16; EXPONENTS]);

impl Octaves {
    fn new(boundaries: &[f64]) -> Self {
        let mut starts = [0; EXPONENTS];
        for (index, start) in starts.iter_mut().enumerate() {
            #[allow(clippy::cast_possible_wrap, clippy::cast_possible_truncation)]
            let lowest = 2f64.powi((index as i64 + LOWEST_EXPONENT) as i32);
            let first = boundaries.partition_point(|bound| *bound < lowest);
            *start = u16::try_from(first).unwrap_or(u16::MAX);
        }
        Octaves(starts)
    }

    #[inline]
    fn start(&self, value: f64) -> usize {
        #[allow(clippy::cast_possible_wrap)]
        let exponent = ((value.to_bits() >> 52) & 0x7ff) as i64 - 1023;
        #[allow(clippy::cast_sign_loss, clippy::cast_possible_truncation)]
        let index = (exponent - LOWEST_EXPONENT).clamp(0, EXPONENTS as i64 - 1) as usize;
        usize::from(self.0[index])
    }
}

/// The exemplars of one `#[span]` site's series on one meter provider.
pub(crate) struct SiteExemplars {
    /// The histogram's name (`backstage.plugin.{id}.span.duration`), unit `s`.
    pub(crate) metric: String,
    pub(crate) span_name: &'static str,
    pub(crate) kind: SpanKind,
    boundaries: Box<[f64]>,
    octaves: Octaves,
    ok: Slots,
    panic: Slots,
    cancelled: Slots,
    /// `error` and `rejected` calls, by outcome and `error.type` (bounded as the series are).
    errors: Mutex<BTreeMap<ErrorSeries, Vec<Option<Exemplar>>>>,
}

/// An erring call's series: its outcome (`error` or `rejected`) and `error.type`.
type ErrorSeries = (&'static str, Cow<'static, str>);

/// How a call ended, as the span-metric series it is recorded in says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ended {
    Ok,
    Panic,
    Cancelled,
}

impl SiteExemplars {
    /// The exemplars of site `span_name` of `kind`, whose durations are recorded in
    /// `metric` with `boundaries`; listed for the scrape.
    pub(crate) fn register(
        metric: String,
        span_name: &'static str,
        kind: SpanKind,
        boundaries: &[f64],
    ) -> &'static SiteExemplars {
        let buckets = boundaries.len() + 1;
        let site: &'static SiteExemplars = Box::leak(Box::new(SiteExemplars {
            metric,
            span_name,
            kind,
            boundaries: boundaries.into(),
            octaves: Octaves::new(boundaries),
            ok: Slots::new(buckets),
            panic: Slots::new(buckets),
            cancelled: Slots::new(buckets),
            errors: Mutex::new(BTreeMap::new()),
        }));
        lock(&SERIES).push(site);
        site
    }

    /// The bucket `value` is counted in: the first boundary at or above it, else `+Inf`.
    #[inline]
    fn bucket(&self, value: f64) -> usize {
        let mut bucket = self.octaves.start(value);
        while self
            .boundaries
            .get(bucket)
            .is_some_and(|bound| *bound < value)
        {
            bucket += 1;
        }
        bucket
    }

    /// Keeps the call of `span` (if sampled) that took `value` seconds as its bucket's
    /// exemplar in the series of `ended`.
    #[inline]
    pub(crate) fn keep(&self, ended: Ended, span: &SpanContext, value: f64) {
        if !span.is_sampled() {
            return;
        }
        let slots = match ended {
            Ended::Ok => &self.ok,
            Ended::Panic => &self.panic,
            Ended::Cancelled => &self.cancelled,
        };
        if let Some(slot) = slots.0.get(self.bucket(value)) {
            slot.write(span, value);
        }
    }

    /// Keeps an erring call (outcome `error` or `rejected`, its bounded `error_type`).
    #[cold]
    pub(crate) fn keep_error(
        &self,
        outcome: &'static str,
        error_type: Cow<'static, str>,
        span: &SpanContext,
        value: f64,
    ) {
        if !span.is_sampled() {
            return;
        }
        let bucket = self.bucket(value);
        let mut errors = lock(&self.errors);
        let slots = errors
            .entry((outcome, error_type))
            .or_insert_with(|| vec![None; self.boundaries.len() + 1]);
        if let Some(slot) = slots.get_mut(bucket) {
            *slot = Some(exemplar(span, value));
        }
    }
}

fn exemplar(span: &SpanContext, value: f64) -> Exemplar {
    Exemplar {
        trace_id: span.trace_id(),
        span_id: span.span_id(),
        value,
    }
}

/// The series of one site that has exemplars: the histogram, the site and its outcome (and
/// `error.type` for errors).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct SeriesKey {
    pub(crate) metric: String,
    pub(crate) span_name: &'static str,
    pub(crate) span_kind: &'static str,
    pub(crate) outcome: &'static str,
    pub(crate) error_type: Option<Cow<'static, str>>,
}

/// Every series' exemplars now, by series, each with one entry per bucket. Where sites were
/// bound on several meter providers, the newest binding's.
pub(crate) fn snapshot() -> BTreeMap<SeriesKey, Vec<Option<Exemplar>>> {
    let sites = lock(&SERIES).clone();
    let mut all = BTreeMap::new();
    for site in sites {
        let key = |outcome: &'static str, error_type: Option<Cow<'static, str>>| SeriesKey {
            metric: site.metric.clone(),
            span_name: site.span_name,
            span_kind: site.kind.name(),
            outcome,
            error_type,
        };
        for (outcome, slots) in [
            ("ok", &site.ok),
            ("panic", &site.panic),
            ("cancelled", &site.cancelled),
        ] {
            all.insert(key(outcome, None), slots.snapshot());
        }
        for ((outcome, error_type), slots) in lock(&site.errors).iter() {
            all.insert(key(outcome, Some(error_type.clone())), slots.clone());
        }
    }
    all
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::{SpanId, TraceFlags, TraceId, TraceState};

    use super::*;

    fn span(id: u64, sampled: bool) -> SpanContext {
        let flags = if sampled {
            TraceFlags::SAMPLED
        } else {
            TraceFlags::default()
        };
        SpanContext::new(
            TraceId::from(u128::from(id) << 64 | 1),
            SpanId::from(id),
            flags,
            false,
            TraceState::default(),
        )
    }

    #[test]
    fn the_bucket_is_the_one_the_histogram_counts_the_value_in() {
        let boundaries: [&[f64]; 4] = [
            crate::config::DEFAULT_SPAN_BOUNDARIES,
            &[0.1, 1.0],
            &[0.001, 0.0011, 0.0012, 0.0013, 0.002, 5.0, 5.5, 1e9],
            &[],
        ];
        for boundaries in boundaries {
            let site = SiteExemplars::register(
                "backstage.plugin.unit-buckets.span.duration".to_owned(),
                "b",
                SpanKind::Internal,
                boundaries,
            );
            let mut values = vec![0.0, 1e-300, 1e-12, 3e-5, 1e12, f64::MAX, f64::INFINITY];
            for bound in boundaries {
                values.extend([
                    *bound,
                    bound.next_down(),
                    bound.next_up(),
                    bound * 0.5,
                    bound * 3.0,
                ]);
            }
            for step in 0..2000 {
                values.push(1e-7 * 1.02f64.powi(step));
            }
            for value in values {
                let expected = boundaries.partition_point(|bound| *bound < value);
                assert_eq!(site.bucket(value), expected, "{value} in {boundaries:?}");
            }
        }
    }

    #[test]
    fn a_slot_is_read_whole_while_others_write_it() {
        let slot = Slot::default();
        assert_eq!(slot.read(), None);
        std::thread::scope(|scope| {
            for thread in 0..2u64 {
                let slot = &slot;
                scope.spawn(move || {
                    for i in 1..=20_000u64 {
                        // every field follows from the span id
                        let id = thread << 32 | i;
                        slot.write(&span(id, true), id as f64);
                    }
                });
            }
            for _ in 0..20_000 {
                if let Some(read) = slot.read() {
                    let id = u64::from_be_bytes(read.span_id.to_bytes());
                    assert_eq!(read.trace_id, span(id, true).trace_id());
                    assert_eq!(read.value, id as f64);
                }
            }
        });
        assert!(slot.read().is_some());
    }

    #[test]
    fn each_bucket_keeps_its_last_sampled_call() {
        let site = SiteExemplars::register(
            "backstage.plugin.unit-exemplars.span.duration".to_owned(),
            "handle",
            SpanKind::Server,
            &[0.1, 1.0],
        );
        site.keep(Ended::Ok, &span(1, true), 0.05);
        site.keep(Ended::Ok, &span(2, true), 0.1); // on the boundary: that bucket
        site.keep(Ended::Ok, &span(3, false), 0.5); // not sampled: nothing
        site.keep(Ended::Ok, &span(4, true), 7.0); // +Inf
        site.keep(Ended::Panic, &span(5, true), 0.5);
        site.keep_error("rejected", Cow::Borrowed("Invalid"), &span(6, true), 0.5);
        let all = snapshot();
        let key = |outcome, error_type: Option<&'static str>| SeriesKey {
            metric: "backstage.plugin.unit-exemplars.span.duration".to_owned(),
            span_name: "handle",
            span_kind: "server",
            outcome,
            error_type: error_type.map(Cow::Borrowed),
        };
        let ids = |outcome, error_type| -> Vec<Option<u64>> {
            all[&key(outcome, error_type)]
                .iter()
                .map(|e| e.map(|e| u64::from_be_bytes(e.span_id.to_bytes())))
                .collect()
        };
        assert_eq!(ids("ok", None), [Some(2), None, Some(4)]);
        assert_eq!(ids("panic", None), [None, Some(5), None]);
        assert_eq!(ids("cancelled", None), [None, None, None]);
        assert_eq!(ids("rejected", Some("Invalid")), [None, Some(6), None]);
        let kept = all[&key("ok", None)][2].unwrap();
        assert_eq!(kept.value, 7.0);
        assert_eq!(kept.trace_id, span(4, true).trace_id());
    }
}
