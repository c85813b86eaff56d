#!/usr/bin/env bash
# scripts/bench-sink-db.sh: how fast does sink-db land enriched ticks in PostgreSQL,
# compared with a plain COPY of the same rows into the same table by the same database?
#
# An enriched topic is filled once, as in the pipeline: the generator writes raw ticks
# (JSON, padded to 100 bytes, six tickers) and the enricher turns them into protobuf
# EnrichedStockTicks (exactly-once, so the topic holds transaction markers). Each run then
# measures, in an order that alternates from run to run:
#   - sink-db: a fresh database (migrations applied), a fresh consumer group; from its
#     first consumed record to the last row committed, read from its /metrics every 50 ms;
#   - COPY: the rows sink-db wrote, exported once to CSV, copied by psql (\copy … FROM,
#     i.e. COPY FROM STDIN) into an empty table with the same columns, primary key and
#     indexes (CREATE TABLE … (LIKE stock_ticks INCLUDING ALL)) in that same database.
# We report the medians and the ratio sink-db / COPY. docs/benchmarks.md has results.
#
# Usage: scripts/bench-sink-db.sh [--records N] [--runs R] [--partitions P]
#                                 [--no-build] [--keep] [--out FILE]
#                                 [--sink-setting KEY=VALUE]...  (e.g. batch_max_records=20000)

set -euo pipefail
BENCH_NAME=bench-sink-db
# shellcheck source-path=SCRIPTDIR
source "$(dirname -- "${BASH_SOURCE[0]}")/lib/bench.sh"

records=500000 runs=3 partitions=3 build=1 keep=0
declare -a settings=()
cache=$HOME/.cache/ferroflow
kafka_dir=${FERROFLOW_BENCH_KAFKA_DIR:-$cache/bench-sink-db-kafka} kafka_port=29392
pg_dir=${FERROFLOW_BENCH_PG_DIR:-$cache/bench-sink-db-postgres} pg_port=55439
out=$BENCH_REPO_ROOT/target/bench/sink-db.md
http_port=29395 enricher_port=29396
tickers=STK_ONE,STK_MNO,STK_ABC,STK_TWO,STK_PQR,STK_GHI
while [[ $# -gt 0 ]]; do
	case $1 in
	--records) bench_need_value "$@"; records=$2; shift 2 ;;
	--runs) bench_need_value "$@"; runs=$2; shift 2 ;;
	--partitions) bench_need_value "$@"; partitions=$2; shift 2 ;;
	--no-build) build=0; shift ;;
	--keep) keep=1; shift ;;
	--out) bench_need_value "$@"; out=$2; shift 2 ;;
	--sink-setting)
		bench_need_value "$@"
		key=${2%%=*}
		settings+=("FERROFLOW_SINK_DB__${key^^}=${2#*=}")
		shift 2
		;;
	-h | --help) sed -n '2,19p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) bench_die "unknown argument '$1' (see --help)" ;;
	esac
done
bench_need_uint --records "$records"
bench_need_uint --runs "$runs"
bench_need_uint --partitions "$partitions"
command -v curl >/dev/null || bench_die "curl is needed to read sink-db's /metrics"

target=${CARGO_TARGET_DIR:-$BENCH_REPO_ROOT/target}
if ((build)); then
	generator=$(bench_build_release ferroflow-generator generator)
	enricher=$(bench_build_release ferroflow-enricher enricher)
	sinkdb=$(bench_build_release ferroflow-sink-db sink-db)
else
	generator=$target/release/generator enricher=$target/release/enricher sinkdb=$target/release/sink-db
	[[ -x $generator && -x $enricher && -x $sinkdb ]] || bench_die "no release binaries in $target (drop --no-build)"
fi

logs=${out%.md}-logs
mkdir -p "$logs" "$(dirname "$out")"
child_pid=""
cleanup() {
	[[ -n $child_pid ]] && kill "$child_pid" 2>/dev/null || true
	if ((!keep)); then
		bench_kafka_stop "$kafka_dir"
		"$BENCH_SCRIPTS_DIR/postgres.sh" stop --dir "$pg_dir" >&2 || true
	fi
}
trap cleanup EXIT
bootstrap=$(bench_kafka_start "$kafka_dir" "$kafka_port" 1)
"$BENCH_SCRIPTS_DIR/postgres.sh" install
pg_url=$("$BENCH_SCRIPTS_DIR/postgres.sh" start --dir "$pg_dir" --port "$pg_port" | tail -n 1)
pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
psql=${pg_bin:+$pg_bin/}psql
[[ -x $psql ]] || psql=psql
bench_log "Kafka $bootstrap, PostgreSQL $pg_url"
pg_version=$("$psql" "$pg_url" -tAc 'SHOW server_version')

