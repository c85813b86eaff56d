//! proptest strategies for the record types.

use ferroflow_schema::{EnrichedStockTick, EnrichedUserLogin, StockTick, UserLogin};
use proptest::prelude::*;

/// Any tick: a non-empty ticker of any Unicode (an empty ticker means
/// "take it from the key"), any timestamp, any price.
pub fn stock_tick() -> impl Strategy<Value = StockTick> {
    (".+", any::<i64>(), any::<i32>()).prop_map(|(ticker, timestamp_ms, price)| StockTick {
        ticker,
        timestamp_ms,
        price,
    })
}

/// Any login, each field built by `string`.
pub fn user_login_of(
    string: impl Strategy<Value = String> + Clone,
) -> impl Strategy<Value = UserLogin> {
    (
        string.clone(),
        string.clone(),
        string.clone(),
        string.clone(),
        string.clone(),
        string.clone(),
        string,
    )
        .prop_map(
            |(user_id, app_version, device_type, ip, locale, device_id, timestamp)| UserLogin {
                user_id,
                app_version,
                device_type,
                ip,
                locale,
                device_id,
                timestamp,
            },
        )
}

/// Any login: any Unicode strings, empty ones included.
pub fn user_login() -> impl Strategy<Value = UserLogin> {
    user_login_of(any::<String>())
}

/// Logins built to fool a naive "skip whitespace, then `{`" detection of their
/// protobuf form: the encoding starts with 0x0A (field 1, a newline), then the
/// length of `user_id`, chosen among 123 (`{`) and whitespace lengths 9, 10,
/// 13, 32, then a `user_id` made of whitespace and braces; the last field
/// (`timestamp`) ends with `}`.
pub fn tricky_user_login() -> impl Strategy<Value = UserLogin> {
    let braces = "[{} \t\r\n\"a]*";
    let user_id = prop_oneof![Just(9usize), Just(10), Just(13), Just(32), Just(123)]
        .prop_flat_map(|len| {
            proptest::collection::vec(
                prop_oneof![Just('{'), Just('}'), Just(' '), Just('\n'), Just('"')],
                len,
            )
        })
        .prop_map(|chars| chars.into_iter().collect::<String>());
    (
        user_id,
        user_login_of(braces.prop_map(String::from)),
        "[0-9]{0,10}",
    )
        .prop_map(|(user_id, mut login, ts)| {
            login.user_id = user_id;
            login.timestamp = format!("{ts}}}");
            login
        })
}

/// Any enriched tick: any strings and numbers; `change` and `change_percent`
/// present or absent together; `change_percent` finite (JSON has no NaN).
pub fn enriched_stock_tick() -> impl Strategy<Value = EnrichedStockTick> {
    let change = proptest::option::of((
        any::<i64>(),
        prop_oneof![
            any::<f64>().prop_filter("finite", |f| f.is_finite()),
            Just(0.0),
            Just(-0.0),
            Just(f64::MIN_POSITIVE),
            Just(f64::MAX),
        ],
    ));
    (
        (any::<String>(), any::<i64>(), any::<i32>()),
        (
            any::<String>(),
            any::<String>(),
            any::<String>(),
            any::<bool>(),
        ),
        change,
        (any::<i64>(), any::<i64>()),
    )
        .prop_map(
            |(
                (ticker, timestamp_ms, price),
                (name, exchange, currency, reference_known),
                change,
                (processing_time_ms, delay_ms),
            )| EnrichedStockTick {
                ticker,
                timestamp_ms,
                price,
                name,
                exchange,
                currency,
                reference_known,
                change: change.map(|(c, _)| c),
                change_percent: change.map(|(_, p)| p),
                processing_time_ms,
                delay_ms,
            },
        )
}

/// Any enriched login: any strings and numbers.
pub fn enriched_user_login() -> impl Strategy<Value = EnrichedUserLogin> {
    (
        user_login(),
        (any::<String>(), any::<i64>()),
        (any::<u64>(), any::<u64>(), any::<u64>(), any::<bool>()),
        (
            any::<u32>(),
            any::<bool>(),
            any::<String>(),
            any::<String>(),
        ),
    )
        .prop_map(
            |(
                raw,
                (event_time_rfc3339, timestamp_seconds),
                (version_major, version_minor, version_patch, version_outdated),
                (ip_version, ip_private, ip_anonymized, country),
            )| EnrichedUserLogin {
                user_id: raw.user_id,
                app_version: raw.app_version,
                device_type: raw.device_type,
                ip: raw.ip,
                locale: raw.locale,
                device_id: raw.device_id,
                event_time_rfc3339,
                timestamp_seconds,
                version_major,
                version_minor,
                version_patch,
                version_outdated,
                ip_version,
                ip_private,
                ip_anonymized,
                country,
            },
        )
}
