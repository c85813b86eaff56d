//! [`ValidationError`]: why a decoded record was rejected.
//!
//! The caller dead-letters a rejected record, so the error is an enum with a
//! stable reason code ([`ValidationError::kind`], for the `ff-dlq-error-kind`
//! header and metric labels) and the field it is about
//! ([`ValidationError::field`]). Values taken from the input are kept bounded
//! in length, as they end up in headers and logs.

use std::fmt;

/// Why a record failed validation. The first failing field is reported, in
/// the record's field order.
///
/// `Display` names the field and the problem, e.g. ``` `price` -5: must be
/// greater than 0```.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    /// The ticker is not in the reference data and not of the form
    /// `[A-Z][A-Z0-9_]{0,15}`.
    #[error(
        "`ticker` {}: not in the reference data and not of the form [A-Z][A-Z0-9_]{{0,15}}",
        Shown(ticker)
    )]
    UnknownTicker {
        /// The ticker as received (bounded).
        ticker: String,
    },

    /// The price is zero or negative.
    #[error("`price` {price}: must be greater than 0")]
    NonPositivePrice {
        /// The price as received.
        price: i32,
    },

    /// The event time is before 2000-01-01, or further ahead of the
    /// processing time than the allowed skew.
    #[error("`timestamp` {value}: {problem}")]
    ImplausibleTimestamp {
        /// The event time as received, with its unit, e.g. `946684799000 ms`.
        value: String,
        /// Which bound it breaks.
        problem: String,
    },

    /// The user id is not a UUID, or is the nil UUID.
    #[error("`user_id` {}: {problem}", Shown(value))]
    InvalidUserId {
        /// The user id as received (bounded).
        value: String,
        /// What is wrong with it.
        problem: String,
    },

    /// The app version is not a semantic version (semver.org 2.0.0).
    #[error(
        "`app_version` {}: not a semantic version MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]: {problem}",
        Shown(value)
    )]
    InvalidAppVersion {
        /// The version as received (bounded).
        value: String,
        /// The parser's description.
        problem: String,
    },

    /// The device type is not one of [`crate::rules::DEVICE_TYPES`].
    #[error("`device_type` {}: not a known device type ({})", Shown(value), crate::rules::DEVICE_TYPES.join(", "))]
    UnknownDeviceType {
        /// The device type as received (bounded).
        value: String,
    },

    /// The IP is not an IPv4 or IPv6 address.
    #[error("`ip` {}: not an IPv4 or IPv6 address", Shown(value))]
    InvalidIp {
        /// The IP as received (bounded).
        value: String,
    },

    /// The locale is not an ISO 3166-1 alpha-2 country code.
    #[error("`locale` {}: not an ISO 3166-1 alpha-2 country code", Shown(value))]
    UnknownLocale {
        /// The locale as received (bounded).
        value: String,
    },

    /// The login timestamp is not a decimal number of epoch seconds.
    #[error(
        "`timestamp` {}: expected epoch seconds as decimal digits",
        Shown(value)
    )]
    InvalidTimestamp {
        /// The timestamp as received (bounded).
        value: String,
    },

    /// The device id is empty or blank.
    #[error("`device_id` is empty")]
    MissingDeviceId,
}

impl ValidationError {
    /// Every value [`ValidationError::kind`] can return, e.g. to pre-register
    /// metric label values.
    pub const KINDS: [&'static str; 10] = [
        "unknown_ticker",
        "non_positive_price",
        "implausible_timestamp",
        "invalid_user_id",
        "invalid_app_version",
        "unknown_device_type",
        "invalid_ip",
        "unknown_locale",
        "invalid_timestamp",
        "missing_device_id",
    ];

    /// A stable snake_case reason code, for dead-letter headers and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            ValidationError::UnknownTicker { .. } => "unknown_ticker",
            ValidationError::NonPositivePrice { .. } => "non_positive_price",
            ValidationError::ImplausibleTimestamp { .. } => "implausible_timestamp",
            ValidationError::InvalidUserId { .. } => "invalid_user_id",
            ValidationError::InvalidAppVersion { .. } => "invalid_app_version",
            ValidationError::UnknownDeviceType { .. } => "unknown_device_type",
            ValidationError::InvalidIp { .. } => "invalid_ip",
            ValidationError::UnknownLocale { .. } => "unknown_locale",
            ValidationError::InvalidTimestamp { .. } => "invalid_timestamp",
            ValidationError::MissingDeviceId => "missing_device_id",
        }
    }

    /// The field of the input record the error is about, as named in its
    /// JSON form.
    pub fn field(&self) -> &'static str {
        match self {
            ValidationError::UnknownTicker { .. } => "ticker",
            ValidationError::NonPositivePrice { .. } => "price",
            ValidationError::ImplausibleTimestamp { .. }
            | ValidationError::InvalidTimestamp { .. } => "timestamp",
            ValidationError::InvalidUserId { .. } => "user_id",
            ValidationError::InvalidAppVersion { .. } => "app_version",
            ValidationError::UnknownDeviceType { .. } => "device_type",
            ValidationError::InvalidIp { .. } => "ip",
            ValidationError::UnknownLocale { .. } => "locale",
            ValidationError::MissingDeviceId => "device_id",
        }
    }
}

/// The longest input value an error keeps, in bytes.
pub(crate) const MAX_VALUE_LEN: usize = 64;

/// `value` cut to at most [`MAX_VALUE_LEN`] bytes on a char boundary, the
/// cut marked with `…`. Only called on the error path.
pub(crate) fn bounded(value: &str) -> String {
    if value.len() <= MAX_VALUE_LEN {
        return value.to_owned();
    }
    let mut end = MAX_VALUE_LEN;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    let mut cut = value.get(..end).unwrap_or_default().to_owned();
    cut.push('…');
    cut
}

/// Shows an input value quoted and escaped (control characters included),
/// so a message stays one printable line.
struct Shown<'a>(&'a str);

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_lists_every_kind_in_order() {
        let errors = [
            ValidationError::UnknownTicker { ticker: "x".into() },
            ValidationError::NonPositivePrice { price: 0 },
            ValidationError::ImplausibleTimestamp {
                value: "0 ms".into(),
                problem: "x".into(),
            },
            ValidationError::InvalidUserId {
                value: "x".into(),
                problem: "x".into(),
            },
            ValidationError::InvalidAppVersion {
                value: "x".into(),
                problem: "x".into(),
            },
            ValidationError::UnknownDeviceType { value: "x".into() },
            ValidationError::InvalidIp { value: "x".into() },
            ValidationError::UnknownLocale { value: "x".into() },
            ValidationError::InvalidTimestamp { value: "x".into() },
            ValidationError::MissingDeviceId,
        ];
        let kinds: Vec<_> = errors.iter().map(ValidationError::kind).collect();
        assert_eq!(kinds, ValidationError::KINDS);
        for err in &errors {
            assert!(
                err.to_string().starts_with(&format!("`{}`", err.field())),
                "{err}"
            );
        }
    }

    #[test]
    fn messages_quote_and_escape_input() {
        let err = ValidationError::InvalidIp {
            value: "1.2.3.4\n\u{7}".into(),
        };
        assert_eq!(
            err.to_string(),
            r#"`ip` "1.2.3.4\n\u{7}": not an IPv4 or IPv6 address"#
        );
    }

    #[test]
    fn bounded_cuts_long_values_on_a_char_boundary() {
        let cut = bounded(&"é".repeat(100));
        assert!(cut.len() <= MAX_VALUE_LEN + '…'.len_utf8());
        assert!(cut.ends_with('…'));
        assert_eq!(bounded("short"), "short");
    }
}
