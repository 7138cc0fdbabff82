"""The scaling policies ours is compared with, with the Planner's interface (`Policy`:
observe(sample, deployment=None); decide(now) -> a FleetDecision, of one deployment here).

One harness (sla_planner.offline.dryrun.run_dry_run + sla_planner.evaluation.simulator, or the
discrete-event replay) runs them all next to ours:

- StaticPolicy (`static`): fixed replicas, e.g. enough for the trace's peak all the time
  (`oracle.static_peak`, sized with the oracle's per-interval need, so it is clairvoyant about
  the peak).
- HPAPolicy (`hpa`): Kubernetes HPA rule on the last observed interval: desired = ceil(ready x
  utilisation / target), no change within the tolerance, scale-up at once, scale-down to the
  highest recommendation of the stabilisation window. Utilisation (a generous, SLA-aware metric):
  prefill = offered prompt tokens/s / (ready x batched prefill capacity at the observed ISL);
  decode = output tokens/s / (ready x the highest decode throughput meeting the ITL target at
  context ISL + OSL/2). Ready replicas are those decided at least startup_s ago.
- DynamoClassicPolicy (`dynamo_classic`): Dynamo's classic SLA planner rule (ai-dynamo 1.6):
  predict the next interval's request count, ISL and OSL (ARIMA by default, our statsmodels
  ARIMA; or "constant" = last value); prefill = ceil(req x ISL / interval / profiled prefill
  tokens/s/GPU at that ISL / GPUs per replica) with the raw profile's one-prompt throughput;
  decode = ceil(req x OSL / interval / best profiled decode tokens/s/GPU meeting the ITL target
  at context ISL + OSL/2 / GPUs per replica); at least one each; over budget both shrink by the
  same factor (prefill first, decode takes the rest). No correction factor (traces carry no
  observed latency).
- SchedulePolicy + oracle_needs/oracle_schedule (`oracle`): each interval's true need -- the
  fewest replicas per pool whose simulated attainment on that interval (judged alone, no carried
  backlog) reaches `goal` of the requests that can meet the SLA at all -- requested exactly
  startup_s ahead (paid from then). The GPU-hours lower bound.
- `common`: what they share (one decision from two replica counts, pool limits, the budget).
- `fleet`: fleet allocations ours (`model.allocate.tick.allocate`) is compared with: a static
  split per GPU type (`static_quotas`), Dynamo's global planner (first come, capped), llm-d
  WVA's limiter (greedy by saturation), and an unbounded reference.
"""
