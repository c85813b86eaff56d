//! JSON decoding of record fields, with errors that name the field.
//!
//! Records are decoded into private structs whose fields are all `Option`s
//! (so a missing field is reported by the record, by name) with the field
//! deserializers below (so a wrong type is reported with a short message).
//!
//! The happy path is plain `serde_json::from_slice` into those typed structs:
//! no `serde_json::Value`, no path tracking. Only when it fails is the payload
//! decoded a second time through `serde_path_to_error`, to learn which field
//! failed. Unknown fields are skipped (forward compatibility).

use std::fmt;
use std::marker::PhantomData;

use serde::Serialize;
use serde::de::{self, Deserialize, Deserializer, Visitor};
use serde_json::error::Category;

use crate::error::bounded;
use crate::format::trim_json_whitespace;
use crate::{DecodeError, Format};

/// Decodes a JSON object into `T`, mapping errors to [`DecodeError`].
pub(crate) fn decode<'de, T: Deserialize<'de>>(payload: &'de [u8]) -> Result<T, DecodeError> {
    // serde's derived struct visitors also accept a JSON array (fields by
    // position); our JSON form is an object, so insist on one.
    if trim_json_whitespace(payload).first() != Some(&b'{') {
        return Err(malformed(None, "expected a JSON object".to_owned()));
    }
    serde_json::from_slice(payload).map_err(|err| explain::<T>(payload, err))
}

/// Appends the JSON form of `value` to `buf`.
pub(crate) fn encode<T: Serialize>(value: &T, buf: &mut Vec<u8>) {
    #[allow(clippy::expect_used)]
    // Our records are structs of strings and integers, which always serialize,
    // and writing to a Vec cannot fail.
    serde_json::to_writer(buf, value).expect("a record always serializes to JSON");
}

/// Re-decodes a payload that failed, tracking the path, to name the field.
#[cold]
fn explain<'de, T: Deserialize<'de>>(
    payload: &'de [u8],
    original: serde_json::Error,
) -> DecodeError {
    let mut deserializer = serde_json::Deserializer::from_slice(payload);
    let (path, err) = match serde_path_to_error::deserialize::<_, T>(&mut deserializer) {
        Err(err) => (err.path().to_string(), err.into_inner()),
        // The value itself was fine; what failed came after it (trailing characters).
        Ok(_) => (".".to_owned(), original),
    };
    let field = (path != ".").then_some(path);
    match (err.classify(), field) {
        (Category::Data, Some(field)) => DecodeError::InvalidField {
            field,
            problem: problem(&err),
        },
        // A data error not inside a field, e.g. a duplicate field.
        (Category::Data, None) => malformed(None, problem(&err)),
        (Category::Syntax | Category::Eof | Category::Io, field) => {
            malformed(field, bounded(err.to_string()))
        }
    }
}

fn malformed(field: Option<String>, detail: String) -> DecodeError {
    DecodeError::Malformed {
        format: Format::Json,
        field,
        detail,
    }
}

/// serde_json's message without the position (the field is named instead),
/// with serde's "invalid type: X, expected Y" turned into "expected Y, found X".
fn problem(err: &serde_json::Error) -> String {
    let text = err.to_string();
    let position = format!(" at line {} column {}", err.line(), err.column());
    let text = text.strip_suffix(&position).unwrap_or(&text);
    let reordered = ["invalid type: ", "invalid value: "]
        .iter()
        .find_map(|prefix| text.strip_prefix(prefix))
        .and_then(|rest| rest.rsplit_once(", expected "))
        .map(|(found, expected)| format!("expected {expected}, found {found}"));
    bounded(reordered.unwrap_or_else(|| text.to_owned()))
}

/// `Option<i64>` field: absent or `null` is `None`; anything but an integer
/// in range is an error.
pub(crate) fn opt_i64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i64>, D::Error> {
    deserializer.deserialize_option(Optional(Int::<i64>(PhantomData)))
}

/// `Option<i32>` field: absent or `null` is `None`; anything but an integer
/// in range is an error.
pub(crate) fn opt_i32<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<i32>, D::Error> {
    deserializer.deserialize_option(Optional(Int::<i32>(PhantomData)))
}

/// `Option<u64>` field: absent or `null` is `None`; anything but a
/// non-negative integer in range is an error.
pub(crate) fn opt_u64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    deserializer.deserialize_option(Optional(Int::<u64>(PhantomData)))
}

/// `Option<u32>` field: absent or `null` is `None`; anything but a
/// non-negative integer in range is an error.
pub(crate) fn opt_u32<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u32>, D::Error> {
    deserializer.deserialize_option(Optional(Int::<u32>(PhantomData)))
}

/// `Option<bool>` field: absent or `null` is `None`; anything but `true` or
/// `false` is an error.
pub(crate) fn opt_bool<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<bool>, D::Error> {
    deserializer.deserialize_option(Optional(Bool))
}

