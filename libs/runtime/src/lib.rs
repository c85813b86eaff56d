//! What every ferroflow service's `main` uses.
//!
//! # Layout
//! - [`config`]: layered settings (defaults, TOML file, `FERROFLOW_…` environment), validated
//!   at start-up with errors that name the key.
//! - [`telemetry`]: tracing-subscriber logs (human or JSON) and OTLP trace export.
//! - [`metrics`]: the Prometheus recorder and the metric names every service shares.
//! - [`health`]: readiness state and the `/livez` `/readyz` `/metrics` HTTP server.
//! - [`kafka`]: the one place Kafka clients are configured; delivery tracking, dead
//!   letters, the batch consume loop, header conventions and trace propagation.
//! - [`shutdown`]: the SIGTERM/SIGINT trigger.
//! - [`service`]: start-up and graceful shutdown, tying the rest together.
#![warn(missing_docs)]

// librdkafka allocates each record in one thread and frees it in another; glibc malloc
// spent a quarter of the producer's CPU on that, jemalloc about half as much. With its
// unprefixed symbols it serves librdkafka's C allocations as well as Rust's.
#[cfg(all(feature = "jemalloc", not(target_env = "msvc")))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

pub mod config;
pub mod health;
pub mod kafka;
pub mod metrics;
pub mod service;
pub mod shutdown;
pub mod telemetry;
