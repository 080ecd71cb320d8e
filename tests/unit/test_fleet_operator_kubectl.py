"""`strata fleet ... --engine operator` end to end: the real CLI in a subprocess, the real kubectl adapter, and a
fake ``kubectl`` on PATH (tests/fake_kubectl.py) holding the Stack objects and simulating the operator.

Covers the rollout (canary, waves, budgets, journal, report), every way a stack can end (success, the
operator's failure, a stale status, a stack that never reports, a permission error, an unreachable API
server, no kubectl), refresh, destroy and drift on the operator, and that the management kubeconfig never
leaves its file: not on a command line, not in the output, not in the journal.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from stacks.operator.objects import operator_stacks
from tests.fake_kubectl import seed
from tests.unit.test_operator_objects import (  # noqa: F401 - fixture
    SSH_KEY,
    config,
    edit,
    few_sites,
    pinned_commit,
    planned,
)

ROOT = Path(__file__).resolve().parents[2]
FAKE = ROOT / "tests" / "fake_kubectl.py"
OLD = "1" * 40
TOKEN = "kubeconfig-token-9f3e1c77d2"
KUBECONFIG = f"""apiVersion: v1
kind: Config
clusters: [{{name: hub, cluster: {{server: "https://10.0.0.1:6443"}}}}]
users: [{{name: ci, user: {{token: {TOKEN}}}}}]
contexts: [{{name: hub, context: {{cluster: hub, user: ci}}}}]
current-context: hub
"""


class Operator:
    """The fake management cluster of one test: its state folder, the objects in it, and a CLI runner."""

    def __init__(self, tmp_path: Path, folder: Path, sites: int = 6) -> None:
        self.config = folder
        self.state = tmp_path / "kube"
        self.runs = tmp_path / "runs"
        self.bin = tmp_path / "bin"
        self.bin.mkdir()
        wrapper = self.bin / "kubectl"
        wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE}" "$@"\n')
        wrapper.chmod(0o755)
        few_sites(folder, sites)
        self.scenario: dict[str, Any] = {"token": TOKEN, "stacks": {}}

    def seed(self) -> None:
        result = planned(self.config)
        self.stacks = operator_stacks(result.environment, result.clusters)
        self.commit = pinned_commit(result)
        seed(self.state, [dict(s.object) for s in self.stacks], OLD)

    def script(self, index: int, **behaviour: Any) -> None:
        self.scenario["stacks"][self.stacks[index].object_name] = behaviour

    def obj(self, index: int) -> dict[str, Any] | None:
        s = self.stacks[index]
        path = self.state / "objects" / s.object["metadata"]["namespace"] / f"{s.object_name}.json"
        return json.loads(path.read_text()) if path.is_file() else None

    def stored(self, index: int) -> dict[str, Any]:
        """The stack's object, which the test expects the fake API server to hold."""
        obj = self.obj(index)
        assert obj is not None, f"the Stack object of {self.stacks[index].name} is gone"
        return obj

    def calls(self) -> list[dict[str, Any]]:
        path = self.state / "calls.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []

    def run(
        self, *args: str, path: str | None = None, kubeconfig: str | None = KUBECONFIG
    ) -> subprocess.CompletedProcess[str]:
        (self.state / "scenario.json").write_text(json.dumps(self.scenario))
        env = {
            **os.environ,
            "PATH": path if path is not None else f"{self.bin}{os.pathsep}{os.environ['PATH']}",
            "FAKE_KUBECTL_STATE": str(self.state),
            "EDGE_SSH_KEY": SSH_KEY,
            "STRATA_OPERATOR_POLL": "0.05",
            "PYTHONPATH": str(ROOT),
        }
        env.pop("KUBECONFIG", None)
        env.pop("MANAGEMENT_KUBECONFIG", None)
        if kubeconfig is not None:
            env["MANAGEMENT_KUBECONFIG"] = kubeconfig
        command = [sys.executable, "-m", "stacks.cli", "fleet", *args, "--env", "edge", "--engine", "operator"]
        command += ["--config-dir", str(self.config), "--state-dir", str(self.runs), "--json"]
        return subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env, timeout=300, check=False)


@pytest.fixture
def op(tmp_path: Path, config: Path) -> Operator:  # noqa: F811 - the imported fixture
    return Operator(tmp_path, config)


