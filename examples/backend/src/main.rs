//! A Backstage-style backend written with backstage-telemetry: the catalog, scaffolder and
//! todos plugins (one crate each, under `examples/plugins/`) and the scheduler core service,
//! on axum. Run `cargo run -p backend -- --help` for the options.
//!
//! - API on `http://127.0.0.1:7007`: `/api/{plugin}/...`, health at
//!   `/.backstage/health/v1/{liveness,readiness}`;
//! - split deployments: `--plugins catalog --port 7008` in one process, `--plugins
//!   scaffolder,todos --catalog-url http://127.0.0.1:7008` in another; the scaffolder fetches
//!   its templates from the catalog over HTTP, in one trace across both;
//! - metrics at `http://127.0.0.1:9464/metrics`; traces over OTLP when
//!   `OTEL_EXPORTER_OTLP_ENDPOINT` is set; JSON logs on stdout;
//! - the API's edge is bounded (`backstage_telemetry::server`): a client has 5 s to send a
//!   request head (also between keep-alive requests), 30 s for a whole request, at most
//!   `--max-connections` are open (at the cap the oldest one without a whole request head
//!   makes room, so health checks get through), bodies are at most 64 KiB;
//! - SIGINT/SIGTERM: readiness turns 503, requests in flight get `--shutdown-grace-ms` to
//!   finish (then their connections are closed), the plugins and the scheduler stop,
//!   telemetry is flushed.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use backend::Deployment;
use backend::http::{EdgeOptions, router, shutdown_signal};
use backend_plugin_api::Scheduler;
use backstage_telemetry::health::RootHealthService;
use backstage_telemetry::logs::JsonLogs;
use backstage_telemetry::sdk::module;
use backstage_telemetry::{Config, KeyValue, RootMetricsService, Telemetry};
use clap::Parser;
use clap::error::{ContextKind, ErrorKind};
use hyper_util::service::TowerToHyperService;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// A Backstage-style backend: catalog, scaffolder and todos plugins, with metrics, traces
/// and correlated logs from backstage-telemetry.
#[derive(Parser)]
#[command(version)]
struct Cli {
    /// An app-config file; repeat to merge several, later ones winning. Without any, the
    /// zero-configuration defaults.
    #[arg(
        long = "config",
        value_name = "FILE",
        env = "APP_CONFIG",
        value_delimiter = ',',
        hide_env_values = true,
        // an empty value (`APP_CONFIG=`) is allowed, and names no file
        value_parser = clap::value_parser!(std::ffi::OsString)
    )]
    configs: Vec<std::ffi::OsString>,
    /// The port of the API, on 127.0.0.1.
    #[arg(long, env = "PORT", hide_env_values = true, default_value_t = 7007)]
    port: u16,
    /// The plugins this process runs (`catalog`, `scaffolder`, `todos`), for a deployment
    /// split across several backends. All of them by default.
    #[arg(
        long,
        value_name = "LIST",
        value_delimiter = ',',
        default_value = "catalog,scaffolder,todos"
    )]
    plugins: Vec<String>,
    /// Where the scaffolder finds the catalog (its base URL, such as `http://127.0.0.1:7008`)
    /// when this process does not run it. By default, this process's own API.
    #[arg(long, value_name = "URL", hide_env_values = true)]
    catalog_url: Option<String>,
    #[command(flatten)]
    edge: EdgeOptions,
    /// Print every metric and span site of this backend (its metric catalog) and exit,
    /// with any conflict on stderr (exit 1).
    #[arg(long, value_name = "FORMAT")]
    catalog: Option<CatalogFormat>,
}

/// How `--catalog` prints.
#[derive(Clone, Copy, clap::ValueEnum)]
enum CatalogFormat {
    Json,
    Markdown,
}

