//! [`EnrichedUserLogin`]: a validated, normalised user login with derived
//! fields, as the enricher writes it to `user-login-enriched`.
//!
//! Protobuf form: `ferroflow.v1.EnrichedUserLogin`
//! (`proto/ferroflow/v1/enriched.proto`). JSON form: the same field names,
//! e.g. `{"user_id":"424cdd21-063a-43a7-b91b-7ca1a833afae","app_version":"2.3.0",
//! "device_type":"android","ip":"199.172.111.135","locale":"RU",
//! "device_id":"593-47-5928","event_time_rfc3339":"2023-09-12T00:45:51Z",
//! "timestamp_seconds":1694479551,"version_major":2,"version_minor":3,
//! "version_patch":0,"version_outdated":false,"ip_version":4,
//! "ip_private":false,"ip_anonymized":"199.172.111.0","country":"Russian Federation"}`.

use prost::Message as _;
use serde::{Deserialize, Serialize};

use crate::proto::ferroflow_v1;
use crate::{DecodeError, Format, Record, json, wire};

/// A validated, normalised user login with derived fields.
///
/// `Serialize`/`Deserialize` give the JSON form; decode Kafka records with
/// [`crate::decode`] instead, which reports errors by field.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EnrichedUserLogin {
    /// User identifier, a UUID in lower-case hyphenated form.
    pub user_id: String,
    /// App version as received, a valid semantic version, e.g. `2.3.0`.
    pub app_version: String,
    /// Device type, lower case, e.g. `android`.
    pub device_type: String,
    /// Client IP address in canonical text form (RFC 5952 for IPv6).
    pub ip: String,
    /// ISO 3166-1 alpha-2 country code, upper case, e.g. `RU`.
    pub locale: String,
    /// Device identifier as received, non-empty.
    pub device_id: String,
    /// Event time in RFC 3339, UTC, whole seconds: `2023-09-12T00:45:51Z`.
    pub event_time_rfc3339: String,
    /// Event time, epoch seconds (UTC).
    pub timestamp_seconds: i64,
    /// MAJOR of `app_version`.
    pub version_major: u64,
    /// MINOR of `app_version`.
    pub version_minor: u64,
    /// PATCH of `app_version`.
    pub version_patch: u64,
    /// Whether `app_version` is lower (by semver precedence) than the newest
    /// version the enricher had seen when it processed this login.
    pub version_outdated: bool,
    /// 4 or 6.
    pub ip_version: u32,
    /// Whether `ip` is in a private, loopback, link-local or shared (CGNAT) range.
    pub ip_private: bool,
    /// `ip` with the host part zeroed: its /24 for IPv4, its /48 for IPv6.
    pub ip_anonymized: String,
    /// English name of the locale's country, e.g. `Russian Federation`.
    pub country: String,
}

/// Field numbers of `ferroflow.v1.EnrichedUserLogin`.
mod field {
    pub const USER_ID: u32 = 1;
    pub const APP_VERSION: u32 = 2;
    pub const DEVICE_TYPE: u32 = 3;
    pub const IP: u32 = 4;
    pub const LOCALE: u32 = 5;
    pub const DEVICE_ID: u32 = 6;
    pub const EVENT_TIME_RFC3339: u32 = 7;
    pub const TIMESTAMP_SECONDS: u32 = 8;
    pub const VERSION_MAJOR: u32 = 9;
    pub const VERSION_MINOR: u32 = 10;
    pub const VERSION_PATCH: u32 = 11;
    pub const VERSION_OUTDATED: u32 = 12;
    pub const IP_VERSION: u32 = 13;
    pub const IP_PRIVATE: u32 = 14;
    pub const IP_ANONYMIZED: u32 = 15;
    pub const COUNTRY: u32 = 16;
}

/// Field names in field-number order, for prost error mapping.
const FIELDS: [&str; 16] = [
    "user_id",
    "app_version",
    "device_type",
    "ip",
    "locale",
    "device_id",
    "event_time_rfc3339",
    "timestamp_seconds",
    "version_major",
    "version_minor",
    "version_patch",
    "version_outdated",
    "ip_version",
    "ip_private",
    "ip_anonymized",
    "country",
];

