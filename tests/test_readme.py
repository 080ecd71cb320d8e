"""The README's examples are real: the environment snippet validates and plans, the pack snippet validates."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from packs.catalogue import load_catalogue
from packs.model import Pack
from stacks.cli import app
from stacks.environment import CONFIG_DIR, environment_from_config, strata_config
from stacks.plan import plan_clusters

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def fenced(text: str, language: str = "") -> str:
    """The body of the first fenced block of ``language`` in ``text``; fails the test when the docs lost it."""
    found = re.search(rf"```{language}\n(.*?)```", text, re.S)
    assert found is not None, f"no ```{language} block where the test expects one"
    return found.group(1)


def _yaml_block(after_heading: str) -> object:
    section = README.split(after_heading, 1)[1]
    return yaml.safe_load(fenced(section, "yaml"))


def test_environment_example_plans() -> None:
    config = strata_config(_yaml_block("## Defining an environment"), "README.md")
    env = environment_from_config("readme", config, "README.md", CONFIG_DIR)
    plans, errors = plan_clusters(env.clusters, load_catalogue())
    assert not errors, errors
    assert len(plans) == 241  # the dev-eks cluster and the 240 inventory sites


def test_pack_example_validates() -> None:
    pack = Pack.model_validate(_yaml_block("## Adding a pack"))
    assert pack.ref == "reloader@2.2.16"


def test_ci_runs_the_readme_test_command_and_it_shows_progress() -> None:
    """`.ci/run` is the README's command (2), verbatim; neither pip nor pytest is silenced for minutes."""
    block = fenced(README, "bash")
    lines = block.splitlines()
    command = lines[lines.index(next(x for x in lines if x.startswith("# 2."))) + 1]
    ci = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert command == ci
    steps = [step.split() for step in command.split("&&")]
    pip = next(s for s in steps if s[0] == "pip")
    pytest = next(s for s in steps if s[:3] == ["python", "-m", "pytest"])
    assert not {"-q", "--quiet"} & set(pip) and "--progress-bar" in pip  # each package is named as it installs
    assert not {"-q", "--quiet"} & set(pytest)  # one line per test file as it runs


def test_error_example_is_the_real_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's error block is exactly what the terminal shows for the mistakes the README describes."""
    section = README.split("Every mistake is reported before anything is built", 1)[1]
    expected = fenced(section).strip()
    dev = (CONFIG_DIR / "Pulumi.dev.yaml").read_text()
    mistakes = dev.replace('kubernetes_version: "1.34"', "kubernetes_version: 1.30", 1)
    mistakes = mistakes.replace("target: aks", "target: ask").replace(
        "master_authorized_networks:", "master_authorized_network:"
    )
    assert mistakes.count("1.30") == 1 and "ask" in mistakes and "network:" in mistakes
    config = tmp_path / "stacks" / "config"
    config.mkdir(parents=True)
    (config / "Pulumi.dev.yaml").write_text(mistakes)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["plan", "--env", "dev", "--config-dir", "stacks/config"])
    assert result.exit_code == 1
    assert result.stderr.strip() == expected


def test_team_example_is_the_shipped_file_and_its_errors_are_real(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's team file is stacks/teams/storefront.yaml; its error block is what the plan prints for the
    mistakes."""
    root = Path(__file__).resolve().parents[1]
    shown = _yaml_block("## Team self-service")
    assert shown == yaml.safe_load((root / "stacks" / "teams" / "storefront.yaml").read_text())
    section = README.split("## Team self-service", 1)[1].split("`strata plan --env local` prints:", 1)[1]
    expected = fenced(section).strip()
    config = tmp_path / "stacks" / "config"
    config.mkdir(parents=True)
    (config / "Pulumi.local.yaml").write_text((CONFIG_DIR / "Pulumi.local.yaml").read_text())
    (tmp_path / "stacks" / "teams").mkdir()
    text = (root / "stacks" / "teams" / "storefront.yaml").read_text()
    mistakes = text.replace('cpu: "2"', 'cpu: "24"')
    mistakes = mistakes.replace("envoy-gateway.log_level: info", "envoy-gateway.replicas: 9")
    (tmp_path / "stacks" / "teams" / "storefront.yaml").write_text(mistakes)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("STRATA_TEAMS_DIR", raising=False)
    result = CliRunner().invoke(app, ["plan", "--env", "local", "--config-dir", "stacks/config"])
    assert result.exit_code == 1
    assert result.stderr.strip() == expected
