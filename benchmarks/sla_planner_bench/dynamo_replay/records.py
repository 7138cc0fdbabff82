"""Per-request records of a replay: columns, SLA attainment and latency percentiles.

The replay streams one JSON object per request to a JSONL file (`report_jsonl_path`); only the
fields below are kept, as numpy columns (~70 bytes a request). A request **attains** when it
completed, its TTFT <= `ttft_ms` and its mean inter-token latency (the record's `itl_ms`:
(last token - first token) / (output tokens - 1)) <= `itl_ms`. A one-token output has no
inter-token gap and passes the ITL test; a request that never completed fails. This is the
same rule as Dynamo's own `goodput_completed_requests` and as the discrete-event judge.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

_KEEP = (
    "arrival_time_ms",
    "ttft_ms",
    "itl_ms",
    "e2e_latency_ms",
    "input_length",
    "output_length",
    "prefill_worker_idx",
    "decode_worker_idx",
)


@dataclass
class RequestTable:
    """Columnar per-request results (NaN where the replay reported nothing)."""

    arrival_ms: np.ndarray
    ttft_ms: np.ndarray
    itl_ms: np.ndarray
    e2e_ms: np.ndarray
    isl: np.ndarray
    osl: np.ndarray
    prefill_worker: np.ndarray
    decode_worker: np.ndarray
    completed: np.ndarray

    def __len__(self) -> int:
        return len(self.arrival_ms)

    def select(self, mask: np.ndarray) -> RequestTable:
        return RequestTable(**{k: v[mask] for k, v in asdict(self).items()})

    def shifted(self, offset_ms: float) -> RequestTable:
        """The same records with `offset_ms` added to the arrival times."""
        cols = asdict(self)
        cols["arrival_ms"] = cols["arrival_ms"] + offset_ms
        return RequestTable(**cols)

    @classmethod
    def concat(cls, tables: Iterable[RequestTable]) -> RequestTable:
        ts = list(tables)
        return cls(**{k: np.concatenate([getattr(t, k) for t in ts]) for k in _fields()})


def _fields() -> tuple[str, ...]:
    return tuple(RequestTable.__dataclass_fields__)


def _num(v: Any) -> float:
    return float("nan") if v is None else float(v)


def table_from_records(records: Iterable[Mapping[str, Any]]) -> RequestTable:
    """A RequestTable from replay per-request dicts (any iterable, consumed once)."""
    cols: dict[str, list[float]] = {k: [] for k in _KEEP}
    done: list[bool] = []
    for rec in records:
        for k in _KEEP:
            cols[k].append(_num(rec.get(k)))
        done.append(
            rec.get("terminal_status", "completed") == "completed"
            and rec.get("ttft_ms") is not None
        )
    arr = {k: np.asarray(v, dtype=float) for k, v in cols.items()}
    return RequestTable(
        arrival_ms=arr["arrival_time_ms"],
        ttft_ms=arr["ttft_ms"],
        itl_ms=arr["itl_ms"],
        e2e_ms=arr["e2e_latency_ms"],
        isl=arr["input_length"],
        osl=arr["output_length"],
        prefill_worker=arr["prefill_worker_idx"],
        decode_worker=arr["decode_worker_idx"],
        completed=np.asarray(done, dtype=bool),
    )


def iter_jsonl(path: str | Path) -> Iterator[dict[str, Any]]:
    """JSON objects from a JSONL file, one at a time."""
    with Path(path).open() as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def table_from_jsonl(path: str | Path) -> RequestTable:
    return table_from_records(iter_jsonl(path))


def attains(t: RequestTable, ttft_ms: float, itl_ms: float) -> np.ndarray:
    """Per request: completed, TTFT <= target and mean ITL <= target."""
    itl_ok = np.where(np.isnan(t.itl_ms) | (t.osl <= 1), True, t.itl_ms <= itl_ms)
    return t.completed & (t.ttft_ms <= ttft_ms) & itl_ok


def _pct(x: np.ndarray, q: float) -> float:
    x = x[~np.isnan(x)]
    return float(np.percentile(x, q)) if len(x) else float("nan")


@dataclass
class LatencySummary:
    """Exact figures over a set of requests (percentiles of the records themselves)."""

    n: int
    completed: int
    met: int
    attainment: float
    ttft_ok: float
    itl_ok: float
    ttft_p50: float
    ttft_p95: float
    ttft_p99: float
    itl_p50: float
    itl_p95: float
    itl_p99: float
    ttft_mean: float
    itl_mean: float


def summarize_latency(t: RequestTable, ttft_ms: float, itl_ms: float) -> LatencySummary:
    n = len(t)
    ok = attains(t, ttft_ms, itl_ms)
    itl = np.where(t.osl > 1, t.itl_ms, np.nan)  # one-token outputs have no ITL

    def frac(m: np.ndarray) -> float:
        return float(np.mean(m)) if n else float("nan")

    has_itl = bool(np.any(~np.isnan(itl)))
    return LatencySummary(
        n=n,
        completed=int(t.completed.sum()),
        met=int(ok.sum()),
        attainment=frac(ok),
        ttft_ok=frac(t.completed & (t.ttft_ms <= ttft_ms)),
        itl_ok=frac(t.completed & np.where(np.isnan(itl), True, itl <= itl_ms)),
        ttft_p50=_pct(t.ttft_ms, 50),
        ttft_p95=_pct(t.ttft_ms, 95),
        ttft_p99=_pct(t.ttft_ms, 99),
        itl_p50=_pct(itl, 50),
        itl_p95=_pct(itl, 95),
        itl_p99=_pct(itl, 99),
        ttft_mean=float(np.nanmean(t.ttft_ms)) if n and t.completed.any() else float("nan"),
        itl_mean=float(np.nanmean(itl)) if has_itl else float("nan"),
    )
