//! Stock ticks: one random walk of prices per ticker.

use ferroflow_schema::StockTick;
use rand::Rng;

/// Random-walk prices for a set of tickers, taken in turn.
pub struct TickModel {
    tickers: Vec<(String, f64)>,
    next: usize,
}

impl TickModel {
    /// Starting prices spread between 50.00 and 500.00 (the feed's integer unit is cents).
    pub fn new(tickers: &[String], rng: &mut impl Rng) -> Self {
        TickModel {
            tickers: tickers
                .iter()
                .map(|t| (t.clone(), rng.random_range(5_000.0..50_000.0)))
                .collect(),
            next: 0,
        }
    }

    /// The next tick, for the next ticker in turn, at `timestamp_ms`.
    pub fn next_tick(&mut self, rng: &mut impl Rng, timestamp_ms: i64) -> StockTick {
        let turn = self.next;
        self.next = (self.next + 1) % self.tickers.len();
        let (ticker, price) = &mut self.tickers[turn];
        // Steps of up to ±0.2 % with a pull back towards the start keep prices realistic
        // over long runs instead of drifting to zero or to the integer limit.
        let step: f64 = rng.random_range(-0.002..0.002);
        *price = (*price * (1.0 + step)).clamp(100.0, 10_000_000.0);
        StockTick {
            ticker: ticker.clone(),
            timestamp_ms,
            price: price.round() as i32,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::SmallRng;

    #[test]
    fn tickers_take_turns_and_prices_stay_positive() {
        let mut rng = SmallRng::seed_from_u64(7);
        let tickers = vec!["STK_ONE".to_string(), "STK_TWO".to_string()];
        let mut model = TickModel::new(&tickers, &mut rng);
        let ticks: Vec<_> = (0..10_000).map(|i| model.next_tick(&mut rng, i)).collect();
        assert_eq!(ticks[0].ticker, "STK_ONE");
        assert_eq!(ticks[1].ticker, "STK_TWO");
        assert!(ticks.iter().all(|t| t.price >= 100));
    }

    #[test]
    fn consecutive_prices_of_one_ticker_move_by_small_steps() {
        let mut rng = SmallRng::seed_from_u64(1);
        let mut model = TickModel::new(&["A".to_string()], &mut rng);
        let mut last = model.next_tick(&mut rng, 0).price as f64;
        for i in 1..1000 {
            let p = model.next_tick(&mut rng, i).price as f64;
            assert!((p - last).abs() <= last * 0.0021 + 1.0, "{last} -> {p}");
            last = p;
        }
    }
}
