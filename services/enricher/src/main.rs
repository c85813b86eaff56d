//! The enricher binary: see the library for what it does.

fn main() -> anyhow::Result<()> {
    ferroflow_runtime::service::main("enricher", ferroflow_enricher::run)
}