/// The JSON form as decoded: every field optional, so that absence is
/// reported by name; unknown fields ignored.
#[derive(Deserialize)]
struct JsonEnrichedUserLogin {
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
    event_time_rfc3339: Option<String>,
    #[serde(default, deserialize_with = "json::opt_i64")]
    timestamp_seconds: Option<i64>,
    #[serde(default, deserialize_with = "json::opt_u64")]
    version_major: Option<u64>,
    #[serde(default, deserialize_with = "json::opt_u64")]
    version_minor: Option<u64>,
    #[serde(default, deserialize_with = "json::opt_u64")]
    version_patch: Option<u64>,
    #[serde(default, deserialize_with = "json::opt_bool")]
    version_outdated: Option<bool>,
    #[serde(default, deserialize_with = "json::opt_u32")]
    ip_version: Option<u32>,
    #[serde(default, deserialize_with = "json::opt_bool")]
    ip_private: Option<bool>,
    #[serde(default, deserialize_with = "json::opt_string")]
    ip_anonymized: Option<String>,
    #[serde(default, deserialize_with = "json::opt_string")]
    country: Option<String>,
}

impl From<JsonEnrichedUserLogin> for ferroflow_v1::EnrichedUserLogin {
    fn from(login: JsonEnrichedUserLogin) -> Self {
        ferroflow_v1::EnrichedUserLogin {
            user_id: login.user_id,
            app_version: login.app_version,
            device_type: login.device_type,
            ip: login.ip,
            locale: login.locale,
            device_id: login.device_id,
            event_time_rfc3339: login.event_time_rfc3339,
            timestamp_seconds: login.timestamp_seconds,
            version_major: login.version_major,
            version_minor: login.version_minor,
            version_patch: login.version_patch,
            version_outdated: login.version_outdated,
            ip_version: login.ip_version,
            ip_private: login.ip_private,
            ip_anonymized: login.ip_anonymized,
            country: login.country,
        }
    }
}

impl EnrichedUserLogin {
    /// Checks every field is present; reports the first missing one in
    /// field-number order.
    fn from_parts(login: ferroflow_v1::EnrichedUserLogin) -> Result<Self, DecodeError> {
        fn required<T>(value: Option<T>, field: &'static str) -> Result<T, DecodeError> {
            value.ok_or(DecodeError::MissingField { field })
        }
        Ok(EnrichedUserLogin {
            user_id: required(login.user_id, "user_id")?,
            app_version: required(login.app_version, "app_version")?,
            device_type: required(login.device_type, "device_type")?,
            ip: required(login.ip, "ip")?,
            locale: required(login.locale, "locale")?,
            device_id: required(login.device_id, "device_id")?,
            event_time_rfc3339: required(login.event_time_rfc3339, "event_time_rfc3339")?,
            timestamp_seconds: required(login.timestamp_seconds, "timestamp_seconds")?,
            version_major: required(login.version_major, "version_major")?,
            version_minor: required(login.version_minor, "version_minor")?,
            version_patch: required(login.version_patch, "version_patch")?,
            version_outdated: required(login.version_outdated, "version_outdated")?,
            ip_version: required(login.ip_version, "ip_version")?,
            ip_private: required(login.ip_private, "ip_private")?,
            ip_anonymized: required(login.ip_anonymized, "ip_anonymized")?,
            country: required(login.country, "country")?,
        })
    }

