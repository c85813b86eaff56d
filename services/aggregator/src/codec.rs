//! The aggregator's internal records: checkpoints in the state topic and login partials
//! in the partials topic.
//!
//! Both are ours alone (no other service reads them), so they use a compact binary
//! encoding (postcard, i.e. serde with varints) behind a one-byte format number: a
//! future format can be told apart, and a record from an unknown one is an error
//! rather than garbage.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::operators::{Checkpoint, PartialMessage};
use crate::window::Timing;

/// Format number of [`StateRecord`] values.
const STATE_FORMAT: u8 = 1;
/// Format number of [`PartialMessage`] values.
const PARTIAL_FORMAT: u8 = 1;

/// An internal record that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// Empty value.
    #[error("empty record")]
    Empty,
    /// Written in a format this version does not know.
    #[error("unknown record format {0}")]
    Format(u8),
    /// The bytes do not decode.
    #[error("malformed record: {0}")]
    Malformed(#[from] postcard::Error),
}

/// The checkpoint of one operator, as the state topic holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateRecord {
    /// The window and lateness settings the checkpoint was made under: a replay under
    /// other settings would rebuild different windows, so a mismatch stops start-up.
    pub timing: Timing,
    /// The operator's checkpoint.
    pub checkpoint: OperatorCheckpoint,
}

/// A checkpoint of one kind of operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum OperatorCheckpoint {
    /// Of a [`TickOperator`](crate::operators::TickOperator).
    Ticks(Checkpoint<Option<i64>>),
    /// Of a [`LoginOperator`](crate::operators::LoginOperator).
    Logins(Checkpoint<Option<i64>>),
    /// Of the [`LoginMerger`](crate::operators::LoginMerger) of `sources` partitions.
    Merge {
        /// Login partitions merged.
        sources: i32,
        /// The checkpoint.
        checkpoint: Checkpoint<BTreeMap<i32, i64>>,
    },
}

fn encode<T: Serialize>(format: u8, value: &T) -> Vec<u8> {
    let mut bytes = vec![format];
    // Serialising our own plain data types into a Vec cannot fail.
    if let Ok(body) = postcard::to_stdvec(value) {
        bytes.extend(body);
    }
    bytes
}

fn decode<'a, T: Deserialize<'a>>(format: u8, bytes: &'a [u8]) -> Result<T, CodecError> {
    match bytes.split_first() {
        None => Err(CodecError::Empty),
        Some((&f, body)) if f == format => Ok(postcard::from_bytes(body)?),
        Some((&f, _)) => Err(CodecError::Format(f)),
    }
}

impl StateRecord {
    /// The record's bytes.
    pub fn encode(&self) -> Vec<u8> {
        encode(STATE_FORMAT, self)
    }

    /// Reads a record.
    pub fn decode(bytes: &[u8]) -> Result<Self, CodecError> {
        decode(STATE_FORMAT, bytes)
    }
}

/// Encodes a partials message.
pub fn encode_partial(message: &PartialMessage) -> Vec<u8> {
    encode(PARTIAL_FORMAT, message)
}

/// Decodes a partials message.
pub fn decode_partial(bytes: &[u8]) -> Result<PartialMessage, CodecError> {
    decode(PARTIAL_FORMAT, bytes)
}

/// The state-topic key of the operator of `topic`'s `partition`.
pub fn state_key(topic: &str, partition: i32) -> String {
    format!("{topic}/{partition}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logins::LoginAccumulator;
    use crate::operators::PartialWindow;
    use crate::window::{Lateness, Window, WindowSpec};

    fn timing() -> Timing {
        Timing::new(
            WindowSpec::hopping(60_000, 30_000).unwrap(),
            Lateness {
                out_of_orderness_ms: 5_000,
                grace_ms: 1_000,
            },
        )
    }

    #[test]
    fn state_records_round_trip() {
        for checkpoint in [
            OperatorCheckpoint::Ticks(Checkpoint {
                next_offset: 10,
                replay_from: 3,
                clock: Some(-5),
            }),
            OperatorCheckpoint::Logins(Checkpoint {
                next_offset: 0,
                replay_from: 0,
                clock: None,
            }),
            OperatorCheckpoint::Merge {
                sources: 3,
                checkpoint: Checkpoint {
                    next_offset: 7,
                    replay_from: 2,
                    clock: BTreeMap::from([(0, 1), (2, i64::MAX)]),
                },
            },
        ] {
            let record = StateRecord {
                timing: timing(),
                checkpoint,
            };
            assert_eq!(StateRecord::decode(&record.encode()).unwrap(), record);
        }
    }

    #[test]
    fn partials_round_trip() {
        let message = PartialMessage {
            source_partition: 2,
            watermark: Some(123),
            windows: vec![PartialWindow {
                window: Window {
                    start_ms: 0,
                    end_ms: 60_000,
                },
                logins: LoginAccumulator::new(),
                is_final: true,
            }],
        };
        assert_eq!(decode_partial(&encode_partial(&message)).unwrap(), message);
    }

    #[test]
    fn unknown_formats_and_garbage_are_errors_not_panics() {
        assert!(matches!(StateRecord::decode(&[]), Err(CodecError::Empty)));
        assert!(matches!(
            StateRecord::decode(&[9, 1, 2]),
            Err(CodecError::Format(9))
        ));
        assert!(matches!(
            decode_partial(&[1, 0xff]),
            Err(CodecError::Malformed(_))
        ));
        for len in 0..64 {
            let junk: Vec<u8> = (0..len).map(|i| (i * 37 + 1) as u8).collect();
            let _ = StateRecord::decode(&junk);
            let _ = decode_partial(&junk);
        }
        assert_eq!(
            state_key("stock-ticks-enriched", 2),
            "stock-ticks-enriched/2"
        );
    }
}
