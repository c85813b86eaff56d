//! Protobuf wire format helpers: a small encoder for our flat messages, the
//! well-formedness scan used by format detection (and [`split_field`], public for tools
//! that edit encoded messages), and prost error mapping.
//!
//! Encoding is hand-written so that `encode_into` writes straight from
//! borrowed fields into the caller's buffer, without building (and so
//! cloning strings into) a prost message first. Tests check it byte for byte
//! against prost's encoding of the generated types.

use crate::{DecodeError, Format};

/// Wire type of varint fields (`int32`, `int64`).
const VARINT: u64 = 0;
/// Wire type of 64-bit fixed fields.
const FIXED64: u64 = 1;
/// Wire type of length-delimited fields (`string`, `bytes`, messages).
const LEN: u64 = 2;
/// Wire type of 32-bit fixed fields.
const FIXED32: u64 = 5;
/// The largest field number protobuf allows.
const MAX_FIELD_NUMBER: u64 = (1 << 29) - 1;

/// Appends `value` as a base-128 varint.
fn put_varint(mut value: u64, buf: &mut Vec<u8>) {
    while value >= 0x80 {
        // Truncation to the low 7 bits plus the continuation bit is the encoding.
        buf.push((value as u8 & 0x7F) | 0x80);
        value >>= 7;
    }
    buf.push(value as u8);
}

/// The encoded length of `value` as a varint.
fn varint_len(value: u64) -> usize {
    // 1 byte per started group of 7 bits, at least 1.
    (64 - (value | 1).leading_zeros() as usize).div_ceil(7)
}

fn put_key(field: u32, wire_type: u64, buf: &mut Vec<u8>) {
    put_varint(u64::from(field) << 3 | wire_type, buf);
}

/// Appends an `int64` field (negative values take 10 bytes, as in protobuf).
pub(crate) fn put_int64(field: u32, value: i64, buf: &mut Vec<u8>) {
    put_key(field, VARINT, buf);
    put_varint(value as u64, buf);
}

/// Appends an `int32` field (sign-extended to 64 bits, as protobuf requires).
pub(crate) fn put_int32(field: u32, value: i32, buf: &mut Vec<u8>) {
    put_int64(field, i64::from(value), buf);
}

/// Appends a `string` field.
pub(crate) fn put_string(field: u32, value: &str, buf: &mut Vec<u8>) {
    put_key(field, LEN, buf);
    put_varint(value.len() as u64, buf);
    buf.extend_from_slice(value.as_bytes());
}

/// Appends a `uint64` field.
pub(crate) fn put_uint64(field: u32, value: u64, buf: &mut Vec<u8>) {
    put_key(field, VARINT, buf);
    put_varint(value, buf);
}

/// Appends a `uint32` field.
pub(crate) fn put_uint32(field: u32, value: u32, buf: &mut Vec<u8>) {
    put_uint64(field, u64::from(value), buf);
}

/// Appends a `bool` field (a varint 0 or 1).
pub(crate) fn put_bool(field: u32, value: bool, buf: &mut Vec<u8>) {
    put_uint64(field, u64::from(value), buf);
}

/// Appends a `double` field (fixed64, little-endian IEEE 754).
pub(crate) fn put_double(field: u32, value: f64, buf: &mut Vec<u8>) {
    put_key(field, FIXED64, buf);
    buf.extend_from_slice(&value.to_le_bytes());
}

/// Encoded length of the key of `field` (1 byte up to field 15, 2 up to 2047).
pub(crate) fn key_len(field: u32) -> usize {
    varint_len(u64::from(field) << 3)
}

/// Encoded length of a varint field (`int64` as `value as u64`, `uint64`,
/// `bool`).
pub(crate) fn varint_field_len(field: u32, value: u64) -> usize {
    key_len(field) + varint_len(value)
}

/// Encoded length of a `string` field.
pub(crate) fn string_field_len(field: u32, value: &str) -> usize {
    key_len(field) + varint_len(value.len() as u64) + value.len()
}

/// Encoded length of a `double` field.
pub(crate) fn double_field_len(field: u32) -> usize {
    key_len(field) + 8
}

/// Encoded length of an `int64` field with a one-byte key.
pub(crate) fn int64_len(value: i64) -> usize {
    1 + varint_len(value as u64)
}

/// Encoded length of an `int32` field with a one-byte key.
pub(crate) fn int32_len(value: i32) -> usize {
    int64_len(i64::from(value))
}

/// Encoded length of a `string` field with a one-byte key.
pub(crate) fn string_len(value: &str) -> usize {
    1 + varint_len(value.len() as u64) + value.len()
}

/// Reads a varint from the front of `bytes`, returning it and the rest.
fn take_varint(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let mut value = 0u64;
    for (i, &b) in bytes.iter().enumerate().take(10) {
        value |= u64::from(b & 0x7F) << (7 * i);
        if b < 0x80 {
            return Some((value, bytes.get(i + 1..)?));
        }
    }
    None
}

