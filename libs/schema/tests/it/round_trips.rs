//! Every record survives encode then decode, in both formats, and our
//! protobuf encoding is byte for byte prost's.

use ferroflow_schema::proto::{ferroflow_v1, stockfeed};
use ferroflow_schema::{
    EnrichedStockTick, EnrichedUserLogin, Format, Record, StockTick, UserLogin, decode,
};
use proptest::prelude::*;
use prost::Message;

use crate::strategies::{enriched_stock_tick, enriched_user_login, stock_tick, user_login};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn stock_ticks_round_trip(tick in stock_tick()) {
        for format in [Format::Json, Format::Protobuf] {
            let bytes = tick.encode_as(format);
            prop_assert_eq!(StockTick::decode_as(&bytes, format, None), Ok(tick.clone()));
        }
    }

    #[test]
    fn user_logins_round_trip(login in user_login()) {
        for format in [Format::Json, Format::Protobuf] {
            let bytes = login.encode_as(format);
            prop_assert_eq!(UserLogin::decode_as(&bytes, format, None), Ok(login.clone()));
        }
    }

    #[test]
    fn protobuf_encoding_matches_prost(tick in stock_tick(), login in user_login()) {
        prop_assert_eq!(tick.encode_as(Format::Protobuf), stockfeed::StockUpdate::from(tick.clone()).encode_to_vec());
        prop_assert_eq!(login.encode_as(Format::Protobuf), ferroflow_v1::UserLogin::from(login.clone()).encode_to_vec());
    }

    #[test]
    fn json_encoding_matches_serde_json(tick in stock_tick(), login in user_login()) {
        prop_assert_eq!(tick.encode_as(Format::Json), serde_json::to_vec(&tick).expect("serializes"));
        prop_assert_eq!(login.encode_as(Format::Json), serde_json::to_vec(&login).expect("serializes"));
    }

    #[test]
    fn enriched_stock_ticks_round_trip(tick in enriched_stock_tick()) {
        for format in [Format::Json, Format::Protobuf] {
            let bytes = tick.encode_as(format);
            prop_assert_eq!(EnrichedStockTick::decode_as(&bytes, format, None), Ok(tick.clone()));
            // And through format detection, as a consumer without the header reads it.
            prop_assert_eq!(decode::<EnrichedStockTick>(Some(&bytes), None, None), Ok(tick.clone()));
        }
    }

    #[test]
    fn enriched_user_logins_round_trip(login in enriched_user_login()) {
        for format in [Format::Json, Format::Protobuf] {
            let bytes = login.encode_as(format);
            prop_assert_eq!(EnrichedUserLogin::decode_as(&bytes, format, None), Ok(login.clone()));
            prop_assert_eq!(decode::<EnrichedUserLogin>(Some(&bytes), None, None), Ok(login.clone()));
        }
    }

    #[test]
    fn enriched_protobuf_encoding_matches_prost(tick in enriched_stock_tick(), login in enriched_user_login()) {
        prop_assert_eq!(tick.encode_as(Format::Protobuf), ferroflow_v1::EnrichedStockTick::from(tick.clone()).encode_to_vec());
        prop_assert_eq!(login.encode_as(Format::Protobuf), ferroflow_v1::EnrichedUserLogin::from(login.clone()).encode_to_vec());
    }

    #[test]
    fn enriched_json_encoding_matches_serde_json(tick in enriched_stock_tick(), login in enriched_user_login()) {
        prop_assert_eq!(tick.encode_as(Format::Json), serde_json::to_vec(&tick).expect("serializes"));
        prop_assert_eq!(login.encode_as(Format::Json), serde_json::to_vec(&login).expect("serializes"));
    }
}
