//! Stock tick rules: validation, reference data, change, delay.

use ferroflow_enricher::rules::EARLIEST_EVENT_TIME_MS;
use ferroflow_enricher::{ReferenceData, TickEnricher, TickerInfo, ValidationError};
use ferroflow_schema::{EnrichedStockTick, StockTick};

use crate::helpers::{NO_SKEW, NOW_MS, SAMPLE_TIME_MS, SKEW_MS, reason, tick, tick_enricher};

fn enrich_one(tick: StockTick) -> Result<EnrichedStockTick, ValidationError> {
    tick_enricher().enrich(tick, NOW_MS)
}

#[test]
fn known_ticker_gets_reference_data_delay_and_no_change_at_first() {
    let enriched = enrich_one(tick("STK_ONE", 4200)).expect("valid");
    assert_eq!(
        enriched,
        EnrichedStockTick {
            ticker: "STK_ONE".into(),
            timestamp_ms: SAMPLE_TIME_MS,
            price: 4200,
            name: "Stock One Corp.".into(),
            exchange: "NASDAQ".into(),
            currency: "USD".into(),
            reference_known: true,
            change: None,
            change_percent: None,
            processing_time_ms: NOW_MS,
            delay_ms: 1_500,
        }
    );
}

#[test]
fn unknown_well_formed_ticker_is_valid_with_empty_reference_fields() {
    let enriched = enrich_one(tick("ZZZ_9", 1)).expect("valid");
    assert!(!enriched.reference_known);
    assert_eq!(
        (
            enriched.name.as_str(),
            enriched.exchange.as_str(),
            enriched.currency.as_str()
        ),
        ("", "", "")
    );
}

#[test]
fn known_ticker_need_not_be_well_formed() {
    for symbol in ["BRK.B", "7203"] {
        let enriched = enrich_one(tick(symbol, 10)).expect(symbol);
        assert!(enriched.reference_known, "{symbol}");
    }
    // The same symbols without reference data are ill-formed.
    let mut bare = TickEnricher::new(ReferenceData::default(), NO_SKEW);
    let err = bare
        .enrich(tick("BRK.B", 10), SAMPLE_TIME_MS)
        .expect_err("ill-formed");
    assert_eq!(reason(&err), ("unknown_ticker", "ticker"));
}

#[test]
fn reference_data_can_come_from_pairs() {
    let reference: ReferenceData = [(
        "ACME".to_owned(),
        TickerInfo {
            name: "Acme".into(),
            exchange: "NYSE".into(),
            currency: "USD".into(),
        },
    )]
    .into_iter()
    .collect();
    let mut enricher = TickEnricher::new(reference, NO_SKEW);
    let enriched = enricher.enrich(tick("ACME", 5), NOW_MS).expect("valid");
    assert_eq!(enriched.name, "Acme");
    assert_eq!(enricher.reference().len(), 1);
}

#[test]
fn malformed_ticks_are_rejected_with_their_reason() {
    let at = |timestamp_ms: i64| StockTick {
        timestamp_ms,
        ..tick("STK_ONE", 100)
    };
    let corpus: Vec<(StockTick, (&str, &str))> = vec![
        (tick("", 1), ("unknown_ticker", "ticker")),
        (tick("stk_one", 1), ("unknown_ticker", "ticker")),
        (tick("STK ONE", 1), ("unknown_ticker", "ticker")),
        (tick("1ABC", 1), ("unknown_ticker", "ticker")),
        (tick("_ABC", 1), ("unknown_ticker", "ticker")),
        (tick("ABCDEFGHIJKLMNOPQ", 1), ("unknown_ticker", "ticker")),
        (tick("STK-ONE", 1), ("unknown_ticker", "ticker")),
        (tick("STK_ONE\n", 1), ("unknown_ticker", "ticker")),
        (tick("ÄPFEL", 1), ("unknown_ticker", "ticker")),
        (tick(&"X".repeat(10_000), 1), ("unknown_ticker", "ticker")),
        (tick("STK_ONE", 0), ("non_positive_price", "price")),
        (tick("STK_ONE", -1), ("non_positive_price", "price")),
        (tick("STK_ONE", i32::MIN), ("non_positive_price", "price")),
        (at(0), ("implausible_timestamp", "timestamp")),
        (at(-1), ("implausible_timestamp", "timestamp")),
        (at(i64::MIN), ("implausible_timestamp", "timestamp")),
        (
            at(EARLIEST_EVENT_TIME_MS - 1),
            ("implausible_timestamp", "timestamp"),
        ),
        (
            at(NOW_MS + SKEW_MS + 1),
            ("implausible_timestamp", "timestamp"),
        ),
        (at(i64::MAX), ("implausible_timestamp", "timestamp")),
        // Seconds where milliseconds are due: 1970.
        (
            at(SAMPLE_TIME_MS / 1000),
            ("implausible_timestamp", "timestamp"),
        ),
        // The ticker is checked first, then the price.
        (
            StockTick {
                ticker: "bad".into(),
                timestamp_ms: 0,
                price: 0,
            },
            ("unknown_ticker", "ticker"),
        ),
        (
            StockTick {
                ticker: "OK".into(),
                timestamp_ms: 0,
                price: 0,
            },
            ("non_positive_price", "price"),
        ),
    ];
    for (input, want) in corpus {
        let shown = format!("{input:?}");
        let err = enrich_one(input).expect_err(&shown);
        assert_eq!(reason(&err), want, "{shown}: {err}");
        assert!(err.to_string().len() < 300, "bounded message: {err}");
    }
}

