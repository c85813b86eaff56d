#!/usr/bin/env python3
"""Checks manifests rendered by `helm template` (scripts/validate-packaging.sh runs it).

    check_manifests.py RENDERED.yaml --k8s 1.33.0 --monitoring-out CRS.json \
        [--topics compose/create-topics.sh] [--expect-kafka] [--expect-monitoring]
        [--expect-alerts] [--expect-services a,b]

1. Built-in kinds: validated with kubernetes-validate against the Kubernetes version's
   OpenAPI schemas in strict mode (an unknown field is an error).
2. monitoring.coreos.com kinds (ServiceMonitor, PodMonitor, PrometheusRule): written to
   --monitoring-out for helm/ci/check-monitoring.mjs, which validates them with the
   prometheus-operator schemas of the npm package @kubernetes-models/prometheus-operator.
3. kafka.strimzi.io kinds (Kafka, KafkaNodePool, KafkaTopic): no registry package
   carries Strimzi's CRD schemas, so they are not schema-validated; instead the checks
   below hold them to what the deployment promises (KRaft node pool of 3+ combined
   nodes, PDB, replication 3, min.insync.replicas 2, the topic list of compose).
4. every FERROFLOW_* variable set through a ConfigMap or env names a key documented in
   docs/configuration.md (an unknown key stops a service at start-up);
5. ferroflow's own rules for every service workload: non-root, read-only root file
   system, all capabilities dropped, no privilege escalation, /livez and /readyz probes,
   and a Service, ServiceAccount, PodDisruptionBudget (maxUnavailable 1), ConfigMap and
   NetworkPolicy beside it.
"""
import argparse
import json
import re
import sys

import kubernetes_validate
import yaml

SERVICES = ["generator", "enricher", "aggregator", "sink-csv", "sink-db"]
problems: list[str] = []


def problem(message: str) -> None:
    problems.append(message)


def name_of(doc: dict) -> str:
    return f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"


