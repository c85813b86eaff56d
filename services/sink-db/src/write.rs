//! One batch, one transaction: the rows and the offsets after them commit together, or
//! neither does.
//!
//! The stored `kafka_offsets.next_offset` of a partition is the single point every writer
//! of that partition goes through. Inside the transaction, for each partition of the
//! batch, the stored offset is read (and locked, on PostgreSQL), and only the batch's
//! records at or after it are written; then it moves past the batch. Hence:
//!
//! - a record already in the database (a replay after a crash, a commit whose
//!   acknowledgement was lost, a zombie instance that lost the partition) is never
//!   written twice: it lies below the stored offset;
//! - every record is written in offset order, so a window's later result always lands
//!   after its earlier one, whoever writes it;
//! - a stored offset *below* what this instance expected means the database lost
//!   committed writes (a restore from backup): the partition is not written and must be
//!   read again from the stored offset ([`Outcome::Rewind`]).
//!
//! A row the database refuses (a constraint, a value out of range) is found by splitting
//! the failed multi-row insert in halves, each under a savepoint, down to the single
//! row; the others are written and the refused one is returned for the dead-letter topic.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use ferroflow_runtime::kafka::context::TopicPartition;

use crate::batch::{Batch, Entry};
use crate::database::{Database, Dialect, Tx, is_data_error};
use crate::rows::{
    Coordinates, LOGIN_STATS, LOGIN_STATS_BREAKDOWN, Rejection, Row, STOCK_BARS, STOCK_TICKS,
    StatsRow, Table, USER_LOGINS, Value,
};

/// Bound values per statement: within PostgreSQL's 65,535 and SQLite's 32,766.
const MAX_VALUES_PER_STATEMENT: usize = 30_000;
/// Rows per PostgreSQL array statement (the arrays count as one parameter per column).
const MAX_ROWS_PER_ARRAY_STATEMENT: usize = 10_000;

/// What became of one partition's records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Records from the stored offset on were handled; the stored offset is now `next`.
    Applied {
        /// `kafka_offsets.next_offset` after the commit.
        next: i64,
        /// Records handled (written or rejected).
        handled: usize,
        /// Records below the stored offset, already in the database.
        skipped: usize,
    },
    /// The database holds less than expected: nothing was written; read the partition
    /// again from `to` (`None`: from the beginning).
    Rewind {
        /// Where to read again from.
        to: Option<i64>,
    },
}

/// A record that is not written, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// Its partition.
    pub tp: TopicPartition,
    /// Its offset.
    pub offset: i64,
    /// Why.
    pub rejection: Rejection,
}

/// Rows written per table in one batch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RowCounts(pub BTreeMap<&'static str, u64>);

/// A batch written inside an open transaction: dead-letter [`Prepared::rejected`] first,
/// then [`Prepared::commit`]. Dropped, it rolls back.
pub struct Prepared {
    tx: Tx,
    /// Per partition of the batch.
    pub outcomes: BTreeMap<TopicPartition, Outcome>,
    /// Records to dead-letter before committing.
    pub rejected: Vec<Rejected>,
    /// Rows written.
    pub rows: RowCounts,
}

impl Prepared {
    /// Commits rows and offsets together.
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await
    }
}

/// Errors of a write attempt; the batch is kept and tried again.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The database failed (unreachable, or a statement failed as a whole).
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// The stored offset changed under the transaction (only without row locks).
    #[error("the stored offset of {topic}/{partition} changed during the write")]
    OffsetMoved {
        /// Topic.
        topic: String,
        /// Partition.
        partition: i32,
    },
}

/// One record to insert, with where it came from.
struct Item<'a, R> {
    tp: &'a TopicPartition,
    offset: i64,
    row: &'a R,
}

impl<'a, R> Item<'a, R> {
    fn at(&self) -> Coordinates<'a> {
        Coordinates {
            topic: &self.tp.topic,
            partition: self.tp.partition,
            offset: self.offset,
        }
    }
}

