//! Properties: valid input always enriches, normalisation is idempotent,
//! and no input, however malformed, panics.

use std::net::{Ipv4Addr, Ipv6Addr};

use ferroflow_enricher::rules::{DEVICE_TYPES, EARLIEST_EVENT_TIME_MS};
use ferroflow_enricher::{LoginEnricher, ValidationError};
use ferroflow_schema::{
    EnrichedStockTick, EnrichedUserLogin, Format, Record, StockTick, UserLogin,
};
use proptest::prelude::*;

use crate::helpers::{NOW_MS, SKEW_MS, login_enricher, sample_login, tick_enricher};

/// A non-nil UUID in any form the rules accept: hyphenated, simple, braced
/// or URN, lower or upper case.
fn user_id() -> impl Strategy<Value = String> {
    (
        any::<u128>().prop_filter("not nil", |v| *v != 0),
        0..4u8,
        any::<bool>(),
    )
        .prop_map(|(bits, form, upper)| {
            let uuid = uuid::Uuid::from_u128(bits);
            let text = match form {
                0 => uuid.hyphenated().to_string(),
                1 => uuid.simple().to_string(),
                2 => uuid.braced().to_string(),
                _ => uuid.urn().to_string(),
            };
            if upper { upper_hex(&text) } else { text }
        })
}

/// Upper-cases the hex digits of a UUID text, leaving a `urn:uuid:` prefix.
fn upper_hex(text: &str) -> String {
    match text.strip_prefix("urn:uuid:") {
        Some(rest) => format!("urn:uuid:{}", rest.to_uppercase()),
        None => text.to_uppercase(),
    }
}

/// A semantic version per semver.org: numbers without leading zeros,
/// optional pre-release and build identifiers.
fn app_version() -> impl Strategy<Value = String> {
    let number = prop_oneof![0u64..20, any::<u64>()];
    let identifier = prop_oneof![
        "[1-9][0-9]{0,5}",
        "0",
        "[0-9A-Za-z-]{0,6}[A-Za-z-][0-9A-Za-z-]{0,6}"
    ];
    let build_identifier = "[0-9A-Za-z-]{1,8}";
    (
        number.clone(),
        number.clone(),
        number,
        proptest::collection::vec(identifier, 0..3),
        proptest::collection::vec(build_identifier, 0..3),
    )
        .prop_map(|(major, minor, patch, pre, build)| {
            let mut version = format!("{major}.{minor}.{patch}");
            if !pre.is_empty() {
                version.push('-');
                version.push_str(&pre.join("."));
            }
            if !build.is_empty() {
                version.push('+');
                version.push_str(&build.join("."));
            }
            version
        })
}

/// A listed device type in random ASCII case.
fn device_type() -> impl Strategy<Value = String> {
    (
        proptest::sample::select(DEVICE_TYPES),
        proptest::collection::vec(any::<bool>(), 16),
    )
        .prop_map(|(device, upper)| {
            device
                .chars()
                .zip(upper)
                .map(|(c, up)| if up { c.to_ascii_uppercase() } else { c })
                .collect()
        })
}

/// Any IPv4 address, or any IPv6 address in canonical, upper-case or fully
/// expanded text.
fn ip() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<u32>().prop_map(|v| Ipv4Addr::from(v).to_string()),
        (any::<u128>(), 0..3u8).prop_map(|(v, form)| {
            let ip = Ipv6Addr::from(v);
            match form {
                0 => ip.to_string(),
                1 => ip.to_string().to_uppercase(),
                _ => ip
                    .segments()
                    .iter()
                    .map(|s| format!("{s:04x}"))
                    .collect::<Vec<_>>()
                    .join(":"),
            }
        }),
    ]
}

/// Every ISO 3166-1 alpha-2 code, in random ASCII case.
fn locale() -> impl Strategy<Value = String> {
    (
        proptest::sample::select(rust_iso3166::ALL_ALPHA2),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(code, lower_first, lower_second)| {
            code.chars()
                .zip([lower_first, lower_second])
                .map(|(c, lower)| if lower { c.to_ascii_lowercase() } else { c })
                .collect()
        })
}

/// A plausible event time in epoch seconds, relative to [`NOW_MS`].
fn timestamp() -> impl Strategy<Value = String> {
    (EARLIEST_EVENT_TIME_MS / 1000..=(NOW_MS + SKEW_MS) / 1000).prop_map(|s| s.to_string())
}

