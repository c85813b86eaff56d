#!/usr/bin/env bash
# Creates ferroflow's topics on the compose cluster, or brings existing ones in line
# with the table below (the kafka-init job runs it; rerun it after editing the table:
#   docker compose run --rm kafka-init
# ). It only ever adds partitions (Kafka cannot remove them) and sets topic configs.
#
# The same topics, partitions and configs are declared for Kubernetes in
# helm/ferroflow/values.yaml (`topics:`); scripts/validate-packaging.sh checks that the
# two agree. The reasoning behind the numbers is in docs/deployment.md ("Topics").
set -euo pipefail

bootstrap=${BOOTSTRAP_SERVERS:?BOOTSTRAP_SERVERS must be set}
replication=${TOPIC_REPLICATION_FACTOR:-3}
# KAFKA_BIN: where kafka-topics.sh and kafka-configs.sh are (the apache/kafka image).
bin=${KAFKA_BIN:-/opt/kafka/bin}

# name                  partitions  configs (comma-separated)
topics=$(cat <<'TABLE'
stock-ticks             6           cleanup.policy=delete,retention.ms=604800000
user-login              6           cleanup.policy=delete,retention.ms=604800000
stock-ticks-enriched    6           cleanup.policy=delete,retention.ms=604800000
user-login-enriched     6           cleanup.policy=delete,retention.ms=604800000
stock-bars              3           cleanup.policy=compact,delete,retention.ms=2592000000
login-stats             3           cleanup.policy=compact,delete,retention.ms=2592000000
dead-letters            3           cleanup.policy=delete,retention.ms=2592000000
late-events             3           cleanup.policy=delete,retention.ms=604800000
ferroflow-aggregator-state           6  cleanup.policy=compact,segment.ms=600000,min.cleanable.dirty.ratio=0.1
ferroflow-aggregator-login-partials  1  cleanup.policy=delete,retention.ms=604800000
TABLE
)

# Kafka's tools start a JVM each; the JMX agent the brokers load must not start here.
unset KAFKA_OPTS

existing=$("$bin/kafka-topics.sh" --bootstrap-server "$bootstrap" --list)
while read -r name partitions configs; do
	[[ -n $name ]] || continue
	# Every topic: min.insync.replicas=2, so an acks=all write survives losing one broker.
	configs="min.insync.replicas=2,$configs"
	if grep -qx -- "$name" <<<"$existing"; then
		current=$("$bin/kafka-topics.sh" --bootstrap-server "$bootstrap" --describe --topic "$name" |
			sed -n 's/.*PartitionCount: *\([0-9]*\).*/\1/p' | head -n 1)
		if ((current < partitions)); then
			echo "topic $name: $current -> $partitions partitions"
			"$bin/kafka-topics.sh" --bootstrap-server "$bootstrap" --alter --topic "$name" --partitions "$partitions"
		elif ((current > partitions)); then
			echo "topic $name has $current partitions, more than the $partitions declared; Kafka cannot remove partitions, leaving it" >&2
		fi
		# cleanup.policy holds a comma: kafka-configs takes list values in brackets.
		"$bin/kafka-configs.sh" --bootstrap-server "$bootstrap" --alter --entity-type topics --entity-name "$name" \
			--add-config "$(sed -E 's/cleanup\.policy=compact,delete/cleanup.policy=[compact,delete]/' <<<"$configs")" >/dev/null
		echo "topic $name: up to date"
	else
		args=()
		IFS=, read -r -a kvs <<<"$(sed -E 's/compact,delete/compact+delete/' <<<"$configs")"
		for kv in "${kvs[@]}"; do
			args+=(--config "${kv/compact+delete/compact,delete}")
		done
		"$bin/kafka-topics.sh" --bootstrap-server "$bootstrap" --create --if-not-exists --topic "$name" \
			--partitions "$partitions" --replication-factor "$replication" "${args[@]}"
	fi
done <<<"$topics"
echo "all topics ready"
