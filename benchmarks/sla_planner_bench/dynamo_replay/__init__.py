"""Judge 2: Dynamo's own engine simulator (ai-dynamo's offline mocker replay) as the plant.

Optional: `dynamo` (ai-dynamo + ai-dynamo-runtime 1.6.1; `bash scripts/install_bench.sh`) is
imported lazily, only in this package (runtime.py), so importing these modules needs numpy only;
without it every entry point raises `DynamoUnavailableError` naming the install command. Like
the discrete-event judge it shares no code with the sizing (import-linter holds that).

- traces: requests (the discrete-event judge's `Requests`) -> Mooncake JSONL.
- engine: mocker engine args timed from any project profile (Dynamo's converter or the
  measured points).
- replay: one replay under a scaling policy; a fixed schedule (`replay_schedule`).
- windows: long traces as warm-started windows; scoring restricted to a stretch.
- live: the in-loop hook (`LivePolicy`); planner_loop: our planner (or any planner with its
  interface) in the loop; dynamo_planner: Dynamo's own planner in the loop.
- records / lifecycle: scoring from per-request records and the worker lifecycle.
- ais_shim: import stubs for NVIDIA's AISimulate (see docs/judges.md).
"""

from sla_planner_bench.dynamo_replay.runtime import (
    INSTALL_COMMAND,
    DynamoUnavailableError,
    dynamo_available,
    require_dynamo,
)

__all__ = ["INSTALL_COMMAND", "DynamoUnavailableError", "dynamo_available", "require_dynamo"]
