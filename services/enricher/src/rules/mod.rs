//! The validation and enrichment rules: pure functions and two small state
//! machines, no I/O.
//!
//! - [`TickEnricher`] (`tick.rs`): stock ticks; keeps the last price per
//!   ticker.
//! - [`LoginEnricher`] (`login.rs`): user logins; keeps the newest app
//!   version seen.
//! - [`ValidationError`] (`error.rs`): why a record was rejected, with a
//!   stable reason code.
//! - `time.rs`: event-time plausibility (shared) and RFC 3339 output;
//!   `ip.rs`: private ranges and anonymisation.
//!
//! Both enrichers take the processing time as an argument rather than
//! reading the clock, so tests (and replays) are deterministic.

mod error;
mod ip;
mod login;
mod tick;
mod time;

use std::time::Duration;

pub use error::ValidationError;
pub use ip::{anonymize as anonymize_ip, is_private as is_private_ip};
pub use login::{DEVICE_TYPES, LoginEnricher, LoginState};
pub use tick::{TickEnricher, TickState, is_well_formed_ticker};
pub use time::EARLIEST_EVENT_TIME_MS;

/// How far an event time may be ahead of the processing time by default:
/// producers' clocks drift, but not by more.
pub const DEFAULT_MAX_FUTURE_SKEW: Duration = Duration::from_secs(5 * 60);