    /// The exact protobuf encoding length, to reserve it at once.
    fn protobuf_len(&self) -> usize {
        use field::*;
        wire::string_field_len(USER_ID, &self.user_id)
            + wire::string_field_len(APP_VERSION, &self.app_version)
            + wire::string_field_len(DEVICE_TYPE, &self.device_type)
            + wire::string_field_len(IP, &self.ip)
            + wire::string_field_len(LOCALE, &self.locale)
            + wire::string_field_len(DEVICE_ID, &self.device_id)
            + wire::string_field_len(EVENT_TIME_RFC3339, &self.event_time_rfc3339)
            + wire::varint_field_len(TIMESTAMP_SECONDS, self.timestamp_seconds as u64)
            + wire::varint_field_len(VERSION_MAJOR, self.version_major)
            + wire::varint_field_len(VERSION_MINOR, self.version_minor)
            + wire::varint_field_len(VERSION_PATCH, self.version_patch)
            + wire::varint_field_len(VERSION_OUTDATED, 1)
            + wire::varint_field_len(IP_VERSION, u64::from(self.ip_version))
            + wire::varint_field_len(IP_PRIVATE, 1)
            + wire::string_field_len(IP_ANONYMIZED, &self.ip_anonymized)
            + wire::string_field_len(COUNTRY, &self.country)
    }
}

impl Record for EnrichedUserLogin {
    const KIND: &'static str = "enriched_user_login";

    /// Decodes `payload`; the key is not used. Every field is required.
    fn decode_as(payload: &[u8], format: Format, _key: Option<&[u8]>) -> Result<Self, DecodeError> {
        if payload.is_empty() {
            return Err(DecodeError::EmptyPayload);
        }
        let login = match format {
            Format::Json => json::decode::<JsonEnrichedUserLogin>(payload)?.into(),
            Format::Protobuf => ferroflow_v1::EnrichedUserLogin::decode(payload)
                .map_err(|err| wire::malformed(&err, "EnrichedUserLogin", &FIELDS))?,
        };
        Self::from_parts(login)
    }

    fn encode_into(&self, format: Format, buf: &mut Vec<u8>) {
        match format {
            Format::Json => {
                buf.reserve(448 + self.user_id.len() + self.device_id.len() + self.country.len());
                json::encode(self, buf);
            }
            Format::Protobuf => {
                use field::*;
                buf.reserve(self.protobuf_len());
                // Field-number order, as prost writes it.
                wire::put_string(USER_ID, &self.user_id, buf);
                wire::put_string(APP_VERSION, &self.app_version, buf);
                wire::put_string(DEVICE_TYPE, &self.device_type, buf);
                wire::put_string(IP, &self.ip, buf);
                wire::put_string(LOCALE, &self.locale, buf);
                wire::put_string(DEVICE_ID, &self.device_id, buf);
                wire::put_string(EVENT_TIME_RFC3339, &self.event_time_rfc3339, buf);
                wire::put_int64(TIMESTAMP_SECONDS, self.timestamp_seconds, buf);
                wire::put_uint64(VERSION_MAJOR, self.version_major, buf);
                wire::put_uint64(VERSION_MINOR, self.version_minor, buf);
                wire::put_uint64(VERSION_PATCH, self.version_patch, buf);
                wire::put_bool(VERSION_OUTDATED, self.version_outdated, buf);
                wire::put_uint32(IP_VERSION, self.ip_version, buf);
                wire::put_bool(IP_PRIVATE, self.ip_private, buf);
                wire::put_string(IP_ANONYMIZED, &self.ip_anonymized, buf);
                wire::put_string(COUNTRY, &self.country, buf);
            }
        }
    }

    fn event_time_ms(&self) -> Option<i64> {
        self.timestamp_seconds.checked_mul(1000)
    }
}

impl From<EnrichedUserLogin> for ferroflow_v1::EnrichedUserLogin {
    fn from(login: EnrichedUserLogin) -> Self {
        ferroflow_v1::EnrichedUserLogin {
            user_id: Some(login.user_id),
            app_version: Some(login.app_version),
            device_type: Some(login.device_type),
            ip: Some(login.ip),
            locale: Some(login.locale),
            device_id: Some(login.device_id),
            event_time_rfc3339: Some(login.event_time_rfc3339),
            timestamp_seconds: Some(login.timestamp_seconds),
            version_major: Some(login.version_major),
            version_minor: Some(login.version_minor),
            version_patch: Some(login.version_patch),
            version_outdated: Some(login.version_outdated),
            ip_version: Some(login.ip_version),
            ip_private: Some(login.ip_private),
            ip_anonymized: Some(login.ip_anonymized),
            country: Some(login.country),
        }
    }
}

