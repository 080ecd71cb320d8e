"""`strata fleet up`, `drift` and `destroy` of the `local` environment with the real Pulumi CLI.

File backend in a temp dir, no cloud account: the local environment renders manifests to a directory.
Skipped, saying why, when the Pulumi CLI is absent.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[1]
needs_cli = pytest.mark.skipif(shutil.which("pulumi") is None, reason="the Pulumi CLI is not installed")


@needs_cli
def test_fleet_up_converges_then_shows_no_drift(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from stacks.fleet.api import Fleet
    from stacks.fleet.local import LocalEngine
    from stacks.fleet.model import Outcome

    backend = tmp_path / "state"
    backend.mkdir()
    render = tmp_path / "rendered"
    work = tmp_path / "project"
    shutil.copytree(ROOT, work, ignore=shutil.ignore_patterns(".venv", ".git", "out", "__pycache__", ".strata"))
    env_file = work / "stacks/config/Pulumi.local.yaml"
    env_file.write_text(env_file.read_text().replace("render_dir: out/{cluster}", f"render_dir: {render}/{{cluster}}"))
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "integration-test")
    monkeypatch.setenv("GRAFANA_ADMIN_PASSWORD", "integration-test-password")
    engine = LocalEngine(work, env_vars={"PULUMI_BACKEND_URL": f"file://{backend}"})
    fleet = Fleet("local", config_dir=work / "stacks/config", state_dir=tmp_path / "runs", engine=engine)

    up = fleet.up(parallel=1, timeout=1800)
    assert up.exit_code == 0, up.stacks
    assert up.stacks[0].outcome is Outcome.SUCCEEDED and up.stacks[0].changes.create > 0
    assert any(render.rglob("*.yaml"))
    drift = fleet.drift()
    assert drift.drift is not None and drift.drift.items == () and drift.exit_code == 0
    again = fleet.up(resume="last")
    assert again.stacks[0].outcome is Outcome.NOT_RUN
    gone = fleet.destroy()
    assert gone.exit_code == 0
