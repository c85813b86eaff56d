//! What a Kafka record becomes in the database: the streams sink-db reads, their decoded
//! rows, and each table's columns in the order rows bind them.

use chrono::{DateTime, Utc};
use ferroflow_runtime::kafka::headers;
use ferroflow_schema::{EnrichedStockTick, EnrichedUserLogin, LoginStats, StockBar, decode};
use rdkafka::Message;

/// A stream sink-db can write, by its key in `[topics]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    /// `stock-ticks-enriched` → `stock_ticks`.
    StockTicksEnriched,
    /// `user-login-enriched` → `user_logins`.
    UserLoginEnriched,
    /// `stock-bars` → `stock_bars`.
    StockBars,
    /// `login-stats` → `login_stats` and `login_stats_breakdown`.
    LoginStats,
}

impl Stream {
    /// Every stream, in the order of the default `sink_db.streams`.
    pub const ALL: [Stream; 4] = [
        Stream::StockTicksEnriched,
        Stream::UserLoginEnriched,
        Stream::StockBars,
        Stream::LoginStats,
    ];

    /// The stream's key in `[topics]`.
    pub fn name(self) -> &'static str {
        match self {
            Stream::StockTicksEnriched => "stock_ticks_enriched",
            Stream::UserLoginEnriched => "user_login_enriched",
            Stream::StockBars => "stock_bars",
            Stream::LoginStats => "login_stats",
        }
    }

    /// The stream called `name` in `[topics]`.
    pub fn by_name(name: &str) -> Option<Stream> {
        Stream::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Decodes a record of this stream into its row, or says why it cannot be written.
    pub fn decode<M: Message>(self, message: &M) -> Result<Row, Rejection> {
        let content_type = header(message, headers::CONTENT_TYPE);
        let (payload, key) = (message.payload(), message.key());
        match self {
            Stream::StockTicksEnriched => {
                let tick: EnrichedStockTick = decode(payload, content_type, key)?;
                Ok(Row::Tick(TickRow {
                    event_time: time("timestamp_ms", tick.timestamp_ms)?,
                    processing_time: time("processing_time_ms", tick.processing_time_ms)?,
                    provenance: Provenance::of(message),
                    tick,
                }))
            }
            Stream::UserLoginEnriched => {
                let login: EnrichedUserLogin = decode(payload, content_type, key)?;
                let event_time = login
                    .timestamp_seconds
                    .checked_mul(1000)
                    .ok_or_else(|| out_of_range("timestamp_seconds", login.timestamp_seconds))?;
                Ok(Row::Login(LoginRow {
                    event_time: time("timestamp_seconds", event_time)?,
                    version: [
                        bigint("version_major", login.version_major)?,
                        bigint("version_minor", login.version_minor)?,
                        bigint("version_patch", login.version_patch)?,
                    ],
                    provenance: Provenance::of(message),
                    login,
                }))
            }
            Stream::StockBars => {
                let bar: StockBar = decode(payload, content_type, key)?;
                Ok(Row::Bar(BarRow {
                    window_start: time("window_start_ms", bar.window_start_ms)?,
                    window_end: time("window_end_ms", bar.window_end_ms)?,
                    first_event: time("first_event_ms", bar.first_event_ms)?,
                    last_event: time("last_event_ms", bar.last_event_ms)?,
                    count: bigint("count", bar.count)?,
                    bar,
                }))
            }
            Stream::LoginStats => {
                let stats: LoginStats = decode(payload, content_type, key)?;
                let mut breakdown = Vec::new();
                for (dimension, counts) in [
                    ("locale", &stats.by_locale),
                    ("device_type", &stats.by_device_type),
                    ("app_version", &stats.by_app_version),
                ] {
                    for (value, logins) in counts {
                        breakdown.push((dimension, value.clone(), bigint(dimension, *logins)?));
                    }
                }
                Ok(Row::Stats(StatsRow {
                    window_start: time("window_start_ms", stats.window_start_ms)?,
                    window_end: time("window_end_ms", stats.window_end_ms)?,
                    numbers: [
                        bigint("logins", stats.logins)?,
                        bigint("distinct_users_estimate", stats.distinct_users_estimate)?,
                        bigint("outdated_logins", stats.outdated_logins)?,
                    ],
                    breakdown,
                    stats,
                }))
            }
        }
    }
}

