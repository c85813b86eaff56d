//! sink-csv on a real Kafka: one test binary, a module per behaviour.

mod config_errors;
mod dead_letters;
mod exactly_once;
mod helpers;
