//! What the catalog does: register locations, process entities (processors, validation,
//! relations) and stitch them, each step a span of plugin `catalog` (the crate-wide scope)
//! and measured with Backstage's catalog metrics.

use std::sync::Arc;
use std::time::Instant;

use backend_plugin_api::redacted_url;
use backstage_telemetry::{ErrorType, KeyValue, current_span, span};

use crate::metrics::{
    PROCESSED, PROCESSING_DURATION, PROCESSING_QUEUE_DELAY, PROCESSORS_DURATION, STITCHED,
    STITCHING_DURATION, STITCHING_QUEUE_DELAY,
};
use crate::store::{Entity, Store, entity_ref, lock};

/// Why an entity failed processing.
#[derive(Debug)]
pub enum ProcessingError {
    Missing,
    Invalid(String),
    /// The catalog holds [`MAX_LOCATIONS`] locations already.
    Full,
}

impl std::fmt::Display for ProcessingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProcessingError::Missing => f.write_str("entity no longer exists"),
            ProcessingError::Invalid(reason) => write!(f, "invalid entity: {reason}"),
            ProcessingError::Full => {
                write!(f, "the catalog holds {MAX_LOCATIONS} locations already")
            }
        }
    }
}

#[backstage_telemetry::error_type]
impl ErrorType for ProcessingError {
    fn error_type(&self) -> std::borrow::Cow<'static, str> {
        match self {
            ProcessingError::Missing => "missing".into(),
            ProcessingError::Invalid(_) => "invalid".into(),
            ProcessingError::Full => "full".into(),
        }
    }

    /// An invalid location or entity, and a catalog at its location cap, are the caller's
    /// (400, 409): `outcome="rejected"` in span metrics. An entity gone while processing
    /// is the catalog's own error.
    fn is_client_error(&self) -> bool {
        matches!(self, ProcessingError::Invalid(_) | ProcessingError::Full)
    }
}

/// The catalog engine over a store.
#[derive(Clone, Debug)]
pub struct Catalog {
    pub(crate) store: Arc<Store>,
}

/// The longest location target, in bytes.
pub const MAX_LOCATION_TARGET: usize = 2048;
/// The most locations the catalog registers.
pub const MAX_LOCATIONS: usize = 1000;

impl Catalog {
    pub fn new(store: Arc<Store>) -> Self {
        Catalog { store }
    }

    /// Registers a location and the entities read from it.
    #[span(metrics, name = "register-location", attributes(catalog.location.type = "url"))]
    pub fn register_location(&self, target: &str) -> Result<usize, ProcessingError> {
        if target.trim().is_empty() {
            return Err(ProcessingError::Invalid("empty location target".into()));
        }
        if target.len() > MAX_LOCATION_TARGET {
            return Err(ProcessingError::Invalid(format!(
                "a location target has at most {MAX_LOCATION_TARGET} bytes"
            )));
        }
        // What is logged, put on spans and shown: the URL without `user:password@` and
        // without the values of credential-like query parameters.
        let target = &redacted_url(target);
        {
            // checked and taken under one lock: concurrent registrations cannot pass the cap
            let mut locations = lock(&self.store.locations);
            if locations.len() >= MAX_LOCATIONS {
                return Err(ProcessingError::Full);
            }
            locations.push(target.to_owned());
        }
        let entities = read_location(target);
        let count = entities.len();
        for entity in entities {
            let entity_ref = entity.entity_ref();
            lock(&self.store.entities).insert(entity_ref.clone(), entity);
            self.store.schedule_processing(entity_ref);
        }
        current_span().set_attribute(KeyValue::new("catalog.entities.read", count as i64));
        tracing::info!(location = target, entities = count, "registered location");
        Ok(count)
    }

    /// Every entity, for a listing.
    #[span(metrics, name = "list-entities")]
    pub fn entities(&self) -> Vec<Entity> {
        self.store.entities()
    }

    /// The entity `kind:namespace/name`, if the catalog has it.
    #[span(metrics, name = "get-entity")]
    pub fn entity(&self, kind: &str, namespace: &str, name: &str) -> Option<Entity> {
        self.store.get(&entity_ref(kind, namespace, name))
    }

    /// Processes up to `limit` scheduled entities (the processing loop's task).
    pub async fn process_batch(&self, limit: usize) -> Result<usize, String> {
        let batch: Vec<(String, Instant)> = {
            let mut queue = lock(&self.store.processing);
            let take = queue.len().min(limit);
            queue.drain(..take).collect()
        };
        let mut processed = 0;
        for (entity_ref, scheduled) in batch {
            if self.process_entity(entity_ref, scheduled).await.is_ok() {
                processed += 1;
            }
        }
        Ok(processed)
    }

