//! [`EnrichedStockTick`]: a validated stock tick with reference data and its
//! change from the previous tick, as the enricher writes it to
//! `stock-ticks-enriched`.
//!
//! Protobuf form: `ferroflow.v1.EnrichedStockTick`
//! (`proto/ferroflow/v1/enriched.proto`). JSON form: the same field names,
//! e.g. `{"ticker":"STK_ONE","timestamp_ms":1694479551000,"price":42,
//! "name":"Stock One Corp.","exchange":"NASDAQ","currency":"USD",
//! "reference_known":true,"change":2,"change_percent":5.0,
//! "processing_time_ms":1694479551120,"delay_ms":120}`; `change` and
//! `change_percent` are left out when absent.

use prost::Message as _;
use serde::{Deserialize, Serialize};

use crate::proto::ferroflow_v1;
use crate::{DecodeError, Format, Record, json, wire};

/// A validated stock tick with reference data and derived fields.
///
/// `Serialize`/`Deserialize` give the JSON form; decode Kafka records with
/// [`crate::decode`] instead, which reports errors by field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnrichedStockTick {
    /// Ticker symbol as received, e.g. `STK_ONE`.
    pub ticker: String,
    /// Event time, epoch milliseconds (UTC).
    pub timestamp_ms: i64,
    /// Price in the feed's integer unit; the enricher guarantees > 0.
    pub price: i32,
    /// Company name from the reference data; empty when the ticker is not in it.
    pub name: String,
    /// Exchange from the reference data, e.g. `NASDAQ`; empty when unknown.
    pub exchange: String,
    /// ISO 4217 currency from the reference data, e.g. `USD`; empty when unknown.
    pub currency: String,
    /// Whether the ticker was found in the reference data.
    pub reference_known: bool,
    /// `price` minus the previous tick's price of the same ticker; `None`
    /// for the first tick of a ticker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<i64>,
    /// `change` as a percentage of the previous price; `None` with `change`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change_percent: Option<f64>,
    /// When the enricher processed the tick, epoch milliseconds (UTC).
    pub processing_time_ms: i64,
    /// `processing_time_ms - timestamp_ms`; negative when the event time is
    /// ahead of the enricher's clock.
    pub delay_ms: i64,
}

/// Field numbers of `ferroflow.v1.EnrichedStockTick`.
mod field {
    pub const TICKER: u32 = 1;
    pub const TIMESTAMP_MS: u32 = 2;
    pub const PRICE: u32 = 3;
    pub const NAME: u32 = 4;
    pub const EXCHANGE: u32 = 5;
    pub const CURRENCY: u32 = 6;
    pub const REFERENCE_KNOWN: u32 = 7;
    pub const CHANGE: u32 = 8;
    pub const CHANGE_PERCENT: u32 = 9;
    pub const PROCESSING_TIME_MS: u32 = 10;
    pub const DELAY_MS: u32 = 11;
}

/// Field names in field-number order, for prost error mapping.
const FIELDS: [&str; 11] = [
    "ticker",
    "timestamp_ms",
    "price",
    "name",
    "exchange",
    "currency",
    "reference_known",
    "change",
    "change_percent",
    "processing_time_ms",
    "delay_ms",
];

/// The JSON form as decoded: every field optional, so that absence is
/// reported by name; unknown fields ignored.
#[derive(Deserialize)]
struct JsonEnrichedStockTick {
    #[serde(default, deserialize_with = "json::opt_string")]
    ticker: Option<String>,
    #[serde(default, deserialize_with = "json::opt_i64")]
    timestamp_ms: Option<i64>,
    #[serde(default, deserialize_with = "json::opt_i32")]
    price: Option<i32>,
    #[serde(default, deserialize_with = "json::opt_string")]
    name: Option<String>,
    #[serde(default, deserialize_with = "json::opt_string")]
    exchange: Option<String>,
    #[serde(default, deserialize_with = "json::opt_string")]
    currency: Option<String>,
    #[serde(default, deserialize_with = "json::opt_bool")]
    reference_known: Option<bool>,
    #[serde(default, deserialize_with = "json::opt_i64")]
    change: Option<i64>,
    #[serde(default, deserialize_with = "json::opt_f64")]
    change_percent: Option<f64>,
    #[serde(default, deserialize_with = "json::opt_i64")]
    processing_time_ms: Option<i64>,
    #[serde(default, deserialize_with = "json::opt_i64")]
    delay_ms: Option<i64>,
}