# Runs ENV... BINARY in the background with every other FERROFLOW_* variable removed.
start_service() { # LOG ENV... BINARY
	local log=$1 v
	shift
	local -a drop=()
	for v in $(compgen -e); do [[ $v == FERROFLOW_* ]] && drop+=(-u "$v"); done
	env ${drop[@]+"${drop[@]}"} "$@" >"$log" 2>&1 &
	child_pid=$!
}

metric() { # PORT NAME LABEL ; a metric's value (0 if absent)
	curl -s "http://127.0.0.1:$1/metrics" 2>/dev/null |
		awk -v n="$2" -v l="$3" 'index($0, n "{") == 1 && index($0, l) { v = $NF } END { print v + 0 }'
}

stamp=$(date +%s)
raw=bench-raw-$stamp enriched=bench-enriched-$stamp empty=bench-empty-$stamp
for t in "$raw" "$enriched" "$empty"; do bench_topic_create "$bootstrap" "$t" "$partitions"; done
bench_log "filling $raw with $records ticks"
bench_clean_env \
	FERROFLOW_KAFKA__BOOTSTRAP_SERVERS="$bootstrap" FERROFLOW_HTTP__LISTEN=127.0.0.1:0 \
	FERROFLOW_TOPICS__STOCK_TICKS="$raw" FERROFLOW_GENERATOR__USER_LOGIN__ENABLED=false \
	FERROFLOW_GENERATOR__STOCK_TICKS__RATE=max FERROFLOW_GENERATOR__STOCK_TICKS__COUNT="$records" \
	FERROFLOW_GENERATOR__STOCK_TICKS__PAD_TO_BYTES=100 FERROFLOW_GENERATOR__TICKERS="$tickers" \
	"$generator" >"$logs/fill.log" 2>&1 || bench_die "filling the raw topic failed (see $logs/fill.log)"
bench_log "enriching into $enriched"
start_service "$logs/enricher.log" \
	FERROFLOW_KAFKA__BOOTSTRAP_SERVERS="$bootstrap" FERROFLOW_HTTP__LISTEN="127.0.0.1:$enricher_port" \
	FERROFLOW_TOPICS__STOCK_TICKS="$raw" FERROFLOW_TOPICS__USER_LOGIN="$empty" \
	FERROFLOW_TOPICS__STOCK_TICKS_ENRICHED="$enriched" FERROFLOW_TOPICS__USER_LOGIN_ENRICHED="$empty" \
	FERROFLOW_TOPICS__DEAD_LETTERS="$empty" FERROFLOW_ENRICHER__GROUP_ID="bench-enricher-$stamp" \
	FERROFLOW_ENRICHER__INSTANCE_ID="bench-$stamp" FERROFLOW_ENRICHER__BATCH_MAX_RECORDS=50000 \
	FERROFLOW_ENRICHER__BATCH_MAX_WAIT=1s "$enricher"
deadline=$((SECONDS + 600))
while (($(metric "$enricher_port" ferroflow_records_total "topic=\"$enriched\"") < records)); do
	((SECONDS < deadline)) || bench_die "the enricher did not finish within 600 s"
	kill -0 "$child_pid" 2>/dev/null || bench_die "the enricher exited (see $logs/enricher.log)"
	sleep 0.2
done
kill -TERM "$child_pid"
wait "$child_pid" || true
child_pid=""

