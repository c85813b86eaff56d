//! The query API: what this instance's windows hold right now, over gRPC
//! ([`grpc`], contract `proto/ferroflow/v1/aggregator_query.proto`) and HTTP JSON
//! ([`http`], on the runtime's HTTP server).
//!
//! Answers come from this instance's state: the open windows of the partitions it
//! owns (read under the same lock the pipeline takes per record, briefly), and the
//! windows it closed since it started, kept in [`History`]. With several instances,
//! each answers for its own tickers; the login statistics come from the instance that
//! owns the merge.

pub mod grpc;
pub mod http;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};

use ferroflow_schema::{LoginStats, StockBar};

use crate::state::{Input, Operator, Operators};

/// Windows closed since start, newest kept.
#[derive(Debug)]
pub struct History {
    capacity: usize,
    bars: BTreeMap<String, BTreeMap<i64, StockBar>>,
    stats: BTreeMap<i64, LoginStats>,
    latest_stats: Option<LoginStats>,
}

impl History {
    fn new(capacity: usize) -> Self {
        History {
            capacity: capacity.max(1),
            bars: BTreeMap::new(),
            stats: BTreeMap::new(),
            latest_stats: None,
        }
    }

    /// Keeps a final bar (a bar emitted again after an aborted transaction replaces
    /// its first copy).
    pub fn record_bar(&mut self, bar: &StockBar) {
        let kept = self.bars.entry(bar.ticker.clone()).or_default();
        kept.insert(bar.window_start_ms, bar.clone());
        while kept.len() > self.capacity {
            kept.pop_first();
        }
    }

    /// Keeps login statistics (final ones in the history; any as the latest).
    pub fn record_stats(&mut self, stats: &LoginStats) {
        let newer = self
            .latest_stats
            .as_ref()
            .is_none_or(|l| stats.window_start_ms >= l.window_start_ms);
        if newer {
            self.latest_stats = Some(stats.clone());
        }
        if stats.r#final {
            self.stats.insert(stats.window_start_ms, stats.clone());
            while self.stats.len() > self.capacity {
                self.stats.pop_first();
            }
        }
    }
}

/// The state the pipeline and the query API share.
#[derive(Debug)]
pub struct Shared {
    operators: Mutex<Operators>,
    history: Mutex<History>,
}

/// A ticker's bars.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TickerBars {
    /// The ticker.
    pub ticker: String,
    /// Its open window with the latest start.
    pub open: Option<StockBar>,
    /// Closed windows, newest first.
    pub closed: Vec<StockBar>,
}

/// The login statistics.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LoginStatsView {
    /// The latest emitted.
    pub latest: Option<LoginStats>,
    /// Closed windows, newest first.
    pub closed: Vec<LoginStats>,
}

/// A handle on the shared state; cheap to clone.
#[derive(Debug, Clone)]
pub struct Query {
    shared: Arc<Shared>,
}

impl Default for Query {
    fn default() -> Self {
        Self::new()
    }
}

impl Query {
    /// Empty state, keeping 10 closed windows until [`Query::set_history`] says otherwise.
    pub fn new() -> Self {
        Query {
            shared: Arc::new(Shared {
                operators: Mutex::new(Operators::default()),
                history: Mutex::new(History::new(10)),
            }),
        }
    }

    /// Keep `capacity` closed windows per ticker (and of login statistics).
    pub fn set_history(&self, capacity: usize) {
        self.history().capacity = capacity.max(1);
    }

    /// The operators (the pipeline's state).
    pub fn operators(&self) -> MutexGuard<'_, Operators> {
        // A panic while holding the lock leaves operators that are at worst ahead of the
        // committed state, which the offset check catches; go on.
        self.shared
            .operators
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// The closed-window history.
    pub fn history(&self) -> MutexGuard<'_, History> {
        self.shared
            .history
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// `ticker`'s open bar and up to `limit` closed ones (0: all kept); `None` if this
    /// instance knows nothing of the ticker.
    pub fn ticker_bars(&self, ticker: &str, limit: usize) -> Option<TickerBars> {
        let open = {
            let operators = self.operators();
            operators
                .iter()
                .filter_map(|(_, op)| match op {
                    Operator::Ticks(op) => op.open_bar(ticker),
                    _ => None,
                })
                .max_by_key(|b| b.window_start_ms)
        };
        let closed: Vec<StockBar> = {
            let history = self.history();
            history
                .bars
                .get(ticker)
                .map(|kept| take_newest(kept.values(), limit))
                .unwrap_or_default()
        };
        if open.is_none() && closed.is_empty() {
            return None;
        }
        Some(TickerBars {
            ticker: ticker.to_string(),
            // A window emitted but still held (it closed after the lock above) is closed.
            open: open.filter(|o| {
                closed
                    .first()
                    .is_none_or(|c| o.window_start_ms > c.window_start_ms)
            }),
            closed,
        })
    }

