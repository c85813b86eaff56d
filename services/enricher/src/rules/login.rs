//! User logins: validation of every field, normalisation, derived fields.

use std::cmp::Ordering;
use std::net::IpAddr;
use std::time::Duration;

use ferroflow_schema::{EnrichedUserLogin, UserLogin};
use semver::Version;
use uuid::Uuid;

use super::error::bounded;
use super::ip;
use super::time::{check_plausible, rfc3339_seconds, skew_ms};
use crate::ValidationError;

/// The device types a login may name, compared ignoring ASCII case and
/// written in lower case.
pub const DEVICE_TYPES: &[&str] = &[
    "android",
    "ios",
    "ipados",
    "watchos",
    "tvos",
    "wearos",
    "harmonyos",
    "web",
    "windows",
    "macos",
    "linux",
    "chromeos",
];

/// Validates, normalises and enriches user logins, remembering the newest
/// app version seen to flag outdated ones.
///
/// State is in memory: after a start, `version_outdated` is false until a
/// newer version than a login's has been seen again.
#[derive(Debug, Clone)]
pub struct LoginEnricher {
    max_future_skew_ms: i64,
    newest: Option<Version>,
}

/// The state of a [`LoginEnricher`] (the newest version seen), taken with
/// [`LoginEnricher::snapshot`] and put back with [`LoginEnricher::restore`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoginState {
    newest: Option<Version>,
}

/// A login's fields, checked and normalised, before the state is consulted.
struct Checked {
    version: Version,
    ip: IpAddr,
    country: &'static str,
    timestamp_seconds: i64,
    event_time_rfc3339: String,
}

impl LoginEnricher {
    /// An enricher that accepts event times up to `max_future_skew` ahead of
    /// the processing time (see [`crate::rules::DEFAULT_MAX_FUTURE_SKEW`]).
    pub fn new(max_future_skew: Duration) -> Self {
        LoginEnricher {
            max_future_skew_ms: skew_ms(max_future_skew),
            newest: None,
        }
    }

    /// Validates `login`, normalises it and adds derived fields, as processed
    /// at `processing_time_ms` (epoch milliseconds).
    ///
    /// Fields are checked in field order (`user_id`, `app_version`,
    /// `device_type`, `ip`, `locale`, `device_id`, `timestamp`); see
    /// `docs/enricher.md` for the rules. Only a valid login can raise the
    /// newest version seen.
    ///
    /// # Errors
    ///
    /// The first rule broken, as a [`ValidationError`]. Never panics.
    pub fn enrich(
        &mut self,
        mut login: UserLogin,
        processing_time_ms: i64,
    ) -> Result<EnrichedUserLogin, ValidationError> {
        let checked = self.check(&mut login, processing_time_ms)?;
        let version = checked.version;
        let version_outdated = match &self.newest {
            Some(newest) => match version.cmp_precedence(newest) {
                Ordering::Less => true,
                Ordering::Equal => false,
                Ordering::Greater => {
                    self.newest = Some(version.clone());
                    false
                }
            },
            None => {
                self.newest = Some(version.clone());
                false
            }
        };
        Ok(EnrichedUserLogin {
            user_id: login.user_id,
            app_version: login.app_version,
            device_type: login.device_type,
            ip: login.ip,
            locale: login.locale,
            device_id: login.device_id,
            event_time_rfc3339: checked.event_time_rfc3339,
            timestamp_seconds: checked.timestamp_seconds,
            version_major: version.major,
            version_minor: version.minor,
            version_patch: version.patch,
            version_outdated,
            ip_version: if checked.ip.is_ipv4() { 4 } else { 6 },
            ip_private: ip::is_private(checked.ip),
            ip_anonymized: ip::anonymize(checked.ip).to_string(),
            country: checked.country.to_owned(),
        })
    }

    /// Checks every field in order and normalises `login` in place (reusing
    /// its strings where the normal form is no longer).
    fn check(
        &self,
        login: &mut UserLogin,
        processing_time_ms: i64,
    ) -> Result<Checked, ValidationError> {
        normalize_user_id(&mut login.user_id)?;
        let version = Version::parse(&login.app_version).map_err(|err| {
            ValidationError::InvalidAppVersion {
                value: bounded(&login.app_version),
                problem: err.to_string(),
            }
        })?;
        if !DEVICE_TYPES
            .iter()
            .any(|known| known.eq_ignore_ascii_case(&login.device_type))
        {
            return Err(ValidationError::UnknownDeviceType {
                value: bounded(&login.device_type),
            });
        }
        login.device_type.make_ascii_lowercase();
        let ip = normalize_ip(&mut login.ip)?;
        let country = normalize_locale(&mut login.locale)?;
        if login.device_id.trim().is_empty() {
            return Err(ValidationError::MissingDeviceId);
        }
        let timestamp_seconds = self.timestamp_seconds(&login.timestamp, processing_time_ms)?;
        let event_time_rfc3339 = rfc3339_seconds(timestamp_seconds).ok_or_else(|| {
            ValidationError::ImplausibleTimestamp {
                value: format!("{timestamp_seconds} s"),
                problem: "not representable in RFC 3339".to_owned(),
            }
        })?;
        Ok(Checked {
            version,
            ip,
            country,
            timestamp_seconds,
            event_time_rfc3339,
        })
    }

