"""The discrete-event judge: an independent per-request discrete-event replay of a disaggregated LLM deployment.

Shares no code with the planner's sizing model (no queueing formulas, no Little's-law fixed
point): requests are replayed one by one through simulated prefill and decode engines whose
timing is read straight from a measured engine profile. The semantics, module by module (the
full account with its validation is in docs/judges.md):

- requests: per-request traces (Azure CSV, Mooncake JSONL) and count traces expanded into a
  seeded stream (uniform times within each bin, ISL/OSL drawn from a per-request trace).
- profile / timing: prefill TTFT linear in batch tokens; decode ITL linear in kv_usage on each
  measured context row and linear in 1/context between rows.
- prefill: batches up to max_batched_tokens from one shared FIFO queue (or per-replica
  round-robin queues); TTFT = batch end - arrival.
- decode: exact continuous batching (one token per running sequence per step), routing to the
  fewest-sequences replica that can admit, full-length KV reservation, shared FIFO wait.
- pools: startup delay, cancel-then-drain scale-down, lifecycle records.
- judge: the incremental `Judge.advance(until_s, prefill_target, decode_target)`.
- replay: the one-shot `replay(requests, schedule, profile)` built on it.
"""

from sla_planner.evaluation.des.judge import Judge
from sla_planner.evaluation.des.profile import EngineTables, load_profile
from sla_planner.evaluation.des.replay import ReplayResult, Schedule, replay, summarize
from sla_planner.evaluation.des.requests import Requests, count_trace_stream, count_trace_total
from sla_planner.evaluation.des.window import Window

__all__ = [
    "EngineTables",
    "Judge",
    "ReplayResult",
    "Requests",
    "Schedule",
    "Window",
    "count_trace_stream",
    "count_trace_total",
    "load_profile",
    "replay",
    "summarize",
]
