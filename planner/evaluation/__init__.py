"""Evaluation: judging a schedule of replicas.

The discrete-event replay (`des`, applied to a deployment's trace and decisions by `judge`) is
the independent judge: it shares no code with the sizing. The closed-loop simulator
(`simulator`, with `sim_demand`, `sim_prefill`, `sim_decode`; per schedule `estimate`) is the
dry run's quick model estimate; it shares the sizing's queueing model, so it is not an
independent judge.

The policies ours is compared with (HPA, Dynamo classic, static, the oracle, fleet baselines)
and judge 2 (Dynamo's engine simulator) are benchmark-only code: the dev distribution
`sla-planner-bench` (benchmarks/sla_planner_bench), which the product never imports.
"""