    /// The timestamp as epoch seconds: decimal digits only (no sign, no
    /// spaces), plausible like a tick's.
    fn timestamp_seconds(
        &self,
        text: &str,
        processing_time_ms: i64,
    ) -> Result<i64, ValidationError> {
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ValidationError::InvalidTimestamp {
                value: bounded(text),
            });
        }
        let implausible = |problem: String| ValidationError::ImplausibleTimestamp {
            value: format!("{} s", bounded(text)),
            problem,
        };
        // All digits: parsing fails only by overflow.
        let seconds: i64 = text
            .parse()
            .map_err(|_| implausible("after 9999-12-31T23:59:59Z".to_owned()))?;
        let millis = seconds
            .checked_mul(1000)
            .ok_or_else(|| implausible("after 9999-12-31T23:59:59Z".to_owned()))?;
        check_plausible(millis, processing_time_ms, self.max_future_skew_ms).map_err(
            |mut problem| {
                // A common producer mistake: milliseconds where seconds are due.
                if check_plausible(millis / 1000, processing_time_ms, self.max_future_skew_ms)
                    .is_ok()
                {
                    problem.push_str(" (epoch milliseconds? expected seconds)");
                }
                implausible(problem)
            },
        )?;
        Ok(seconds)
    }

    /// The newest app version seen so far, by semver precedence.
    pub fn newest_version(&self) -> Option<&Version> {
        self.newest.as_ref()
    }

    /// A copy of the state, e.g. taken when a Kafka transaction begins.
    pub fn snapshot(&self) -> LoginState {
        LoginState {
            newest: self.newest.clone(),
        }
    }

    /// Puts back a state from [`LoginEnricher::snapshot`], e.g. when a
    /// transaction aborts and its records will be processed again.
    pub fn restore(&mut self, state: LoginState) {
        self.newest = state.newest;
    }
}

/// Checks `user_id` is a UUID other than nil, in any form the `uuid` crate
/// reads (hyphenated, simple, braced, URN; any case), and rewrites it
/// lower-case hyphenated if it is not already.
fn normalize_user_id(user_id: &mut String) -> Result<(), ValidationError> {
    let invalid = |problem: String| ValidationError::InvalidUserId {
        value: bounded(user_id),
        problem,
    };
    let uuid = Uuid::try_parse(user_id).map_err(|err| invalid(err.to_string()))?;
    if uuid.is_nil() {
        return Err(invalid("the nil UUID identifies no user".to_owned()));
    }
    let mut buf = [0u8; uuid::fmt::Hyphenated::LENGTH];
    let canonical = uuid.hyphenated().encode_lower(&mut buf);
    if user_id != canonical {
        *user_id = canonical.to_owned();
    }
    Ok(())
}

/// Parses `ip` (IPv4 dotted decimal without leading zeros, or IPv6 without
/// zone) and rewrites it in canonical form (RFC 5952 for IPv6: lower case,
/// longest zero run compressed) if it is not already.
fn normalize_ip(text: &mut String) -> Result<IpAddr, ValidationError> {
    let ip: IpAddr = text.parse().map_err(|_| ValidationError::InvalidIp {
        value: bounded(text),
    })?;
    // std's IPv4 parser accepts only the canonical form; IPv6 has many.
    if ip.is_ipv6() {
        let canonical = ip.to_string();
        if *text != canonical {
            *text = canonical;
        }
    }
    Ok(ip)
}

/// Checks `locale` is an ISO 3166-1 alpha-2 code (any ASCII case),
/// upper-cases it and returns the country's English short name.
fn normalize_locale(locale: &mut String) -> Result<&'static str, ValidationError> {
    let country = match locale.as_bytes() {
        &[a, b] if a.is_ascii_alphabetic() && b.is_ascii_alphabetic() => {
            let code = [a.to_ascii_uppercase(), b.to_ascii_uppercase()];
            std::str::from_utf8(&code)
                .ok()
                .and_then(rust_iso3166::from_alpha2)
        }
        _ => None,
    };
    let country = country.ok_or_else(|| ValidationError::UnknownLocale {
        value: bounded(locale),
    })?;
    locale.make_ascii_uppercase();
    Ok(country.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_ids_are_normalised_to_lower_case_hyphenated() {
        let want = "424cdd21-063a-43a7-b91b-7ca1a833afae";
        for form in [
            want,
            "424CDD21-063A-43A7-B91B-7CA1A833AFAE",
            "424cdd21063a43a7b91b7ca1a833afae",
            "{424cdd21-063a-43a7-b91b-7ca1a833afae}",
            "urn:uuid:424cdd21-063a-43a7-b91b-7ca1a833afae",
        ] {
            let mut id = form.to_owned();
            normalize_user_id(&mut id).expect(form);
            assert_eq!(id, want, "{form}");
        }
        let mut nil = "00000000-0000-0000-0000-000000000000".to_owned();
        assert!(normalize_user_id(&mut nil).is_err());
    }

    #[test]
    fn ipv6_is_rewritten_in_canonical_form() {
        let mut text = "2001:0DB8:0000:0000:0000:0000:0000:0001".to_owned();
        normalize_ip(&mut text).expect("valid");
        assert_eq!(text, "2001:db8::1");
        for bad in [
            "01.2.3.4",
            "1.2.3",
            "1.2.3.4.5",
            "256.1.1.1",
            "fe80::1%eth0",
            " 1.2.3.4",
        ] {
            assert!(normalize_ip(&mut bad.to_owned()).is_err(), "{bad}");
        }
    }

    #[test]
    fn locales_are_case_insensitive_two_letter_codes() {
        for (code, want) in [("RU", "RU"), ("us", "US"), ("De", "DE")] {
            let mut locale = code.to_owned();
            normalize_locale(&mut locale).expect(code);
            assert_eq!(locale, want);
        }
        for bad in ["", "R", "RUS", "ru_RU", "en-US", "ZZ", "UK", "Ру", "1A"] {
            assert!(normalize_locale(&mut bad.to_owned()).is_err(), "{bad}");
        }
    }
}