sink() { # RUN -> rows/s
	local run=$1 db=bench_$1_$stamp started="" now rows consumed
	"$psql" "$pg_url" -qc "CREATE DATABASE $db" >&2
	local url=${pg_url%/*}/$db
	start_service "$logs/sink-db-$run.log" \
		FERROFLOW_KAFKA__BOOTSTRAP_SERVERS="$bootstrap" FERROFLOW_HTTP__LISTEN="127.0.0.1:$http_port" \
		FERROFLOW_TOPICS__STOCK_TICKS_ENRICHED="$enriched" FERROFLOW_TOPICS__DEAD_LETTERS="$empty" \
		FERROFLOW_SINK_DB__STREAMS=stock_ticks_enriched FERROFLOW_SINK_DB__URL="$url" \
		FERROFLOW_SINK_DB__GROUP_ID="bench-sink-db-$run-$stamp" \
		${settings[@]+"${settings[@]}"} "$sinkdb"
	local deadline=$((SECONDS + 900))
	while :; do
		((SECONDS < deadline)) || bench_die "sink-db did not finish within 900 s"
		kill -0 "$child_pid" 2>/dev/null || bench_die "sink-db exited (see $logs/sink-db-$run.log)"
		consumed=$(metric "$http_port" ferroflow_records_total 'outcome="consumed"')
		now=$(date +%s.%N)
		if [[ -z $started ]] && ((consumed > 0)); then started=$now; fi
		rows=$(metric "$http_port" ferroflow_sink_db_rows_written_total 'table="stock_ticks"')
		((rows >= records)) && break
		sleep 0.05
	done
	kill -TERM "$child_pid"
	wait "$child_pid" || bench_log "warning: sink-db did not exit cleanly (run $run)"
	child_pid=""
	local in_db
	in_db=$("$psql" "$url" -tAc 'SELECT count(*) FROM stock_ticks')
	((in_db == records)) || bench_die "run $run: $in_db rows in the database, expected $records"
	# The rows to COPY: exported once, from the first run's database.
	if [[ ! -s $logs/rows.csv ]]; then
		"$psql" "$url" -qc "\\copy (SELECT * FROM stock_ticks ORDER BY kafka_partition, kafka_offset) TO '$logs/rows.csv' CSV" >&2
	else
		"$psql" "$pg_url" -qc "DROP DATABASE $db" >&2
	fi
	awk -v n="$records" -v a="$started" -v b="$now" 'BEGIN { printf "%.0f\n", n / (b - a) }'
}

copy() { # RUN -> rows/s (needs the CSV and database of the first sink run)
	local run=$1 table=copy_$1 a b n
	local url=${pg_url%/*}/$copy_db
	"$psql" "$url" -qc "CREATE TABLE $table (LIKE stock_ticks INCLUDING ALL)" >&2
	a=$(date +%s.%N)
	"$psql" "$url" -qc "\\copy $table FROM '$logs/rows.csv' CSV" >&2
	b=$(date +%s.%N)
	n=$("$psql" "$url" -tAc "SELECT count(*) FROM $table")
	((n == records)) || bench_die "COPY run $run: $n rows, expected $records"
	"$psql" "$url" -qc "DROP TABLE $table" >&2
	awk -v n="$records" -v a="$a" -v b="$b" 'BEGIN { printf "%.0f\n", n / (b - a) }'
}

declare -a sk cp
# The first run's database keeps its rows: COPY copies them into tables beside them.
copy_db=bench_1_$stamp
rm -f "$logs/rows.csv"
for ((run = 1; run <= runs; run++)); do
	# The first run must be sink-db's: it provides the rows COPY copies.
	if ((run % 2 == 1)); then
		sk+=("$(sink "$run")")
		cp+=("$(copy "$run")")
		order="sink-db, COPY"
	else
		cp+=("$(copy "$run")")
		sk+=("$(sink "$run")")
		order="COPY, sink-db"
	fi
	bench_log "run $run ($order): sink-db ${sk[-1]} rows/s, COPY ${cp[-1]} rows/s"
done
bench_topic_delete "$bootstrap" "$raw" "$enriched" "$empty"

m_sk=$(bench_median "${sk[@]}") m_cp=$(bench_median "${cp[@]}")
{
	echo "### sink-db vs COPY ($(date -u '+%Y-%m-%d %H:%M UTC'))"
	echo
	echo "Command: \`scripts/bench-sink-db.sh --records $records --runs $runs --partitions $partitions\`${settings[*]+ with ${settings[*]}}"
	echo
	bench_machine_md
	echo "- PostgreSQL $pg_version (scripts/postgres.sh, default settings: fsync on, synchronous_commit on); Kafka $(bench_kafka_version), one broker"
	echo "- Input: $records enriched ticks (protobuf, from the enricher; $partitions partitions, with transaction markers), ferroflow $(bench_git_revision)"
	echo
	echo "| | rows/s per run | median | ratio to COPY |"
	echo "|---|---|--:|--:|"
	echo "| COPY (psql \\copy, same rows, same table definition) | ${cp[*]} | $(bench_fmt_int "$m_cp") | 1.00 |"
	echo "| sink-db (Kafka → PostgreSQL, exactly-once) | ${sk[*]} | $(bench_fmt_int "$m_sk") | **$(bench_ratio "$m_sk" "$m_cp")** |"
} | tee "$out"
bench_log "report written to $out (logs in $logs)"
