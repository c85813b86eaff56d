//! The windowed operators: pure, deterministic state machines, one per input partition.
//!
//! - [`TickOperator`] turns the ticks of one `stock-ticks-enriched` partition into final
//!   [`StockBar`](ferroflow_schema::StockBar)s. A ticker's ticks all live in one
//!   partition (they are keyed by ticker), so that partition's watermark alone decides
//!   when the ticker's windows close.
//! - [`LoginOperator`] turns the logins of one `user-login-enriched` partition into
//!   [`PartialMessage`]s: the partition's share of each window once the window closes
//!   there, and its watermark.
//! - [`LoginMerger`] reads the partials of every login partition (from the one-partition
//!   partials topic) and emits a window's [`LoginStats`](ferroflow_schema::LoginStats)
//!   once every partition's watermark has closed it: the watermark combined across
//!   partitions is the minimum of theirs.
//!
//! Operators read no clock and do no I/O: given the same records in the same order they
//! produce the same outputs, bit for bit. That is what makes them restorable by replay
//! (see [`Checkpoint`]) and what the batch recomputation in the tests relies on.

mod logins;
mod merge;
mod ticks;

pub use logins::{LoginOperator, PartialMessage, PartialWindow};
pub use merge::{LoginMerger, MergeOutcome};
pub use ticks::TickOperator;

use serde::{Deserialize, Serialize};

use crate::window::{Timing, Window};

/// Where an open window's state begins in the operator's input: the offset of the
/// first record that went into it, and the operator's clock just before that record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin<C> {
    /// Offset of the window's first record.
    pub offset: i64,
    /// The operator's clock before that record.
    pub clock_before: C,
}

/// How to rebuild an operator exactly as it was after the record before `next_offset`:
/// start from `clock` with no open window and process the input records from
/// `replay_from` up to `next_offset` again, discarding their outputs (they were
/// committed the first time).
///
/// `replay_from` is the first record of the oldest window still open, so the replay
/// rebuilds every open window in full; windows that closed before `next_offset` are
/// rebuilt partly and closed again at the same records, their output discarded. Every
/// decision (which window, late or not, when to close) depends only on the clock and
/// the records, so the replay reaches the same state bit for bit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint<C> {
    /// The offset after the last record processed.
    pub next_offset: i64,
    /// Where the replay starts.
    pub replay_from: i64,
    /// The clock at `replay_from`.
    pub clock: C,
}

/// Where one input record went.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Placement {
    /// Windows the record was added to.
    pub added: usize,
    /// Windows of the record that had already closed: it is a late event for them.
    pub missed: Vec<Window>,
    /// The partition's watermark before the record.
    pub watermark: Option<i64>,
}

impl Placement {
    /// Whether the record missed any of its windows.
    pub fn is_late(&self) -> bool {
        !self.missed.is_empty()
    }
}

/// The earliest origin among `origins`, as a checkpoint at `next_offset`; with no open
/// window the replay is empty and the clock is `current`.
fn checkpoint_from<'a, C: Clone + 'a>(
    next_offset: i64,
    current: &C,
    origins: impl Iterator<Item = &'a Origin<C>>,
) -> Checkpoint<C> {
    match origins.min_by_key(|o| o.offset) {
        Some(origin) => Checkpoint {
            next_offset,
            replay_from: origin.offset,
            clock: origin.clock_before.clone(),
        },
        None => Checkpoint {
            next_offset,
            replay_from: next_offset,
            clock: current.clone(),
        },
    }
}

/// Where an operator stands in its input partition: the largest event time seen (its
/// clock, which the watermark follows) and the offset after the last record processed
/// or skipped. Every per-partition operator keeps one.
#[derive(Debug, Clone, Copy)]
struct PartitionClock {
    timing: Timing,
    max_event_ms: Option<i64>,
    next_offset: Option<i64>,
}

impl PartitionClock {
    /// Before the partition's first record.
    fn new(timing: Timing) -> Self {
        PartitionClock {
            timing,
            max_event_ms: None,
            next_offset: None,
        }
    }

    /// At the start of a replay from `checkpoint`.
    fn replaying(timing: Timing, checkpoint: &Checkpoint<Option<i64>>) -> Self {
        PartitionClock {
            timing,
            max_event_ms: checkpoint.clock,
            next_offset: Some(checkpoint.replay_from),
        }
    }

    fn watermark(&self) -> Option<i64> {
        self.timing.watermark(self.max_event_ms)
    }

    /// The window that starts at `start`.
    fn window_at(&self, start: i64) -> Window {
        let spec = self.timing.spec();
        spec.window(spec.index_of(start))
    }

    /// The record at `offset` was passed over.
    fn skip(&mut self, offset: i64) {
        self.next_offset = Some(offset + 1);
    }

    /// The record at `offset`, of event time `t_ms`, was processed.
    fn advance(&mut self, offset: i64, t_ms: i64) {
        self.max_event_ms = Some(self.max_event_ms.map_or(t_ms, |m| m.max(t_ms)));
        self.next_offset = Some(offset + 1);
    }

    /// The checkpoint of an operator whose open windows began at `origins`; `None`
    /// before any record.
    fn checkpoint<'a>(
        &self,
        origins: impl Iterator<Item = &'a Origin<Option<i64>>>,
    ) -> Option<Checkpoint<Option<i64>>> {
        Some(checkpoint_from(
            self.next_offset?,
            &self.max_event_ms,
            origins,
        ))
    }
}