/// The catalog once every plugin exists (they build instruments at run time).
fn print_catalog(config: &Config, format: CatalogFormat) -> ExitCode {
    backstage_telemetry::set_config(config.clone());
    let _plugins = match backend::plugins(
        config,
        &RootMetricsService::from_config(config),
        &Scheduler::default(),
        &Deployment::all("http://127.0.0.1:7007"),
    ) {
        Ok(plugins) => plugins,
        Err(error) => {
            eprintln!("backend: {error}");
            return ExitCode::from(2);
        }
    };
    let catalog = backstage_telemetry::catalog();
    match format {
        CatalogFormat::Json => println!("{}", catalog.to_json()),
        CatalogFormat::Markdown => print!("{}", catalog.to_markdown()),
    }
    let conflicts = catalog.conflicts();
    for conflict in &conflicts {
        eprintln!("backend: {conflict}");
    }
    if conflicts.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return usage_error(error),
    };
    // `APP_CONFIG=` (empty) names no file
    let configs: Vec<PathBuf> = cli
        .configs
        .iter()
        .filter(|path| !path.is_empty())
        .map(PathBuf::from)
        .collect();
    let config = if configs.is_empty() {
        Config::default()
    } else {
        match Config::load(&configs) {
            Ok(config) => config,
            Err(error) => {
                eprintln!("backend: {error}");
                return ExitCode::from(2);
            }
        }
    };

    if let Some(format) = cli.catalog {
        return print_catalog(&config, format);
    }
    let own_url = format!("http://127.0.0.1:{}", cli.port);
    let deployment = match Deployment::new(&cli.plugins, cli.catalog_url.as_deref(), &own_url) {
        Ok(deployment) => deployment,
        Err(error) => {
            eprintln!("backend: {error}");
            return ExitCode::from(2);
        }
    };

    // Telemetry first, so everything below records. A setting it cannot use turns off only
    // the exporter it belongs to; the problems are logged once logging is up. The one
    // module: `service.instance.id`, which tells the processes of a split deployment
    // apart (`OTEL_RESOURCE_ATTRIBUTES` may set it instead).
    let instance = module("instance", |parts| {
        parts.add_resource_attribute(KeyValue::new(
            "service.instance.id",
            uuid::Uuid::new_v4().to_string(),
        ));
        Ok(())
    });
    let telemetry = Telemetry::builder(&config).with_module(instance).init();
    tracing_subscriber::registry()
        .with(tracing_subscriber::filter::LevelFilter::INFO)
        .with(JsonLogs::new(&config))
        .with(tracing_opentelemetry::layer().with_tracer(opentelemetry::global::tracer("backend")))
        // log records over OTLP when a logs exporter is on (OTEL_LOGS_EXPORTER, or an endpoint)
        .with(telemetry.log_layer())
        .init();
    for problem in telemetry.problems() {
        tracing::warn!(setting = problem.setting(), "telemetry set-up: {problem}");
    }

    let health = RootHealthService::new();
    let scheduler = Scheduler::default();
    let plugins = match backend::plugins(
        &config,
        &RootMetricsService::from_config(&config),
        &scheduler,
        &deployment,
    ) {
        Ok(plugins) => plugins,
        Err(error) => {
            tracing::error!("a plugin's settings: {error}");
            return ExitCode::from(2);
        }
    };
    let address = SocketAddr::from(([127, 0, 0, 1], cli.port));
    let listener = match tokio::net::TcpListener::bind(address).await {
        Ok(listener) => listener,
        Err(error) => {
            tracing::error!(%address, %error, "cannot listen");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(%address, "listening");
    if let Some(endpoint) = telemetry.metrics_endpoint() {
        tracing::info!(metrics = %format!("http://{endpoint}/metrics"), "serving metrics");
    }

    // Plugins start once the server listens: readiness is 503 until each has started.
    let starting: Vec<_> = plugins
        .iter()
        .map(|plugin| {
            let started = health.register(plugin.id());
            let start = plugin.start();
            tokio::spawn(async move {
                start.await;
                started.started();
            })
        })
        .collect();
    tokio::spawn(async move {
        for start in starting {
            let _ = start.await;
        }
        tracing::info!("all plugins started");
    });

    let shutdown = shutdown_signal(health.clone(), cli.edge.shutdown_delay());
    let app = TowerToHyperService::new(router(&plugins, health, cli.edge.request_timeout()));
    let limits = cli.edge.limits();
    backstage_telemetry::server::serve(listener, app, limits, shutdown).await;

    // Requests in flight have finished (or were cut off at the grace deadline): stop the
    // plugins and the scheduler, then flush.
    for plugin in &plugins {
        plugin.stop();
    }
    scheduler.shutdown().await;
    tracing::info!("shutdown complete");
    if let Err(error) = telemetry.shutdown() {
        eprintln!("backend: {error}");
    }
    ExitCode::SUCCESS
}

/// Help and version as clap prints them; a value that does not parse named by its option
/// only, since it may have come from the environment and be a secret.
fn usage_error(error: clap::Error) -> ExitCode {
    if !matches!(
        error.kind(),
        ErrorKind::ValueValidation | ErrorKind::InvalidValue
    ) {
        error.exit();
    }
    let option = error
        .get(ContextKind::InvalidArg)
        .map_or_else(|| "an option".to_owned(), ToString::to_string);
    eprintln!("backend: invalid value for {option} (not shown); see --help");
    ExitCode::from(2)
}
