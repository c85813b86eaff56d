//! `sqlx::migrate!` embeds `migrations/` at compile time; on stable Rust the macro cannot
//! tell cargo to watch the directory, so this build script does: a new or edited
//! migration rebuilds the crate.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
