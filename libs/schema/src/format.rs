//! Payload formats: the content-type header, and detection when it is missing.
//!
//! Producers should always set the [`CONTENT_TYPE_HEADER`] header; detection
//! exists for records from tools that cannot (console producers, replays).

use std::fmt;

use crate::DecodeError;
use crate::wire;

/// Name of the Kafka record header that carries the payload's content type.
///
/// Kafka header names are case-sensitive: producers write exactly this name,
/// consumers look up exactly this name.
pub const CONTENT_TYPE_HEADER: &str = "content-type";

/// The longest content-type value an error message keeps, in bytes.
const MAX_REPORTED_CONTENT_TYPE: usize = 64;

/// The serialization format of a record's payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// JSON text (UTF-8), one object per record.
    Json,
    /// Protobuf binary, one message per record (no length prefix).
    Protobuf,
}

impl Format {
    /// The content type we write for JSON payloads.
    pub const JSON_CONTENT_TYPE: &'static str = "application/json";
    /// The content type we write for protobuf payloads.
    pub const PROTOBUF_CONTENT_TYPE: &'static str = "application/x-protobuf";

    /// The content-type header value for this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => Self::JSON_CONTENT_TYPE,
            Format::Protobuf => Self::PROTOBUF_CONTENT_TYPE,
        }
    }

    /// Parses a content-type header value.
    ///
    /// Parameters and surrounding whitespace are ignored and the media type is
    /// compared case-insensitively, so `Application/JSON; charset=utf-8` is
    /// JSON. Protobuf is accepted as `application/x-protobuf` (what we write),
    /// `application/protobuf` and `application/vnd.google.protobuf`.
    ///
    /// # Errors
    ///
    /// [`DecodeError::UnsupportedContentType`] for any other value, including
    /// an empty one and one that is not UTF-8.
    pub fn from_content_type(value: &[u8]) -> Result<Format, DecodeError> {
        let media_type = value
            .split(|&b| b == b';')
            .next()
            .unwrap_or(value)
            .trim_ascii();
        let is = |name: &str| media_type.eq_ignore_ascii_case(name.as_bytes());
        if is(Self::JSON_CONTENT_TYPE) {
            Ok(Format::Json)
        } else if is(Self::PROTOBUF_CONTENT_TYPE)
            || is("application/protobuf")
            || is("application/vnd.google.protobuf")
        {
            Ok(Format::Protobuf)
        } else {
            // Headers come from outside: bound what an error (and so a
            // dead-letter header or a log line) carries.
            let shown = value.get(..MAX_REPORTED_CONTENT_TYPE).unwrap_or(value);
            let mut shown_text = String::from_utf8_lossy(shown).into_owned();
            if shown.len() < value.len() {
                shown_text.push('…');
            }
            let value = shown_text;
            Err(DecodeError::UnsupportedContentType { value })
        }
    }

    /// Guesses the format of a payload that came without a content-type header.
    ///
    /// The rule: a payload is JSON if, after leading JSON whitespace (space,
    /// tab, CR, LF), it starts with `{` and, trailing whitespace removed, ends
    /// with `}`; except that a payload which does *not* start with `{` itself
    /// (it has leading whitespace) and is also a well-formed protobuf field
    /// sequence is protobuf. Anything else is protobuf.
    ///
    /// Why this never misclassifies our own encodings:
    ///
    /// - Our JSON encoding starts with `{` (no leading whitespace): JSON.
    /// - A protobuf message starts with a field tag, `field_number << 3 |
    ///   wire_type`. The tags of our messages are `0x08 0x12 0x18`
    ///   (`StockUpdate`) and `0x0A 0x12 0x1A 0x22 0x2A 0x32 0x3A`
    ///   (`UserLogin`). None is `{` (0x7B would be field 15, wire type 3, a
    ///   deprecated group). But `0x0A` is LF, a whitespace byte: a `UserLogin`
    ///   starts with `0x0A`, then the length of `user_id`, which is `{` for a
    ///   123-byte id or whitespace for 9, 10, 13 or 32 bytes, then the id's
    ///   bytes, which may be anything. So "skip whitespace, look for `{`" alone
    ///   could take such a message for JSON. The well-formedness check closes
    ///   that gap: every protobuf message we write is a well-formed field
    ///   sequence, so it is never taken for JSON.
    ///
    /// Limits: JSON that starts with whitespace *and* happens to parse as a
    /// well-formed protobuf field sequence (e.g. LF, `{`, then exactly 123
    /// more bytes) is taken for protobuf, and protobuf from another producer
    /// whose first field is not one of ours (say a group, tag 0x7B) may be
    /// taken for JSON. Either then fails to decode with a typed error; it
    /// never panics. Producers that set the content-type header avoid both.
    pub fn detect(payload: &[u8]) -> Format {
        let trimmed = trim_json_whitespace(payload);
        let looks_like_object = trimmed.first() == Some(&b'{') && trimmed.last() == Some(&b'}');
        if !looks_like_object {
            Format::Protobuf
        } else if payload.first() == Some(&b'{') || !wire::is_well_formed(payload) {
            Format::Json
        } else {
            Format::Protobuf
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Json => "JSON",
            Format::Protobuf => "protobuf",
        })
    }
}

/// Whitespace as JSON defines it (RFC 8259): space, tab, LF, CR.
fn is_json_whitespace(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// `bytes` without leading and trailing JSON whitespace.
pub(crate) fn trim_json_whitespace(bytes: &[u8]) -> &[u8] {
    let start = bytes
        .iter()
        .position(|&b| !is_json_whitespace(b))
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|&b| !is_json_whitespace(b))
        .map_or(start, |i| i + 1);
    bytes.get(start..end).unwrap_or_default()
}
