//! Price bars of the tickers of one input partition.

use std::collections::{BTreeMap, HashMap};

use ferroflow_schema::StockBar;

use super::{Checkpoint, Origin, PartitionClock, Placement};
use crate::bars::BarAccumulator;
use crate::window::Timing;

/// One ticker's open window.
#[derive(Debug, Clone)]
struct OpenBar {
    bar: BarAccumulator,
    origin: Origin<Option<i64>>,
    /// Changed since the last early result.
    touched: bool,
}

/// The tick windows of one partition. Its clock is the largest event time seen.
#[derive(Debug, Clone)]
pub struct TickOperator {
    clock: PartitionClock,
    /// Open windows by start, then by ticker. All windows have one size, so start order
    /// is closing order.
    open: BTreeMap<i64, HashMap<String, OpenBar>>,
}

impl TickOperator {
    /// A partition seen for the first time.
    pub fn new(timing: Timing) -> Self {
        TickOperator {
            clock: PartitionClock::new(timing),
            open: BTreeMap::new(),
        }
    }

    /// The starting point of a replay from `checkpoint` (see [`Checkpoint`]).
    pub fn replaying(timing: Timing, checkpoint: &Checkpoint<Option<i64>>) -> Self {
        TickOperator {
            clock: PartitionClock::replaying(timing, checkpoint),
            open: BTreeMap::new(),
        }
    }

    /// The offset after the last record processed (or skipped).
    pub fn next_offset(&self) -> Option<i64> {
        self.clock.next_offset
    }

    /// The watermark.
    pub fn watermark(&self) -> Option<i64> {
        self.clock.watermark()
    }

    /// Records that the record at `offset` was passed over (it could not be decoded).
    pub fn skip(&mut self, offset: i64) {
        self.clock.skip(offset);
    }

    /// Adds the tick at `offset`; bars of windows the tick's watermark closes are
    /// appended to `closed` (final, in window then ticker order).
    pub fn process(
        &mut self,
        offset: i64,
        ticker: &str,
        t_ms: i64,
        price: i64,
        closed: &mut Vec<StockBar>,
    ) -> Placement {
        let watermark = self.watermark();
        let mut placement = Placement {
            watermark,
            ..Placement::default()
        };
        for window in self.clock.timing.spec().windows_of(t_ms) {
            if self.clock.timing.is_closed(&window, watermark) {
                placement.missed.push(window);
                continue;
            }
            let tickers = self.open.entry(window.start_ms).or_default();
            let open = match tickers.get_mut(ticker) {
                Some(open) => open,
                None => tickers.entry(ticker.to_string()).or_insert(OpenBar {
                    bar: BarAccumulator::new(),
                    origin: Origin {
                        offset,
                        clock_before: self.clock.max_event_ms,
                    },
                    touched: false,
                }),
            };
            open.bar.add(t_ms, price);
            open.touched = true;
            placement.added += 1;
        }
        self.clock.advance(offset, t_ms);
        self.close(closed);
        placement
    }

    fn close(&mut self, closed: &mut Vec<StockBar>) {
        let watermark = self.watermark();
        while let Some(entry) = self.open.first_entry() {
            let window = self.clock.window_at(*entry.key());
            if !self.clock.timing.is_closed(&window, watermark) {
                break;
            }
            let mut tickers: Vec<(String, OpenBar)> = entry.remove().into_iter().collect();
            tickers.sort_by(|a, b| a.0.cmp(&b.0));
            closed.extend(
                tickers
                    .into_iter()
                    .filter_map(|(ticker, open)| open.bar.bar(&ticker, window, true)),
            );
        }
    }

    /// Where a replay must start to rebuild this operator; `None` before any record.
    pub fn checkpoint(&self) -> Option<Checkpoint<Option<i64>>> {
        self.clock.checkpoint(
            self.open
                .values()
                .flat_map(|t| t.values().map(|o| &o.origin)),
        )
    }

    /// Non-final bars of the windows changed since the last call.
    pub fn early_bars(&mut self) -> Vec<StockBar> {
        let mut bars = Vec::new();
        for (&start, tickers) in &mut self.open {
            let window = self.clock.window_at(start);
            let mut changed: Vec<(&String, &mut OpenBar)> =
                tickers.iter_mut().filter(|(_, o)| o.touched).collect();
            changed.sort_by(|a, b| a.0.cmp(b.0));
            for (ticker, open) in changed {
                open.touched = false;
                bars.extend(open.bar.bar(ticker, window, false));
            }
        }
        bars
    }