/// Writes `batch` for consumer group `group` in a new transaction, and leaves it open.
pub async fn prepare(db: &Database, group: &str, batch: &Batch) -> Result<Prepared, WriteError> {
    let mut tx = db.begin().await?;
    let mut outcomes = BTreeMap::new();
    let mut rejected = Vec::new();
    let mut stored_before = BTreeMap::new();
    let (mut ticks, mut logins, mut bars, mut stats) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());

    // Partition order: writers lock offset rows in one order, so they never deadlock.
    for (tp, segment) in batch.segments() {
        let stored = tx.stored_offset(group, tp, true).await?;
        // `None < Some(_)`: no row is below any offset.
        if stored < segment.expected {
            outcomes.insert(tp.clone(), Outcome::Rewind { to: stored });
            continue;
        }
        let from = stored.unwrap_or(i64::MIN);
        let first = segment.entries.partition_point(|e| e.offset < from);
        let Some(end) = segment.end() else { continue };
        let fresh: &[Entry] = segment.entries.get(first..).unwrap_or_default();
        outcomes.insert(
            tp.clone(),
            Outcome::Applied {
                next: stored.map_or(end, |s| s.max(end)),
                handled: fresh.len(),
                skipped: first,
            },
        );
        stored_before.insert(tp.clone(), stored);
        for entry in fresh {
            match &entry.row {
                Err(rejection) => rejected.push(Rejected {
                    tp: tp.clone(),
                    offset: entry.offset,
                    rejection: rejection.clone(),
                }),
                Ok(row) => {
                    let offset = entry.offset;
                    match row {
                        Row::Tick(row) => ticks.push(Item { tp, offset, row }),
                        Row::Login(row) => logins.push(Item { tp, offset, row }),
                        Row::Bar(row) => bars.push(Item { tp, offset, row }),
                        Row::Stats(row) => stats.push(Item { tp, offset, row }),
                    }
                }
            }
        }
    }

    let now = Utc::now();
    let mut rows = RowCounts::default();
    let written = insert(
        &mut tx,
        &STOCK_TICKS,
        &Rows::of(&ticks, |item, out| item.row.values(item.at(), out)),
        &mut rejected,
    )
    .await?;
    rows.0.insert(STOCK_TICKS.name, written);
    let written = insert(
        &mut tx,
        &USER_LOGINS,
        &Rows::of(&logins, |item, out| item.row.values(item.at(), out)),
        &mut rejected,
    )
    .await?;
    rows.0.insert(USER_LOGINS.name, written);
    // One statement may not update one key twice (PostgreSQL refuses): runs of distinct
    // keys, in offset order, so a window's results still apply in order.
    let mut bar_rows = Rows::of(&bars, |item, out| item.row.values(item.at(), now, out));
    bar_rows.runs = distinct_key_runs(&bars, |item| item.row.key());
    let written = insert(&mut tx, &STOCK_BARS, &bar_rows, &mut rejected).await?;
    rows.0.insert(STOCK_BARS.name, written);
    let (written, breakdown) = write_login_stats(&mut tx, &stats, now, &mut rejected).await?;
    rows.0.insert(LOGIN_STATS.name, written);
    rows.0.insert(LOGIN_STATS_BREAKDOWN.name, breakdown);

    for (tp, outcome) in &outcomes {
        let Outcome::Applied { next, .. } = *outcome else {
            continue;
        };
        let stored = stored_before.get(tp).copied().flatten();
        store_offset(&mut tx, group, tp, stored, next).await?;
    }
    rejected.sort_by(|a, b| (&a.tp, a.offset).cmp(&(&b.tp, b.offset)));
    Ok(Prepared {
        tx,
        outcomes,
        rejected,
        rows,
    })
}

async fn store_offset(
    tx: &mut Tx,
    group: &str,
    tp: &TopicPartition,
    stored: Option<i64>,
    next: i64,
) -> Result<(), WriteError> {
    let now = Value::Time(Utc::now());
    let key = [
        Value::Text(group),
        Value::Text(&tp.topic),
        Value::Int(tp.partition.into()),
    ];
    let changed = match stored {
        // A concurrent first writer makes this a unique violation: the transaction
        // fails and the batch is tried again, seeing that writer's offset.
        None => {
            tx.execute(
                "INSERT INTO kafka_offsets (consumer_group, topic, partition, next_offset, updated_at) \
                 VALUES ($1, $2, $3, $4, $5)",
                &[key[0], key[1], key[2], Value::Int(next), now],
            )
            .await?
        }
        Some(stored) if stored == next => return Ok(()),
        // The condition is what protects SQLite, which has no row lock; on PostgreSQL
        // the lock taken at the start already guarantees it.
        Some(stored) => {
            tx.execute(
                "UPDATE kafka_offsets SET next_offset = $4, updated_at = $5 \
                 WHERE consumer_group = $1 AND topic = $2 AND partition = $3 AND next_offset = $6",
                &[key[0], key[1], key[2], Value::Int(next), now, Value::Int(stored)],
            )
            .await?
        }
    };
    if changed == 1 {
        Ok(())
    } else {
        Err(WriteError::OffsetMoved {
            topic: tp.topic.clone(),
            partition: tp.partition,
        })
    }
}

