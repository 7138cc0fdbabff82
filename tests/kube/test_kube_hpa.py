"""A real HPA (kube-controller-manager) applies the planner's published decision: the planner
runs publish-only (the chart with deploy/examples/hpa/values-hpa.yaml), a real Prometheus
scrapes its /metrics, prometheus-adapter (built from source) serves the shipped rules of
deploy/examples/hpa/prometheus-adapter-values.yaml as the External metric
sla_planner_desired_replicas, and the shipped deploy/examples/hpa/hpa-external.yaml scales the
Grove PodCliques to exactly the planner's desiredReplicas."""

from __future__ import annotations

import re
import time

import pytest
import yaml
from support import kube_objects as ko
from support.kube_env import KubeEnv, wait_for
from support.kube_operators import PrometheusAdapter
from support.kube_planner import FAST_ELECTION, KubePlanner, run_config_from_chart
from support.live_demand import LiveDemand
from support.paths import REPO
from support.prometheus_server import INSTALL_HINT, PrometheusServer, prometheus_available

pytestmark = [
    pytest.mark.kube,
    pytest.mark.slow,
    pytest.mark.skipif(not prometheus_available(), reason=f"needs prometheus: {INSTALL_HINT}"),
]

EXAMPLES = REPO / "deploy" / "examples" / "hpa"
CHART = REPO / "deploy" / "helm" / "sla-planner"
HPA_SA = "system:serviceaccount:kube-system:horizontal-pod-autoscaler"


class LabelledPrometheus(PrometheusServer):
    """Scrapes the planner as Prometheus in a cluster would: with namespace and pod labels."""

    def __init__(self, workdir, target: str, labels: dict[str, str]) -> None:
        super().__init__(workdir / "planner-prom", scrape_targets=[target], job="sla-planner")
        self.labels = labels

    def _config(self) -> str:
        return self._config_with_labels()

    def _config_with_labels(self) -> str:
        base = super()._config()
        lab = ", ".join(f"{k}: {v}" for k, v in self.labels.items())
        return base.replace(
            "static_configs: [{targets: [", f"static_configs: [{{labels: {{{lab}}}, targets: ["
        )


def shipped_values(ns: str, prometheus_url: str) -> dict:
    vals = yaml.safe_load((EXAMPLES / "values-hpa.yaml").read_text())
    cfg = vals["config"]
    cfg["planner"].update({"interval_s": 2, "startup_s": 4, "forecaster": "last",
                           "scale_down_window_s": 0})  # fmt: skip
    cfg["metrics"]["prometheus"].update({"url": prometheus_url, "selector": 'model="llama"',
                                         "timeout_s": 2, "retries": 0})  # fmt: skip
    for t in cfg["targets"].values():
        t["observe"]["namespace"] = ns
    cfg["loop"] = {"retry_interval_s": 1, "backfill_intervals": 10, "latency_correction": False}
    vals["serviceMonitor"]["enabled"] = False  # no Prometheus Operator here: scraped directly
    return vals


def shipped_rules() -> list[dict]:
    return yaml.safe_load((EXAMPLES / "prometheus-adapter-values.yaml").read_text())["rules"][
        "external"
    ]


def test_hpa_applies_the_planners_published_replicas(kube_env: KubeEnv, kube_ns, admin, tmp_path):
    for name in ("llama-0-prefill", "llama-0-decode"):
        ko.create(admin, "PodClique", kube_ns, name, replicas=1)
        ko.write_grove_status(admin, "PodClique", kube_ns, name, ready=1)
    with LiveDemand(tmp_path, rps=60) as demand:
        vf = tmp_path / "values.yaml"
        vf.write_text(yaml.safe_dump(shipped_values(kube_ns, demand.prometheus_url)))
        rendered = kube_env.helm(
            "template", "sla-planner", str(CHART), "-n", kube_ns, "-f", str(vf)
        )
        kube_env.kubectl("apply", "-n", kube_ns, "-f", "-", stdin=rendered)
        cfg = run_config_from_chart(rendered)
        cfg["leader_election"].update(FAST_ELECTION)
        kc = kube_env.service_account_kubeconfig(kube_ns, "sla-planner", tmp_path / "sa.kc")
        planner = KubePlanner(tmp_path, "planner-0", cfg, kc).start()
        try:
            url = planner.wait_api()
            target = re.sub(r"^https?://", "", url)
            labels = {"namespace": kube_ns, "pod": "planner-0"}
            with LabelledPrometheus(tmp_path, target, labels) as prom, \
                    PrometheusAdapter(kube_env, prom.url, shipped_rules()):  # fmt: skip
                prom.wait_for("sla_planner_is_leader == 1", lambda r: bool(r), timeout_s=60)
                hpas = (EXAMPLES / "hpa-external.yaml").read_text().replace(
                    "namespace: llm", f"namespace: {kube_ns}")  # fmt: skip
                t0 = time.time() - 1
                kube_env.kubectl("apply", "-f", "-", stdin=hpas)

                def applied() -> dict | None:
                    r = planner.get("/api/v1/decision")
                    if r is None or r.status_code != 200:
                        return None
                    want = {p: r.json()[p]["desiredReplicas"] for p in ("prefill", "decode")}
                    got = {p: ko.spec_replicas(admin, "PodClique", kube_ns, f"llama-0-{p}")
                           for p in ("prefill", "decode")}  # fmt: skip
                    return want if got == want and max(want.values()) > 1 else None

                want = wait_for(applied, 120, "the HPAs at the planner's desired replicas", 1.0)
                value = kube_env.kubectl("get", "--raw",
                    f"/apis/external.metrics.k8s.io/v1beta1/namespaces/{kube_ns}/"
                    "sla_planner_desired_replicas?labelSelector=pool%3Dprefill").stdout  # fmt: skip
                assert f'"value":"{want["prefill"]}"' in value, value
        finally:
            code = planner.terminate()
    assert code == 0 and "Traceback" not in planner.log()
    writers = {e.user for e in kube_env.audit(namespace=kube_ns, resource="podcliques", since=t0)
               if e.subresource == "scale" and e.code == 200}  # fmt: skip
    assert writers == {HPA_SA}, writers  # the HPA wrote; the publish-only planner never did
