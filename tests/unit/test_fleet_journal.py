"""The run journal and --resume: never re-run a stack that succeeded with the same program and config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stacks.fleet.journal import ResumeError, find_run, read_run
from stacks.fleet.model import FleetStack, Operation, Outcome, RunOptions
from stacks.fleet.runner import run_fleet
from tests.fleet_double import DoubleEngine


def fleet(n: int, digest: str = "v1") -> list[FleetStack]:
    return [FleetStack(f"edge.s{i}", (f"s{i}",), f"{digest}-{i}") for i in range(n)]


OPTS = RunOptions(canary=0, max_failures="100%", max_unreachable="100%", backoff=0)


def test_journal_lines(tmp_path: Path) -> None:
    engine = DoubleEngine(fail={"edge.s1"}, locked={"edge.s2": 1})
    report = run_fleet(Operation.UP, "edge", fleet(3), engine, OPTS, state_dir=tmp_path)
    lines = [json.loads(x) for x in Path(report.journal or "").read_text().splitlines()]
    assert lines[0]["type"] == "run" and lines[0]["operation"] == "up" and lines[0]["environment"] == "edge"
    assert lines[-1]["type"] == "summary" and lines[-1]["counts"]["failed"] == 1
    stacks = {x["stack"]: x for x in lines if x["type"] == "stack"}
    assert set(stacks) == {"edge.s0", "edge.s1", "edge.s2"}
    assert stacks["edge.s2"]["attempts"] == 2 and stacks["edge.s2"]["outcome"] == "succeeded"
    assert stacks["edge.s0"]["digest"] == "v1-0" and stacks["edge.s0"]["changes"]["create"] == 1
    assert {"wave", "duration_s", "error"} <= set(stacks["edge.s1"])
    assert [x["stack"] for x in lines if x["type"] == "attempt"] == ["edge.s2"]
    # the engine prepared every stack once, before fan-out, creating them because this is an up
    assert engine.prepared == [(("edge.s0", "edge.s1", "edge.s2"), True)]


def test_resume_skips_only_what_succeeded_with_the_same_digest(tmp_path: Path) -> None:
    first = run_fleet(Operation.UP, "edge", fleet(4), DoubleEngine(fail={"edge.s1"}), OPTS, state_dir=tmp_path)
    stacks = fleet(4)
    stacks[2] = FleetStack("edge.s2", ("s2",), "v2-2")  # its config changed since
    engine = DoubleEngine()
    second = run_fleet(Operation.UP, "edge", stacks, engine, OPTS, state_dir=tmp_path, resume="last")
    assert second.resumed_from == first.run_id
    assert {c.stack for c in engine.calls} == {"edge.s1", "edge.s2"}
    assert second.outcome("edge.s0") is Outcome.NOT_RUN and second.exit_code == 0
    assert f"succeeded in run {first.run_id}" in (second.stacks[0].note or "")
    # resuming the resumed run still knows s0 succeeded (in the first run)
    engine = DoubleEngine()
    third = run_fleet(Operation.UP, "edge", stacks, engine, OPTS, state_dir=tmp_path, resume=second.run_id)
    assert engine.calls == [] and third.summary.counts[Outcome.NOT_RUN] == 4
    assert read_run(Path(third.journal or "")).succeeded["edge.s0"] == ("v1-0", first.run_id)


def test_resume_refuses_another_operation_or_environment(tmp_path: Path) -> None:
    run = run_fleet(Operation.UP, "edge", fleet(1), DoubleEngine(), OPTS, state_dir=tmp_path)
    with pytest.raises(ResumeError, match="was a up of environment edge"):
        find_run(tmp_path, run.run_id, "edge", Operation.DESTROY)
    with pytest.raises(ResumeError, match="no earlier up run of environment prod"):
        find_run(tmp_path, "last", "prod", Operation.UP)
    with pytest.raises(ResumeError, match="no run 'nope'"):
        find_run(tmp_path, "nope", "edge", Operation.UP)


def test_torn_journal_still_resumes(tmp_path: Path) -> None:
    run = run_fleet(Operation.UP, "edge", fleet(2), DoubleEngine(), OPTS, state_dir=tmp_path)
    path = Path(run.journal or "")
    text = path.read_text().splitlines()
    path.write_text("\n".join(text[:-1]) + '\n{"type": "stack", "sta')  # killed mid-write, no summary
    assert set(read_run(path).succeeded) == {"edge.s0", "edge.s1"}


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(
    n=st.integers(1, 12),
    failing=st.sets(st.integers(0, 11)),
    changed=st.sets(st.integers(0, 11)),
    rounds=st.integers(1, 3),
)
def test_resume_never_reruns_a_succeeded_stack_with_the_same_digest(
    tmp_path_factory: pytest.TempPathFactory, n: int, failing: set[int], changed: set[int], rounds: int
) -> None:
    state = tmp_path_factory.mktemp("runs")
    stacks = fleet(n)
    succeeded: dict[str, str] = {}
    resume = None
    for r in range(rounds):
        if r == rounds - 1:  # the last round changes some stacks' program or config
            stacks = [
                FleetStack(s.name, s.clusters, s.digest + "x") if i in changed else s for i, s in enumerate(stacks)
            ]
        engine = DoubleEngine(fail={f"edge.s{i}" for i in failing if (i + r) % 2 == 0})
        report = run_fleet(Operation.UP, "edge", stacks, engine, OPTS, state_dir=state, resume=resume)
        ran = {c.stack for c in engine.calls}
        for s in stacks:
            if succeeded.get(s.name) == s.digest:
                assert s.name not in ran and report.outcome(s.name) is Outcome.NOT_RUN
            else:
                assert s.name in ran
        for result in report.stacks:
            if result.outcome is Outcome.SUCCEEDED:
                succeeded[result.name] = result.digest
        resume = "last"
