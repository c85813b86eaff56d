//! The one-command local run of the whole pipeline: `ferroflow run`.
//!
//! It starts a Kafka cluster (librdkafka's in-process mock cluster, or uses a real broker
//! given with `--bootstrap-servers`), creates ferroflow's topics, starts every service
//! binary as its own process configured through `FERROFLOW_…` variables, forwards their
//! output with a `[service]` prefix, waits until each `/readyz` says 200, prints where
//! health, metrics and CSV files are, and on Ctrl-C stops the services (SIGTERM, then
//! SIGKILL after 30 s) before the cluster.
//!
//! Services run as separate processes, as in production, so "services talk only through
//! Kafka" holds here too: the mock brokers listen on loopback TCP.
//!
//! # Layout
//! - [`cli`]: the command line.
//! - [`cluster`]: the embedded mock cluster or a real broker, and topic creation.
//! - [`data`]: the data directory, fresh for each run on the embedded cluster.
//! - [`services`]: which services exist, their ports and environment.
//! - [`supervisor`]: child processes: start, watch, stop.
//! - [`output`]: `[service]`-prefixed forwarding of child output.
//! - [`readiness`]: polling `/readyz`.
//! - [`banner`]: the text shown once everything is up.
//! - [`signals`]: SIGINT, SIGTERM, SIGHUP.
//! - [`run`]: ties them together.
#![warn(missing_docs)]

pub mod banner;
pub mod cli;
pub mod cluster;
pub mod data;
pub mod output;
pub mod readiness;
pub mod run;
pub mod services;
pub mod signals;
pub mod supervisor;

use std::io::IsTerminal as _;
use std::process::ExitCode;

use clap::Parser as _;
use tracing_subscriber::EnvFilter;

use crate::cli::{Cli, Command};

/// The launcher's `main`: parses the command line, installs logging, runs the command.
pub fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    // The launcher's own logs share stdout with the services' forwarded lines, so the
    // terminal shows one stream in order. `RUST_LOG` (inherited by the services too)
    // overrides the level.
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stdout().is_terminal())
        .with_writer(std::io::stdout)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("ferroflow")
        .build()?;
    match cli.command {
        // `block_on` runs the future on this thread: the mock cluster it owns is not
        // `Send`, and needs not be.
        Command::Run(args) => runtime.block_on(run::run(args)),
    }
}
