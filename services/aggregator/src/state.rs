//! The operators of the partitions this instance owns, and what they need in common:
//! decoding an input record and applying it.
//!
//! The pipeline, the replay of a restore and the batch recomputation all go through
//! [`decode`] and [`Operator::apply`], so the three cannot disagree on what a record
//! does.

use std::collections::{BTreeSet, HashMap};

use ferroflow_schema::{
    DecodeError, EnrichedStockTick, EnrichedUserLogin, LoginStats, StockBar,
    decode as decode_record,
};

use crate::codec::{self, CodecError, OperatorCheckpoint, StateRecord};
use crate::operators::{
    LoginMerger, LoginOperator, MergeOutcome, PartialMessage, Placement, TickOperator,
};
use crate::window::Timing;

/// The aggregator's three inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Input {
    /// `stock-ticks-enriched`.
    Ticks,
    /// `user-login-enriched`.
    Logins,
    /// The partials topic (the merger's input).
    Partials,
}

/// An input record, decoded.
#[derive(Debug, Clone)]
pub enum Decoded {
    /// A tick.
    Tick(EnrichedStockTick),
    /// A login.
    Login(EnrichedUserLogin),
    /// A partials message.
    Partial(PartialMessage),
}

/// Why an input record cannot be used: a stable reason code and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Undecodable {
    /// Reason code for the dead-letter header.
    pub kind: &'static str,
    /// The reason in words.
    pub message: String,
}

impl From<DecodeError> for Undecodable {
    fn from(e: DecodeError) -> Self {
        Undecodable {
            kind: e.kind(),
            message: e.to_string(),
        }
    }
}

impl From<CodecError> for Undecodable {
    fn from(e: CodecError) -> Self {
        Undecodable {
            kind: "malformed_partial",
            message: e.to_string(),
        }
    }
}

/// Decodes a record of `input`.
pub fn decode(
    input: Input,
    payload: Option<&[u8]>,
    content_type: Option<&[u8]>,
    key: Option<&[u8]>,
) -> Result<Decoded, Undecodable> {
    Ok(match input {
        Input::Ticks => Decoded::Tick(decode_record(payload, content_type, key)?),
        Input::Logins => Decoded::Login(decode_record(payload, content_type, key)?),
        Input::Partials => Decoded::Partial(codec::decode_partial(payload.unwrap_or_default())?),
    })
}

/// What operators produced while applying records.
#[derive(Debug, Default)]
pub struct Outputs {
    /// Final bars.
    pub bars: Vec<StockBar>,
    /// Messages for the partials topic.
    pub partials: Vec<PartialMessage>,
    /// Final login statistics.
    pub stats: Vec<LoginStats>,
}

impl Outputs {
    /// Empties every list, keeping their capacity.
    pub fn clear(&mut self) {
        self.bars.clear();
        self.partials.clear();
        self.stats.clear();
    }
}

/// What applying one record did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// A tick or a login, placed in its windows (or late for some).
    Placed(Placement),
    /// A partials message merged.
    Merged(MergeOutcome),
}

/// The operator of one input partition.
#[derive(Debug, Clone)]
pub enum Operator {
    /// Bars of a tick partition.
    Ticks(TickOperator),
    /// The share of a login partition.
    Logins(LoginOperator),
    /// The merger (of the partials topic's one partition).
    Merge(LoginMerger),
}

/// A record applied to an operator of another input.
#[derive(Debug, thiserror::Error)]
#[error("a {record} record cannot go to the {operator} operator")]
pub struct Mismatch {
    record: &'static str,
    operator: &'static str,
}

impl Operator {
    /// A fresh operator for `partition` of `input`; the merger merges `login_partitions`.
    pub fn new(input: Input, partition: i32, timing: Timing, login_partitions: i32) -> Self {
        match input {
            Input::Ticks => Operator::Ticks(TickOperator::new(timing)),
            Input::Logins => Operator::Logins(LoginOperator::new(timing, partition)),
            Input::Partials => Operator::Merge(LoginMerger::new(timing, login_partitions)),
        }
    }

