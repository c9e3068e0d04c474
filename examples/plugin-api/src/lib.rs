//! The contract between the example backend and its plugins, in the spirit of Backstage's
//! `@backstage/backend-plugin-api`: a plugin is created from a [`PluginEnvironment`] and
//! gives the backend its routes, its start and stop, and the metrics it exports. The
//! backend mounts the routes under `/api/{id}`, reports the plugin not ready until its start
//! completes, and never reaches into it otherwise.
//!
//! Requests reach a plugin's routes authenticated: the backend puts the caller's
//! [`BackstageCredentials`](backstage_telemetry::BackstageCredentials) in the request's
//! extensions (read them with `axum::Extension`).

use std::future::Future;
use std::pin::Pin;

use axum::Router;
use backstage_telemetry::metrics::MetricsService;
pub use scheduler::Scheduler;

/// A plugin's start: the backend marks the plugin ready when this completes.
pub type Starting = Pin<Box<dyn Future<Output = ()> + Send>>;

/// What the backend gives a plugin when it creates it.
#[derive(Clone, Debug)]
pub struct PluginEnvironment {
    /// The plugin's own metrics service (`backstage.plugin.{id}.*`), for instruments made at
    /// run time, such as gauges whose callbacks read the plugin's state.
    pub metrics: MetricsService,
    /// Runs the plugin's background tasks until the backend shuts down.
    pub scheduler: Scheduler,
}

/// A backend plugin, as the backend sees it.
pub trait BackendPlugin: Send + Sync + 'static {
    /// The plugin id, as in its crate's `[package.metadata.backstage] pluginId`: the routes
    /// are mounted under `/api/{id}` and its health is reported under this name.
    fn id(&self) -> &'static str;

    /// The plugin's routes, relative to `/api/{id}`.
    fn router(&self) -> Router;

    /// Starts the plugin's background work; the plugin is ready when this completes.
    fn start(&self) -> Starting {
        Box::pin(async {})
    }

    /// Stops what the plugin runs outside the scheduler (at shutdown, after the requests in
    /// flight finished).
    fn stop(&self) {}
}
