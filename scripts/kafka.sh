#!/usr/bin/env bash
# scripts/kafka.sh: a real Apache Kafka (KRaft, no ZooKeeper) on loopback, for
# ferroflow's integration tests and benchmarks. The broker jars come from Maven
# Central through Maven (no tarball, no Docker), so this works on any machine
# with Java 17+ and Maven. Run `scripts/kafka.sh --help` for usage.
#
# Conventions: informational messages go to stderr; stdout carries only the
# result a caller wants to capture (the bootstrap servers of `start` as the
# last line, tool output), so `BOOTSTRAP=$(scripts/kafka.sh start)` works.

set -euo pipefail

usage() {
	cat <<'EOF'
Usage: scripts/kafka.sh COMMAND [OPTIONS]

Commands:
  install                      Fetch the Kafka jars with Maven into $KAFKA_HOME
                               (no-op when already installed).
  start [--nodes 1|3] [--dir DIR] [--port PORT] [--timeout SECS]
                               Format KRaft storage and start 1 or 3 combined
                               broker+controller nodes on 127.0.0.1; wait until
                               all brokers are registered; print the bootstrap
                               servers as the last stdout line (also in
                               DIR/bootstrap). Broker i listens on PORT+i-1
                               (default 19092), its controller on PORT+100+i-1.
  stop [--dir DIR] [--keep] [--timeout SECS]
                               Stop the nodes (SIGTERM, then SIGKILL after the
                               timeout, default 30 s) and delete DIR, unless
                               --keep (the next start then reuses the data).
  status [--dir DIR]           Show whether the cluster runs; exit 0 running,
                               1 partly running, 3 stopped.
  bootstrap [--dir DIR]        Print the bootstrap servers of the running cluster.
  create-topic NAME [--partitions N] [--replication R] [--config K=V]...
               [--bootstrap B] [--dir DIR]
                               Create a topic if it does not exist yet. Defaults
                               to the broker's defaults (3 partitions,
                               replication min(nodes,3)).
  create-default-topics [--partitions N] [--replication R] [--bootstrap B] [--dir DIR]
                               Create ferroflow's topics.
  kill-node N [--dir DIR]      SIGKILL node N (failure injection for tests).
  start-node N [--dir DIR]     Start node N again with its data after kill-node.
  tool CLASS [ARGS...]         Run a Kafka Java tool, e.g.
                               org.apache.kafka.tools.ProducerPerformance.
  help, --help, -h             This text.

Environment:
  FERROFLOW_KAFKA_DIR   default DIR (default ~/.cache/ferroflow/kafka-run)
  KAFKA_HOME            install location (default ~/.cache/ferroflow/kafka-<version>)
  FERROFLOW_M2_REPO     Maven local repository (default ~/.cache/ferroflow/m2)
  KAFKA_HEAP            broker heap flags (default "-Xmx512m")
  KAFKA_JVM_OPTS        extra broker JVM flags
  KAFKA_TOOL_HEAP       heap flags for `tool` (default "-Xmx512m")
  KAFKA_TOOL_LOG_LEVEL  log level of tools on stderr (default WARN)
  FERROFLOW_KAFKA_NODES default for start --nodes (default 1)
  FERROFLOW_KAFKA_PORT  default for start --port (default 19092)
  KAFKA_START_TIMEOUT   default for start --timeout (default 90)

Examples:
  BOOTSTRAP=$(scripts/kafka.sh start --nodes 3)
  scripts/kafka.sh create-topic t --replication 3
  scripts/kafka.sh tool org.apache.kafka.tools.ProducerPerformance --topic t \
      --num-records 1000 --record-size 100 --throughput -1 \
      --producer-props bootstrap.servers="$BOOTSTRAP" acks=all
  scripts/kafka.sh stop
EOF
}

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
readonly SCRIPT_DIR
readonly KAFKA_POM="$SCRIPT_DIR/kafka/pom.xml"
readonly LOG4J_CONF="$SCRIPT_DIR/kafka/log4j2.properties"
readonly CACHE_ROOT="${FERROFLOW_CACHE_DIR:-${HOME:?HOME must be set}/.cache/ferroflow}"
readonly M2_REPO="${FERROFLOW_M2_REPO:-$CACHE_ROOT/m2}"
readonly DEFAULT_RUN_DIR="${FERROFLOW_KAFKA_DIR:-$CACHE_ROOT/kafka-run}"

