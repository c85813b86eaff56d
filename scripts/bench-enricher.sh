#!/usr/bin/env bash
# scripts/bench-enricher.sh: how fast does the enricher process a raw topic, compared
# with Kafka's own consumer benchmark (org.apache.kafka.tools.ConsumerPerformance, the
# class behind kafka-consumer-perf-test.sh) reading the same topic on the same broker?
#
# The raw topic is filled once by the generator (JSON stock ticks padded to 100 bytes).
# Each run then reads all of it three ways, in an order that rotates from run to run:
# ConsumerPerformance (its fetch rate, which leaves out the group join), the enricher in
# exactly-once mode and the enricher in at-least-once mode (each from its first consumed
# record to its last enriched record acknowledged by the broker, read from its /metrics
# every 50 ms). We report the medians and the ratios enricher / ConsumerPerformance
# (targets: >= 0.5 exactly-once, >= 0.8 at-least-once). docs/benchmarks.md has results.
#
# The enricher writes every record it reads, so each run also measures the other half of
# its work alone: Kafka's producer benchmark (org.apache.kafka.tools.ProducerPerformance)
# writing as many records, sampled from the raw topic, with the enricher's producer
# settings (acks=all, idempotence, lz4, linger.ms=5, batch.size=1000000). The ratio
# enricher / ProducerPerformance tells how close the enricher comes to that ceiling.
#
# Usage: scripts/bench-enricher.sh [--records N] [--runs R] [--partitions P]
#                                  [--no-build] [--keep-kafka] [--out FILE]
#                                  [--enricher-setting KEY=VALUE]...  (e.g. batch_max_wait=1s)

set -euo pipefail
BENCH_NAME=bench-enricher
# shellcheck source-path=SCRIPTDIR
source "$(dirname -- "${BASH_SOURCE[0]}")/lib/bench.sh"

records=1000000 runs=3 partitions=3 build=1 keep=0
declare -a settings=()
dir=${FERROFLOW_BENCH_KAFKA_DIR:-$HOME/.cache/ferroflow/bench-kafka} port=29092
out=$BENCH_REPO_ROOT/target/bench/enricher.md
http_port=29180
tickers=STK_ONE,STK_MNO,STK_ABC,STK_TWO,STK_PQR,STK_GHI
while [[ $# -gt 0 ]]; do
	case $1 in
	--records) bench_need_value "$@"; records=$2; shift 2 ;;
	--runs) bench_need_value "$@"; runs=$2; shift 2 ;;
	--partitions) bench_need_value "$@"; partitions=$2; shift 2 ;;
	--no-build) build=0; shift ;;
	--keep-kafka) keep=1; shift ;;
	--out) bench_need_value "$@"; out=$2; shift 2 ;;
	--enricher-setting)
		bench_need_value "$@"
		key=${2%%=*}
		settings+=("FERROFLOW_ENRICHER__${key^^}=${2#*=}")
		shift 2
		;;
	-h | --help) sed -n '2,22p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) bench_die "unknown argument '$1' (see --help)" ;;
	esac
done
bench_need_uint --records "$records"
bench_need_uint --runs "$runs"
bench_need_uint --partitions "$partitions"
command -v curl >/dev/null || bench_die "curl is needed to read the enricher's /metrics"

target=${CARGO_TARGET_DIR:-$BENCH_REPO_ROOT/target}
if ((build)); then
	generator=$(bench_build_release ferroflow-generator generator)
	enricher=$(bench_build_release ferroflow-enricher enricher)
else
	generator=$target/release/generator enricher=$target/release/enricher
	[[ -x $generator && -x $enricher ]] || bench_die "no release binaries in $target (drop --no-build)"
fi

logs=${out%.md}-logs
mkdir -p "$logs" "$(dirname "$out")"
enricher_pid=""
cleanup() {
	[[ -n $enricher_pid ]] && kill "$enricher_pid" 2>/dev/null || true
	((keep)) || bench_kafka_stop "$dir"
}
trap cleanup EXIT
bootstrap=$(bench_kafka_start "$dir" "$port" 1)
bench_log "bootstrap servers: $bootstrap"

