"""The Automation API adapter against a fake ``pulumi`` on PATH: the real SDK shells out to it."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from stacks.fleet.engine import ConcurrentUpdate, NotConverged, OperationFailed, StackUnreachable
from stacks.fleet.local import LocalEngine, PulumiMissing
from stacks.fleet.model import FleetStack, Operation, Outcome, RunOptions
from stacks.fleet.runner import run_fleet

ROOT = Path(__file__).resolve().parents[2]
FAKE = ROOT / "tests" / "fake_pulumi.py"


class Fake:
    def __init__(self, state: Path) -> None:
        self.state = state

    def scenario(self, **stacks: dict[str, Any]) -> None:
        (self.state / "scenario.json").write_text(json.dumps({k.replace("_", "."): v for k, v in stacks.items()}))

    def calls(self) -> list[dict[str, Any]]:
        path = self.state / "calls.jsonl"
        return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []

    def commands(self, stack: str | None = None) -> list[str]:
        out = []
        for call in self.calls():
            args = call["args"]
            if stack is None or ("--stack" in args and args[args.index("--stack") + 1] == stack):
                out.append(" ".join(a for a in args[:2] if not a.startswith("-")))
        return out


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Fake:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "pulumi"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE}" "$@"\n')
    wrapper.chmod(0o755)
    state = tmp_path / "state"
    state.mkdir()
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_PULUMI_STATE", str(state))
    return Fake(state)


def engine() -> LocalEngine:
    return LocalEngine(ROOT, interrupt_grace=5)


def test_up_then_converged_preview_through_the_sdk(fake: Fake, tmp_path: Path) -> None:
    stacks = [FleetStack("edge.a", ("a",), "d1"), FleetStack("edge.b", ("b",), "d2")]
    opts = RunOptions(parallel=2, canary=0)
    report = run_fleet(Operation.UP, "edge", stacks, engine(), opts, state_dir=tmp_path / "runs")
    assert report.exit_code == 0, report.stacks
    assert report.stacks[0].changes.create == 7 and report.stacks[0].changes.same == 0
    calls = fake.commands()
    # plugins once, stacks listed and created one at a time, all before the first operation
    first_op = min(i for i, c in enumerate(calls) if c in ("up", "preview"))
    assert calls[:first_op].count("install") == 1
    assert sorted(c for c in calls[:first_op] if c == "stack init") == ["stack init"] * 2
    assert "install" not in calls[first_op:] and "stack init" not in calls[first_op:]
    # never `stack select`, never `cancel`, and every operation names its stack
    assert "stack select" not in calls and "cancel" not in calls
    for call in fake.calls():
        if call["args"][0] in ("up", "preview", "refresh", "destroy"):
            assert "--stack" in call["args"] and "--event-log" in call["args"]
            assert call["cwd"] == str(ROOT)
    assert fake.commands("edge.a") == ["up", "stack output", "stack output", "stack history", "preview"]
    preview = next(c["args"] for c in fake.calls() if c["args"][0] == "preview")
    assert "--expect-no-changes" in preview
    # a second run sees nothing to create: the stacks already exist
    again = run_fleet(Operation.UP, "edge", stacks, engine(), opts, state_dir=tmp_path / "runs")
    assert again.exit_code == 0 and again.stacks[0].changes.same == 7


def test_errors_are_classified(fake: Fake, tmp_path: Path) -> None:
    eng = engine()
    eng.prepare(["edge.f", "edge.u", "edge.l", "edge.p"], create=True)
    fake.scenario(edge_f={"up": "fail"}, edge_u={"up": "unreachable"}, edge_l={"locked": 1}, edge_p={"perpetual": True})
    with pytest.raises(OperationFailed) as failed:
        eng.up("edge.f")
    assert "release envoy-gateway failed" in failed.value.message and failed.value.kind == "failed"
    with pytest.raises(StackUnreachable, match="no route to host"):
        eng.up("edge.u")
    with pytest.raises(ConcurrentUpdate, match="locked"):
        eng.up("edge.l")
    assert eng.up("edge.l").changes.create == 7  # the lock was released
    eng.up("edge.p")
    with pytest.raises(NotConverged) as nc:
        eng.preview("edge.p", expect_no_changes=True)
    assert nc.value.result is not None and nc.value.result.changes.update == 1


def test_timeout_interrupts_gracefully_and_is_unreachable(fake: Fake, tmp_path: Path) -> None:
    eng = engine()
    eng.prepare(["edge.h"], create=True)
    fake.scenario(edge_h={"up": "hang"})
    with pytest.raises(StackUnreachable, match="interrupted"):
        eng.up("edge.h", timeout=1.5)
    assert any(c.get("signal") == "SIGINT" for c in fake.calls())  # Ctrl-C, not a kill
    assert not (fake.state / "edge.h.lock").exists()  # so the lock was released
    assert "cancel" not in fake.commands()


def test_preview_of_a_missing_stack_fails_without_creating_it(fake: Fake, tmp_path: Path) -> None:
    stacks = [FleetStack("edge.new", ("new",), "d")]
    report = run_fleet(Operation.PREVIEW, "edge", stacks, engine(), RunOptions(), state_dir=tmp_path)
    assert report.outcome("edge.new") is Outcome.FAILED and "does not exist" in (report.stacks[0].error or "")
    assert "stack init" not in fake.commands()
    destroyed = run_fleet(Operation.DESTROY, "edge", stacks, engine(), RunOptions(), state_dir=tmp_path)
    assert destroyed.outcome("edge.new") is Outcome.SUCCEEDED  # nothing to destroy


def test_drift_sees_live_and_code_changes_with_property_names_only(fake: Fake) -> None:
    eng = engine()
    eng.prepare(["edge.d"], create=True)
    eng.up("edge.d")
    pack = "urn:pulumi:edge.d::strata::strata:packs:PackStack$strata:packs:Pack"
    chart = f"{pack}$kubernetes:helm.sh/v4:Chart::d-envoy-gateway"
    ns = "urn:pulumi:edge.d::strata::strata:packs:PackStack$kubernetes:core/v1:Namespace::d-ns-envoy-gateway"
    fake.scenario(edge_d={"live_drift": [ns], "code_drift": [chart]})
    live = eng.preview_refresh("edge.d")
    assert [(c.urn, c.op, c.diffs) for c in live.resources] == [(ns, "update", ("spec",))]
    code = eng.preview("edge.d")
    assert [(c.urn, c.op) for c in code.resources] == [(chart, "update")]
    assert code.changes.update == 1 and code.changes.same == 6
    # healing targets the drifted resources, with refresh
    eng.up("edge.d", refresh=True, targets=[ns])
    up = [c["args"] for c in fake.calls() if c["args"][0] == "up"][-1]
    assert "--refresh" in up and "--target-dependents" in up and up[up.index("--target") + 1] == ns
    assert eng.outputs("edge.d")["clusters"] == "[secret]"


def test_without_the_cli_a_clear_message(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(PulumiMissing, match=r"get\.pulumi\.com"):
        LocalEngine(ROOT)
