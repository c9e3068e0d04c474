//! The entity store and its processing and stitching queues. Shared by `Arc`: the handlers,
//! the loops and the gauges that observe it all hold the same store, and nothing is global.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::Instant;

use serde::Serialize;

/// An entity as the catalog serves it.
#[derive(Clone, Debug, Serialize)]
pub struct Entity {
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub location: String,
    /// Refs of the entities this one depends on or belongs to.
    pub relations: Vec<String>,
    /// `pending`, `processed`, `failed` or `stitched`.
    pub status: &'static str,
}

impl Entity {
    pub fn entity_ref(&self) -> String {
        entity_ref(&self.kind, &self.namespace, &self.name)
    }
}

/// `kind:namespace/name`, the kind in lower case.
pub fn entity_ref(kind: &str, namespace: &str, name: &str) -> String {
    format!("{}:{namespace}/{name}", kind.to_ascii_lowercase())
}

/// The entities, the registered locations and the two queues.
#[derive(Debug, Default)]
pub struct Store {
    pub(crate) entities: Mutex<BTreeMap<String, Entity>>,
    pub(crate) locations: Mutex<Vec<String>>,
    pub(crate) processing: Mutex<VecDeque<(String, Instant)>>,
    pub(crate) stitching: Mutex<VecDeque<(String, Instant)>>,
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Store {
    pub fn entities(&self) -> Vec<Entity> {
        lock(&self.entities).values().cloned().collect()
    }

    pub fn get(&self, entity_ref: &str) -> Option<Entity> {
        lock(&self.entities).get(entity_ref).cloned()
    }

    pub(crate) fn counts_by_kind(&self) -> HashMap<String, u64> {
        let mut counts = HashMap::new();
        for entity in lock(&self.entities).values() {
            *counts.entry(entity.kind.clone()).or_default() += 1;
        }
        counts
    }

    pub(crate) fn location_count(&self) -> u64 {
        lock(&self.locations).len() as u64
    }

    pub(crate) fn relation_count(&self) -> u64 {
        lock(&self.entities)
            .values()
            .map(|e| e.relations.len() as u64)
            .sum()
    }

    pub(crate) fn stitching_queue_length(&self) -> u64 {
        lock(&self.stitching).len() as u64
    }

    pub(crate) fn schedule_processing(&self, entity_ref: String) {
        lock(&self.processing).push_back((entity_ref, Instant::now()));
    }

    /// Schedules every entity for processing again (the refresh loop).
    pub(crate) fn refresh_all(&self) -> usize {
        let refs: Vec<String> = lock(&self.entities).keys().cloned().collect();
        let count = refs.len();
        for entity_ref in refs {
            self.schedule_processing(entity_ref);
        }
        count
    }

    /// Whether everything registered so far has been processed and stitched.
    pub fn caught_up(&self) -> bool {
        lock(&self.processing).is_empty()
            && lock(&self.stitching).is_empty()
            && lock(&self.entities).values().all(|e| e.status != "pending")
    }
}
