#!/usr/bin/env bash
# scripts/bench-aggregator.sh: how fast does the aggregator window an enriched topic,
# compared with Kafka's own consumer benchmark (org.apache.kafka.tools.ConsumerPerformance,
# the class behind kafka-consumer-perf-test.sh) reading the same topic on the same broker?
#
# The enriched topic is filled once: the generator writes JSON stock ticks (six tickers
# spread over the partitions, event times from the wall clock) and the enricher turns them
# into protobuf EnrichedStockTick records. Each run then reads all of it two ways, in an
# order that alternates from run to run: ConsumerPerformance (its fetch rate, which leaves
# out the group join) and the aggregator in exactly-once mode (from its first consumed
# record to its last, read from its /metrics every 50 ms: every record decoded, windowed,
# its batch committed in a transaction with the checkpoints and offsets). We report the
# medians and the ratio aggregator / ConsumerPerformance (target: >= 0.5).
# docs/benchmarks.md has results.
#
# Usage: scripts/bench-aggregator.sh [--records N] [--runs R] [--partitions P]
#                                    [--port PORT] [--no-build] [--keep-kafka] [--out FILE]
#                                    [--aggregator-setting KEY=VALUE]...  (e.g. window_size=10s)
#   FERROFLOW_BENCH_KAFKA_DIR=DIR  the private broker's directory (default ~/.cache/ferroflow/bench-kafka)

set -euo pipefail
BENCH_NAME=bench-aggregator
# shellcheck source-path=SCRIPTDIR
source "$(dirname -- "${BASH_SOURCE[0]}")/lib/bench.sh"

records=1000000 runs=3 partitions=3 build=1 keep=0 port=29092
declare -a settings=()
dir=${FERROFLOW_BENCH_KAFKA_DIR:-$HOME/.cache/ferroflow/bench-kafka}
out=$BENCH_REPO_ROOT/target/bench/aggregator.md
# A free loopback port for the services' HTTP servers (/metrics).
http_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null || echo 29190)
tickers=STK_ONE,STK_MNO,STK_ABC,STK_TWO,STK_PQR,STK_GHI
while [[ $# -gt 0 ]]; do
	case $1 in
	--records) bench_need_value "$@"; records=$2; shift 2 ;;
	--runs) bench_need_value "$@"; runs=$2; shift 2 ;;
	--partitions) bench_need_value "$@"; partitions=$2; shift 2 ;;
	--port) bench_need_value "$@"; port=$2; shift 2 ;;
	--no-build) build=0; shift ;;
	--keep-kafka) keep=1; shift ;;
	--out) bench_need_value "$@"; out=$2; shift 2 ;;
	--aggregator-setting)
		bench_need_value "$@"
		key=${2%%=*}
		settings+=("FERROFLOW_AGGREGATOR__${key^^}=${2#*=}")
		shift 2
		;;
	-h | --help) sed -n '2,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) bench_die "unknown argument '$1' (see --help)" ;;
	esac
done
bench_need_uint --records "$records"
bench_need_uint --runs "$runs"
bench_need_uint --partitions "$partitions"
bench_need_uint --port "$port"
command -v curl >/dev/null || bench_die "curl is needed to read the services' /metrics"

target=${CARGO_TARGET_DIR:-$BENCH_REPO_ROOT/target}
if ((build)); then
	generator=$(bench_build_release ferroflow-generator generator)
	enricher=$(bench_build_release ferroflow-enricher enricher)
	aggregator=$(bench_build_release ferroflow-aggregator aggregator)
else
	generator=$target/release/generator enricher=$target/release/enricher aggregator=$target/release/aggregator
	[[ -x $generator && -x $enricher && -x $aggregator ]] ||
		bench_die "no release binaries in $target (drop --no-build)"
fi

