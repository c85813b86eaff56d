//! The generator binary: see the library for what it does.

fn main() -> anyhow::Result<()> {
    ferroflow_runtime::service::main("generator", ferroflow_generator::run)
}
