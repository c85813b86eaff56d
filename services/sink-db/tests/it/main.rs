//! sink-db on a real Kafka and a real PostgreSQL: one test binary, a module per behaviour.
//! The PostgreSQL outage test is a binary of its own (`database_loss.rs`): it stops the
//! cluster every other test uses.

mod config_errors;
mod dead_letters;
mod exactly_once;
#[path = "../common/mod.rs"]
mod helpers;
