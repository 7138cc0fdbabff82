"""Fleet planning: many deployments and GPU types under one budget (pure: no I/O, no clock).

- `config`: the fleet config (deployments, SLOs, variants, cluster GPU pools, priorities).
- `types`: what flows between the parts (needs, state, allocations, reasons).
- `planning`: per deployment, the single-deployment Planner's forecast sized on every variant.
- `wants`: stabilisation and scale-to-zero rules on what sizing asked for.
- `frontier` / `allocator`: GPUs to where they buy the most SLO-weighted attainment per dollar,
  higher priority classes first, per GPU type.
- `variants`: the cheapest variant that meets the SLO, with hysteresis and make-before-break.
- `fleet`: one tick, `allocate(...)`, tying them together.
"""
