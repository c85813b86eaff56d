# shellcheck shell=bash
# scripts/lib/bench.sh: helpers shared by the scripts/bench-*.sh commands.
# Source it after `set -euo pipefail` and after setting BENCH_NAME (used in
# messages); it only defines functions and read-only paths.
#
# The method every benchmark follows (see docs/benchmarks.md): a ferroflow
# service and a reference tool run against the same private broker in the
# same invocation, alternating which goes first from run to run; we report the
# median of each side and the ratio of the medians. Absolute numbers depend on
# the machine, the ratio much less, so the ratio is what we track.
#
# Conventions as in kafka.sh: progress goes to stderr, results to stdout.

BENCH_LIB_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
BENCH_SCRIPTS_DIR=$(dirname -- "$BENCH_LIB_DIR")
BENCH_REPO_ROOT=$(dirname -- "$BENCH_SCRIPTS_DIR")
BENCH_KAFKA_SH="$BENCH_SCRIPTS_DIR/kafka.sh"
readonly BENCH_LIB_DIR BENCH_SCRIPTS_DIR BENCH_REPO_ROOT BENCH_KAFKA_SH

bench_log() { printf '%s: %s\n' "${BENCH_NAME:-bench}" "$*" >&2; }
bench_die() {
	bench_log "error: $*"
	exit 1
}

bench_need_value() { # option value
	[[ $# -ge 2 && -n $2 ]] || bench_die "option $1 needs a value"
}

bench_need_uint() { # name value ; a positive integer
	[[ $2 =~ ^[1-9][0-9]*$ ]] || bench_die "$1 must be a positive integer, got '$2'"
}

# --------------------------------------------------------------------------
# Numbers (awk, since bash has no floating point)
# --------------------------------------------------------------------------

bench_median() { # VALUES... ; the middle value, or the mean of the two middle ones
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 }
		END {
			if (NR == 0) { print "nan"; exit }
			if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2
		}'
}

bench_ratio() { # A B ; A/B with two decimals ("n/a" if B is 0)
	awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0) print "n/a"; else printf "%.2f\n", a / b }'
}

bench_fmt_int() { # X ; rounded, with thousands separators: 1234567.8 -> 1,234,568
	awk -v x="$1" 'BEGIN {
		s = sprintf("%.0f", x); neg = (substr(s, 1, 1) == "-"); if (neg) s = substr(s, 2)
		out = ""
		while (length(s) > 3) { out = "," substr(s, length(s) - 2) out; s = substr(s, 1, length(s) - 3) }
		print (neg ? "-" : "") s out
	}'
}

bench_fmt() { # DECIMALS X
	awk -v d="$1" -v x="$2" 'BEGIN { printf "%.*f\n", d, x }'
}

bench_json_number() { # KEY FILE ; a top-level number of a (pretty-printed) JSON file
	local v
	v=$(sed -n "s/^ *\"$1\": *\(-\{0,1\}[0-9][0-9.eE+-]*\).*/\1/p" "$2" | head -n 1)
	[[ -n $v ]] || bench_die "no number \"$1\" in $2"
	printf '%s\n' "$v"
}

# --------------------------------------------------------------------------
# Environment facts, for the report
# --------------------------------------------------------------------------

bench_cpu_model() {
	local m
	m=$(sed -n 's/^model name[[:space:]]*: *//p' /proc/cpuinfo 2>/dev/null | head -n 1)
	printf '%s\n' "${m:-unknown CPU}"
}

bench_memory() { # total RAM, e.g. "23.4 GiB"
	awk '/^MemTotal:/ { printf "%.1f GiB\n", $2 / 1048576 }' /proc/meminfo
}

bench_loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

bench_kafka_version() { # from the pom kafka.sh installs from
	sed -n 's:.*<kafka\.version>\(.*\)</kafka\.version>.*:\1:p' "$BENCH_SCRIPTS_DIR/kafka/pom.xml"
}

bench_java_version() {
	java -version 2>&1 | sed -n 's/.*version "\([^"]*\)".*/\1/p' | head -n 1
}

bench_librdkafka_version() { # "2.12.1 (rdkafka-sys 4.10.0+2.12.1)" from Cargo.lock
	local v
	v=$(awk '/^name = "rdkafka-sys"$/ { getline; gsub(/^version = "|"$/, ""); print; exit }' \
		"$BENCH_REPO_ROOT/Cargo.lock")
	if [[ $v == *+* ]]; then
		printf '%s (rdkafka-sys %s)\n' "${v#*+}" "$v"
	else
		printf '%s\n' "${v:-unknown}"
	fi
}

bench_git_revision() { # short commit, "-dirty" if the work tree has changes
	local rev
	rev=$(git -C "$BENCH_REPO_ROOT" rev-parse --short HEAD 2>/dev/null) || {
		echo unknown
		return
	}
	[[ -z $(git -C "$BENCH_REPO_ROOT" status --porcelain --untracked-files=no 2>/dev/null) ]] ||
		rev+="-dirty"
	printf '%s\n' "$rev"
}

