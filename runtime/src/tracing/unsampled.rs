//! Spans that will not be recorded, made without the SDK: the fast path of a `#[span]` call
//! whose span the sampler drops.
//!
//! With the tracer provider `init` builds, the sampler is one `init` configured, so whether
//! a new span is dropped is known from its parent alone ([`KnownSampler`]). For a dropped
//! span the SDK makes a span id (and a trace id for a root), decides, boxes a span that
//! records nothing and puts it in a new context; it evaluates the span's attributes and
//! name first. Here the same span context is made directly (ids from a fast thread-local
//! generator) and put in the new context, nothing else: no attribute is
//! evaluated or allocated and no processor is called. A provider the application installed
//! itself never takes this path ([`crate::set_tracer_provider`] forgets the sampler).
//!
//! What the new context holds is what the SDK's would: a valid span id, the parent's trace
//! id (a new one for a root, or under a parent whose span context is invalid), the trace
//! state the SDK's samplers give (the parent's), trace flags `00`, not remote, and a span
//! that reports not recording and ignores every change. Where the SDK would make no valid
//! span (a parent context that suppresses telemetry) the SDK is asked.

use std::cell::Cell;
use std::hash::RandomState;
use std::sync::RwLock;

use opentelemetry::Context;
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId};

/// A sampler whose decisions are known without the SDK: one of the SDK's built-in samplers
/// that `init` configured (`backend.tracing.sampler`, `OTEL_TRACES_SAMPLER`, or the
/// default), decided exactly as the SDK decides it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct KnownSampler {
    /// `parentbased_*`: a parent span's sampled flag decides when there is a parent span.
    parent_based: bool,
    /// The decision without a parent span (or for every span when not parent-based).
    root: Root,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Root {
    AlwaysOn,
    AlwaysOff,
    /// Trace-id ratio: sampled when the low 64 bits of the trace id, shifted right by one,
    /// are below this bound (the SDK's `sample_based_on_probability`).
    Ratio(u64),
}

impl Root {
    fn ratio(ratio: f64) -> Self {
        if ratio >= 1.0 {
            Root::AlwaysOn
        } else {
            // the SDK's bound, computed the same way (a ratio below 0, or NaN, samples none)
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let bound = (ratio.max(0.0) * (1u64 << 63) as f64) as u64;
            Root::Ratio(bound)
        }
    }

    #[inline]
    fn samples(self, trace_id: TraceId) -> bool {
        match self {
            Root::AlwaysOn => true,
            Root::AlwaysOff => false,
            Root::Ratio(bound) => {
                let bytes = trace_id.to_bytes();
                let mut low = [0; 8];
                low.copy_from_slice(&bytes[8..]);
                (u64::from_be_bytes(low) >> 1) < bound
            }
        }
    }
}

impl KnownSampler {
    /// `always_on` (never asked: it drops nothing).
    #[cfg(test)]
    pub(crate) const ALWAYS_ON: Self = Self::root(Root::AlwaysOn);
    /// `always_off`.
    pub(crate) const ALWAYS_OFF: Self = Self::root(Root::AlwaysOff);
    /// `parentbased_always_on`.
    pub(crate) const PARENT_BASED_ALWAYS_ON: Self = Self::parent_based(Root::AlwaysOn);
    /// `parentbased_always_off`: what `init` installs when no span is exported.
    pub(crate) const PARENT_BASED_ALWAYS_OFF: Self = Self::parent_based(Root::AlwaysOff);

    const fn root(root: Root) -> Self {
        KnownSampler {
            parent_based: false,
            root,
        }
    }

    const fn parent_based(root: Root) -> Self {
        KnownSampler {
            parent_based: true,
            root,
        }
    }

    /// `traceidratio` with `ratio`.
    pub(crate) fn trace_id_ratio(ratio: f64) -> Self {
        Self::root(Root::ratio(ratio))
    }

    /// `parentbased_traceidratio` with `ratio`.
    pub(crate) fn parent_based_trace_id_ratio(ratio: f64) -> Self {
        Self::parent_based(Root::ratio(ratio))
    }

