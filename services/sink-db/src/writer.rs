//! Writing one batch until it is written: the transaction of [`crate::write`], the dead
//! letters of refused records delivered before it commits, and retries with backoff
//! while the database is down, with readiness, a metric and a log line saying so.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use ferroflow_runtime::health::Health;
use ferroflow_runtime::kafka::context::TopicPartition;
use ferroflow_runtime::kafka::dead_letter::{DeadLetters, Rejection};

use crate::batch::Batch;
use crate::database::{Database, is_unreachable};
use crate::write::{self, Outcome, RowCounts, WriteError};

/// `/readyz` reason while the database cannot be reached.
pub const UNREACHABLE: &str = "database unreachable";
/// `/readyz` reason while the database answers but writes fail.
pub const FAILING: &str = "database writes failing";

/// Exponential backoff between retries.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    /// First wait.
    pub initial: Duration,
    /// Longest wait.
    pub max: Duration,
}

/// Whether the database answers, shared by everything that talks to it and reported to
/// `/readyz`, `ferroflow_sink_db_database_up` and the log (once per change, and on every
/// failure with its error).
pub struct DatabaseStatus {
    health: Arc<Health>,
    down: AtomicBool,
}

impl DatabaseStatus {
    /// Up until something fails.
    pub fn new(health: Arc<Health>) -> Self {
        crate::metrics::database_up(true);
        DatabaseStatus {
            health,
            down: AtomicBool::new(false),
        }
    }

    /// Whether the last operation failed.
    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::Relaxed)
    }

    /// An operation succeeded.
    pub fn succeeded(&self) {
        if self.down.swap(false, Ordering::Relaxed) {
            tracing::info!("database reachable again; resuming");
        }
        self.health.report_dependency(UNREACHABLE, true);
        self.health.report_dependency(FAILING, true);
        crate::metrics::database_up(true);
    }

    /// `what` failed with `error`; it is tried again in `retry_in`.
    pub fn failed(&self, what: &str, error: &anyhow::Error, retry_in: Duration) {
        let unreachable = error
            .chain()
            .filter_map(|e| match e.downcast_ref::<WriteError>() {
                Some(WriteError::Database(e)) => Some(e),
                _ => e.downcast_ref::<sqlx::Error>(),
            })
            .any(is_unreachable);
        self.down.store(true, Ordering::Relaxed);
        self.health
            .report_dependency(if unreachable { UNREACHABLE } else { FAILING }, false);
        crate::metrics::database_up(false);
        crate::metrics::write_failed(unreachable);
        tracing::warn!(
            error = format!("{error:#}"),
            retry_in = %humantime::format_duration(retry_in),
            "{}: {what} failed; nothing is lost, the records are kept and partitions paused \
             until it succeeds",
            if unreachable { UNREACHABLE } else { FAILING },
        );
    }
}

/// Retries `operation` with backoff until it succeeds, reporting each failure.
pub async fn retrying<T, F, Fut>(
    what: &str,
    backoff: Backoff,
    status: &DatabaseStatus,
    mut operation: F,
) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<T>>,
{
    let mut wait = backoff.initial;
    loop {
        match operation().await {
            Ok(value) => {
                status.succeeded();
                return value;
            }
            Err(error) => {
                status.failed(what, &error, wait);
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(backoff.max);
            }
        }
    }
}

/// A batch, written.
#[derive(Debug)]
pub struct Written {
    /// Per partition.
    pub outcomes: BTreeMap<TopicPartition, Outcome>,
    /// Rows per table.
    pub rows: RowCounts,
    /// Records dead-lettered.
    pub dead_lettered: usize,
    /// Duration of the successful attempt.
    pub took: Duration,
}

/// Writes batches into the database.
pub struct Writer {
    /// The database.
    pub db: Database,
    /// Where refused records go.
    pub dead_letters: Arc<DeadLetters>,
    /// Consumer group, the key of `kafka_offsets`.
    pub group: Arc<str>,
    /// Waits between attempts.
    pub backoff: Backoff,
    /// Database reachability.
    pub status: Arc<DatabaseStatus>,
}

impl Writer {
    /// Writes `batch`, trying again until it succeeds. A dead letter delivered by a failed
    /// attempt is not sent again by the next one.
    pub async fn write(&self, batch: &Batch) -> Written {
        let mut delivered = HashSet::new();
        let mut wait = self.backoff.initial;
        loop {
            match self.attempt(batch, &mut delivered).await {
                Ok(written) => {
                    self.status.succeeded();
                    return written;
                }
                Err(error) => {
                    self.status.failed("writing a batch", &error, wait);
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(self.backoff.max);
                }
            }
        }
    }

    async fn attempt(
        &self,
        batch: &Batch,
        delivered: &mut HashSet<(TopicPartition, i64)>,
    ) -> anyhow::Result<Written> {
        let started = Instant::now();
        let prepared = write::prepare(&self.db, &self.group, batch).await?;
        // Dead letters are delivered before the offsets past them commit; a crash between
        // the two sends them again (at least once, with their source coordinates).
        let mut deliveries = Vec::new();
        for rejected in &prepared.rejected {
            let key = (rejected.tp.clone(), rejected.offset);
            if delivered.contains(&key) {
                continue;
            }
            let message = batch
                .message(&rejected.tp, rejected.offset)
                .context("a rejected record is in its batch")?;
            let delivery = self
                .dead_letters
                .send(
                    message,
                    Rejection {
                        kind: rejected.rejection.kind,
                        message: &rejected.rejection.message,
                    },
                )
                .await
                .context("cannot send to the dead-letter topic")?;
            tracing::debug!(
                topic = rejected.tp.topic,
                partition = rejected.tp.partition,
                offset = rejected.offset,
                reason = rejected.rejection.kind,
                message = rejected.rejection.message,
                "record dead-lettered"
            );
            deliveries.push((key, delivery));
        }
        for (key, delivery) in deliveries {
            match delivery.await {
                Ok(Ok(_)) => {
                    delivered.insert(key);
                }
                Ok(Err((error, _))) => anyhow::bail!("dead letter not delivered: {error}"),
                Err(_) => anyhow::bail!("the dead-letter producer went away"),
            }
        }
        let outcomes = prepared.outcomes.clone();
        let rows = prepared.rows.clone();
        let dead_lettered = prepared.rejected.len();
        prepared.commit().await.map_err(WriteError::from)?;
        Ok(Written {
            outcomes,
            rows,
            dead_lettered,
            took: started.elapsed(),
        })
    }
}
