#!/usr/bin/env python3
"""Checks the resolved compose model (`docker compose config --format json` on stdin)
against the stack's own rules (scripts/validate-packaging.sh runs it per profile):

- every long-running container has a healthcheck: its own, or the HEALTHCHECK of the
  Dockerfile it is built from;
- one-shot jobs (restart "no" or unset, no ports) are only waited on with
  `service_completed_successfully`, everything else with `service_healthy`;
- images are pinned (no `latest`, no untagged image);
- ports are published on 127.0.0.1 only;
- every FERROFLOW_* variable names a key documented in docs/configuration.md (an
  unknown key stops a service at start-up).

    docker compose config --format json | check_compose.py REPO_ROOT
"""
import json
import pathlib
import re
import sys

ONE_SHOT = {"jmx-agent", "kafka-init"}


def dockerfile_has_healthcheck(root: pathlib.Path, build: dict) -> bool:
    context = pathlib.Path(build.get("context", "."))
    dockerfile = context / build.get("dockerfile", "Dockerfile")
    if not dockerfile.is_absolute():
        dockerfile = root / dockerfile
    return dockerfile.exists() and re.search(r"^HEALTHCHECK\s+", dockerfile.read_text(), re.M) is not None


def main() -> int:
    root = pathlib.Path(sys.argv[1]).resolve()
    model = json.load(sys.stdin)
    services = model.get("services", {})
    problems = []
    config_doc = (root / "docs" / "configuration.md").read_text(encoding="utf-8")
    for name, service in services.items():
        image = service.get("image", "")
        if "build" not in service:
            tag = image.rsplit(":", 1)[1] if ":" in image.split("/")[-1] else ""
            if not tag or tag == "latest":
                problems.append(f"{name}: image {image!r} is not pinned to a version")
        for variable in service.get("environment") or {}:
            if variable.startswith("FERROFLOW_") and not variable.startswith("FERROFLOW_RDKAFKA_"):
                key = ".".join(p.lower() for p in variable[len("FERROFLOW_"):].split("__"))
                if f"`{key}`" not in config_doc:
                    problems.append(f"{name}: {variable} sets `{key}`, which docs/configuration.md does not document")
        for port in service.get("ports", []):
            if port.get("host_ip") != "127.0.0.1":
                problems.append(f"{name}: port {port.get('published')} is published beyond 127.0.0.1")
        if name in ONE_SHOT:
            if service.get("restart") not in (None, "no"):
                problems.append(f"{name}: a one-shot job must not restart")
        else:
            has_check = "healthcheck" in service and not service["healthcheck"].get("disable")
            if not has_check and "build" in service:
                has_check = dockerfile_has_healthcheck(root, service["build"])
            if not has_check:
                problems.append(f"{name}: long-running container without a healthcheck")
            if service.get("restart") != "unless-stopped":
                problems.append(f"{name}: restart is {service.get('restart')!r}, expected unless-stopped")
        for dependency, how in (service.get("depends_on") or {}).items():
            want = "service_completed_successfully" if dependency in ONE_SHOT else "service_healthy"
            if how.get("condition") != want:
                problems.append(f"{name}: depends on {dependency} with {how.get('condition')!r}, expected {want}")
            if dependency not in services:
                problems.append(f"{name}: depends on {dependency}, which this profile does not start")
    for problem in problems:
        print(f"  {problem}", file=sys.stderr)
    print(f"  {len(services)} services: " + ("rules hold" if not problems else f"{len(problems)} problem(s)"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