#[test]
fn rejection_messages_name_the_field_and_value() {
    let err = enrich_one(tick("STK_ONE", -5)).expect_err("negative");
    assert_eq!(err.to_string(), "`price` -5: must be greater than 0");
    let err = enrich_one(tick("stk", 5)).expect_err("lower case");
    assert_eq!(
        err.to_string(),
        r#"`ticker` "stk": not in the reference data and not of the form [A-Z][A-Z0-9_]{0,15}"#
    );
    let err = enrich_one(StockTick {
        timestamp_ms: NOW_MS + 3_600_000,
        ..tick("STK_ONE", 5)
    })
    .expect_err("future");
    assert_eq!(
        err.to_string(),
        "`timestamp` 1694483152500 ms: 1h ahead of the processing time 1694479552500 ms, more than the allowed 5m"
    );
}

#[test]
fn timestamp_bounds_are_inclusive() {
    let mut enricher = TickEnricher::new(ReferenceData::builtin(), NO_SKEW);
    for timestamp_ms in [EARLIEST_EVENT_TIME_MS, NOW_MS] {
        let ok = StockTick {
            timestamp_ms,
            ..tick("STK_ONE", 1)
        };
        assert!(enricher.enrich(ok, NOW_MS).is_ok(), "{timestamp_ms}");
    }
    let ahead = StockTick {
        timestamp_ms: NOW_MS + 1,
        ..tick("STK_ONE", 1)
    };
    assert!(enricher.enrich(ahead, NOW_MS).is_err());
}

#[test]
fn event_time_ahead_within_the_skew_gives_a_negative_delay() {
    let ahead = StockTick {
        timestamp_ms: NOW_MS + 60_000,
        ..tick("STK_ONE", 1)
    };
    assert_eq!(enrich_one(ahead).expect("within skew").delay_ms, -60_000);
}

#[test]
fn change_and_percent_change_follow_one_tickers_sequence() {
    let mut enricher = tick_enricher();
    let prices = [100, 110, 99, 99, 1, i32::MAX];
    let got: Vec<_> = prices
        .iter()
        .map(|&price| {
            let enriched = enricher
                .enrich(tick("STK_ONE", price), NOW_MS)
                .expect("valid");
            (enriched.change, enriched.change_percent)
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (None, None),
            (Some(10), Some(10.0)),
            (Some(-11), Some(-10.0)),
            (Some(0), Some(0.0)),
            (Some(-98), Some(-98.0 / 99.0 * 100.0)),
            (
                Some(i64::from(i32::MAX) - 1),
                Some((f64::from(i32::MAX) - 1.0) * 100.0)
            ),
        ]
    );
}

#[test]
fn each_ticker_has_its_own_previous_price() {
    let mut enricher = tick_enricher();
    let mut change = |ticker: &str, price: i32| {
        enricher
            .enrich(tick(ticker, price), NOW_MS)
            .expect("valid")
            .change
    };
    assert_eq!(change("STK_ONE", 100), None);
    assert_eq!(change("STK_TWO", 500), None);
    assert_eq!(change("STK_ONE", 105), Some(5));
    assert_eq!(change("STK_TWO", 450), Some(-50));
    assert_eq!(change("NEW_ONE", 7), None);
}

#[test]
fn rejected_ticks_do_not_change_the_previous_price() {
    let mut enricher = tick_enricher();
    enricher
        .enrich(tick("STK_ONE", 100), NOW_MS)
        .expect("valid");
    enricher
        .enrich(tick("STK_ONE", -3), NOW_MS)
        .expect_err("negative");
    let late = StockTick {
        timestamp_ms: 0,
        ..tick("STK_ONE", 5000)
    };
    enricher.enrich(late, NOW_MS).expect_err("implausible");
    let next = enricher
        .enrich(tick("STK_ONE", 120), NOW_MS)
        .expect("valid");
    assert_eq!(next.change, Some(20));
    assert_eq!(enricher.tracked_tickers(), 1);
}

#[test]
fn restoring_a_snapshot_undoes_the_ticks_since() {
    let mut enricher = tick_enricher();
    enricher
        .enrich(tick("STK_ONE", 100), NOW_MS)
        .expect("valid");
    let snapshot = enricher.snapshot();
    enricher
        .enrich(tick("STK_ONE", 130), NOW_MS)
        .expect("valid");
    enricher.enrich(tick("STK_TWO", 1), NOW_MS).expect("valid");
    enricher.restore(snapshot);
    // Processing the "aborted" tick again gives the same result as the first time.
    let again = enricher
        .enrich(tick("STK_ONE", 130), NOW_MS)
        .expect("valid");
    assert_eq!(again.change, Some(30));
    assert_eq!(enricher.tracked_tickers(), 1);
}