/// Splits the first field off a protobuf message: its number, its whole encoding (key
/// included) and the rest. `None` if `bytes` does not begin with a well-formed field: a
/// valid key (field number 1..=2^29-1; wire type varint, fixed64, length-delimited or
/// fixed32 — groups are not used by our messages), a complete varint, a length that fits.
pub fn split_field(bytes: &[u8]) -> Option<(u32, &[u8], &[u8])> {
    let (key, rest) = take_varint(bytes)?;
    let field = key >> 3;
    if field == 0 || field > MAX_FIELD_NUMBER {
        return None;
    }
    let rest = match key & 0x7 {
        VARINT => take_varint(rest).map(|(_, rest)| rest),
        FIXED64 => rest.get(8..),
        LEN => take_varint(rest).and_then(|(len, rest)| rest.get(usize::try_from(len).ok()?..)),
        FIXED32 => rest.get(4..),
        _ => None,
    }?;
    let whole = bytes.get(..bytes.len() - rest.len())?;
    Some((field as u32, whole, rest))
}

/// Whether `bytes` is a sequence of well-formed protobuf fields (see [`split_field`])
/// that ends exactly at the end of `bytes`. It does not check field numbers or types
/// against a schema. It reads each key once: cheap enough for detection.
pub(crate) fn is_well_formed(mut bytes: &[u8]) -> bool {
    while !bytes.is_empty() {
        match split_field(bytes) {
            Some((_, _, rest)) => bytes = rest,
            None => return false,
        }
    }
    true
}

/// Maps a prost decode error for `message` (e.g. `"StockUpdate"`) to
/// [`DecodeError::Malformed`], naming the field when prost did.
///
/// prost keeps the field stack private but prints it as
/// `<Message>.<field>: ` before the description; `fields` lists the message's
/// field names to look for. If prost's wording changes, the field is simply
/// not reported.
pub(crate) fn malformed(err: &prost::DecodeError, message: &str, fields: &[&str]) -> DecodeError {
    let text = err.to_string();
    let text = text
        .strip_prefix("failed to decode Protobuf message: ")
        .unwrap_or(&text);
    let mut field = None;
    let mut detail = text;
    for name in fields {
        let marker = format!("{message}.{name}: ");
        if let Some((_, after)) = text.split_once(&marker) {
            field = Some((*name).to_owned());
            detail = after;
            break;
        }
    }
    DecodeError::Malformed {
        format: Format::Protobuf,
        field,
        detail: detail.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_len_matches_encoding() {
        for value in [
            0,
            1,
            127,
            128,
            16_383,
            16_384,
            u64::from(u32::MAX),
            i64::MAX as u64,
            u64::MAX,
        ] {
            let mut buf = Vec::new();
            put_varint(value, &mut buf);
            assert_eq!(buf.len(), varint_len(value), "value {value}");
            assert_eq!(take_varint(&buf), Some((value, &[][..])));
        }
    }

    #[test]
    fn split_field_takes_one_whole_field_off_the_front() {
        let mut first = Vec::new();
        put_string(2, "STK", &mut first);
        let mut buf = first.clone();
        put_int32(3, 7, &mut buf);
        let (field, whole, rest) = split_field(&buf).expect("a field");
        assert_eq!((field, whole), (2, first.as_slice()));
        let (field, _, rest) = split_field(rest).expect("a second field");
        assert_eq!((field, rest.len()), (3, 0));
        assert_eq!(split_field(&[]), None);
        assert_eq!(
            split_field(buf.get(..first.len() - 1).unwrap_or_default()),
            None
        );
    }

    #[test]
    fn well_formed_accepts_fields_and_rejects_truncation() {
        let mut buf = Vec::new();
        put_int64(1, -5, &mut buf);
        put_string(2, "STK", &mut buf);
        put_int32(3, 7, &mut buf);
        assert!(is_well_formed(&buf));
        assert!(is_well_formed(&[]));
        for cut in 1..buf.len() {
            let truncated = buf.get(..cut).unwrap_or_default();
            // Cutting inside a field leaves it incomplete; cutting between
            // fields leaves a shorter well-formed sequence.
            let between_fields = [11, 16].contains(&cut);
            assert_eq!(is_well_formed(truncated), between_fields, "cut at {cut}");
        }
    }

    #[test]
    fn well_formed_rejects_groups_and_field_zero() {
        assert!(!is_well_formed(b"{}")); // 0x7B: field 15, start group
        assert!(!is_well_formed(&[0x00, 0x01])); // field 0
        assert!(is_well_formed(&[0x0D, 1, 2, 3, 4])); // field 1, fixed32
        assert!(is_well_formed(&[0x09, 1, 2, 3, 4, 5, 6, 7, 8])); // field 1, fixed64
    }
}
