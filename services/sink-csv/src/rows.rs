//! From a Kafka record to a CSV row: which record types sink-csv knows and their columns.

use ferroflow_schema::{
    DecodeError, EnrichedStockTick, EnrichedUserLogin, StockTick, UserLogin, decode,
};
use std::time::{Duration, UNIX_EPOCH};

/// Columns every file starts with: where the record came from and its event time.
const META: [&str; 4] = ["topic", "partition", "offset", "event_time"];
/// Columns every file ends with: the producer's identity and sequence number, empty when
/// the record did not carry them.
const PROVENANCE: [&str; 2] = ["producer_id", "sequence"];

/// A record type sink-csv can write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordKind {
    /// `stockfeed.StockUpdate` / stock-tick JSON.
    StockTick,
    /// `ferroflow.v1.UserLogin` / login JSON.
    UserLogin,
    /// `ferroflow.v1.EnrichedStockTick`, written by the enricher.
    EnrichedStockTick,
    /// `ferroflow.v1.EnrichedUserLogin`, written by the enricher.
    EnrichedUserLogin,
}

/// Where a record came from.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    /// Topic.
    pub topic: &'a str,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// `ff-producer-id` header.
    pub producer_id: Option<&'a str>,
    /// `ff-seq` header.
    pub sequence: Option<&'a str>,
}

impl RecordKind {
    /// Stream names (keys of `[topics]`) sink-csv can write.
    pub const STREAMS: [&'static str; 4] = [
        "stock_ticks",
        "user_login",
        "stock_ticks_enriched",
        "user_login_enriched",
    ];

    /// The record type of a stream.
    pub fn for_stream(stream: &str) -> Option<RecordKind> {
        match stream {
            "stock_ticks" => Some(RecordKind::StockTick),
            "user_login" => Some(RecordKind::UserLogin),
            "stock_ticks_enriched" => Some(RecordKind::EnrichedStockTick),
            "user_login_enriched" => Some(RecordKind::EnrichedUserLogin),
            _ => None,
        }
    }

    /// The header row.
    pub fn header(self) -> Vec<&'static str> {
        let fields: &[&str] = match self {
            RecordKind::StockTick => &["ticker", "timestamp", "price"],
            RecordKind::UserLogin => &[
                "user_id",
                "app_version",
                "device_type",
                "ip",
                "locale",
                "device_id",
                "timestamp",
            ],
            RecordKind::EnrichedStockTick => &[
                "ticker",
                "timestamp",
                "price",
                "name",
                "exchange",
                "currency",
                "reference_known",
                "change",
                "change_percent",
                "processing_time_ms",
                "delay_ms",
            ],
            RecordKind::EnrichedUserLogin => &[
                "user_id",
                "app_version",
                "device_type",
                "ip",
                "locale",
                "device_id",
                "timestamp",
                "version_major",
                "version_minor",
                "version_patch",
                "version_outdated",
                "ip_version",
                "ip_private",
                "ip_anonymized",
                "country",
            ],
        };
        META.iter()
            .chain(fields)
            .chain(PROVENANCE.iter())
            .copied()
            .collect()
    }

    /// Decodes `payload` and writes its row, or says why it cannot.
    pub fn write_row<W: std::io::Write>(
        self,
        out: &mut csv::Writer<W>,
        origin: Origin<'_>,
        key: Option<&[u8]>,
        payload: Option<&[u8]>,
        content_type: Option<&[u8]>,
    ) -> Result<(), RowError> {
        let partition = origin.partition.to_string();
        let offset = origin.offset.to_string();
        match self {
            RecordKind::StockTick => {
                let tick: StockTick = decode(payload, content_type, key)?;
                let event_time = rfc3339_millis(tick.timestamp_ms);
                let timestamp = tick.timestamp_ms.to_string();
                let price = tick.price.to_string();
                out.write_record([
                    origin.topic,
                    &partition,
                    &offset,
                    &event_time,
                    &tick.ticker,
                    &timestamp,
                    &price,
                    origin.producer_id.unwrap_or_default(),
                    origin.sequence.unwrap_or_default(),
                ])?;
            }
            RecordKind::UserLogin => {
                let login: UserLogin = decode(payload, content_type, key)?;
                let event_time = login
                    .timestamp_seconds()
                    .and_then(|s| s.checked_mul(1000))
                    .map(rfc3339_millis)
                    .unwrap_or_default();
                out.write_record([
                    origin.topic,
                    &partition,
                    &offset,
                    &event_time,
                    &login.user_id,
                    &login.app_version,
                    &login.device_type,
                    &login.ip,
                    &login.locale,
                    &login.device_id,
                    &login.timestamp,
                    origin.producer_id.unwrap_or_default(),
                    origin.sequence.unwrap_or_default(),
                ])?;
            }
            RecordKind::EnrichedStockTick => {
                let t: EnrichedStockTick = decode(payload, content_type, key)?;
                out.write_record([
                    origin.topic,
                    &partition,
                    &offset,
                    &rfc3339_millis(t.timestamp_ms),
                    &t.ticker,
                    &t.timestamp_ms.to_string(),
                    &t.price.to_string(),
                    &t.name,
                    &t.exchange,
                    &t.currency,
                    &t.reference_known.to_string(),
                    &t.change.map(|c| c.to_string()).unwrap_or_default(),
                    &t.change_percent
                        .map(|c| format!("{c:.4}"))
                        .unwrap_or_default(),
                    &t.processing_time_ms.to_string(),
                    &t.delay_ms.to_string(),
                    origin.producer_id.unwrap_or_default(),
                    origin.sequence.unwrap_or_default(),
                ])?;
            }
            RecordKind::EnrichedUserLogin => {
                let l: EnrichedUserLogin = decode(payload, content_type, key)?;
                out.write_record([
                    origin.topic,
                    &partition,
                    &offset,
                    &l.event_time_rfc3339,
                    &l.user_id,
                    &l.app_version,
                    &l.device_type,
                    &l.ip,
                    &l.locale,
                    &l.device_id,
                    &l.timestamp_seconds.to_string(),
                    &l.version_major.to_string(),
                    &l.version_minor.to_string(),
                    &l.version_patch.to_string(),
                    &l.version_outdated.to_string(),
                    &l.ip_version.to_string(),
                    &l.ip_private.to_string(),
                    &l.ip_anonymized,
                    &l.country,
                    origin.producer_id.unwrap_or_default(),
                    origin.sequence.unwrap_or_default(),
                ])?;
            }
        }
        Ok(())
    }
}

