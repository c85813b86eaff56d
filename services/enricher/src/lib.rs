//! The enricher: validates stock ticks and user logins and enriches them.
//!
//! It reads `stock-ticks` and `user-login` (JSON or protobuf) and writes
//! [`EnrichedStockTick`](ferroflow_schema::EnrichedStockTick) and
//! [`EnrichedUserLogin`](ferroflow_schema::EnrichedUserLogin) as protobuf to
//! `stock-ticks-enriched` and `user-login-enriched`; a record that fails
//! validation is dead-lettered with [`ValidationError::kind`] as its reason.
//!
//! ```
//! use ferroflow_enricher::{LoginEnricher, ReferenceData, TickEnricher};
//! use ferroflow_enricher::rules::DEFAULT_MAX_FUTURE_SKEW;
//! use ferroflow_schema::StockTick;
//!
//! let mut ticks = TickEnricher::new(ReferenceData::builtin(), DEFAULT_MAX_FUTURE_SKEW);
//! let tick = StockTick { ticker: "STK_ONE".into(), timestamp_ms: 1_694_479_551_000, price: 42 };
//! let enriched = ticks.enrich(tick, 1_694_479_551_250)?;
//! assert_eq!((enriched.exchange.as_str(), enriched.delay_ms), ("NASDAQ", 250));
//! assert_eq!(enriched.change, None); // the first tick of STK_ONE
//! # let _ = LoginEnricher::new(DEFAULT_MAX_FUTURE_SKEW);
//! # Ok::<(), ferroflow_enricher::ValidationError>(())
//! ```
//!
//! # Layout
//!
//! - [`rules`]: [`TickEnricher`], [`LoginEnricher`] and [`ValidationError`]:
//!   pure validation and enrichment, the processing time passed in.
//! - [`reference`](mod@reference): [`ReferenceData`], the per-ticker name, exchange and
//!   currency, from a TOML file or the shipped one.
//! - [`config`]: the `[enricher]` section.
//! - [`pipeline`]: the Kafka side: decode, enrich, and write enriched records or dead
//!   letters through one exactly-once (or at-least-once) output.
//! - [`run`]: the service entry point.
//!
//! # Decisions users must know
//!
//! - The first broken rule is reported, in the record's field order.
//! - An unknown but well-formed ticker is valid: its reference fields are
//!   empty and `reference_known` is false. Tickers are case-sensitive.
//! - State (last price per ticker, newest app version) is in memory and
//!   starts empty; only valid records change it. Use `snapshot`/`restore`
//!   to undo it when a transaction aborts.
//! - Rules never panic, whatever the input.

// Validation must never panic on input: keep panicking shortcuts out of the library.
#![cfg_attr(
    not(test),
    warn(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub mod config;
pub mod pipeline;
pub mod reference;
pub mod rules;

pub use reference::{ReferenceData, ReferenceError, TickerInfo};
pub use rules::{LoginEnricher, TickEnricher, ValidationError};

use anyhow::Context as _;
use ferroflow_runtime::kafka::Isolation;
use ferroflow_runtime::kafka::batch::{self, BatchPolicy};
use ferroflow_runtime::kafka::context::PartitionListener;
use ferroflow_runtime::kafka::transactional::StageOutput;
use ferroflow_runtime::service::Context;
use std::sync::Arc;

use crate::config::EnricherSettings;

/// The stage name in dead-letter headers and logs.
pub const STAGE: &str = "enricher";

/// The service entry point.
pub async fn run(ctx: Context<EnricherSettings>) -> anyhow::Result<()> {
    let settings = ctx.settings.service.clone();
    let reference = match &settings.reference_file {
        Some(path) => ReferenceData::load(path).context("enricher.reference_file")?,
        None => ReferenceData::builtin(),
    };
    let transactional_id = format!("ferroflow-enricher-{}", settings.instance_id);
    let output = {
        let clients = ctx.kafka.clone();
        let (guarantee, timeout, id) = (
            settings.guarantee,
            settings.transaction_timeout,
            transactional_id.clone(),
        );
        // init_transactions blocks until the coordinator answers.
        tokio::task::spawn_blocking(move || StageOutput::new(&clients, guarantee, &id, timeout))
            .await??
    };
    let topics = &ctx.settings.topics;
    let consumer = ctx.kafka.subscribed_consumer(
        &settings.group_id,
        &[&topics.stock_ticks, &topics.user_login],
        Isolation::ReadCommitted,
        Some(output.clone() as Arc<dyn PartitionListener>),
    )?;
    tracing::info!(
        guarantee = ?settings.guarantee, %transactional_id, group = %settings.group_id,
        tickers = reference.len(), "enricher started"
    );
    let mut handler = pipeline::Enrich::new(
        &consumer,
        output.clone(),
        topics,
        TickEnricher::new(reference, settings.max_future_skew),
        LoginEnricher::new(settings.max_future_skew),
    );
    let policy = BatchPolicy {
        max_records: settings.batch_max_records,
        max_wait: settings.batch_max_wait,
    };
    let totals = batch::run(&consumer, policy, &ctx.shutdown, &mut handler).await?;
    output.close();
    tracing::info!(
        records = totals.records,
        batches = totals.batches,
        "enricher stopped; last batch committed"
    );
    Ok(())
}
