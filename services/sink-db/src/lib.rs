//! sink-db: lands enriched records and aggregates in a database, exactly once.
//!
//! It consumes `stock-ticks-enriched`, `user-login-enriched`, `stock-bars` and
//! `login-stats` (`read_committed`) and writes them to `stock_ticks`, `user_logins`,
//! `stock_bars`, `login_stats` and `login_stats_breakdown` in PostgreSQL (SQLite in the
//! embedded run), in batches of multi-row inserts. A record that cannot be decoded, or
//! that the database refuses, goes to `dead-letters` with the reason; the rest of its
//! batch is written.
//!
//! Exactly-once: the offsets consumed are stored in `kafka_offsets` in the same
//! transaction as the rows ([`write`]); on assignment each partition is sought to its
//! stored offset, and a record below it is never written again. Kafka's committed offsets
//! trail the database and serve lag monitoring only. The design is in `docs/sink-db.md`.
//!
//! # Layout
//! - [`config`]: the `[sink_db]` section.
//! - [`rows`]: streams, decoding into rows, tables and their columns.
//! - [`database`]: PostgreSQL or SQLite behind one interface; migrations.
//! - [`batch`]: records waiting to be written.
//! - [`write`]: one batch in one transaction, offsets included; refused rows isolated.
//! - [`writer`]: retries while the database is down, dead letters, readiness.
//! - [`sink`]: the consume loop: positioning, batching, backpressure.
//! - [`metrics`]: sink-db's metrics.

pub mod batch;
pub mod config;
pub mod database;
pub mod metrics;
pub mod rows;
pub mod sink;
pub mod write;
pub mod writer;

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Context as _;
use ferroflow_runtime::kafka::Isolation;
use ferroflow_runtime::kafka::context::PartitionListener;
use ferroflow_runtime::kafka::dead_letter::DeadLetters;
use ferroflow_runtime::service::Context;

use crate::batch::Limits;
use crate::config::{SinkDbSettings, redacted_url};
use crate::database::Database;
use crate::rows::Stream;
use crate::sink::{Rebalances, Sink};
use crate::writer::{Backoff, DatabaseStatus, Writer, retrying};

/// The stage name in dead-letter headers.
pub const STAGE: &str = "sink-db";

/// The service entry point.
pub async fn run(ctx: Context<SinkDbSettings>) -> anyhow::Result<()> {
    let settings = &ctx.settings.service;
    let mut streams = HashMap::new();
    for name in &settings.streams {
        let stream = Stream::by_name(name).context("stream validated at start-up")?;
        let topic = ctx
            .settings
            .topics
            .by_stream(name)
            .context("stream validated at start-up")?;
        streams.insert(topic.to_string(), stream);
    }
    let db = Database::connect_lazy(settings)
        .with_context(|| format!("sink_db.url = {}", redacted_url(&settings.url)))?;
    let backoff = Backoff {
        initial: settings.retry_backoff_initial,
        max: settings.retry_backoff_max,
    };
    let status = Arc::new(DatabaseStatus::new(ctx.health.clone()));
    // A database that is down at start-up is waited for, like one that goes down later.
    let migrated = retrying("applying migrations", backoff, &status, || async {
        Ok(db.migrate().await?)
    });
    tokio::select! {
        () = migrated => {}
        () = ctx.shutdown.cancelled() => return Ok(()),
    }
    tracing::info!(
        url = %redacted_url(&settings.url),
        dialect = ?db.dialect(),
        "database ready; migrations applied"
    );

    let writer = Arc::new(Writer {
        db: db.clone(),
        dead_letters: Arc::new(DeadLetters::new(
            ctx.kafka.future_producer()?,
            &ctx.settings.topics.dead_letters,
            STAGE,
        )),
        group: settings.group_id.as_str().into(),
        backoff,
        status,
    });
    let rebalances = Arc::new(Rebalances::default());
    let topics: Vec<&str> = streams.keys().map(String::as_str).collect();
    let consumer = Arc::new(ctx.kafka.subscribed_consumer(
        &settings.group_id,
        &topics,
        Isolation::ReadCommitted,
        Some(rebalances.clone() as Arc<dyn PartitionListener>),
    )?);
    tracing::info!(topics = ?topics, group = %settings.group_id, "sink-db started");
    let sink = Sink::new(
        consumer,
        writer,
        streams,
        rebalances,
        Limits {
            max_records: settings.batch_max_records,
            max_bytes: settings.batch_max_bytes,
        },
        settings.batch_max_wait,
    );
    let totals = sink.run(&ctx.shutdown).await?;
    db.close().await;
    tracing::info!(
        records = totals.records,
        batches = totals.batches,
        "sink-db stopped; every batch written"
    );
    Ok(())
}
