//! The codec API shared by every record type: [`Record`] and [`decode`].

use crate::{DecodeError, Format};

/// A record type that travels through Kafka as JSON or protobuf.
///
/// Implemented by [`crate::StockTick`] and [`crate::UserLogin`] (raw
/// records) and [`crate::EnrichedStockTick`] and [`crate::EnrichedUserLogin`]
/// (what the enricher writes).
pub trait Record: Sized {
    /// Short snake_case name of the record type, e.g. `"stock_tick"`, for
    /// logs and metric labels.
    const KIND: &'static str;

    /// Decodes `payload` as `format`.
    ///
    /// `key` is the Kafka record key; a record type may take a field from it
    /// when the payload lacks it ([`crate::StockTick`] takes its ticker).
    ///
    /// # Errors
    ///
    /// A [`DecodeError`] naming the field and the problem; an empty payload
    /// is [`DecodeError::EmptyPayload`]. Never panics, whatever the input.
    fn decode_as(payload: &[u8], format: Format, key: Option<&[u8]>) -> Result<Self, DecodeError>;

    /// Appends the encoding of `self` in `format` to `buf`.
    ///
    /// It appends, like `Write`: clear `buf` first to reuse one buffer for
    /// many records without reallocating.
    fn encode_into(&self, format: Format, buf: &mut Vec<u8>);

    /// The encoding of `self` in `format`, in a new buffer.
    fn encode_as(&self, format: Format) -> Vec<u8> {
        let mut buf = Vec::new();
        self.encode_into(format, &mut buf);
        buf
    }

    /// The event time in epoch milliseconds, when the record has a usable one.
    fn event_time_ms(&self) -> Option<i64>;
}

/// Decodes a Kafka record into `R`.
///
/// - `payload`: the record value; `None` (a tombstone) or empty is
///   [`DecodeError::EmptyPayload`].
/// - `content_type`: the value of the [`crate::CONTENT_TYPE_HEADER`] header.
///   When present it decides the format (see [`Format::from_content_type`]);
///   when absent, or empty/blank, the format is [`Format::detect`]ed.
/// - `key`: the record key, see [`Record::decode_as`].
///
/// # Errors
///
/// [`DecodeError::UnsupportedContentType`] for a content type we do not
/// read, else whatever [`Record::decode_as`] reports.
pub fn decode<R: Record>(
    payload: Option<&[u8]>,
    content_type: Option<&[u8]>,
    key: Option<&[u8]>,
) -> Result<R, DecodeError> {
    let payload = match payload {
        Some(payload) if !payload.is_empty() => payload,
        _ => return Err(DecodeError::EmptyPayload),
    };
    let format = match content_type {
        Some(value) if !value.trim_ascii().is_empty() => Format::from_content_type(value)?,
        _ => Format::detect(payload),
    };
    R::decode_as(payload, format, key)
}
