"""The offline plan loads no Pulumi: `strata plan` must start fast and work where no Pulumi engine can run.

Checked in a fresh interpreter, since this test process has long imported Pulumi for other tests.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json, sys
{body}
loaded = sorted(m for m in sys.modules if m.split(".")[0].startswith(("pulumi", "grpc")))
sys.stderr.write("\\nLOADED=" + json.dumps(loaded) + "\\n")
"""


def _loaded(body: str) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(body=body)], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    line = next(x for x in result.stderr.splitlines() if x.startswith("LOADED="))
    loaded: list[str] = json.loads(line.removeprefix("LOADED="))
    return loaded


@pytest.mark.parametrize(
    "module", ["components.clusters", "components.clusters.spec", "stacks.environment", "stacks.plan", "stacks.cli"]
)
def test_plan_modules_import_no_pulumi(module: str) -> None:
    assert _loaded(f"import {module}") == []


def test_plan_of_the_edge_fleet_loads_no_pulumi() -> None:
    """The whole command, as a user runs it: 240 sites planned, tables printed, no pulumi or grpc module."""
    body = (
        "from stacks.cli import app\n"
        "app(['plan', '--env', 'edge'], standalone_mode=False)\n"
        "app(['stacks', '--env', 'edge', '--shards', '4'], standalone_mode=False)\n"
    )
    assert _loaded(body) == []


def test_cluster_contract_types_are_still_exported() -> None:
    """The lazy package attributes resolve to the real classes (and only then import Pulumi)."""
    import components.clusters as clusters
    from components.clusters import contract

    assert clusters.ClusterContract is contract.ClusterContract
    assert clusters.ClusterComponent is contract.ClusterComponent
    assert clusters.WorkloadIdentity is contract.WorkloadIdentity
    with pytest.raises(AttributeError):
        _ = clusters.NoSuchThing
