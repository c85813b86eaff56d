//! Fuzz-style properties: no input, however malformed, makes decoding panic.
//!
//! proptest reports a panic inside a property as a failure (and shrinks it),
//! so "returns Ok or Err" is the whole assertion.

use ferroflow_schema::{
    EnrichedStockTick, EnrichedUserLogin, Format, Record, StockTick, UserLogin, decode,
};
use proptest::prelude::*;

use crate::strategies::{enriched_stock_tick, enriched_user_login, stock_tick, user_login};

fn content_type() -> impl Strategy<Value = Option<Vec<u8>>> {
    prop_oneof![
        Just(None),
        Just(Some(b"application/json".to_vec())),
        Just(Some(b"application/x-protobuf".to_vec())),
        Just(Some(b"APPLICATION/JSON; charset=utf-8".to_vec())),
        proptest::collection::vec(any::<u8>(), 0..40).prop_map(Some),
    ]
}

fn key() -> impl Strategy<Value = Option<Vec<u8>>> {
    proptest::option::of(proptest::collection::vec(any::<u8>(), 0..12))
}

/// Text made of JSON tokens, to get past the first byte and into serde.
fn json_like() -> impl Strategy<Value = Vec<u8>> {
    let token = prop_oneof![
        Just("{"),
        Just("}"),
        Just("["),
        Just("]"),
        Just(":"),
        Just(","),
        Just(" "),
        Just("\n"),
        Just("\"ticker\""),
        Just("\"timestamp\""),
        Just("\"price\""),
        Just("\"change_percent\""),
        Just("\"reference_known\""),
        Just("\"version_major\""),
        Just("false"),
        Just("-0.0"),
        Just("1.7976931348623157e308"),
        Just("\"user_id\""),
        Just("\"ip\""),
        Just("\"STK_ONE\""),
        Just("1"),
        Just("-1"),
        Just("1.5"),
        Just("1e400"),
        Just("99999999999999999999"),
        Just("null"),
        Just("true"),
        Just("\"\\u00e9\""),
        Just("\"\\ud800\""),
        Just("\""),
        Just("\\"),
        Just("\u{ff}"),
    ];
    proptest::collection::vec(token, 0..30).prop_map(|tokens| tokens.concat().into_bytes())
}

/// Valid encodings of either record, with bytes overwritten, cut or inserted.
fn mutated_encoding() -> impl Strategy<Value = Vec<u8>> {
    let encoded =
        prop_oneof![
            (stock_tick(), any::<bool>()).prop_map(|(tick, json)| tick.encode_as(if json {
                Format::Json
            } else {
                Format::Protobuf
            })),
            (user_login(), any::<bool>()).prop_map(|(login, json)| login.encode_as(if json {
                Format::Json
            } else {
                Format::Protobuf
            })),
            (enriched_stock_tick(), any::<bool>()).prop_map(
                |(tick, json)| tick.encode_as(if json { Format::Json } else { Format::Protobuf })
            ),
            (enriched_user_login(), any::<bool>()).prop_map(
                |(login, json)| login.encode_as(if json { Format::Json } else { Format::Protobuf })
            ),
        ];
    (
        encoded,
        proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..4),
    )
        .prop_map(|(mut bytes, edits)| {
            for (at, byte, op) in edits {
                if bytes.is_empty() {
                    break;
                }
                let i = at.index(bytes.len());
                match op {
                    0 => bytes[i] = byte,
                    1 => bytes.truncate(i),
                    _ => bytes.insert(i, byte),
                }
            }
            bytes
        })
}

fn decode_both(payload: &[u8], content_type: Option<&[u8]>, key: Option<&[u8]>) {
    let _ = decode::<StockTick>(Some(payload), content_type, key);
    let _ = decode::<UserLogin>(Some(payload), content_type, key);
    let _ = decode::<EnrichedStockTick>(Some(payload), content_type, key);
    let _ = decode::<EnrichedUserLogin>(Some(payload), content_type, key);
    for format in [Format::Json, Format::Protobuf] {
        let _ = StockTick::decode_as(payload, format, key);
        let _ = UserLogin::decode_as(payload, format, key);
        let _ = EnrichedStockTick::decode_as(payload, format, key);
        let _ = EnrichedUserLogin::decode_as(payload, format, key);
    }
    let _ = Format::detect(payload);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn arbitrary_bytes_never_panic(
        payload in proptest::collection::vec(any::<u8>(), 0..256),
        content_type in content_type(),
        key in key(),
    ) {
        decode_both(&payload, content_type.as_deref(), key.as_deref());
    }

    #[test]
    fn json_like_text_never_panics(payload in json_like(), content_type in content_type(), key in key()) {
        decode_both(&payload, content_type.as_deref(), key.as_deref());
    }

    #[test]
    fn mutated_encodings_never_panic(payload in mutated_encoding(), content_type in content_type(), key in key()) {
        decode_both(&payload, content_type.as_deref(), key.as_deref());
    }
}