def _report(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert proc.stdout.strip(), proc.stderr
    report: dict[str, Any] = json.loads(proc.stdout)
    return report


def _by_name(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in report["stacks"]}


def _no_kubeconfig_leak(op: Operator, *texts: str) -> None:
    calls = op.calls()
    assert calls
    for call in calls:
        assert not any(TOKEN in a or "BEGIN" in a for a in call["args"]), call["args"]
        assert any(a.startswith("--kubeconfig=") for a in call["args"])
        assert TOKEN in (call["kubeconfig_text"] or "")  # kubectl read the management kubeconfig from a file
    for text in texts:
        assert TOKEN not in text
    for journal in op.runs.glob("*.jsonl"):
        assert TOKEN not in journal.read_text()
    assert not Path(calls[0]["kubeconfig"]).exists(), "the temporary kubeconfig outlived the command"


def test_rollout_in_waves_with_every_kind_of_stack_ending(op: Operator) -> None:
    op.seed()
    op.script(0, mode="succeed", delay=3)
    op.script(1, mode="fail", message="error: helm install of cilium timed out")
    op.script(2, mode="stale")
    op.script(3, mode="forbidden")
    op.script(4, mode="silent")
    # A field the environment no longer sets (the stack used to be preview-only) must go, not linger.
    path = op.state / "objects" / "strata-edge" / f"{op.stacks[5].object_name}.json"
    obj = json.loads(path.read_text())
    obj["spec"]["preview"] = True
    path.write_text(json.dumps(obj))

    proc = op.run(
        "up",
        "--yes",
        "--canary",
        "1",
        "--wave-size",
        "5",
        "--parallel",
        "5",
        "--max-failures",
        "5",
        "--max-unreachable",
        "5",
        "--timeout",
        "3",
    )
    report = _report(proc)
    stacks = _by_name(report)
    names = [s.name for s in op.stacks]
    assert [stacks[n]["wave"] for n in names] == [1, 2, 2, 2, 2, 2]
    outcomes = [stacks[n]["outcome"] for n in names]
    assert outcomes == ["succeeded", "failed", "unreachable", "failed", "unreachable", "succeeded"], proc.stderr
    assert "helm install of cilium timed out" in stacks[names[1]]["error"]
    assert f"no result for commit {op.commit}" in stacks[names[2]]["error"]
    assert f"succeeded at commit {OLD}) is for generation 1" in stacks[names[2]]["error"]  # the stale success
    assert "Forbidden" in stacks[names[3]]["error"] and "get, patch and delete" in stacks[names[3]]["error"]
    assert stacks[names[4]]["error_kind"] == "unreachable"
    assert report["exit_code"] == 1 and report["summary"]["budget_stopped"] is False
    assert all(op.stored(i)["spec"]["commit"] == op.commit for i in (0, 1, 2, 4, 5))
    assert "preview" not in op.stored(5)["spec"]
    journal = Path(report["journal"])
    assert journal.is_file() and len(journal.read_text().splitlines()) >= 6
    _no_kubeconfig_leak(op, proc.stdout, proc.stderr)


def test_a_failed_canary_stops_the_rollout_before_any_other_stack_moves(op: Operator) -> None:
    op.seed()
    op.script(0, mode="fail", message="error: the k3s API did not answer")
    report = _report(op.run("up", "--yes"))
    assert report["exit_code"] == 2 and report["summary"]["stopped_by"] == "max-failures"
    assert [s["outcome"] for s in report["stacks"]] == ["failed"] + ["skipped"] * 5
    assert [op.stored(i)["spec"]["commit"] for i in range(1, 6)] == [OLD] * 5
    patched = [c["args"] for c in op.calls() if "patch" in c["args"]]
    assert len(patched) == 1 and op.stacks[0].object_name in patched[0]


def test_an_unreachable_api_server_is_unreachable_not_failed(op: Operator) -> None:
    op.seed()
    op.scenario["api"] = "unreachable"
    report = _report(op.run("up", "--yes", "--max-unreachable", "0"))
    first = report["stacks"][0]
    assert first["outcome"] == "unreachable" and "Unable to connect to the server" in first["error"]
    assert report["summary"]["stopped_by"] == "max-unreachable" and report["exit_code"] == 2


def test_a_kubeconfig_the_server_refuses_fails_without_showing_it(op: Operator) -> None:
    op.seed()
    proc = op.run("up", "--yes", kubeconfig=KUBECONFIG.replace(TOKEN, "expired-" + TOKEN[::-1]))
    report = _report(proc)
    assert report["stacks"][0]["outcome"] == "failed" and "Unauthorized" in report["stacks"][0]["error"]
    assert TOKEN[::-1] not in proc.stdout + proc.stderr


def test_without_kubectl_one_line_says_how_to_install_it(op: Operator, tmp_path: Path) -> None:
    op.seed()
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = op.run("up", "--yes", path=f"{empty}{os.pathsep}{Path(sys.executable).parent}")
    assert proc.returncode == 1
    assert "kubectl, which is not on PATH" in proc.stderr and "Traceback" not in proc.stderr
    assert json.loads(proc.stdout)["errors"][0]["message"].startswith("--engine operator talks")
    assert not op.calls()


def test_an_unset_management_kubeconfig_says_what_the_user_must_do_for_the_command_run(op: Operator) -> None:
    """The user ran ``strata fleet drift``, not ``pulumi up``: the fix names that command and where the reference
    to the variable is set."""
    op.seed()
    proc = op.run("drift", kubeconfig=None)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    message = json.loads(proc.stdout)["errors"][0]["message"]
    assert "environment variable MANAGEMENT_KUBECONFIG is not set" in message
    assert "export MANAGEMENT_KUBECONFIG before running strata fleet drift --env edge --engine operator" in message
    assert "pulumi up" not in message
    where = 'Pulumi.management.yaml: config."strata:clusters"[0].kubeconfig, management cluster management/hub'
    assert where in message
    assert not op.calls()


def test_refresh_is_a_reconcile_request_answered_by_the_operator(op: Operator) -> None:
    op.seed()
    refused = op.run("refresh")
    assert refused.returncode == 1 and "--yes" in refused.stderr and not op.calls()
    op.script(2, mode="fail", message="error: refresh of store-3 failed: connection reset")
    report = _report(op.run("refresh", "--yes"))
    assert [s["outcome"] for s in report["stacks"]] == ["succeeded"] * 2 + ["failed"] + ["succeeded"] * 3
    for i in (0, 1, 3):
        obj = op.obj(i)
        assert obj is not None
        request = obj["metadata"]["annotations"]["pulumi.com/reconciliation-request"]
        assert obj["status"]["lastUpdate"]["reconcileRequest"] == request and request.startswith("strata-")
        assert obj["spec"]["commit"] == OLD  # a refresh never advances the commit
    assert "connection reset" in report["stacks"][2]["error"]


def test_destroy_in_production_is_refused_before_anything_changes(op: Operator) -> None:
    op.seed()
    report = _report(op.run("destroy", "--yes"))
    assert report["stacks"][0]["outcome"] == "failed" and "protected" in report["stacks"][0]["error"]
    assert not [c for c in op.calls() if {"patch", "delete"} & set(c["args"])]
    assert all(op.obj(i) is not None for i in range(6))


def test_destroy_sets_destroy_on_finalize_then_waits_for_the_operator(op: Operator) -> None:
    edit(op.config, "edge", production=False)
    op.seed()
    for i in range(6):  # deployed at the target commit: the environment's own state is what is destroyed
        path = op.state / "objects" / "strata-edge" / f"{op.stacks[i].object_name}.json"
        obj = json.loads(path.read_text())
        obj["spec"]["commit"] = obj["status"]["lastUpdate"]["lastSuccessfulCommit"] = op.commit
        path.write_text(json.dumps(obj))
    op.script(1, destroy="fail", message="error: deleting k3s node store-2: ssh: handshake failed")
    report = _report(op.run("destroy", "--yes", "--canary", "1", "--wave-size", "5", "--max-failures", "1"))
    outcomes = [s["outcome"] for s in report["stacks"]]
    assert outcomes == ["succeeded", "failed"] + ["succeeded"] * 4, report
    assert "handshake failed" in report["stacks"][1]["error"] and "keeps its finalizer" in report["stacks"][1]["error"]
    assert [op.obj(i) is None for i in range(6)] == [True, False, True, True, True, True]
    stuck = op.obj(1)
    assert stuck is not None and stuck["metadata"]["deletionTimestamp"] and stuck["spec"]["destroyOnFinalize"] is True
    assert not (op.state / "orphaned.jsonl").exists()  # nothing was deleted without its destroy
    for call in op.calls():
        if "delete" in call["args"]:
            assert "--wait=false" in call["args"]
    first = op.stacks[0].object_name
    verbs = [c["args"][c["args"].index("stacks.pulumi.com") - 1] for c in op.calls() if first in c["args"]]
    assert [v for v in verbs if v != "get"] == ["patch", "delete"]  # destroyOnFinalize first, then the delete


def test_destroy_of_a_stack_the_operator_has_not_deployed_at_the_target_is_refused(op: Operator) -> None:
    edit(op.config, "edge", production=False)
    op.seed()
    report = _report(op.run("destroy", "--yes"))
    first = report["stacks"][0]
    assert first["outcome"] == "failed" and "roll the environment out first" in first["error"]
    assert all(not op.stored(i)["spec"]["destroyOnFinalize"] for i in range(6))


def test_drift_reads_undeployed_code_and_failed_reconciles(op: Operator) -> None:
    op.seed()
    for i in range(3):
        path = op.state / "objects" / "strata-edge" / f"{op.stacks[i].object_name}.json"
        obj = json.loads(path.read_text())
        obj["spec"]["commit"] = obj["status"]["lastUpdate"]["lastSuccessfulCommit"] = op.commit
        if i == 1:
            obj["status"]["lastUpdate"].update(state="failed", message="error: refresh failed: dial tcp", failures=3)
        path.write_text(json.dumps(obj))
    report = _report(op.run("drift"))
    stacks = report["stacks"]
    assert [s["outcome"] for s in stacks] == ["succeeded", "failed"] + ["succeeded"] * 4
    assert "refresh failed" in stacks[1]["error"]
    drift = report["drift"]
    assert {r["stack"] for r in drift["resources"]} == {s.name for s in op.stacks[3:]}
    assert {r["source"] for r in drift["resources"]} == {"code"} and drift["alert"] == 3
    assert report["exit_code"] == 3 and not [c for c in op.calls() if {"patch", "delete"} & set(c["args"])]
