//! The example backend as a library: its plugins, its HTTP edge and its metrics reference.
//! `main.rs` wires them up.

pub mod http;
pub mod http_metrics;
pub mod reference;

use std::sync::Arc;

use backend_plugin_api::{BackendPlugin, PluginEnvironment, Scheduler};
use backstage_telemetry::{Config, ConfigError, RootMetricsService};
use catalog_backend::CatalogPlugin;
use scaffolder_backend::ScaffolderPlugin;
use todos_backend::TodosPlugin;

/// The plugins of this backend, each created with its own environment and its settings
/// from the app-config (a setting of the wrong type is an error naming the key).
pub fn plugins(
    config: &Config,
    metrics: &RootMetricsService,
    scheduler: &Scheduler,
) -> Result<Vec<Arc<dyn BackendPlugin>>, ConfigError> {
    let environment = |id: &str| PluginEnvironment {
        metrics: metrics.for_plugin(id).expect("a valid plugin id"),
        scheduler: scheduler.clone(),
    };
    Ok(vec![
        Arc::new(CatalogPlugin::new(environment("catalog"))),
        Arc::new(ScaffolderPlugin::new()),
        Arc::new(TodosPlugin::from_config(config)?),
    ])
}
