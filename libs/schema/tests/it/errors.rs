//! Each way a record can be bad gives its own error kind, naming the field.

use ferroflow_schema::{DecodeError, Format, Record, StockTick, UserLogin, decode};

use crate::samples::{published_stock_update, varint};

fn tick_error(payload: &[u8], key: Option<&[u8]>) -> DecodeError {
    decode::<StockTick>(Some(payload), None, key).expect_err("must not decode")
}

fn login_error(payload: &[u8]) -> DecodeError {
    decode::<UserLogin>(Some(payload), None, None).expect_err("must not decode")
}

fn invalid(field: &str, problem: &str) -> DecodeError {
    DecodeError::InvalidField {
        field: field.into(),
        problem: problem.into(),
    }
}

#[test]
fn missing_price_is_missing_field_in_both_formats() {
    let err = tick_error(br#"{"ticker": "STK_ONE", "timestamp": 1}"#, None);
    assert_eq!(err, DecodeError::MissingField { field: "price" });
    assert_eq!((err.kind(), err.field()), ("missing_field", Some("price")));
    assert_eq!(err.to_string(), "missing field `price`");

    let mut protobuf = vec![0x08];
    varint(1, &mut protobuf);
    assert_eq!(
        tick_error(&protobuf, Some(b"STK_ONE")),
        DecodeError::MissingField { field: "price" }
    );
}

#[test]
fn null_price_is_a_missing_field() {
    let err = tick_error(
        br#"{"ticker": "STK_ONE", "timestamp": 1, "price": null}"#,
        None,
    );
    assert_eq!(err, DecodeError::MissingField { field: "price" });
}

#[test]
fn missing_ticker_without_a_usable_key_is_missing_field() {
    let protobuf = published_stock_update(1, 2);
    for key in [None, Some(&b""[..]), Some(b"\xff\xfe")] {
        assert_eq!(
            tick_error(&protobuf, key),
            DecodeError::MissingField { field: "ticker" },
            "key {key:?}"
        );
    }
}

#[test]
fn price_as_string_is_invalid_field() {
    let err = tick_error(
        br#"{"ticker": "STK_ONE", "timestamp": 1, "price": "abc"}"#,
        None,
    );
    assert_eq!(
        err,
        invalid("price", r#"expected an integer, found string "abc""#)
    );
    assert_eq!((err.kind(), err.field()), ("invalid_field", Some("price")));
    assert_eq!(
        err.to_string(),
        r#"invalid field `price`: expected an integer, found string "abc""#
    );
}

#[test]
fn price_out_of_i32_range_is_invalid_field() {
    let err = tick_error(
        br#"{"ticker": "STK_ONE", "timestamp": 1, "price": 2147483648}"#,
        None,
    );
    assert_eq!(
        err,
        invalid("price", "2147483648 is out of range for a 32-bit integer")
    );
    let err = tick_error(
        br#"{"ticker": "STK_ONE", "timestamp": 1, "price": -2147483649}"#,
        None,
    );
    assert_eq!(err.field(), Some("price"));
}

#[test]
fn timestamp_float_is_invalid_field() {
    let err = tick_error(
        br#"{"ticker": "STK_ONE", "timestamp": 1694479551000.5, "price": 1}"#,
        None,
    );
    assert_eq!(
        err,
        invalid(
            "timestamp",
            "expected an integer, found number 1694479551000.5"
        )
    );
}

#[test]
fn login_with_numeric_user_id_is_invalid_field() {
    let err = login_error(br#"{"user_id": 42, "app_version": "2.3.0"}"#);
    assert_eq!(
        err,
        invalid("user_id", "expected a string, found integer `42`")
    );
}

#[test]
fn login_with_numeric_timestamp_is_invalid_field() {
    let json = br#"{"user_id": "u", "app_version": "a", "device_type": "d", "ip": "i", "locale": "l", "device_id": "d", "timestamp": 1694479551}"#;
    assert_eq!(login_error(json).field(), Some("timestamp"));
}

#[test]
fn truncated_protobuf_is_malformed_naming_the_field() {
    let full = StockTick {
        ticker: "STK_ONE".into(),
        timestamp_ms: 1_694_479_551_000,
        price: 42,
    }
    .encode_as(Format::Protobuf);
    // Cut inside the timestamp varint, then inside the ticker string.
    for (cut, field) in [(3, "timestamp"), (10, "ticker")] {
        let err = tick_error(&full[..cut], None);
        assert_eq!(err.kind(), "malformed_protobuf", "cut at {cut}: {err}");
        assert_eq!(err.field(), Some(field), "cut at {cut}: {err}");
    }
    let err = decode::<UserLogin>(
        Some(&[0x0A, 5, b'a']),
        Some(b"application/x-protobuf"),
        None,
    )
    .expect_err("truncated");
    assert_eq!(
        (err.kind(), err.field()),
        ("malformed_protobuf", Some("user_id"))
    );
}

#[test]
fn wrong_wire_type_is_malformed_naming_the_field() {
    // Field 3 (price) as a length-delimited field instead of a varint.
    let bytes = [0x08, 0x01, 0x1A, 0x01, b'1'];
    let err = tick_error(&bytes, Some(b"STK_ONE"));
    assert_eq!(
        (err.kind(), err.field()),
        ("malformed_protobuf", Some("price"))
    );
    assert!(
        err.to_string()
            .starts_with("malformed protobuf at `price`: invalid wire type"),
        "{err}"
    );
}

#[test]
fn non_utf8_protobuf_string_is_malformed_naming_the_field() {
    let err = decode::<UserLogin>(Some(&[0x0A, 2, 0xFF, 0xFE]), None, None).expect_err("not UTF-8");
    assert_eq!(
        (err.kind(), err.field()),
        ("malformed_protobuf", Some("user_id"))
    );
}

#[test]
fn empty_payload_is_its_own_kind() {
    for payload in [None, Some(&b""[..])] {
        let err = decode::<StockTick>(payload, None, Some(b"STK_ONE")).expect_err("empty");
        assert_eq!(err, DecodeError::EmptyPayload);
        assert_eq!((err.kind(), err.field()), ("empty_payload", None));
    }
    for format in [Format::Json, Format::Protobuf] {
        assert_eq!(
            UserLogin::decode_as(b"", format, None),
            Err(DecodeError::EmptyPayload)
        );
    }
}

#[test]
fn non_utf8_json_is_malformed_json() {
    let err = tick_error(
        b"{\"ticker\": \"STK\xff\", \"timestamp\": 1, \"price\": 2}",
        None,
    );
    assert_eq!(err.kind(), "malformed_json", "{err}");
    assert_eq!(err.field(), Some("ticker"));
}

#[test]
fn json_syntax_errors_are_malformed_json() {
    for json in [
        &br#"{"ticker": "STK_ONE", "#[..],
        br#"{"ticker" "STK_ONE"}"#,
        br#"{"price": 1} {"price": 2}"#,
    ] {
        let err = decode::<StockTick>(Some(json), Some(b"application/json"), None)
            .expect_err("malformed");
        assert_eq!(err.kind(), "malformed_json", "{err}");
    }
}

#[test]
fn json_array_is_malformed_not_a_positional_record() {
    let err = decode::<StockTick>(
        Some(br#"["STK_ONE", 1, 2]"#),
        Some(b"application/json"),
        None,
    )
    .expect_err("array");
    assert_eq!(err.kind(), "malformed_json");
}

#[test]
fn json_payload_with_protobuf_header_is_malformed_protobuf() {
    let err = decode::<UserLogin>(
        Some(br#"{"user_id": "u"}"#),
        Some(b"application/x-protobuf"),
        None,
    )
    .expect_err("not protobuf");
    assert_eq!(err.kind(), "malformed_protobuf");
}
