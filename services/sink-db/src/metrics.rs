//! sink-db's own metrics, beside the runtime's (`ferroflow_records_total`,
//! `ferroflow_dead_letters_total`, `ferroflow_batch_records`,
//! `ferroflow_flush_duration_seconds`, consumer lag):
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `ferroflow_sink_db_rows_written_total` | counter | `table` |
//! | `ferroflow_sink_db_database_up` | gauge | 1 when the last database operation succeeded |
//! | `ferroflow_sink_db_write_failures_total` | counter | `reason` = unreachable, failed |
//! | `ferroflow_sink_db_paused_partitions` | gauge | partitions paused for backpressure |
//! | `ferroflow_sink_db_rewinds_total` | counter | partitions read again from the database's offset |
//! | `ferroflow_sink_db_buffered_records` | gauge | records held in memory (writing and filling) |

use ::metrics::{counter, gauge};

/// Rows written per table.
pub const ROWS_WRITTEN_TOTAL: &str = "ferroflow_sink_db_rows_written_total";
/// 1 while the database answers.
pub const DATABASE_UP: &str = "ferroflow_sink_db_database_up";
/// Failed write attempts (the batch is kept and tried again).
pub const WRITE_FAILURES_TOTAL: &str = "ferroflow_sink_db_write_failures_total";
/// Partitions paused because the database is behind or down.
pub const PAUSED_PARTITIONS: &str = "ferroflow_sink_db_paused_partitions";
/// Partitions sought back to the offset the database holds.
pub const REWINDS_TOTAL: &str = "ferroflow_sink_db_rewinds_total";
/// Records held in memory.
pub const BUFFERED_RECORDS: &str = "ferroflow_sink_db_buffered_records";

pub(crate) fn rows_written(table: &'static str, rows: u64) {
    counter!(ROWS_WRITTEN_TOTAL, "table" => table).increment(rows);
}

pub(crate) fn database_up(up: bool) {
    gauge!(DATABASE_UP).set(if up { 1.0 } else { 0.0 });
}

pub(crate) fn write_failed(unreachable: bool) {
    let reason = if unreachable { "unreachable" } else { "failed" };
    counter!(WRITE_FAILURES_TOTAL, "reason" => reason).increment(1);
}

pub(crate) fn paused_partitions(n: usize) {
    gauge!(PAUSED_PARTITIONS).set(n as f64);
}

pub(crate) fn rewound() {
    counter!(REWINDS_TOTAL).increment(1);
}

pub(crate) fn buffered(records: usize) {
    gauge!(BUFFERED_RECORDS).set(records as f64);
}
