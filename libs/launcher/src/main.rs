//! The `ferroflow` binary: see the library for what it does.

fn main() -> anyhow::Result<std::process::ExitCode> {
    ferroflow_launcher::main()
}
