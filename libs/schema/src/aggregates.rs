//! [`StockBar`] and [`LoginStats`]: the aggregator's windowed results, as
//! written to `stock-bars` and `login-stats`.
//!
//! Protobuf form: `ferroflow.v1.StockBar` / `ferroflow.v1.LoginStats`
//! (`proto/ferroflow/v1/aggregates.proto`), which also documents the record
//! keys. JSON form: the same field names; maps are JSON objects and
//! `top_locales` an array of `{"locale", "logins"}` objects.
//!
//! Aggregates are written once per window, not once per event, so unlike the
//! per-event records they are encoded with prost's generated code rather
//! than a hand-written encoder.

use std::collections::BTreeMap;

use prost::Message as _;
use serde::{Deserialize, Serialize};

use crate::proto::ferroflow_v1;
use crate::{DecodeError, Format, Record, json, wire};

/// Price bar of one ticker in one event-time window `[window_start_ms,
/// window_end_ms)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StockBar {
    /// Ticker symbol, e.g. `STK_ONE`.
    pub ticker: String,
    /// Window start, epoch milliseconds (UTC), inclusive.
    pub window_start_ms: i64,
    /// Window end, epoch milliseconds (UTC), exclusive.
    pub window_end_ms: i64,
    /// Price of the earliest tick by event time.
    pub open: i64,
    /// Highest price.
    pub high: i64,
    /// Lowest price.
    pub low: i64,
    /// Price of the latest tick by event time.
    pub close: i64,
    /// Number of ticks.
    pub count: u64,
    /// Arithmetic mean of the prices.
    pub mean_price: f64,
    /// Time-weighted average price (each price weighted by the time until the
    /// next tick, the last one until the window end).
    pub twap: f64,
    /// `(close - open) / open * 100`.
    pub change_percent: f64,
    /// Event time of the first tick, epoch milliseconds.
    pub first_event_ms: i64,
    /// Event time of the last tick, epoch milliseconds.
    pub last_event_ms: i64,
    /// `true` for the result emitted when the window closed, `false` for an
    /// early (updating) result.
    pub r#final: bool,
}

impl StockBar {
    /// The record key: `<ticker>@<window_start_ms>-<window_end_ms>`, one per
    /// window, so a compacted topic keeps the latest result of each.
    pub fn key(&self) -> String {
        format!(
            "{}@{}-{}",
            self.ticker, self.window_start_ms, self.window_end_ms
        )
    }
}

/// Login statistics of one event-time window `[window_start_ms,
/// window_end_ms)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoginStats {
    /// Window start, epoch milliseconds (UTC), inclusive.
    pub window_start_ms: i64,
    /// Window end, epoch milliseconds (UTC), exclusive.
    pub window_end_ms: i64,
    /// Number of logins.
    pub logins: u64,
    /// Logins per locale (ISO 3166-1 alpha-2).
    pub by_locale: BTreeMap<String, u64>,
    /// Logins per device type.
    pub by_device_type: BTreeMap<String, u64>,
    /// Logins per app version.
    pub by_app_version: BTreeMap<String, u64>,
    /// Distinct user ids, estimated with HyperLogLog.
    pub distinct_users_estimate: u64,
    /// The estimator's relative standard error.
    pub distinct_users_relative_error: f64,
    /// Logins on an app version behind the newest seen.
    pub outdated_logins: u64,
    /// `outdated_logins / logins` (0.0 to 1.0).
    pub outdated_share: f64,
    /// The 10 locales with the most logins, most first.
    pub top_locales: Vec<LocaleCount>,
    /// As in [`StockBar::final`].
    pub r#final: bool,
}

impl LoginStats {
    /// The record key: `<window_start_ms>-<window_end_ms>`.
    pub fn key(&self) -> String {
        format!("{}-{}", self.window_start_ms, self.window_end_ms)
    }
}

/// One entry of [`LoginStats::top_locales`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocaleCount {
    /// ISO 3166-1 alpha-2 code.
    pub locale: String,
    /// Logins from it.
    pub logins: u64,
}

fn required<T>(value: Option<T>, field: &'static str) -> Result<T, DecodeError> {
    value.ok_or(DecodeError::MissingField { field })
}

/// Decodes either form into the generated message, whose fields are all
/// optional, so the caller reports a missing field by name.
fn decode_message<M>(payload: &[u8], format: Format, name: &str) -> Result<M, DecodeError>
where
    M: prost::Message + Default + for<'de> Deserialize<'de>,
{
    if payload.is_empty() {
        return Err(DecodeError::EmptyPayload);
    }
    match format {
        Format::Json => json::decode::<M>(payload),
        Format::Protobuf => M::decode(payload).map_err(|err| wire::malformed(&err, name, &[])),
    }
}

