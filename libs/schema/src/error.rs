//! The typed decode error.
//!
//! A consumer must choose what to do with a bad record (dead-letter it, count
//! it), so the error is an enum rather than a boxed error: [`DecodeError::kind`]
//! is a stable reason code for dead-letter headers and metric labels, and
//! [`DecodeError::field`] names the offending field when there is one.

use crate::Format;

/// Why a payload could not be decoded into a record.
///
/// `Display` is short and specific, e.g. ``invalid field `price`: expected an
/// integer, found string "abc"``. Texts taken from the input are bounded in
/// length.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The record has no payload, or an empty one (e.g. a tombstone).
    #[error("empty payload")]
    EmptyPayload,

    /// The content-type header names a format we do not read.
    #[error("unsupported content type {value:?}")]
    UnsupportedContentType {
        /// The header value as received (lossy UTF-8, truncated).
        value: String,
    },

    /// The bytes are not valid JSON / protobuf at all (syntax, truncation,
    /// wrong wire type, invalid UTF-8 in a string).
    #[error("malformed {format}{}: {detail}", at_field(.field.as_deref()))]
    Malformed {
        /// The format the payload was decoded as.
        format: Format,
        /// The field being decoded when the error occurred, if known.
        field: Option<String>,
        /// The decoder's (serde_json's or prost's) description.
        detail: String,
    },

    /// A required field is absent (or JSON `null`).
    #[error("missing field `{field}`")]
    MissingField {
        /// The field's name, as in the JSON form.
        field: &'static str,
    },

    /// A field is present but its value has the wrong type or is out of range.
    #[error("invalid field `{field}`: {problem}")]
    InvalidField {
        /// The field's name, as in the JSON form.
        field: String,
        /// What is wrong with it, e.g. `expected an integer, found string "abc"`.
        problem: String,
    },
}

impl DecodeError {
    /// Every value [`DecodeError::kind`] can return, e.g. to pre-register
    /// metric label values.
    pub const KINDS: [&'static str; 6] = [
        "empty_payload",
        "unsupported_content_type",
        "malformed_json",
        "malformed_protobuf",
        "missing_field",
        "invalid_field",
    ];

    /// A stable snake_case reason code, for dead-letter headers and metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            DecodeError::EmptyPayload => "empty_payload",
            DecodeError::UnsupportedContentType { .. } => "unsupported_content_type",
            DecodeError::Malformed {
                format: Format::Json,
                ..
            } => "malformed_json",
            DecodeError::Malformed {
                format: Format::Protobuf,
                ..
            } => "malformed_protobuf",
            DecodeError::MissingField { .. } => "missing_field",
            DecodeError::InvalidField { .. } => "invalid_field",
        }
    }

    /// The field the error is about, when known.
    pub fn field(&self) -> Option<&str> {
        match self {
            DecodeError::MissingField { field } => Some(field),
            DecodeError::InvalidField { field, .. } => Some(field),
            DecodeError::Malformed { field, .. } => field.as_deref(),
            DecodeError::EmptyPayload | DecodeError::UnsupportedContentType { .. } => None,
        }
    }
}

/// `" at `field`"` or nothing, for `Malformed`'s message.
fn at_field(field: Option<&str>) -> String {
    field.map(|f| format!(" at `{f}`")).unwrap_or_default()
}

/// The longest text from the input an error message keeps, in bytes.
const MAX_PROBLEM_LEN: usize = 160;

/// Cuts `text` to at most [`MAX_PROBLEM_LEN`] bytes on a char boundary,
/// marking the cut: decoders quote the offending value, which may be huge.
pub(crate) fn bounded(mut text: String) -> String {
    if text.len() > MAX_PROBLEM_LEN {
        let mut end = MAX_PROBLEM_LEN;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_lists_every_kind() {
        let errors = [
            DecodeError::EmptyPayload,
            DecodeError::UnsupportedContentType { value: "x".into() },
            DecodeError::Malformed {
                format: Format::Json,
                field: None,
                detail: "x".into(),
            },
            DecodeError::Malformed {
                format: Format::Protobuf,
                field: None,
                detail: "x".into(),
            },
            DecodeError::MissingField { field: "price" },
            DecodeError::InvalidField {
                field: "price".into(),
                problem: "x".into(),
            },
        ];
        let kinds: Vec<_> = errors.iter().map(DecodeError::kind).collect();
        assert_eq!(kinds, DecodeError::KINDS);
    }

    #[test]
    fn messages_name_the_field_and_problem() {
        let err = DecodeError::InvalidField {
            field: "price".into(),
            problem: "expected an integer, found string \"abc\"".into(),
        };
        assert_eq!(
            err.to_string(),
            "invalid field `price`: expected an integer, found string \"abc\""
        );
        let err = DecodeError::Malformed {
            format: Format::Protobuf,
            field: Some("price".into()),
            detail: "buffer underflow".into(),
        };
        assert_eq!(
            err.to_string(),
            "malformed protobuf at `price`: buffer underflow"
        );
        assert_eq!(
            DecodeError::MissingField { field: "ticker" }.to_string(),
            "missing field `ticker`"
        );
    }

    #[test]
    fn bounded_cuts_long_text_on_a_char_boundary() {
        let text = "é".repeat(200);
        let cut = bounded(text);
        assert!(cut.len() <= MAX_PROBLEM_LEN + '…'.len_utf8());
        assert!(cut.ends_with('…'));
        assert_eq!(bounded("short".into()), "short");
    }
}