    /// The operator a replay from `record` starts with; `Err` names what differs when
    /// the checkpoint was made under other settings.
    pub fn replaying(
        input: Input,
        partition: i32,
        timing: Timing,
        login_partitions: i32,
        record: &StateRecord,
    ) -> Result<Self, String> {
        if record.timing != timing {
            return Err(format!(
                "the checkpoint was made with windows {:?} and lateness {:?}, the settings now \
                 say {:?} and {:?}",
                record.timing.spec(),
                record.timing.lateness(),
                timing.spec(),
                timing.lateness()
            ));
        }
        match (input, &record.checkpoint) {
            (Input::Ticks, OperatorCheckpoint::Ticks(c)) => {
                Ok(Operator::Ticks(TickOperator::replaying(timing, c)))
            }
            (Input::Logins, OperatorCheckpoint::Logins(c)) => Ok(Operator::Logins(
                LoginOperator::replaying(timing, partition, c),
            )),
            (
                Input::Partials,
                OperatorCheckpoint::Merge {
                    sources,
                    checkpoint,
                },
            ) => {
                if *sources != login_partitions {
                    return Err(format!(
                        "the checkpoint merges {sources} login partitions, the topic now has \
                         {login_partitions}"
                    ));
                }
                Ok(Operator::Merge(LoginMerger::replaying(
                    timing, *sources, checkpoint,
                )))
            }
            (input, other) => Err(format!("a checkpoint of {other:?} for input {input:?}")),
        }
    }

    /// The offset after the last record applied or skipped.
    pub fn next_offset(&self) -> Option<i64> {
        match self {
            Operator::Ticks(op) => op.next_offset(),
            Operator::Logins(op) => op.next_offset(),
            Operator::Merge(op) => op.next_offset(),
        }
    }

    /// Passes over the record at `offset` (it could not be decoded).
    pub fn skip(&mut self, offset: i64) {
        match self {
            Operator::Ticks(op) => op.skip(offset),
            Operator::Logins(op) => op.skip(offset),
            Operator::Merge(op) => op.skip(offset),
        }
    }

    /// Applies the record at `offset`; what it closes goes to `out`.
    pub fn apply(
        &mut self,
        offset: i64,
        record: &Decoded,
        out: &mut Outputs,
    ) -> Result<Applied, Mismatch> {
        Ok(match (self, record) {
            (Operator::Ticks(op), Decoded::Tick(tick)) => Applied::Placed(op.process(
                offset,
                &tick.ticker,
                tick.timestamp_ms,
                i64::from(tick.price),
                &mut out.bars,
            )),
            (Operator::Logins(op), Decoded::Login(login)) => Applied::Placed(op.process(
                offset,
                login.timestamp_seconds.saturating_mul(1_000),
                login,
                &mut out.partials,
            )),
            (Operator::Merge(op), Decoded::Partial(message)) => {
                Applied::Merged(op.process(offset, message, &mut out.stats))
            }
            (op, record) => {
                return Err(Mismatch {
                    record: match record {
                        Decoded::Tick(_) => "tick",
                        Decoded::Login(_) => "login",
                        Decoded::Partial(_) => "partials",
                    },
                    operator: op.name(),
                });
            }
        })
    }

