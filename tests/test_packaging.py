"""A plain ``pip install .`` (a wheel, not an editable install) carries everything strata reads at run time.

An editable install reads the source tree, so it hides package data missing from the wheel: the edge
environment's inventory, the catalogue, the profiles. This test builds the wheel the way pip does for a user,
installs it into a fresh virtualenv and plans the embedded environments from an unrelated directory, so only
the installed package can answer.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: What the wheel is built from; the rest of the repository (tests, docs, bench) is not part of the package.
SOURCES = ("pyproject.toml", "README.md", "components", "packs", "policy", "stacks")
OFFLINE_HINTS = (
    "Could not find a version",
    "No matching distribution",
    "Failed to establish",
    "Network is unreachable",
)


def _build_wheel(tmp: Path) -> Path:
    """Build from a copy, so the build never writes into the working tree (and parallel runs never collide)."""
    src = tmp / "src"
    src.mkdir()
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(path, src / name)
    dist = tmp / "dist"
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check", "-q", "-w", str(dist)]
    done = subprocess.run([*cmd, str(src)], capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        output = done.stdout + done.stderr
        if any(hint in output for hint in OFFLINE_HINTS):
            pytest.skip("cannot build the wheel: the build backend (setuptools) could not be downloaded")
        pytest.fail(f"pip wheel failed:\n{output}")
    (wheel,) = dist.glob("strata-*.whl")
    return wheel


def _fresh_venv(tmp: Path) -> Path:
    """A new virtualenv that sees this interpreter's installed dependencies but not the source tree.

    The dependencies are reached through a ``.pth`` line (a plain path, so the editable install's finder in
    the development environment is *not* activated); strata itself comes only from the wheel.
    """
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / ("Scripts" if os.name == "nt" else "bin") / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(site, "_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python


@pytest.mark.slow
def test_wheel_install_plans_every_embedded_environment(tmp_path: Path) -> None:
    wheel = _build_wheel(tmp_path)
    names = zipfile.ZipFile(wheel).namelist()
    assert "stacks/config/inventories/edge-sites.csv" in names, "the edge inventory is not in the wheel"
    assert "stacks/teams/storefront.yaml" in names, "the team files are not in the wheel"

    python = _fresh_venv(tmp_path)
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--disable-pip-version-check",
         "-q", str(wheel)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "STRATA_CONFIG_DIR", "STRATA_PACKS_DIR", "STRATA_TEAMS_DIR")
    }
    strata = python.parent / "strata"

    where = subprocess.run(
        [str(python), "-c", "import stacks, packs; print(stacks.__file__); print(packs.__file__)"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert str(ROOT) not in where, f"strata was imported from the source tree, not the wheel:\n{where}"

    for environment, clusters in (("edge", 240), ("local", 1)):
        done = subprocess.run(
            [str(strata), "plan", "--env", environment, "--json"],
            cwd=elsewhere,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, f"strata plan --env {environment} failed:\n{done.stdout}\n{done.stderr}"
        assert "Traceback" not in done.stderr
        plan = json.loads(done.stdout)
        assert len(plan["clusters"]) == clusters
        if environment == "local":  # the shipped team file reaches the installed environments
            assert [t["team"] for t in plan["clusters"][0]["teams"]] == ["storefront"]