impl TryFrom<ferroflow_v1::StockBar> for StockBar {
    type Error = DecodeError;

    /// Fails with [`DecodeError::MissingField`] for the first absent field.
    fn try_from(bar: ferroflow_v1::StockBar) -> Result<Self, DecodeError> {
        Ok(StockBar {
            ticker: required(bar.ticker, "ticker")?,
            window_start_ms: required(bar.window_start_ms, "window_start_ms")?,
            window_end_ms: required(bar.window_end_ms, "window_end_ms")?,
            open: required(bar.open, "open")?,
            high: required(bar.high, "high")?,
            low: required(bar.low, "low")?,
            close: required(bar.close, "close")?,
            count: required(bar.count, "count")?,
            mean_price: required(bar.mean_price, "mean_price")?,
            twap: required(bar.twap, "twap")?,
            change_percent: required(bar.change_percent, "change_percent")?,
            first_event_ms: required(bar.first_event_ms, "first_event_ms")?,
            last_event_ms: required(bar.last_event_ms, "last_event_ms")?,
            r#final: required(bar.r#final, "final")?,
        })
    }
}

impl From<&StockBar> for ferroflow_v1::StockBar {
    fn from(bar: &StockBar) -> Self {
        ferroflow_v1::StockBar {
            ticker: Some(bar.ticker.clone()),
            window_start_ms: Some(bar.window_start_ms),
            window_end_ms: Some(bar.window_end_ms),
            open: Some(bar.open),
            high: Some(bar.high),
            low: Some(bar.low),
            close: Some(bar.close),
            count: Some(bar.count),
            mean_price: Some(bar.mean_price),
            twap: Some(bar.twap),
            change_percent: Some(bar.change_percent),
            first_event_ms: Some(bar.first_event_ms),
            last_event_ms: Some(bar.last_event_ms),
            r#final: Some(bar.r#final),
        }
    }
}

impl Record for StockBar {
    const KIND: &'static str = "stock_bar";

    fn decode_as(payload: &[u8], format: Format, _key: Option<&[u8]>) -> Result<Self, DecodeError> {
        decode_message::<ferroflow_v1::StockBar>(payload, format, "StockBar")?.try_into()
    }

    fn encode_into(&self, format: Format, buf: &mut Vec<u8>) {
        match format {
            Format::Json => json::encode(self, buf),
            Format::Protobuf => {
                let message = ferroflow_v1::StockBar::from(self);
                buf.reserve(message.encoded_len());
                message.encode_raw(buf);
            }
        }
    }

    /// The window start.
    fn event_time_ms(&self) -> Option<i64> {
        Some(self.window_start_ms)
    }
}

impl TryFrom<ferroflow_v1::LoginStats> for LoginStats {
    type Error = DecodeError;

    /// Fails with [`DecodeError::MissingField`] for the first absent field.
    fn try_from(stats: ferroflow_v1::LoginStats) -> Result<Self, DecodeError> {
        let top_locales = stats
            .top_locales
            .into_iter()
            .map(|entry| {
                Ok(LocaleCount {
                    locale: required(entry.locale, "top_locales.locale")?,
                    logins: required(entry.logins, "top_locales.logins")?,
                })
            })
            .collect::<Result<_, DecodeError>>()?;
        Ok(LoginStats {
            window_start_ms: required(stats.window_start_ms, "window_start_ms")?,
            window_end_ms: required(stats.window_end_ms, "window_end_ms")?,
            logins: required(stats.logins, "logins")?,
            by_locale: stats.by_locale,
            by_device_type: stats.by_device_type,
            by_app_version: stats.by_app_version,
            distinct_users_estimate: required(
                stats.distinct_users_estimate,
                "distinct_users_estimate",
            )?,
            distinct_users_relative_error: required(
                stats.distinct_users_relative_error,
                "distinct_users_relative_error",
            )?,
            outdated_logins: required(stats.outdated_logins, "outdated_logins")?,
            outdated_share: required(stats.outdated_share, "outdated_share")?,
            top_locales,
            r#final: required(stats.r#final, "final")?,
        })
    }
}

