"""The live hook: a Python callback scales the mocker pools in the loop.

`LivePolicy(callback, interval_s, sample_s)` ticks the replay every `sample_s` of simulated
time, accumulates the per-tick traffic windows, and every `interval_s` (first at
`first_call_s`) calls `callback(obs: LiveObservation)`, which returns `(prefill, decode)`, a
dict with those keys, or None (no change; None per pool too). Targets are clamped to
[min_workers, max_workers].

What the callback can see is what a cluster would show: arrivals, the shapes and mean latencies
of requests *completed* in each sample window, and pool load from each worker's latest forward
pass (snapshot.py). Exact per-request outcomes exist only after the run; in the loop,
`est_attainment` is a window-mean proxy (a sample window's completions all count as met when
its mean TTFT and mean ITL meet the targets), within ~1 point of the exact figure at 1-5 s
samples on the bursty Azure code hour and biased low there; biased high where latencies sit
just around a target (docs/judges.md, the closed loop).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sla_planner_bench.dynamo_replay.schedule import Decision
from sla_planner_bench.dynamo_replay.snapshot import TrafficWindow, merge_traffic, pool_load


@dataclass
class LiveObservation:
    """What the callback sees at one of its decision times (simulated time `now_s`).

    `window` merges the traffic since the previous call; `samples` are the per-tick windows
    behind it. `window_met` / `window_completed` are the proxy's counts for `window` (and
    `window_ttft_met` / `window_itl_met` per target); `est_met` / `est_completed` accumulate
    them over the run.
    """

    now_s: float
    snapshot: dict[str, Any]
    window: TrafficWindow
    samples: list[TrafficWindow]
    prefill: dict[str, float]
    decode: dict[str, float]
    cum_arrivals: int
    cum_completed: int
    window_met: int
    window_completed: int
    window_ttft_met: int
    window_itl_met: int
    est_met: int
    est_completed: int
    decisions: list[Decision] = field(default_factory=list)

    @property
    def est_attainment(self) -> float:
        return self.est_met / self.est_completed if self.est_completed else float("nan")

    @property
    def peak_rate(self) -> float | None:
        """The highest arrival rate over the sample windows (req/s); None without samples."""
        rates = [s.arrivals / s.duration_s for s in self.samples if s.duration_s > 0]
        return max(rates) if rates else None


Targets = tuple[int | None, int | None] | dict[str, int | None] | None
Callback = Callable[[LiveObservation], Targets]


def _as_targets(dec: Targets) -> tuple[int | None, int | None]:
    if dec is None:
        return None, None
    if isinstance(dec, dict):
        return dec.get("prefill"), dec.get("decode")
    return dec[0], dec[1]


class LivePolicy:
    """Run `callback` every `interval_s` of simulated time, sampling every `sample_s`.

    `decisions` gets one (simulated time s, prefill, decode) per call: the desired counts after
    it (the current non-draining count where the callback said None), a step schedule.
    """

    def __init__(
        self,
        callback: Callback,
        *,
        interval_s: float = 60.0,
        sample_s: float = 5.0,
        first_call_s: float | None = None,
        ttft_ms: float = 200.0,
        itl_ms: float = 25.0,
        min_workers: int = 1,
        max_workers: int = 10_000,
    ) -> None:
        if not (interval_s > 0 and sample_s > 0):
            raise ValueError("interval_s and sample_s must be positive")
        self.callback, self.interval_s, self.sample_s = callback, interval_s, sample_s
        self.ttft_ms, self.itl_ms = ttft_ms, itl_ms
        self.min_workers, self.max_workers = min_workers, max_workers
        self._next_call_s = interval_s if first_call_s is None else max(first_call_s, 1e-3)
        self._samples: list[TrafficWindow] = []
        self._win = [0, 0, 0, 0]  # completed, met, TTFT met, ITL met since the last call
        self.cum_arrivals = self.cum_completed = self.est_met = self.est_completed = 0
        self.decisions: list[Decision] = []
        self.lifecycle: list[dict[str, Any]] = []

    def initial_tick_ms(self) -> float:
        return min(self.sample_s, self._next_call_s) * 1000.0

    def _account(self, w: TrafficWindow) -> None:
        self.cum_arrivals += w.arrivals
        self.cum_completed += w.completed
        if w.completed:
            ttft_ok, itl_ok = w.ttft_ms <= self.ttft_ms, w.itl_ms <= self.itl_ms
            met = w.completed if ttft_ok and itl_ok else 0
            for i, n in enumerate((w.completed, met, w.completed * ttft_ok, w.completed * itl_ok)):
                self._win[i] += int(n)
            self.est_completed += w.completed
            self.est_met += met

    def on_tick(self, snapshot: dict[str, Any]) -> dict[str, Any]:
        now_s = float(snapshot["now_ms"]) / 1000.0
        w = TrafficWindow.from_snapshot(snapshot)
        self._account(w)
        self._samples.append(w)
        tp = td = None
        if now_s + 1e-9 >= self._next_call_s:
            tp, td = self._call(now_s, snapshot)
            self._next_call_s += self.interval_s
        nxt = now_s + min(self.sample_s, self._next_call_s - now_s)
        return {"target_prefill": tp, "target_decode": td, "next_tick_ms": nxt * 1000.0}

    def _call(self, now_s: float, snapshot: dict[str, Any]) -> tuple[int | None, int | None]:
        obs = LiveObservation(
            now_s=now_s,
            snapshot=snapshot,
            window=merge_traffic(self._samples),
            samples=self._samples,
            prefill=pool_load(snapshot, "prefill"),
            decode=pool_load(snapshot, "decode"),
            cum_arrivals=self.cum_arrivals,
            cum_completed=self.cum_completed,
            window_completed=self._win[0],
            window_met=self._win[1],
            window_ttft_met=self._win[2],
            window_itl_met=self._win[3],
            est_met=self.est_met,
            est_completed=self.est_completed,
            decisions=self.decisions,
        )
        self._samples, self._win = [], [0, 0, 0, 0]
        tp, td = (self._clamp(v) for v in _as_targets(self.callback(obs)))
        cur_p = int(snapshot["non_draining_prefill_count"])
        cur_d = int(snapshot["non_draining_decode_count"])
        self.decisions.append((now_s, cur_p if tp is None else tp, cur_d if td is None else td))
        return tp, td

    def _clamp(self, v: int | None) -> int | None:
        return None if v is None else int(min(self.max_workers, max(self.min_workers, int(v))))

    def finalize(self, lifecycle_operations: Sequence[dict[str, Any]] | None = None) -> None:
        self.lifecycle = list(lifecycle_operations or [])
