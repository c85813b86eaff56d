//! Tests of the enricher's rules through its public API: one binary, a
//! module per concern.

mod helpers;
mod logins;
mod properties;
mod ticks;
