#!/usr/bin/env bash
# scripts/bench-producer.sh: how fast does the generator produce, compared with
# Kafka's own producer benchmark (org.apache.kafka.tools.ProducerPerformance,
# the class behind kafka-producer-perf-test.sh) on the same broker?
#
# Both sides send the same number of same-sized records with the same
# guarantees (acks=all, idempotence) and the same linger.ms and compression to
# fresh topics with the same partitions on one private broker; the order
# alternates from run to run; we report the medians and their ratio. Run
# `scripts/bench-producer.sh --help` for the options; docs/benchmarks.md has
# the method and results.

set -euo pipefail

readonly BENCH_NAME=bench-producer
# shellcheck source-path=SCRIPTDIR
source "$(dirname -- "${BASH_SOURCE[0]}")/lib/bench.sh"

usage() {
	cat <<'EOF'
Usage: scripts/bench-producer.sh [OPTIONS]

Builds the generator (release), starts a private Kafka, and for each run
produces N records with ProducerPerformance and with the generator, each to a
fresh topic, alternating which goes first. Prints a Markdown report (medians,
ratio generator/ProducerPerformance) and writes it to --out.

Options:
  --records N          records per side and run (default 2000000)
  --record-size B      value size in bytes (default 100); the generator pads
                       its JSON ticks to this size
  --runs R             runs per compression (default 3)
  --nodes 1|3          brokers in the private cluster (default 1); topics get
                       replication min(nodes, 3)
  --partitions P       partitions of every topic (default 3)
  --compression LIST   comma-separated compression.type values, each measured
                       on both sides (default "none,lz4")
  --tickers LIST       the generator's tickers, i.e. its record keys (default
                       six chosen so that librdkafka's default partitioner,
                       CRC32 of the key, spreads them evenly over 3
                       partitions; the generator's own default STK_ONE,STK_TWO
                       puts every tick into partition 1 of 3)
  --linger-ms MS       linger.ms on both sides (default 5, the generator's and
                       Kafka 4.x's default)
  --producer-prop K=V  extra producer property for BOTH sides (repeatable)
  --generator-prop K=V extra librdkafka property for the generator only
                       (repeatable; tuning experiments, listed as a difference)
  --generator-env NAME=VALUE
                       extra environment variable for the generator process
                       only (repeatable; e.g. LD_PRELOAD of another malloc;
                       listed as a difference)
  --warmup N           records each side sends once before the runs, not
                       counted, to warm up the broker (default 500000; 0: none)
  --out FILE           Markdown report (default target/bench/producer.md in
                       the repository); run logs go to FILE's directory
  --dir DIR            the private cluster's run directory
                       (default ~/.cache/ferroflow/bench-kafka)
  --port PORT          its first broker port (default 29092)
  --keep-kafka         leave the cluster running at exit (a later run with the
                       same --dir reuses it); this run's topics are deleted
  --no-build           use the generator binary already built
  -h, --help           this text

Environment: CARGO_TARGET_DIR (where the generator is built), KAFKA_TOOL_HEAP
(ProducerPerformance heap, default -Xmx1g). FERROFLOW_* variables of the
caller are not passed to the generator; use --producer-prop/--generator-prop.
EOF
}

# --------------------------------------------------------------------------
# Options
# --------------------------------------------------------------------------

records=2000000
record_size=100
runs=3
nodes=1
partitions=3
compressions=none,lz4
linger_ms=5
tickers=STK_ONE,STK_MNO,STK_ABC,STK_TWO,STK_PQR,STK_GHI
warmup=500000
out=""
kafka_dir="${FERROFLOW_CACHE_DIR:-$HOME/.cache/ferroflow}/bench-kafka"
port=29092
keep_kafka=0
build=1
common_props=()
generator_props=()
generator_envs=()
argv=("$@")

