//! The catalog plugin: an in-memory entity store fed by registered locations, with a
//! processing loop (processors, validation, relations), a stitching loop and a refresh
//! loop on the scheduler, and the metrics of Backstage's catalog under
//! `backstage.plugin.catalog.*`.
//!
//! The plugin's state is one [`Store`] shared by `Arc`. The gauges that read it are made
//! with the plugin's `MetricsService` and capture the store in their callbacks: the
//! pattern to copy for any instrument that observes live state (a `metric!` static has
//! nowhere to keep it).

mod engine;
mod store;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use backend_plugin_api::{BackendPlugin, Page, Paged, PluginEnvironment, Scheduler, Starting};
use backstage_telemetry::KeyValue;
use backstage_telemetry::metrics::{MetricsService, ObservableGauge};

pub use engine::{Catalog, MAX_LOCATION_TARGET, MAX_LOCATIONS, ProcessingError};
pub use store::{Entity, Store, entity_ref};

/// The plugin's declared instruments. No `id`: the scope is the crate's, from Cargo.toml.
#[backstage_telemetry::backstage_plugin]
pub mod metrics {
    use backstage_telemetry::metric;

    metric! {
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
        /// The amount of delay between being scheduled for stitching, and the start of actually being stitched.
        pub static STITCHING_QUEUE_DELAY: Histogram<f64> = "stitching.queue.delay", unit = "s",
            boundaries = [0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0];
    }
}

/// The gauges that read the store: authored name, unit, description. Made with the
/// plugin's metrics service, which prefixes the names and lists them in the binary's
/// metric catalog (`backstage_telemetry::catalog()`) with the declared ones.
const GAUGES: [(&str, &str, &str); 4] = [
    (
        "entities.count",
        "{entity}",
        "Total amount of entities in the catalog.",
    ),
    (
        "registered_locations.count",
        "{location}",
        "Total amount of registered locations in the catalog.",
    ),
    (
        "relations.count",
        "{relation}",
        "Total amount of relations between entities.",
    ),
    (
        "stitching.queue.length",
        "{entity}",
        "Number of entities currently in the stitching queue.",
    ),
];

/// The locations registered at start-up.
const BOOTSTRAP_LOCATIONS: [&str; 4] = [
    "https://github.com/acme/backstage/blob/main/catalog/payments.yaml",
    "https://github.com/acme/backstage/blob/main/catalog/search.yaml",
    "https://github.com/acme/backstage/blob/main/catalog/broken.yaml",
    // the scaffolder's Template entities, which it fetches over HTTP
    "https://github.com/acme/backstage/blob/main/catalog/templates.yaml",
];

/// The catalog plugin.
pub struct CatalogPlugin {
    catalog: Catalog,
    scheduler: Scheduler,
    /// Alive as long as the plugin: their callbacks run at each collection.
    _gauges: Vec<ObservableGauge<u64>>,
}

impl CatalogPlugin {
    /// The plugin over an empty store; its gauges observe the store from now on.
    pub fn new(environment: PluginEnvironment) -> Self {
        let store = Arc::new(Store::default());
        CatalogPlugin {
            _gauges: observe(&environment.metrics, &store),
            catalog: Catalog::new(store),
            scheduler: environment.scheduler,
        }
    }
}

/// The store's gauges, each callback holding the store.
fn observe(metrics: &MetricsService, store: &Arc<Store>) -> Vec<ObservableGauge<u64>> {
    let gauge = |&(name, unit, description): &(&str, &'static str, &'static str)| {
        metrics
            .observable_gauge::<u64>(name)
            .with_unit(unit)
            .with_description(description)
    };
    let [entities, locations, relations, stitching] = &GAUGES;
    let [s1, s2, s3, s4] = [(); 4].map(|()| store.clone());
    [
        gauge(entities).with_callback(move |observer| {
            for (kind, count) in s1.counts_by_kind() {
                observer.observe(count, &[KeyValue::new("kind", kind)]);
            }
        }),
        gauge(locations).with_callback(move |observer| observer.observe(s2.location_count(), &[])),
        gauge(relations).with_callback(move |observer| observer.observe(s3.relation_count(), &[])),
        gauge(stitching)
            .with_callback(move |observer| observer.observe(s4.stitching_queue_length(), &[])),
    ]
    .into_iter()
    .map(|builder| builder.build().expect("checked names"))
    .collect()
}

impl BackendPlugin for CatalogPlugin {
    fn id(&self) -> &'static str {
        "catalog"
    }

    fn router(&self) -> Router {
        Router::new()
            .route("/entities", get(list_entities))
            .route(
                "/entities/by-name/{kind}/{namespace}/{name}",
                get(get_entity),
            )
            .route("/locations", post(register_location))
            .with_state(self.catalog.clone())
    }

    /// Registers the bootstrap locations, schedules the loops, and completes once those
    /// locations are processed and stitched.
    fn start(&self) -> Starting {
        for target in BOOTSTRAP_LOCATIONS {
            let _ = self.catalog.register_location(target);
        }
        let catalog = self.catalog.clone();
        self.scheduler.schedule(
            "catalog-processing",
            Duration::from_millis(500),
            move || {
                let catalog = catalog.clone();
                async move { catalog.process_batch(50).await }
            },
        );
        let catalog = self.catalog.clone();
        self.scheduler
            .schedule("catalog-stitching", Duration::from_millis(500), move || {
                let catalog = catalog.clone();
                async move { catalog.stitch_batch(50).await }
            });
        let store = self.catalog.store.clone();
        self.scheduler
            .schedule("catalog-refresh", Duration::from_secs(10), move || {
                let store = store.clone();
                async move { Ok(store.refresh_all()) }
            });
        let store = self.catalog.store.clone();
        Box::pin(async move {
            while !store.caught_up() {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    }
}

/// `GET /entities`: a page of the entities (`?limit=&offset=`).
async fn list_entities(
    State(catalog): State<Catalog>,
    Query(page): Query<Page>,
) -> Json<Paged<Entity>> {
    Json(page.of(&catalog.entities()))
}

async fn get_entity(
    State(catalog): State<Catalog>,
    Path((kind, namespace, name)): Path<(String, String, String)>,
) -> Response {
    match catalog.entity(&kind, &namespace, &name) {
        Some(entity) => Json(entity).into_response(),
        // the path is not echoed
        None => (StatusCode::NOT_FOUND, "no such entity\n").into_response(),
    }
}

#[derive(serde::Deserialize)]
struct LocationRequest {
    target: String,
}

async fn register_location(
    State(catalog): State<Catalog>,
    Json(location): Json<LocationRequest>,
) -> Response {
    match catalog.register_location(&location.target) {
        Ok(count) => (
            StatusCode::CREATED,
            Json(serde_json::json!({ "entities": count })),
        )
            .into_response(),
        Err(error @ ProcessingError::Full) => {
            (StatusCode::CONFLICT, format!("{error}\n")).into_response()
        }
        Err(error) => (StatusCode::BAD_REQUEST, format!("{error}\n")).into_response(),
    }
}
