//! The example backend as a library: its plugins, its HTTP edge and its metrics reference.
//! `main.rs` wires them up.

pub mod http;
pub mod http_metrics;
pub mod reference;

use std::sync::Arc;

use backend_plugin_api::{BackendPlugin, PluginEnvironment, Scheduler};
use backstage_telemetry::{Config, ConfigError, RootMetricsService, RootTracingService};
use catalog_backend::CatalogPlugin;
use scaffolder_backend::{CatalogClient, ScaffolderPlugin};
use todos_backend::TodosPlugin;

/// The plugins a backend can run, in the order they are created.
pub const PLUGIN_IDS: [&str; 3] = ["catalog", "scaffolder", "todos"];

/// What one backend process runs: all the plugins (one process), or some of them (a split
/// deployment, each process running a few), and where the scaffolder finds the catalog.
#[derive(Clone, Debug)]
pub struct Deployment {
    plugins: Vec<&'static str>,
    catalog_url: String,
}

impl Deployment {
    /// Every plugin in one process, the catalog reached at `catalog_url` (this process's
    /// own API).
    pub fn all(catalog_url: impl Into<String>) -> Deployment {
        Deployment {
            plugins: PLUGIN_IDS.to_vec(),
            catalog_url: catalog_url.into(),
        }
    }

    /// The plugins named in `plugins` (each of [`PLUGIN_IDS`], any order), the catalog at
    /// `catalog_url`, else at `own_url` when this process runs it. An error says what is
    /// wrong without quoting the value.
    pub fn new(
        plugins: &[String],
        catalog_url: Option<&str>,
        own_url: &str,
    ) -> Result<Deployment, String> {
        let mut chosen = Vec::new();
        for name in plugins {
            let name = name.trim();
            let Some(id) = PLUGIN_IDS.iter().find(|id| **id == name) else {
                return Err(format!(
                    "--plugins names a plugin this backend does not have (it has {})",
                    PLUGIN_IDS.join(", ")
                ));
            };
            if !chosen.contains(id) {
                chosen.push(*id);
            }
        }
        if chosen.is_empty() {
            return Err("--plugins names no plugin".to_owned());
        }
        // in the order they are created
        chosen.sort_by_key(|id| PLUGIN_IDS.iter().position(|known| known == id));
        let catalog_url = match catalog_url {
            Some(url) => checked_base_url(url)?,
            None if chosen.contains(&"scaffolder") && !chosen.contains(&"catalog") => {
                return Err(
                    "the scaffolder needs the catalog: add it to --plugins, or give --catalog-url"
                        .to_owned(),
                );
            }
            None => own_url.to_owned(),
        };
        Ok(Deployment {
            plugins: chosen,
            catalog_url,
        })
    }

    /// Whether this process runs plugin `id`.
    pub fn runs(&self, id: &str) -> bool {
        self.plugins.contains(&id)
    }
}

/// `url` as a base URL: `http://` or `https://` with a host, an optional port and path, no
/// query or fragment; without a trailing `/`.
fn checked_base_url(url: &str) -> Result<String, String> {
    const EXPECTED: &str = "--catalog-url must be an http:// or https:// URL with a host, such as http://127.0.0.1:7007";
    let uri: ::http::Uri = url.parse().map_err(|_| EXPECTED.to_owned())?;
    let scheme_ok = matches!(uri.scheme_str(), Some("http" | "https"));
    if !scheme_ok
        || uri.host().is_none_or(str::is_empty)
        || uri.query().is_some()
        || url.contains('#')
    {
        return Err(EXPECTED.to_owned());
    }
    Ok(url.trim_end_matches('/').to_owned())
}

/// reqwest (the scaffolder's calls to the catalog) is built with rustls and no crypto
/// provider of its own: the application installs the process's one, *ring*, as the
/// exporters use. rustls 0.23.48 deprecates `ring::default_provider` for lacking a
/// post-quantum key exchange; aws-lc-rs, which has one, needs CMake and a C toolchain.
#[allow(deprecated)]
fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The plugins `deployment` runs, each created with its own environment and its settings
/// from the app-config (a setting of the wrong type is an error naming the key).
pub fn plugins(
    config: &Config,
    metrics: &RootMetricsService,
    scheduler: &Scheduler,
    deployment: &Deployment,
) -> Result<Vec<Arc<dyn BackendPlugin>>, ConfigError> {
    install_crypto_provider();
    let environment = |id: &str| PluginEnvironment {
        metrics: metrics.for_plugin(id).expect("a valid plugin id"),
        scheduler: scheduler.clone(),
    };
    let tracing = RootTracingService::from_config(config);
    let mut plugins: Vec<Arc<dyn BackendPlugin>> = Vec::new();
    for id in &deployment.plugins {
        match *id {
            "catalog" => plugins.push(Arc::new(CatalogPlugin::new(environment("catalog")))),
            "scaffolder" => {
                let catalog = CatalogClient::new(
                    deployment.catalog_url.clone(),
                    tracing.for_plugin("scaffolder").expect("a valid plugin id"),
                    &metrics.for_plugin("scaffolder").expect("a valid plugin id"),
                );
                plugins.push(Arc::new(ScaffolderPlugin::new(catalog)));
            }
            "todos" => plugins.push(Arc::new(TodosPlugin::from_config(config)?)),
            _ => unreachable!("only known ids are chosen"),
        }
    }
    Ok(plugins)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(plugins: &[&str], catalog_url: Option<&str>) -> Result<Deployment, String> {
        let plugins: Vec<String> = plugins.iter().map(|p| (*p).to_owned()).collect();
        Deployment::new(&plugins, catalog_url, "http://127.0.0.1:7007")
    }

    #[test]
    fn a_deployment_names_known_plugins_and_finds_the_catalog() {
        let all = deployment(&["todos", "catalog", "scaffolder", "todos"], None).unwrap();
        assert_eq!(all.plugins, PLUGIN_IDS);
        assert_eq!(all.catalog_url, "http://127.0.0.1:7007");
        let split = deployment(&["scaffolder"], Some("http://10.0.0.2:7008/")).unwrap();
        assert_eq!(split.plugins, ["scaffolder"]);
        assert_eq!(split.catalog_url, "http://10.0.0.2:7008");
        assert!(split.runs("scaffolder") && !split.runs("catalog"));
        for bad in [
            deployment(&["scaffolder"], None),
            deployment(&["catalog", "s3cret"], None),
            deployment(&[], None),
            deployment(&["scaffolder"], Some("ftp://catalog")),
            deployment(&["scaffolder"], Some("http://catalog/?token=s3cret")),
            deployment(&["scaffolder"], Some("catalog:7007")),
        ] {
            let error = bad.unwrap_err();
            assert!(
                !error.contains("s3cret") && !error.contains("ftp"),
                "{error}"
            );
        }
    }
}
