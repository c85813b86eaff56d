//! Start-up and shutdown shared by every service, so that each `main.rs` is a few lines:
//!
//! ```no_run
//! # use ferroflow_runtime::config::NoServiceSettings;
//! fn main() -> anyhow::Result<()> {
//!     ferroflow_runtime::service::main::<NoServiceSettings, _, _>("demo", |ctx| async move {
//!         ctx.shutdown.cancelled().await;
//!         Ok(())
//!     })
//! }
//! ```
//!
//! The runtime loads the configuration (failing with the key at fault), installs logging,
//! tracing and metrics, serves `/livez` `/readyz` `/metrics`, turns SIGTERM/SIGINT into the
//! shutdown trigger, runs the service, and gives it `shutdown.deadline` to flush and commit.

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Parser;

use crate::config::{self, ServiceSettings, Settings};
use crate::health::{self, Health, HttpServer};
use crate::kafka::KafkaClients;
use crate::shutdown::{self, Shutdown};
use crate::{metrics, telemetry};

/// What a service's `run` function is given.
pub struct Context<S> {
    /// Service name, e.g. `generator`.
    pub service: &'static str,
    /// All settings.
    pub settings: Settings<S>,
    /// Factory of Kafka clients configured for this service.
    pub kafka: KafkaClients,
    /// Health state behind `/readyz`.
    pub health: Arc<Health>,
    /// Fires on SIGTERM/SIGINT.
    pub shutdown: Shutdown,
}

#[derive(Debug, Parser)]
#[command(about, long_about = None)]
struct Cli {
    /// TOML configuration file (settings in it are overridden by FERROFLOW_… variables).
    #[arg(long, env = config::CONFIG_FILE_ENV)]
    config: Option<PathBuf>,
    /// Print the effective configuration (secrets redacted) and exit.
    #[arg(long)]
    print_config: bool,
}

/// Runs service `name` with `run` as its work; returns when the work ends.
pub fn main<S, F, Fut>(name: &'static str, run: F) -> anyhow::Result<()>
where
    S: ServiceSettings,
    F: FnOnce(Context<S>) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    main_with_routes(name, axum::Router::new(), run)
}

/// [`main`] for a service with HTTP routes of its own (the aggregator's query API): they
/// are served on `http.listen` beside `/livez`, `/readyz` and `/metrics`. The routes carry
/// their state already, so `run` shares it by capturing the same handles.
pub fn main_with_routes<S, F, Fut>(
    name: &'static str,
    routes: axum::Router,
    run: F,
) -> anyhow::Result<()>
where
    S: ServiceSettings,
    F: FnOnce(Context<S>) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let cli = Cli::parse();
    let env: HashMap<String, String> = std::env::vars().collect();
    let settings = config::load::<S>(cli.config.as_deref(), &env)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .context("configuration rejected at start-up")?;
    if cli.print_config {
        #[allow(clippy::print_stdout)]
        {
            println!("{}", serde_json::to_string_pretty(&settings)?);
        }
        return Ok(());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name(name)
        .build()?;
    runtime.block_on(serve_with_routes(name, settings, routes, run))
}

/// The body of [`main`] for a settings value already loaded (the launcher and tests use it).
pub async fn serve<S, F, Fut>(
    name: &'static str,
    settings: Settings<S>,
    run: F,
) -> anyhow::Result<()>
where
    S: ServiceSettings,
    F: FnOnce(Context<S>) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    serve_with_routes(name, settings, axum::Router::new(), run).await
}

/// [`serve`] with the service's own HTTP `routes` beside the health and metrics routes
/// (see [`main_with_routes`]).
pub async fn serve_with_routes<S, F, Fut>(
    name: &'static str,
    settings: Settings<S>,
    routes: axum::Router,
    run: F,
) -> anyhow::Result<()>
where
    S: ServiceSettings,
    F: FnOnce(Context<S>) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let _telemetry = telemetry::init(name, &settings.telemetry)?;
    let prometheus = metrics::install(name);
    let health = Health::new();
    let shutdown = Shutdown::new();

    let server = HttpServer::bind(
        settings.http.listen,
        health::router(health.clone(), prometheus, routes),
    )
    .await
    .with_context(|| format!("cannot listen on http.listen = {}", settings.http.listen))?;
    let addr = server.local_addr()?;
    tracing::info!(service = name, %addr, "serving /livez /readyz /metrics");
    // The HTTP server outlives the shutdown trigger: /metrics stays up while draining.
    let server_stop = tokio_util::sync::CancellationToken::new();
    let server_task = tokio::spawn(server.serve(server_stop.clone().cancelled_owned()));

    tokio::spawn({
        let shutdown = shutdown.clone();
        let health = health.clone();
        async move {
            let signal = shutdown::signal().await;
            tracing::info!(signal, "shutdown requested; finishing the work in hand");
            health.set_draining();
            shutdown.trigger();
            let again = shutdown::signal().await;
            tracing::warn!(signal = again, "second signal: exiting at once");
            std::process::exit(130);
        }
    });

    let deadline = settings.shutdown.deadline;
    let context = Context {
        service: name,
        kafka: KafkaClients::new(settings.kafka.clone(), name, health.clone()),
        settings,
        health: health.clone(),
        shutdown: shutdown.clone(),
    };
    let work = run(context);
    tokio::pin!(work);
    let result = tokio::select! {
        result = &mut work => result,
        _ = shutdown.cancelled() => {
            match tokio::time::timeout(deadline, &mut work).await {
                Ok(result) => result,
                Err(_) => Err(anyhow::anyhow!(
                    "did not finish within shutdown.deadline ({}); work in hand was not committed \
                     and will be processed again after restart",
                    humantime::format_duration(deadline)
                )),
            }
        }
    };
    health.set_draining();
    server_stop.cancel();
    let _ = server_task.await;
    match &result {
        Ok(()) => tracing::info!(service = name, "stopped cleanly"),
        Err(error) => tracing::error!(
            service = name,
            error = format!("{error:#}"),
            "stopped with an error"
        ),
    }
    result
}