/// `Option<f64>` field: absent or `null` is `None`; anything but a number is
/// an error. (JSON has no NaN or infinity, so neither can be decoded.)
pub(crate) fn opt_f64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<f64>, D::Error> {
    deserializer.deserialize_option(Optional(Float))
}

/// `Option<String>` field: absent or `null` is `None`; anything but a string
/// is an error.
pub(crate) fn opt_string<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    deserializer.deserialize_option(Optional(Str))
}

/// A visitor for a non-null value, and the `deserialize_*` call it needs.
trait Scalar<'de>: Visitor<'de> + Sized {
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error>;
}

/// Visits an optional value: `null` is `None`, anything else goes to `V`.
struct Optional<V>(V);

impl<'de, V: Scalar<'de>> Visitor<'de> for Optional<V> {
    type Value = Option<V::Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.expecting(f)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        self.0.deserialize(deserializer).map(Some)
    }
}

/// An integer type a JSON integer can be narrowed to.
trait Integer: TryFrom<i64> + TryFrom<u64> {
    /// Describes the range in messages, e.g. "a 32-bit integer".
    const RANGE: &'static str;
}

impl Integer for i64 {
    const RANGE: &'static str = "a 64-bit integer";
}

impl Integer for i32 {
    const RANGE: &'static str = "a 32-bit integer";
}

impl Integer for u64 {
    const RANGE: &'static str = "an unsigned 64-bit integer";
}

impl Integer for u32 {
    const RANGE: &'static str = "an unsigned 32-bit integer";
}

struct Int<T>(PhantomData<T>);

impl<T: Integer> Int<T> {
    fn out_of_range<E: de::Error>(value: impl fmt::Display) -> E {
        E::custom(format_args!("{value} is out of range for {}", T::RANGE))
    }
}

impl<'de, T: Integer> Visitor<'de> for Int<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an integer")
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<T, E> {
        T::try_from(value).map_err(|_| Self::out_of_range(value))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<T, E> {
        T::try_from(value).map_err(|_| Self::out_of_range(value))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<T, E> {
        // serde_json hands integers beyond 64 bits over as f64.
        if value.is_finite() && value.fract() == 0.0 && value.abs() >= 9.2e18 {
            Err(Self::out_of_range(value))
        } else {
            Err(E::custom(format_args!(
                "expected an integer, found number {value:?}"
            )))
        }
    }
}

impl<'de, T: Integer> Scalar<'de> for Int<T> {
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<T, D::Error> {
        // deserialize_i64, not deserialize_any: serde_json parses the number
        // itself whatever its features (e.g. arbitrary_precision).
        deserializer.deserialize_i64(self)
    }
}

struct Str;

impl<'de> Visitor<'de> for Str {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<String, E> {
        Ok(value.to_owned())
    }

    fn visit_string<E: de::Error>(self, value: String) -> Result<String, E> {
        Ok(value)
    }
}

impl<'de> Scalar<'de> for Str {
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<String, D::Error> {
        deserializer.deserialize_string(self)
    }
}

struct Bool;

impl<'de> Visitor<'de> for Bool {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a boolean")
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<bool, E> {
        Ok(value)
    }
}

impl<'de> Scalar<'de> for Bool {
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_bool(self)
    }
}

struct Float;

impl<'de> Visitor<'de> for Float {
    type Value = f64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a number")
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<f64, E> {
        Ok(value)
    }

    // Integers are numbers too; beyond 2^53 they round, as in JavaScript.
    #[allow(clippy::cast_precision_loss)]
    fn visit_i64<E: de::Error>(self, value: i64) -> Result<f64, E> {
        Ok(value as f64)
    }

    #[allow(clippy::cast_precision_loss)]
    fn visit_u64<E: de::Error>(self, value: u64) -> Result<f64, E> {
        Ok(value as f64)
    }
}

