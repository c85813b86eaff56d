//! The records waiting to be written: per partition, in offset order, with what the
//! database is expected to hold for that partition before them.

use std::collections::BTreeMap;

use ferroflow_runtime::kafka::context::TopicPartition;
use rdkafka::message::OwnedMessage;

use crate::rows::{Rejection, Row, Stream};

/// One consumed record.
#[derive(Debug)]
pub struct Entry {
    /// Its offset.
    pub offset: i64,
    /// Its row, or why it cannot have one.
    pub row: Result<Row, Rejection>,
    /// The record itself, kept for its dead letter should the database refuse the row.
    pub message: OwnedMessage,
}

/// The records of one partition in a batch.
#[derive(Debug)]
pub struct Segment {
    /// Which stream the partition belongs to.
    pub stream: Stream,
    /// The `kafka_offsets.next_offset` the database holds for this partition before this
    /// segment, as far as this instance knows (`None`: no row). A stored value below it
    /// means the database lost writes (a restore): the partition must be read again from
    /// there.
    pub expected: Option<i64>,
    /// Records in offset order.
    pub entries: Vec<Entry>,
}

impl Segment {
    /// The offset after the segment's last record.
    pub fn end(&self) -> Option<i64> {
        self.entries.last().map(|e| e.offset + 1)
    }
}

/// When a batch is full.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Records.
    pub max_records: usize,
    /// Bytes of keys and payloads.
    pub max_bytes: usize,
}

/// Records waiting to be written together, in one transaction.
#[derive(Debug, Default)]
pub struct Batch {
    segments: BTreeMap<TopicPartition, Segment>,
    records: usize,
    bytes: usize,
}

impl Batch {
    /// Adds `entry` of partition `tp`. `expected` is used when it is the partition's first
    /// record in this batch.
    pub fn push(
        &mut self,
        tp: &TopicPartition,
        stream: Stream,
        expected: Option<i64>,
        entry: Entry,
        bytes: usize,
    ) {
        let segment = match self.segments.get_mut(tp) {
            Some(segment) => segment,
            None => self.segments.entry(tp.clone()).or_insert(Segment {
                stream,
                expected,
                entries: Vec::new(),
            }),
        };
        segment.entries.push(entry);
        self.records += 1;
        self.bytes += bytes;
    }

    /// Drops the records of `tp` (revoked, or to be read again); how many there were.
    pub fn remove_partition(&mut self, tp: &TopicPartition) -> usize {
        match self.segments.remove(tp) {
            Some(segment) => {
                let n = segment.entries.len();
                self.records -= n;
                self.bytes -= segment
                    .entries
                    .iter()
                    .map(|e| message_bytes(&e.message))
                    .sum::<usize>();
                n
            }
            None => 0,
        }
    }

    /// Whether a limit is reached.
    pub fn is_full(&self, limits: Limits) -> bool {
        self.records >= limits.max_records || self.bytes >= limits.max_bytes
    }

    /// Records in the batch.
    pub fn records(&self) -> usize {
        self.records
    }

    /// Bytes of keys and payloads in the batch.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Whether it holds no record.
    pub fn is_empty(&self) -> bool {
        self.records == 0
    }

    /// Segments in partition order (the order rows are locked and written).
    pub fn segments(&self) -> impl Iterator<Item = (&TopicPartition, &Segment)> {
        self.segments.iter()
    }

    /// The record of `tp` at `offset`.
    pub fn message(&self, tp: &TopicPartition, offset: i64) -> Option<&OwnedMessage> {
        let entries = &self.segments.get(tp)?.entries;
        let i = entries.binary_search_by_key(&offset, |e| e.offset).ok()?;
        entries.get(i).map(|e| &e.message)
    }
}

/// What a record counts against `batch_max_bytes`.
pub fn message_bytes(message: &OwnedMessage) -> usize {
    use rdkafka::Message;
    message.payload().map_or(0, <[u8]>::len) + message.key().map_or(0, <[u8]>::len)
}
