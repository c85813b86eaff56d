//! [`StockTick`]: one price update of one stock.
//!
//! JSON form: `{"ticker": "STK_ONE", "timestamp": 1694479551000, "price": 42}`
//! (`timestamp` in epoch milliseconds). Protobuf form: `stockfeed.StockUpdate`
//! (`proto/stockfeed/stock_update.proto`), wire-compatible with the published
//! feed, which has no ticker field: the ticker then comes from the Kafka key.

use prost::Message as _;
use serde::{Deserialize, Serialize};

use crate::proto::stockfeed::StockUpdate;
use crate::{DecodeError, Format, Record, json, wire};

/// A stock price at a point in time.
///
/// `Serialize`/`Deserialize` give the JSON form; decode Kafka records with
/// [`crate::decode`] instead, which also takes the ticker from the key and
/// reports errors by field.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StockTick {
    /// Ticker symbol, e.g. `STK_ONE`. Never empty when decoded.
    pub ticker: String,
    /// Event time, epoch milliseconds (UTC). `timestamp` in JSON and protobuf.
    #[serde(rename = "timestamp")]
    pub timestamp_ms: i64,
    /// Price, in the feed's integer unit.
    pub price: i32,
}

/// Field numbers of `stockfeed.StockUpdate`.
const TIMESTAMP: u32 = 1;
const TICKER: u32 = 2;
const PRICE: u32 = 3;

/// The JSON form as decoded: every field optional, so that absence is
/// reported by name; unknown fields ignored.
#[derive(Deserialize)]
struct JsonStockTick {
    #[serde(default, deserialize_with = "json::opt_string")]
    ticker: Option<String>,
    #[serde(default, deserialize_with = "json::opt_i64")]
    timestamp: Option<i64>,
    #[serde(default, deserialize_with = "json::opt_i32")]
    price: Option<i32>,
}

impl StockTick {
    /// Builds a tick from decoded fields. An absent or empty ticker is taken
    /// from the key (UTF-8, non-empty), because the published feed carries
    /// the ticker only there.
    fn from_parts(
        ticker: Option<String>,
        timestamp: Option<i64>,
        price: Option<i32>,
        key: Option<&[u8]>,
    ) -> Result<Self, DecodeError> {
        let ticker = match ticker {
            Some(ticker) if !ticker.is_empty() => ticker,
            _ => key
                .and_then(|key| std::str::from_utf8(key).ok())
                .filter(|key| !key.is_empty())
                .map(str::to_owned)
                .ok_or(DecodeError::MissingField { field: "ticker" })?,
        };
        Ok(StockTick {
            ticker,
            timestamp_ms: timestamp.ok_or(DecodeError::MissingField { field: "timestamp" })?,
            price: price.ok_or(DecodeError::MissingField { field: "price" })?,
        })
    }
}

impl Record for StockTick {
    const KIND: &'static str = "stock_tick";

    fn decode_as(payload: &[u8], format: Format, key: Option<&[u8]>) -> Result<Self, DecodeError> {
        if payload.is_empty() {
            return Err(DecodeError::EmptyPayload);
        }
        match format {
            Format::Json => {
                let tick: JsonStockTick = json::decode(payload)?;
                Self::from_parts(tick.ticker, tick.timestamp, tick.price, key)
            }
            Format::Protobuf => {
                let update = StockUpdate::decode(payload).map_err(|err| {
                    wire::malformed(&err, "StockUpdate", &["timestamp", "ticker", "price"])
                })?;
                Self::from_parts(update.ticker, update.timestamp, update.price, key)
            }
        }
    }

    fn encode_into(&self, format: Format, buf: &mut Vec<u8>) {
        match format {
            Format::Json => {
                buf.reserve(48 + self.ticker.len());
                json::encode(self, buf);
            }
            Format::Protobuf => {
                buf.reserve(
                    wire::int64_len(self.timestamp_ms)
                        + wire::string_len(&self.ticker)
                        + wire::int32_len(self.price),
                );
                wire::put_int64(TIMESTAMP, self.timestamp_ms, buf);
                wire::put_string(TICKER, &self.ticker, buf);
                wire::put_int32(PRICE, self.price, buf);
            }
        }
    }

    fn event_time_ms(&self) -> Option<i64> {
        Some(self.timestamp_ms)
    }
}

impl From<StockTick> for StockUpdate {
    fn from(tick: StockTick) -> Self {
        StockUpdate {
            timestamp: Some(tick.timestamp_ms),
            ticker: Some(tick.ticker),
            price: Some(tick.price),
        }
    }
}

impl TryFrom<StockUpdate> for StockTick {
    type Error = DecodeError;

    /// Fails with [`DecodeError::MissingField`] if a field is absent (there is
    /// no key to take the ticker from here; use [`crate::decode`] for that).
    fn try_from(update: StockUpdate) -> Result<Self, DecodeError> {
        Self::from_parts(update.ticker, update.timestamp, update.price, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tick() -> StockTick {
        StockTick {
            ticker: "STK_ONE".into(),
            timestamp_ms: 1_694_479_551_000,
            price: 42,
        }
    }

    #[test]
    fn json_form_uses_timestamp_as_the_field_name() {
        let json = tick().encode_as(Format::Json);
        assert_eq!(
            json,
            br#"{"ticker":"STK_ONE","timestamp":1694479551000,"price":42}"#
        );
    }

    #[test]
    fn hand_written_protobuf_matches_prost() {
        for tick in [
            tick(),
            StockTick {
                ticker: "é".into(),
                timestamp_ms: -1,
                price: i32::MIN,
            },
        ] {
            assert_eq!(
                tick.encode_as(Format::Protobuf),
                StockUpdate::from(tick.clone()).encode_to_vec()
            );
        }
    }

    #[test]
    fn empty_ticker_in_payload_falls_back_to_key() {
        let json = br#"{"ticker": "", "timestamp": 1, "price": 2}"#;
        let tick = StockTick::decode_as(json, Format::Json, Some(b"STK_KEY")).expect("decodes");
        assert_eq!(tick.ticker, "STK_KEY");
    }

    #[test]
    fn ticker_in_payload_wins_over_key() {
        let json = br#"{"ticker": "STK_ONE", "timestamp": 1, "price": 2}"#;
        let tick = StockTick::decode_as(json, Format::Json, Some(b"STK_KEY")).expect("decodes");
        assert_eq!(tick.ticker, "STK_ONE");
    }

    #[test]
    fn try_from_proto_requires_every_field() {
        let update = StockUpdate {
            timestamp: Some(1),
            ticker: None,
            price: Some(2),
        };
        assert_eq!(
            StockTick::try_from(update),
            Err(DecodeError::MissingField { field: "ticker" })
        );
        assert_eq!(StockTick::try_from(StockUpdate::from(tick())), Ok(tick()));
    }
}
