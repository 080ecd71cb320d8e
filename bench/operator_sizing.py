"""Sizing the Pulumi Kubernetes Operator for a fleet: measured program figures in a model of the operator.

What is **measured** (``python -m bench.operator_sizing``, through :mod:`bench.program_bench`'s machinery:
the real edge program under Pulumi's mocks, one fresh interpreter per size): the CPU time and the peak
memory of one stack's program as a function of the sites in it (1 for a per-site stack, ``k`` for a shard of
``k`` sites), fitted to ``a + b * k``.

What is **modelled** (no operator or cluster runs here), each figure a stated assumption in
:class:`Assumptions`: a workspace pod's fixed cost per reconcile (pod start, Git fetch, Python dependencies;
``workspaceReclaimPolicy: Delete`` pays it every time), the engine's per-site time (refresh and update of a
site's resources over the WAN), and how much slower a workspace's CPU request runs the program than a core
here. The operator itself is simulated event by event as it works at v2.9 (:func:`simulate`): at most
``concurrency`` reconciles at once (``MAX_CONCURRENT_RECONCILES``, 25 by default), one workspace pod per
running reconcile, and each Stack due again ``resync`` seconds after its last update *finished* (the
controller's ``requeueAfter = lastResyncTime + resyncFrequencySeconds``), served first come, first served.

The arithmetic is tested on small cases (tests/unit/test_operator_sizing.py); the figures in docs/operator.md
come from running this module.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass

#: Sites per stack measured: a per-site stack and shards of 10, 20 and 50 sites.
SHARD_SIZES = (1, 10, 20, 50)
#: Fleet sizes the recommendations are made for.
FLEETS = (240, 2_000, 10_000)
#: Utilisation above which a queue's waits grow without bound in practice; kept as headroom for retries.
HEADROOM = 0.7


@dataclass(frozen=True)
class Assumptions:
    """What the model assumes (seconds and MiB); change them to your own measured values."""

    #: Workspace pod scheduled and started, agent up, Git fetch, Python dependencies installed: every reconcile.
    workspace_setup_s: float = 60.0
    #: The engine's own time per site: refresh and update of its ~11 resources over the WAN.
    engine_per_site_s: float = 10.0
    #: How much slower the program runs on a workspace's 500m CPU request than on one core here.
    cpu_factor: float = 2.0
    #: The pulumi CLI, language host and provider plugins in a workspace, beside the program's own memory.
    cli_mib: float = 350.0


@dataclass(frozen=True)
class Linear:
    """``intercept + slope * x``, fitted by least squares."""

    intercept: float
    slope: float

    def __call__(self, x: float) -> float:
        return self.intercept + self.slope * x

    @classmethod
    def fit(cls, xs: Sequence[float], ys: Sequence[float]) -> Linear:
        n = len(xs)
        if n < 2 or len(set(xs)) < 2:
            raise ValueError("a line needs at least two different x values")
        mx, my = sum(xs) / n, sum(ys) / n
        slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)
        return cls(my - slope * mx, slope)


@dataclass(frozen=True)
class StackCost:
    """One stack's reconcile as the model sees it: seconds and workspace memory, for ``sites`` sites."""

    sites: int
    seconds: float
    memory_mib: float


def stack_cost(sites: int, program_cpu: Linear, program_mib: Linear, assume: Assumptions) -> StackCost:
    """Seconds of one reconcile (setup + program on the workspace's CPU + engine per site) and its memory."""
    seconds = assume.workspace_setup_s + program_cpu(sites) * assume.cpu_factor + assume.engine_per_site_s * sites
    return StackCost(sites, seconds, assume.cli_mib + program_mib(sites))


@dataclass(frozen=True)
class Simulation:
    """What the simulated operator did over the horizon."""

    #: Busy worker-seconds over available worker-seconds.
    utilisation: float
    #: Longest and mean time between two finished reconciles of one Stack (how stale a site's state gets).
    max_interval_s: float
    mean_interval_s: float
    #: Time until every Stack finished a reconcile after all became due at once (a new commit everywhere).
    rollout_s: float


def simulate(stacks: int, seconds: float, concurrency: int, resync: float, horizon: float) -> Simulation:
    """The operator's queue, event by event: ``stacks`` Stacks, each reconcile ``seconds`` long, at most
    ``concurrency`` at once, each Stack due again ``resync`` after its reconcile finished. All Stacks start
    due at time 0 (a rollout); the run continues to ``horizon`` for the steady state."""
    if stacks < 1 or concurrency < 1 or seconds <= 0:
        raise ValueError("stacks, concurrency and seconds must be positive")
    due: list[tuple[float, int]] = [(0.0, i) for i in range(stacks)]  # (time due, stack), FIFO by due time
    heapq.heapify(due)
    free: list[float] = [0.0] * concurrency  # when each worker is free
    heapq.heapify(free)
    last_done: dict[int, float] = {}
    intervals: list[float] = []
    busy = 0.0
    rollout = 0.0
    first_round: set[int] = set()
    while due:
        when, stack = heapq.heappop(due)
        start = max(when, heapq.heappop(free))
        if start >= horizon:
            break
        done = start + seconds
        busy += min(done, horizon) - start
        heapq.heappush(free, done)
        if stack in last_done:
            intervals.append(done - last_done[stack])
        elif stack not in first_round:
            first_round.add(stack)
            rollout = max(rollout, done)
        last_done[stack] = done
        heapq.heappush(due, (done + resync, stack))
    return Simulation(
        utilisation=busy / (concurrency * horizon),
        max_interval_s=max(intervals) if intervals else math.inf,
        mean_interval_s=sum(intervals) / len(intervals) if intervals else math.inf,
        rollout_s=rollout,
    )


