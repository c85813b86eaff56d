//! Integration tests of `ferroflow-schema`'s public API: one binary, a module
//! per concern.

mod content_type;
mod detection;
mod errors;
mod fuzz;
mod round_trips;
mod samples;
mod strategies;
