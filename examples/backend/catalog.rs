//! The catalog plugin: an in-memory entity store fed by registered locations, with a
//! processing loop (processors, validation, relations) and a stitching loop, and the
//! metrics of Backstage's catalog under `backstage.plugin.catalog.*`.

#[backstage_telemetry::backstage_plugin(id = "catalog")]
pub mod catalog {
    use std::collections::{BTreeMap, HashMap, VecDeque};
    use std::sync::{Arc, Mutex, OnceLock};
    use std::time::{Duration, Instant};

    use backstage_telemetry::{ErrorType, KeyValue, current_span, metric, span};
    use serde::Serialize;
    use tokio::sync::watch;

    use crate::scheduler::scheduler;

    metric! {
        /// Total amount of entities in the catalog.
        pub static ENTITIES: ObservableGauge<u64> = "entities.count", unit = "{entity}",
            callback = |observer| {
                for (kind, count) in store().counts_by_kind() {
                    observer.observe(count, &[KeyValue::new("kind", kind)]);
                }
            };
        /// Total amount of registered locations in the catalog.
        pub static LOCATIONS: ObservableGauge<u64> = "registered_locations.count", unit = "{location}",
            callback = |observer| observer.observe(store().location_count(), &[]);
        /// Total amount of relations between entities.
        pub static RELATIONS: ObservableGauge<u64> = "relations.count", unit = "{relation}",
            callback = |observer| observer.observe(store().relation_count(), &[]);
        /// Amount of entities processed.
        pub static PROCESSED: Counter<u64> = "processed.entities.count", unit = "{entity}";
        /// Time spent executing the full processing flow.
        pub static PROCESSING_DURATION: Histogram<f64> = "processing.duration", unit = "s",
            boundaries = [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5];
        /// Time spent executing catalog processors.
        pub static PROCESSORS_DURATION: Histogram<f64> = "processors.duration", unit = "s",
            boundaries = [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05];
        /// The amount of delay between being scheduled for processing, and the start of actually being processed.
        pub static PROCESSING_QUEUE_DELAY: Histogram<f64> = "processing.queue.delay", unit = "s",
            boundaries = [0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0];
        /// Amount of entities stitched.
        pub static STITCHED: Counter<u64> = "stitched.entities.count", unit = "{entity}";
        /// Time spent executing the full stitching flow.
        pub static STITCHING_DURATION: Histogram<f64> = "stitching.duration", unit = "s",
            boundaries = [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1];
        /// Number of entities currently in the stitching queue.
        pub static STITCHING_QUEUE_LENGTH: ObservableGauge<u64> = "stitching.queue.length", unit = "{entity}",
            callback = |observer| observer.observe(store().stitching_queue_length(), &[]);
        /// The amount of delay between being scheduled for stitching, and the start of actually being stitched.
        pub static STITCHING_QUEUE_DELAY: Histogram<f64> = "stitching.queue.delay", unit = "s",
            boundaries = [0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0];
    }

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

    pub fn entity_ref(kind: &str, namespace: &str, name: &str) -> String {
        format!("{}:{namespace}/{name}", kind.to_ascii_lowercase())
    }

    /// Why an entity failed processing.
    #[derive(Debug)]
    pub enum ProcessingError {
        Missing,
        Invalid(String),
    }

