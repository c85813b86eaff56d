//! The sink-db binary: see the library for what it does.

fn main() -> anyhow::Result<()> {
    ferroflow_runtime::service::main("sink-db", ferroflow_sink_db::run)
}