/// Index ranges of `items` in which no key repeats, in order.
fn distinct_key_runs<T, K: std::hash::Hash + Eq>(
    items: &[T],
    key: impl Fn(&T) -> K,
) -> Vec<std::ops::Range<usize>> {
    let mut runs = Vec::new();
    let mut seen = HashSet::new();
    let mut start = 0;
    for (i, item) in items.iter().enumerate() {
        if !seen.insert(key(item)) {
            runs.push(start..i);
            seen.clear();
            seen.insert(key(item));
            start = i;
        }
    }
    if start < items.len() {
        runs.push(start..items.len());
    }
    runs
}

/// `INSERT INTO table (columns) SELECT * FROM UNNEST($1, …) ON CONFLICT …`: one array
/// parameter per column, for any number of rows (PostgreSQL).
fn insert_arrays_sql(table: &Table) -> String {
    let params: Vec<String> = (1..=table.columns.len()).map(|i| format!("${i}")).collect();
    format!(
        "INSERT INTO {} ({}) SELECT * FROM UNNEST({}) {}",
        table.name,
        table.columns.join(", "),
        params.join(", "),
        table.on_conflict
    )
}

/// `INSERT INTO table (columns) VALUES ($1, …), (…) ON CONFLICT …` for `rows` rows.
fn insert_sql(table: &Table, rows: usize) -> String {
    let n = table.columns.len();
    let mut sql = String::with_capacity(64 + rows * n * 7);
    let _ = write!(
        sql,
        "INSERT INTO {} ({}) VALUES ",
        table.name,
        table.columns.join(", ")
    );
    for r in 0..rows {
        sql.push_str(if r == 0 { "(" } else { ", (" });
        for c in 0..n {
            let _ = write!(sql, "{}${}", if c == 0 { "" } else { ", " }, r * n + c + 1);
        }
        sql.push(')');
    }
    sql.push(' ');
    sql.push_str(table.on_conflict);
    sql
}

/// The bound values of a table's rows, flat, with where each row came from.
struct Rows<'a> {
    /// Values, `columns` per row.
    values: Vec<Value<'a>>,
    /// Partition and offset of each row.
    origins: Vec<(&'a TopicPartition, i64)>,
    /// Ranges of rows that may share a statement.
    runs: Vec<std::ops::Range<usize>>,
}