while [[ $# -gt 0 ]]; do
	case $1 in
	--records) bench_need_value "$@"; bench_need_uint --records "$2"; records=$2; shift 2 ;;
	--record-size) bench_need_value "$@"; bench_need_uint --record-size "$2"; record_size=$2; shift 2 ;;
	--runs) bench_need_value "$@"; bench_need_uint --runs "$2"; runs=$2; shift 2 ;;
	--nodes) bench_need_value "$@"; nodes=$2; shift 2 ;;
	--partitions) bench_need_value "$@"; bench_need_uint --partitions "$2"; partitions=$2; shift 2 ;;
	--compression) bench_need_value "$@"; compressions=$2; shift 2 ;;
	--tickers) bench_need_value "$@"; tickers=$2; shift 2 ;;
	--linger-ms) bench_need_value "$@"; [[ $2 =~ ^[0-9]+$ ]] || bench_die "--linger-ms must be an integer"; linger_ms=$2; shift 2 ;;
	--producer-prop) bench_need_value "$@"; common_props+=("$2"); shift 2 ;;
	--generator-prop) bench_need_value "$@"; generator_props+=("$2"); shift 2 ;;
	--generator-env) bench_need_value "$@"; generator_envs+=("$2"); shift 2 ;;
	--warmup) bench_need_value "$@"; [[ $2 =~ ^[0-9]+$ ]] || bench_die "--warmup must be an integer"; warmup=$2; shift 2 ;;
	--out) bench_need_value "$@"; out=$2; shift 2 ;;
	--dir) bench_need_value "$@"; kafka_dir=$2; shift 2 ;;
	--port) bench_need_value "$@"; bench_need_uint --port "$2"; port=$2; shift 2 ;;
	--keep-kafka) keep_kafka=1; shift ;;
	--no-build) build=0; shift ;;
	-h | --help) usage; exit 0 ;;
	*) bench_die "unknown argument '$1' (see --help)" ;;
	esac
done

