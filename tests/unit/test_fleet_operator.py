"""The operator engine under the same orchestrator as the local one, against a simulated operator: success,
failure, a stale status from an older commit, a stack that never reports, and drift read from the status."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from stacks.cli import app
from stacks.fleet.model import FleetStack, Operation, Outcome, RunOptions
from stacks.fleet.operator import OperatorEngine, verdict
from stacks.fleet.runner import run_fleet
from stacks.operator.objects import OperatorStack, operator_stacks
from tests.fake_kubectl import merge
from tests.unit.test_operator_objects import config, edit, few_sites, pinned_commit, planned  # noqa: F401 - fixture

OLD = "1" * 40
runner = CliRunner()


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class SimulatedOperator:
    """The Kubernetes API of a management cluster whose operator reconciles Stacks by a per-stack script.

    Every Stack starts deployed at ``OLD`` (generation 1, a success). A patch that changes the spec bumps the
    generation; each later read advances the simulated operator by one step: ``succeed`` reports success for
    the new spec after ``delay`` reads, ``fail`` a failure, ``stale`` keeps showing the old success for
    ``delay`` reads (then succeeds, or never with delay None), ``silent`` never reports anything new.
    """

    def __init__(self, stacks: list[OperatorStack], script: Mapping[str, tuple[str, int | None]]) -> None:
        self.objects: dict[str, dict[str, Any]] = {}
        for s in stacks:
            obj = copy.deepcopy(dict(s.object))
            obj["spec"]["commit"] = OLD
            obj["metadata"]["generation"] = 1
            obj["status"] = {"lastUpdate": _update("succeeded", 1, OLD)}
            self.objects[s.object_name] = obj
        self.script = script
        self.reads: dict[str, int] = {}
        self.patches: list[str] = []
        self.deleted: list[str] = []

    def get_stack(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        obj = self.objects.get(name)
        if obj is None:
            return None
        stack = obj["metadata"]["annotations"]["strata.dev/stack"]
        generation = obj["metadata"]["generation"]
        if generation > 1:
            self.reads[name] = self.reads.get(name, 0) + 1
            mode, delay = self.script.get(stack, ("succeed", 1))
            due = delay is not None and self.reads[name] >= delay
            commit = obj["spec"]["commit"]
            if mode == "succeed" and due:
                obj["status"] = {"lastUpdate": _update("succeeded", generation, commit)}
            elif mode == "fail" and due:
                obj["status"] = {
                    "lastUpdate": _update("failed", generation, commit, OLD, "error: helm install timed out")
                }
            elif mode == "stale" and due:
                obj["status"] = {"lastUpdate": _update("succeeded", generation, commit)}
        return copy.deepcopy(obj)

    def patch_stack(self, namespace: str, name: str, patch: Mapping[str, Any]) -> Mapping[str, Any]:
        obj = self.objects[name]
        self.patches.append(name)
        merged = merge(obj, patch)
        if merged["spec"] != obj["spec"]:
            merged["metadata"]["generation"] += 1
        self.objects[name] = merged
        return copy.deepcopy(merged)

    def delete_stack(self, namespace: str, name: str) -> None:
        self.deleted.append(name)
        del self.objects[name]


def _update(
    state: str, generation: int, commit: str, successful: str | None = None, message: str = ""
) -> dict[str, Any]:
    return {
        "state": state,
        "type": "up",
        "generation": generation,
        "lastAttemptedCommit": commit,
        "lastSuccessfulCommit": commit if state == "succeeded" else (successful or ""),
        "message": message,
    }


@pytest.fixture
def fleet(config: Path) -> tuple[list[OperatorStack], str]:  # noqa: F811 - the imported fixture
    few_sites(config, 8)
    result = planned(config)
    stacks = operator_stacks(result.environment, result.clusters)
    return stacks, pinned_commit(result)


def _run(
    stacks: list[OperatorStack],
    commit: str,
    api: SimulatedOperator,
    tmp_path: Path,
    operation: Operation = Operation.UP,
    **options: Any,
) -> Any:
    clock = Clock()
    engine = OperatorEngine(api, stacks, commit, poll=5.0, clock=clock, sleep=clock.sleep)
    fleet_stacks = [FleetStack(s.name, s.clusters) for s in stacks]
    opts = RunOptions(**{"parallel": 1, "timeout": 60.0, **options})
    return run_fleet(operation, "edge", fleet_stacks, engine, opts, state_dir=tmp_path, sleep=clock.sleep)


def test_success_advances_every_stack_to_the_target_commit_in_waves(fleet: Any, tmp_path: Path) -> None:
    stacks, commit = fleet
    api = SimulatedOperator(stacks, {})
    report = _run(stacks, commit, api, tmp_path, canary=1, wave_size=3)
    assert [s.outcome for s in report.stacks] == [Outcome.SUCCEEDED] * 8
    assert [s.wave for s in report.stacks] == [1, 2, 2, 2, 3, 3, 3, 4]
    assert all(o["spec"]["commit"] == commit for o in api.objects.values())
    assert api.patches == [s.object_name for s in stacks]  # in fleet order: the canary first
    assert report.exit_code == 0 and Path(report.journal).is_file()


def test_failure_is_the_operators_own_message_and_stops_the_rollout(fleet: Any, tmp_path: Path) -> None:
    stacks, commit = fleet
    api = SimulatedOperator(stacks, {stacks[0].name: ("fail", 2)})
    report = _run(stacks, commit, api, tmp_path)
    first = report.stacks[0]
    assert first.outcome is Outcome.FAILED and "helm install timed out" in (first.error or "")
    assert {s.outcome for s in report.stacks[1:]} == {Outcome.SKIPPED}
    assert report.summary.stopped_by == "max-failures" and int(report.exit_code) == 2
    assert all(o["spec"]["commit"] == OLD for o in list(api.objects.values())[1:])  # nothing else advanced


def test_a_stale_success_from_an_older_commit_is_never_taken_for_this_one(fleet: Any, tmp_path: Path) -> None:
    stacks, commit = fleet
    api = SimulatedOperator(stacks, {stacks[0].name: ("stale", None)})
    report = _run(stacks[:1], commit, api, tmp_path)
    assert report.stacks[0].outcome is Outcome.UNREACHABLE
    assert "no result for commit " + commit in (report.stacks[0].error or "")


def test_a_late_success_is_waited_for(fleet: Any, tmp_path: Path) -> None:
    stacks, commit = fleet
    api = SimulatedOperator(stacks, {stacks[0].name: ("stale", 5)})
    report = _run(stacks[:1], commit, api, tmp_path)
    assert report.stacks[0].outcome is Outcome.SUCCEEDED
    assert api.reads[stacks[0].object_name] >= 5


def test_a_stack_that_never_reports_is_unreachable_and_counts_against_that_budget(fleet: Any, tmp_path: Path) -> None:
    stacks, commit = fleet
    api = SimulatedOperator(stacks, {s.name: ("silent", None) for s in stacks[1:3]})
    report = _run(stacks, commit, api, tmp_path, max_unreachable=1, wave_size=2)
    outcomes = [s.outcome for s in report.stacks]
    assert outcomes[:3] == [Outcome.SUCCEEDED, Outcome.UNREACHABLE, Outcome.UNREACHABLE]
    assert report.summary.stopped_by == "max-unreachable"
    assert "reported no result" in (report.stacks[1].error or "")


def test_a_stack_object_nobody_registered_fails_with_how_to_register_it(fleet: Any, tmp_path: Path) -> None:
    stacks, commit = fleet
    api = SimulatedOperator(stacks, {})
    del api.objects[stacks[0].object_name]
    report = _run(stacks[:1], commit, api, tmp_path)
    assert report.stacks[0].outcome is Outcome.FAILED
    assert "no Stack strata-edge/" in (report.stacks[0].error or "") and "strata operator render" in (
        report.stacks[0].error or ""
    )


def test_drift_reads_undeployed_commits_from_the_status(fleet: Any, tmp_path: Path) -> None:
    stacks, commit = fleet
    api = SimulatedOperator(stacks, {})
    objects = list(api.objects.values())
    for obj in objects[:4]:
        obj["spec"]["commit"] = commit
    for obj in objects[:3]:
        obj["status"]["lastUpdate"] = _update("succeeded", 1, commit)
    objects[2]["spec"]["resyncFrequencySeconds"] = 60  # someone edited the object
    report = _run(stacks, commit, api, tmp_path, operation=Operation.DRIFT)
    drifted = {s.name: s.resources[0].diffs for s in report.stacks if s.resources}
    assert list(drifted) == [s.name for s in stacks[2:]]
    assert drifted[stacks[2].name] == ("resyncFrequencySeconds",)
    assert drifted[stacks[3].name] == ("commit",)  # the spec is at the target, the operator has not deployed it
    assert drifted[stacks[4].name] == ("commit",)
    assert all(r.source == "code" for s in report.stacks for r in s.resources)


@pytest.mark.parametrize(
    ("last", "expected"),
    [
        (None, "pending"),
        (_update("succeeded", 1, OLD), "pending"),  # an older generation: stale
        (_update("succeeded", 2, OLD), "pending"),  # this generation but another commit
        ({**_update("succeeded", 2, "c" * 40), "type": "preview"}, "pending"),  # a preview deploys nothing
        (_update("succeeded", 2, "c" * 40), "succeeded"),
        (_update("failed", 2, "c" * 40, OLD, "boom"), "failed"),
        (_update("failed", 2, OLD, OLD, "boom"), "pending"),  # a failure of another commit says nothing
    ],
)
def test_verdict(last: dict[str, Any] | None, expected: str) -> None:
    obj = {"status": {"lastUpdate": last}} if last else {}
    assert verdict(obj, "c" * 40, 2)[0] == expected


def test_cli_refuses_what_the_operator_does_not_do(config: Path) -> None:  # noqa: F811
    args = ["fleet", "drift", "--remediate", "--env", "edge", "--engine", "operator", "--yes"]
    result = runner.invoke(app, [*args, "--config-dir", str(config)])
    assert result.exit_code == 1 and "runs with --engine local" in result.output, result.output
    assert "strata fleet refresh --env edge --engine operator" in result.output
    result = runner.invoke(app, ["fleet", "up", "--env", "edge", "--engine", "helm", "--config-dir", str(config)])
    assert result.exit_code == 1 and "use local or operator" in result.output


def test_ctrl_c_stops_every_wait_and_records_each_stack(fleet: Any, tmp_path: Path) -> None:
    """The operator carries on without us; waiting out the timeout after Ctrl-C would hang the terminal."""
    import threading

    stacks, commit = fleet

    class Interrupting(SimulatedOperator):
        def get_stack(self, namespace: str, name: str) -> Mapping[str, Any] | None:
            if name == stacks[1].object_name and self.reads.get(name, 0) >= 3:
                raise KeyboardInterrupt  # arrives in the orchestrator's thread through the future
            return super().get_stack(namespace, name)

    api = Interrupting(stacks, {s.name: ("silent", None) for s in stacks})
    engine = OperatorEngine(api, stacks, commit, poll=0.01, default_timeout=600)
    opts = RunOptions(parallel=4, canary=0, wave_size="100%")
    done: list[Any] = []
    worker = threading.Thread(
        target=lambda: done.append(
            run_fleet(
                Operation.UP,
                "edge",
                [FleetStack(s.name, s.clusters) for s in stacks[:4]],
                engine,
                opts,
                state_dir=tmp_path,
            )
        )
    )
    worker.start()
    worker.join(timeout=60)
    assert not worker.is_alive(), "the run kept waiting after Ctrl-C"
    report = done[0]
    assert report.summary.stopped_by == "interrupted"
    waited = [s for s in report.stacks if s.name != stacks[1].name]
    assert all(s.outcome is Outcome.UNREACHABLE and "interrupted" in (s.error or "") for s in waited)


def test_drift_of_preview_only_stacks_is_unchecked_not_reported_clean(config: Path, tmp_path: Path) -> None:  # noqa: F811
    """The operator keeps no per-resource result of a preview: 'no drift' would be a claim nobody checked."""
    few_sites(config, 3)
    edit(
        config, "edge", drift={"os": "ignore", "kubernetes": "alert", "cni": "alert", "csi": "alert", "addon": "alert"}
    )
    result = planned(config)
    stacks = operator_stacks(result.environment, result.clusters)
    commit = pinned_commit(result)
    api = SimulatedOperator(stacks, {})
    report = _run(stacks, commit, api, tmp_path, operation=Operation.DRIFT)
    assert {s.outcome for s in report.stacks} == {Outcome.FAILED}
    assert "not recorded by the operator" in (report.stacks[0].error or "")
    assert f"--select name={stacks[0].clusters[0]}" in (report.stacks[0].error or "")
