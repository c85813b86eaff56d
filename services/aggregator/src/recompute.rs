//! Batch recomputation: the results the aggregator must have produced from a set of
//! input records, computed in one pass without Kafka.
//!
//! The crash tests compare the aggregator's `read_committed` output with this. It runs
//! the same operators (whose window logic has its own unit tests), partition by
//! partition in offset order, and feeds the merger the partials of one login partition
//! after another — an interleaving the live pipeline never uses, which the merger's
//! results must not depend on.

use std::collections::BTreeMap;

use ferroflow_schema::{LoginStats, StockBar};

use crate::operators::{LoginMerger, LoginOperator, TickOperator};
use crate::state::{Decoded, Input, Outputs, decode};
use crate::window::Timing;

/// One input record as read back from Kafka.
#[derive(Debug, Clone, Copy)]
pub struct InputRecord<'a> {
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// Key.
    pub key: Option<&'a [u8]>,
    /// Payload.
    pub payload: Option<&'a [u8]>,
    /// The `content-type` header.
    pub content_type: Option<&'a [u8]>,
}

/// What the aggregator must have produced.
#[derive(Debug, Default)]
pub struct Recomputed {
    /// Final bars, by key.
    pub bars: BTreeMap<String, StockBar>,
    /// Final login statistics, by key.
    pub stats: BTreeMap<String, LoginStats>,
    /// Late records: (input, partition, offset).
    pub late: Vec<(Input, i32, i64)>,
    /// Records that do not decode: (input, partition, offset).
    pub undecodable: Vec<(Input, i32, i64)>,
}

fn by_partition<'a>(records: &[InputRecord<'a>]) -> BTreeMap<i32, Vec<InputRecord<'a>>> {
    let mut grouped: BTreeMap<i32, Vec<InputRecord<'a>>> = BTreeMap::new();
    for r in records {
        grouped.entry(r.partition).or_default().push(*r);
    }
    for list in grouped.values_mut() {
        list.sort_by_key(|r| r.offset);
    }
    grouped
}

/// Recomputes from the ticks and logins read back; `login_partitions` is the partition
/// count of the login topic (partitions without records still hold the merger back).
pub fn recompute(
    timing: Timing,
    login_partitions: i32,
    ticks: &[InputRecord<'_>],
    logins: &[InputRecord<'_>],
) -> Recomputed {
    let mut result = Recomputed::default();
    let mut out = Outputs::default();
    for (partition, records) in by_partition(ticks) {
        let mut op = TickOperator::new(timing);
        for r in records {
            match decode(Input::Ticks, r.payload, r.content_type, r.key) {
                Ok(Decoded::Tick(tick)) => {
                    let placement = op.process(
                        r.offset,
                        &tick.ticker,
                        tick.timestamp_ms,
                        i64::from(tick.price),
                        &mut out.bars,
                    );
                    if placement.is_late() {
                        result.late.push((Input::Ticks, partition, r.offset));
                    }
                }
                _ => result.undecodable.push((Input::Ticks, partition, r.offset)),
            }
        }
    }
    for (partition, records) in by_partition(logins) {
        let mut op = LoginOperator::new(timing, partition);
        for r in records {
            match decode(Input::Logins, r.payload, r.content_type, r.key) {
                Ok(Decoded::Login(login)) => {
                    let placement = op.process(
                        r.offset,
                        login.timestamp_seconds.saturating_mul(1_000),
                        &login,
                        &mut out.partials,
                    );
                    if placement.is_late() {
                        result.late.push((Input::Logins, partition, r.offset));
                    }
                }
                _ => result
                    .undecodable
                    .push((Input::Logins, partition, r.offset)),
            }
        }
    }
    let mut merger = LoginMerger::new(timing, login_partitions);
    for (offset, message) in out.partials.iter().enumerate() {
        merger.process(offset as i64, message, &mut out.stats);
    }
    result.bars = out.bars.drain(..).map(|b| (b.key(), b)).collect();
    result.stats = out.stats.drain(..).map(|s| (s.key(), s)).collect();
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::window::{Lateness, WindowSpec};
    use ferroflow_schema::{EnrichedStockTick, Format, Record};

    fn tick(ticker: &str, t: i64, price: i32) -> Vec<u8> {
        EnrichedStockTick {
            ticker: ticker.into(),
            timestamp_ms: t,
            price,
            name: String::new(),
            exchange: String::new(),
            currency: String::new(),
            reference_known: false,
            change: None,
            change_percent: None,
            processing_time_ms: t,
            delay_ms: 0,
        }
        .encode_as(Format::Protobuf)
    }

    #[test]
    fn recomputation_closes_windows_reports_late_and_undecodable_records() {
        let timing = Timing::new(
            WindowSpec::tumbling(1_000).unwrap(),
            Lateness {
                out_of_orderness_ms: 0,
                grace_ms: 0,
            },
        );
        let payloads = [
            tick("A", 100, 10),
            tick("A", 1_100, 11),
            tick("A", 500, 12), // late: [0, 1000) closed at 1_100
            b"garbage".to_vec(),
            tick("A", 2_100, 13),
        ];
        let records: Vec<InputRecord<'_>> = payloads
            .iter()
            .enumerate()
            .map(|(i, p)| InputRecord {
                partition: 0,
                offset: i as i64,
                key: Some(b"A"),
                payload: Some(p),
                content_type: Some(b"application/x-protobuf"),
            })
            .collect();
        let result = recompute(timing, 1, &records, &[]);
        assert_eq!(
            result.bars.keys().collect::<Vec<_>>(),
            ["A@0-1000", "A@1000-2000"]
        );
        assert_eq!(result.bars["A@0-1000"].count, 1);
        assert_eq!(result.late, [(Input::Ticks, 0, 2)]);
        assert_eq!(result.undecodable, [(Input::Ticks, 0, 3)]);
        assert!(result.stats.is_empty());
    }
}
