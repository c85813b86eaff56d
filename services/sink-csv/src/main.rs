//! The sink-csv binary: see the library for what it does.

fn main() -> anyhow::Result<()> {
    ferroflow_runtime::service::main("sink-csv", ferroflow_sink_csv::run)
}
