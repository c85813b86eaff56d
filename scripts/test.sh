#!/usr/bin/env bash
# scripts/test.sh: the one command that runs every ferroflow test on a fresh machine.
#
# It installs what the tests need (the Rust components, Apache Kafka via scripts/kafka.sh,
# PostgreSQL via scripts/postgres.sh), starts a real Kafka and PostgreSQL on loopback,
# runs the gates (rustfmt, clippy) and every test of the workspace against them, and stops
# both however it ends.
# Build outputs and downloads are cached under ~/.cache/ferroflow, outside the clone.
#
# Usage: scripts/test.sh [extra cargo test args]
#   FERROFLOW_TEST_BOOTSTRAP=host:port  use a broker that is already running instead
#   FERROFLOW_TEST_DATABASE_URL=postgres://…  use a PostgreSQL that is already running
#     (with FERROFLOW_TEST_POSTGRES_DIR=<its scripts/postgres.sh dir> for the outage test)

set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
cache="${FERROFLOW_CACHE:-$HOME/.cache/ferroflow}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$cache/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# A test run builds once: incremental state only fills the cache, one copy per clone path.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

step() { printf '\n==> %s\n' "$*" >&2; }

step "toolchain"
command -v cargo >/dev/null || { echo "cargo not found: install Rust from https://rustup.rs" >&2; exit 1; }
command -v java >/dev/null || { echo "java not found: Kafka needs Java 17+" >&2; exit 1; }
command -v mvn >/dev/null || { echo "mvn not found: Kafka is installed from Maven Central with Maven" >&2; exit 1; }
if command -v rustup >/dev/null; then
	rustup component add rustfmt clippy >/dev/null 2>&1 || true
fi
cargo --version >&2

step "packaging (scripts/validate-packaging.sh: Dockerfiles, compose, Helm, Prometheus, Grafana)"
# Static checks with the real tools (hadolint, docker compose, helm, promtool,
# Kubernetes schemas); installs them into ~/.cache/ferroflow/tools on first use.
scripts/validate-packaging.sh

# Every fresh clone (CI, ci-local) builds ferroflow's own crates anew under a new path
# hash, and the old copies stay: past a limit, drop them all (dependencies stay cached).
debug_dir="$CARGO_TARGET_DIR/debug"
if [ -d "$debug_dir" ] && [ "$(du -sm "$debug_dir" | cut -f1)" -gt "${FERROFLOW_CACHE_LIMIT_MB:-30000}" ]; then
	step "cache over ${FERROFLOW_CACHE_LIMIT_MB:-30000} MB: removing earlier builds of the workspace crates"
	members=$(cargo metadata --no-deps --format-version 1 --locked |
		python3 -c 'import json,sys; print(" ".join(p["name"] for p in json.load(sys.stdin)["packages"]))')
	for member in $members; do cargo clean --quiet -p "$member"; done
	rm -rf "$debug_dir/incremental"
fi

step "formatting (cargo fmt --check)"
cargo fmt --all -- --check

step "lints (cargo clippy -D warnings)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "build"
cargo build --workspace --all-targets --locked

# What to stop at exit, however the script ends (one trap runs them all).
at_exit=()
trap 'for c in "${at_exit[@]}"; do eval "$c"; done' EXIT

kafka_dir="$cache/test-kafka"
if [ -z "${FERROFLOW_TEST_BOOTSTRAP:-}" ]; then
	step "Apache Kafka (scripts/kafka.sh)"
	scripts/kafka.sh install
	# Stop a broker a previous, interrupted run may have left behind.
	scripts/kafka.sh stop --dir "$kafka_dir" >/dev/null 2>&1 || true
	at_exit+=('scripts/kafka.sh stop --dir "$kafka_dir" >&2 || true')
	# Three combined broker+controller nodes, replication 3, min.insync.replicas 2: the
	# tests run where acks=all means something and a broker can be lost mid-test.
	FERROFLOW_TEST_BOOTSTRAP=$(scripts/kafka.sh start --nodes 3 --dir "$kafka_dir" --port 39092 | tail -n 1)
	export FERROFLOW_TEST_BOOTSTRAP FERROFLOW_TEST_KAFKA_DIR=$kafka_dir
	export FERROFLOW_TEST_KAFKA_NODES=3 FERROFLOW_TEST_REPLICATION=3
fi
echo "test broker: $FERROFLOW_TEST_BOOTSTRAP" >&2

pg_dir="$cache/test-postgres"
if [ -z "${FERROFLOW_TEST_DATABASE_URL:-}" ]; then
	step "PostgreSQL (scripts/postgres.sh)"
	scripts/postgres.sh install
	scripts/postgres.sh stop --dir "$pg_dir" >/dev/null 2>&1 || true
	at_exit+=('scripts/postgres.sh stop --dir "$pg_dir" >&2 || true')
	FERROFLOW_TEST_DATABASE_URL=$(scripts/postgres.sh start --dir "$pg_dir" --port 55433 | tail -n 1)
	export FERROFLOW_TEST_DATABASE_URL FERROFLOW_TEST_POSTGRES_DIR=$pg_dir
fi
echo "test database: $FERROFLOW_TEST_DATABASE_URL" >&2

step "tests"
# Two test threads: the integration tests each run a service process and a producer, and
# the machine may have only two cores.
cargo test --workspace --locked "$@" -- --test-threads=2