    impl std::fmt::Display for ProcessingError {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            match self {
                ProcessingError::Missing => f.write_str("entity no longer exists"),
                ProcessingError::Invalid(reason) => write!(f, "invalid entity: {reason}"),
            }
        }
    }

    impl ErrorType for ProcessingError {
        fn error_type(&self) -> std::borrow::Cow<'static, str> {
            match self {
                ProcessingError::Missing => "missing".into(),
                ProcessingError::Invalid(_) => "invalid".into(),
            }
        }
    }

    /// The entity store and its queues.
    #[derive(Default)]
    pub struct Store {
        entities: Mutex<BTreeMap<String, Entity>>,
        locations: Mutex<Vec<String>>,
        processing: Mutex<VecDeque<(String, Instant)>>,
        stitching: Mutex<VecDeque<(String, Instant)>>,
    }

    static STORE: OnceLock<Arc<Store>> = OnceLock::new();

    /// The catalog's store (the observable instruments read it).
    pub fn store() -> &'static Arc<Store> {
        STORE.get_or_init(Arc::default)
    }

    fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
        mutex
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    impl Store {
        fn counts_by_kind(&self) -> HashMap<String, u64> {
            let mut counts = HashMap::new();
            for entity in lock(&self.entities).values() {
                *counts.entry(entity.kind.clone()).or_default() += 1;
            }
            counts
        }

        fn location_count(&self) -> u64 {
            lock(&self.locations).len() as u64
        }

        fn relation_count(&self) -> u64 {
            lock(&self.entities)
                .values()
                .map(|e| e.relations.len() as u64)
                .sum()
        }

        fn stitching_queue_length(&self) -> u64 {
            lock(&self.stitching).len() as u64
        }

        pub fn entities(&self) -> Vec<Entity> {
            lock(&self.entities).values().cloned().collect()
        }

        pub fn get(&self, entity_ref: &str) -> Option<Entity> {
            lock(&self.entities).get(entity_ref).cloned()
        }

        fn schedule_processing(&self, entity_ref: String) {
            lock(&self.processing).push_back((entity_ref, Instant::now()));
        }

        /// Schedules every entity for processing again (the refresh loop).
        fn refresh_all(&self) -> usize {
            let refs: Vec<String> = lock(&self.entities).keys().cloned().collect();
            let count = refs.len();
            for entity_ref in refs {
                self.schedule_processing(entity_ref);
            }
            count
        }
    }

    /// Registers a location and the entities read from it.
    #[span(name = "register-location", attributes(catalog.location.type = "url"))]
    pub fn register_location(target: &str) -> Result<usize, ProcessingError> {
        if target.trim().is_empty() {
            return Err(ProcessingError::Invalid("empty location target".into()));
        }
        // What is logged, put on spans and shown: the URL without `user:password@`.
        let target = &without_userinfo(target);
        let entities = read_location(target);
        lock(&store().locations).push(target.to_owned());
        let count = entities.len();
        for entity in entities {
            let entity_ref = entity.entity_ref();
            lock(&store().entities).insert(entity_ref.clone(), entity);
            store().schedule_processing(entity_ref);
        }
        current_span().set_attribute(KeyValue::new("catalog.entities.read", count as i64));
        tracing::info!(location = target, entities = count, "registered location");
        Ok(count)
    }

    /// `url` without the `user:password@` of its authority (credentials never reach logs,
    /// spans or the catalog's listing).
    pub fn without_userinfo(url: &str) -> String {
        let authority_start = url.find("://").map_or(0, |i| i + 3);
        let authority_end = url[authority_start..]
            .find(['/', '?', '#'])
            .map_or(url.len(), |i| authority_start + i);
        match url[authority_start..authority_end].rfind('@') {
            Some(at) => format!(
                "{}{}",
                &url[..authority_start],
                &url[authority_start + at + 1..]
            ),
            None => url.to_owned(),
        }
    }

    /// What a location holds: a few entities per target, derived from its name.
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

    /// Processes up to `limit` scheduled entities (the processing loop's task).
    pub async fn process_batch(limit: usize) -> Result<usize, String> {
        let batch: Vec<(String, Instant)> = {
            let mut queue = lock(&store().processing);
            let take = queue.len().min(limit);
            queue.drain(..take).collect()
        };
        let mut processed = 0;
        for (entity_ref, scheduled) in batch {
            if process_entity(entity_ref, scheduled).await.is_ok() {
                processed += 1;
            }
        }
        Ok(processed)
    }

    #[span(name = "process-entity", attributes(catalog.entity.ref = entity_ref.clone()))]
    async fn process_entity(entity_ref: String, scheduled: Instant) -> Result<(), ProcessingError> {
        PROCESSING_QUEUE_DELAY.record(scheduled.elapsed().as_secs_f64(), &[]);
        let started = Instant::now();
        let entity = store().get(&entity_ref).ok_or(ProcessingError::Missing)?;
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
        if let Some(stored) = lock(&store().entities).get_mut(&entity_ref) {
            stored.status = if outcome.is_ok() {
                "processed"
            } else {
                "failed"
            };
        }
        match &outcome {
            Ok(()) => lock(&store().stitching).push_back((entity_ref, Instant::now())),
            Err(error) => tracing::warn!(entity = %entity_ref, %error, "processing failed"),
        }
        outcome
    }

    #[span(name = "run-processor", attributes(catalog.processor = processor))]
    async fn run_processor(
        processor: &'static str,
        entity: &Entity,
    ) -> Result<(), ProcessingError> {
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

    /// Stitches up to `limit` processed entities (the stitching loop's task).
    pub async fn stitch_batch(limit: usize) -> Result<usize, String> {
        let batch: Vec<(String, Instant)> = {
            let mut queue = lock(&store().stitching);
            let take = queue.len().min(limit);
            queue.drain(..take).collect()
        };
        let count = batch.len();
        for (entity_ref, scheduled) in batch {
            stitch_entity(&entity_ref, scheduled);
        }
        Ok(count)
    }

    #[span(name = "stitch-entity", attributes(catalog.entity.ref = entity_ref.to_owned()))]
    fn stitch_entity(entity_ref: &str, scheduled: Instant) {
        STITCHING_QUEUE_DELAY.record(scheduled.elapsed().as_secs_f64(), &[]);
        let started = Instant::now();
        if let Some(entity) = lock(&store().entities).get_mut(entity_ref) {
            entity.status = "stitched";
        }
        STITCHED.add(1, &[]);
        STITCHING_DURATION.record(started.elapsed().as_secs_f64(), &[]);
    }

    /// Whether everything registered so far has been processed and stitched.
    pub fn caught_up() -> bool {
        lock(&store().processing).is_empty()
            && lock(&store().stitching).is_empty()
            && lock(&store().entities)
                .values()
                .all(|e| e.status != "pending")
    }

    /// Starts the catalog: the bootstrap location, then the processing, stitching and
    /// refresh loops on the scheduler.
    pub fn start(stop: &watch::Receiver<bool>) -> Vec<tokio::task::JoinHandle<()>> {
        register_observables();
        for target in [
            "https://github.com/acme/backstage/blob/main/catalog/payments.yaml",
            "https://github.com/acme/backstage/blob/main/catalog/search.yaml",
            "https://github.com/acme/backstage/blob/main/catalog/broken.yaml",
        ] {
            let _ = register_location(target);
        }
        vec![
            scheduler::schedule(
                "catalog-processing",
                Duration::from_millis(500),
                stop.clone(),
                || process_batch(50),
            ),
            scheduler::schedule(
                "catalog-stitching",
                Duration::from_millis(500),
                stop.clone(),
                || stitch_batch(50),
            ),
            scheduler::schedule(
                "catalog-refresh",
                Duration::from_secs(10),
                stop.clone(),
                || async { Ok(store().refresh_all()) },
            ),
        ]
    }
}
