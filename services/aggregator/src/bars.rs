//! The price bar of one ticker in one window, built from ticks in any arrival order.
//!
//! Ticks are ordered by event time, and ticks of the same millisecond by the order they
//! were consumed. `open` is the first tick in that order, `close` the last; the
//! time-weighted average price weights each tick's price by the time until the next
//! tick, and the last one's until the window end. Ticks of one millisecond other than
//! the last have zero weight, so the accumulator keeps per millisecond only the first
//! and the last price: its size is bounded by the window length in milliseconds,
//! whatever the tick rate.
//!
//! Sums are kept in integers (prices are integers), so mean and TWAP do not depend on
//! the order ticks arrived in: a replay in another interleaving gives the same bits.

use std::collections::BTreeMap;

use ferroflow_schema::StockBar;

use crate::window::Window;

/// The first and last price consumed within one millisecond.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Millisecond {
    first: i64,
    last: i64,
}

/// Ticks of one ticker in one window.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BarAccumulator {
    by_ms: BTreeMap<i64, Millisecond>,
    count: u64,
    sum: i128,
    high: i64,
    low: i64,
}

impl BarAccumulator {
    /// An empty bar.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a tick of `price` at event time `t_ms`.
    pub fn add(&mut self, t_ms: i64, price: i64) {
        if self.count == 0 {
            self.high = price;
            self.low = price;
        } else {
            self.high = self.high.max(price);
            self.low = self.low.min(price);
        }
        self.count += 1;
        self.sum += i128::from(price);
        self.by_ms
            .entry(t_ms)
            .and_modify(|m| m.last = price)
            .or_insert(Millisecond {
                first: price,
                last: price,
            });
    }

    /// Number of ticks.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Distinct milliseconds held (the accumulator's size).
    pub fn distinct_milliseconds(&self) -> usize {
        self.by_ms.len()
    }

    /// The bar of `ticker` in `window`; `None` if no tick was added.
    pub fn bar(&self, ticker: &str, window: Window, is_final: bool) -> Option<StockBar> {
        let (&first_ms, first) = self.by_ms.first_key_value()?;
        let (&last_ms, last) = self.by_ms.last_key_value()?;
        // Σ price × time until the next tick; the last tick's until the window end.
        let mut weighted: i128 = 0;
        let mut entries = self.by_ms.iter().peekable();
        while let Some((&t, m)) = entries.next() {
            let next = entries.peek().map_or(window.end_ms, |&(&n, _)| n);
            weighted += i128::from(m.last) * i128::from(next - t);
        }
        let span = window.end_ms - first_ms;
        let (open, close) = (first.first, last.last);
        Some(StockBar {
            ticker: ticker.to_string(),
            window_start_ms: window.start_ms,
            window_end_ms: window.end_ms,
            open,
            high: self.high,
            low: self.low,
            close,
            count: self.count,
            mean_price: ratio(self.sum, i128::from(self.count)),
            twap: ratio(weighted, i128::from(span.max(1))),
            change_percent: if open == 0 {
                0.0
            } else {
                (close - open) as f64 / open as f64 * 100.0
            },
            first_event_ms: first_ms,
            last_event_ms: last_ms,
            r#final: is_final,
        })
    }
}

/// `numerator / denominator` as a double, rounded once.
fn ratio(numerator: i128, denominator: i128) -> f64 {
    // Exact integer division first keeps the large part exact; the remainder adds the
    // fraction (both parts fit an f64 exactly for any realistic price and window).
    let whole = numerator.div_euclid(denominator);
    let rest = numerator.rem_euclid(denominator);
    whole as f64 + rest as f64 / denominator as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: Window = Window {
        start_ms: 0,
        end_ms: 1_000,
    };

    #[test]
    fn ohlc_count_mean_and_change_of_ticks_in_order() {
        let mut acc = BarAccumulator::new();
        for (t, price) in [(100, 10), (200, 14), (400, 9), (700, 12)] {
            acc.add(t, price);
        }
        let bar = acc.bar("STK", W, true).unwrap();
        assert_eq!(
            (bar.open, bar.high, bar.low, bar.close, bar.count),
            (10, 14, 9, 12, 4)
        );
        assert_eq!(bar.mean_price, 11.25);
        assert_eq!(bar.change_percent, 20.0);
        assert_eq!((bar.first_event_ms, bar.last_event_ms), (100, 700));
        // TWAP over [100, 1000): 10×100 + 14×200 + 9×300 + 12×300 = 10_100 over 900 ms.
        assert_eq!(bar.twap, 10_100.0 / 900.0);
        assert_eq!(bar.key(), "STK@0-1000");
        assert!(bar.r#final);
    }

    #[test]
    fn arrival_order_does_not_change_the_bar() {
        let ticks = [
            (100, 10),
            (200, 14),
            (400, 9),
            (700, 12),
            (50, 11),
            (999, 3),
        ];
        let mut in_order = BarAccumulator::new();
        let mut sorted = ticks;
        sorted.sort();
        for (t, p) in sorted {
            in_order.add(t, p);
        }
        let mut shuffled = BarAccumulator::new();
        for (t, p) in ticks.iter().rev() {
            shuffled.add(*t, *p);
        }
        assert_eq!(in_order.bar("X", W, true), shuffled.bar("X", W, true));
        let bar = shuffled.bar("X", W, true).unwrap();
        assert_eq!((bar.open, bar.close), (11, 3), "by event time, not arrival");
    }

    #[test]
    fn ticks_of_one_millisecond_open_with_the_first_and_close_with_the_last_consumed() {
        let mut acc = BarAccumulator::new();
        acc.add(500, 7);
        acc.add(500, 8);
        acc.add(100, 5);
        acc.add(100, 6);
        let bar = acc.bar("X", W, false).unwrap();
        assert_eq!((bar.open, bar.close), (5, 8));
        // 6 holds from 100 to 500, 8 from 500 to the end.
        assert_eq!(bar.twap, (6.0 * 400.0 + 8.0 * 500.0) / 900.0);
        assert_eq!(acc.distinct_milliseconds(), 2);
        assert_eq!(acc.count(), 4);
        assert!(!bar.r#final);
    }

    #[test]
    fn a_single_tick_at_the_last_millisecond_is_its_own_twap() {
        let mut acc = BarAccumulator::new();
        acc.add(999, 42);
        let bar = acc.bar("X", W, true).unwrap();
        assert_eq!(
            (bar.twap, bar.mean_price, bar.change_percent),
            (42.0, 42.0, 0.0)
        );
        assert_eq!(BarAccumulator::new().bar("X", W, true), None);
    }

    #[test]
    fn ratio_is_exact_for_large_sums() {
        assert_eq!(ratio(10, 4), 2.5);
        assert_eq!(
            ratio(i128::from(i32::MAX) * 1_000_000, 1_000_000),
            f64::from(i32::MAX)
        );
        assert_eq!(ratio(-7, 2), -3.5);
    }
}
