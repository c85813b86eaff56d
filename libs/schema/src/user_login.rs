//! [`UserLogin`]: a user logging in to an app.
//!
//! JSON form, every value a string:
//! `{"user_id": "424cdd21-063a-43a7-b91b-7ca1a833afae", "app_version": "2.3.0",
//! "device_type": "android", "ip": "199.172.111.135", "locale": "RU",
//! "device_id": "593-47-5928", "timestamp": "1694479551"}`.
//! Protobuf form: `ferroflow.v1.UserLogin` (`proto/ferroflow/v1/user_login.proto`).
//!
//! Values are kept as the strings received, empty ones included: whether an
//! `ip` is an address or a `timestamp` a number is for the enricher to judge.

use prost::Message as _;
use serde::{Deserialize, Serialize};

use crate::proto::ferroflow_v1;
use crate::{DecodeError, Format, Record, json, wire};

/// A user logging in to an app. Every field is the string received.
///
/// `Serialize`/`Deserialize` give the JSON form; decode Kafka records with
/// [`crate::decode`] instead, which reports errors by field.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct UserLogin {
    /// User identifier, e.g. `424cdd21-063a-43a7-b91b-7ca1a833afae`.
    pub user_id: String,
    /// App version, e.g. `2.3.0`.
    pub app_version: String,
    /// Device type, e.g. `android`.
    pub device_type: String,
    /// Client IP address, e.g. `199.172.111.135`.
    pub ip: String,
    /// Locale or country code, e.g. `RU`.
    pub locale: String,
    /// Device identifier, e.g. `593-47-5928`.
    pub device_id: String,
    /// Event time: epoch seconds as a decimal string, e.g. `1694479551`.
    pub timestamp: String,
}

/// Field names in field-number order (field `i + 1` of `ferroflow.v1.UserLogin`).
const FIELDS: [&str; 7] = [
    "user_id",
    "app_version",
    "device_type",
    "ip",
    "locale",
    "device_id",
    "timestamp",
];

/// The JSON form as decoded: every field optional, so that absence is
/// reported by name; unknown fields ignored.
#[derive(Deserialize)]
struct JsonUserLogin {
    #[serde(default, deserialize_with = "json::opt_string")]
    user_id: Option<String>,
    #[serde(default, deserialize_with = "json::opt_string")]
    app_version: Option<String>,
    #[serde(default, deserialize_with = "json::opt_string")]
    device_type: Option<String>,
    #[serde(default, deserialize_with = "json::opt_string")]
    ip: Option<String>,
    #[serde(default, deserialize_with = "json::opt_string")]
    locale: Option<String>,
    #[serde(default, deserialize_with = "json::opt_string")]
    device_id: Option<String>,
    #[serde(default, deserialize_with = "json::opt_string")]
    timestamp: Option<String>,
}

impl UserLogin {
    /// The timestamp as epoch seconds, if it is a decimal integer that fits
    /// an `i64` (an optional leading `+` or `-` is accepted; spaces are not).
    pub fn timestamp_seconds(&self) -> Option<i64> {
        self.timestamp.parse().ok()
    }

    /// Checks every field is present; reports the first missing one in
    /// field-number order.
    fn from_parts(login: ferroflow_v1::UserLogin) -> Result<Self, DecodeError> {
        let required = |value: Option<String>, field: &'static str| {
            value.ok_or(DecodeError::MissingField { field })
        };
        Ok(UserLogin {
            user_id: required(login.user_id, "user_id")?,
            app_version: required(login.app_version, "app_version")?,
            device_type: required(login.device_type, "device_type")?,
            ip: required(login.ip, "ip")?,
            locale: required(login.locale, "locale")?,
            device_id: required(login.device_id, "device_id")?,
            timestamp: required(login.timestamp, "timestamp")?,
        })
    }

    /// The fields in field-number order.
    fn fields(&self) -> [&str; 7] {
        [
            &self.user_id,
            &self.app_version,
            &self.device_type,
            &self.ip,
            &self.locale,
            &self.device_id,
            &self.timestamp,
        ]
    }
}

impl Record for UserLogin {
    const KIND: &'static str = "user_login";

