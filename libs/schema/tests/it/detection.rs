//! `Format::detect` never misclassifies our own encodings.

use ferroflow_schema::{Format, Record, StockTick, UserLogin, decode};
use proptest::prelude::*;

use crate::strategies::{stock_tick, tricky_user_login, user_login};

/// The rule as first specified, without the well-formedness exception.
fn naive_detect(payload: &[u8]) -> Format {
    let trimmed = payload.trim_ascii();
    if trimmed.first() == Some(&b'{') && trimmed.last() == Some(&b'}') {
        Format::Json
    } else {
        Format::Protobuf
    }
}

#[test]
fn protobuf_login_starting_like_json_is_detected_as_protobuf() {
    // 0x0A (field 1) then 0x7B (length 123, `{`), and a timestamp ending in `}`.
    let login = UserLogin {
        user_id: "\"".repeat(123),
        app_version: String::new(),
        device_type: String::new(),
        ip: String::new(),
        locale: String::new(),
        device_id: String::new(),
        timestamp: "1694479551}".into(),
    };
    let bytes = login.encode_as(Format::Protobuf);
    assert_eq!(&bytes[..2], b"\n{");
    assert_eq!(
        naive_detect(&bytes),
        Format::Json,
        "the case the naive rule gets wrong"
    );
    assert_eq!(Format::detect(&bytes), Format::Protobuf);
    assert_eq!(decode::<UserLogin>(Some(&bytes), None, None), Ok(login));
}

#[test]
fn json_objects_with_leading_whitespace_are_detected_as_json() {
    for payload in ["{}", " {}", "\n{\"a\": 1}\n", "\r\n\t{\"ticker\": \"X\"}  "] {
        assert_eq!(
            Format::detect(payload.as_bytes()),
            Format::Json,
            "{payload:?}"
        );
    }
}

#[test]
fn non_objects_are_detected_as_protobuf() {
    for payload in [
        &b""[..],
        b"   ",
        b"{",
        b"}",
        b"[1]",
        b"\"x\"",
        b"{\"a\": 1",
        b"\x08\x01",
    ] {
        assert_eq!(Format::detect(payload), Format::Protobuf, "{payload:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn detect_classifies_every_encoded_tick(tick in stock_tick()) {
        prop_assert_eq!(Format::detect(&tick.encode_as(Format::Json)), Format::Json);
        prop_assert_eq!(Format::detect(&tick.encode_as(Format::Protobuf)), Format::Protobuf);
    }

    #[test]
    fn detect_classifies_every_encoded_login(login in user_login()) {
        prop_assert_eq!(Format::detect(&login.encode_as(Format::Json)), Format::Json);
        prop_assert_eq!(Format::detect(&login.encode_as(Format::Protobuf)), Format::Protobuf);
    }

    #[test]
    fn detect_classifies_logins_built_to_look_like_json(login in tricky_user_login()) {
        let protobuf = login.encode_as(Format::Protobuf);
        prop_assert_eq!(Format::detect(&protobuf), Format::Protobuf);
        prop_assert_eq!(Format::detect(&login.encode_as(Format::Json)), Format::Json);
        prop_assert_eq!(decode::<UserLogin>(Some(&protobuf), None, None), Ok(login));
    }

    #[test]
    fn decode_without_header_round_trips(tick in stock_tick(), login in user_login()) {
        for format in [Format::Json, Format::Protobuf] {
            prop_assert_eq!(decode::<StockTick>(Some(&tick.encode_as(format)), None, None), Ok(tick.clone()));
            prop_assert_eq!(decode::<UserLogin>(Some(&login.encode_as(format)), None, None), Ok(login.clone()));
        }
    }
}

#[test]
fn tricky_logins_do_fool_the_naive_rule() {
    // Guards the strategy above: it must reach the case it is built for.
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let fooled = (0..500)
        .filter_map(|_| tricky_user_login().new_tree(&mut runner).ok())
        .filter(|tree| naive_detect(&tree.current().encode_as(Format::Protobuf)) == Format::Json)
        .count();
    assert!(
        fooled > 10,
        "only {fooled} of 500 tricky logins fool the naive rule"
    );
}
