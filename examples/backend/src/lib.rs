//! The example backend as a library: its plugins, its HTTP edge and its metrics reference.
//! `main.rs` wires them up.

pub mod http;
pub mod http_metrics;
pub mod reference;

use std::sync::Arc;

use backend_plugin_api::{BackendPlugin, PluginEnvironment, Scheduler};
use backstage_telemetry::RootMetricsService;
use catalog_backend::CatalogPlugin;
use scaffolder_backend::ScaffolderPlugin;
use todos_backend::TodosPlugin;

/// The plugins of this backend, each created with its own environment.
pub fn plugins(metrics: &RootMetricsService, scheduler: &Scheduler) -> Vec<Arc<dyn BackendPlugin>> {
    let environment = |id: &str| PluginEnvironment {
        metrics: metrics.for_plugin(id).expect("a valid plugin id"),
        scheduler: scheduler.clone(),
    };
    vec![
        Arc::new(CatalogPlugin::new(environment("catalog"))),
        Arc::new(ScaffolderPlugin::new()),
        Arc::new(TodosPlugin::new()),
    ]
}
