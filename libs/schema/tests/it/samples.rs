//! The sample records from the data contracts decode to the right fields.

use ferroflow_schema::{Format, Record, StockTick, UserLogin, decode};

const LOGIN_JSON: &str = r#"{"user_id": "424cdd21-063a-43a7-b91b-7ca1a833afae", "app_version": "2.3.0", "device_type": "android", "ip": "199.172.111.135", "locale": "RU", "device_id": "593-47-5928", "timestamp": "1694479551"}"#;

const TICK_JSON: &str = r#"{"ticker": "STK_ONE", "timestamp": 1694479551000, "price": 42}"#;

/// Appends `value` as a protobuf varint.
pub fn varint(mut value: u64, out: &mut Vec<u8>) {
    while value >= 0x80 {
        out.push((value & 0x7F) as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// A `StockUpdate` as the published (ticker-less) schema writes it:
/// field 1 varint timestamp, field 3 varint price, no field 2.
pub fn published_stock_update(timestamp: i64, price: i32) -> Vec<u8> {
    let mut bytes = vec![0x08];
    varint(timestamp as u64, &mut bytes);
    bytes.push(0x18);
    varint(i64::from(price) as u64, &mut bytes);
    bytes
}

#[test]
fn sample_login_json_decodes_to_its_fields() {
    let login: UserLogin = decode(Some(LOGIN_JSON.as_bytes()), None, None).expect("sample decodes");
    assert_eq!(
        login,
        UserLogin {
            user_id: "424cdd21-063a-43a7-b91b-7ca1a833afae".into(),
            app_version: "2.3.0".into(),
            device_type: "android".into(),
            ip: "199.172.111.135".into(),
            locale: "RU".into(),
            device_id: "593-47-5928".into(),
            timestamp: "1694479551".into(),
        }
    );
    assert_eq!(login.timestamp_seconds(), Some(1_694_479_551));
    assert_eq!(login.event_time_ms(), Some(1_694_479_551_000));
}

#[test]
fn sample_login_reencoded_as_json_decodes_identically() {
    let login: UserLogin = decode(Some(LOGIN_JSON.as_bytes()), None, None).expect("sample decodes");
    let json = login.encode_as(Format::Json);
    // Same fields, same order, compact.
    assert_eq!(
        json,
        LOGIN_JSON.replace(": ", ":").replace(", ", ",").as_bytes()
    );
    let again: UserLogin =
        decode(Some(&json), Some(b"application/json"), None).expect("re-encoding decodes");
    assert_eq!(again, login);
}

#[test]
fn sample_tick_json_decodes_and_reencodes_identically() {
    let tick: StockTick = decode(Some(TICK_JSON.as_bytes()), None, None).expect("sample decodes");
    assert_eq!(
        tick,
        StockTick {
            ticker: "STK_ONE".into(),
            timestamp_ms: 1_694_479_551_000,
            price: 42
        }
    );
    assert_eq!(tick.event_time_ms(), Some(1_694_479_551_000));
    let json = tick.encode_as(Format::Json);
    assert_eq!(
        json,
        TICK_JSON.replace(": ", ":").replace(", ", ",").as_bytes()
    );
    let again: StockTick = decode(Some(&json), None, None).expect("re-encoding decodes");
    assert_eq!(again, tick);
}

#[test]
fn published_schema_protobuf_takes_ticker_from_key() {
    let bytes = published_stock_update(1_694_479_551_000, 42);
    assert_eq!(Format::detect(&bytes), Format::Protobuf);
    for content_type in [None, Some(&b"application/x-protobuf"[..])] {
        let tick: StockTick =
            decode(Some(&bytes), content_type, Some(b"STK_ONE")).expect("decodes");
        assert_eq!(
            tick,
            StockTick {
                ticker: "STK_ONE".into(),
                timestamp_ms: 1_694_479_551_000,
                price: 42
            }
        );
    }
}

#[test]
fn published_schema_protobuf_with_negative_price_decodes() {
    let bytes = published_stock_update(-5, -42);
    let tick: StockTick = decode(Some(&bytes), None, Some(b"STK_TWO")).expect("decodes");
    assert_eq!((tick.timestamp_ms, tick.price), (-5, -42));
}

#[test]
fn json_tick_without_ticker_takes_it_from_key() {
    let tick: StockTick = decode(
        Some(br#"{"timestamp": 1, "price": 2}"#),
        None,
        Some(b"STK_KEY"),
    )
    .expect("decodes");
    assert_eq!(tick.ticker, "STK_KEY");
}

#[test]
fn unknown_json_fields_are_ignored() {
    let json = br#"{"padding": "xxxxxxxx", "ticker": "STK_ONE", "timestamp": 1, "nested": {"a": [1, 2.5, null]}, "price": 2}"#;
    let tick: StockTick = decode(Some(json), None, None).expect("decodes");
    assert_eq!(tick.price, 2);
}

#[test]
fn unknown_protobuf_fields_are_ignored() {
    let mut bytes = published_stock_update(1, 2);
    bytes.extend_from_slice(&[0x22, 3, b'a', b'b', b'c']); // field 4, string "abc"
    let tick: StockTick = decode(Some(&bytes), None, Some(b"K")).expect("decodes");
    assert_eq!(tick.price, 2);
}

#[test]
fn json_with_surrounding_whitespace_is_detected_and_decodes() {
    let json = format!("\r\n\t {TICK_JSON}\n");
    let tick: StockTick = decode(Some(json.as_bytes()), None, None).expect("decodes");
    assert_eq!(tick.ticker, "STK_ONE");
}

#[test]
fn record_kinds_are_short_names() {
    assert_eq!(StockTick::KIND, "stock_tick");
    assert_eq!(UserLogin::KIND, "user_login");
}

#[test]
fn encode_into_appends_and_reuses_the_buffer() {
    let tick = StockTick {
        ticker: "STK_ONE".into(),
        timestamp_ms: 1,
        price: 2,
    };
    let mut buf = Vec::new();
    tick.encode_into(Format::Protobuf, &mut buf);
    let first = buf.clone();
    tick.encode_into(Format::Protobuf, &mut buf);
    assert_eq!(buf, [first.clone(), first.clone()].concat());
    let capacity = buf.capacity();
    buf.clear();
    tick.encode_into(Format::Protobuf, &mut buf);
    assert_eq!(
        (buf.as_slice(), buf.capacity()),
        (first.as_slice(), capacity)
    );
}
