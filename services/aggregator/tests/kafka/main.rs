//! The aggregator on a real Kafka: exact results through crashes and rebalances, late
//! events, dead letters, and the query API.

mod exactly_once;
mod helpers;
mod query;