def check_pod_security(doc: dict) -> None:
    spec = doc["spec"]["template"]["spec"]
    pod = spec.get("securityContext") or {}
    where = name_of(doc)
    if pod.get("runAsNonRoot") is not True:
        problem(f"{where}: pod securityContext.runAsNonRoot is not true")
    if (pod.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
        problem(f"{where}: pod seccompProfile is not RuntimeDefault")
    if spec.get("automountServiceAccountToken") is not False:
        problem(f"{where}: automountServiceAccountToken is not false")
    for container in spec["containers"]:
        ctx = container.get("securityContext") or {}
        cname = f"{where} container {container['name']}"
        if ctx.get("readOnlyRootFilesystem") is not True:
            problem(f"{cname}: root file system is not read-only")
        if ctx.get("allowPrivilegeEscalation") is not False:
            problem(f"{cname}: allowPrivilegeEscalation is not false")
        if "ALL" not in ((ctx.get("capabilities") or {}).get("drop") or []):
            problem(f"{cname}: capabilities are not all dropped")
        if not (container.get("resources") or {}).get("requests"):
            problem(f"{cname}: no resource requests")


def check_service_workload(doc: dict, by_kind: dict) -> None:
    where = name_of(doc)
    name = doc["metadata"]["name"]
    container = doc["spec"]["template"]["spec"]["containers"][0]
    if (container.get("livenessProbe") or {}).get("httpGet", {}).get("path") != "/livez":
        problem(f"{where}: liveness probe is not GET /livez")
    if (container.get("readinessProbe") or {}).get("httpGet", {}).get("path") != "/readyz":
        problem(f"{where}: readiness probe is not GET /readyz")
    for kind in ("Service", "ServiceAccount", "ConfigMap", "NetworkPolicy", "PodDisruptionBudget"):
        if name not in by_kind.get(kind, {}):
            problem(f"{where}: no {kind} {name}")
    pdb = by_kind.get("PodDisruptionBudget", {}).get(name)
    if pdb and pdb["spec"].get("maxUnavailable") != 1:
        problem(f"PodDisruptionBudget/{name}: maxUnavailable is not 1")
    refs = [e["configMapRef"]["name"] for e in container.get("envFrom", []) if "configMapRef" in e]
    if name not in refs:
        problem(f"{where}: does not read its ConfigMap {name}")


def env_key(name: str) -> str | None:
    """`kafka.bootstrap_servers` for FERROFLOW_KAFKA__BOOTSTRAP_SERVERS; None for librdkafka
    pass-through variables and anything else."""
    if not name.startswith("FERROFLOW_") or name.startswith("FERROFLOW_RDKAFKA_"):
        return None
    return ".".join(part.lower() for part in name[len("FERROFLOW_"):].split("__"))


def check_config_keys(by_kind: dict, doc_path: str) -> None:
    """Every FERROFLOW_* variable the chart sets names a documented key: an unknown key
    stops a service at start-up."""
    doc = open(doc_path, encoding="utf-8").read()
    names = set()
    for cm in by_kind.get("ConfigMap", {}).values():
        names |= {(f"ConfigMap/{cm['metadata']['name']}", n) for n in (cm.get("data") or {})}
    for kind in ("Deployment", "StatefulSet"):
        for workload in by_kind.get(kind, {}).values():
            for container in workload["spec"]["template"]["spec"]["containers"]:
                names |= {(name_of(workload), e["name"]) for e in container.get("env", [])}
    for where, name in sorted(names):
        key = env_key(name)
        if key and f"`{key}`" not in doc:
            problem(f"{where}: {name} sets `{key}`, which {doc_path} does not document")


def compose_topics(path: str) -> dict:
    """The topic table of compose/create-topics.sh: name -> (partitions, configs)."""
    text = open(path, encoding="utf-8").read()
    table = re.search(r"<<'TABLE'\n(.*?)\nTABLE", text, re.S)
    if not table:
        problem(f"{path}: no topic table found")
        return {}
    topics = {}
    for line in table.group(1).splitlines():
        if not line.strip():
            continue
        name, partitions, configs = line.split()
        config = {}
        # cleanup.policy=compact,delete holds a comma: split on ",key=" only.
        for item in re.split(r",(?=[a-z.]+=)", configs):
            key, value = item.split("=", 1)
            config[key] = value
        topics[name] = (int(partitions), config)
    return topics


def check_strimzi(by_kind: dict, topics_path: str | None) -> None:
    kafkas = list(by_kind.get("Kafka", {}).values())
    pools = list(by_kind.get("KafkaNodePool", {}).values())
    if len(kafkas) != 1:
        problem(f"expected one Kafka, found {len(kafkas)}")
        return
    kafka = kafkas[0]
    cluster = kafka["metadata"]["name"]
    spec = kafka["spec"]["kafka"]
    if "zookeeper" in kafka["spec"]:
        problem(f"Kafka/{cluster}: has a ZooKeeper section; KRaft only")
    config = spec.get("config", {})
    for key, want in {
        "default.replication.factor": 3,
        "min.insync.replicas": 2,
        "offsets.topic.replication.factor": 3,
        "transaction.state.log.replication.factor": 3,
        "transaction.state.log.min.isr": 2,
        "auto.create.topics.enable": False,
    }.items():
        if config.get(key) != want:
            problem(f"Kafka/{cluster}: config {key} is {config.get(key)!r}, expected {want!r}")
    pdb = spec.get("template", {}).get("podDisruptionBudget", {})
    if pdb.get("maxUnavailable") != 1:
        problem(f"Kafka/{cluster}: template.podDisruptionBudget.maxUnavailable is not 1")
    if spec.get("metricsConfig", {}).get("type") != "jmxPrometheusExporter":
        problem(f"Kafka/{cluster}: no JMX Prometheus exporter metrics config")
    metrics_cm = spec.get("metricsConfig", {}).get("valueFrom", {}).get("configMapKeyRef", {})
    cm = by_kind.get("ConfigMap", {}).get(metrics_cm.get("name"))
    if not cm or metrics_cm.get("key") not in cm.get("data", {}):
        problem(f"Kafka/{cluster}: metrics ConfigMap {metrics_cm} is not rendered")
    if "topicOperator" not in kafka["spec"].get("entityOperator", {}):
        problem(f"Kafka/{cluster}: no topic operator (KafkaTopic resources would be ignored)")
    for pool in pools:
        where = name_of(pool)
        if pool["metadata"].get("labels", {}).get("strimzi.io/cluster") != cluster:
            problem(f"{where}: not labelled strimzi.io/cluster={cluster}")
        if sorted(pool["spec"].get("roles", [])) != ["broker", "controller"]:
            problem(f"{where}: roles are not controller+broker (combined KRaft nodes)")
        if pool["spec"].get("replicas", 0) < 3:
            problem(f"{where}: fewer than 3 nodes")
    if not pools:
        problem("no KafkaNodePool")

    rendered = {}
    for topic in by_kind.get("KafkaTopic", {}).values():
        spec = topic["spec"]
        where = name_of(topic)
        if topic["metadata"].get("labels", {}).get("strimzi.io/cluster") != cluster:
            problem(f"{where}: not labelled strimzi.io/cluster={cluster}")
        if spec.get("replicas") != 3:
            problem(f"{where}: replicas {spec.get('replicas')}, expected 3")
        if spec.get("config", {}).get("min.insync.replicas") != 2:
            problem(f"{where}: min.insync.replicas is not 2")
        config = {k: str(v) for k, v in spec.get("config", {}).items() if k != "min.insync.replicas"}
        rendered[spec.get("topicName")] = (spec.get("partitions"), config)
    if topics_path:
        expected = compose_topics(topics_path)
        if set(expected) != set(rendered):
            problem(
                f"topics differ between {topics_path} and the chart: "
                f"only in compose {sorted(set(expected) - set(rendered))}, "
                f"only in the chart {sorted(set(rendered) - set(expected))}"
            )
        for name in set(expected) & set(rendered):
            if expected[name] != rendered[name]:
                problem(f"topic {name}: compose has {expected[name]}, the chart {rendered[name]}")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("rendered")
    parser.add_argument("--k8s", default="1.33.0")
    parser.add_argument("--monitoring-out", required=True)
    parser.add_argument("--topics")
    parser.add_argument("--expect-kafka", action="store_true")
    parser.add_argument("--expect-monitoring", action="store_true")
    parser.add_argument("--expect-alerts", action="store_true")
    parser.add_argument("--config-doc", default="docs/configuration.md")
    parser.add_argument("--expect-services", default=",".join(SERVICES))
    args = parser.parse_args()

    docs = [d for d in yaml.safe_load_all(open(args.rendered, encoding="utf-8")) if d]
    by_kind: dict[str, dict] = {}
    monitoring = []
    validated = skipped = 0
    for doc in docs:
        by_kind.setdefault(doc["kind"], {})[doc["metadata"]["name"]] = doc
        group = doc["apiVersion"].split("/")[0] if "/" in doc["apiVersion"] else ""
        if group == "monitoring.coreos.com":
            monitoring.append(doc)
        elif group == "kafka.strimzi.io":
            skipped += 1
        else:
            try:
                kubernetes_validate.validate(doc, args.k8s, strict=True)
                validated += 1
            except kubernetes_validate.ValidationError as error:
                problem(f"{name_of(doc)}: {error.message} at {'.'.join(map(str, error.path))}")
            except Exception as error:  # an unknown kind or version
                problem(f"{name_of(doc)}: cannot validate: {error}")
        if doc["kind"] in ("Deployment", "StatefulSet"):
            check_pod_security(doc)

    services = [s for s in args.expect_services.split(",") if s]
    workloads = {**by_kind.get("Deployment", {}), **by_kind.get("StatefulSet", {})}
    for service in services:
        match = [w for w in workloads.values()
                 if w["metadata"].get("labels", {}).get("app.kubernetes.io/name") == service]
        if not match:
            problem(f"no workload for service {service}")
        for workload in match:
            check_service_workload(workload, by_kind)
            if args.expect_monitoring and workload["metadata"]["name"] not in by_kind.get("ServiceMonitor", {}):
                problem(f"{name_of(workload)}: no ServiceMonitor")

    check_config_keys(by_kind, args.config_doc)
    if args.expect_kafka:
        check_strimzi(by_kind, args.topics)
    elif by_kind.get("Kafka"):
        problem("a Kafka is rendered although an external Kafka is configured")
    if args.expect_alerts and not by_kind.get("PrometheusRule"):
        problem("no PrometheusRule")

    json.dump(monitoring, open(args.monitoring_out, "w", encoding="utf-8"))
    for message in problems:
        print(f"  {message}", file=sys.stderr)
    print(
        f"  {len(docs)} objects: {validated} validated strictly against Kubernetes {args.k8s}, "
        f"{len(monitoring)} prometheus-operator objects passed on, {skipped} Strimzi objects "
        f"checked by rule (no schema available)" + (f"; {len(problems)} problem(s)" if problems else "")
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
