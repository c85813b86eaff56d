//! Compiles the wire contracts in `<workspace>/proto` with prost-build.
//!
//! protoc comes from `protoc-bin-vendored`, so neither developers nor CI nor
//! Docker builds need a system protoc. The generated Rust lands in `OUT_DIR`
//! and is included by `src/proto.rs`.

use std::error::Error;
use std::path::PathBuf;

/// The proto files this crate compiles, relative to the proto root.
const PROTOS: &[&str] = &[
    "stockfeed/stock_update.proto",
    "ferroflow/v1/user_login.proto",
    "ferroflow/v1/enriched.proto",
    "ferroflow/v1/aggregates.proto",
];

/// Aggregates are decoded from JSON through the generated types themselves
/// (they are written once per window, so prost's encoder is fast enough and
/// no hand-written twin is kept); maps are ordered so encodings are stable.
const SERDE_MESSAGES: &[&str] = &[
    ".ferroflow.v1.StockBar",
    ".ferroflow.v1.LoginStats",
    ".ferroflow.v1.LocaleCount",
];

fn main() -> Result<(), Box<dyn Error>> {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let proto_root = manifest_dir.join("../../proto");
    println!("cargo:rerun-if-changed={}", proto_root.display());
    println!("cargo:rerun-if-changed=build.rs");

    let protos: Vec<PathBuf> = PROTOS.iter().map(|p| proto_root.join(p)).collect();
    for proto in &protos {
        println!("cargo:rerun-if-changed={}", proto.display());
    }

    let mut config = prost_build::Config::new();
    config.protoc_executable(protoc_bin_vendored::protoc_bin_path()?);
    config.btree_map([".ferroflow.v1.LoginStats"]);
    for message in SERDE_MESSAGES {
        config.type_attribute(
            message,
            "#[derive(serde::Serialize, serde::Deserialize)] #[serde(default)]",
        );
    }
    config.compile_protos(&protos, &[proto_root, protoc_bin_vendored::include_path()?])?;
    Ok(())
}