/// Why a record has no row.
#[derive(Debug, thiserror::Error)]
pub enum RowError {
    /// It could not be decoded: a dead letter.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// Writing to the in-memory buffer failed (only on a bug or out of memory).
    #[error("cannot format CSV row: {0}")]
    Csv(#[from] csv::Error),
}

/// Epoch milliseconds as RFC 3339 UTC (`2023-09-12T00:45:51.000Z`); empty if out of range.
pub fn rfc3339_millis(ms: i64) -> String {
    // Beyond year 9999 RFC 3339 has no form; humantime would panic, so check first.
    const MAX_MS: i64 = 253_402_300_799_999;
    if !(0..=MAX_MS).contains(&ms) {
        return String::new();
    }
    humantime::format_rfc3339_millis(UNIX_EPOCH + Duration::from_millis(ms as u64)).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin() -> Origin<'static> {
        Origin {
            topic: "stock-ticks",
            partition: 2,
            offset: 41,
            producer_id: Some("gen-1/stock-ticks"),
            sequence: Some("7"),
        }
    }

    fn row(kind: RecordKind, payload: &[u8], key: Option<&[u8]>) -> Result<String, RowError> {
        let mut out = csv::Writer::from_writer(Vec::new());
        kind.write_row(&mut out, origin(), key, Some(payload), None)?;
        Ok(String::from_utf8(out.into_inner().unwrap()).unwrap())
    }

    #[test]
    fn stock_tick_row_has_origin_fields_event_time_and_provenance() {
        let text = row(
            RecordKind::StockTick,
            br#"{"ticker":"STK_ONE","timestamp":1694479551123,"price":1234}"#,
            None,
        )
        .unwrap();
        assert_eq!(
            text,
            "stock-ticks,2,41,2023-09-12T00:45:51.123Z,STK_ONE,1694479551123,1234,gen-1/stock-ticks,7\n"
        );
        assert_eq!(RecordKind::StockTick.header().len(), 9);
    }

    #[test]
    fn login_row_keeps_every_field_as_sent() {
        let text = row(
            RecordKind::UserLogin,
            br#"{"user_id": "424cdd21-063a-43a7-b91b-7ca1a833afae", "app_version": "2.3.0", "device_type": "android", "ip": "199.172.111.135", "locale": "RU", "device_id": "593-47-5928", "timestamp": "1694479551"}"#,
            None,
        )
        .unwrap();
        assert_eq!(
            text,
            "stock-ticks,2,41,2023-09-12T00:45:51.000Z,424cdd21-063a-43a7-b91b-7ca1a833afae,2.3.0,android,199.172.111.135,RU,593-47-5928,1694479551,gen-1/stock-ticks,7\n"
        );
    }

    #[test]
    fn fields_with_commas_and_quotes_are_quoted() {
        let text = row(
            RecordKind::StockTick,
            br#"{"ticker":"A,\"B","timestamp":1,"price":1}"#,
            None,
        )
        .unwrap();
        assert!(text.contains(r#""A,""B""#), "{text}");
    }

    #[test]
    fn undecodable_record_is_an_error_naming_the_field() {
        let err = row(
            RecordKind::StockTick,
            br#"{"ticker":"STK_ONE","timestamp":1}"#,
            None,
        )
        .unwrap_err();
        match err {
            RowError::Decode(e) => {
                assert_eq!((e.kind(), e.field()), ("missing_field", Some("price")))
            }
            other => panic!("{other}"),
        }
    }

    #[test]
    fn event_time_out_of_range_is_empty_not_a_panic() {
        assert_eq!(rfc3339_millis(-1), "");
        assert_eq!(rfc3339_millis(i64::MAX), "");
        assert_eq!(rfc3339_millis(0), "1970-01-01T00:00:00.000Z");
    }
}