impl From<JsonEnrichedStockTick> for ferroflow_v1::EnrichedStockTick {
    fn from(tick: JsonEnrichedStockTick) -> Self {
        ferroflow_v1::EnrichedStockTick {
            ticker: tick.ticker,
            timestamp_ms: tick.timestamp_ms,
            price: tick.price,
            name: tick.name,
            exchange: tick.exchange,
            currency: tick.currency,
            reference_known: tick.reference_known,
            change: tick.change,
            change_percent: tick.change_percent,
            processing_time_ms: tick.processing_time_ms,
            delay_ms: tick.delay_ms,
        }
    }
}

impl EnrichedStockTick {
    /// Checks every required field is present; reports the first missing
    /// one in field-number order.
    fn from_parts(tick: ferroflow_v1::EnrichedStockTick) -> Result<Self, DecodeError> {
        fn required<T>(value: Option<T>, field: &'static str) -> Result<T, DecodeError> {
            value.ok_or(DecodeError::MissingField { field })
        }
        Ok(EnrichedStockTick {
            ticker: required(tick.ticker, "ticker")?,
            timestamp_ms: required(tick.timestamp_ms, "timestamp_ms")?,
            price: required(tick.price, "price")?,
            name: required(tick.name, "name")?,
            exchange: required(tick.exchange, "exchange")?,
            currency: required(tick.currency, "currency")?,
            reference_known: required(tick.reference_known, "reference_known")?,
            change: tick.change,
            change_percent: tick.change_percent,
            processing_time_ms: required(tick.processing_time_ms, "processing_time_ms")?,
            delay_ms: required(tick.delay_ms, "delay_ms")?,
        })
    }

    /// The exact protobuf encoding length, to reserve it at once.
    fn protobuf_len(&self) -> usize {
        use field::*;
        wire::string_field_len(TICKER, &self.ticker)
            + wire::varint_field_len(TIMESTAMP_MS, self.timestamp_ms as u64)
            + wire::varint_field_len(PRICE, i64::from(self.price) as u64)
            + wire::string_field_len(NAME, &self.name)
            + wire::string_field_len(EXCHANGE, &self.exchange)
            + wire::string_field_len(CURRENCY, &self.currency)
            + wire::varint_field_len(REFERENCE_KNOWN, 1)
            + self
                .change
                .map_or(0, |c| wire::varint_field_len(CHANGE, c as u64))
            + self
                .change_percent
                .map_or(0, |_| wire::double_field_len(CHANGE_PERCENT))
            + wire::varint_field_len(PROCESSING_TIME_MS, self.processing_time_ms as u64)
            + wire::varint_field_len(DELAY_MS, self.delay_ms as u64)
    }
}

impl Record for EnrichedStockTick {
    const KIND: &'static str = "enriched_stock_tick";

    /// Decodes `payload`; the key is not used (the ticker is always in the
    /// payload). `change` and `change_percent` may be absent; every other
    /// field is required.
    fn decode_as(payload: &[u8], format: Format, _key: Option<&[u8]>) -> Result<Self, DecodeError> {
        if payload.is_empty() {
            return Err(DecodeError::EmptyPayload);
        }
        let tick = match format {
            Format::Json => json::decode::<JsonEnrichedStockTick>(payload)?.into(),
            Format::Protobuf => ferroflow_v1::EnrichedStockTick::decode(payload)
                .map_err(|err| wire::malformed(&err, "EnrichedStockTick", &FIELDS))?,
        };
        Self::from_parts(tick)
    }

    fn encode_into(&self, format: Format, buf: &mut Vec<u8>) {
        match format {
            Format::Json => {
                buf.reserve(256 + self.ticker.len() + self.name.len());
                json::encode(self, buf);
            }
            Format::Protobuf => {
                use field::*;
                buf.reserve(self.protobuf_len());
                // Field-number order, as prost writes it.
                wire::put_string(TICKER, &self.ticker, buf);
                wire::put_int64(TIMESTAMP_MS, self.timestamp_ms, buf);
                wire::put_int32(PRICE, self.price, buf);
                wire::put_string(NAME, &self.name, buf);
                wire::put_string(EXCHANGE, &self.exchange, buf);
                wire::put_string(CURRENCY, &self.currency, buf);
                wire::put_bool(REFERENCE_KNOWN, self.reference_known, buf);
                if let Some(change) = self.change {
                    wire::put_int64(CHANGE, change, buf);
                }
                if let Some(change_percent) = self.change_percent {
                    wire::put_double(CHANGE_PERCENT, change_percent, buf);
                }
                wire::put_int64(PROCESSING_TIME_MS, self.processing_time_ms, buf);
                wire::put_int64(DELAY_MS, self.delay_ms, buf);
            }
        }
    }

