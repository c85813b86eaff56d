#!/usr/bin/env python3
"""Runs every SQL query of the Grafana dashboards against a real PostgreSQL that holds
sink-db's schema, as the read-only role the Grafana datasource uses, with Grafana's
macros expanded ($__timeFilter, $__timeGroupAlias, dashboard variables).

    check_dashboard_sql.py DASHBOARD_DIR DATABASE_URL

scripts/validate-packaging.sh creates the database with scripts/postgres.sh, applies
services/sink-db/migrations/postgres/*.sql and observability/postgres/10-grafana-reader.sh
first. A query that PostgreSQL rejects (a renamed column, a missing grant) fails here
instead of on a dashboard.
"""
import json
import pathlib
import re
import subprocess
import sys

VARIABLES = {"ticker": "STK_ONE"}


def expand(query: str) -> str:
    query = re.sub(r"\$__timeFilter\((\w+)\)", r"\1 BETWEEN now() - interval '1 hour' AND now()", query)
    query = re.sub(r"\$__timeGroupAlias\((\w+),\s*'(\d+)m'\)", r"date_bin(interval '\2 minutes', \1, timestamptz 'epoch') AS time", query)
    for name, value in VARIABLES.items():
        query = query.replace(f"${name}", value)
    if "$" in re.sub(r"'[^']*'", "", query):
        raise ValueError(f"unexpanded macro in: {query}")
    return query


def main() -> int:
    directory, url = pathlib.Path(sys.argv[1]), sys.argv[2]
    failures = total = 0
    for path in sorted(directory.glob("*.json")):
        board = json.loads(path.read_text())
        queries = [(p.get("title"), t["rawSql"]) for p in board["panels"] for t in p.get("targets", []) if "rawSql" in t]
        queries += [(f"variable {v['name']}", v["query"]) for v in board.get("templating", {}).get("list", [])
                    if isinstance(v.get("query"), str)]
        for title, query in queries:
            total += 1
            result = subprocess.run(["psql", url, "-v", "ON_ERROR_STOP=1", "-X", "-q", "-At", "-c", expand(query)],
                                    capture_output=True, text=True)
            if result.returncode:
                failures += 1
                print(f"  {path.name}: '{title}': {result.stderr.strip()}", file=sys.stderr)
    print(f"  {total} dashboard SQL queries run against sink-db's schema as the Grafana reader"
          + (f"; {failures} failed" if failures else ""))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