/// Why a record is not written: it goes to `dead-letters` with this reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// Stable reason code (`ff-dlq-error-kind`): a decode error's kind, `out_of_range`, or
    /// `rejected_by_database`.
    pub kind: &'static str,
    /// The reason in words, naming the field or the database's constraint.
    pub message: String,
}

impl Rejection {
    /// Reason code of a record the database refused (a constraint, a value out of range).
    pub const BY_DATABASE: &'static str = "rejected_by_database";
    /// Reason code of a value the database column cannot hold.
    pub const OUT_OF_RANGE: &'static str = "out_of_range";
}

impl From<ferroflow_schema::DecodeError> for Rejection {
    fn from(error: ferroflow_schema::DecodeError) -> Self {
        Rejection {
            kind: error.kind(),
            message: error.to_string(),
        }
    }
}

fn out_of_range(field: &str, value: impl std::fmt::Display) -> Rejection {
    Rejection {
        kind: Rejection::OUT_OF_RANGE,
        message: format!("`{field}` {value}: out of range for the database"),
    }
}

fn time(field: &str, epoch_ms: i64) -> Result<DateTime<Utc>, Rejection> {
    DateTime::from_timestamp_millis(epoch_ms).ok_or_else(|| out_of_range(field, epoch_ms))
}

fn bigint(field: &str, value: u64) -> Result<i64, Rejection> {
    i64::try_from(value).map_err(|_| out_of_range(field, value))
}

/// Who produced the record and its place in that producer's sequence (`ff-producer-id`,
/// `ff-seq`), when the record carries them: what proves that nothing was lost or doubled.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Provenance {
    /// `ff-producer-id`.
    pub producer_id: Option<String>,
    /// `ff-seq`.
    pub seq: Option<i64>,
}

impl Provenance {
    fn of<M: Message>(message: &M) -> Self {
        Provenance {
            producer_id: header_str(message, headers::PRODUCER_ID).map(String::from),
            seq: header_str(message, headers::SEQUENCE).and_then(|s| s.parse().ok()),
        }
    }
}

/// The value of header `name` of any message, consumed or detached.
fn header<'a, M: Message>(message: &'a M, name: &str) -> Option<&'a [u8]> {
    use rdkafka::message::Headers;
    message
        .headers()?
        .iter()
        .find(|h| h.key == name)
        .and_then(|h| h.value)
}

fn header_str<'a, M: Message>(message: &'a M, name: &str) -> Option<&'a str> {
    header(message, name).and_then(|v| std::str::from_utf8(v).ok())
}

/// A decoded record, ready to bind.
#[derive(Debug, Clone)]
pub enum Row {
    /// A row of `stock_ticks`.
    Tick(TickRow),
    /// A row of `user_logins`.
    Login(LoginRow),
    /// A row of `stock_bars`.
    Bar(BarRow),
    /// A row of `login_stats` and its `login_stats_breakdown` rows.
    Stats(StatsRow),
}

/// An enriched tick with its times converted.
#[derive(Debug, Clone)]
pub struct TickRow {
    /// The record.
    pub tick: EnrichedStockTick,
    /// `timestamp_ms`.
    pub event_time: DateTime<Utc>,
    /// `processing_time_ms`.
    pub processing_time: DateTime<Utc>,
    /// Producer and sequence number.
    pub provenance: Provenance,
}

/// An enriched login with its time and version numbers converted.
#[derive(Debug, Clone)]
pub struct LoginRow {
    /// The record.
    pub login: EnrichedUserLogin,
    /// `timestamp_seconds`.
    pub event_time: DateTime<Utc>,
    /// Major, minor, patch as bigint.
    pub version: [i64; 3],
    /// Producer and sequence number.
    pub provenance: Provenance,
}

/// A price bar with its times converted.
#[derive(Debug, Clone)]
pub struct BarRow {
    /// The record.
    pub bar: StockBar,
    /// `window_start_ms`.
    pub window_start: DateTime<Utc>,
    /// `window_end_ms`.
    pub window_end: DateTime<Utc>,
    /// `first_event_ms`.
    pub first_event: DateTime<Utc>,
    /// `last_event_ms`.
    pub last_event: DateTime<Utc>,
    /// `count` as bigint.
    pub count: i64,
}