    fn event_time_ms(&self) -> Option<i64> {
        Some(self.timestamp_ms)
    }
}

impl From<EnrichedStockTick> for ferroflow_v1::EnrichedStockTick {
    fn from(tick: EnrichedStockTick) -> Self {
        ferroflow_v1::EnrichedStockTick {
            ticker: Some(tick.ticker),
            timestamp_ms: Some(tick.timestamp_ms),
            price: Some(tick.price),
            name: Some(tick.name),
            exchange: Some(tick.exchange),
            currency: Some(tick.currency),
            reference_known: Some(tick.reference_known),
            change: tick.change,
            change_percent: tick.change_percent,
            processing_time_ms: Some(tick.processing_time_ms),
            delay_ms: Some(tick.delay_ms),
        }
    }
}

impl TryFrom<ferroflow_v1::EnrichedStockTick> for EnrichedStockTick {
    type Error = DecodeError;

    /// Fails with [`DecodeError::MissingField`] if a required field is absent.
    fn try_from(tick: ferroflow_v1::EnrichedStockTick) -> Result<Self, DecodeError> {
        Self::from_parts(tick)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tick() -> EnrichedStockTick {
        EnrichedStockTick {
            ticker: "STK_ONE".into(),
            timestamp_ms: 1_694_479_551_000,
            price: 42,
            name: "Stock One Corp.".into(),
            exchange: "NASDAQ".into(),
            currency: "USD".into(),
            reference_known: true,
            change: Some(2),
            change_percent: Some(5.0),
            processing_time_ms: 1_694_479_551_120,
            delay_ms: 120,
        }
    }

    #[test]
    fn json_form_uses_the_proto_field_names_and_omits_absent_change() {
        assert_eq!(
            String::from_utf8(tick().encode_as(Format::Json)).expect("UTF-8"),
            r#"{"ticker":"STK_ONE","timestamp_ms":1694479551000,"price":42,"name":"Stock One Corp.","exchange":"NASDAQ","currency":"USD","reference_known":true,"change":2,"change_percent":5.0,"processing_time_ms":1694479551120,"delay_ms":120}"#
        );
        let first = EnrichedStockTick {
            change: None,
            change_percent: None,
            ..tick()
        };
        let json = String::from_utf8(first.encode_as(Format::Json)).expect("UTF-8");
        assert!(!json.contains(r#""change"#), "{json}");
        assert_eq!(
            EnrichedStockTick::decode_as(json.as_bytes(), Format::Json, None),
            Ok(first)
        );
    }

    #[test]
    fn hand_written_protobuf_matches_prost() {
        let odd = EnrichedStockTick {
            ticker: "é".repeat(70),
            timestamp_ms: -1,
            price: i32::MIN,
            name: String::new(),
            reference_known: false,
            change: None,
            change_percent: None,
            delay_ms: i64::MIN,
            ..tick()
        };
        for tick in [tick(), odd] {
            let bytes = tick.encode_as(Format::Protobuf);
            assert_eq!(
                bytes,
                ferroflow_v1::EnrichedStockTick::from(tick.clone()).encode_to_vec()
            );
            assert_eq!(bytes.len(), tick.protobuf_len());
        }
    }

    #[test]
    fn missing_required_fields_are_reported_in_field_order() {
        let message = ferroflow_v1::EnrichedStockTick {
            reference_known: None,
            delay_ms: None,
            ..tick().into()
        };
        let bytes = message.encode_to_vec();
        assert_eq!(
            EnrichedStockTick::decode_as(&bytes, Format::Protobuf, None),
            Err(DecodeError::MissingField {
                field: "reference_known"
            })
        );
        assert_eq!(
            EnrichedStockTick::decode_as(br#"{"ticker": "A"}"#, Format::Json, None),
            Err(DecodeError::MissingField {
                field: "timestamp_ms"
            })
        );
    }

    #[test]
    fn a_plain_stock_tick_is_not_an_enriched_one() {
        let raw = crate::StockTick {
            ticker: "STK_ONE".into(),
            timestamp_ms: 1,
            price: 2,
        };
        for format in [Format::Json, Format::Protobuf] {
            let err = EnrichedStockTick::decode_as(&raw.encode_as(format), format, None)
                .expect_err("not enriched");
            assert!(
                matches!(
                    err.kind(),
                    "missing_field" | "malformed_protobuf" | "malformed_json"
                ),
                "{format}: {err}"
            );
        }
    }
}