    /// The context of a new span, child of `parent`, that the SDK would drop: its span
    /// context made as the SDK makes it, current in a copy of `parent`. `None` when the
    /// SDK would record it, or would make no valid span (`parent` suppresses telemetry):
    /// then the SDK makes it.
    #[inline(always)]
    pub(crate) fn unrecorded(self, parent: &Context) -> Option<Context> {
        if parent.is_telemetry_suppressed() {
            return None;
        }
        let span = parent.span();
        let parent_span = span.span_context();
        // a parent whose span context is invalid is no parent for the trace id (the SDK's
        // `build_with_context`), but is one for a parent-based decision (its sampler's
        // `has_active_span`)
        let (trace_id, span_id) = if parent_span.is_valid() {
            (parent_span.trace_id(), new_span_id())
        } else {
            new_root_ids()
        };
        let sampled = if self.parent_based && parent.has_active_span() {
            parent_span.is_sampled()
        } else {
            self.root.samples(trace_id)
        };
        if sampled {
            if !parent_span.is_valid() {
                // the SDK starts it on the trace id it was kept for (its id generator is
                // ours: `Ids`), not on a new one it would decide again
                NEXT_TRACE_ID.set(u128::from_be_bytes(trace_id.to_bytes()));
            }
            return None;
        }
        let span_context = SpanContext::new(
            trace_id,
            span_id,
            TraceFlags::default(),
            false,
            parent_span.trace_state().clone(),
        );
        // a span context without a span: not recording, every change ignored, as the SDK's
        // span that records nothing (not remote: the flag is the span context's own)
        Some(parent.with_remote_span_context(span_context))
    }
}

/// The sampler of the tracer provider `init` installed, with the tracer generation that
/// install made (`crate::global`): a tracer bound at another generation (a provider the
/// application installed, or none after shutdown) does not know its sampler.
static KNOWN: RwLock<Option<(u64, KnownSampler)>> = RwLock::new(None);

/// Remembers `sampler` as the sampler of the provider installed at `generation`.
pub(crate) fn remember(generation: u64, sampler: Option<KnownSampler>) {
    *crate::sync::write(&KNOWN) = sampler.map(|sampler| (generation, sampler));
}

/// Forgets the sampler of the provider installed at `generation` (it is shutting down),
/// if it is still the one remembered. Whether one was.
pub(crate) fn forget(generation: u64) -> bool {
    let mut known = crate::sync::write(&KNOWN);
    let remembered = matches!(*known, Some((at, _)) if at == generation);
    if remembered {
        *known = None;
    }
    remembered
}

/// The sampler of the provider installed at `generation`, if `init` installed it.
pub(crate) fn known_at(generation: u64) -> Option<KnownSampler> {
    match *crate::sync::read(&KNOWN) {
        Some((at, sampler)) if at == generation => Some(sampler),
        _ => None,
    }
}

thread_local! {
    /// The ids' generator state, one per thread (0: not seeded yet).
    static IDS: Cell<u64> = const { Cell::new(0) };
    /// The trace id of a root the sampler keeps, drawn to decide it, for the SDK to start
    /// the root on (0: none). One the SDK does not take (its provider shut down meanwhile)
    /// is a random id never used, and goes to the next root instead.
    static NEXT_TRACE_ID: Cell<u128> = const { Cell::new(0) };
}

/// The id generator of the tracer provider `init` builds: the ids of this module, and for
/// a root [`KnownSampler::unrecorded`] decided to keep, the trace id it decided on.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Ids;

impl opentelemetry_sdk::trace::IdGenerator for Ids {
    fn new_trace_id(&self) -> TraceId {
        match NEXT_TRACE_ID.replace(0) {
            0 => new_root_ids().0,
            decided => TraceId::from(decided),
        }
    }

    fn new_span_id(&self) -> SpanId {
        new_span_id()
    }
}

/// This thread's next random numbers: wyrand (a 64-bit state advanced by a constant, mixed
/// by one wide multiplication; it passes BigCrush and PractRand), seeded from the process's
/// random hashing keys (`RandomState`), which differ by thread and by process.
#[inline(always)]
fn random<const N: usize>() -> [u64; N] {
    IDS.with(|state| {
        let mut current = state.get();
        if current == 0 {
            current = seed();
        }
        let numbers = std::array::from_fn(|_| {
            current = current.wrapping_add(0xa076_1d64_78bd_642f);
            let mixed = u128::from(current) * u128::from(current ^ 0xe703_7ed1_a0b4_28db);
            #[allow(clippy::cast_possible_truncation)]
            let (low, high) = (mixed as u64, (mixed >> 64) as u64);
            low ^ high
        });
        state.set(current);
        numbers
    })
}

#[cold]
fn seed() -> u64 {
    use std::hash::BuildHasher;
    // keys drawn from the operating system once per thread, the second one moved on at
    // each `new`; hashing the thread's id mixes them
    RandomState::new().hash_one(std::thread::current().id()) | 1
}

/// A new span id, never the invalid one.
#[inline(always)]
fn new_span_id() -> SpanId {
    let [id] = random();
    if id == 0 {
        return new_span_id_again();
    }
    SpanId::from(id)
}