impl BarRow {
    /// The natural key: one row per ticker and window.
    pub fn key(&self) -> (&str, i64, i64) {
        (
            &self.bar.ticker,
            self.bar.window_start_ms,
            self.bar.window_end_ms,
        )
    }
}

/// Login statistics with their times converted and their breakdown flattened.
#[derive(Debug, Clone)]
pub struct StatsRow {
    /// The record.
    pub stats: LoginStats,
    /// `window_start_ms`.
    pub window_start: DateTime<Utc>,
    /// `window_end_ms`.
    pub window_end: DateTime<Utc>,
    /// `logins`, `distinct_users_estimate`, `outdated_logins` as bigint.
    pub numbers: [i64; 3],
    /// (dimension, value, logins) rows of `login_stats_breakdown`.
    pub breakdown: Vec<(&'static str, String, i64)>,
}

/// One bound value. Text borrows from the row, so binding copies nothing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    /// bigint / integer.
    Int(i64),
    /// Nullable bigint.
    OptInt(Option<i64>),
    /// double precision.
    Float(f64),
    /// Nullable double precision.
    OptFloat(Option<f64>),
    /// text.
    Text(&'a str),
    /// Nullable text.
    OptText(Option<&'a str>),
    /// boolean.
    Bool(bool),
    /// timestamptz (PostgreSQL) or ISO 8601 text (SQLite).
    Time(DateTime<Utc>),
}

/// Where a record came from in Kafka: the key of `stock_ticks` and `user_logins`.
#[derive(Debug, Clone, Copy)]
pub struct Coordinates<'a> {
    /// Topic.
    pub topic: &'a str,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
}

/// A table written with multi-row inserts.
#[derive(Debug)]
pub struct Table {
    /// Table name.
    pub name: &'static str,
    /// Columns in binding order.
    pub columns: &'static [&'static str],
    /// What a row whose key is already present does.
    pub on_conflict: &'static str,
}

/// `stock_ticks`: a replayed record changes nothing.
pub const STOCK_TICKS: Table = Table {
    name: "stock_ticks",
    columns: &[
        "kafka_topic",
        "kafka_partition",
        "kafka_offset",
        "ticker",
        "event_time",
        "price",
        "name",
        "exchange",
        "currency",
        "reference_known",
        "change",
        "change_percent",
        "processing_time",
        "delay_ms",
        "producer_id",
        "seq",
    ],
    on_conflict: "ON CONFLICT (kafka_topic, kafka_partition, kafka_offset) DO NOTHING",
};

/// `user_logins`: a replayed record changes nothing.
pub const USER_LOGINS: Table = Table {
    name: "user_logins",
    columns: &[
        "kafka_topic",
        "kafka_partition",
        "kafka_offset",
        "user_id",
        "event_time",
        "locale",
        "country",
        "device_type",
        "device_id",
        "app_version",
        "version_major",
        "version_minor",
        "version_patch",
        "version_outdated",
        "ip_version",
        "ip_private",
        "ip_anonymized",
        "producer_id",
        "seq",
    ],
    on_conflict: "ON CONFLICT (kafka_topic, kafka_partition, kafka_offset) DO NOTHING",
};

/// `stock_bars`: a later result of a window replaces the row, except that an early
/// result never replaces a final one.
pub const STOCK_BARS: Table = Table {
    name: "stock_bars",
    columns: &[
        "ticker",
        "window_start",
        "window_end",
        "open",
        "high",
        "low",
        "close",
        "count",
        "mean_price",
        "twap",
        "change_percent",
        "first_event",
        "last_event",
        "final",
        "kafka_topic",
        "kafka_partition",
        "kafka_offset",
        "updated_at",
    ],
    on_conflict: "ON CONFLICT (ticker, window_start, window_end) DO UPDATE SET \
        open = excluded.open, high = excluded.high, low = excluded.low, \
        close = excluded.close, count = excluded.count, mean_price = excluded.mean_price, \
        twap = excluded.twap, change_percent = excluded.change_percent, \
        first_event = excluded.first_event, last_event = excluded.last_event, \
        final = excluded.final, kafka_topic = excluded.kafka_topic, \
        kafka_partition = excluded.kafka_partition, kafka_offset = excluded.kafka_offset, \
        updated_at = excluded.updated_at \
        WHERE NOT stock_bars.final OR excluded.final",
};