    #[span(metrics, name = "process-entity", attributes(catalog.entity.ref = entity_ref.clone()))]
    async fn process_entity(
        &self,
        entity_ref: String,
        scheduled: Instant,
    ) -> Result<(), ProcessingError> {
        PROCESSING_QUEUE_DELAY.record(scheduled.elapsed().as_secs_f64(), &[]);
        let started = Instant::now();
        let entity = self
            .store
            .get(&entity_ref)
            .ok_or(ProcessingError::Missing)?;
        let kind = KeyValue::new("kind", entity.kind.clone());
        let mut outcome = Ok(());
        for processor in [
            "CatalogInfoProcessor",
            "OwnershipProcessor",
            "RelationsProcessor",
        ] {
            outcome = run_processor(processor, &entity).await;
            if outcome.is_err() {
                break;
            }
        }
        let result = if outcome.is_ok() { "ok" } else { "failed" };
        PROCESSED.add(1, &[KeyValue::new("result", result), kind]);
        PROCESSING_DURATION.record(
            started.elapsed().as_secs_f64(),
            &[KeyValue::new("result", result)],
        );
        if let Some(stored) = lock(&self.store.entities).get_mut(&entity_ref) {
            stored.status = if outcome.is_ok() {
                "processed"
            } else {
                "failed"
            };
        }
        match &outcome {
            Ok(()) => lock(&self.store.stitching).push_back((entity_ref, Instant::now())),
            Err(error) => tracing::warn!(entity = %entity_ref, %error, "processing failed"),
        }
        outcome
    }

    /// Stitches up to `limit` processed entities (the stitching loop's task).
    pub async fn stitch_batch(&self, limit: usize) -> Result<usize, String> {
        let batch: Vec<(String, Instant)> = {
            let mut queue = lock(&self.store.stitching);
            let take = queue.len().min(limit);
            queue.drain(..take).collect()
        };
        let count = batch.len();
        for (entity_ref, scheduled) in batch {
            self.stitch_entity(&entity_ref, scheduled);
        }
        Ok(count)
    }

    #[span(metrics, name = "stitch-entity", attributes(catalog.entity.ref = entity_ref.to_owned()))]
    fn stitch_entity(&self, entity_ref: &str, scheduled: Instant) {
        STITCHING_QUEUE_DELAY.record(scheduled.elapsed().as_secs_f64(), &[]);
        let started = Instant::now();
        if let Some(entity) = lock(&self.store.entities).get_mut(entity_ref) {
            entity.status = "stitched";
        }
        STITCHED.add(1, &[]);
        STITCHING_DURATION.record(started.elapsed().as_secs_f64(), &[]);
    }
}

/// The Template entities of the `templates.yaml` location: the scaffolder's templates.
pub const TEMPLATES: [&str; 4] = ["react-app", "docs-site", "legacy-service", "slow-migration"];

/// What a location holds: a few entities per target, derived from its name (`templates.yaml`
/// holds the [`TEMPLATES`]).
#[tracing::instrument(name = "read-location", skip_all, fields(catalog.location = %target))]
fn read_location(target: &str) -> Vec<Entity> {
    let system = target
        .rsplit('/')
        .next()
        .unwrap_or("system")
        .trim_end_matches(".yaml")
        .to_ascii_lowercase();
    let entity = |kind: &str, name: String, relations: Vec<String>| Entity {
        kind: kind.to_owned(),
        namespace: "default".to_owned(),
        name,
        location: target.to_owned(),
        relations,
        status: "pending",
    };
    // the scaffolder's templates, as Backstage keeps them: Template entities
    if system == "templates" {
        return TEMPLATES
            .iter()
            .map(|name| entity("Template", (*name).to_owned(), Vec::new()))
            .collect();
    }
    let system_ref = entity_ref("System", "default", &system);
    let mut entities = vec![
        entity(
            "System",
            system.clone(),
            vec![entity_ref("Group", "default", "platform")],
        ),
        entity(
            "Component",
            format!("{system}-service"),
            vec![system_ref.clone()],
        ),
        entity(
            "Component",
            format!("{system}-website"),
            vec![system_ref.clone()],
        ),
        entity("API", format!("{system}-api"), vec![system_ref]),
    ];
    if system.contains("broken") {
        // a descriptor with no owner: fails validation every time it is processed
        entities.push(entity("Component", format!("{system}-orphan"), Vec::new()));
    }
    entities
}

#[span(name = "run-processor", attributes(catalog.processor = processor))]
async fn run_processor(processor: &'static str, entity: &Entity) -> Result<(), ProcessingError> {
    let started = Instant::now();
    // simulated work: parsing, lookups
    tokio::task::yield_now().await;
    let outcome = if processor == "OwnershipProcessor" && entity.relations.is_empty() {
        Err(ProcessingError::Invalid(format!(
            "{} has no owner",
            entity.name
        )))
    } else {
        Ok(())
    };
    let result = if outcome.is_ok() { "ok" } else { "failed" };
    PROCESSORS_DURATION.record(
        started.elapsed().as_secs_f64(),
        &[
            KeyValue::new("processor", processor),
            KeyValue::new("result", result),
        ],
    );
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Registrations racing for the last free places never pass the cap.
    #[test]
    fn concurrent_registrations_stay_within_the_cap() {
        let store = Arc::new(Store::default());
        let catalog = Catalog::new(store.clone());
        for i in 0..MAX_LOCATIONS - 3 {
            catalog
                .register_location(&format!("https://h/{i}.yaml"))
                .expect("below the cap");
        }
        let accepted: usize = std::thread::scope(|scope| {
            let racers: Vec<_> = (0..16)
                .map(|i| {
                    let catalog = &catalog;
                    scope.spawn(move || {
                        catalog
                            .register_location(&format!("https://h/race-{i}.yaml"))
                            .is_ok()
                    })
                })
                .collect();
            racers
                .into_iter()
                .map(|racer| usize::from(racer.join().unwrap()))
                .sum()
        });
        assert_eq!(accepted, 3);
        assert_eq!(store.location_count(), MAX_LOCATIONS as u64);
    }
}
