//! The enricher on a real Kafka: exactly once through malformed input, crashes and
//! rebalances.

mod exactly_once;
mod helpers;