def utilisation(stacks: int, seconds: float, concurrency: int, resync: float) -> float:
    """The closed form the simulation converges to below saturation: work per period over capacity."""
    return stacks * seconds / (concurrency * (resync + seconds))


@dataclass(frozen=True)
class Recommendation:
    sites: int
    shard: int
    stacks: int
    concurrency: int
    operators: int
    resync_s: int
    cost: StackCost
    simulation: Simulation


def recommend(
    sites: int,
    costs: Sequence[StackCost],
    resyncs: Sequence[int] = (900, 1800, 3600),
    concurrencies: Sequence[int] = (25, 50),
    max_stacks_per_operator: int = 1000,
) -> Recommendation:
    """The smallest blast radius that keeps up within an hour's resync: per-site stacks if they fit under the
    headroom, else the smallest shard; for each, the default concurrency before a doubled one and the
    shortest resync; more operators (management clusters) only when nothing else fits."""
    for operators in range(1, 65):
        for cost in sorted(costs, key=lambda c: c.sites):
            stacks = math.ceil(sites / operators / cost.sites)
            if stacks > max_stacks_per_operator:
                continue
            for concurrency in concurrencies:
                for resync in resyncs:
                    if utilisation(stacks, cost.seconds, concurrency, resync) <= HEADROOM:
                        horizon = 10 * (resync + cost.seconds * math.ceil(stacks / concurrency))
                        sim = simulate(stacks, cost.seconds, concurrency, resync, horizon)
                        return Recommendation(sites, cost.sites, stacks, concurrency, operators, resync, cost, sim)
    raise ValueError(f"no layout keeps up with {sites} sites")


def measured() -> tuple[list[dict[str, float]], Linear, Linear]:
    """Program CPU seconds and peak MiB per stack size, from bench.program_bench's children; and their fits."""
    from bench.harness import run_sizes
    from bench.program_bench import measure_program, prepare

    rows = run_sizes("bench.operator_sizing", __doc__.split("\n")[0], SHARD_SIZES, prepare, measure_program)
    if not rows:
        raise SystemExit(0)  # a child: it printed its row
    table = [
        {"sites": r["clusters"], "resources": r["resources"], "cpu_s": r["cpu_seconds"], "mib": r["peak_mib"]}
        for r in rows
    ]
    xs = [float(r["sites"]) for r in table]
    return table, Linear.fit(xs, [r["cpu_s"] for r in table]), Linear.fit(xs, [r["mib"] for r in table])


def main() -> None:
    table, cpu, mib = measured()
    assume = Assumptions()
    print("Measured: one stack's program under mocks (CPU seconds on this machine, peak MiB it adds)\n")
    print("| sites in the stack | resources | program CPU (s) | program peak (MiB) |")
    print("|---:|---:|---:|---:|")
    for r in table:
        print(f"| {int(r['sites'])} | {int(r['resources']):,} | {r['cpu_s']:.2f} | {r['mib']:.1f} |")
    print(
        f"\nfit: CPU = {cpu.intercept:.3f} + {cpu.slope:.4f} x sites s; memory = {mib.intercept:.1f} + "
        f"{mib.slope:.2f} x sites MiB"
    )
    print(f"assumed: {assume}\n")
    costs = [stack_cost(k, cpu, mib, assume) for k in SHARD_SIZES]
    print("Modelled reconcile per stack\n")
    print("| sites per stack | reconcile (s) | s per site | workspace memory (MiB) |")
    print("|---:|---:|---:|---:|")
    for c in costs:
        print(f"| {c.sites} | {c.seconds:.0f} | {c.seconds / c.sites:.1f} | {c.memory_mib:.0f} |")
    print("\nPer-site stacks at the default 25 concurrent reconciles (simulated)\n")
    print("| sites | resync (s) | utilisation | longest gap between reconciles (s) | first rollout (s) |")
    print("|---:|---:|---:|---:|---:|")
    for sites in FLEETS:
        for resync in (900, 3600):
            sim = simulate(sites, costs[0].seconds, 25, resync, 6 * resync + 2 * sites * costs[0].seconds / 25)
            print(
                f"| {sites:,} | {resync} | {sim.utilisation:.2f} | {sim.max_interval_s:,.0f} | {sim.rollout_s:,.0f} |"
            )
    print("\nRecommended (smallest blast radius under 70% utilisation)\n")
    print(
        "| sites | sites per stack | Stacks per operator | operators | concurrency | resync (s) | utilisation "
        "| longest gap (s) | rollout of a commit (s) | workspace memory (MiB) |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for sites in FLEETS:
        rec = recommend(sites, costs)
        print(
            f"| {sites:,} | {rec.shard} | {rec.stacks:,} | {rec.operators} | {rec.concurrency} | {rec.resync_s} | "
            f"{rec.simulation.utilisation:.2f} | {rec.simulation.max_interval_s:,.0f} | "
            f"{rec.simulation.rollout_s:,.0f} | {rec.cost.memory_mib:.0f} |"
        )


if __name__ == "__main__":
    main()
