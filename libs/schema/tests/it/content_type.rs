//! The content-type header decides the format; detection only without it.

use ferroflow_schema::{CONTENT_TYPE_HEADER, DecodeError, Format, Record, StockTick, decode};

fn tick() -> StockTick {
    StockTick {
        ticker: "STK_ONE".into(),
        timestamp_ms: 1_694_479_551_000,
        price: 42,
    }
}

#[test]
fn content_type_header_wins_over_detection() {
    let json = tick().encode_as(Format::Json);
    let err = decode::<StockTick>(Some(&json), Some(b"application/x-protobuf"), None)
        .expect_err("not protobuf");
    assert_eq!(err.kind(), "malformed_protobuf");

    let protobuf = tick().encode_as(Format::Protobuf);
    let err = decode::<StockTick>(Some(&protobuf), Some(b"application/json"), None)
        .expect_err("not JSON");
    assert_eq!(err.kind(), "malformed_json");
}

#[test]
fn parameters_case_and_whitespace_are_tolerated() {
    for (value, format) in [
        ("application/json", Format::Json),
        ("application/json; charset=utf-8", Format::Json),
        ("Application/JSON;charset=UTF-8", Format::Json),
        ("  application/json  ", Format::Json),
        ("application/x-protobuf", Format::Protobuf),
        (
            "APPLICATION/X-PROTOBUF; proto=stockfeed.StockUpdate",
            Format::Protobuf,
        ),
        ("application/protobuf", Format::Protobuf),
        ("application/vnd.google.protobuf", Format::Protobuf),
    ] {
        assert_eq!(
            Format::from_content_type(value.as_bytes()),
            Ok(format),
            "{value}"
        );
    }
}

#[test]
fn content_type_round_trips() {
    for format in [Format::Json, Format::Protobuf] {
        assert_eq!(
            Format::from_content_type(format.content_type().as_bytes()),
            Ok(format)
        );
    }
    assert_eq!(Format::Json.content_type(), Format::JSON_CONTENT_TYPE);
    assert_eq!(
        Format::Protobuf.content_type(),
        Format::PROTOBUF_CONTENT_TYPE
    );
    assert_eq!(CONTENT_TYPE_HEADER, "content-type");
}

#[test]
fn unknown_content_type_is_an_error_naming_it() {
    let json = tick().encode_as(Format::Json);
    let err = decode::<StockTick>(Some(&json), Some(b"text/plain"), None).expect_err("unsupported");
    assert_eq!(
        err,
        DecodeError::UnsupportedContentType {
            value: "text/plain".into()
        }
    );
    assert_eq!(err.kind(), "unsupported_content_type");
    assert_eq!(err.to_string(), r#"unsupported content type "text/plain""#);

    for value in [
        &b"application/jsonx"[..],
        b"json",
        b"application/xml",
        b"\xff\xfe",
        b";application/json",
    ] {
        assert_eq!(
            Format::from_content_type(value).map_err(|e| e.kind()),
            Err("unsupported_content_type")
        );
    }
}

#[test]
fn long_unknown_content_type_is_cut_in_the_error() {
    let value = "x".repeat(10_000);
    let Err(DecodeError::UnsupportedContentType { value: shown }) =
        Format::from_content_type(value.as_bytes())
    else {
        panic!("expected unsupported content type");
    };
    assert!(shown.len() < 100 && shown.ends_with('…'), "{shown}");
}

#[test]
fn blank_content_type_header_falls_back_to_detection() {
    let json = tick().encode_as(Format::Json);
    for header in [&b""[..], b"  "] {
        assert_eq!(
            decode::<StockTick>(Some(&json), Some(header), None),
            Ok(tick())
        );
    }
}