# Markdown bullet lines describing the machine.
bench_machine_md() {
	printf -- '- Machine: %s, %s cores (nproc), %s RAM, Linux %s\n' \
		"$(bench_cpu_model)" "$(nproc)" "$(bench_memory)" "$(uname -r)"
}

# Runs COMMAND with its output in LOG and prints the CPU seconds (user + system)
# it and its waited-for children used; returns COMMAND's status.
bench_timed() { # LOG COMMAND [ARGS...]
	local log=$1 rc=0 TIMEFORMAT='%U %S'
	shift
	{ time "$@" >"$log" 2>&1; } 2>"$log.cpu" || rc=$?
	awk '{ printf "%.2f\n", $1 + $2 }' "$log.cpu"
	rm -f "$log.cpu"
	return "$rc"
}

# CPU seconds (user + system) the Kafka nodes of DIR have used so far.
bench_kafka_cpu() { # DIR
	local pf ticks=0 t
	for pf in "$1"/node-*/kafka.pid; do
		[[ -f $pf ]] || continue
		# Fields 14 and 15 of /proc/PID/stat, counted after the ")" that ends
		# the command name (which may contain spaces).
		t=$(sed 's/.*) //' "/proc/$(<"$pf")/stat" 2>/dev/null | awk '{ print $12 + $13 }') || t=0
		ticks=$((ticks + ${t:-0}))
	done
	awk -v t="$ticks" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f\n", t / hz }'
}

# --------------------------------------------------------------------------
# Building
# --------------------------------------------------------------------------

# Builds PACKAGE in release mode and prints the path of its binary BIN. Honours
# CARGO_TARGET_DIR. One retry: a concurrent build in a shared target directory
# can make a first attempt fail on a file it is replacing.
bench_build_release() { # PACKAGE BIN
	local target=${CARGO_TARGET_DIR:-$BENCH_REPO_ROOT/target}
	bench_log "building $1 (release) in $target"
	if ! (cd "$BENCH_REPO_ROOT" && cargo build --release --quiet -p "$1" >&2); then
		bench_log "build failed; retrying once (a concurrent build may have raced)"
		(cd "$BENCH_REPO_ROOT" && cargo build --release --quiet -p "$1" >&2) ||
			bench_die "cargo build --release -p $1 failed"
	fi
	[[ -x $target/release/$2 ]] || bench_die "no binary $target/release/$2 after the build"
	printf '%s\n' "$target/release/$2"
}

# Runs a command with every FERROFLOW_* variable of the caller removed, so
# only the settings a benchmark passes explicitly reach the service (the
# services reject unknown FERROFLOW_* names, e.g. kafka.sh's FERROFLOW_KAFKA_DIR,
# and a stray FERROFLOW_RDKAFKA_* would skew one side of a comparison).
bench_clean_env() { # [NAME=VALUE...] COMMAND [ARGS...]
	local -a drop=()
	local v
	for v in $(compgen -e); do
		[[ $v == FERROFLOW_* ]] && drop+=(-u "$v")
	done
	env ${drop[@]+"${drop[@]}"} "$@"
}

# --------------------------------------------------------------------------
# The private broker
# --------------------------------------------------------------------------

# Starts (or reuses) the cluster in DIR and prints its bootstrap servers.
# Benchmarks use their own DIR and port so they never touch the broker the
# tests use (~/.cache/ferroflow/kafka-run, port 19092).
bench_kafka_start() { # DIR PORT NODES
	local out
	out=$("$BENCH_KAFKA_SH" start --dir "$1" --port "$2" --nodes "$3") ||
		bench_die "could not start Kafka in $1"
	printf '%s\n' "${out##*$'\n'}"
}

bench_kafka_stop() { # DIR
	"$BENCH_KAFKA_SH" stop --dir "$1" >&2 || bench_log "warning: stopping Kafka in $1 failed"
}

bench_topic_create() { # BOOTSTRAP NAME PARTITIONS
	"$BENCH_KAFKA_SH" create-topic "$2" --partitions "$3" --bootstrap "$1" >/dev/null ||
		bench_die "could not create topic $2"
}

bench_topic_delete() { # BOOTSTRAP NAME...
	local b=$1 t
	shift
	for t in "$@"; do
		KAFKA_TOOL_HEAP=-Xmx128m "$BENCH_KAFKA_SH" tool org.apache.kafka.tools.TopicCommand \
			--bootstrap-server "$b" --delete --topic "$t" >/dev/null 2>&1 ||
			bench_log "warning: could not delete topic $t"
	done
}

# Prints the end offset of every partition as "P=OFFSET" words, sorted by
# partition. Without transactions, end offsets count the records written.
bench_topic_end_offsets() { # BOOTSTRAP NAME
	KAFKA_TOOL_HEAP=-Xmx128m "$BENCH_KAFKA_SH" tool org.apache.kafka.tools.GetOffsetShell \
		--bootstrap-server "$1" --topic "$2" 2>/dev/null |
		awk -F: -v t="$2" '$1 == t { print $2 "=" $3 }' | sort -n | paste -sd' ' -
}

bench_sum_offsets() { # "P=OFFSET ..." -> total
	tr ' ' '\n' <<<"$1" | awk -F= '{ s += $2 } END { print s + 0 }'
}