impl TryFrom<ferroflow_v1::EnrichedUserLogin> for EnrichedUserLogin {
    type Error = DecodeError;

    /// Fails with [`DecodeError::MissingField`] if a field is absent.
    fn try_from(login: ferroflow_v1::EnrichedUserLogin) -> Result<Self, DecodeError> {
        Self::from_parts(login)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn login() -> EnrichedUserLogin {
        EnrichedUserLogin {
            user_id: "424cdd21-063a-43a7-b91b-7ca1a833afae".into(),
            app_version: "2.3.0".into(),
            device_type: "android".into(),
            ip: "199.172.111.135".into(),
            locale: "RU".into(),
            device_id: "593-47-5928".into(),
            event_time_rfc3339: "2023-09-12T00:45:51Z".into(),
            timestamp_seconds: 1_694_479_551,
            version_major: 2,
            version_minor: 3,
            version_patch: 0,
            version_outdated: false,
            ip_version: 4,
            ip_private: false,
            ip_anonymized: "199.172.111.0".into(),
            country: "Russian Federation".into(),
        }
    }

    #[test]
    fn json_form_uses_the_proto_field_names() {
        assert_eq!(
            String::from_utf8(login().encode_as(Format::Json)).expect("UTF-8"),
            r#"{"user_id":"424cdd21-063a-43a7-b91b-7ca1a833afae","app_version":"2.3.0","device_type":"android","ip":"199.172.111.135","locale":"RU","device_id":"593-47-5928","event_time_rfc3339":"2023-09-12T00:45:51Z","timestamp_seconds":1694479551,"version_major":2,"version_minor":3,"version_patch":0,"version_outdated":false,"ip_version":4,"ip_private":false,"ip_anonymized":"199.172.111.0","country":"Russian Federation"}"#
        );
        assert_eq!(login().event_time_ms(), Some(1_694_479_551_000));
    }

    #[test]
    fn hand_written_protobuf_matches_prost() {
        let odd = EnrichedUserLogin {
            user_id: String::new(),
            country: "ру".repeat(100),
            timestamp_seconds: i64::MIN,
            version_major: u64::MAX,
            version_outdated: true,
            ip_version: u32::MAX,
            ip_private: true,
            ..login()
        };
        for login in [login(), odd] {
            let bytes = login.encode_as(Format::Protobuf);
            assert_eq!(
                bytes,
                ferroflow_v1::EnrichedUserLogin::from(login.clone()).encode_to_vec()
            );
            assert_eq!(bytes.len(), login.protobuf_len());
        }
    }

    #[test]
    fn missing_fields_are_reported_in_field_order() {
        let message = ferroflow_v1::EnrichedUserLogin {
            ip_private: None,
            country: None,
            ..login().into()
        };
        assert_eq!(
            EnrichedUserLogin::decode_as(&message.encode_to_vec(), Format::Protobuf, None),
            Err(DecodeError::MissingField {
                field: "ip_private"
            })
        );
    }

    #[test]
    fn wrong_json_types_name_the_field() {
        let mut json: serde_json::Value =
            serde_json::from_slice(&login().encode_as(Format::Json)).expect("JSON");
        json["version_major"] = serde_json::json!(-1);
        let err = EnrichedUserLogin::decode_as(json.to_string().as_bytes(), Format::Json, None)
            .expect_err("negative major");
        assert_eq!(err.kind(), "invalid_field");
        assert_eq!(err.field(), Some("version_major"));
        json["version_major"] = serde_json::json!(2);
        json["ip_private"] = serde_json::json!("no");
        let err = EnrichedUserLogin::decode_as(json.to_string().as_bytes(), Format::Json, None)
            .expect_err("string bool");
        assert_eq!(
            err.to_string(),
            r#"invalid field `ip_private`: expected a boolean, found string "no""#
        );
    }
}