impl<'de> Scalar<'de> for Float {
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<f64, D::Error> {
        deserializer.deserialize_f64(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    struct Probe {
        #[serde(default, deserialize_with = "opt_i64")]
        big: Option<i64>,
        #[serde(default, deserialize_with = "opt_i32")]
        small: Option<i32>,
        #[serde(default, deserialize_with = "opt_string")]
        text: Option<String>,
    }

    fn err(json: &str) -> DecodeError {
        match decode::<Probe>(json.as_bytes()) {
            Ok(probe) => panic!("decoded {probe:?}"),
            Err(err) => err,
        }
    }

    fn invalid(field: &str, problem: &str) -> DecodeError {
        DecodeError::InvalidField {
            field: field.into(),
            problem: problem.into(),
        }
    }

    #[test]
    fn values_of_the_right_type_decode_and_null_is_none() {
        let probe: Probe = decode(br#"{"big": -9223372036854775808, "small": 2147483647, "text": "a\"b", "extra": [1, {"x": null}]}"#)
            .expect("valid");
        assert_eq!(probe.big, Some(i64::MIN));
        assert_eq!(probe.small, Some(i32::MAX));
        assert_eq!(probe.text.as_deref(), Some("a\"b"));
        let probe: Probe = decode(br#"{"big": null}"#).expect("valid");
        assert!(probe.big.is_none() && probe.small.is_none() && probe.text.is_none());
    }

    #[test]
    fn wrong_types_name_expected_and_found() {
        assert_eq!(
            err(r#"{"small": "abc"}"#),
            invalid("small", r#"expected an integer, found string "abc""#)
        );
        assert_eq!(
            err(r#"{"big": 1.5}"#),
            invalid("big", "expected an integer, found number 1.5")
        );
        assert_eq!(
            err(r#"{"big": 2.0}"#),
            invalid("big", "expected an integer, found number 2.0")
        );
        assert_eq!(
            err(r#"{"big": true}"#),
            invalid("big", "expected an integer, found boolean `true`")
        );
        assert_eq!(
            err(r#"{"text": 42}"#),
            invalid("text", "expected a string, found integer `42`")
        );
        assert_eq!(
            err(r#"{"text": {}}"#),
            invalid("text", "expected a string, found map")
        );
    }

    #[test]
    fn out_of_range_integers_are_invalid() {
        assert_eq!(
            err(r#"{"small": 2147483648}"#),
            invalid("small", "2147483648 is out of range for a 32-bit integer")
        );
        assert_eq!(
            err(r#"{"small": -2147483649}"#),
            invalid("small", "-2147483649 is out of range for a 32-bit integer")
        );
        assert_eq!(
            err(r#"{"big": 9223372036854775808}"#),
            invalid(
                "big",
                "9223372036854775808 is out of range for a 64-bit integer"
            )
        );
        assert_eq!(
            err(r#"{"big": 100000000000000000000}"#),
            invalid(
                "big",
                "100000000000000000000 is out of range for a 64-bit integer"
            )
        );
    }

    #[test]
    fn syntax_errors_are_malformed() {
        for json in [
            r#"{"big": "#,
            r#"{"big": 1"#,
            r#"{"big": 1} x"#,
            r#"{"big": 1,}"#,
            "[1, 2]",
            "\"x\"",
            "{} {}",
        ] {
            let err = err(json);
            assert_eq!(err.kind(), "malformed_json", "{json}: {err}");
        }
    }

    #[test]
    fn duplicate_fields_are_malformed() {
        assert_eq!(err(r#"{"big": 1, "big": 2}"#).kind(), "malformed_json");
    }

    #[derive(Debug, Deserialize)]
    struct MoreProbe {
        #[serde(default, deserialize_with = "opt_u64")]
        unsigned: Option<u64>,
        #[serde(default, deserialize_with = "opt_u32")]
        small_unsigned: Option<u32>,
        #[serde(default, deserialize_with = "opt_bool")]
        flag: Option<bool>,
        #[serde(default, deserialize_with = "opt_f64")]
        float: Option<f64>,
    }

    #[test]
    fn unsigned_bool_and_float_fields_decode_and_name_wrong_types() {
        let probe: MoreProbe = decode(
            br#"{"unsigned": 18446744073709551615, "small_unsigned": 4294967295, "flag": false, "float": 2}"#,
        )
        .expect("valid");
        assert_eq!(probe.unsigned, Some(u64::MAX));
        assert_eq!(probe.small_unsigned, Some(u32::MAX));
        assert_eq!(probe.flag, Some(false));
        assert_eq!(probe.float, Some(2.0));
        let probe: MoreProbe = decode(br#"{"float": -1.5e-7, "flag": null}"#).expect("valid");
        assert_eq!((probe.float, probe.flag), (Some(-1.5e-7), None));

        let err = |json: &str| decode::<MoreProbe>(json.as_bytes()).expect_err(json);
        assert_eq!(
            err(r#"{"unsigned": -1}"#),
            invalid(
                "unsigned",
                "-1 is out of range for an unsigned 64-bit integer"
            )
        );
        assert_eq!(
            err(r#"{"small_unsigned": 4294967296}"#),
            invalid(
                "small_unsigned",
                "4294967296 is out of range for an unsigned 32-bit integer"
            )
        );
        assert_eq!(
            err(r#"{"flag": 1}"#),
            invalid("flag", "expected a boolean, found integer `1`")
        );
        assert_eq!(
            err(r#"{"float": "1.5"}"#),
            invalid("float", r#"expected a number, found string "1.5""#)
        );
    }

    #[test]
    fn long_values_are_cut_in_messages() {
        let json = format!(r#"{{"small": "{}"}}"#, "x".repeat(10_000));
        assert!(err(&json).to_string().len() < 300);
    }
}
