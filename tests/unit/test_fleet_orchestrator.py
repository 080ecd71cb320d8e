"""The fleet orchestrator against an engine double: waves, budgets, retries, evidence, outcomes."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stacks.fleet.engine import OpResult
from stacks.fleet.model import FleetReport, FleetStack, Operation, Outcome, RunOptions, Size, waves
from stacks.fleet.orchestrator import Orchestrator, shell_gate
from tests.fleet_double import Call, DoubleEngine


def fleet(n: int) -> list[FleetStack]:
    return [FleetStack(f"edge.site-{i:03d}", (f"site-{i:03d}",), f"d{i}") for i in range(n)]


def run(
    engine: DoubleEngine, stacks: list[FleetStack], op: Operation = Operation.UP, **options: Any
) -> tuple[FleetReport, list[float]]:
    """The fleet run under ``RunOptions(**options)``: its report, and the backoff sleeps it asked for."""
    sleeps: list[float] = []
    orch = Orchestrator(engine, RunOptions(**options), sleep=sleeps.append)
    results, summary = orch.run(op, stacks)
    report = FleetReport("r", op, "edge", results, summary)
    return report, sleeps


def by_outcome(report: FleetReport, outcome: Outcome) -> set[str]:
    return {s.name for s in report.stacks if s.outcome is outcome}


# ------------------------------------------------------------------------------------------- examples


def test_all_succeed_with_evidence_for_every_stack() -> None:
    engine = DoubleEngine()
    report, _ = run(engine, fleet(5), parallel=2)
    assert report.exit_code == 0
    assert all(s.outcome is Outcome.SUCCEEDED and s.attempts == 1 for s in report.stacks)
    for stack in fleet(5):
        ops = [(c.op, bool(c.kwargs.get("expect_no_changes"))) for c in engine.calls if c.stack == stack.name]
        # the update, then the convergence preview: success is this run's own evidence
        assert ops == [("up", False), ("preview", True)]
    assert report.stacks[0].changes.create == 1


def test_perpetual_diff_fails_the_stack() -> None:
    engine = DoubleEngine(perpetual={"edge.site-002"})
    report, _ = run(engine, fleet(4), max_failures="5")
    assert by_outcome(report, Outcome.FAILED) == {"edge.site-002"}
    failed = next(s for s in report.stacks if s.name == "edge.site-002")
    assert failed.error_kind == "not-converged" and "did not converge" in (failed.error or "")
    assert report.exit_code == 1


def test_unreachable_is_its_own_outcome_and_budget() -> None:
    engine = DoubleEngine(unreachable={"edge.site-001"}, fail={"edge.site-003"})
    report, _ = run(engine, fleet(6), max_failures="1", max_unreachable="1")
    assert by_outcome(report, Outcome.UNREACHABLE) == {"edge.site-001"}
    assert by_outcome(report, Outcome.FAILED) == {"edge.site-003"}
    assert not report.summary.budget_stopped and report.exit_code == 1


def test_timeout_records_unreachable() -> None:
    engine = DoubleEngine(hang={"edge.site-000"})
    report, _ = run(engine, fleet(2), timeout=0.01, canary=0, max_unreachable="1")
    assert report.outcome("edge.site-000") is Outcome.UNREACHABLE
    assert report.outcome("edge.site-001") is Outcome.SUCCEEDED


def test_failing_canary_stops_the_run_before_the_next_wave() -> None:
    engine = DoubleEngine(fail={"edge.site-000"})
    report, _ = run(engine, fleet(10))  # defaults for up: canary 1, no failure tolerated
    assert report.outcome("edge.site-000") is Outcome.FAILED
    assert by_outcome(report, Outcome.SKIPPED) == {s.name for s in fleet(10)[1:]}
    assert {c.stack for c in engine.calls} == {"edge.site-000"}
    assert report.summary.budget_stopped and report.summary.stopped_by == "max-failures"
    assert report.exit_code == 2


def test_unreachable_budget_stops_the_run() -> None:
    engine = DoubleEngine(unreachable={f"edge.site-{i:03d}" for i in range(3)})
    report, _ = run(engine, fleet(10), canary=0, parallel=1, max_unreachable="2")
    assert report.summary.stopped_by == "max-unreachable" and report.exit_code == 2
    assert len(by_outcome(report, Outcome.UNREACHABLE)) == 3
    assert len(by_outcome(report, Outcome.SKIPPED)) == 7


def test_concurrent_update_is_retried_with_backoff_and_counted() -> None:
    engine = DoubleEngine(locked={"edge.site-000": 2})
    report, sleeps = run(engine, fleet(1), backoff=3)
    assert report.outcome("edge.site-000") is Outcome.SUCCEEDED
    assert report.stacks[0].attempts == 3
    assert sleeps == [3, 6]  # exponential backoff


def test_concurrent_update_exhausts_attempts_and_is_never_cancelled() -> None:
    engine = DoubleEngine(locked={"edge.site-000": 10})
    report, _ = run(engine, fleet(1), attempts=3, backoff=0)
    result = report.stacks[0]
    assert result.outcome is Outcome.FAILED and result.attempts == 3
    assert result.error_kind == "concurrent-update" and "not cancelled" in (result.error or "")
    assert [c.op for c in engine.calls] == ["up"] * 3
    assert not hasattr(engine, "cancel")  # the protocol has no way to cancel someone else's update


def test_gate_runs_per_cluster_with_substitution(tmp_path: Path) -> None:
    log = tmp_path / "gate.log"
    stacks = [FleetStack("edge.shard-1-of-2", ("a b", "c"), "d")]
    report, _ = run(DoubleEngine(), stacks, gate=f"echo {{stack}}/{{cluster}} >> {log}")
    assert report.exit_code == 0
    assert log.read_text().split("\n")[:2] == ["edge.shard-1-of-2/a b", "edge.shard-1-of-2/c"]


def test_failing_gate_fails_the_stack(tmp_path: Path) -> None:
    stacks = fleet(2)
    gate = "test {cluster} != site-001 || { echo rollout not ready >&2; exit 4; }"
    report, _ = run(DoubleEngine(), stacks, gate=gate, canary=0, max_failures="1")
    bad = next(s for s in report.stacks if s.name == "edge.site-001")
    assert bad.outcome is Outcome.FAILED and bad.error_kind == "gate"
    assert "exited 4" in (bad.error or "") and "rollout not ready" in (bad.error or "")
    assert report.outcome("edge.site-000") is Outcome.SUCCEEDED


def test_shell_gate_quotes_substitutions(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    stack = FleetStack(f"x; touch {marker}", (f"$(touch {marker})",))
    assert shell_gate("true {stack} {cluster}", stack, None) is None
    assert not marker.exists()


def test_engine_bug_still_gives_one_outcome() -> None:
    class Broken(DoubleEngine):
        def up(
            self, stack: str, *, refresh: bool = False, targets: Iterable[str] = (), timeout: float | None = None
        ) -> OpResult:
            raise RuntimeError("summary event never found")

    report, _ = run(Broken(), fleet(2), canary=0, max_failures="5")
    assert all(s.outcome is Outcome.FAILED and "summary event" in (s.error or "") for s in report.stacks)


def test_soak_between_waves_only() -> None:
    report, sleeps = run(DoubleEngine(), fleet(5), canary=1, wave_size="2", soak=30)
    assert sleeps == [30, 30]  # waves: 1 | 2 | 2 -> two soaks
    assert [s.wave for s in report.stacks] == [1, 2, 2, 3, 3]


def test_read_only_operations_look_at_every_stack() -> None:
    engine = DoubleEngine(unreachable={f"edge.site-{i:03d}" for i in range(4)})
    report, _ = run(engine, fleet(5), Operation.PREVIEW)
    assert not report.summary.budget_stopped
    assert len(by_outcome(report, Outcome.UNREACHABLE)) == 4 and report.exit_code == 1


def test_sizes() -> None:
    assert Size.parse("10%").budget(25) == 2 and Size.parse("10%").wave(25) == 3
    assert Size.parse("3").budget(100) == 3 and Size.parse(0).budget(5) == 0
    for bad in ("x", "1.5", "-1", "150%"):
        with pytest.raises(ValueError):
            Size.parse(bad)
    assert [len(w) for w in waves(fleet(10), 2, Size(50, True))] == [2, 5, 3]


# ----------------------------------------------------------------------------------------- properties

scripts = st.fixed_dictionaries(
    {
        "n": st.integers(1, 30),
        "parallel": st.integers(1, 6),
        "canary": st.integers(0, 4),
        "wave_size": st.sampled_from(["1", "3", "7", "20%", "50%", "100%"]),
        "max_failures": st.sampled_from(["0", "1", "3", "10%", "50%"]),
        "max_unreachable": st.sampled_from(["0", "2", "25%", "100%"]),
        "fail": st.sets(st.integers(0, 29), max_size=12),
        "unreachable": st.sets(st.integers(0, 29), max_size=12),
        "locked": st.dictionaries(st.integers(0, 29), st.integers(1, 4), max_size=6),
        "perpetual": st.sets(st.integers(0, 29), max_size=4),
        "op": st.sampled_from([Operation.UP, Operation.DESTROY, Operation.PREVIEW, Operation.REFRESH]),
    }
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scripts)
def test_orchestrator_invariants(s: dict[str, Any]) -> None:
    stacks = fleet(s["n"])

    def name(i: int) -> str:
        return f"edge.site-{i:03d}"

    engine = DoubleEngine(
        latency=lambda stack, op: 0.0005 * (hash((stack, op)) % 3),
        fail={name(i) for i in s["fail"]},
        unreachable={name(i) for i in s["unreachable"]},
        locked={name(i): n for i, n in s["locked"].items()},
        perpetual={name(i) for i in s["perpetual"]},
    )
    options = RunOptions(
        parallel=s["parallel"],
        canary=s["canary"],
        wave_size=Size.parse(s["wave_size"]),
        max_failures=Size.parse(s["max_failures"]),
        max_unreachable=Size.parse(s["max_unreachable"]),
        attempts=3,
        backoff=0,
    )
    orch = Orchestrator(engine, options, sleep=lambda _: None)
    results, summary = orch.run(s["op"], stacks)

    # exactly one outcome per stack, in selection order
    assert [r.name for r in results] == [st.name for st in stacks]
    assert sum(summary.counts.values()) == len(stacks)
    # no two operations at once on one stack; never more than K in flight
    assert engine.violations == []
    assert engine.peak <= s["parallel"]
    # budgets hold, up to the operations in flight when they were exceeded
    failed = sum(r.outcome is Outcome.FAILED for r in results)
    unreachable = sum(r.outcome is Outcome.UNREACHABLE for r in results)
    resolved = options.resolved(s["op"])
    assert resolved.max_failures is not None and resolved.max_unreachable is not None  # resolved() fills both
    f_limit = Size.parse(resolved.max_failures).budget(len(stacks))
    u_limit = Size.parse(resolved.max_unreachable).budget(len(stacks))
    assert failed <= f_limit + s["parallel"]
    assert unreachable <= u_limit + s["parallel"]
    if not summary.budget_stopped:
        assert failed <= f_limit and unreachable <= u_limit
        assert summary.counts[Outcome.SKIPPED] == 0
    else:
        assert failed > f_limit or unreachable > u_limit
    # skipped stacks were never touched
    touched = {c.stack for c in engine.calls}
    assert all((r.outcome is Outcome.SKIPPED) == (r.name not in touched) for r in results)
    # waves never overlap: every call of wave w ends before any call of wave w+1 starts
    wave_of = {r.name: r.wave for r in results}
    by_wave: dict[int, list[Call]] = {}
    for call in engine.calls:
        by_wave.setdefault(wave_of[call.stack], []).append(call)
    numbers = sorted(by_wave)
    for a, b in itertools.pairwise(numbers):
        assert max(c.end for c in by_wave[a]) < min(c.start for c in by_wave[b])
    # attempts: one per try of the operation, retries included
    for r in results:
        if r.outcome is not Outcome.SKIPPED:
            assert 1 <= r.attempts <= 3 * 2
