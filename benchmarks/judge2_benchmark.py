"""Judge 2 benchmark: planners with Dynamo's engine simulator (the mocker replay) as the plant.

    bash scripts/install_bench.sh                     # once: ai-dynamo 1.6.1 (optional packages)
    python benchmarks/judge2_benchmark.py             # 3 scenarios, ~45 CPU-min
    python benchmarks/judge2_benchmark.py --quick     # azure2023-code-4x only, ~2 CPU-min
    python benchmarks/judge2_benchmark.py --only azure2023-conv-8x --jobs 1 --out DIR
    python benchmarks/judge2_benchmark.py --only azure2024-thu-ramp-1x --no-extras
    python benchmarks/judge2_benchmark.py --only azure2023-conv-8x --policies ours@0.99
    python benchmarks/judge2_report.py                # the Markdown again from the JSON

Writes judge2_results.md and judge2_results.json (to benchmarks/ or --out), merging into what is
there by (scenario, policy) unless --fresh; the Markdown keeps hand-written text above and
below its generated part (judge2_report.py). Scenarios and why:
judge2_scenarios.py. Per scenario, every policy replays the same requests through Dynamo's
mocker engines (Dynamo's profile converter, round-robin routing, 120 s startup, the mocker's
256-sequence cap), scored from the exact per-request records:
- ours@0.99 / ours@0.999: the SLO planner (slo.attainment = A, shipping defaults otherwise) in
  the loop, deciding every 60 s, fed the dry run's demand (trace) and, before each decision,
  judge 2's measured attainment of the interval just ended (the window-mean proxy the loop
  can see, planner_loop.py) into its error-budget controller: judge 2 is the plant, as
  Prometheus would feed it in a cluster;
- fixed-margin: the planner without an attainment target (slo.attainment = null) in the loop;
- hpa: the harness's HPA at each utilisation target (50-90%), its dry-run schedule replayed:
  its cost/attainment frontier, read at ours' attainment (frontier.py);
- dynamo (throughput / latency / load): Dynamo's own planner in the loop, same GPU budget as
  ours, starting from ours' first decision, with the engines' max_model_len 131072 (the
  model's context; Dynamo's prefill thresholds are fractions of it) and, for throughput and
  latency, 16384 (every request here fits); its SLA target needs NVIDIA's aisimulate_core and
  cannot run here;
- static peak and oracle (both sized by the analytic simulator's model), replayed;
- judge-2 sensitivity of the fixed-margin schedule: the measured profile points instead of
  Dynamo's fit, and Dynamo's kv_router instead of round robin.
Each row also gives judge 1's figures (the discrete-event replay) for the very schedule judge 2
applied, so the two judges are compared on identical decisions. Ours' decision time is process
CPU per decision (the observe before it included).
"""

from __future__ import annotations

import argparse
import math
import multiprocessing as mp
import os
import platform
import statistics
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
# Dynamo's planner warns on every 5 s tick while a new worker has no metrics yet; keep errors.
os.environ.setdefault("DYN_LOG", "error")

from harness import Timed  # noqa: E402
from judge2_report import write_outputs  # noqa: E402
from judge2_scenarios import (  # noqa: E402
    HPA_NAMES,
    INTERVAL_S,
    LOAD_THRESHOLDS,
    PROFILE,
    Prepared,
    load,
    ours,
    prepare,
    scenarios,
    schedule_of,
)

from sla_planner.evaluation.des import Schedule  # noqa: E402
from sla_planner.evaluation.des import replay as des_replay  # noqa: E402
from sla_planner.profiles.registry import load_profile  # noqa: E402
from sla_planner_bench.dynamo_replay.dynamo_planner import (  # noqa: E402
    DynamoPlannerKnobs,
    run_dynamo_planner,
)
from sla_planner_bench.dynamo_replay.engine import (  # noqa: E402
    DEFAULT_MAX_MODEL_LEN,
    mocker_engines,
)
from sla_planner_bench.dynamo_replay.planner_loop import (  # noqa: E402
    LoopSettings,
    run_planner_in_loop,
)
from sla_planner_bench.dynamo_replay.replay import (  # noqa: E402
    ReplayConfig,
    ReplayResult,
    replay_schedule,
)
from sla_planner_bench.dynamo_replay.runtime import (  # noqa: E402
    dynamo_module,
    env_info,
    require_dynamo,
)
from sla_planner_bench.dynamo_replay.traces import source_window  # noqa: E402
from sla_planner_bench.dynamo_replay.windows import restrict  # noqa: E402