[[ $nodes == 1 || $nodes == 3 ]] || bench_die "--nodes must be 1 or 3, got '$nodes'"
IFS=, read -r -a comps <<<"$compressions"
((${#comps[@]} > 0)) || bench_die "--compression needs at least one value"
for c in "${comps[@]}"; do
	[[ $c =~ ^(none|gzip|snappy|lz4|zstd)$ ]] || bench_die "unknown compression '$c'"
done
for p in ${common_props[@]+"${common_props[@]}"} ${generator_props[@]+"${generator_props[@]}"}; do
	[[ $p =~ ^[a-z][a-z0-9.]*=[^=]+$ ]] || bench_die "a property must look like name.with.dots=value, got '$p'"
	case ${p%%=*} in
	bootstrap.servers | acks | enable.idempotence | compression.type | linger.ms)
		bench_die "${p%%=*} is set by the benchmark itself (see --help)" ;;
	esac
done
# The generator's settings must stay what a deployment gets, except for the
# librdkafka properties given here; ProducerPerformance cannot take these.
for p in ${generator_props[@]+"${generator_props[@]}"}; do
	[[ ${p%%=*} != *_* ]] || bench_die "librdkafka property names have no '_': '$p'"
done

for e in ${generator_envs[@]+"${generator_envs[@]}"}; do
	[[ $e =~ ^[A-Za-z_][A-Za-z0-9_]*= ]] || bench_die "--generator-env wants NAME=VALUE, got '$e'"
	[[ $e != FERROFLOW_* ]] || bench_die "pass ferroflow settings as --generator-prop, not '$e'"
done

[[ -n $out ]] || out="$BENCH_REPO_ROOT/target/bench/producer.md"
mkdir -p "$(dirname -- "$out")"
out=$(cd -- "$(dirname -- "$out")" && pwd -P)/$(basename -- "$out")
logs="${out%.md}-logs"
rm -rf "$logs"
mkdir -p "$logs"

# Generous per-side limit: a wedged client must not hang the benchmark.
side_timeout=$((300 + records / 5000))
# Short topic names: the generator writes "<instance>/<topic>" into a header of
# every record, and a long name would inflate its records beyond production's.
stamp=$(printf '%04d' $(($(date +%s) % 10000)))
replication=$((nodes < 3 ? nodes : 3))
pp_heap=${KAFKA_TOOL_HEAP:--Xmx1g}

# --------------------------------------------------------------------------
# Setup: build, broker, cleanup
# --------------------------------------------------------------------------

if ((build)); then
	generator=$(bench_build_release ferroflow-generator generator)
else
	generator="${CARGO_TARGET_DIR:-$BENCH_REPO_ROOT/target}/release/generator"
	[[ -x $generator ]] || bench_die "no generator binary at $generator (drop --no-build)"
fi

topics=()
bootstrap=""
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if ((keep_kafka)); then
		if [[ -n $bootstrap && ${#topics[@]} -gt 0 ]]; then
			bench_log "deleting this run's ${#topics[@]} topics (--keep-kafka keeps the cluster)"
			bench_topic_delete "$bootstrap" "${topics[@]}"
		fi
		bench_log "Kafka left running in $kafka_dir ($bootstrap); stop it with: scripts/kafka.sh stop --dir $kafka_dir"
	else
		bench_kafka_stop "$kafka_dir"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bench_log "starting a private Kafka ($nodes node(s)) in $kafka_dir on port $port"
bootstrap=$(bench_kafka_start "$kafka_dir" "$port" "$nodes")
bench_log "bootstrap servers: $bootstrap"

# --------------------------------------------------------------------------
# One measurement per side
# --------------------------------------------------------------------------

# Payload bytes the broker stores for TOPIC (one replica), from node 1's log
# segments: shows what compression and the per-record key and headers cost.
stored_bytes() { # TOPIC
	find "$kafka_dir/node-1/data" -path "*/$1-[0-9]*/*.log" -printf '%s\n' 2>/dev/null |
		awk '{ s += $1 } END { print s + 0 }'
}

# Both sides' records land in a fresh topic; the end offsets must add up to
# the records the tool claims, or the run does not count.
new_topic() { # NAME
	bench_topic_create "$bootstrap" "$1" "$partitions"
	topics+=("$1")
}

# The result of the last measure_* call.
res_rps="" res_mibps="" res_secs="" res_spread="" res_stored="" res_value_bytes=""
res_cpu="" res_broker_cpu=""

verify_topic() { # TOPIC EXPECTED LOG
	res_spread=$(bench_topic_end_offsets "$bootstrap" "$1")
	local total
	total=$(bench_sum_offsets "$res_spread")
	[[ $total == "$2" ]] ||
		bench_die "topic $1 holds $total records, expected $2 (offsets: $res_spread; log: $3)"
	res_stored=$(awk -v b="$(stored_bytes "$1")" -v n="$2" 'BEGIN { printf "%.1f", b / n }')
}

# Kafka's producer benchmark. Its throughput clock starts before the first
# send and stops after close(), i.e. once every record is acknowledged.
measure_pp() { # TOPIC COMPRESSION COUNT
	local topic=$1 comp=$2 count=$3 log="$logs/$1.log" line
	local -a props=(bootstrap.servers="$bootstrap" acks=all enable.idempotence=true
		linger.ms="$linger_ms" compression.type="$comp" ${common_props[@]+"${common_props[@]}"})
	new_topic "$topic"
	# LC_ALL=C: Java prints the decimal separator of the locale.
	local broker_cpu
	broker_cpu=$(bench_kafka_cpu "$kafka_dir")
	# --foreground: Ctrl-C reaches the tool too (kafka.sh execs java).
	if ! res_cpu=$(bench_timed "$log" env LC_ALL=C KAFKA_TOOL_HEAP="$pp_heap" \
		timeout --foreground -k 10 "$side_timeout" \
		"$BENCH_KAFKA_SH" tool org.apache.kafka.tools.ProducerPerformance \
		--topic "$topic" --num-records "$count" --record-size "$record_size" \
		--throughput -1 --producer-props "${props[@]}"); then
		tail -n 20 "$log" >&2
		bench_die "ProducerPerformance failed (log: $log)"
	fi
	res_broker_cpu=$(awk -v a="$broker_cpu" -v b="$(bench_kafka_cpu "$kafka_dir")" 'BEGIN { printf "%.2f", b - a }')
	# The last progress-style line is the total (earlier ones are 5 s windows).
	line=$(grep -E '^[0-9]+ records sent, [0-9.]+ records/sec \([0-9.]+ MB/sec\)' "$log" | tail -n 1)
	[[ -n $line ]] || bench_die "no result line in $log"
	local sent
	read -r sent res_rps res_mibps < <(sed -E \
		's/^([0-9]+) records sent, ([0-9.]+) records\/sec \(([0-9.]+) MB\/sec\).*/\1 \2 \3/' <<<"$line")
	[[ $sent == "$count" ]] || bench_die "ProducerPerformance sent $sent of $count records (log: $log)"
	res_secs=$(awk -v n="$count" -v r="$res_rps" 'BEGIN { printf "%.2f", n / r }')
	res_value_bytes=$record_size
	verify_topic "$topic" "$count" "$log"
}

# The generator as deployed, stock ticks only, as fast as the broker takes
# them. Its clock runs from the first send to the last delivery report.
measure_generator() { # TOPIC COMPRESSION COUNT
	local topic=$1 comp=$2 count=$3 log="$logs/$1.log" summary="$logs/$1.summary.json"
	local -a env=(
		FERROFLOW_KAFKA__BOOTSTRAP_SERVERS="$bootstrap"
		FERROFLOW_HTTP__LISTEN=127.0.0.1:0
		FERROFLOW_TOPICS__STOCK_TICKS="$topic"
		FERROFLOW_GENERATOR__USER_LOGIN__ENABLED=false
		FERROFLOW_GENERATOR__TICKERS="$tickers"
		FERROFLOW_GENERATOR__STOCK_TICKS__RATE=max
		FERROFLOW_GENERATOR__STOCK_TICKS__COUNT="$count"
		FERROFLOW_GENERATOR__STOCK_TICKS__FORMAT=json
		FERROFLOW_GENERATOR__STOCK_TICKS__PAD_TO_BYTES="$record_size"
		FERROFLOW_GENERATOR__SUMMARY_FILE="$summary"
		FERROFLOW_RDKAFKA_LINGER_MS="$linger_ms"
		FERROFLOW_RDKAFKA_COMPRESSION_TYPE="$comp"
	)
	local p
	for p in ${common_props[@]+"${common_props[@]}"} ${generator_props[@]+"${generator_props[@]}"}; do
		env+=("FERROFLOW_RDKAFKA_$(tr 'a-z.' 'A-Z_' <<<"${p%%=*}")=${p#*=}")
	done
	env+=(${generator_envs[@]+"${generator_envs[@]}"})
	new_topic "$topic"
	local broker_cpu
	broker_cpu=$(bench_kafka_cpu "$kafka_dir")
	if ! res_cpu=$(bench_timed "$log" bench_clean_env "${env[@]}" \
		timeout --foreground -k 10 "$side_timeout" "$generator"); then
		tail -n 20 "$log" >&2
		bench_die "the generator failed (log: $log)"
	fi
	res_broker_cpu=$(awk -v a="$broker_cpu" -v b="$(bench_kafka_cpu "$kafka_dir")" 'BEGIN { printf "%.2f", b - a }')
	local delivered failed elapsed bps
	delivered=$(bench_json_number delivered "$summary")
	failed=$(bench_json_number failed "$summary")
	elapsed=$(bench_json_number elapsed_seconds "$summary")
	res_rps=$(bench_json_number records_per_second "$summary")
	bps=$(bench_json_number bytes_per_second "$summary")
	[[ $delivered == "$count" && $failed == 0 ]] ||
		bench_die "the generator delivered $delivered of $count records, $failed failed (log: $log)"
	# MB/s as ProducerPerformance counts it: value bytes / 2^20.
	res_mibps=$(awk -v b="$bps" 'BEGIN { printf "%.2f", b / 1048576 }')
	res_secs=$(bench_fmt 2 "$elapsed")
	res_value_bytes=$(awk -v b="$bps" -v e="$elapsed" -v n="$count" 'BEGIN { printf "%.1f", b * e / n }')
	verify_topic "$topic" "$count" "$log"
}

measure() { # TOOL TOPIC COMPRESSION COUNT
	case $1 in
	pp) measure_pp "${@:2}" ;;
	gen) measure_generator "${@:2}" ;;
	esac
}

tool_name() { case $1 in pp) echo ProducerPerformance ;; gen) echo generator ;; esac }
short_name() { case $1 in pp) echo PP ;; gen) echo generator ;; esac }

