"""README's "Adding a pack", walked step by step in a copy of the project, the way a platform engineer would.

The pack and its values are the README's own YAML blocks, the commands are the README's own commands, and
each runs in a fresh interpreter from the copy's root: a step the README forgets (recording the new versions
with ``python -m packs.lock``) or a rule the lint enforces that the README does not mention shows up here as
a failing command, exactly as it would in CI.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
COPIED = ("pyproject.toml", "README.md", "components", "packs", "policy", "stacks", "tests")


def _section() -> str:
    return README.split("## Adding a pack", 1)[1].split("\n## ", 1)[0]


def _blocks(language: str) -> list[str]:
    """Fenced blocks of the section, de-indented (they sit inside a numbered list)."""
    found = re.findall(rf"^( *)```{language}\n(.*?)^\1```", _section(), re.S | re.M)
    return ["\n".join(line[len(indent) :] for line in body.splitlines()) for indent, body in found]


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("STRATA_CONFIG_DIR", "STRATA_PACKS_DIR")}
    env["PYTHONPATH"] = str(cwd)  # the copy, never this checkout (or an installed strata)
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def _command(line: str) -> list[str]:
    """A README command as this interpreter runs it: `python` and the `strata` entry point map to sys.executable."""
    words = line.split("#", 1)[0].split()
    if words[0] == "python":
        return [sys.executable, *words[1:]]
    if words[0] == "strata":
        return [sys.executable, "-m", "stacks.cli", *words[1:]]
    raise AssertionError(f"unexpected command in README: {line}")


@pytest.mark.slow
def test_readme_adding_a_pack_passes_ci_and_plans(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    for name in COPIED:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, project / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache"))
        else:
            shutil.copy2(src, project / name)

    # Step 1: the pack and its values, exactly as the README shows them.
    pack_yaml, values_yaml = _blocks("yaml")[:2]
    pack = yaml.safe_load(pack_yaml)
    folder = project / "packs" / "catalog" / pack["name"] / str(pack["version"])
    assert not folder.exists(), "the README's example must be a pack the catalogue does not have yet"
    folder.mkdir(parents=True)
    (folder / "pack.yaml").write_text(pack_yaml + "\n")
    (folder / "values.yaml").write_text(values_yaml + "\n")

    # Step 2: a new version of the add-on profile, with the pack appended.
    step2 = _section().split("\n2. ", 1)[1].split("\n3. ", 1)[0]
    source, target = re.findall(r"`packs/profiles/([a-z-]+/[0-9.]+\.yaml)`|`([0-9.]+\.yaml)`", step2)[:2]
    found = re.search(r"`- (\{pack: .*?\})`", step2)
    assert found is not None, "step 2 shows the profile entry to append"
    entry = yaml.safe_load(found.group(1))
    released = project / "packs" / "profiles" / source[0]
    profile = yaml.safe_load(released.read_text())
    profile["version"] = target[1].removesuffix(".yaml")
    profile["layers"].append(entry)
    new_profile = released.with_name(target[1])
    new_profile.write_text(yaml.safe_dump(profile, sort_keys=False))
    new_ref = f"{profile['name']}@{profile['version']}"

    # The environment the README plans with now asks for the new profile version.
    env_file = project / "stacks" / "config" / "Pulumi.local.yaml"
    env_text = env_file.read_text()
    old_ref = f"{profile['name']}@{yaml.safe_load(released.read_text())['version']}"
    assert old_ref in env_text
    env_file.write_text(env_text.replace(old_ref, new_ref))

    # Step 3: the README's commands, in order; each must succeed.
    (commands,) = _blocks("bash")
    outputs = {}
    for line in filter(None, (raw.strip() for raw in commands.splitlines())):
        done = _run(_command(line), project)
        assert done.returncode == 0, f"`{line}` failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
        outputs[line.split("#", 1)[0].strip()] = done.stdout

    lock = (project / "packs" / "released.lock").read_text()
    assert f"pack:{pack['name']}@{pack['version']} " in lock and f"profile:{new_ref} " in lock
    assert "recorded 2 new version(s)" in outputs["python -m packs.lock"]

    plan = json.loads(_run(_command("strata plan --env local --json"), project).stdout)
    (cluster,) = plan["clusters"]
    installed = {p["name"]: p for p in cluster["packs"]}
    assert installed[pack["name"]]["profile"] == new_ref
    assert installed[pack["name"]]["values"]["reloader"]["reloadStrategy"] == "default"