impl<'a> Rows<'a> {
    fn of<R>(items: &[Item<'a, R>], bind: impl Fn(&Item<'a, R>, &mut Vec<Value<'a>>)) -> Rows<'a> {
        let mut values = Vec::new();
        for item in items {
            bind(item, &mut values);
        }
        Rows {
            values,
            origins: items.iter().map(|i| (i.tp, i.offset)).collect(),
            runs: std::iter::once(0..items.len()).collect(),
        }
    }
}

/// Inserts `rows`, each run in statements of at most [`MAX_VALUES_PER_STATEMENT`]
/// values (SQLite) or [`MAX_ROWS_PER_ARRAY_STATEMENT`] rows of arrays (PostgreSQL); a statement the database refuses for its data is split in halves until the
/// refused rows are alone, and those go to `rejected`. Returns the rows written.
async fn insert(
    tx: &mut Tx,
    table: &Table,
    rows: &Rows<'_>,
    rejected: &mut Vec<Rejected>,
) -> Result<u64, sqlx::Error> {
    let n = table.columns.len();
    let arrays = tx.dialect() == Dialect::Postgres;
    let array_sql = insert_arrays_sql(table);
    let per_statement = if arrays {
        MAX_ROWS_PER_ARRAY_STATEMENT
    } else {
        (MAX_VALUES_PER_STATEMENT / n).max(1)
    };
    let mut written = 0;
    let mut pending: Vec<std::ops::Range<usize>> = Vec::new();
    for run in &rows.runs {
        let mut start = run.start;
        while start < run.end {
            let end = (start + per_statement).min(run.end);
            // Depth-first, left half first: rows keep their order.
            pending.push(start..end);
            while let Some(part) = pending.pop() {
                let values = rows
                    .values
                    .get(part.start * n..part.end * n)
                    .unwrap_or_default();
                // Under a savepoint, because on PostgreSQL a failed statement would abort
                // the whole transaction.
                tx.savepoint().await?;
                let result = if arrays {
                    tx.execute_columns(&array_sql, values, n).await
                } else {
                    tx.execute(&insert_sql(table, part.len()), values).await
                };
                match result {
                    Ok(_) => {
                        tx.release().await?;
                        written += part.len() as u64;
                    }
                    Err(error) if is_data_error(&error) => {
                        tx.rollback_to_savepoint().await?;
                        if part.len() == 1 {
                            if let Some((tp, offset)) = rows.origins.get(part.start) {
                                rejected.push(Rejected {
                                    tp: (*tp).clone(),
                                    offset: *offset,
                                    rejection: refused(&error),
                                });
                            }
                        } else {
                            let middle = part.start + part.len() / 2;
                            pending.push(middle..part.end);
                            pending.push(part.start..middle);
                        }
                    }
                    Err(error) => return Err(error),
                }
            }
            start = end;
        }
    }
    Ok(written)
}

/// The dead-letter reason of a row the database refused: its own words and code.
fn refused(error: &sqlx::Error) -> Rejection {
    let message = match error {
        sqlx::Error::Database(db) => match db.code() {
            Some(code) => format!("{} (SQLSTATE/code {code})", db.message()),
            None => db.message().to_string(),
        },
        other => other.to_string(),
    };
    Rejection {
        kind: Rejection::BY_DATABASE,
        message,
    }
}

/// Login statistics, one record at a time under a savepoint: the `login_stats` row, and
/// when it changed, its breakdown rows replaced. Returns (stats rows, breakdown rows).
async fn write_login_stats(
    tx: &mut Tx,
    stats: &[Item<'_, StatsRow>],
    now: DateTime<Utc>,
    rejected: &mut Vec<Rejected>,
) -> Result<(u64, u64), sqlx::Error> {
    let upsert = insert_sql(&LOGIN_STATS, 1);
    let (mut written, mut breakdown) = (0, 0);
    let mut bound = Vec::new();
    for item in stats {
        tx.savepoint().await?;
        bound.clear();
        item.row.values(item.at(), now, &mut bound);
        let result = write_one_login_stats(tx, &upsert, &bound, item.row).await;
        match result {
            Ok((stats_rows, breakdown_rows)) => {
                tx.release().await?;
                written += stats_rows;
                breakdown += breakdown_rows;
            }
            Err(error) if is_data_error(&error) => {
                tx.rollback_to_savepoint().await?;
                rejected.push(Rejected {
                    tp: item.tp.clone(),
                    offset: item.offset,
                    rejection: refused(&error),
                });
            }
            Err(error) => return Err(error),
        }
    }
    Ok((written, breakdown))
}

/// One `login_stats` row and, if it changed, its breakdown; (stats rows, breakdown rows).
async fn write_one_login_stats(
    tx: &mut Tx,
    upsert: &str,
    values: &[Value<'_>],
    row: &StatsRow,
) -> Result<(u64, u64), sqlx::Error> {
    if tx.fetch_i64(upsert, values).await?.is_none() {
        // A final result is already there; this early one changes nothing.
        return Ok((0, 0));
    }
    let window = [Value::Time(row.window_start), Value::Time(row.window_end)];
    tx.execute(
        "DELETE FROM login_stats_breakdown WHERE window_start = $1 AND window_end = $2",
        &window,
    )
    .await?;
    let per_statement = MAX_VALUES_PER_STATEMENT / LOGIN_STATS_BREAKDOWN.columns.len();
    let mut rows = 0;
    for chunk in row.breakdown.chunks(per_statement) {
        let values = row.breakdown_values(chunk);
        tx.execute(&insert_sql(&LOGIN_STATS_BREAKDOWN, chunk.len()), &values)
            .await?;
        rows += chunk.len() as u64;
    }
    Ok((1, rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_sql_numbers_placeholders_row_by_row() {
        assert_eq!(
            insert_sql(&LOGIN_STATS_BREAKDOWN, 2),
            "INSERT INTO login_stats_breakdown (window_start, window_end, dimension, value, logins) \
             VALUES ($1, $2, $3, $4, $5), ($6, $7, $8, $9, $10) "
        );
    }

    #[test]
    fn runs_never_repeat_a_key_and_keep_order() {
        let keys = ["a", "b", "a", "c", "c", "d"];
        let runs = distinct_key_runs(&keys, |k| *k);
        assert_eq!(runs, vec![0..2, 2..4, 4..6]);
    }
}
