"""``strata check`` and ``strata plan`` enforce the policy rules offline: shipped environments pass, broken copies
fail naming the rule, file and field; levels come from production, profiles (which may lock them) and
``strata:policy``."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from packs.model import Profile
from policy.rules import RULES, Level
from stacks.cli import app
from stacks.environment import CONFIG_DIR
from stacks.policy import resolve_levels
from tests.catalogue_builder import on_disk, pack, profile

runner = CliRunner()


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A copy of the shipped environments, to break on purpose."""
    target = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, target)
    return target


def edit(config: Path, env: str, change: Any) -> None:
    path = config / f"Pulumi.{env}.yaml"
    doc = yaml.safe_load(path.read_text())
    change(doc["config"])
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def check(*args: str) -> Any:
    return runner.invoke(app, ["check", *args])


@pytest.mark.parametrize("env", ["local", "dev", "prod", "edge"])
def test_shipped_environments_pass(env: str) -> None:
    result = check("--env", env, "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["schema"] == "strata.check/v1" and doc["passed"]
    assert doc["summary"]["mandatory"] == 0


def test_a_broken_production_copy_fails_naming_rule_file_and_field(config: Path) -> None:
    def open_it(c: dict[str, Any]) -> None:
        eks = c["strata:clusters"][0]
        eks["endpoint_public_access"] = True  # public, open to 0.0.0.0/0 by default
        eks["log_types"] = ["api"]
        c["strata:clusters"][2]["release_channel"] = "RAPID"

    edit(config, "prod", open_it)
    result = check("--env", "prod", "--config-dir", str(config), "--json")
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    found = {(f["rule"], f["cluster"], f["path"], f["level"]) for f in doc["findings"]}
    assert found == {
        ("eks-endpoint-restricted", "prod-eks-eu", 'config."strata:clusters"[0].public_access_cidrs', "mandatory"),
        ("eks-audit-logs", "prod-eks-eu", 'config."strata:clusters"[0].log_types', "mandatory"),
        ("gke-release-channel", "prod-gke-us", 'config."strata:clusters"[2].release_channel', "mandatory"),
    }
    assert all(f["file"].endswith("Pulumi.prod.yaml") for f in doc["findings"])

    # strata plan refuses the same environment, with the same rule, file and field, and no traceback
    plan = runner.invoke(app, ["plan", "--env", "prod", "--config-dir", str(config)])
    assert plan.exit_code == 1
    assert 'Pulumi.prod.yaml: config."strata:clusters"[0].log_types: policy eks-audit-logs:' in plan.output
    assert "Traceback" not in plan.output and "nothing was planned or built" in plan.output


def test_production_protection_and_tags(config: Path) -> None:
    def unprotect(c: dict[str, Any]) -> None:
        c["strata:clusters"][1]["protect"] = False
        c["strata:tags"] = {"cost-center": "production"}

    edit(config, "prod", unprotect)
    doc = json.loads(check("--env", "prod", "--config-dir", str(config), "--json").stdout)
    rules = {(f["rule"], f["cluster"], f["path"]) for f in doc["findings"]}
    assert ("production-protected", "prod-aks-eu", 'config."strata:clusters"[1].protect') in rules
    assert {r for r, c, p in rules if r == "required-tags" and p == 'config."strata:tags"'} == {"required-tags"}
    assert len([r for r in rules if r[0] == "required-tags"]) == 3  # each cloud cluster


def test_advisory_findings_pass_the_plan_and_are_counted(config: Path) -> None:
    edit(config, "dev", lambda c: c["strata:clusters"][0].pop("public_access_cidrs"))
    result = check("--env", "dev", "--config-dir", str(config))
    assert result.exit_code == 0
    assert "eks-endpoint-restricted" in result.output and "0 mandatory and 1 advisory" in result.output
    plan = runner.invoke(app, ["plan", "--env", "dev", "--config-dir", str(config)])
    assert plan.exit_code == 0
    assert "advisory: eks-endpoint-restricted: 1 finding(s) on dev-eks" in plan.output


def test_environment_levels_make_a_rule_mandatory_or_disable_it(config: Path) -> None:
    def strict(c: dict[str, Any]) -> None:
        c["strata:clusters"][0].pop("public_access_cidrs")
        c["strata:policy"] = {"rules": {"eks-endpoint-restricted": "mandatory"}}

    edit(config, "dev", strict)
    assert check("--env", "dev", "--config-dir", str(config)).exit_code == 1
    edit(config, "prod", lambda c: c["strata:clusters"][0].update(log_types=["api"]))
    edit(config, "prod", lambda c: c.update({"strata:policy": {"rules": {"eks-audit-logs": "disabled"}}}))
    assert check("--env", "prod", "--config-dir", str(config)).exit_code == 0


def test_unknown_rule_is_an_error_with_a_suggestion(config: Path) -> None:
    edit(config, "dev", lambda c: c.update({"strata:policy": {"rules": {"eks-audit-log": "advisory"}}}))
    result = runner.invoke(app, ["plan", "--env", "dev", "--config-dir", str(config)])
    assert result.exit_code == 1
    assert 'config."strata:policy".rules' in result.output
    assert "did you mean 'eks-audit-logs'?" in result.output
    assert "Traceback" not in result.output


def test_chart_repository_allow_list(config: Path) -> None:
    edit(config, "local", lambda c: c.update({"strata:policy": {
        "rules": {"helm-chart-pinned": "mandatory"}, "allowed_repositories": ["https://charts.example.com/"]}}))
    result = check("--env", "local", "--config-dir", str(config), "--json")
    assert result.exit_code == 1
    found = json.loads(result.stdout)["findings"]
    assert found and {f["rule"] for f in found} == {"helm-chart-pinned"}
    assert all(f["path"] == "source.repository" and f["file"].endswith("pack.yaml") for f in found)


def _profile(name: str, policy: dict[str, Any]) -> Profile:
    return Profile.model_validate(profile(name, [{"pack": "web@1.0.0"}], policy=policy))


def test_profile_locks_a_level() -> None:
    base = _profile("base", {"rules": {"eks-audit-logs": "mandatory"}, "locks": ["eks-audit-logs"]})
    levels, errors = resolve_levels(False, [(base, "base.yaml")], {"eks-audit-logs": Level.ADVISORY}, "env.yaml")
    assert levels["eks-audit-logs"] is Level.MANDATORY
    assert [(e.file, e.path) for e in errors] == [('env.yaml', 'config."strata:policy".rules.eks-audit-logs')]
    assert "locked to mandatory by profile base@1.0.0" in errors[0].message
    # a later profile cannot cross it either
    later = _profile("later", {"rules": {"eks-audit-logs": "disabled"}})
    levels, errors = resolve_levels(False, [(base, "base.yaml"), (later, "later.yaml")], {}, "env.yaml")
    assert levels["eks-audit-logs"] is Level.MANDATORY and errors[0].file == "later.yaml"
    # unlocked levels follow production, then profiles, then the environment
    levels, errors = resolve_levels(True, [(later, "later.yaml")], {"gke-private-nodes": Level.ADVISORY}, "e")
    assert not errors
    assert levels["eks-audit-logs"] is Level.DISABLED and levels["gke-private-nodes"] is Level.ADVISORY
    assert levels["eks-secrets-encryption"] is Level.MANDATORY
    assert set(levels) == set(RULES)


def test_profile_lock_through_the_cli(tmp_path: Path) -> None:
    packs = [pack("web", source={"kind": "helm", "repository": "https://charts.example.com", "chart": "web",
                                 "version": "1.0.0"})]
    prof = profile("apps", [{"pack": "web@1.0.0"}], targets=["existing"],
                   policy={"rules": {"image-tag-pinned": "mandatory"}, "locks": ["image-tag-pinned"]})
    latest = {"web": {"image": {"repository": "ghcr.io/acme/web", "tag": "latest"}}}
    packs_dir = on_disk(tmp_path, packs, [prof], latest)
    config = tmp_path / "config"
    config.mkdir()
    env = {"strata:clusters": [{"name": "c1", "target": "existing", "kubernetes_version": "1.31",
                                "profiles": ["apps@1.0.0"]}],
           "strata:policy": {"rules": {"image-tag-pinned": "disabled"}}}
    (config / "Pulumi.t.yaml").write_text(yaml.safe_dump({"config": env}))
    result = check("--env", "t", "--config-dir", str(config), "--packs-dir", str(packs_dir), "--json")
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert "locked to mandatory by profile apps@1.0.0" in doc["errors"][0]["message"]
    # without the override, the locked rule finds the :latest image in the pack's values.yaml
    env.pop("strata:policy")
    (config / "Pulumi.t.yaml").write_text(yaml.safe_dump({"config": env}))
    doc = json.loads(check("--env", "t", "--config-dir", str(config), "--packs-dir", str(packs_dir), "--json").stdout)
    assert [(f["rule"], f["level"], f["path"]) for f in doc["findings"]] == [
        ("image-tag-pinned", "mandatory", "image.tag")
    ]
    assert doc["findings"][0]["file"].endswith("web/1.0.0/values.yaml")


def test_rules_listing() -> None:
    result = check("--rules")
    assert result.exit_code == 0
    assert all(rule in result.output for rule in RULES)


def test_pulumi_config_carries_the_environment_levels_to_the_pack() -> None:
    result = check("--env", "edge", "--pulumi-config")
    assert result.exit_code == 0
    config = json.loads(result.stdout)
    assert set(config) == set(RULES)
    assert config["edge-host-key-pinned"]["enforcementLevel"] == "advisory"  # strata:policy of edge
    assert config["production-protected"] == {
        "enforcementLevel": "mandatory",
        "production": True,
        "allowedRepositories": [],
        "requiredTags": ["owner", "strata-environment"],
    }
    dev = json.loads(check("--env", "dev", "--pulumi-config").stdout)
    assert {c["enforcementLevel"] for c in dev.values()} == {"advisory"} and not dev["eks-audit-logs"]["production"]


def test_docs_examples_validate() -> None:
    """The strata:policy and profile snippets of docs/policy.md are what the models accept."""
    from stacks.environment import PolicySettings

    text = (Path(__file__).resolve().parents[1] / "docs" / "policy.md").read_text()
    blocks = [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", text, re.S)]
    settings = PolicySettings.model_validate(blocks[0]["config"]["strata:policy"])
    assert settings.rules["edge-host-key-pinned"] is Level.ADVISORY
    prof = Profile.model_validate(profile("p", [{"pack": "web@1.0.0"}], policy=blocks[1]["policy"]))
    assert prof.policy.locks == ("production-protected",)
    documented = set(re.findall(r"^\| `([a-z0-9-]+)` \|", text, re.M))
    assert documented == set(RULES)
