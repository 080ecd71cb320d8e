"""The operator sizing model's arithmetic on cases small enough to work out by hand (no wall clock involved)."""

from __future__ import annotations

import pytest

from bench.operator_sizing import Assumptions, Linear, StackCost, recommend, simulate, stack_cost, utilisation


def test_without_contention_each_stack_is_reconciled_every_resync_plus_its_own_time() -> None:
    sim = simulate(stacks=3, seconds=10, concurrency=3, resync=100, horizon=11_000)
    assert sim.rollout_s == 10  # all three at once
    assert sim.max_interval_s == sim.mean_interval_s == 110  # due 100 s after finishing, then 10 s of work
    assert sim.utilisation == pytest.approx(utilisation(3, 10, 3, 100), rel=0.02)


def test_a_saturated_operator_serves_stacks_round_robin() -> None:
    # 4 stacks of 10 s, one worker, due again 5 s after finishing: the worker never rests.
    sim = simulate(stacks=4, seconds=10, concurrency=1, resync=5, horizon=400)
    assert sim.rollout_s == 40
    assert sim.max_interval_s == sim.mean_interval_s == 40  # each stack waits for the three others
    assert sim.utilisation == 1.0


def test_a_rollout_takes_ceil_stacks_over_concurrency_reconciles() -> None:
    assert simulate(stacks=5, seconds=10, concurrency=2, resync=1000, horizon=100).rollout_s == 30
    assert simulate(stacks=50, seconds=7, concurrency=25, resync=1000, horizon=100).rollout_s == 14


def test_stack_cost_adds_setup_program_on_the_workspace_cpu_and_engine_per_site() -> None:
    assume = Assumptions(workspace_setup_s=60, engine_per_site_s=10, cpu_factor=2, cli_mib=300)
    cost = stack_cost(20, Linear(1.0, 0.5), Linear(50.0, 2.0), assume)
    assert cost == StackCost(20, 60 + (1.0 + 0.5 * 20) * 2 + 10 * 20, 300 + 50 + 2 * 20)


def test_linear_fit_recovers_a_line() -> None:
    line = Linear.fit([1, 10, 50], [1.5 + 0.25 * x for x in (1, 10, 50)])
    assert line.intercept == pytest.approx(1.5) and line.slope == pytest.approx(0.25)
    with pytest.raises(ValueError):
        Linear.fit([3, 3], [1, 2])


def test_recommend_keeps_per_site_stacks_while_they_fit_and_shards_beyond() -> None:
    costs = [StackCost(1, 70, 400), StackCost(10, 170, 450), StackCost(20, 280, 500)]
    small = recommend(100, costs)
    assert (small.shard, small.stacks, small.resync_s, small.concurrency) == (1, 100, 900, 25)
    assert utilisation(100, 70, 25, 900) <= 0.7
    # 2,000 per-site stacks need 2,000 x 70 / 25 = 5,600 s of work per round: over 70% even at an hour's resync
    # and 50 at once; shards of 10 (200 Stacks of 170 s) fit at 1,800 s: 200 x 170 / (25 x 1,970) = 0.69.
    big = recommend(2_000, costs)
    assert (big.shard, big.stacks, big.concurrency, big.resync_s, big.operators) == (10, 200, 25, 1800, 1)
    assert big.simulation.rollout_s == 8 * 170  # 200 Stacks, 25 at a time