/// `login_stats`, replaced like the bars; written one record at a time (with its
/// breakdown), and returning the key when the row changed.
pub const LOGIN_STATS: Table = Table {
    name: "login_stats",
    columns: &[
        "window_start",
        "window_end",
        "logins",
        "distinct_users_estimate",
        "distinct_users_relative_error",
        "outdated_logins",
        "outdated_share",
        "final",
        "kafka_topic",
        "kafka_partition",
        "kafka_offset",
        "updated_at",
    ],
    on_conflict: "ON CONFLICT (window_start, window_end) DO UPDATE SET \
        logins = excluded.logins, distinct_users_estimate = excluded.distinct_users_estimate, \
        distinct_users_relative_error = excluded.distinct_users_relative_error, \
        outdated_logins = excluded.outdated_logins, outdated_share = excluded.outdated_share, \
        final = excluded.final, kafka_topic = excluded.kafka_topic, \
        kafka_partition = excluded.kafka_partition, kafka_offset = excluded.kafka_offset, \
        updated_at = excluded.updated_at \
        WHERE NOT login_stats.final OR excluded.final \
        RETURNING kafka_offset",
};

/// `login_stats_breakdown`: the rows of a window are deleted and written again whenever
/// its `login_stats` row changes.
pub const LOGIN_STATS_BREAKDOWN: Table = Table {
    name: "login_stats_breakdown",
    columns: &["window_start", "window_end", "dimension", "value", "logins"],
    on_conflict: "",
};

impl TickRow {
    /// Values in [`STOCK_TICKS`] column order.
    pub fn values<'a>(&'a self, at: Coordinates<'a>, out: &mut Vec<Value<'a>>) {
        let t = &self.tick;
        out.extend([
            Value::Text(at.topic),
            Value::Int(at.partition.into()),
            Value::Int(at.offset),
            Value::Text(&t.ticker),
            Value::Time(self.event_time),
            Value::Int(t.price.into()),
            Value::Text(&t.name),
            Value::Text(&t.exchange),
            Value::Text(&t.currency),
            Value::Bool(t.reference_known),
            Value::OptInt(t.change),
            Value::OptFloat(t.change_percent),
            Value::Time(self.processing_time),
            Value::Int(t.delay_ms),
            Value::OptText(self.provenance.producer_id.as_deref()),
            Value::OptInt(self.provenance.seq),
        ]);
    }
}

impl LoginRow {
    /// Values in [`USER_LOGINS`] column order.
    pub fn values<'a>(&'a self, at: Coordinates<'a>, out: &mut Vec<Value<'a>>) {
        let l = &self.login;
        out.extend([
            Value::Text(at.topic),
            Value::Int(at.partition.into()),
            Value::Int(at.offset),
            Value::Text(&l.user_id),
            Value::Time(self.event_time),
            Value::Text(&l.locale),
            Value::Text(&l.country),
            Value::Text(&l.device_type),
            Value::Text(&l.device_id),
            Value::Text(&l.app_version),
            Value::Int(self.version[0]),
            Value::Int(self.version[1]),
            Value::Int(self.version[2]),
            Value::Bool(l.version_outdated),
            Value::Int(l.ip_version.into()),
            Value::Bool(l.ip_private),
            Value::Text(&l.ip_anonymized),
            Value::OptText(self.provenance.producer_id.as_deref()),
            Value::OptInt(self.provenance.seq),
        ]);
    }
}

impl BarRow {
    /// Values in [`STOCK_BARS`] column order.
    pub fn values<'a>(&'a self, at: Coordinates<'a>, now: DateTime<Utc>, out: &mut Vec<Value<'a>>) {
        let b = &self.bar;
        out.extend([
            Value::Text(&b.ticker),
            Value::Time(self.window_start),
            Value::Time(self.window_end),
            Value::Int(b.open),
            Value::Int(b.high),
            Value::Int(b.low),
            Value::Int(b.close),
            Value::Int(self.count),
            Value::Float(b.mean_price),
            Value::Float(b.twap),
            Value::Float(b.change_percent),
            Value::Time(self.first_event),
            Value::Time(self.last_event),
            Value::Bool(b.r#final),
            Value::Text(at.topic),
            Value::Int(at.partition.into()),
            Value::Int(at.offset),
            Value::Time(now),
        ]);
    }
}