    fn name(&self) -> &'static str {
        match self {
            Operator::Ticks(_) => "tick",
            Operator::Logins(_) => "login",
            Operator::Merge(_) => "merge",
        }
    }

    /// The checkpoint to store, under `timing`.
    pub fn state_record(&self, timing: Timing) -> Option<StateRecord> {
        let checkpoint = match self {
            Operator::Ticks(op) => OperatorCheckpoint::Ticks(op.checkpoint()?),
            Operator::Logins(op) => OperatorCheckpoint::Logins(op.checkpoint()?),
            Operator::Merge(op) => OperatorCheckpoint::Merge {
                sources: op.sources(),
                checkpoint: op.checkpoint()?,
            },
        };
        Some(StateRecord { timing, checkpoint })
    }

    /// Open windows held.
    pub fn open_windows(&self) -> usize {
        match self {
            Operator::Ticks(op) => op.open_windows(),
            Operator::Logins(op) => op.open_windows(),
            Operator::Merge(op) => op.open_windows(),
        }
    }

    /// The operator's watermark (combined across partitions for the merger).
    pub fn watermark(&self) -> Option<i64> {
        match self {
            Operator::Ticks(op) => op.watermark(),
            Operator::Logins(op) => op.watermark(),
            Operator::Merge(op) => op.watermark(),
        }
    }
}

/// The operators of the partitions this instance owns.
#[derive(Debug, Default)]
pub struct Operators {
    by_partition: HashMap<(Input, i32), Operator>,
    /// Operators that applied records since their checkpoint was last written.
    dirty: BTreeSet<(Input, i32)>,
    /// Operators just restored that have applied nothing since: the committed state.
    fresh: BTreeSet<(Input, i32)>,
}

/// Whether an operator can take the record at some offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    /// Loaded and at (or before) the offset.
    Ready,
    /// Not loaded (the partition is new to this instance).
    Missing,
    /// Ahead of the offset: the consumer went back (a transaction aborted and the
    /// partition was rewound), so the state must be rebuilt from the committed one.
    Ahead,
}

impl Operators {
    /// Whether the operator of `key` can take the record at `offset`.
    pub fn readiness(&self, key: (Input, i32), offset: i64) -> Readiness {
        match self.by_partition.get(&key) {
            None => Readiness::Missing,
            // A freshly restored operator ahead of the record is the committed state
            // itself: the record is a duplicate to skip, not a reason to restore again.
            Some(op)
                if op.next_offset().is_some_and(|next| offset < next)
                    && !self.fresh.contains(&key) =>
            {
                Readiness::Ahead
            }
            Some(_) => Readiness::Ready,
        }
    }

    /// Installs a (restored) operator.
    pub fn install(&mut self, key: (Input, i32), operator: Operator) {
        self.dirty.remove(&key);
        self.fresh.insert(key);
        self.by_partition.insert(key, operator);
    }

    /// The operator of `key`, marked as changed.
    pub fn get_mut(&mut self, key: (Input, i32)) -> Option<&mut Operator> {
        let op = self.by_partition.get_mut(&key)?;
        self.dirty.insert(key);
        self.fresh.remove(&key);
        Some(op)
    }

    /// The operator of `key`.
    pub fn get(&self, key: (Input, i32)) -> Option<&Operator> {
        self.by_partition.get(&key)
    }

    /// Every operator.
    pub fn iter(&self) -> impl Iterator<Item = (&(Input, i32), &Operator)> {
        self.by_partition.iter()
    }

    /// Every operator, mutable.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&(Input, i32), &mut Operator)> {
        self.by_partition.iter_mut()
    }

    /// The changed operators' checkpoints, clearing the marks.
    pub fn take_dirty(&mut self, timing: Timing) -> Vec<((Input, i32), StateRecord)> {
        let dirty = std::mem::take(&mut self.dirty);
        dirty
            .into_iter()
            .filter_map(|key| {
                let record = self.by_partition.get(&key)?.state_record(timing)?;
                Some((key, record))
            })
            .collect()
    }

    /// Forgets the operator of `key` (its partition was revoked).
    pub fn remove(&mut self, key: (Input, i32)) {
        self.dirty.remove(&key);
        self.fresh.remove(&key);
        self.by_partition.remove(&key);
    }

    /// Forgets every operator changed since its last checkpoint (their changes were
    /// aborted with the transaction).
    pub fn drop_dirty(&mut self) {
        for key in std::mem::take(&mut self.dirty) {
            self.by_partition.remove(&key);
        }
    }
}
