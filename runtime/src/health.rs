//! Health (`/.backstage/health/v1/liveness` and `/readiness`), usable with any HTTP
//! framework: [`RootHealthService`] answers with a status code and a JSON body.
//!
//! Liveness is 200 while the process runs. Readiness is 503 until every plugin registered
//! with [`RootHealthService::register`] has reported started, 200 then, and 503 again once
//! shutdown begins.
//!
//! ```
//! use backstage_telemetry::health::RootHealthService;
//!
//! let health = RootHealthService::new();
//! let catalog = health.register("catalog");
//! assert_eq!(health.readiness().status, 503);
//! catalog.started();
//! assert_eq!(health.readiness().status, 200);
//! health.begin_shutdown();
//! assert_eq!(health.readiness().status, 503);
//! assert_eq!(health.liveness().status, 200);
//! ```

use crate::sync::lock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// The health of the backend; clones share it.
#[derive(Clone, Debug, Default)]
pub struct RootHealthService {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Plugins and whether each has started.
    plugins: Mutex<Vec<(String, bool)>>,
    shutting_down: AtomicBool,
}

/// A health answer: status code and JSON body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthResponse {
    /// 200 or 503.
    pub status: u16,
    /// `{"status":"ok"}` or `{"status":"error","message":"..."}`.
    pub body: String,
}

impl HealthResponse {
    fn ok() -> Self {
        HealthResponse {
            status: 200,
            body: r#"{"status":"ok"}"#.to_owned(),
        }
    }

    fn unavailable(message: &str) -> Self {
        HealthResponse {
            status: 503,
            body: format!(r#"{{"status":"error","message":"{message}"}}"#),
        }
    }
}

/// A plugin's start-up, reported with [`PluginStartup::started`].
#[derive(Debug)]
pub struct PluginStartup {
    inner: Arc<Inner>,
    index: usize,
}

impl PluginStartup {
    /// The plugin has started.
    pub fn started(self) {
        if let Some(plugin) = lock(&self.inner.plugins).get_mut(self.index) {
            plugin.1 = true;
        }
    }
}

impl RootHealthService {
    /// A backend with no plugins yet, not shutting down.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers plugin `id`; readiness waits for its [`PluginStartup::started`].
    pub fn register(&self, id: &str) -> PluginStartup {
        let mut plugins = lock(&self.inner.plugins);
        plugins.push((id.to_owned(), false));
        PluginStartup {
            inner: self.inner.clone(),
            index: plugins.len() - 1,
        }
    }

    /// Readiness turns 503 from now on.
    pub fn begin_shutdown(&self) {
        self.inner.shutting_down.store(true, Ordering::SeqCst);
    }

    /// Whether shutdown has begun.
    pub fn is_shutting_down(&self) -> bool {
        self.inner.shutting_down.load(Ordering::SeqCst)
    }

    /// 200 while the process runs.
    pub fn liveness(&self) -> HealthResponse {
        HealthResponse::ok()
    }

    /// 200 when every registered plugin has started and shutdown has not begun, else 503.
    pub fn readiness(&self) -> HealthResponse {
        if self.is_shutting_down() {
            return HealthResponse::unavailable("Backend is shutting down");
        }
        let plugins = lock(&self.inner.plugins);
        if plugins.is_empty() || plugins.iter().any(|(_, started)| !started) {
            return HealthResponse::unavailable("Backend has not started yet");
        }
        HealthResponse::ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_when_every_plugin_started_and_until_shutdown() {
        let health = RootHealthService::new();
        assert_eq!(health.readiness().status, 503, "no plugins yet");
        let catalog = health.register("catalog");
        let todos = health.register("todos");
        catalog.started();
        let readiness = health.readiness();
        assert_eq!(readiness.status, 503);
        assert_eq!(
            readiness.body,
            r#"{"status":"error","message":"Backend has not started yet"}"#
        );
        todos.started();
        assert_eq!(health.clone().readiness(), HealthResponse::ok());
        health.begin_shutdown();
        assert_eq!(
            health.readiness().body,
            r#"{"status":"error","message":"Backend is shutting down"}"#
        );
        assert_eq!(health.liveness(), HealthResponse::ok());
    }
}