# The pom is the single source of truth for the version; KAFKA_HOME is named
# after it so that a version bump installs side by side instead of mixing jars.
KAFKA_VERSION=$(sed -n 's:.*<kafka\.version>\(.*\)</kafka\.version>.*:\1:p' "$KAFKA_POM")
readonly KAFKA_VERSION
[[ -n $KAFKA_VERSION ]] || {
	echo "kafka.sh: cannot read <kafka.version> from $KAFKA_POM" >&2
	exit 1
}
KAFKA_HOME="${KAFKA_HOME:-$CACHE_ROOT/kafka-$KAFKA_VERSION}"

# ferroflow's topics. The aggregate topics (stock-bars, login-stats) are keyed
# by instrument/user and would suit cleanup.policy=compact, but they keep the
# default delete policy for now so that every topic behaves the same in tests.
readonly DEFAULT_TOPICS=(
	stock-ticks user-login
	stock-ticks-enriched user-login-enriched
	stock-bars login-stats
	dead-letters late-events
)

# Marks a DIR as created by this script, so `stop` never deletes a directory
# it does not own (e.g. after a mistyped --dir).
readonly OWNER_MARK=.ferroflow-kafka

log() { printf 'kafka.sh: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

need_cmd() {
	command -v "$1" >/dev/null 2>&1 || die "'$1' not found on PATH${2:+ ($2)}"
}

need_value() { # option value: fail clearly instead of tripping `set -u`
	[[ $# -ge 2 && -n $2 ]] || die "option $1 needs a value"
}

need_uint() { # name value
	[[ $2 =~ ^[0-9]+$ ]] || die "$1 must be a non-negative integer, got '$2'"
}

# Kafka 4.x brokers and tools need Java 17 or newer.
require_java() {
	need_cmd java "install a Java 17+ runtime"
	local ver major
	ver=$(java -version 2>&1 | sed -n 's/.*version "\([^"]*\)".*/\1/p' | head -n 1)
	major=${ver%%.*}
	[[ $major == 1 ]] && major=$(cut -d. -f2 <<<"$ver") # 1.8.0_x style
	[[ $major =~ ^[0-9]+$ ]] || die "cannot parse 'java -version' ($ver)"
	((major >= 17)) || die "Kafka $KAFKA_VERSION needs Java 17+, found $ver"
}

# --------------------------------------------------------------------------
# install
# --------------------------------------------------------------------------

pom_checksum() { sha256sum "$KAFKA_POM" | cut -d' ' -f1; }

is_installed() {
	[[ -f $KAFKA_HOME/.installed && -d $KAFKA_HOME/libs ]] &&
		[[ $(<"$KAFKA_HOME/.installed") == "$(pom_checksum)" ]]
}

# Idempotent: a marker holding the pom's sha256 makes repeat calls cost one
# checksum; any edit of the pom (version bump) triggers a fresh copy.
ensure_installed() {
	is_installed && return 0
	need_cmd mvn "install Maven, e.g. apt-get install maven"
	need_cmd flock
	mkdir -p "$KAFKA_HOME" "$M2_REPO"

	# Two concurrent installs (parallel CI steps) would race on libs/.
	exec 8>"$KAFKA_HOME/.install.lock"
	flock -w 900 8 || die "timed out waiting for another install ($KAFKA_HOME/.install.lock)"
	if is_installed; then
		exec 8>&-
		return 0
	fi

	log "installing Apache Kafka $KAFKA_VERSION into $KAFKA_HOME (Maven repo $M2_REPO)"
	local tmp="$KAFKA_HOME/libs.tmp" mvn_log="$KAFKA_HOME/install.log"
	rm -rf "$tmp"
	# Maven's output goes to a file: 3.8's -q still prints colour escape codes,
	# and a quiet install should print nothing unless it fails.
	if ! mvn -B -q -Dstyle.color=never \
		-Dmaven.repo.local="$M2_REPO" \
		-f "$KAFKA_POM" \
		dependency:copy-dependencies \
		-DincludeScope=runtime \
		-DoutputDirectory="$tmp" >"$mvn_log" 2>&1; then
		rm -rf "$tmp"
		log "mvn failed; its output ($mvn_log):"
		# Strip the colour codes Maven 3.8 emits even in batch mode.
		sed 's/\x1b\[[0-9;]*m//g' "$mvn_log" | grep -E '^\[(ERROR|FATAL)\] .' >&2 ||
			tail -n 40 "$mvn_log" >&2
		exit 1
	fi
	[[ -f $tmp/kafka_2.13-$KAFKA_VERSION.jar && -f $tmp/kafka-tools-$KAFKA_VERSION.jar ]] ||
		die "mvn succeeded but the Kafka jars are missing from $tmp"
	# Marker last: an install interrupted anywhere before never looks complete.
	rm -f "$KAFKA_HOME/.installed"
	rm -rf "$KAFKA_HOME/libs"
	mv "$tmp" "$KAFKA_HOME/libs"
	pom_checksum >"$KAFKA_HOME/.installed"
	exec 8>&-
	log "installed $(find "$KAFKA_HOME/libs" -name '*.jar' | wc -l) jars"
}

cmd_install() {
	[[ $# -eq 0 ]] || die "install takes no arguments"
	if is_installed; then
		log "Apache Kafka $KAFKA_VERSION already installed in $KAFKA_HOME"
		return 0
	fi
	require_java
	ensure_installed
}

# --------------------------------------------------------------------------
# Running Java
# --------------------------------------------------------------------------

# JVM flags for the short admin commands this script runs itself (format,
# readiness probe, topic creation): start-up time dominates, so use the
# client compiler and the serial collector.
readonly QUICK_JVM=(-Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Djava.awt.headless=true)

tool_logging() { # level
	printf '%s\n' "-Dlog4j2.configurationFile=$LOG4J_CONF" \
		-Dferroflow.log.appender=STDERR "-Dferroflow.log.level=$1"
}

# Bounded by QUICK_TIMEOUT seconds (default 120) so a wedged admin client
# cannot hang the script. --foreground keeps java in our process group, so
# Ctrl-C still reaches it.
java_quick() { # CLASS ARGS... ; for the script's own admin calls
	local -a logging
	mapfile -t logging < <(tool_logging WARN)
	timeout --foreground -k 5 "${QUICK_TIMEOUT:-120}" \
		java "${QUICK_JVM[@]}" "${logging[@]}" -cp "$KAFKA_HOME/libs/*" "$@"
}

cmd_tool() {
	[[ $# -ge 1 ]] || die "usage: kafka.sh tool CLASS [ARGS...]"
	ensure_installed
	require_java
	local -a heap logging
	read -r -a heap <<<"${KAFKA_TOOL_HEAP:--Xmx512m}"
	mapfile -t logging < <(tool_logging "${KAFKA_TOOL_LOG_LEVEL:-WARN}")
	exec java "${heap[@]}" -Djava.awt.headless=true "${logging[@]}" \
		-cp "$KAFKA_HOME/libs/*" "$@"
}

# --------------------------------------------------------------------------
# Cluster state
# --------------------------------------------------------------------------

# Absolute path, so generated configs and pid checks do not depend on the
# caller's working directory.
abs_dir() {
	local d=$1
	[[ $d == /* ]] || d="$PWD/$d"
	# Normalise without requiring existence (stop/status on a missing DIR).
	if [[ -d $d ]]; then (cd -- "$d" && pwd -P); else printf '%s\n' "${d%/}"; fi
}

node_dir() { printf '%s/node-%s\n' "$1" "$2"; }

# pid of node $2 in DIR $1 if that process is alive and really is this
# node's broker (guards against a recycled pid after a reboot or crash).
node_pid() {
	local nd pid cmdline
	nd=$(node_dir "$1" "$2")
	[[ -f $nd/kafka.pid ]] || return 1
	pid=$(<"$nd/kafka.pid")
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	kill -0 "$pid" 2>/dev/null || return 1
	cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
	[[ $cmdline == *kafka.Kafka*"$nd/server.properties"* ]] || return 1
	printf '%s\n' "$pid"
}

node_count() { # DIR -> nodes of the cluster last started there (0 if none)
	if [[ -f $1/nodes ]]; then cat "$1/nodes"; else echo 0; fi
}

# Prints running | partial | stopped.
cluster_state() {
	local dir=$1 n alive=0 i
	n=$(node_count "$dir")
	for ((i = 1; i <= n; i++)); do
		node_pid "$dir" "$i" >/dev/null && alive=$((alive + 1))
	done
	if ((n > 0 && alive == n)); then
		echo running
	elif ((alive > 0)); then
		echo partial
	else
		echo stopped
	fi
}

# Serialises start/stop on one DIR. fd 9 must not leak into the brokers
# (they would hold the lock for their whole life): launches close it.
lock_dir() {
	mkdir -p "$1"
	exec 9>"$1/.lock"
	flock -w 120 9 || die "another kafka.sh is working on $1"
}

port_open() { # PORT: true if something accepts TCP connections on it
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

print_failure_logs() { # DIR NODES
	local i nd f
	for ((i = 1; i <= $2; i++)); do
		nd=$(node_dir "$1" "$i")
		for f in "$nd/format.log" "$nd/stdout.log" "$nd/server.log"; do
			[[ -s $f ]] || continue
			printf '\n----- tail of %s -----\n' "$f" >&2
			tail -n 40 "$f" >&2
		done
	done
}

# SIGTERM every node of DIR, wait up to TIMEOUT s, then SIGKILL stragglers.
stop_nodes() { # DIR TIMEOUT
	local dir=$1 timeout=$2 pf pid deadline
	local -a pids=() left=()
	for pf in "$dir"/node-*/kafka.pid; do
		[[ -f $pf ]] || continue
		local nd=${pf%/kafka.pid}
		pid=$(node_pid "$dir" "${nd##*/node-}") || continue
		pids+=("$pid")
	done
	((${#pids[@]} > 0)) || return 0
	log "stopping ${#pids[@]} node(s): ${pids[*]}"
	kill -TERM "${pids[@]}" 2>/dev/null || true
	deadline=$((SECONDS + timeout))
	while ((SECONDS < deadline)); do
		left=()
		for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && left+=("$pid"); done
		((${#left[@]} == 0)) && return 0
		sleep 0.2
	done
	log "still running after ${timeout}s, sending SIGKILL to: ${left[*]}"
	kill -KILL "${left[@]}" 2>/dev/null || true
	# SIGKILL is asynchronous; give the kernel a moment to reap before the
	# caller deletes the data directories under the processes.
	for _ in $(seq 50); do
		local any=0
		for pid in "${left[@]}"; do kill -0 "$pid" 2>/dev/null && any=1; done
		((any == 0)) && return 0
		sleep 0.1
	done
}

# --------------------------------------------------------------------------
# start
# --------------------------------------------------------------------------

# A KRaft cluster id is 16 random bytes in unpadded base64url (Kafka's Uuid).
# Generated here to save a JVM start; like Uuid.randomUuid(), avoid a
# leading '-', which command-line parsers would take for an option.
new_cluster_id() {
	local id
	while :; do
		id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
		[[ $id != -* ]] && break
	done
	printf '%s\n' "$id"
}

write_node_config() { # DIR NODE NODES BROKER_PORT CONTROLLER_PORT VOTERS
	local dir=$1 i=$2 n=$3 bport=$4 cport=$5 voters=$6
	local nd rf isr
	nd=$(node_dir "$dir" "$i")
	rf=$((n < 3 ? n : 3))
	isr=$((rf > 1 ? 2 : 1))
	cat >"$nd/server.properties" <<EOF
# Generated by scripts/kafka.sh on every start; edits are lost.
# Combined broker+controller node $i of $n (KRaft, static controller quorum).
process.roles=broker,controller
node.id=$i
controller.quorum.voters=$voters
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
# Loopback only: nothing here is meant to be reachable from other hosts.
listeners=PLAINTEXT://127.0.0.1:$bport,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$bport,CONTROLLER://127.0.0.1:$cport
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$nd/data

# Topics are created explicitly (create-topic / create-default-topics), so a
# typo in a topic name fails instead of silently creating a new topic.
auto.create.topics.enable=false
num.partitions=3
default.replication.factor=$rf
# With acks=all a write is acknowledged once min.insync.replicas replicas have it:
# 2 of 3 survives the loss of any one broker without losing an acknowledged record.
min.insync.replicas=$isr

# Internal topics: replication cannot exceed the node count; min ISR 2 of 3
# keeps transactions honest on the 3-node cluster.
offsets.topic.replication.factor=$rf
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$isr
share.coordinator.state.topic.replication.factor=$rf
share.coordinator.state.topic.min.isr=$isr
# Fewer internal partitions than the default 50: creating __consumer_offsets
# on first use is then quick on a 2-core machine.
offsets.topic.num.partitions=10
transaction.state.log.num.partitions=10

# Consumer groups start consuming at once instead of waiting 3 s for more
# members to join, which keeps tests fast.
group.initial.rebalance.delay.ms=0

# Modest thread pools for a small machine.
num.network.threads=2
num.io.threads=4
EOF
}

format_nodes() { # DIR NODES CLUSTER_ID ; formats all nodes in parallel
	local dir=$1 n=$2 cid=$3 i nd failed=0
	local -a pids=()
	for ((i = 1; i <= n; i++)); do
		nd=$(node_dir "$dir" "$i")
		java_quick kafka.tools.StorageTool format \
			--cluster-id "$cid" --config "$nd/server.properties" \
			>"$nd/format.log" 2>&1 9>&- &
		pids+=($!)
	done
	for ((i = 1; i <= n; i++)); do
		wait "${pids[i - 1]}" || {
			log "formatting node $i failed: $(tail -n 5 "$(node_dir "$dir" "$i")/format.log")"
			failed=1
		}
	done
	return "$failed"
}

launch_node() { # DIR NODE
	local nd
	nd=$(node_dir "$1" "$2")
	local -a heap extra
	read -r -a heap <<<"${KAFKA_HEAP:--Xmx512m}"
	read -r -a extra <<<"${KAFKA_JVM_OPTS:-}"
	rm -f "$nd/kafka.pid"
	# setsid: the broker gets its own session, so a Ctrl-C aimed at a later
	# foreground command (cargo test...) does not take it down. The wrapper
	# writes its own pid and then execs java, so the pid file names the JVM.
	# All fds are redirected so `$(kafka.sh start)` is not held open by the
	# brokers, and the DIR lock (fd 9) is not inherited.
	(
		cd -- "$nd"
		# shellcheck disable=SC2016 # $$ and $@ belong to the inner bash
		exec setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' kafka-node \
			"$nd/kafka.pid" \
			java "${heap[@]}" "${extra[@]}" \
			-XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true \
			"-Dlog4j2.configurationFile=$LOG4J_CONF" \
			-Dferroflow.log.appender=FILE -Dferroflow.log.level=INFO \
			"-Dkafka.logs.dir=$nd" \
			-cp "$KAFKA_HOME/libs/*" kafka.Kafka "$nd/server.properties" \
			</dev/null >"$nd/stdout.log" 2>&1 9>&-
	) &
}

# True once every node is registered as an (unfenced) broker. The metadata
# response lists only alive brokers, and BrokerApiVersionsCommand prints one
# "host:port (id: N ...) -> (" line per broker in it.
brokers_registered() { # BOOTSTRAP NODES
	local out count
	out=$(QUICK_TIMEOUT=30 java_quick org.apache.kafka.tools.BrokerApiVersionsCommand \
		--bootstrap-server "$1" 2>/dev/null 9>&-) || return 1
	count=$(grep -c ' (id: [0-9]* .*) -> (' <<<"$out" || true)
	((count >= $2))
}

wait_ready() { # DIR NODES BOOTSTRAP TIMEOUT BASE_PORT
	local dir=$1 n=$2 bootstrap=$3 timeout=$4 base=$5 i deadline ports_up pid
	deadline=$((SECONDS + timeout))
	while ((SECONDS < deadline)); do
		ports_up=1
		for ((i = 1; i <= n; i++)); do
			if ! node_pid "$dir" "$i" >/dev/null; then
				# The pid file is written a moment after the fork: only a
				# pid file naming a dead process means the node died.
				pid=$(cat "$(node_dir "$dir" "$i")/kafka.pid" 2>/dev/null || true)
				if [[ $pid =~ ^[0-9]+$ ]] && ! kill -0 "$pid" 2>/dev/null; then
					log "node $i exited during start-up"
					return 1
				fi
				ports_up=0
				continue
			fi
			port_open $((base + i - 1)) || ports_up=0
		done
		# Cheap TCP polls first; the JVM-based probe only once all listen.
		if ((ports_up)) && brokers_registered "$bootstrap" "$n"; then
			return 0
		fi
		sleep 0.5
	done
	log "timed out after ${timeout}s waiting for $n broker(s) at $bootstrap"
	return 1
}

cmd_start() {
	local nodes=${FERROFLOW_KAFKA_NODES:-1} dir=$DEFAULT_RUN_DIR
	local port=${FERROFLOW_KAFKA_PORT:-19092} timeout=${KAFKA_START_TIMEOUT:-90}
	while [[ $# -gt 0 ]]; do
		case $1 in
		--nodes) need_value "$@"; nodes=$2; shift 2 ;;
		--dir) need_value "$@"; dir=$2; shift 2 ;;
		--port) need_value "$@"; port=$2; shift 2 ;;
		--timeout) need_value "$@"; timeout=$2; shift 2 ;;
		*) die "start: unknown argument '$1' (see --help)" ;;
		esac
	done
	[[ $nodes == 1 || $nodes == 3 ]] || die "--nodes must be 1 or 3, got '$nodes'"
	need_uint --port "$port"
	need_uint --timeout "$timeout"
	local cport=$((port + 100))
	((port >= 1024 && cport + nodes <= 65536)) || die "--port $port out of range"
	require_java
	ensure_installed
	need_cmd setsid
	need_cmd flock

	# Create before resolving, so the path baked into the configs (and
	# matched against /proc/PID/cmdline later) is the canonical one.
	mkdir -p "$dir"
	dir=$(abs_dir "$dir")
	lock_dir "$dir"

	local state
	state=$(cluster_state "$dir")
	if [[ $state == running ]]; then
		local running_n
		running_n=$(node_count "$dir")
		log "already running in $dir ($running_n node(s))"
		[[ $running_n == "$nodes" ]] ||
			log "warning: --nodes $nodes requested, but the running cluster has $running_n; stop it first to change"
		cat "$dir/bootstrap"
		return 0
	fi
	[[ $state == stopped ]] ||
		die "the cluster in $dir is only partly running (see 'kafka.sh status --dir $dir'); run 'kafka.sh stop --dir $dir' first"

	# Data kept by `stop --keep` is reused; anything else left behind (a
	# crashed run) is discarded so that every start is a fresh cluster.
	local reuse=0 i nd
	if [[ -f $dir/kept && -f $dir/cluster.id ]]; then
		[[ $(node_count "$dir") == "$nodes" ]] ||
			die "$dir holds data of a $(node_count "$dir")-node cluster (kept by stop --keep); run 'kafka.sh stop --dir $dir' to discard it, or use another --dir"
		reuse=1
		for ((i = 1; i <= nodes; i++)); do
			[[ -f $(node_dir "$dir" "$i")/data/meta.properties ]] || reuse=0
		done
	fi
	if ((!reuse)); then
		[[ -e $dir/cluster.id || -n $(compgen -G "$dir/node-*") ]] &&
			log "discarding stale data in $dir"
		rm -rf "${dir:?}"/node-* "${dir:?}/cluster.id" "${dir:?}/bootstrap" "${dir:?}/kept"
	fi
	touch "$dir/$OWNER_MARK"

	# Fail fast with a clear message instead of a BindException in a log.
	local p
	for ((i = 0; i < nodes; i++)); do
		for p in $((port + i)) $((cport + i)); do
			port_open "$p" && die "port $p on 127.0.0.1 is already in use (another Kafka? try 'ss -ltnp'); pick another --port"
		done
	done

	local voters="" bootstrap=""
	for ((i = 1; i <= nodes; i++)); do
		voters+="${voters:+,}$i@127.0.0.1:$((cport + i - 1))"
		bootstrap+="${bootstrap:+,}127.0.0.1:$((port + i - 1))"
	done
	echo "$nodes" >"$dir/nodes"
	for ((i = 1; i <= nodes; i++)); do
		nd=$(node_dir "$dir" "$i")
		mkdir -p "$nd/data"
		write_node_config "$dir" "$i" "$nodes" $((port + i - 1)) $((cport + i - 1)) "$voters"
	done

	if ((reuse)); then
		log "reusing kept data in $dir (cluster id $(<"$dir/cluster.id"))"
	else
		local cid
		cid=$(new_cluster_id)
		echo "$cid" >"$dir/cluster.id"
		if ! format_nodes "$dir" "$nodes" "$cid"; then
			print_failure_logs "$dir" "$nodes"
			die "formatting KRaft storage failed"
		fi
	fi

	log "starting $nodes node(s) of Apache Kafka $KAFKA_VERSION in $dir"
	# The brokers run in their own session, so an interrupted start would
	# leave them behind: take them down with us.
	# shellcheck disable=SC2064 # expand $dir now
	trap "stop_nodes $(printf '%q' "$dir") 10; exit 130" INT TERM
	for ((i = 1; i <= nodes; i++)); do
		launch_node "$dir" "$i"
	done

	if ! wait_ready "$dir" "$nodes" "$bootstrap" "$timeout" "$port"; then
		print_failure_logs "$dir" "$nodes"
		stop_nodes "$dir" 10
		die "Kafka did not start; logs are kept in $dir"
	fi
	trap - INT TERM
	rm -f "$dir/kept"
	echo "$bootstrap" >"$dir/bootstrap"
	log "ready after ${SECONDS}s; logs: $dir/node-*/server.log"
	echo "$bootstrap"
}

# --------------------------------------------------------------------------
# stop / status / bootstrap
# --------------------------------------------------------------------------

cmd_stop() {
	local dir=$DEFAULT_RUN_DIR keep=0 timeout=30
	while [[ $# -gt 0 ]]; do
		case $1 in
		--dir) need_value "$@"; dir=$2; shift 2 ;;
		--keep) keep=1; shift ;;
		--timeout) need_value "$@"; timeout=$2; shift 2 ;;
		*) die "stop: unknown argument '$1' (see --help)" ;;
		esac
	done
	need_uint --timeout "$timeout"
	dir=$(abs_dir "$dir")
	if [[ ! -d $dir ]]; then
		log "not running (no $dir)"
		return 0
	fi
	[[ -f $dir/$OWNER_MARK ]] || die "$dir was not created by kafka.sh; refusing to touch it"
	lock_dir "$dir"

	if [[ $(cluster_state "$dir") == stopped ]]; then
		log "not running"
	else
		stop_nodes "$dir" "$timeout"
	fi
	if ((keep)); then
		touch "$dir/kept"
		log "data kept in $dir"
	else
		# Delete only what start creates; then the directory if now empty.
		rm -rf "${dir:?}"/node-* "${dir:?}/cluster.id" "${dir:?}/bootstrap" \
			"${dir:?}/nodes" "${dir:?}/kept" "${dir:?}/$OWNER_MARK" "${dir:?}/.lock"
		rmdir "$dir" 2>/dev/null || true
		log "stopped; removed data in $dir"
	fi
}

cmd_status() {
	local dir=$DEFAULT_RUN_DIR
	while [[ $# -gt 0 ]]; do
		case $1 in
		--dir) need_value "$@"; dir=$2; shift 2 ;;
		*) die "status: unknown argument '$1' (see --help)" ;;
		esac
	done
	dir=$(abs_dir "$dir")
	local state n i pid
	state=$(cluster_state "$dir")
	n=$(node_count "$dir")
	echo "kafka $KAFKA_VERSION: $state ($dir)"
	for ((i = 1; i <= n; i++)); do
		if pid=$(node_pid "$dir" "$i"); then
			echo "  node $i: running, pid $pid, log $(node_dir "$dir" "$i")/server.log"
		else
			echo "  node $i: not running"
		fi
	done
	case $state in
	running)
		# No bootstrap file: a start was interrupted before the brokers
		# answered; they may still be coming up.
		echo "bootstrap: $(cat "$dir/bootstrap" 2>/dev/null || echo '(unknown: start did not finish)')"
		return 0
		;;
	partial) return 1 ;;
	*) return 3 ;;
	esac
}

cmd_bootstrap() {
	local dir=$DEFAULT_RUN_DIR
	while [[ $# -gt 0 ]]; do
		case $1 in
		--dir) need_value "$@"; dir=$2; shift 2 ;;
		*) die "bootstrap: unknown argument '$1' (see --help)" ;;
		esac
	done
	dir=$(abs_dir "$dir")
	[[ $(cluster_state "$dir") == running && -s $dir/bootstrap ]] ||
		die "no running cluster in $dir (run 'kafka.sh start')"
	cat "$dir/bootstrap"
}

# Failure injection for tests: take one node down hard and bring it back with its
# data, as a crashed and restarted broker would be.
cmd_kill_node() {
	local dir=$DEFAULT_RUN_DIR node=""
	while [[ $# -gt 0 ]]; do
		case $1 in
		--dir) need_value "$@"; dir=$2; shift 2 ;;
		*) [[ -z $node ]] || die "kill-node: one node number"; node=$1; shift ;;
		esac
	done
	need_uint node "$node"
	dir=$(abs_dir "$dir")
	local pid
	pid=$(node_pid "$dir" "$node") || die "node $node is not running in $dir"
	kill -KILL "$pid"
	local deadline=$((SECONDS + 30))
	while kill -0 "$pid" 2>/dev/null; do
		((SECONDS < deadline)) || die "node $node (pid $pid) survived SIGKILL"
		sleep 0.1
	done
	log "node $node killed (SIGKILL)"
}

cmd_start_node() {
	local dir=$DEFAULT_RUN_DIR node="" timeout=${KAFKA_START_TIMEOUT:-90}
	while [[ $# -gt 0 ]]; do
		case $1 in
		--dir) need_value "$@"; dir=$2; shift 2 ;;
		--timeout) need_value "$@"; timeout=$2; shift 2 ;;
		*) [[ -z $node ]] || die "start-node: one node number"; node=$1; shift ;;
		esac
	done
	need_uint node "$node"
	dir=$(abs_dir "$dir")
	[[ -f $(node_dir "$dir" "$node")/server.properties ]] || die "no node $node in $dir"
	node_pid "$dir" "$node" >/dev/null && die "node $node is already running"
	require_java
	ensure_installed
	launch_node "$dir" "$node"
	local port
	port=$(sed -n 's/^listeners=PLAINTEXT:\/\/127.0.0.1:\([0-9]*\),.*/\1/p' "$(node_dir "$dir" "$node")/server.properties")
	local deadline=$((SECONDS + timeout))
	until port_open "$port"; do
		((SECONDS < deadline)) || die "node $node did not open port $port within ${timeout}s"
		sleep 0.2
	done
	log "node $node started again on port $port"
}

# --------------------------------------------------------------------------
# topics
# --------------------------------------------------------------------------

# --bootstrap wins; otherwise the running cluster of --dir.
resolve_bootstrap() { # BOOTSTRAP DIR
	if [[ -n $1 ]]; then
		printf '%s\n' "$1"
	else
		cmd_bootstrap --dir "$2"
	fi
}

create_topic() { # BOOTSTRAP NAME PARTITIONS REPLICATION CONFIGS...
	local bootstrap=$1 name=$2 partitions=$3 replication=$4
	shift 4
	local -a args=(--bootstrap-server "$bootstrap" --create --if-not-exists --topic "$name")
	# Unset values fall back to the broker's num.partitions and
	# default.replication.factor, which start sets for the cluster size.
	[[ -n $partitions ]] && args+=(--partitions "$partitions")
	[[ -n $replication ]] && args+=(--replication-factor "$replication")
	local c
	for c in "$@"; do args+=(--config "$c"); done
	java_quick org.apache.kafka.tools.TopicCommand "${args[@]}"
}

cmd_create_topic() {
	local name="" partitions="" replication="" bootstrap="" dir=$DEFAULT_RUN_DIR
	local -a configs=()
	while [[ $# -gt 0 ]]; do
		case $1 in
		--partitions) need_value "$@"; need_uint --partitions "$2"; partitions=$2; shift 2 ;;
		--replication | --replication-factor) need_value "$@"; need_uint --replication "$2"; replication=$2; shift 2 ;;
		--config) need_value "$@"; [[ $2 == *=* ]] || die "--config wants KEY=VALUE, got '$2'"; configs+=("$2"); shift 2 ;;
		--bootstrap | --bootstrap-server) need_value "$@"; bootstrap=$2; shift 2 ;;
		--dir) need_value "$@"; dir=$2; shift 2 ;;
		-*) die "create-topic: unknown option '$1' (see --help)" ;;
		*)
			[[ -z $name ]] || die "create-topic takes one topic name ('$name', '$1')"
			name=$1
			shift
			;;
		esac
	done
	[[ -n $name ]] || die "usage: kafka.sh create-topic NAME [--partitions N] [--replication R] [--config K=V]..."
	require_java
	ensure_installed
	bootstrap=$(resolve_bootstrap "$bootstrap" "$(abs_dir "$dir")")
	create_topic "$bootstrap" "$name" "$partitions" "$replication" ${configs[@]+"${configs[@]}"}
}

cmd_create_default_topics() {
	local partitions="" replication="" bootstrap="" dir=$DEFAULT_RUN_DIR
	while [[ $# -gt 0 ]]; do
		case $1 in
		--partitions) need_value "$@"; need_uint --partitions "$2"; partitions=$2; shift 2 ;;
		--replication | --replication-factor) need_value "$@"; need_uint --replication "$2"; replication=$2; shift 2 ;;
		--bootstrap | --bootstrap-server) need_value "$@"; bootstrap=$2; shift 2 ;;
		--dir) need_value "$@"; dir=$2; shift 2 ;;
		*) die "create-default-topics: unknown argument '$1' (see --help)" ;;
		esac
	done
	require_java
	ensure_installed
	bootstrap=$(resolve_bootstrap "$bootstrap" "$(abs_dir "$dir")")

	# One JVM per topic; JVM start-up dominates, so run them in parallel
	# (each is mostly waiting) and report every failure, not just the first.
	local t failed=0 tmp
	tmp=$(mktemp -d)
	local -a pids=()
	for t in "${DEFAULT_TOPICS[@]}"; do
		create_topic "$bootstrap" "$t" "$partitions" "$replication" >"$tmp/$t.log" 2>&1 &
		pids+=($!)
	done
	local i
	for i in "${!DEFAULT_TOPICS[@]}"; do
		t=${DEFAULT_TOPICS[i]}
		if wait "${pids[i]}"; then
			cat "$tmp/$t.log"
		else
			log "creating topic $t failed:"
			cat "$tmp/$t.log" >&2
			failed=1
		fi
	done
	rm -rf "$tmp"
	((failed == 0)) || die "some topics could not be created"
	log "topics ready: ${DEFAULT_TOPICS[*]}"
}

# --------------------------------------------------------------------------

main() {
	[[ $# -ge 1 ]] || {
		usage >&2
		exit 2
	}
	local cmd=$1
	shift
	case $cmd in
	install) cmd_install "$@" ;;
	start) cmd_start "$@" ;;
	stop) cmd_stop "$@" ;;
	status) cmd_status "$@" ;;
	bootstrap) cmd_bootstrap "$@" ;;
	create-topic) cmd_create_topic "$@" ;;
	create-default-topics) cmd_create_default_topics "$@" ;;
	tool) cmd_tool "$@" ;;
	kill-node) cmd_kill_node "$@" ;;
	start-node) cmd_start_node "$@" ;;
	help | --help | -h) usage ;;
	*)
		log "unknown command '$cmd'"
		usage >&2
		exit 2
		;;
	esac
}

main "$@"