DYNAMO_TARGETS = ("throughput", "latency", "load")
SLO_TARGETS = (0.99, 0.999)
# The replay exposes only per-tick means of the requests completed since the last tick, so the
# attainment fed to the error budget counts a tick's completions as met when their mean TTFT
# and ITL are. At 5 s ticks a window holds ~100-300 requests and its mean hides the misses (the
# budget was fed 100.0% on conv-8x where the records say 97.7%); at 20 ms it holds a few and
# the proxy comes within ~1 pp of the records, for ~40% more replay CPU.
FEED_SAMPLE_S = 0.02
OUT = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Task:
    prep: Prepared
    policy: str  # row name
    kind: str  # ours | fixed | dynamo
    key: str = ""  # schedule name (fixed), demand feed (ours) or target (dynamo)
    attainment: float | None = None  # ours: the SLO target (None: fixed margins)
    timing: str = "dynamo"
    router: str = "round_robin"
    context: int = DEFAULT_MAX_MODEL_LEN  # engine max_model_len: Dynamo's planner scales on it
    # ours: the replay's tick, the window the fed attainment proxy counts over (FEED_SAMPLE_S)
    sample_s: float = 5.0


def tasks_for(prep: Prepared, quick: bool, extras: bool = True) -> list[Task]:
    """Every policy of a scenario; without `extras`, not Dynamo's planner at a 16k context nor
    the judge-2 sensitivity rows (for a scenario too long to run them all)."""
    out = [
        *(
            Task(prep, f"ours@{a:g}", "ours", "trace", attainment=a, sample_s=FEED_SAMPLE_S)
            for a in SLO_TARGETS
        ),
        Task(prep, "fixed-margin", "ours", "trace"),
        *(Task(prep, f"dynamo ({t})", "dynamo", t) for t in DYNAMO_TARGETS),
        # Dynamo's prefill thresholds are fractions of the context length: with the model's
        # 128 k they are 16x laxer than with 16 k, which every request here fits in.
        *(Task(prep, n, "fixed", n) for n in ("static_peak", "oracle")),
    ]
    if extras:
        out += [
            *(
                Task(prep, f"dynamo ({t}, 16k context)", "dynamo", t, context=16384)
                for t in ("throughput", "latency")
            ),
            Task(prep, "fixed-margin, measured timing", "fixed", "fixed", timing="measured"),
            Task(prep, "fixed-margin, kv_router", "fixed", "fixed", router="kv_router"),
        ]
    hpa = ("hpa", "hpa (target 50%)", "hpa (target 90%)") if quick else HPA_NAMES
    out += [Task(prep, n, "fixed", n) for n in hpa]
    return out


_CACHE: dict[str, Any] = {}


def _requests(prep: Prepared) -> Any:
    key = prep.j.scenario.name
    if key not in _CACHE:
        _CACHE.clear()  # one scenario's requests at a time per process
        ld = load(prep.j)
        _CACHE[key] = (ld, source_window(ld.source, prep.start, prep.end, seed=0))
    return _CACHE[key]


def _config(task: Task) -> ReplayConfig:
    sc = task.prep.j.scenario
    eng = mocker_engines(PROFILE, timing=task.timing, max_model_len=task.context)  # type: ignore[arg-type]
    return ReplayConfig(eng, ttft_ms=sc.ttft_ms, itl_ms=sc.itl_ms, router_mode=task.router)