/// A login that satisfies every rule.
fn valid_login() -> impl Strategy<Value = UserLogin> {
    (
        user_id(),
        app_version(),
        device_type(),
        ip(),
        locale(),
        "[^\\s][ -~]{0,20}",
        timestamp(),
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

/// A login whose fields are each either valid or any string, so that
/// arbitrary text reaches every rule, not only the first.
fn mixed_login() -> impl Strategy<Value = UserLogin> {
    let any_or = |valid: BoxedStrategy<String>| prop_oneof![valid, any::<String>()];
    (
        any_or(user_id().boxed()),
        any_or(app_version().boxed()),
        any_or(device_type().boxed()),
        any_or(ip().boxed()),
        any_or(locale().boxed()),
        any::<String>(),
        any_or(timestamp().boxed()),
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

/// The normalised fields of an enriched login, as a raw login again.
fn as_raw(enriched: &EnrichedUserLogin) -> UserLogin {
    UserLogin {
        user_id: enriched.user_id.clone(),
        app_version: enriched.app_version.clone(),
        device_type: enriched.device_type.clone(),
        ip: enriched.ip.clone(),
        locale: enriched.locale.clone(),
        device_id: enriched.device_id.clone(),
        timestamp: enriched.timestamp_seconds.to_string(),
    }
}

fn check_error(err: &ValidationError) -> Result<(), TestCaseError> {
    prop_assert!(ValidationError::KINDS.contains(&err.kind()), "{err}");
    let field = format!("`{}`", err.field());
    prop_assert!(err.to_string().starts_with(&field), "{err} names {field}");
    prop_assert!(
        err.to_string().len() < 600,
        "bounded: {}",
        err.to_string().len()
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn any_valid_login_enriches(login in valid_login()) {
        let shown = format!("{login:?}");
        let enriched = login_enricher().enrich(login, NOW_MS);
        prop_assert!(enriched.is_ok(), "{shown}: {:?}", enriched.err());
    }

    #[test]
    fn normalisation_is_idempotent(login in valid_login()) {
        let once = login_enricher().enrich(login, NOW_MS).expect("valid");
        let twice = login_enricher().enrich(as_raw(&once), NOW_MS).expect("still valid");
        prop_assert_eq!(&twice, &once);
        // Normal forms: lower-case hyphenated UUID, lower-case device, upper-case locale.
        prop_assert_eq!(once.user_id.len(), 36);
        prop_assert!(!once.user_id.bytes().any(|b| b.is_ascii_uppercase()));
        prop_assert!(DEVICE_TYPES.contains(&once.device_type.as_str()));
        prop_assert!(once.locale.bytes().all(|b| b.is_ascii_uppercase()));
        prop_assert_eq!(once.ip_version == 4, once.ip.contains('.') && !once.ip.contains(':'));
    }

    #[test]
    fn ipv4_text_is_kept_as_received(bits in any::<u32>()) {
        let text = Ipv4Addr::from(bits).to_string();
        let mut login = sample_login();
        login.ip = text.clone();
        let enriched = login_enricher().enrich(login, NOW_MS).expect("valid");
        prop_assert_eq!(enriched.ip, text);
    }

    #[test]
    fn arbitrary_logins_never_panic(login in mixed_login(), processing in any::<i64>()) {
        if let Err(err) = LoginEnricher::new(std::time::Duration::MAX).enrich(login.clone(), processing) {
            check_error(&err)?;
        }
        if let Err(err) = login_enricher().enrich(login, NOW_MS) {
            check_error(&err)?;
        }
    }

    #[test]
    fn arbitrary_ticks_never_panic(
        ticker in prop_oneof![any::<String>(), "[A-Z][A-Z0-9_]{0,15}", Just("STK_ONE".to_owned())],
        timestamp_ms in prop_oneof![any::<i64>(), EARLIEST_EVENT_TIME_MS..NOW_MS],
        price in any::<i32>(),
        processing in prop_oneof![any::<i64>(), Just(NOW_MS)],
    ) {
        let mut enricher = tick_enricher();
        for _ in 0..2 {
            let tick = StockTick { ticker: ticker.clone(), timestamp_ms, price };
            if let Err(err) = enricher.enrich(tick, processing) {
                check_error(&err)?;
            }
        }
    }

    #[test]
    fn change_is_the_difference_from_the_previous_valid_tick(
        prices in proptest::collection::vec(prop_oneof![1..1000i32, any::<i32>()], 1..30),
    ) {
        let mut enricher = tick_enricher();
        let mut previous: Option<i32> = None;
        for price in prices {
            let tick = StockTick { ticker: "STK_ONE".into(), timestamp_ms: NOW_MS - 10, price };
            match enricher.enrich(tick, NOW_MS) {
                Ok(enriched) => {
                    prop_assert!(price > 0);
                    prop_assert_eq!(enriched.delay_ms, 10);
                    let want = previous.map(|p| i64::from(price) - i64::from(p));
                    prop_assert_eq!(enriched.change, want);
                    prop_assert_eq!(enriched.change.is_some(), enriched.change_percent.is_some());
                    if let (Some(change), Some(p), Some(percent)) = (enriched.change, previous, enriched.change_percent) {
                        prop_assert!((percent - change as f64 / f64::from(p) * 100.0).abs() < 1e-9);
                    }
                    previous = Some(price);
                }
                Err(err) => prop_assert_eq!(err.kind(), "non_positive_price"),
            }
        }
    }

    #[test]
    fn enriched_records_survive_the_wire(login in valid_login(), price in 1..i32::MAX) {
        let enriched = login_enricher().enrich(login, NOW_MS).expect("valid");
        let mut ticks = tick_enricher();
        ticks.enrich(StockTick { ticker: "STK_TWO".into(), timestamp_ms: NOW_MS, price: 1 }, NOW_MS).expect("valid");
        let tick = ticks.enrich(StockTick { ticker: "STK_TWO".into(), timestamp_ms: NOW_MS, price }, NOW_MS).expect("valid");
        for format in [Format::Json, Format::Protobuf] {
            prop_assert_eq!(EnrichedUserLogin::decode_as(&enriched.encode_as(format), format, None), Ok(enriched.clone()));
            prop_assert_eq!(EnrichedStockTick::decode_as(&tick.encode_as(format), format, None), Ok(tick.clone()));
        }
    }
}
