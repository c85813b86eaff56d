//! Records made malformed on purpose, so that every consumer's error handling runs for
//! real. Each kind matches a reason a decoder reports.

use ferroflow_schema::Format;
use rand::Rng;

/// The kind of fault injected (also written to the `ff-injected-fault` header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// A required field left out.
    MissingField,
    /// A field of the wrong type (JSON) or wire type (protobuf).
    WrongType,
    /// Bytes that are neither valid JSON nor a valid protobuf message.
    Garbage,
    /// No payload at all.
    Empty,
}

impl Fault {
    /// The header value.
    pub fn name(self) -> &'static str {
        match self {
            Fault::MissingField => "missing_field",
            Fault::WrongType => "wrong_type",
            Fault::Garbage => "garbage",
            Fault::Empty => "empty",
        }
    }

    /// A fault chosen at random, missing fields the most common as in real feeds.
    pub fn pick(rng: &mut impl Rng) -> Fault {
        match rng.random_range(0..10) {
            0..=3 => Fault::MissingField,
            4..=6 => Fault::WrongType,
            7..=8 => Fault::Garbage,
            _ => Fault::Empty,
        }
    }
}

/// A field of a record, by its JSON name and its protobuf field number.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    /// Name in the JSON form.
    pub json: &'static str,
    /// Number in the protobuf form.
    pub number: u32,
}

/// Required fields of a stock tick (the ticker is not: the key stands in for it).
pub const TICK_FIELDS: &[Field] = &[
    Field {
        json: "timestamp",
        number: 1,
    },
    Field {
        json: "price",
        number: 3,
    },
];
/// Fields of a user login.
pub const LOGIN_FIELDS: &[Field] = &[
    Field {
        json: "user_id",
        number: 1,
    },
    Field {
        json: "app_version",
        number: 2,
    },
    Field {
        json: "device_type",
        number: 3,
    },
    Field {
        json: "ip",
        number: 4,
    },
    Field {
        json: "locale",
        number: 5,
    },
    Field {
        json: "device_id",
        number: 6,
    },
    Field {
        json: "timestamp",
        number: 7,
    },
];

/// Damages `valid` (the encoding of a record in `format`) in the way of `fault`, at
/// `field` where the fault concerns one field.
pub fn damage(
    fault: Fault,
    format: Format,
    valid: &[u8],
    field: Field,
    rng: &mut impl Rng,
) -> Vec<u8> {
    match (fault, format) {
        (Fault::Empty, _) => Vec::new(),
        (Fault::Garbage, Format::Json) => {
            // Cut a JSON object short: starts like JSON, fails as JSON.
            valid[..valid.len() / 2].to_vec()
        }
        (Fault::Garbage, Format::Protobuf) => {
            // A length-delimited field claiming more bytes than follow.
            let mut bytes = vec![0x12, 0x7f];
            bytes.extend((0..8).map(|_| rng.random::<u8>()));
            bytes
        }
        (Fault::MissingField | Fault::WrongType, Format::Json) => {
            let mut object: serde_json::Map<String, serde_json::Value> =
                serde_json::from_slice(valid).unwrap_or_default();
            if fault == Fault::MissingField {
                object.remove(field.json);
            } else {
                let replacement = match object.get(field.json) {
                    Some(serde_json::Value::String(_)) => serde_json::json!(12345),
                    _ => serde_json::json!("not-a-number"),
                };
                object.insert(field.json.to_string(), replacement);
            }
            serde_json::to_vec(&object).unwrap_or_default()
        }
        (Fault::MissingField, Format::Protobuf) => strip_protobuf_field(valid, field.number),
        (Fault::WrongType, Format::Protobuf) => {
            // The field's number with wire type 5 (fixed32), which no field of ours uses.
            let mut bytes = strip_protobuf_field(valid, field.number);
            bytes.push(((field.number << 3) | 5) as u8);
            bytes.extend_from_slice(&[1, 2, 3, 4]);
            bytes
        }
    }
}

/// Removes every occurrence of field `number` from a protobuf message we encoded (the
/// rest is copied up to the first byte that does not begin a field).
fn strip_protobuf_field(mut bytes: &[u8], number: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    while let Some((field, whole, rest)) = ferroflow_schema::wire::split_field(bytes) {
        if field != number {
            out.extend_from_slice(whole);
        }
        bytes = rest;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferroflow_schema::{DecodeError, Record, StockTick, UserLogin, decode};
    use rand::SeedableRng;
    use rand::rngs::SmallRng;

    fn tick() -> StockTick {
        StockTick {
            ticker: "STK_ONE".into(),
            timestamp_ms: 1_700_000_000_000,
            price: 1234,
        }
    }

    fn login() -> UserLogin {
        serde_json::from_str(
            r#"{"user_id": "424cdd21-063a-43a7-b91b-7ca1a833afae", "app_version": "2.3.0",
                "device_type": "android", "ip": "199.172.111.135", "locale": "RU",
                "device_id": "593-47-5928", "timestamp": "1694479551"}"#,
        )
        .unwrap()
    }

    fn decode_tick(bytes: &[u8], format: Format) -> Result<StockTick, DecodeError> {
        decode::<StockTick>(
            Some(bytes),
            Some(format.content_type().as_bytes()),
            Some(b"STK_ONE"),
        )
    }

    #[test]
    fn every_fault_makes_a_tick_undecodable_in_both_formats() {
        let mut rng = SmallRng::seed_from_u64(9);
        for format in [Format::Json, Format::Protobuf] {
            let valid = tick().encode_as(format);
            for fault in [
                Fault::MissingField,
                Fault::WrongType,
                Fault::Garbage,
                Fault::Empty,
            ] {
                for &field in TICK_FIELDS {
                    let bad = damage(fault, format, &valid, field, &mut rng);
                    assert!(
                        decode_tick(&bad, format).is_err(),
                        "{fault:?} {format:?} {field:?} decoded"
                    );
                }
            }
        }
    }

    #[test]
    fn every_fault_makes_a_login_undecodable_in_both_formats() {
        let mut rng = SmallRng::seed_from_u64(9);
        for format in [Format::Json, Format::Protobuf] {
            let valid = login().encode_as(format);
            for fault in [
                Fault::MissingField,
                Fault::WrongType,
                Fault::Garbage,
                Fault::Empty,
            ] {
                for &field in LOGIN_FIELDS {
                    let bad = damage(fault, format, &valid, field, &mut rng);
                    let result = decode::<UserLogin>(
                        Some(&bad),
                        Some(format.content_type().as_bytes()),
                        None,
                    );
                    assert!(result.is_err(), "{fault:?} {format:?} {field:?} decoded");
                }
            }
        }
    }

    #[test]
    fn missing_field_fault_is_reported_as_that_field() {
        let mut rng = SmallRng::seed_from_u64(1);
        for format in [Format::Json, Format::Protobuf] {
            let bad = damage(
                Fault::MissingField,
                format,
                &tick().encode_as(format),
                TICK_FIELDS[1],
                &mut rng,
            );
            let err = decode_tick(&bad, format).unwrap_err();
            assert_eq!(
                (err.kind(), err.field()),
                ("missing_field", Some("price")),
                "{format:?}"
            );
        }
    }
}
