"""How a resolved plan is realised on a cluster: Pulumi applying every pack (``delivery: pulumi``) or Flux
reconciling it in the cluster (``delivery: flux``).

The pure part (no Pulumi import; the offline plan and ``strata render`` use it) builds the Flux objects of a
plan (:mod:`components.delivery.flux`) and writes bundles (:mod:`components.delivery.render`). The Pulumi part
(:mod:`components.delivery.strategy`) is what ``PackStack`` hands each pack to: one installer per source kind,
and a strategy choosing how each kind is realised.
"""
