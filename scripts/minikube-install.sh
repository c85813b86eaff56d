#!/usr/bin/env bash
# scripts/minikube-install.sh: ferroflow on a local Kubernetes, from nothing to Grafana.
#
# 1. starts minikube (profile "ferroflow"),
# 2. installs the Strimzi operator (runs Kafka) and kube-prometheus-stack (Prometheus,
#    Grafana with its dashboard and datasource sidecars),
# 3. builds the five service images inside minikube,
# 4. installs the `ferroflow` umbrella chart (Kafka, topics, services, PostgreSQL,
#    Kafdrop, dashboards, alerts), waits until everything is ready,
# 5. prints how to reach Grafana and Kafdrop.
#
# Rerunning it upgrades in place. docs/deployment.md explains each step.
#
# Usage: scripts/minikube-install.sh [options] [-- extra helm args]
#   --profile NAME     minikube profile (default ferroflow)
#   --cpus N           minikube CPUs (default 4)
#   --memory MB        minikube memory (default 12288)
#   --namespace NS     namespace of the release (default ferroflow)
#   --skip-start       use the running minikube profile as it is
#   --skip-build       do not rebuild the images
# Environment: STRIMZI_VERSION (default 0.48.0), KPS_VERSION (kube-prometheus-stack
# chart, default 77.0.0), IMAGE_TAG (default dev), HELM (helm binary).
# Needs: minikube, kubectl, helm 3.

set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

profile=ferroflow cpus=4 memory=12288 namespace=ferroflow skip_start=0 skip_build=0
extra=()
while [[ $# -gt 0 ]]; do
	case $1 in
	--profile) profile=$2; shift 2 ;;
	--cpus) cpus=$2; shift 2 ;;
	--memory) memory=$2; shift 2 ;;
	--namespace) namespace=$2; shift 2 ;;
	--skip-start) skip_start=1; shift ;;
	--skip-build) skip_build=1; shift ;;
	--) shift; extra=("$@"); break ;;
	-h | --help) sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "minikube-install: unknown argument '$1' (see --help)" >&2; exit 2 ;;
	esac
done

strimzi_version=${STRIMZI_VERSION:-0.48.0}
kps_version=${KPS_VERSION:-77.0.0}
tag=${IMAGE_TAG:-dev}
helm=${HELM:-$(command -v helm || true)}
[[ -n $helm ]] || helm="$HOME/.cache/ferroflow/tools/helm-v3.18.0/helm"

step() { printf '\n==> %s\n' "$*" >&2; }
die() { printf 'minikube-install: %s\n' "$*" >&2; exit 1; }
need() { command -v "$1" >/dev/null || die "$1 not found: $2"; }

need minikube "https://minikube.sigs.k8s.io/docs/start/"
need kubectl "https://kubernetes.io/docs/tasks/tools/ (or alias kubectl='minikube kubectl --')"
[[ -x $helm ]] || die "helm not found: install helm 3 (https://helm.sh/docs/intro/install/) or run scripts/validate-packaging.sh, which caches one"

kube() { kubectl --context "$profile" "$@"; }
helm_() { "$helm" --kube-context "$profile" "$@"; }

if ((!skip_start)); then
	step "minikube start (profile $profile, $cpus CPUs, $memory MB)"
	# metrics-server feeds the HorizontalPodAutoscalers.
	minikube start --profile "$profile" --cpus "$cpus" --memory "$memory" --addons metrics-server
fi
kube get nodes >/dev/null || die "cannot reach the minikube cluster '$profile'"

step "Strimzi operator $strimzi_version (namespace strimzi)"
helm_ upgrade --install strimzi oci://quay.io/strimzi-helm/strimzi-kafka-operator \
	--version "$strimzi_version" --namespace strimzi --create-namespace \
	--set watchAnyNamespace=true --wait --timeout 10m

step "kube-prometheus-stack $kps_version (namespace monitoring)"
# Prometheus selects every ServiceMonitor, PodMonitor and PrometheusRule (not only its
# own release's), and Grafana's sidecars load dashboards and datasources from every
# namespace: that is how the ferroflow chart's objects are picked up.
helm_ upgrade --install kube-prometheus-stack kube-prometheus-stack \
	--repo https://prometheus-community.github.io/helm-charts --version "$kps_version" \
	--namespace monitoring --create-namespace \
	--set prometheus.prometheusSpec.serviceMonitorSelectorNilUsesHelmValues=false \
	--set prometheus.prometheusSpec.podMonitorSelectorNilUsesHelmValues=false \
	--set prometheus.prometheusSpec.ruleSelectorNilUsesHelmValues=false \
	--set grafana.sidecar.dashboards.searchNamespace=ALL \
	--set grafana.sidecar.dashboards.folderAnnotation=grafana_folder \
	--set grafana.sidecar.dashboards.provider.foldersFromFilesStructure=true \
	--set grafana.sidecar.datasources.searchNamespace=ALL \
	--wait --timeout 10m

if ((!skip_build)); then
	step "building the service images inside minikube (tag $tag)"
	# The first build compiles every dependency (several minutes); the others reuse that
	# layer (the Dockerfiles share their cargo-chef stages).
	for service in generator enricher aggregator sink-csv sink-db; do
		minikube --profile "$profile" image build -t "ferroflow/$service:$tag" \
			-f "services/$service/Dockerfile" \
			--build-opt "build-arg=REVISION=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" .
	done
fi

step "ferroflow chart (namespace $namespace)"
# Dependencies are local charts; build them in a copy so the working tree stays clean.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -R helm "$work/helm"
for service in generator enricher aggregator sink-csv sink-db; do
	"$helm" dependency build "$work/helm/ferroflow/charts/$service" >/dev/null
done
helm_ upgrade --install ferroflow "$work/helm/ferroflow" --namespace "$namespace" --create-namespace \
	--set global.image.tag="$tag" --set global.image.pullPolicy=Never \
	--set kafka.nodePool.storage.size=2Gi --set postgresql.storage.size=1Gi \
	"${extra[@]}"

step "waiting for Kafka (the operator starts three nodes, then the topics)"
kube -n "$namespace" wait kafka/ferroflow --for=condition=Ready --timeout=15m
kube -n "$namespace" wait kafkatopic --all --for=condition=Ready --timeout=5m

step "waiting for PostgreSQL, Kafdrop and the services"
for kind in statefulset deployment; do
	for name in $(kube -n "$namespace" get "$kind" -l app.kubernetes.io/instance=ferroflow -o name); do
		kube -n "$namespace" rollout status "$name" --timeout=10m
	done
done

password=$(kube -n monitoring get secret kube-prometheus-stack-grafana -o jsonpath='{.data.admin-password}' | base64 -d)
cat >&2 <<EOF

ferroflow is running on minikube (profile $profile, namespace $namespace).

Grafana (dashboards "ferroflow / Pipeline", "ferroflow / Kafka", "ferroflow / Data"):
  kubectl --context $profile -n monitoring port-forward svc/kube-prometheus-stack-grafana 3000:80
  open http://localhost:3000   user admin, password $password

Kafdrop (topics, consumer groups, records):
  kubectl --context $profile -n $namespace port-forward svc/ferroflow-kafdrop 9000:9000
  open http://localhost:9000

Prometheus (targets, alerts):
  kubectl --context $profile -n monitoring port-forward svc/kube-prometheus-stack-prometheus 9090:9090

Pods:
  kubectl --context $profile -n $namespace get pods
EOF