def _replay(task: Task, cfg: ReplayConfig, ld: Any, reqs: Any, planner: Any) -> ReplayResult:
    p = task.prep
    if task.kind == "ours":
        settings = LoopSettings(
            p.start,
            p.end,
            INTERVAL_S,
            sample_s=task.sample_s,
            demand=task.key,
            warmup_intervals=p.warmup_intervals,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return run_planner_in_loop(reqs, cfg, planner, settings, source=ld.source)
    if task.kind == "dynamo":
        knobs = DynamoPlannerKnobs(
            optimization_target=task.key,
            max_gpu_budget=p.budget,
            **(LOAD_THRESHOLDS if task.key == "load" else {}),
        )
        return restrict(
            run_dynamo_planner(reqs, cfg, knobs, initial=p.initial), cfg, p.start, p.end
        )
    t, pre, dec = p.schedules[task.key]
    return restrict(replay_schedule(reqs, Schedule.of(t, pre, dec), cfg), cfg, p.start, p.end)


def applied_schedule(res: ReplayResult, start: float) -> Schedule:
    """What judge 2 applied, in trace time from `start`: the initial pools, then each decision
    (a later one at the same second replaces an earlier one)."""
    steps: dict[float, tuple[int, int]] = {start: (res.initial["prefill"], res.initial["decode"])}
    for t, pre, dec in res.decisions:
        steps[max(start, t)] = (pre, dec)
    ts = sorted(steps)
    return Schedule.of(ts, [steps[t][0] for t in ts], [steps[t][1] for t in ts])


def _judge1(sched: Schedule, reqs: Any, task: Task) -> dict[str, Any]:
    sc, p = task.prep.j.scenario, task.prep
    r = des_replay(
        reqs,
        sched,
        load_profile(PROFILE),
        end_s=p.end,
        ttft_ms=sc.ttft_ms,
        itl_ms=sc.itl_ms,
        startup_s=120.0,
    )
    return {
        "j1_attainment": r.attainment,
        "j1_ttft_p99": r.ttft_ms["p99"],
        "j1_itl_p99": r.itl_ms["p99"],
        "j1_gpu_hours": r.gpu_hours,
        "j1_scaling_actions": r.scaling_actions,
    }


def run_task(task: Task) -> dict[str, Any]:
    require_dynamo()
    ld, reqs = _requests(task.prep)
    cfg = _config(task)
    p = task.prep
    planner = None
    if task.kind == "ours":
        planner = Timed(ours(p.j, p.budget, task.attainment), clock=time.process_time)
    t0, c0 = time.perf_counter(), time.process_time()
    res = _replay(task, cfg, ld, reqs, planner)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    sched = applied_schedule(res, task.prep.start)
    row = {
        "scenario": task.prep.j.scenario.name,
        "policy": task.policy,
        "kind": task.kind,
        "timing": task.timing,
        "router": task.router,
        "sample_s": task.sample_s,
        "max_model_len": task.context,
        **res.as_dict(),
        "peak_gpus": int(max(sched.prefill + sched.decode)),
        "decisions": len(res.decisions),
        "task_wall_s": wall,
        "task_cpu_s": cpu,
        **_judge1(sched, reqs, task),
    }
    if planner is not None:
        row.update(_ours_extra(task, res, planner))
    if task.kind == "dynamo":
        row["dynamo_ticks"] = res.extra.get("ticks")
    print(
        f"  {row['scenario']:24s} {task.policy:26s} att {row['attainment']:.4f} "
        f"ttft_p99 {row['ttft_p99']:8.0f} gpu_h {row['gpu_hours_billed']:6.2f} "
        f"(j1 {row['j1_attainment']:.4f}) wall {wall:6.1f} s cpu {cpu:6.1f} s",
        flush=True,
    )
    return row


def _ours_extra(task: Task, res: ReplayResult, planner: Timed) -> dict[str, Any]:
    """The planner's own view: decision CPU time, what the loop fed its error budget and where
    the budget ended (the SLO planner only). The first decision is left out of the times: it
    carries the observes of the whole warm-up history (24 h on the Azure 2024 hour)."""
    ms = sorted(planner.ms[1:])
    out: dict[str, Any] = {
        "target": task.attainment,
        "est_attainment_in_loop": res.extra.get("est_attainment"),
        "decide_cpu_ms_median": statistics.median(ms) if ms else math.nan,
        "decide_cpu_ms_p99": ms[min(len(ms) - 1, math.ceil(0.99 * len(ms)) - 1)]
        if ms
        else math.nan,
        "decide_count": len(ms),
        "decide_cpu_ms": [round(v, 3) for v in planner.ms],  # the first one with the warm-up
    }
    st = getattr(planner.inner, "budget_status", None)
    if st is not None:
        out.update(
            fed_attainment=st.cumulative_attainment,
            fed_windows=st.windows,
            final_margin=st.margin,
            final_integral=st.integral,
            final_goal=1.0 - st.planned_miss,
        )
    return out


def _cost(task: Task) -> float:
    n = {"azure2024-thu-ramp-1x": 10.0, "azure2023-conv-8x": 4.0}.get(
        task.prep.j.scenario.name, 1.0
    )
    return n * (2.0 if task.kind != "fixed" else 1.0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="azure2023-code-4x, 3 HPA targets")
    ap.add_argument("--policies", action="append", help="row name to run (repeatable)")
    ap.add_argument(
        "--no-extras",
        action="store_true",
        help="skip Dynamo's planner at 16k context and the judge-2 sensitivity rows",
    )
    ap.add_argument("--only", action="append", help="scenario name (repeatable)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--fresh", action="store_true", help="drop earlier scenarios' rows from --out")
    args = ap.parse_args(argv)
    require_dynamo()
    t_start = time.perf_counter()
    chosen = [j for j in scenarios() if not args.quick or j.scenario.name == "azure2023-code-4x"]
    chosen = [j for j in chosen if not args.only or j.scenario.name in args.only]
    for timing in ("dynamo", "measured"):
        mocker_engines(PROFILE, timing=timing)  # build the cached tables once, before forking
    preps = []
    for j in chosen:
        prep = prepare(j)
        prep.schedules["fixed"] = _fixed_dry_run(prep)
        preps.append(prep)
        print(f"prepared {j.scenario.name}: budget {prep.budget} GPUs, start {prep.initial}")
    tasks = sorted(
        (
            t
            for p in preps
            for t in tasks_for(p, args.quick, not args.no_extras)
            if not args.policies or t.policy in args.policies
        ),
        key=_cost,
        reverse=True,
    )
    if args.jobs > 1:
        with mp.get_context("spawn").Pool(args.jobs, maxtasksperchild=4) as pool:
            rows = pool.map(run_task, tasks, chunksize=1)
    else:
        rows = [run_task(t) for t in tasks]
    date = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    # The converter imports aisimulate: the shim is then installed here too, as in the tasks,
    # so env_info says whether it stood in.
    dynamo_module("dynamo.mocker.utils.planner_profiler_perf_data_converter")
    meta = {
        "date": date,
        "commands": ["python benchmarks/judge2_benchmark.py " + " ".join(argv or sys.argv[1:])],
        "cpu": f"{os.cpu_count()} CPUs shared with other jobs, load {os.getloadavg()[0]:.1f}",
        "wall_s": time.perf_counter() - t_start,
        "replay_cpu_s": sum(r["task_cpu_s"] for r in rows),
        "parent_cpu_s": time.process_time(),
        "jobs": args.jobs,
        "quick": args.quick,
        "python": platform.python_version(),
        "env": env_info(),
        "scenarios": {p.j.scenario.name: {**_scenario_meta(p), "date": date} for p in preps},
        "load_thresholds": LOAD_THRESHOLDS,
    }
    write_outputs(rows, meta, args.out, merge=not args.fresh)
    print(f"done in {meta['wall_s']:.0f} s; wrote {args.out / 'judge2_results.md'}")
    return 0


def _fixed_dry_run(prep: Prepared) -> tuple[list[float], list[int], list[int]]:
    """The fixed-margin planner's decisions from a dry run: the schedule the sensitivity rows
    replay (identical to the in-loop run's when fed the same demand;
    tests/benchmarks/dynamo_replay checks that)."""
    from dataclasses import replace

    from harness import dry_run

    ld = load(prep.j)
    ld = replace(ld, start=prep.start, end=prep.end, warmup_intervals=prep.warmup_intervals)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = dry_run(ld, ours(prep.j, prep.budget), INTERVAL_S)
    s = schedule_of(res.decisions)
    return s.t.tolist(), s.prefill.tolist(), s.decode.tolist()


def _scenario_meta(p: Prepared) -> dict[str, Any]:
    sc = p.j.scenario
    return {
        "trace": sc.trace,
        "tokens_from": sc.tokens_from,
        "rate_scale": sc.rate_scale,
        "ttft_ms": sc.ttft_ms,
        "itl_ms": sc.itl_ms,
        "start": p.start,
        "end": p.end,
        "history_intervals": p.warmup_intervals,
        "budget_gpus": p.budget,
        "initial": list(p.initial),
        "note": sc.note,
    }


if __name__ == "__main__":
    sys.exit(main())