impl From<&LoginStats> for ferroflow_v1::LoginStats {
    fn from(stats: &LoginStats) -> Self {
        ferroflow_v1::LoginStats {
            window_start_ms: Some(stats.window_start_ms),
            window_end_ms: Some(stats.window_end_ms),
            logins: Some(stats.logins),
            by_locale: stats.by_locale.clone(),
            by_device_type: stats.by_device_type.clone(),
            by_app_version: stats.by_app_version.clone(),
            distinct_users_estimate: Some(stats.distinct_users_estimate),
            distinct_users_relative_error: Some(stats.distinct_users_relative_error),
            outdated_logins: Some(stats.outdated_logins),
            outdated_share: Some(stats.outdated_share),
            top_locales: stats
                .top_locales
                .iter()
                .map(|entry| ferroflow_v1::LocaleCount {
                    locale: Some(entry.locale.clone()),
                    logins: Some(entry.logins),
                })
                .collect(),
            r#final: Some(stats.r#final),
        }
    }
}

impl Record for LoginStats {
    const KIND: &'static str = "login_stats";

    fn decode_as(payload: &[u8], format: Format, _key: Option<&[u8]>) -> Result<Self, DecodeError> {
        decode_message::<ferroflow_v1::LoginStats>(payload, format, "LoginStats")?.try_into()
    }

    fn encode_into(&self, format: Format, buf: &mut Vec<u8>) {
        match format {
            Format::Json => json::encode(self, buf),
            Format::Protobuf => {
                let message = ferroflow_v1::LoginStats::from(self);
                buf.reserve(message.encoded_len());
                message.encode_raw(buf);
            }
        }
    }

    /// The window start.
    fn event_time_ms(&self) -> Option<i64> {
        Some(self.window_start_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar() -> StockBar {
        StockBar {
            ticker: "STK_ONE".into(),
            window_start_ms: 60_000,
            window_end_ms: 120_000,
            open: 10,
            high: 14,
            low: 9,
            close: 12,
            count: 4,
            mean_price: 11.25,
            twap: 11.5,
            change_percent: 20.0,
            first_event_ms: 60_010,
            last_event_ms: 119_000,
            r#final: true,
        }
    }

    fn stats() -> LoginStats {
        LoginStats {
            window_start_ms: 0,
            window_end_ms: 60_000,
            logins: 3,
            by_locale: BTreeMap::from([("RU".into(), 2), ("DE".into(), 1)]),
            by_device_type: BTreeMap::from([("android".into(), 3)]),
            by_app_version: BTreeMap::from([("2.3.0".into(), 1), ("2.4.0".into(), 2)]),
            distinct_users_estimate: 2,
            distinct_users_relative_error: 0.008_125,
            outdated_logins: 1,
            outdated_share: 1.0 / 3.0,
            top_locales: vec![
                LocaleCount {
                    locale: "RU".into(),
                    logins: 2,
                },
                LocaleCount {
                    locale: "DE".into(),
                    logins: 1,
                },
            ],
            r#final: false,
        }
    }

    #[test]
    fn both_forms_round_trip() {
        for format in [Format::Json, Format::Protobuf] {
            let bytes = bar().encode_as(format);
            assert_eq!(StockBar::decode_as(&bytes, format, None), Ok(bar()));
            let bytes = stats().encode_as(format);
            assert_eq!(LoginStats::decode_as(&bytes, format, None), Ok(stats()));
        }
    }

    #[test]
    fn json_form_uses_the_proto_field_names() {
        let json = String::from_utf8(bar().encode_as(Format::Json)).expect("UTF-8");
        assert!(json.contains(r#""window_start_ms":60000"#), "{json}");
        assert!(json.contains(r#""final":true"#), "{json}");
        let json = String::from_utf8(stats().encode_as(Format::Json)).expect("UTF-8");
        assert!(json.contains(r#""by_locale":{"DE":1,"RU":2}"#), "{json}");
        assert!(
            json.contains(r#""top_locales":[{"locale":"RU","logins":2}"#),
            "{json}"
        );
    }

    #[test]
    fn missing_fields_are_named() {
        let message = ferroflow_v1::StockBar {
            twap: None,
            ..(&bar()).into()
        };
        assert_eq!(
            StockBar::decode_as(&message.encode_to_vec(), Format::Protobuf, None),
            Err(DecodeError::MissingField { field: "twap" })
        );
        assert_eq!(
            LoginStats::decode_as(br#"{"window_start_ms": 0}"#, Format::Json, None),
            Err(DecodeError::MissingField {
                field: "window_end_ms"
            })
        );
    }

    #[test]
    fn keys_name_the_window() {
        assert_eq!(bar().key(), "STK_ONE@60000-120000");
        assert_eq!(stats().key(), "0-60000");
    }
}
