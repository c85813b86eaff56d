//! The aggregator: event-time windows over the enriched streams, exactly once.
//!
//! It reads `stock-ticks-enriched` and `user-login-enriched` (`read_committed`) and
//! writes, per event-time window (tumbling or hopping), a price bar per ticker to
//! `stock-bars` and login statistics to `login-stats` (protobuf, keyed per window so a
//! compacted topic keeps the latest result). A window's result is emitted once, when
//! the watermark closes it; events for closed windows go to `late-events`. A gRPC and
//! an HTTP JSON API answer what the windows hold now. docs/aggregator.md has the
//! semantics and the state design in full.
//!
//! ```
//! use ferroflow_aggregator::operators::TickOperator;
//! use ferroflow_aggregator::window::{Lateness, Timing, WindowSpec};
//!
//! // 1-minute tumbling windows; the watermark trails by 5 s; 5 s of grace.
//! let timing = Timing::new(
//!     WindowSpec::tumbling(60_000)?,
//!     Lateness { out_of_orderness_ms: 5_000, grace_ms: 5_000 },
//! );
//! let mut ticks = TickOperator::new(timing);
//! let mut closed = Vec::new();
//! ticks.process(0, "STK_ONE", 1_000, 42, &mut closed);
//! ticks.process(1, "STK_ONE", 30_000, 44, &mut closed);
//! ticks.process(2, "STK_ONE", 70_000, 41, &mut closed); // watermark 65 s: [0, 60 s) closes
//! let bar = &closed[0];
//! assert_eq!((bar.open, bar.close, bar.count, bar.r#final), (42, 44, 2, true));
//! # Ok::<(), ferroflow_aggregator::window::WindowError>(())
//! ```
//!
//! # Layout
//!
//! - [`window`]: window assignment, watermarks and the closing rule (pure).
//! - [`bars`], [`logins`]: the accumulators of a bar and of login statistics
//!   (HyperLogLog for distinct users).
//! - [`operators`]: the per-partition state machines ([`operators::TickOperator`],
//!   [`operators::LoginOperator`], [`operators::LoginMerger`]) and their
//!   checkpoints; deterministic, no I/O.
//! - [`state`]: decoding input records and applying them to the operators owned.
//! - [`codec`]: the internal records (checkpoints, login partials).
//! - [`topics`]: input partition counts and the internal topics.
//! - [`restore`]: rebuilding an operator from its checkpoint by replay.
//! - [`pipeline`]: the Kafka side, one transaction per batch.
//! - [`query`]: the gRPC and HTTP query API.
//! - [`recompute`]: the batch recomputation tests compare the output with.
//! - [`config`]: the `[aggregator]` section; [`run`]: the service entry point.

// Input must never crash the aggregator: keep panicking shortcuts out of the library.
#![cfg_attr(
    not(test),
    warn(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub mod bars;
pub mod codec;
pub mod config;
pub mod logins;
pub mod metrics;
pub mod operators;
pub mod pipeline;
pub mod query;
pub mod recompute;
pub mod restore;
pub mod state;
pub mod topics;
pub mod window;

pub use query::Query;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use ferroflow_runtime::kafka::Isolation;
use ferroflow_runtime::kafka::batch::{self, BatchPolicy};
use ferroflow_runtime::kafka::context::PartitionListener;
use ferroflow_runtime::kafka::transactional::{Guarantee, StageOutput};
use ferroflow_runtime::service::Context;

use crate::config::AggregatorSettings;
use crate::pipeline::{Checkpoints, Rebalance, Topics};

/// The stage name in dead-letter and late-event headers and logs.
pub const STAGE: &str = "aggregator";

/// The service entry point; `query` is the state the HTTP routes already serve.
pub async fn run(ctx: Context<AggregatorSettings>, query: Query) -> anyhow::Result<()> {
    let settings = ctx.settings.service.clone();
    let timing = settings.timing()?;
    let consumers = &ctx.kafka;
    query.set_history(settings.query_history);
    let names = &ctx.settings.topics;
    let topics = Arc::new(Topics {
        ticks: names.stock_ticks_enriched.clone(),
        logins: names.user_login_enriched.clone(),
        partials: settings.partials_topic(),
        state: settings.state_topic(),
        bars: names.stock_bars.clone(),
        stats: names.login_stats.clone(),
        late: names.late_events.clone(),
        dead_letters: names.dead_letters.clone(),
    });
    let layout = topics::prepare(
        &ctx.kafka,
        &topics.ticks,
        &topics.logins,
        &topics.state,
        &topics.partials,
        Duration::from_secs(60),
    )
    .await?;

    let grpc = query::grpc::GrpcServer::bind(settings.grpc_listen, query.clone())
        .await
        .with_context(|| {
            format!(
                "cannot listen on aggregator.grpc_listen = {}",
                settings.grpc_listen
            )
        })?;
    let grpc_addr = grpc.local_addr()?;
    let grpc_stop = stop_signal();
    let grpc_task = tokio::spawn(grpc.serve(grpc_stop.1));

    let transactional_id = format!("ferroflow-aggregator-{}", settings.instance_id);
    let output = {
        let clients = ctx.kafka.clone();
        let (timeout, id) = (settings.transaction_timeout, transactional_id.clone());
        // init_transactions blocks until the coordinator answers.
        tokio::task::spawn_blocking(move || {
            StageOutput::new(&clients, Guarantee::ExactlyOnce, &id, timeout)
        })
        .await??
    };
    let checkpoints = Checkpoints::new(topics.clone(), layout, timing);
    let listener = Arc::new(Rebalance::new(
        output.clone(),
        query.clone(),
        checkpoints.clone(),
    ));
    let consumer = consumers.subscribed_consumer(
        &settings.group_id,
        &[&topics.ticks, &topics.logins, &topics.partials],
        Isolation::ReadCommitted,
        Some(listener as Arc<dyn PartitionListener>),
    )?;
    let restorer = restore::Restorer::new(
        consumers,
        &settings.group_id,
        &topics.state,
        layout,
        timing,
        settings.transaction_timeout,
    )?;
    tracing::info!(
        %transactional_id, group = %settings.group_id, grpc = %grpc_addr,
        window = ?timing.spec(), lateness = ?timing.lateness(), ?layout,
        state_topic = %topics.state, partials_topic = %topics.partials,
        "aggregator started"
    );
    let mut handler = pipeline::Aggregate::new(
        &consumer,
        output.clone(),
        query,
        restorer,
        checkpoints,
        settings.early_results,
    );
    let policy = BatchPolicy {
        max_records: settings.batch_max_records,
        max_wait: settings.batch_max_wait,
    };
    let result = batch::run(&consumer, policy, &ctx.shutdown, &mut handler).await;
    let _ = grpc_stop.0.send(());
    let _ = grpc_task.await;
    let totals = result?;
    output.close();
    tracing::info!(
        records = totals.records,
        batches = totals.batches,
        "aggregator stopped; last batch committed"
    );
    Ok(())
}

/// A one-shot stop signal for the gRPC server.
fn stop_signal() -> (
    tokio::sync::oneshot::Sender<()>,
    impl std::future::Future<Output = ()> + Send + 'static,
) {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    (tx, async move {
        let _ = rx.await;
    })
}
