//! The instruments built at run time with a [`MetricsService`](super::MetricsService), in
//! the order they were built: one exported name is one instrument (kind, value type and
//! unit), as the macros check at compile time; the catalog lists them all.

use std::panic::Location;
use std::sync::Mutex;

use crate::naming::{MetricKind, Scope};
use crate::sync::lock;

/// One instrument built at run time, and where.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Built {
    pub name: String,
    pub kind: MetricKind,
    pub value_type: &'static str,
    pub unit: String,
    pub description: String,
    pub boundaries: Option<Vec<f64>>,
    pub scope: Scope,
    pub location: &'static Location<'static>,
}

impl Built {
    fn same_instrument(&self, other: &Built) -> bool {
        (self.kind, self.value_type, &self.unit) == (other.kind, other.value_type, &other.unit)
    }
}

static BUILT: Mutex<Vec<Built>> = Mutex::new(Vec::new());

/// Adds `built` (once, however often the same code builds it), or says what holds its name
/// with another kind, value type or unit: `Counter<u64> with unit `s``.
pub(crate) fn register(built: Built) -> Result<(), String> {
    let mut all = lock(&BUILT);
    if let Some(held) = all.iter().find(|held| held.name == built.name)
        && !held.same_instrument(&built)
    {
        let (kind, value_type, unit) = (held.kind.name(), held.value_type, &held.unit);
        return Err(format!("{kind}<{value_type}> with unit `{unit}`"));
    }
    if !all.contains(&built) {
        all.push(built);
    }
    Ok(())
}

/// Every instrument built so far, in order.
pub(crate) fn all() -> Vec<Built> {
    lock(&BUILT).clone()
}
