"""Without the Pulumi CLI every deploy entry point says so in one line, exits non-zero and shows no traceback."""

from __future__ import annotations

import os
import runpy
import subprocess
import sys
from pathlib import Path

import pulumi
import pytest
from typer.testing import CliRunner

from stacks.cli import app
from stacks.pulumi_cli import INSTALL_URL, PulumiCliMissing, local_stack
from tests.mocks import GraphMocks, install, settle
from tests.test_environments import GRAFANA_PASSWORD, load_config

ROOT = Path(__file__).resolve().parents[2]


def path_without_pulumi(*extra: Path) -> str:
    """The current PATH minus every folder holding a ``pulumi`` executable."""
    folders = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p and not (Path(p) / "pulumi").exists()]
    return os.pathsep.join([*map(str, extra), *folders])


def run_module(module: str, path: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": path}
    return subprocess.run([sys.executable, "-m", module], cwd=ROOT, env=env, capture_output=True, text=True)


def fake_pulumi(folder: Path) -> Path:
    folder.mkdir(exist_ok=True)
    exe = folder / "pulumi"
    exe.write_text("#!/bin/sh\necho v3.200.0\n")
    exe.chmod(0o755)
    return folder


@pytest.mark.parametrize(("module", "name"), [("stacks", "stacks/"), ("examples.team_space", "examples/team_space")])
def test_program_run_without_the_cli_says_how_to_get_it(module: str, name: str) -> None:
    result = run_module(module, path_without_pulumi())
    assert result.returncode == 2
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith(f"error: {name}") and "needs the Pulumi CLI" in line and INSTALL_URL in line
    assert "Traceback" not in result.stderr


def test_program_run_by_python_with_the_cli_says_to_use_pulumi_up(tmp_path: Path) -> None:
    result = run_module("stacks", path_without_pulumi(fake_pulumi(tmp_path / "bin")))
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert "run by the Pulumi CLI, not by python" in line and "`pulumi up`" in line
    assert "Traceback" not in result.stderr


def test_program_still_runs_under_the_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    """The guard looks for the engine, not the CLI: under Pulumi's mocks the entry point builds the stack."""
    monkeypatch.setenv("GRAFANA_ADMIN_PASSWORD", GRAFANA_PASSWORD)
    monkeypatch.setenv("PATH", path_without_pulumi())
    mocks = GraphMocks()
    install(mocks, stack="local")
    pulumi.runtime.set_all_config(load_config("local"))
    runpy.run_path(str(ROOT / "stacks" / "__main__.py"), run_name="__main__")
    settle()
    assert [r.name for r in mocks.of_type("strata:clusters:ExistingCluster")] == ["local"]


def test_automation_api_without_the_cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The SDK itself would fail with a bare FileNotFoundError from subprocess."""
    monkeypatch.setenv("PATH", path_without_pulumi())
    with pytest.raises(PulumiCliMissing) as exc:
        local_stack("local", ROOT, env_vars={"PULUMI_BACKEND_URL": f"file://{tmp_path}"})
    message = str(exc.value)
    assert "\n" not in message
    assert "stack local through the Automation API needs the Pulumi CLI" in message and INSTALL_URL in message


def test_strata_stacks_lists_and_notes_the_missing_cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Listing stacks needs no CLI (a CI matrix is built without it); the note says deploying them will."""
    monkeypatch.setenv("PATH", path_without_pulumi())
    result = CliRunner().invoke(app, ["stacks", "--env", "prod"])
    assert result.exit_code == 0
    assert result.stdout.split() == ["prod.prod-eks-eu", "prod.prod-aks-eu", "prod.prod-gke-us"]
    assert "deploying these stacks needs the Pulumi CLI" in result.stderr and INSTALL_URL in result.stderr
    monkeypatch.setenv("PATH", path_without_pulumi(fake_pulumi(tmp_path / "bin")))
    assert CliRunner().invoke(app, ["stacks", "--env", "prod"]).stderr == ""
