#!/usr/bin/env bash
# scripts/run.sh: the whole ferroflow pipeline on one machine, in one command.
#
# Builds the workspace binaries (release, cached outside the clone), then runs the
# launcher: an embedded Kafka mock cluster inside the launcher, every service as its own
# process, CSV files under ./data/csv and a SQLite database in ./data/db, health and
# metrics URLs printed once all are ready. Ctrl-C stops everything. Needs only the Rust
# toolchain, a C compiler, make and perl (librdkafka and its vendored OpenSSL are built
# from source).
#
# Usage: scripts/run.sh [ferroflow run options]     (scripts/run.sh --help lists them)
#   scripts/run.sh --bootstrap-servers 127.0.0.1:19092   use a real broker instead
#   CARGO_TARGET_DIR=…   build elsewhere (default ~/.cache/ferroflow/target)

set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo" # ./data is relative to the repository root

if ! command -v cargo >/dev/null 2>&1; then
	echo "scripts/run.sh: cargo not found. Install the Rust toolchain (https://rustup.rs)," >&2
	echo "then run this again. A C compiler (cc), make and perl are needed too, to build" >&2
	echo "librdkafka and its vendored OpenSSL." >&2
	exit 127
fi

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/ferroflow/target}"
echo "==> building the ferroflow binaries (release; cached in $CARGO_TARGET_DIR)" >&2
cargo build --release --bins

exec "$CARGO_TARGET_DIR/release/ferroflow" run "$@"
