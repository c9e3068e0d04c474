//! Operator views (`backend.metrics.views`): per instrument, or per plugin with a trailing
//! `*`, the histogram boundaries, the attribute keys kept, the cardinality limit, or
//! dropping it altogether, applied through one SDK view.
//!
//! Each entry is checked against the metric catalog at `init`: an instrument no code
//! declares (with the closest names the catalog has; the view is kept for an instrument
//! built later), boundaries on an instrument that is no histogram, invalid boundaries or
//! attribute keys, and a cardinality limit out of range are set-up problems naming the
//! entry's key (`backend.metrics.views[3].instrument`); only that key of the entry is left
//! out, and every other view applies. An exact name wins
//! over a prefix, and a longer prefix over a shorter one; `backend.metrics.cardinalityLimit`
//! applies wherever a view sets none.

use opentelemetry::Key;
use opentelemetry_sdk::metrics::{Aggregation, Instrument, Stream};

use super::problem::SetupProblem;
use super::settings::CARDINALITY_LIMIT;
use crate::catalog::{Catalog, MetricEntry};
use crate::config::MetricView;
use crate::naming::MetricKind;

/// The checked views, and the cardinality limit of every other instrument.
#[derive(Clone, Debug, Default)]
pub(super) struct Views {
    views: Vec<View>,
    default_limit: Option<usize>,
}

/// One usable entry.
#[derive(Clone, Debug)]
struct View {
    /// Where it is in `backend.metrics.views`.
    index: usize,
    /// The entry as written: what it covers.
    written: MetricView,
    boundaries: Option<Vec<f64>>,
    attributes: Option<Vec<Key>>,
    cardinality_limit: Option<usize>,
    drop: bool,
}

impl Views {
    /// The entries of `config` that can be used against `catalog`; a problem for each one,
    /// or each key of one, that cannot.
    pub(super) fn check(
        config: &[MetricView],
        catalog: &Catalog,
        default_limit: Option<usize>,
        problems: &mut Vec<SetupProblem>,
    ) -> Views {
        let mut views: Vec<View> = Vec::new();
        for (index, entry) in config.iter().enumerate() {
            let key = |name: &str| format!("backend.metrics.views[{index}].{name}");
            let Some(instrument) = entry.instrument.as_deref().map(str::trim) else {
                problems.push(SetupProblem::new(
                    key("instrument"),
                    "is missing: name an exported metric, or a prefix ending in `*`",
                    "this view is ignored",
                ));
                continue;
            };
            let matched: Vec<&MetricEntry> = catalog
                .metrics()
                .iter()
                .filter(|metric| entry.covers(&metric.name).is_some())
                .collect();
            // Not in the catalog: a typo, or an instrument a `MetricsService` builds after
            // `init`. Said either way; the view is kept for the second case.
            if matched.is_empty() {
                problems.push(SetupProblem::new(
                    key("instrument"),
                    format!(
                        "names no instrument of the metric catalog{}",
                        closest(instrument, catalog)
                    ),
                    "it applies only to an instrument of that name built after start-up",
                ));
            }
            if let Some(earlier) = views
                .iter()
                .find(|view| view.written.instrument.as_deref().map(str::trim) == Some(instrument))
                .map(|view| view.index)
            {
                problems.push(SetupProblem::new(
                    key("instrument"),
                    format!("names the same instruments as backend.metrics.views[{earlier}]"),
                    "this view is ignored",
                ));
                continue;
            }
            let boundaries = entry.boundaries.clone().filter(|boundaries| {
                let histograms =
                    matched.is_empty() || matched.iter().any(|m| m.kind == MetricKind::Histogram);
                let problem = if !histograms {
                    "apply to histograms only, and this view names none"
                } else if crate::naming::validate_boundaries(boundaries).is_err() {
                    "must be finite numbers, each larger than the one before"
                } else {
                    return true;
                };
                problems.push(SetupProblem::new(
                    key("boundaries"),
                    problem,
                    "the instruments keep their boundaries",
                ));
                false
            });
            let attributes = entry.attributes.as_ref().and_then(|keys| {
                if let Some(bad) = keys
                    .iter()
                    .position(|key| crate::naming::validate_attribute_key(key).is_err())
                {
                    problems.push(SetupProblem::new(
                        key("attributes"),
                        format!(
                            "must be attribute keys such as `kind` or `http.route` (entry {bad} is not)"
                        ),
                        "every attribute is kept",
                    ));
                    return None;
                }
                Some(keys.iter().map(|key| Key::new(key.clone())).collect())
            });
            let cardinality_limit = entry.cardinality_limit.map(|limit| {
                CARDINALITY_LIMIT.clamp(&key("cardinalityLimit"), limit, problems) as usize
            });
            views.push(View {
                index,
                written: entry.clone(),
                boundaries,
                attributes,
                cardinality_limit,
                drop: entry.drop,
            });
        }
        Views {
            views,
            default_limit,
        }
    }

    /// Whether the SDK's default streams do: no view and no cardinality limit.
    pub(super) fn is_empty(&self) -> bool {
        self.views.is_empty() && self.default_limit.is_none()
    }

    /// The stream of `instrument` as the views say, `None` for the SDK's default.
    pub(super) fn stream(&self, instrument: &Instrument) -> Option<Stream> {
        let view = self.find(instrument.name());
        let mut builder = Stream::builder();
        let limit = view
            .and_then(|view| view.cardinality_limit)
            .or(self.default_limit);
        if let Some(limit) = limit {
            builder = builder.with_cardinality_limit(limit);
        }
        if let Some(view) = view {
            if view.drop {
                builder = builder.with_aggregation(Aggregation::Drop);
            } else if let Some(boundaries) = &view.boundaries
                && matches!(
                    instrument.kind(),
                    opentelemetry_sdk::metrics::InstrumentKind::Histogram
                )
            {
                builder = builder.with_aggregation(Aggregation::ExplicitBucketHistogram {
                    boundaries: boundaries.clone(),
                    record_min_max: true,
                });
            }
            if let Some(keys) = &view.attributes {
                builder = builder.with_allowed_attribute_keys(keys.iter().cloned());
            }
        } else if limit.is_none() {
            return None;
        }
        builder.build().ok()
    }

    /// The view of the exported name `name`: as [`Config::view_for`](crate::Config::view_for)
    /// picks it.
    fn find(&self, name: &str) -> Option<&View> {
        crate::config::best_view(self.views.iter().map(|view| (&view.written, view)), name)
    }
}

/// `" (closest: `a`, `b`, `c`)"`: the catalog's names nearest to `typed`, which itself is
/// never quoted.
fn closest(typed: &str, catalog: &Catalog) -> String {
    let mut names: Vec<(usize, &str)> = catalog
        .metrics()
        .iter()
        .map(|metric| (distance(typed, &metric.name), metric.name.as_ref()))
        .collect();
    names.sort_unstable();
    names.dedup_by_key(|(_, name)| *name);
    let nearest: Vec<String> = names
        .iter()
        .take(3)
        .map(|(_, name)| format!("`{name}`"))
        .collect();
    if nearest.is_empty() {
        String::new()
    } else {
        format!(" (closest: {})", nearest.join(", "))
    }
}

/// The edit distance between `a` and `b` (insertions, deletions, substitutions).
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (diagonal + usize::from(ca != *cb))
                .min(above + 1)
                .min(row[j] + 1);
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_edit_distance() {
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(distance("", "abc"), 3);
        assert_eq!(distance("same", "same"), 0);
    }
}