stamp=$(date +%s)
raw=bench-raw-$stamp empty=bench-empty-$stamp
bench_topic_create "$bootstrap" "$raw" "$partitions"
bench_topic_create "$bootstrap" "$empty" "$partitions"
bench_log "filling $raw with $records records"
bench_clean_env \
	FERROFLOW_KAFKA__BOOTSTRAP_SERVERS="$bootstrap" FERROFLOW_HTTP__LISTEN=127.0.0.1:0 \
	FERROFLOW_TOPICS__STOCK_TICKS="$raw" FERROFLOW_GENERATOR__USER_LOGIN__ENABLED=false \
	FERROFLOW_GENERATOR__STOCK_TICKS__RATE=max FERROFLOW_GENERATOR__STOCK_TICKS__COUNT="$records" \
	FERROFLOW_GENERATOR__STOCK_TICKS__PAD_TO_BYTES=100 FERROFLOW_GENERATOR__TICKERS="$tickers" \
	"$generator" >"$logs/fill.log" 2>&1 || bench_die "filling the raw topic failed (see $logs/fill.log)"

# ProducerPerformance sends lines of a payload file: 1000 records of the raw topic.
payloads=$logs/payloads.txt
KAFKA_TOOL_HEAP=-Xmx512m "$BENCH_KAFKA_SH" tool org.apache.kafka.tools.consumer.ConsoleConsumer \
	--bootstrap-server "$bootstrap" --topic "$raw" --from-beginning --max-messages 1000 \
	>"$payloads" 2>"$logs/payloads.log" || bench_die "sampling payloads failed (see $logs/payloads.log)"
(($(wc -l <"$payloads") == 1000)) || bench_die "sampled $(wc -l <"$payloads") payloads, expected 1000"

metric() { # TOPIC OUTCOME ; a ferroflow_records_total value from the enricher
	curl -s "http://127.0.0.1:$http_port/metrics" 2>/dev/null |
		awk -v t="topic=\"$1\"" -v o="outcome=\"$2\"" \
			'/^ferroflow_records_total\{/ && index($0, t) && index($0, o) { v = $NF } END { print v + 0 }'
}

consumer_perf() { # RUN -> records/s (fetch rate, without the group join)
	local line
	KAFKA_TOOL_HEAP=-Xmx512m "$BENCH_KAFKA_SH" tool org.apache.kafka.tools.ConsumerPerformance \
		--bootstrap-server "$bootstrap" --topic "$raw" --messages "$records" \
		--group "bench-cp-$stamp-$1" >"$logs/consumer-perf-$1.log" 2>&1 ||
		bench_die "ConsumerPerformance failed (see $logs/consumer-perf-$1.log)"
	line=$(grep -E '^[0-9]{4}-' "$logs/consumer-perf-$1.log" | tail -n 1)
	awk -F', *' '{ printf "%.0f\n", $10 }' <<<"$line"
}

producer_perf() { # RUN -> records/s
	local topic=bench-pp-$1-$stamp line
	bench_topic_create "$bootstrap" "$topic" "$partitions"
	KAFKA_TOOL_HEAP=-Xmx512m "$BENCH_KAFKA_SH" tool org.apache.kafka.tools.ProducerPerformance \
		--topic "$topic" --num-records "$records" --payload-file "$payloads" --throughput -1 \
		--producer-props bootstrap.servers="$bootstrap" acks=all enable.idempotence=true \
		compression.type=lz4 linger.ms=5 batch.size=1000000 \
		>"$logs/producer-perf-$1.log" 2>&1 || bench_die "ProducerPerformance failed (see $logs/producer-perf-$1.log)"
	bench_topic_delete "$bootstrap" "$topic"
	line=$(grep -E '^[0-9]+ records sent' "$logs/producer-perf-$1.log" | tail -n 1)
	awk '{ printf "%.0f\n", $4 }' <<<"$line"
}