logs=${out%.md}-logs
mkdir -p "$logs" "$(dirname "$out")"
service_pid=""
cleanup() {
	[[ -n $service_pid ]] && kill "$service_pid" 2>/dev/null || true
	((keep)) || bench_kafka_stop "$dir"
}
trap cleanup EXIT
bootstrap=$(bench_kafka_start "$dir" "$port" 1)
bench_log "bootstrap servers: $bootstrap"

stamp=$(date +%s)
raw=bench-raw-$stamp enriched=bench-enriched-$stamp empty=bench-empty-$stamp sink=bench-sink-$stamp
for t in "$raw" "$enriched" "$empty" "$sink"; do bench_topic_create "$bootstrap" "$t" "$partitions"; done

metric() { # TOPIC OUTCOME ; a ferroflow_records_total value of the service on $http_port
	curl -s "http://127.0.0.1:$http_port/metrics" 2>/dev/null |
		awk -v t="topic=\"$1\"" -v o="outcome=\"$2\"" \
			'/^ferroflow_records_total\{/ && index($0, t) && index($0, o) { v = $NF } END { print v + 0 }'
}

# Starts a service in the background with only the given FERROFLOW_* settings. `env`
# directly (not a function) so that $! is the service itself and SIGTERM reaches it.
start_service() { # LOG BINARY [NAME=VALUE...]
	local log=$1 binary=$2
	shift 2
	local -a drop=()
	local v
	for v in $(compgen -e); do [[ $v == FERROFLOW_* ]] && drop+=(-u "$v"); done
	env ${drop[@]+"${drop[@]}"} FERROFLOW_KAFKA__BOOTSTRAP_SERVERS="$bootstrap" \
		FERROFLOW_HTTP__LISTEN="127.0.0.1:$http_port" "$@" "$binary" >"$log" 2>&1 &
	service_pid=$!
}

stop_service() { # WHAT
	kill -TERM "$service_pid"
	wait "$service_pid" || bench_log "warning: $1 did not exit cleanly"
	service_pid=""
}

bench_log "filling $raw with $records stock ticks"
bench_clean_env \
	FERROFLOW_KAFKA__BOOTSTRAP_SERVERS="$bootstrap" FERROFLOW_HTTP__LISTEN=127.0.0.1:0 \
	FERROFLOW_TOPICS__STOCK_TICKS="$raw" FERROFLOW_GENERATOR__USER_LOGIN__ENABLED=false \
	FERROFLOW_GENERATOR__STOCK_TICKS__RATE=max FERROFLOW_GENERATOR__STOCK_TICKS__COUNT="$records" \
	FERROFLOW_GENERATOR__TICKERS="$tickers" \
	"$generator" >"$logs/fill.log" 2>&1 || bench_die "filling the raw topic failed (see $logs/fill.log)"
bench_log "enriching $raw into $enriched"
start_service "$logs/enrich.log" "$enricher" \
	FERROFLOW_TOPICS__STOCK_TICKS="$raw" FERROFLOW_TOPICS__USER_LOGIN="$empty" \
	FERROFLOW_TOPICS__STOCK_TICKS_ENRICHED="$enriched" FERROFLOW_TOPICS__DEAD_LETTERS="$sink" \
	FERROFLOW_ENRICHER__GROUP_ID="bench-fill-$stamp" FERROFLOW_ENRICHER__INSTANCE_ID="bench-fill-$stamp" \
	FERROFLOW_ENRICHER__BATCH_MAX_RECORDS=50000 FERROFLOW_ENRICHER__BATCH_MAX_WAIT=1s
deadline=$((SECONDS + 900))
until (($(metric "$enriched" produced) >= records)); do
	((SECONDS < deadline)) || bench_die "enriching did not finish within 900 s"
	kill -0 "$service_pid" 2>/dev/null || bench_die "the enricher exited (see $logs/enrich.log)"
	sleep 0.2
done
stop_service enricher

