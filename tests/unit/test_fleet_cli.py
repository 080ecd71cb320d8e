"""`strata fleet` end to end against the fake pulumi: JSON in step with the docs, drift and exit codes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from stacks.cli import app
from tests.unit.test_fleet_local import FAKE, Fake

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Fake:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "pulumi").write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE}" "$@"\n')
    (bin_dir / "pulumi").chmod(0o755)
    (tmp_path / "state").mkdir()
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_PULUMI_STATE", str(tmp_path / "state"))
    return Fake(tmp_path / "state")


def fleet(tmp_path: Path, *args: str) -> tuple[int, dict[str, Any]]:
    result = runner.invoke(app, ["fleet", *args, "--state-dir", str(tmp_path / "runs"), "--json"])
    return result.exit_code, json.loads(result.stdout.strip().splitlines()[-1])


def documented_keys(doc: str) -> set[str]:
    text = (ROOT / "docs" / doc).read_text()
    return set(re.findall(r'"([a-z_]+)":', text))


def keys(value: object) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in keys(v)}
    return set()


SITE = "eu-west-fr-00001"
STACK = f"edge.{SITE}"
P = f"urn:pulumi:{STACK}::strata::"
CHART = f"{P}strata:packs:PackStack$strata:packs:Pack$kubernetes:helm.sh/v4:Chart::{SITE}-envoy-gateway"
NAMESPACE = f"{P}strata:packs:PackStack$kubernetes:core/v1:Namespace::{SITE}-ns-cert-manager"
K3S = f"{P}strata:clusters:EdgeCluster$command:remote:Command::{SITE}-k3s-install"
OS = f"{P}strata:clusters:EdgeCluster$strata:edge:NodePool::{SITE}-nodes"
RESOURCES = [CHART, NAMESPACE, K3S, OS]


def test_up_json_matches_the_documented_schema(fake: Fake, tmp_path: Path) -> None:
    code, doc = fleet(tmp_path, "up", "--env", "local", "--yes")
    assert code == 0, doc
    assert doc["schema"] == "strata.fleet/v1" and doc["operation"] == "up" and doc["exit_code"] == 0
    assert [s["name"] for s in doc["stacks"]] == ["local"] and doc["stacks"][0]["outcome"] == "succeeded"
    missing = keys(doc) - documented_keys("fleet-json.md")
    assert not missing, f"undocumented keys in docs/fleet-json.md: {missing}"
    journal = Path(doc["journal"])
    assert journal.is_file() and journal.parent == tmp_path / "runs"
    # resume: nothing left to do
    code, again = fleet(tmp_path, "up", "--env", "local", "--yes", "--resume", "last")
    assert code == 0 and again["stacks"][0]["outcome"] == "not_run" and again["resumed_from"] == doc["run_id"]


def test_up_needs_yes_off_a_terminal(fake: Fake, tmp_path: Path) -> None:
    code, doc = fleet(tmp_path, "up", "--env", "local")
    assert code == 1 and "--yes" in doc["errors"][0]["message"]
    assert fake.calls() == []


def test_drift_report_policy_and_remediation(fake: Fake, tmp_path: Path) -> None:
    args = ("--env", "edge", "--select", f"name={SITE}")
    assert fleet(tmp_path, "up", *args, "--yes")[0] == 0
    fake.scenario(**{STACK.replace(".", "_"): {"resources": RESOURCES}})
    assert fleet(tmp_path, "up", *args, "--yes")[0] == 0
    fake.scenario(
        **{STACK.replace(".", "_"): {"resources": RESOURCES, "live_drift": [NAMESPACE, K3S, OS], "code_drift": [CHART]}}
    )
    code, doc = fleet(tmp_path, "drift", *args)
    drift = doc["drift"]
    assert code == 3, doc  # kubernetes is an alert layer on edge
    where = {(r["pack"], r["layer"], r["source"], r["action"]) for r in drift["resources"]}
    assert where == {
        ("envoy-gateway", "addon", "code", "heal"),
        ("cert-manager", "addon", "live", "heal"),
        ("k3s", "kubernetes", "live", "alert"),
        ("ubuntu", "os", "live", "ignore"),
    }
    assert drift["by_layer"]["addon"] == {"resources": 2, "stacks": 1, "actions": {"heal": 2}}
    assert drift["alert"] == 1 and drift["by_stack"][STACK]["resources"] == 4
    assert not keys(drift) - documented_keys("drift-json.md") - {*drift["by_layer"], *drift["by_pack"], STACK}
    # neither preview takes a lock: no up/refresh/destroy ran
    writes = [c["args"] for c in fake.calls() if c["args"][0] in ("up", "refresh", "destroy")]
    assert [a[0] for a in writes if "--preview-only" not in a] == ["up", "up"]

    code, doc = fleet(tmp_path, "drift", *args, "--remediate", "--yes")
    healed = [c["args"] for c in fake.calls() if c["args"][0] == "up"][-1]
    targets = {healed[i + 1] for i, a in enumerate(healed) if a == "--target"}
    assert targets == {CHART, NAMESPACE} and "--refresh" in healed and "--target-dependents" in healed
    assert doc["remediation"]["operation"] == "remediate"
    assert doc["remediation"]["stacks"][0]["outcome"] == "succeeded"
    assert code == 3  # the alert layer still alerts
    code, doc = fleet(tmp_path, "drift", *args)
    assert {r["action"] for r in doc["drift"]["resources"]} == {"alert", "ignore"}


def test_bad_input_runs_nothing(fake: Fake, tmp_path: Path) -> None:
    code, doc = fleet(tmp_path, "preview", "--env", "edge", "--select", "region=nowhere")
    assert code == 1 and "--select region=nowhere: no cluster of edge has region=nowhere" in doc["errors"][0]["message"]
    code, doc = fleet(tmp_path, "up", "--env", "edge", "--max-failures", "lots", "--yes")
    assert code == 1 and "--max-failures" in doc["errors"][0]["message"]
    assert fake.calls() == []


def test_without_pulumi_one_line_and_no_traceback(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-m", "stacks.cli", "fleet", "preview", "--env", "local"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr and "get.pulumi.com" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