# --------------------------------------------------------------------------
# Runs
# --------------------------------------------------------------------------

load_before=$(bench_loadavg)
started_at=$(date -u +'%Y-%m-%d %H:%M UTC')

if ((warmup > 0)); then
	bench_log "warm-up: $warmup records per side (not counted)"
	for tool in pp gen; do
		measure "$tool" "bp$stamp-warmup-$tool" "${comps[0]}" "$warmup"
	done
fi

# rows: "run compression first tool rps mibps secs stored value_bytes spread"
rows=()
declare -A results=() mib=() # [tool,comp] -> the runs' records/s, MiB/s
for ((run = 1; run <= runs; run++)); do
	if ((run % 2)); then order=(pp gen); else order=(gen pp); fi
	for comp in "${comps[@]}"; do
		for tool in "${order[@]}"; do
			topic="bp$stamp-r$run-$comp-$tool"
			bench_log "run $run/$runs, compression $comp: $(tool_name "$tool")..."
			measure "$tool" "$topic" "$comp" "$records"
			bench_log "  $(bench_fmt_int "$res_rps") records/s, $res_mibps MiB/s, ${res_secs}s, CPU ${res_cpu}s (broker ${res_broker_cpu}s), stored $res_stored B/record, partitions $res_spread"
			rows+=("$run $comp ${order[0]} $tool $res_rps $res_mibps $res_secs $res_cpu $res_broker_cpu $res_stored $res_value_bytes ${res_spread// /,}")
			results[$tool,$comp]+="$res_rps "
			mib[$tool,$comp]+="$res_mibps "
		done
	done