consumer_perf() { # RUN -> records/s (fetch rate, without the group join)
	local line
	KAFKA_TOOL_HEAP=-Xmx512m "$BENCH_KAFKA_SH" tool org.apache.kafka.tools.ConsumerPerformance \
		--bootstrap-server "$bootstrap" --topic "$enriched" --messages "$records" \
		--group "bench-cp-$stamp-$1" >"$logs/consumer-perf-$1.log" 2>&1 ||
		bench_die "ConsumerPerformance failed (see $logs/consumer-perf-$1.log)"
	line=$(grep -E '^[0-9]{4}-' "$logs/consumer-perf-$1.log" | tail -n 1)
	awk -F', *' '{ printf "%.0f\n", $10 }' <<<"$line"
}

aggregate() { # RUN -> records/s
	local run=$1 started="" now consumed group=bench-aggregator-$1-$stamp
	start_service "$logs/aggregator-$run.log" "$aggregator" \
		FERROFLOW_TOPICS__STOCK_TICKS_ENRICHED="$enriched" FERROFLOW_TOPICS__USER_LOGIN_ENRICHED="$empty" \
		FERROFLOW_TOPICS__STOCK_BARS="$sink" FERROFLOW_TOPICS__LOGIN_STATS="$sink" \
		FERROFLOW_TOPICS__LATE_EVENTS="$sink" FERROFLOW_TOPICS__DEAD_LETTERS="$sink" \
		FERROFLOW_AGGREGATOR__GROUP_ID="$group" FERROFLOW_AGGREGATOR__INSTANCE_ID="$group" \
		FERROFLOW_AGGREGATOR__GRPC_LISTEN=127.0.0.1:0 ${settings[@]+"${settings[@]}"}
	local deadline=$((SECONDS + 600))
	while :; do
		((SECONDS < deadline)) || bench_die "the aggregator did not finish within 600 s"
		kill -0 "$service_pid" 2>/dev/null || bench_die "the aggregator exited (see $logs/aggregator-$run.log)"
		consumed=$(metric "$enriched" consumed)
		now=$(date +%s.%N)
		if [[ -z $started ]] && ((consumed > 0)); then started=$now; fi
		((consumed >= records)) && break
		sleep 0.05
	done
	stop_service aggregator
	bench_topic_delete "$bootstrap" "$group-state" "$group-login-partials"
	awk -v n="$records" -v a="$started" -v b="$now" 'BEGIN { printf "%.0f\n", n / (b - a) }'
}

declare -a cp agg
for ((run = 1; run <= runs; run++)); do
	if ((run % 2)); then order=(cp agg); else order=(agg cp); fi
	for side in "${order[@]}"; do
		case $side in
		cp) cp+=("$(consumer_perf "$run")") ;;
		agg) agg+=("$(aggregate "$run")") ;;
		esac
	done
	bench_log "run $run (${order[*]}): ConsumerPerformance ${cp[-1]}/s, aggregator ${agg[-1]}/s"
done
bench_topic_delete "$bootstrap" "$raw" "$enriched" "$empty" "$sink"

m_cp=$(bench_median "${cp[@]}") m_agg=$(bench_median "${agg[@]}")
{
	echo "### Aggregator vs kafka-consumer-perf-test ($(date -u '+%Y-%m-%d %H:%M UTC'))"
	echo
	echo "Command: \`scripts/bench-aggregator.sh --records $records --runs $runs --partitions $partitions\`${settings[*]+ with ${settings[*]}}"
	echo
	bench_machine_md
	echo "- Input: $records protobuf EnrichedStockTick records (generator + enricher, tickers $tickers), one topic with $partitions partitions, replication 1, one broker"
	echo
	echo "| | records/s per run | median | ratio to ConsumerPerformance | target |"
	echo "|---|---|--:|--:|--:|"
	echo "| ConsumerPerformance (fetch rate) | ${cp[*]} | $(bench_fmt_int "$m_cp") | 1.00 | |"
	echo "| aggregator, exactly-once | ${agg[*]} | $(bench_fmt_int "$m_agg") | **$(bench_ratio "$m_agg" "$m_cp")** | ≥ 0.5 |"
} | tee "$out"
bench_log "report written to $out (logs in $logs)"