    /// The bar of `ticker`'s open window with the latest start, if it has one.
    pub fn open_bar(&self, ticker: &str) -> Option<StockBar> {
        self.open.iter().rev().find_map(|(&start, tickers)| {
            tickers
                .get(ticker)
                .and_then(|o| o.bar.bar(ticker, self.clock.window_at(start), false))
        })
    }

    /// The tickers with an open window.
    pub fn tickers(&self) -> impl Iterator<Item = &str> {
        self.open
            .values()
            .flat_map(|t| t.keys().map(String::as_str))
    }

    /// Open (ticker, window) pairs: the operator's size.
    pub fn open_windows(&self) -> usize {
        self.open.values().map(HashMap::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::window::{Lateness, Window, WindowSpec};

    /// 1 s tumbling windows, watermark 100 ms behind, 200 ms grace.
    fn timing() -> Timing {
        Timing::new(
            WindowSpec::tumbling(1_000).unwrap(),
            Lateness {
                out_of_orderness_ms: 100,
                grace_ms: 200,
            },
        )
    }

    #[test]
    fn a_window_is_emitted_once_when_the_watermark_passes_end_plus_grace() {
        let mut op = TickOperator::new(timing());
        let mut closed = Vec::new();
        op.process(0, "A", 100, 10, &mut closed);
        op.process(1, "A", 900, 12, &mut closed);
        op.process(2, "A", 1_250, 11, &mut closed); // watermark 1_150 < 1_200
        assert!(closed.is_empty());
        op.process(3, "A", 1_299, 13, &mut closed); // watermark 1_199
        assert!(closed.is_empty());
        op.process(4, "A", 1_300, 14, &mut closed); // watermark 1_200: [0, 1000) closes
        assert_eq!(closed.len(), 1);
        let bar = &closed[0];
        assert_eq!((bar.window_start_ms, bar.window_end_ms), (0, 1_000));
        assert_eq!((bar.open, bar.close, bar.count), (10, 12, 2));
        assert!(bar.r#final);
        op.process(5, "A", 5_000, 15, &mut closed); // closes [1000, 2000) too, once
        assert_eq!(closed.len(), 2);
        assert_eq!(closed[1].count, 3);
        op.process(6, "A", 5_001, 15, &mut closed);
        assert_eq!(closed.len(), 2, "nothing is emitted twice");
    }

    #[test]
    fn out_of_order_events_within_the_grace_period_still_count() {
        let mut op = TickOperator::new(timing());
        let mut closed = Vec::new();
        op.process(0, "A", 500, 10, &mut closed);
        op.process(1, "A", 1_250, 20, &mut closed); // watermark 1_150: [0, 1000) still open
        let placement = op.process(2, "A", 400, 5, &mut closed);
        assert!(!placement.is_late());
        assert_eq!(placement.added, 1);
        op.process(3, "A", 1_400, 20, &mut closed);
        assert_eq!(closed.len(), 1);
        assert_eq!(
            (closed[0].open, closed[0].close, closed[0].count),
            (5, 10, 2)
        );
    }

    #[test]
    fn an_event_for_a_closed_window_is_late_and_changes_nothing() {
        let mut op = TickOperator::new(timing());
        let mut closed = Vec::new();
        op.process(0, "A", 500, 10, &mut closed);
        op.process(1, "A", 1_300, 20, &mut closed);
        assert_eq!(closed.len(), 1);
        let placement = op.process(2, "A", 999, 99, &mut closed);
        assert!(placement.is_late());
        assert_eq!(placement.added, 0);
        assert_eq!(
            placement.missed,
            [Window {
                start_ms: 0,
                end_ms: 1_000
            }]
        );
        assert_eq!(placement.watermark, Some(1_200));
        assert_eq!(closed.len(), 1, "no second result for the closed window");
        assert_eq!(op.open_bar("A").unwrap().count, 1, "[1000, 2000) untouched");
    }

    #[test]
    fn hopping_windows_each_get_the_tick_and_close_in_order() {
        let timing = Timing::new(
            WindowSpec::hopping(1_000, 500).unwrap(),
            Lateness {
                out_of_orderness_ms: 0,
                grace_ms: 0,
            },
        );
        let mut op = TickOperator::new(timing);
        let mut closed = Vec::new();
        assert_eq!(op.process(0, "A", 700, 10, &mut closed).added, 2);
        op.process(1, "B", 800, 30, &mut closed);
        op.process(2, "A", 1_000, 20, &mut closed); // closes [0, 1000)
        let keys: Vec<String> = closed.iter().map(StockBar::key).collect();
        assert_eq!(keys, ["A@0-1000", "B@0-1000"]);
        op.process(3, "A", 1_600, 20, &mut closed); // closes [500, 1500)
        let keys: Vec<String> = closed.iter().skip(2).map(StockBar::key).collect();
        assert_eq!(keys, ["A@500-1500", "B@500-1500"]);
        assert_eq!(closed[2].count, 2, "700 and 1000 are both in [500, 1500)");
    }

    #[test]
    fn replay_from_a_checkpoint_rebuilds_the_same_operator() {
        // Random-looking but fixed ticks, processed in one go, and again with a
        // checkpoint + replay cut at every offset: the outputs after the cut and the
        // final state must be identical.
        let ticks: Vec<(&str, i64, i64)> = (0..400i64)
            .map(|i| {
                let jitter = (i * 7919) % 600 - 300;
                (
                    ["A", "B", "C"][(i % 3) as usize],
                    10_000 + i * 37 + jitter,
                    100 + (i * 31) % 17,
                )
            })
            .collect();
        let run = |op: &mut TickOperator, from: usize, to: usize| {
            let mut closed = Vec::new();
            let mut late = 0;
            for (offset, (ticker, t, p)) in ticks.iter().enumerate().take(to).skip(from) {
                late += usize::from(
                    op.process(offset as i64, ticker, *t, *p, &mut closed)
                        .is_late(),
                );
            }
            (closed, late)
        };
        let mut whole = TickOperator::new(timing());
        let (all_closed, all_late) = run(&mut whole, 0, ticks.len());
        assert!(
            all_late > 0 && all_closed.len() > 10,
            "the data exercises lateness"
        );
        for cut in (0..ticks.len()).step_by(13) {
            let mut first = TickOperator::new(timing());
            let (mut closed, mut late) = run(&mut first, 0, cut);
            let Some(checkpoint) = first.checkpoint() else {
                continue;
            };
            assert_eq!(checkpoint.next_offset, cut as i64);
            // Rebuild: replay (outputs discarded), then go on.
            let mut rebuilt = TickOperator::replaying(timing(), &checkpoint);
            run(&mut rebuilt, checkpoint.replay_from as usize, cut);
            assert_eq!(rebuilt.next_offset(), Some(cut as i64));
            let (more, more_late) = run(&mut rebuilt, cut, ticks.len());
            closed.extend(more);
            late += more_late;
            assert_eq!(closed, all_closed, "cut at {cut}");
            assert_eq!(late, all_late, "cut at {cut}");
            for ticker in ["A", "B", "C"] {
                assert_eq!(rebuilt.open_bar(ticker), whole.open_bar(ticker));
            }
        }
    }

    #[test]
    fn checkpoint_without_open_windows_needs_no_replay() {
        let mut op = TickOperator::new(timing());
        assert_eq!(op.checkpoint(), None);
        op.skip(41);
        assert_eq!(
            op.checkpoint(),
            Some(Checkpoint {
                next_offset: 42,
                replay_from: 42,
                clock: None
            })
        );
        let mut closed = Vec::new();
        op.process(42, "A", 500, 1, &mut closed);
        op.process(43, "A", 800, 1, &mut closed);
        let checkpoint = op.checkpoint().unwrap();
        assert_eq!((checkpoint.replay_from, checkpoint.clock), (42, None));
        assert_eq!(op.open_windows(), 1);
    }

    #[test]
    fn early_bars_report_changed_windows_once() {
        let mut op = TickOperator::new(timing());
        let mut closed = Vec::new();
        op.process(0, "B", 100, 1, &mut closed);
        op.process(1, "A", 200, 2, &mut closed);
        let early: Vec<String> = op.early_bars().iter().map(StockBar::key).collect();
        assert_eq!(early, ["A@0-1000", "B@0-1000"]);
        assert!(op.early_bars().is_empty());
        op.process(2, "A", 300, 3, &mut closed);
        let early = op.early_bars();
        assert_eq!(early.len(), 1);
        assert!(!early[0].r#final);
        assert_eq!(op.tickers().count(), 2);
    }
}
