//! The consume loop every consuming service runs: read records into a batch, hand each to
//! the service, and make the batch durable when it is full or old enough.
//!
//! Where a batch becomes durable (files, a database, a Kafka transaction) is the service's
//! business; this loop decides *when*, and guarantees that a batch in progress is made
//! durable before the loop returns on shutdown.

use std::future::Future;
use std::time::{Duration, Instant};

use rdkafka::consumer::StreamConsumer;
use rdkafka::message::BorrowedMessage;

use super::context::ObservedContext;
use crate::metrics;
use crate::shutdown::Shutdown;

/// When a batch is flushed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchPolicy {
    /// Flush after this many records.
    pub max_records: usize,
    /// Flush this long after the batch's first record at the latest.
    pub max_wait: Duration,
}

/// What a consuming service does with records.
pub trait BatchHandler {
    /// Takes one record into the current batch. Returning an error stops the loop.
    fn handle(&mut self, message: &BorrowedMessage<'_>)
    -> impl Future<Output = anyhow::Result<()>>;

    /// Makes the current batch durable and commits its offsets.
    fn flush(&mut self) -> impl Future<Output = anyhow::Result<()>>;
}

/// Totals of one run of the loop.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct LoopTotals {
    /// Records handed to the handler.
    pub records: u64,
    /// Batches flushed.
    pub batches: u64,
}

/// Runs until `shutdown` fires or the handler fails; flushes the open batch either way
/// (unless the handler failed, in which case nothing of the batch may be committed).
pub async fn run<H: BatchHandler>(
    consumer: &StreamConsumer<ObservedContext>,
    policy: BatchPolicy,
    shutdown: &Shutdown,
    handler: &mut H,
) -> anyhow::Result<LoopTotals> {
    let mut totals = LoopTotals::default();
    let mut in_batch = 0usize;
    let batch_sizes = metrics::batch_records();
    let flush_time = metrics::flush_duration();
    // One timer and one shutdown future for the whole loop, re-armed per batch: building
    // them anew for every record registered and dropped a timer entry per record.
    let flush_due = tokio::time::sleep(policy.max_wait);
    tokio::pin!(flush_due);
    let mut batch_open = false;
    let stop = shutdown.cancelled();
    tokio::pin!(stop);
    loop {
        let full = tokio::select! {
            biased;
            _ = &mut stop => break,
            _ = &mut flush_due, if batch_open => true,
            received = consumer.recv() => match received {
                Ok(message) => {
                    handler.handle(&message).await?;
                    totals.records += 1;
                    in_batch += 1;
                    if !batch_open {
                        flush_due.as_mut().reset(tokio::time::Instant::now() + policy.max_wait);
                        batch_open = true;
                    }
                    in_batch >= policy.max_records
                }
                Err(error) => {
                    // Transient by nature (a broker restart, a leader change): librdkafka
                    // retries underneath; the loop just reports and keeps reading.
                    tracing::warn!(%error, "consume error");
                    false
                }
            },
        };
        if full && in_batch > 0 {
            let started = Instant::now();
            handler.flush().await?;
            flush_time.record(started.elapsed().as_secs_f64());
            batch_sizes.record(in_batch as f64);
            totals.batches += 1;
            in_batch = 0;
        }
        if full {
            batch_open = false;
        }
    }
    if in_batch > 0 {
        handler.flush().await?;
        batch_sizes.record(in_batch as f64);
        totals.batches += 1;
    }
    Ok(totals)
}