done

load_after=$(bench_loadavg)

# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------

command_line="scripts/bench-producer.sh${argv[*]:+ ${argv[*]}}"
report() {
	local comp tool pp_med gen_med pp_mib gen_mib r
	echo "### Producer: generator vs kafka-producer-perf-test ($started_at)"
	echo
	echo "Command: \`$command_line\`"
	echo
	bench_machine_md
	echo "- Load average (1, 5, 15 min): $load_before before, $load_after after"
	echo "- Kafka $(bench_kafka_version) (broker and ProducerPerformance), Java $(bench_java_version), librdkafka $(bench_librdkafka_version), ferroflow $(bench_git_revision)"
	echo "- Broker: $nodes node(s) on loopback, private run directory; topics with $partitions partitions, replication $replication, one fresh topic per measurement"
	echo "- Records: $(bench_fmt_int "$records") per side and run, $record_size-byte values; $runs run(s) per compression, order alternating (odd runs: ProducerPerformance first); warm-up $(bench_fmt_int "$warmup") records per side, not counted"
	echo "- Same on both sides: acks=all, enable.idempotence=true, linger.ms=$linger_ms, compression.type as in the table${common_props[*]:+, ${common_props[*]}}"
	echo "- Generator: stock ticks only, rate=max, format=json, pad_to_bytes=$record_size, tickers=$tickers${generator_props[*]:+; generator only: ${generator_props[*]}}${generator_envs[*]:+; generator environment: ${generator_envs[*]}}"
	echo
	echo "| compression | ProducerPerformance records/s | MiB/s | generator records/s | MiB/s | ratio generator/PP (median) | ratio per run |"
	echo "|---|--:|--:|--:|--:|--:|---|"
	for comp in "${comps[@]}"; do
		read -r -a pp_runs <<<"${results[pp,$comp]}"
		read -r -a gen_runs <<<"${results[gen,$comp]}"
		read -r -a pp_mibs <<<"${mib[pp,$comp]}"
		read -r -a gen_mibs <<<"${mib[gen,$comp]}"
		pp_med=$(bench_median "${pp_runs[@]}")
		gen_med=$(bench_median "${gen_runs[@]}")
		pp_mib=$(bench_median "${pp_mibs[@]}")
		gen_mib=$(bench_median "${gen_mibs[@]}")
		local per_run="" i
		for i in "${!pp_runs[@]}"; do
			per_run+="${per_run:+, }$(bench_ratio "${gen_runs[i]}" "${pp_runs[i]}")"
		done
		printf '| %s | %s | %s | %s | %s | **%s** | %s |\n' "$comp" \
			"$(bench_fmt_int "$pp_med")" "$(bench_fmt 2 "$pp_mib")" \
			"$(bench_fmt_int "$gen_med")" "$(bench_fmt 2 "$gen_mib")" \
			"$(bench_ratio "$gen_med" "$pp_med")" "$per_run"
	done
	echo
	echo "Every measurement. Seconds: the tool's own clock. Client CPU: user + system seconds of the whole process, start-up included (for ProducerPerformance that is JVM start-up and JIT compilation too). Broker CPU: what the Kafka node(s) used meanwhile. Stored: log-segment bytes per record on the broker (one replica). Records per partition: end offsets, checked against the count."
	echo
	echo "| run | compression | first | tool | records/s | MiB/s | seconds | client CPU s | broker CPU s | value B | stored B/record | records per partition |"
	echo "|--:|---|---|---|--:|--:|--:|--:|--:|--:|--:|---|"
	local row
	for row in "${rows[@]}"; do
		read -r r comp first tool rps mibps secs cpu bcpu stored vbytes spread <<<"$row"
		printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$r" "$comp" \
			"$(short_name "$first")" "$(tool_name "$tool")" "$(bench_fmt_int "$rps")" "$mibps" \
			"$secs" "$cpu" "$bcpu" "$vbytes" "$stored" "${spread//,/ }"
	done
	echo
	echo "Differences that remain (each client's defaults, kept on purpose):"
	echo
	echo "- Records: ProducerPerformance sends values only (no key, no headers; random upper-case letters). The generator sends a ticker key and the \`content-type\`, \`ff-producer-id\` and \`ff-seq\` headers as in production, with JSON values padded to $record_size bytes. MiB/s counts value bytes on both sides (bytes / 2^20, as ProducerPerformance does)."
	echo "- Partitioning: ProducerPerformance has no keys, so the Java client's sticky partitioner fills one partition's batch at a time; the generator's keys are hashed by librdkafka's default partitioner (consistent_random), so the spread depends on the tickers (see the last column)."
	echo "- Batching and buffering: Java batch.size=16384 per partition and buffer.memory=32 MiB; librdkafka batch.size=1000000, batch.num.messages=10000, queue.buffering.max.messages=100000."
	echo "- Clocks: ProducerPerformance from before its first send to the end of close(); the generator from its first send to its last delivery report. Neither counts process start-up (JVM, metadata probe)."
}

report | tee "$out"
bench_log "report written to $out (logs in $logs)"
