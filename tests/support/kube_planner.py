"""The real `sla-planner run` as a subprocess against the real API server: a run config (often
the one the Helm chart renders) and a kubeconfig holding a ServiceAccount token."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from support.planner_process import PlannerProcess

FAST_ELECTION = {"lease_duration_s": 3, "renew_deadline_s": 2, "retry_period_s": 0.5}


def run_config_from_chart(rendered: str) -> dict[str, Any]:
    """The run config the chart's ConfigMap carries (what the pod would run)."""
    for doc in yaml.safe_load_all(rendered):
        if doc and doc.get("kind") == "ConfigMap" and "config.yaml" in doc.get("data", {}):
            return yaml.safe_load(doc["data"]["config.yaml"])
    raise AssertionError("the chart rendered no ConfigMap with config.yaml")


class KubePlanner(PlannerProcess):
    """PlannerProcess with a given run config and kubeconfig instead of the fake's."""

    def __init__(self, workdir: Path, identity: str, config: dict[str, Any], kubeconfig: Path):
        self.identity = identity
        self.dir = workdir / identity
        self.dir.mkdir(parents=True, exist_ok=True)
        cfg = json.loads(json.dumps(config))
        cfg.setdefault("leader_election", {})["identity"] = identity
        cfg["server"] = {"host": "127.0.0.1", "port": 0}
        self.config = self.dir / "planner.yaml"
        self.config.write_text(yaml.safe_dump(cfg, sort_keys=False))
        self.kubeconfig = kubeconfig
        self.proc: subprocess.Popen | None = None
        self.frozen = False
        self.starts = 0
        self.url: str | None = None

    def once(self, timeout_s: float = 120) -> subprocess.CompletedProcess:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        env.pop("KUBERNETES_SERVICE_HOST", None)
        return subprocess.run(
            [sys.executable, "-m", "sla_planner.cli.main", "run", "--config", str(self.config),
             "--kubeconfig", str(self.kubeconfig), "--once"],
            capture_output=True, text=True, timeout=timeout_s, env=env,
        )  # fmt: skip