    fn decode_as(payload: &[u8], format: Format, _key: Option<&[u8]>) -> Result<Self, DecodeError> {
        if payload.is_empty() {
            return Err(DecodeError::EmptyPayload);
        }
        let login = match format {
            Format::Json => {
                let login: JsonUserLogin = json::decode(payload)?;
                ferroflow_v1::UserLogin {
                    user_id: login.user_id,
                    app_version: login.app_version,
                    device_type: login.device_type,
                    ip: login.ip,
                    locale: login.locale,
                    device_id: login.device_id,
                    timestamp: login.timestamp,
                }
            }
            Format::Protobuf => ferroflow_v1::UserLogin::decode(payload)
                .map_err(|err| wire::malformed(&err, "UserLogin", &FIELDS))?,
        };
        Self::from_parts(login)
    }

    fn encode_into(&self, format: Format, buf: &mut Vec<u8>) {
        let fields = self.fields();
        match format {
            Format::Json => {
                buf.reserve(96 + fields.iter().map(|f| f.len()).sum::<usize>());
                json::encode(self, buf);
            }
            Format::Protobuf => {
                buf.reserve(fields.iter().map(|f| wire::string_len(f)).sum());
                for (number, value) in (1..).zip(fields) {
                    wire::put_string(number, value, buf);
                }
            }
        }
    }

    fn event_time_ms(&self) -> Option<i64> {
        self.timestamp_seconds()?.checked_mul(1000)
    }
}

impl From<UserLogin> for ferroflow_v1::UserLogin {
    fn from(login: UserLogin) -> Self {
        ferroflow_v1::UserLogin {
            user_id: Some(login.user_id),
            app_version: Some(login.app_version),
            device_type: Some(login.device_type),
            ip: Some(login.ip),
            locale: Some(login.locale),
            device_id: Some(login.device_id),
            timestamp: Some(login.timestamp),
        }
    }
}

impl TryFrom<ferroflow_v1::UserLogin> for UserLogin {
    type Error = DecodeError;

    /// Fails with [`DecodeError::MissingField`] if a field is absent.
    fn try_from(login: ferroflow_v1::UserLogin) -> Result<Self, DecodeError> {
        Self::from_parts(login)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn login() -> UserLogin {
        UserLogin {
            user_id: "424cdd21-063a-43a7-b91b-7ca1a833afae".into(),
            app_version: "2.3.0".into(),
            device_type: "android".into(),
            ip: "199.172.111.135".into(),
            locale: "RU".into(),
            device_id: "593-47-5928".into(),
            timestamp: "1694479551".into(),
        }
    }

    #[test]
    fn hand_written_protobuf_matches_prost() {
        let mut odd = login();
        odd.user_id = String::new();
        odd.locale = "ру".repeat(100);
        for login in [login(), odd] {
            assert_eq!(
                login.encode_as(Format::Protobuf),
                ferroflow_v1::UserLogin::from(login.clone()).encode_to_vec()
            );
        }
    }

    #[test]
    fn timestamp_seconds_parses_decimal_strings_only() {
        let mut login = login();
        assert_eq!(login.timestamp_seconds(), Some(1_694_479_551));
        assert_eq!(login.event_time_ms(), Some(1_694_479_551_000));
        for bad in ["", " 1", "1.5", "abc", "99999999999999999999"] {
            login.timestamp = bad.into();
            assert_eq!(login.timestamp_seconds(), None, "{bad:?}");
        }
        login.timestamp = i64::MAX.to_string();
        assert_eq!(login.timestamp_seconds(), Some(i64::MAX));
        assert_eq!(login.event_time_ms(), None, "overflowing milliseconds");
    }

    #[test]
    fn empty_strings_are_kept() {
        let mut login = login();
        login.ip = String::new();
        for format in [Format::Json, Format::Protobuf] {
            let bytes = login.encode_as(format);
            assert_eq!(
                UserLogin::decode_as(&bytes, format, None),
                Ok(login.clone())
            );
        }
    }

    #[test]
    fn missing_fields_are_reported_in_field_order() {
        let err =
            UserLogin::decode_as(br#"{"user_id": "u", "timestamp": "1"}"#, Format::Json, None);
        assert_eq!(
            err,
            Err(DecodeError::MissingField {
                field: "app_version"
            })
        );
    }
}