impl StatsRow {
    /// Values in [`LOGIN_STATS`] column order.
    pub fn values<'a>(&'a self, at: Coordinates<'a>, now: DateTime<Utc>, out: &mut Vec<Value<'a>>) {
        let s = &self.stats;
        out.extend([
            Value::Time(self.window_start),
            Value::Time(self.window_end),
            Value::Int(self.numbers[0]),
            Value::Int(self.numbers[1]),
            Value::Float(s.distinct_users_relative_error),
            Value::Int(self.numbers[2]),
            Value::Float(s.outdated_share),
            Value::Bool(s.r#final),
            Value::Text(at.topic),
            Value::Int(at.partition.into()),
            Value::Int(at.offset),
            Value::Time(now),
        ]);
    }

    /// Values of its [`LOGIN_STATS_BREAKDOWN`] rows, in column order.
    pub fn breakdown_values<'a>(
        &'a self,
        rows: &'a [(&'static str, String, i64)],
    ) -> Vec<Value<'a>> {
        let mut out = Vec::with_capacity(rows.len() * 5);
        for (dimension, value, logins) in rows {
            out.extend([
                Value::Time(self.window_start),
                Value::Time(self.window_end),
                Value::Text(dimension),
                Value::Text(value),
                Value::Int(*logins),
            ]);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferroflow_schema::{Format, Record};
    use rdkafka::Timestamp;
    use rdkafka::message::OwnedMessage;

    fn message(payload: Vec<u8>) -> OwnedMessage {
        let headers = headers::with(
            headers::with(
                rdkafka::message::OwnedHeaders::new(),
                headers::SEQUENCE,
                "7",
            ),
            headers::PRODUCER_ID,
            "gen-1/t",
        );
        OwnedMessage::new(
            Some(payload),
            None,
            "t".into(),
            Timestamp::NotAvailable,
            0,
            0,
            Some(headers),
        )
    }

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

    #[test]
    fn every_table_binds_as_many_values_as_it_has_columns() {
        let at = Coordinates {
            topic: "t",
            partition: 1,
            offset: 2,
        };
        let Ok(Row::Bar(row)) =
            Stream::StockBars.decode(&message(bar().encode_as(Format::Protobuf)))
        else {
            panic!("bar decodes")
        };
        let mut values = Vec::new();
        row.values(at, Utc::now(), &mut values);
        assert_eq!(values.len(), STOCK_BARS.columns.len());
    }

    #[test]
    fn provenance_comes_from_the_headers() {
        let tick = EnrichedStockTick {
            ticker: "STK_ONE".into(),
            timestamp_ms: 1_694_479_551_000,
            price: 42,
            name: String::new(),
            exchange: String::new(),
            currency: String::new(),
            reference_known: false,
            change: None,
            change_percent: None,
            processing_time_ms: 1_694_479_551_100,
            delay_ms: 100,
        };
        let Ok(Row::Tick(row)) =
            Stream::StockTicksEnriched.decode(&message(tick.encode_as(Format::Json)))
        else {
            panic!("tick decodes")
        };
        assert_eq!(row.provenance.seq, Some(7));
        assert_eq!(row.provenance.producer_id.as_deref(), Some("gen-1/t"));
        let mut values = Vec::new();
        row.values(
            Coordinates {
                topic: "t",
                partition: 0,
                offset: 0,
            },
            &mut values,
        );
        assert_eq!(values.len(), STOCK_TICKS.columns.len());
    }

    #[test]
    fn a_count_beyond_bigint_is_rejected_as_out_of_range_naming_the_field() {
        let huge = StockBar {
            count: u64::MAX,
            ..bar()
        };
        let err = Stream::StockBars
            .decode(&message(huge.encode_as(Format::Protobuf)))
            .unwrap_err();
        assert_eq!(err.kind, Rejection::OUT_OF_RANGE);
        assert!(err.message.contains("`count`"), "{}", err.message);
    }

    #[test]
    fn undecodable_payloads_are_rejected_with_the_decoder_reason() {
        let err = Stream::LoginStats
            .decode(&message(b"{not json".to_vec()))
            .unwrap_err();
        assert!(err.kind.starts_with("malformed_"), "{}", err.kind);
    }
}