#[cold]
fn new_span_id_again() -> SpanId {
    new_span_id()
}

/// A new trace id and span id, never the invalid ones.
#[inline(always)]
fn new_root_ids() -> (TraceId, SpanId) {
    let [high, low, span] = random();
    if (high == 0 && low == 0) || span == 0 {
        return new_root_ids_again();
    }
    (
        TraceId::from((u128::from(high) << 64) | u128::from(low)),
        SpanId::from(span),
    )
}

#[cold]
fn new_root_ids_again() -> (TraceId, SpanId) {
    new_root_ids()
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::{SpanKind, TraceContextExt, TraceFlags, TraceId, TraceState};
    use opentelemetry::{Context, KeyValue};
    use opentelemetry_sdk::trace::{Sampler, SamplingDecision, ShouldSample};

    use super::{KnownSampler, Root, SpanContext, SpanId};

    fn sdk_samples(sampler: &Sampler, parent: &Context, trace_id: TraceId) -> bool {
        let attributes: [KeyValue; 0] = [];
        let result = sampler.should_sample(
            Some(parent),
            trace_id,
            "name",
            &SpanKind::Internal,
            &attributes,
            &[],
        );
        result.decision != SamplingDecision::Drop
    }

    #[test]
    fn a_ratio_decides_as_the_sdks_does_for_every_trace_id_near_the_bound() {
        for ratio in [
            0.0,
            1e-9,
            0.1,
            0.25,
            0.5,
            0.999_999,
            1.0,
            2.0,
            -1.0,
            f64::NAN,
        ] {
            let ours = Root::ratio(ratio);
            let sdk = Sampler::TraceIdRatioBased(ratio);
            let bound = match ours {
                Root::Ratio(bound) => bound,
                _ => 0,
            };
            // around the bound (low 64 bits shifted right by one), and the extremes
            for low in [
                0,
                1,
                bound.wrapping_sub(1) << 1,
                bound << 1,
                (bound << 1) | 1,
                bound.wrapping_add(1) << 1,
                u64::MAX,
            ] {
                for high in [0u64, 1, u64::MAX] {
                    let trace_id = TraceId::from((u128::from(high) << 64) | u128::from(low));
                    assert_eq!(
                        ours.samples(trace_id),
                        sdk_samples(&sdk, &Context::new(), trace_id),
                        "ratio {ratio}, trace id {trace_id}"
                    );
                }
            }
        }
    }

    #[test]
    fn parent_based_samplers_follow_an_active_parent_even_an_invalid_one() {
        let sampled = SpanContext::new(
            TraceId::from(7),
            SpanId::from(9),
            TraceFlags::SAMPLED,
            true,
            TraceState::default(),
        );
        let unsampled = SpanContext::new(
            TraceId::from(7),
            SpanId::from(9),
            TraceFlags::default(),
            false,
            TraceState::from_key_value([("k", "v")]).unwrap(),
        );
        let parents = [
            Context::new(),
            Context::new().with_remote_span_context(sampled),
            Context::new().with_remote_span_context(unsampled.clone()),
            Context::new().with_remote_span_context(SpanContext::empty_context()),
        ];
        let samplers = [
            (KnownSampler::ALWAYS_ON, Sampler::AlwaysOn),
            (KnownSampler::ALWAYS_OFF, Sampler::AlwaysOff),
            (
                KnownSampler::PARENT_BASED_ALWAYS_ON,
                Sampler::ParentBased(Box::new(Sampler::AlwaysOn)),
            ),
            (
                KnownSampler::PARENT_BASED_ALWAYS_OFF,
                Sampler::ParentBased(Box::new(Sampler::AlwaysOff)),
            ),
        ];
        for (ours, sdk) in &samplers {
            for parent in &parents {
                let trace_id = parent.span().span_context().trace_id();
                let dropped = ours.unrecorded(parent);
                assert_eq!(
                    dropped.is_none(),
                    sdk_samples(sdk, parent, trace_id),
                    "{ours:?} under {parent:?}"
                );
                if let Some(cx) = dropped {
                    let span = cx.span();
                    let made = span.span_context();
                    assert!(made.is_valid() && !made.is_sampled() && !made.is_remote());
                    assert!(!span.is_recording());
                    let parent_span = parent.span();
                    let parent_span = parent_span.span_context();
                    assert_eq!(made.trace_state(), parent_span.trace_state());
                    if parent_span.is_valid() {
                        assert_eq!(made.trace_id(), parent_span.trace_id());
                        assert_ne!(made.span_id(), parent_span.span_id());
                    }
                }
            }
        }
    }
}
