#!/usr/bin/env python3
"""Checks that dashboards and alert rules refer only to metrics that really exist.

    python3 observability/check_references.py REPO_ROOT

- Every dashboard is valid JSON with a unique uid, and every panel and query names a
  datasource by one of the uids the deployments provision (`prometheus`,
  `ferroflow-postgres`).
- Every metric in a PromQL expression (dashboard queries, alert rules) is either a
  `ferroflow_*` metric whose name appears as a string in the Rust sources of the runtime
  or a service (histogram series `_bucket`/`_sum`/`_count` count as their histogram), or
  is listed in observability/external-metrics.txt (Kafka JMX and kafka-exporter,
  cAdvisor, Prometheus).

Exit status 1 with one line per problem otherwise.
"""
import json
import pathlib
import re
import sys

import yaml

DATASOURCE_UIDS = {"prometheus", "ferroflow-postgres"}
PROMQL_WORDS = {
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left",
    "group_right", "bool", "offset", "inf", "nan",
}
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def promql_metrics(expr: str) -> set[str]:
    """Metric names in a PromQL expression (label names, functions and keywords excluded)."""
    # Grafana's label_values(metric, label): only the metric is one.
    text = re.sub(r"label_values\(\s*([^,)]+?)\s*,[^)]*\)", r"\1", expr)
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', text)  # string literals
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # range and subquery durations
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    text = re.sub(r"\$\{?\w+\}?", "", text)  # Grafana variables
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        name = match.group(0)
        rest = text[match.end():].lstrip()
        if rest.startswith("("):  # a function or aggregation
            continue
        if name.lower() in PROMQL_WORDS:
            continue
        if re.fullmatch(r"\d+[smhdwy]", name):
            continue
        names.add(name)
    return names


def rust_strings(root: pathlib.Path) -> str:
    sources = list((root / "libs" / "runtime" / "src").rglob("*.rs"))
    for service in (root / "services").iterdir():
        sources += list((service / "src").rglob("*.rs"))
    return "\n".join(path.read_text(encoding="utf-8") for path in sources)


def external_metrics(root: pathlib.Path) -> set[str]:
    listed = set()
    for line in (root / "observability" / "external-metrics.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            listed.add(line)
    return listed


def exported_by_ferroflow(name: str, sources: str) -> bool:
    candidates = [name] + [name[: -len(s)] for s in HISTOGRAM_SUFFIXES if name.endswith(s)]
    return any(f'"{candidate}"' in sources for candidate in candidates)


def main() -> int:
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve()
    problems: list[str] = []
    sources = rust_strings(root)
    external = external_metrics(root)
    expressions: list[tuple[str, str]] = []  # (where, PromQL)

    uids: dict[str, str] = {}
    dashboards = sorted((root / "observability" / "grafana" / "dashboards").glob("*.json"))
    if not dashboards:
        problems.append("no dashboards found in observability/grafana/dashboards")
    for path in dashboards:
        where = path.relative_to(root)
        try:
            board = json.loads(path.read_text())
        except json.JSONDecodeError as error:
            problems.append(f"{where}: not valid JSON: {error}")
            continue
        uid = board.get("uid")
        if not uid or uid in uids:
            problems.append(f"{where}: missing or duplicate uid {uid!r}")
        uids[uid] = str(where)
        panels = board.get("panels", [])
        if not any(p.get("type") != "row" for p in panels):
            problems.append(f"{where}: no panels")
        variables = board.get("templating", {}).get("list", [])
        for item in panels + variables:
            if item.get("type") == "row":
                continue
            title = item.get("title") or item.get("name")
            datasource = item.get("datasource") or {}
            if datasource.get("uid") not in DATASOURCE_UIDS:
                problems.append(f"{where}: '{title}' uses datasource {datasource!r}")
            for target in item.get("targets", []):
                uid = (target.get("datasource") or {}).get("uid")
                if uid not in DATASOURCE_UIDS:
                    problems.append(f"{where}: '{title}' has a query on datasource {uid!r}")
                if "expr" in target:
                    expressions.append((f"{where}: '{title}'", target["expr"]))
                elif "rawSql" not in target:
                    problems.append(f"{where}: '{title}' has a query with neither expr nor rawSql")
            query = item.get("query")
            if isinstance(query, dict) and "query" in query and datasource.get("uid") == "prometheus":
                expressions.append((f"{where}: variable '{title}'", query["query"]))

    rules_path = root / "observability" / "prometheus" / "alerts.yml"
    rules = yaml.safe_load(rules_path.read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            name = rule.get("alert") or rule.get("record")
            expressions.append((f"{rules_path.relative_to(root)}: {name}", rule["expr"]))

    used: set[str] = set()
    for where, expr in expressions:
        for metric in promql_metrics(expr):
            used.add(metric)
            if metric.startswith("ferroflow_"):
                if not exported_by_ferroflow(metric, sources):
                    problems.append(f"{where}: {metric} is not exported by any ferroflow service")
            elif metric not in external:
                problems.append(
                    f"{where}: {metric} is neither a ferroflow metric nor listed in "
                    "observability/external-metrics.txt"
                )

    for problem in problems:
        print(problem, file=sys.stderr)
    print(
        f"{len(dashboards)} dashboards, {len(expressions)} PromQL expressions, "
        f"{len(used)} distinct metrics: "
        + ("all exported" if not problems else f"{len(problems)} problem(s)")
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