    /// Tickers with an open or a kept closed window, in name order.
    pub fn tickers(&self) -> Vec<String> {
        let mut names: BTreeSet<String> = self.history().bars.keys().cloned().collect();
        let operators = self.operators();
        for (key, op) in operators.iter() {
            if let (Input::Ticks, Operator::Ticks(op)) = (key.0, op) {
                names.extend(op.tickers().map(str::to_string));
            }
        }
        names.into_iter().collect()
    }

    /// The latest login statistics and up to `limit` closed windows' (0: all kept).
    pub fn login_stats(&self, limit: usize) -> LoginStatsView {
        let history = self.history();
        LoginStatsView {
            latest: history.latest_stats.clone(),
            closed: take_newest(history.stats.values(), limit),
        }
    }
}

fn take_newest<'a, T: Clone + 'a>(
    values: impl DoubleEndedIterator<Item = &'a T>,
    limit: usize,
) -> Vec<T> {
    let limit = if limit == 0 { usize::MAX } else { limit };
    values.rev().take(limit).cloned().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operators::TickOperator;
    use crate::window::{Lateness, Timing, WindowSpec};

    pub(crate) fn bar(ticker: &str, start: i64) -> StockBar {
        StockBar {
            ticker: ticker.into(),
            window_start_ms: start,
            window_end_ms: start + 1_000,
            open: 1,
            high: 2,
            low: 1,
            close: 2,
            count: 2,
            mean_price: 1.5,
            twap: 1.5,
            change_percent: 100.0,
            first_event_ms: start,
            last_event_ms: start + 10,
            r#final: true,
        }
    }

    #[test]
    fn history_keeps_the_newest_windows_and_replaces_repeats() {
        let query = Query::new();
        query.set_history(2);
        {
            let mut history = query.history();
            for start in [0, 1_000, 2_000, 2_000] {
                history.record_bar(&bar("A", start));
            }
        }
        let bars = query.ticker_bars("A", 0).unwrap();
        let starts: Vec<i64> = bars.closed.iter().map(|b| b.window_start_ms).collect();
        assert_eq!(starts, [2_000, 1_000]);
        assert_eq!(query.ticker_bars("A", 1).unwrap().closed.len(), 1);
        assert_eq!(query.ticker_bars("B", 0), None);
    }

    #[test]
    fn the_open_bar_comes_from_the_operators() {
        let query = Query::new();
        let timing = Timing::new(
            WindowSpec::tumbling(1_000).unwrap(),
            Lateness {
                out_of_orderness_ms: 0,
                grace_ms: 0,
            },
        );
        let mut op = TickOperator::new(timing);
        let mut closed = Vec::new();
        op.process(0, "A", 100, 5, &mut closed);
        op.process(1, "A", 1_100, 7, &mut closed);
        query.history().record_bar(&closed[0]);
        query
            .operators()
            .install((Input::Ticks, 0), Operator::Ticks(op));
        let bars = query.ticker_bars("A", 5).unwrap();
        let open = bars.open.unwrap();
        assert_eq!(
            (open.window_start_ms, open.count, open.r#final),
            (1_000, 1, false)
        );
        assert_eq!(bars.closed.len(), 1);
        assert_eq!(query.tickers(), ["A"]);
    }

    #[test]
    fn latest_login_stats_may_be_early_history_only_final() {
        let query = Query::new();
        let mut stats = crate::logins::LoginAccumulator::new().stats(
            crate::window::Window {
                start_ms: 0,
                end_ms: 1_000,
            },
            true,
        );
        query.history().record_stats(&stats);
        stats.window_start_ms = 1_000;
        stats.window_end_ms = 2_000;
        stats.r#final = false;
        query.history().record_stats(&stats);
        let view = query.login_stats(0);
        assert_eq!(view.latest.unwrap().window_start_ms, 1_000);
        assert_eq!(view.closed.len(), 1);
    }
}
