"""Invariants a fault-injection test checks on every sample of the cluster and the planners:
the GPU budget, pool minimums, and that nobody wrote to a scaled object without holding the
leader Lease at that moment (the fake API server logs who wrote and every Lease's spec then)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from support.fake_kube import FakeKube, RequestRecord


def _when(text: str | None) -> float | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def holder_at(record: RequestRecord, lease: str) -> str | None:
    """Who held `lease` ("namespace/name") live when the write was handled (None: nobody)."""
    spec = (record.leases or {}).get(lease)
    if not spec or not spec.get("holderIdentity"):
        return None
    renewed = _when(spec.get("renewTime"))
    duration = float(spec.get("leaseDurationSeconds") or 0)
    if renewed is None or record.at is None or record.at > renewed + duration:
        return None  # expired: nobody holds it
    return str(spec["holderIdentity"])


def scale_writes(kube: FakeKube) -> list[RequestRecord]:
    """Writes that changed a scaled object (Lease writes excluded), successful or not."""
    return [w for w in kube.writes() if "/leases" not in w.path]


def writes_without_the_lease(
    kube: FakeKube, lease: str, identity_of: Mapping[str, str]
) -> list[tuple[RequestRecord, str | None]]:
    """Applied writes (2xx) whose writer (by bearer token -> identity) did not hold `lease`
    at that moment, with who did."""
    bad = []
    for w in scale_writes(kube):
        if w.status is None or not 200 <= w.status < 300:
            continue
        who = identity_of.get(w.user or "", w.user)
        held_by = holder_at(w, lease)
        if held_by != who:
            bad.append((w, held_by))
    return bad


def check_cluster(
    replicas: Mapping[str, int],
    gpus_per_replica: Mapping[str, int],
    budget: int | None,
    minimums: Mapping[str, int],
) -> list[str]:
    """Budget and minimums on one sample of spec.replicas per pool; the violations found."""
    out = []
    used = sum(n * gpus_per_replica[p] for p, n in replicas.items())
    if budget is not None and used > budget:
        out.append(f"{used} GPUs on a {budget}-GPU budget: {dict(replicas)}")
    for p, n in replicas.items():
        if n < minimums.get(p, 0):
            out.append(f"{p} at {n}, below its minimum {minimums[p]}")
    return out
