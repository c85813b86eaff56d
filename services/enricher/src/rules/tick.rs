//! Stock ticks: validation, reference data, change from the previous tick.

use std::collections::HashMap;
use std::time::Duration;

use ferroflow_schema::{EnrichedStockTick, StockTick};

use super::error::bounded;
use super::time::{check_plausible, skew_ms};
use crate::ValidationError;
use crate::reference::ReferenceData;

/// The longest ticker of the generic form `[A-Z][A-Z0-9_]{0,15}`.
const MAX_TICKER_LEN: usize = 16;

/// Whether `ticker` has the generic form `[A-Z][A-Z0-9_]{0,15}`.
pub fn is_well_formed_ticker(ticker: &str) -> bool {
    let bytes = ticker.as_bytes();
    match bytes.split_first() {
        Some((first, rest)) => {
            first.is_ascii_uppercase()
                && bytes.len() <= MAX_TICKER_LEN
                && rest
                    .iter()
                    .all(|&b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        }
        None => false,
    }
}

/// Validates and enriches stock ticks, remembering the last price of every
/// ticker to compute the change.
///
/// State is per ticker and in memory: the first tick of a ticker after a
/// start (or after its partition moved to this instance) has no change.
/// Ticks of a ticker must arrive in order, which Kafka gives per partition
/// as ticks are keyed by ticker.
#[derive(Debug, Clone)]
pub struct TickEnricher {
    reference: ReferenceData,
    max_future_skew_ms: i64,
    last_prices: HashMap<String, i32>,
}

/// The state of a [`TickEnricher`] (the last price per ticker), taken with
/// [`TickEnricher::snapshot`] and put back with [`TickEnricher::restore`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TickState {
    last_prices: HashMap<String, i32>,
}

impl TickEnricher {
    /// An enricher with `reference` data that accepts event times up to
    /// `max_future_skew` ahead of the processing time (see
    /// [`crate::rules::DEFAULT_MAX_FUTURE_SKEW`]).
    pub fn new(reference: ReferenceData, max_future_skew: Duration) -> Self {
        TickEnricher {
            reference,
            max_future_skew_ms: skew_ms(max_future_skew),
            last_prices: HashMap::new(),
        }
    }

    /// Validates `tick` and enriches it, as processed at
    /// `processing_time_ms` (epoch milliseconds).
    ///
    /// Checks, in order: the ticker is in the reference data or of the form
    /// `[A-Z][A-Z0-9_]{0,15}`; the price is > 0; the timestamp is not before
    /// 2000-01-01 nor more than the allowed skew after the processing time.
    /// Only a valid tick updates the last price of its ticker.
    ///
    /// # Errors
    ///
    /// The first rule broken, as a [`ValidationError`]. Never panics.
    pub fn enrich(
        &mut self,
        tick: StockTick,
        processing_time_ms: i64,
    ) -> Result<EnrichedStockTick, ValidationError> {
        let info = self.reference.get(&tick.ticker);
        if info.is_none() && !is_well_formed_ticker(&tick.ticker) {
            return Err(ValidationError::UnknownTicker {
                ticker: bounded(&tick.ticker),
            });
        }
        if tick.price <= 0 {
            return Err(ValidationError::NonPositivePrice { price: tick.price });
        }
        check_plausible(
            tick.timestamp_ms,
            processing_time_ms,
            self.max_future_skew_ms,
        )
        .map_err(|problem| ValidationError::ImplausibleTimestamp {
            value: format!("{} ms", tick.timestamp_ms),
            problem,
        })?;

        let (change, change_percent) = match self.last_prices.get_mut(tick.ticker.as_str()) {
            Some(previous) => {
                let change = i64::from(tick.price) - i64::from(*previous);
                // previous > 0: only valid ticks are remembered.
                let percent = change as f64 / f64::from(*previous) * 100.0;
                *previous = tick.price;
                (Some(change), Some(percent))
            }
            None => {
                self.last_prices.insert(tick.ticker.clone(), tick.price);
                (None, None)
            }
        };
        let (name, exchange, currency) = match info {
            Some(info) => (
                info.name.clone(),
                info.exchange.clone(),
                info.currency.clone(),
            ),
            None => (String::new(), String::new(), String::new()),
        };
        Ok(EnrichedStockTick {
            reference_known: info.is_some(),
            ticker: tick.ticker,
            timestamp_ms: tick.timestamp_ms,
            price: tick.price,
            name,
            exchange,
            currency,
            change,
            change_percent,
            processing_time_ms,
            delay_ms: processing_time_ms.saturating_sub(tick.timestamp_ms),
        })
    }

    /// The reference data in use.
    pub fn reference(&self) -> &ReferenceData {
        &self.reference
    }

    /// How many tickers have a remembered last price.
    pub fn tracked_tickers(&self) -> usize {
        self.last_prices.len()
    }

    /// A copy of the state, e.g. taken when a Kafka transaction begins.
    pub fn snapshot(&self) -> TickState {
        TickState {
            last_prices: self.last_prices.clone(),
        }
    }

    /// Puts back a state from [`TickEnricher::snapshot`], e.g. when a
    /// transaction aborts and its records will be processed again.
    pub fn restore(&mut self, state: TickState) {
        self.last_prices = state.last_prices;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_formed_tickers_follow_the_pattern() {
        for ok in ["A", "STK_ONE", "A1", "A_", "ABCDEFGHIJKLMNOP"] {
            assert!(is_well_formed_ticker(ok), "{ok}");
        }
        for bad in [
            "",
            "a",
            "1A",
            "_A",
            "STK ONE",
            "stk_one",
            "BRK.B",
            "ABCDEFGHIJKLMNOPQ",
            "É",
            "A\u{0}",
        ] {
            assert!(!is_well_formed_ticker(bad), "{bad:?}");
        }
    }
}
