//! Shared inputs: the published sample login, a tick, a processing time.

use std::time::Duration;

use ferroflow_enricher::rules::DEFAULT_MAX_FUTURE_SKEW;
use ferroflow_enricher::{LoginEnricher, ReferenceData, TickEnricher, ValidationError};
use ferroflow_schema::{StockTick, UserLogin, decode};

/// The sample login from the data contract, as JSON.
pub const SAMPLE_LOGIN_JSON: &str = r#"{"user_id": "424cdd21-063a-43a7-b91b-7ca1a833afae", "app_version": "2.3.0", "device_type": "android", "ip": "199.172.111.135", "locale": "RU", "device_id": "593-47-5928", "timestamp": "1694479551"}"#;

/// The sample's event time, epoch milliseconds.
pub const SAMPLE_TIME_MS: i64 = 1_694_479_551_000;

/// Processing time used by the tests: 1.5 s after the sample's event time.
pub const NOW_MS: i64 = SAMPLE_TIME_MS + 1_500;

/// The five-minute default skew, in milliseconds.
pub const SKEW_MS: i64 = 300_000;

pub fn sample_login() -> UserLogin {
    decode(Some(SAMPLE_LOGIN_JSON.as_bytes()), None, None).expect("the sample decodes")
}

pub fn tick(ticker: &str, price: i32) -> StockTick {
    StockTick {
        ticker: ticker.into(),
        timestamp_ms: SAMPLE_TIME_MS,
        price,
    }
}

pub fn tick_enricher() -> TickEnricher {
    TickEnricher::new(ReferenceData::builtin(), DEFAULT_MAX_FUTURE_SKEW)
}

pub fn login_enricher() -> LoginEnricher {
    LoginEnricher::new(DEFAULT_MAX_FUTURE_SKEW)
}

/// The (kind, field) of a rejection, for compact assertions.
pub fn reason(err: &ValidationError) -> (&'static str, &'static str) {
    (err.kind(), err.field())
}

/// A skew of zero, for tests at the exact bound.
pub const NO_SKEW: Duration = Duration::ZERO;
