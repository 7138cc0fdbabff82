"""sla-planner's benchmark-only code (the dev distribution `sla-planner-bench`, benchmarks/).

- `baselines`: the scaling policies ours is compared with, behind the Planner's interface
  (HPA, Dynamo's classic rule, static, the clairvoyant oracle) and the fleet allocators.
- `dynamo_replay`: judge 2, Dynamo's own engine simulator as the plant (optional packages).

The product (`sla_planner`) never imports this package (import-linter holds that), so the
wheel users install has none of it.
"""