enrich() { # RUN GUARANTEE -> records/s
	local run=$1 guarantee=$2 suffix out_topic started="" now consumed produced
	suffix=$guarantee-$run-$stamp out_topic=bench-enriched-$suffix
	bench_topic_create "$bootstrap" "$out_topic" "$partitions"
	# `env` directly (not the bench_clean_env function) so that $! is the enricher
	# itself: a backgrounded function would be a subshell that SIGTERM never passes.
	local -a drop=()
	local v
	for v in $(compgen -e); do [[ $v == FERROFLOW_* ]] && drop+=(-u "$v"); done
	env ${drop[@]+"${drop[@]}"} \
		FERROFLOW_KAFKA__BOOTSTRAP_SERVERS="$bootstrap" FERROFLOW_HTTP__LISTEN="127.0.0.1:$http_port" \
		FERROFLOW_TOPICS__STOCK_TICKS="$raw" FERROFLOW_TOPICS__USER_LOGIN="$empty" \
		FERROFLOW_TOPICS__STOCK_TICKS_ENRICHED="$out_topic" FERROFLOW_TOPICS__USER_LOGIN_ENRICHED="$out_topic" \
		FERROFLOW_TOPICS__DEAD_LETTERS="$out_topic" FERROFLOW_ENRICHER__GUARANTEE="$guarantee" \
		FERROFLOW_ENRICHER__GROUP_ID="bench-enricher-$suffix" FERROFLOW_ENRICHER__INSTANCE_ID="bench-$suffix" \
		${settings[@]+"${settings[@]}"} "$enricher" >"$logs/enricher-$guarantee-$run.log" 2>&1 &
	enricher_pid=$!
	local deadline=$((SECONDS + 600))
	while :; do
		((SECONDS < deadline)) || bench_die "the enricher did not finish within 600 s"
		kill -0 "$enricher_pid" 2>/dev/null || bench_die "the enricher exited (see $logs/enricher-$guarantee-$run.log)"
		consumed=$(metric "$raw" consumed)
		now=$(date +%s.%N)
		if [[ -z $started ]] && ((consumed > 0)); then started=$now; fi
		produced=$(metric "$out_topic" produced)
		((produced >= records)) && break
		sleep 0.05
	done
	kill -TERM "$enricher_pid"
	wait "$enricher_pid" || bench_log "warning: the enricher did not exit cleanly (run $run, $guarantee)"
	enricher_pid=""
	bench_topic_delete "$bootstrap" "$out_topic"
	awk -v n="$records" -v a="$started" -v b="$now" 'BEGIN { printf "%.0f\n", n / (b - a) }'
}

declare -a cp pp eos alo
for ((run = 1; run <= runs; run++)); do
	order=(cp pp eos alo)
	for ((k = 1; k < run; k++)); do order=("${order[@]:1}" "${order[0]}"); done
	for side in "${order[@]}"; do
		case $side in
		cp) cp+=("$(consumer_perf "$run")") ;;
		pp) pp+=("$(producer_perf "$run")") ;;
		eos) eos+=("$(enrich "$run" exactly_once)") ;;
		alo) alo+=("$(enrich "$run" at_least_once)") ;;
		esac
	done
	bench_log "run $run (${order[*]}): ConsumerPerformance ${cp[-1]}/s, ProducerPerformance ${pp[-1]}/s, exactly-once ${eos[-1]}/s, at-least-once ${alo[-1]}/s"
done
bench_topic_delete "$bootstrap" "$raw" "$empty"

m_cp=$(bench_median "${cp[@]}") m_pp=$(bench_median "${pp[@]}") m_eos=$(bench_median "${eos[@]}") m_alo=$(bench_median "${alo[@]}")
{
	echo "### Enricher vs kafka-consumer-perf-test ($(date -u '+%Y-%m-%d %H:%M UTC'))"
	echo
	echo "Command: \`scripts/bench-enricher.sh --records $records --runs $runs --partitions $partitions\`${settings[*]+ with ${settings[*]}}"
	echo
	bench_machine_md
	echo "- Input: $records JSON stock ticks of 100 bytes (generator, tickers $tickers), one topic with $partitions partitions, replication 1, one broker"
	echo
	echo "| | records/s per run | median | ratio to ConsumerPerformance | target | ratio to ProducerPerformance |"
	echo "|---|---|--:|--:|--:|--:|"
	echo "| ConsumerPerformance (fetch rate) | ${cp[*]} | $(bench_fmt_int "$m_cp") | 1.00 | | $(bench_ratio "$m_cp" "$m_pp") |"
	echo "| ProducerPerformance (the enricher's producer settings) | ${pp[*]} | $(bench_fmt_int "$m_pp") | $(bench_ratio "$m_pp" "$m_cp") | | 1.00 |"
	echo "| enricher, exactly-once | ${eos[*]} | $(bench_fmt_int "$m_eos") | **$(bench_ratio "$m_eos" "$m_cp")** | ≥ 0.5 | $(bench_ratio "$m_eos" "$m_pp") |"
	echo "| enricher, at-least-once | ${alo[*]} | $(bench_fmt_int "$m_alo") | **$(bench_ratio "$m_alo" "$m_cp")** | ≥ 0.8 | $(bench_ratio "$m_alo" "$m_pp") |"
} | tee "$out"
bench_log "report written to $out (logs in $logs)"
