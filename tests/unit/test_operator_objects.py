"""The operator objects of an environment (strata:reconcile): schema-valid, one Stack per fleet stack, no secret
literal, deterministic YAML, and every mistake refused by the plan."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from packs.errors import PlanErrors
from stacks.cli import app
from stacks.environment import CONFIG_DIR
from stacks.naming import parse_stack, select, stack_names
from stacks.operator.objects import MAX_STACK_NAME, k8s_name, operator_objects, operator_stacks
from stacks.operator.render import render_files
from stacks.plan import EnvironmentPlan, plan_environment
from tests.crd_schema import validate_custom_resource

runner = CliRunner()
SSH_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nsecret-marker-7731\n-----END OPENSSH PRIVATE KEY-----\n"


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the shipped config folder (edge reconciled by management/hub) to edit per test."""
    monkeypatch.setenv("EDGE_SSH_KEY", SSH_KEY)
    folder = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, folder)
    return folder


def edit(config: Path, env: str, **strata: Any) -> None:
    """Set ``strata:<key>`` values (None deletes); ``reconcile`` is merged one level deep."""
    path = config / f"Pulumi.{env}.yaml"
    doc = yaml.safe_load(path.read_text())
    for key, value in strata.items():
        full = f"strata:{key}"
        if value is None:
            doc["config"].pop(full, None)
        elif key == "reconcile" and isinstance(value, dict):
            merged = {**doc["config"].get(full, {}), **value}
            doc["config"][full] = {k: v for k, v in merged.items() if v is not None}
        else:
            doc["config"][full] = value
    path.write_text(yaml.safe_dump(doc))


def few_sites(config: Path, n: int = 6) -> None:
    rows = (config / "inventories" / "edge-sites.csv").read_text().splitlines()
    (config / "inventories" / "edge-sites.csv").write_text("\n".join(rows[: n + 1]) + "\n")


def planned(config: Path, env: str = "edge") -> EnvironmentPlan:
    return plan_environment(env, config_dir=config)


def pinned_commit(result: EnvironmentPlan) -> str:
    """The commit the planned fleet's workspaces deploy (the test configs pin a Git commit)."""
    reconcile = result.environment.settings.reconcile
    assert reconcile is not None and reconcile.commit is not None, "the environment deploys a pinned Git commit"
    return reconcile.commit


def _walk(node: Any, path: str = "") -> list[tuple[str, Any]]:
    if isinstance(node, dict):
        return [x for k, v in node.items() for x in _walk(v, f"{path}.{k}")]
    if isinstance(node, list):
        return [x for i, v in enumerate(node) for x in _walk(v, f"{path}[{i}]")]
    return [(path, node)]


def test_shipped_edge_fleet_objects_are_valid_and_one_stack_per_fleet_stack(config: Path) -> None:
    import kubernetes_validate

    result = planned(config)
    objects = operator_objects(result.environment, result.clusters)
    stacks = [o for o in objects if o["kind"] == "Stack"]
    expected = stack_names(result.environment).names
    assert [o["metadata"]["annotations"]["strata.dev/stack"] for o in stacks] == list(expected)
    assert len({o["metadata"]["name"] for o in stacks}) == len(expected) == 240
    for obj in objects:
        if obj["apiVersion"].startswith("pulumi.com/"):
            validate_custom_resource(obj)
            assert len(obj["metadata"]["name"]) <= MAX_STACK_NAME  # the CRD's CEL rule
        else:
            kubernetes_validate.validate(obj, "1.34", strict=True)
    spec = stacks[0]["spec"]
    reconcile = result.environment.settings.reconcile
    assert reconcile is not None and reconcile.source.git is not None  # the shipped edge fleet, from Git
    assert spec["commit"] == reconcile.source.git.commit
    assert spec["refresh"] is True and spec["continueResyncOnCommitMatch"] is True
    assert spec["resyncFrequencySeconds"] == 1800
    assert spec["destroyOnFinalize"] is False  # edge is production: deleting the object destroys nothing
    assert spec["workspaceReclaimPolicy"] == "Delete"
    requests = spec["workspaceTemplate"]["spec"]["resources"]["requests"]
    assert set(requests) == {"cpu", "memory", "ephemeral-storage"}
    assert "preview" not in spec  # edge heals cni, csi and addon drift
    labels = stacks[0]["metadata"]["labels"]
    assert labels["strata.dev/environment"] == "edge" and labels["strata.dev/wave"] == "1"
    assert labels["strata.dev/cluster"] == result.clusters[0].entry.spec.name
    assert {o["metadata"]["labels"]["strata.dev/wave"] for o in stacks} == {"1", "2", "3", "4", "5"}
    binding = next(o for o in objects if o["kind"] == "ClusterRoleBinding")
    assert binding["roleRef"]["name"] == "system:auth-delegator"
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "strata-workspace", "namespace": "strata-edge"}]


def test_no_secret_literal_anywhere(config: Path) -> None:
    edit(config, "edge", reconcile={"secrets": "fleet-secrets"})
    result = planned(config)
    text = json.dumps(operator_objects(result.environment, result.clusters))
    assert "secret-marker-7731" not in text
    for stack in operator_stacks(result.environment, result.clusters):
        leaves = _walk(stack.object["spec"])
        assert not any(".literal" in path for path, _ in leaves)
        refs = stack.object["spec"]["envRefs"]
        assert refs["EDGE_SSH_KEY"] == {"type": "Secret", "secret": {"name": "fleet-secrets", "key": "EDGE_SSH_KEY"}}
        assert refs["PULUMI_CONFIG_PASSPHRASE"]["secret"] == {"name": "pulumi-passphrase", "key": "passphrase"}


def test_config_secret_references_become_secrets_ref_keys(config: Path) -> None:
    few_sites(config)
    doc = yaml.safe_load((config / "Pulumi.edge.yaml").read_text())
    defaults = doc["config"]["strata:inventory"]["defaults"]
    defaults["ssh_key"] = {"config": "secrets:edgeKey"}
    (config / "Pulumi.edge.yaml").write_text(yaml.safe_dump(doc))
    result = planned(config)
    spec = operator_stacks(result.environment, result.clusters)[0].object["spec"]
    assert "EDGE_SSH_KEY" not in spec["envRefs"]
    assert spec["secretsRef"] == {
        "secrets:edgeKey": {"type": "Secret", "secret": {"name": "edge-fleet-secrets", "key": "secrets.edgeKey"}}
    }
    validate_custom_resource(operator_stacks(result.environment, result.clusters)[0].object)


def test_alert_only_stacks_only_preview(config: Path) -> None:
    few_sites(config)
    edit(
        config, "edge", drift={"os": "ignore", "kubernetes": "alert", "cni": "alert", "csi": "alert", "addon": "alert"}
    )
    result = planned(config)
    for stack in operator_stacks(result.environment, result.clusters):
        assert stack.preview_only
        assert stack.object["spec"]["preview"] is True
        assert "expectNoRefreshChanges" not in stack.object["spec"]  # ignored by the operator v2
        validate_custom_resource(stack.object)


def test_shards_are_one_stack_each(config: Path) -> None:
    edit(config, "edge", reconcile={"shards": 8})
    result = planned(config)
    stacks = operator_stacks(result.environment, result.clusters)
    assert [s.name for s in stacks] == list(stack_names(result.environment, 8).names)
    assert sum(len(s.clusters) for s in stacks) == 240
    for s in stacks:  # the very memberships the program deploys
        assert s.clusters == tuple(e.spec.name for e in select(result.environment, parse_stack(s.name)))
    first = stacks[0].object
    assert first["metadata"]["labels"]["strata.dev/shard"].startswith("shard-")
    assert "strata.dev/cluster" not in first["metadata"]["labels"]
    assert first["spec"]["envRefs"]["EDGE_SSH_KEY"]["secret"]["key"] == "EDGE_SSH_KEY"
    validate_custom_resource(first)


def test_long_stack_names_are_shortened_stably() -> None:
    long = "edge." + "a-very-long-site-name-in-a-large-region-0001"
    name = k8s_name(long)
    assert len(name) <= MAX_STACK_NAME and name == k8s_name(long)
    assert name != k8s_name(long[:-1] + "2")
    assert k8s_name("edge.eu-west-fr-00001") == "edge.eu-west-fr-00001"


def test_render_is_deterministic_and_prunes_removed_stacks(config: Path, tmp_path: Path) -> None:
    few_sites(config, 6)
    out = tmp_path / "out"
    args = ["operator", "render", "--env", "edge", "--out", str(out), "--config-dir", str(config)]
    assert runner.invoke(app, args).exit_code == 0
    first = {p.name: p.read_bytes() for p in out.iterdir()}
    assert len([n for n in first if n.startswith("stack-")]) == 6
    assert runner.invoke(app, args).exit_code == 0
    assert {p.name: p.read_bytes() for p in out.iterdir()} == first
    for data in first.values():
        for doc in yaml.safe_load_all(data):
            if doc["kind"] == "Stack":
                validate_custom_resource(doc)
    few_sites(config, 4)
    result = runner.invoke(app, args)
    # The summary of the files written is data: stdout, as `strata render` (docs/cli.md); stderr stays empty.
    assert result.exit_code == 0 and "removed 2 stale stack file(s)" in result.stdout
    assert result.stdout.startswith(f"wrote {len(first) - 2} file(s) to {out}: 4 Stack(s)") and result.stderr == ""
    assert len(list(out.glob("stack-*.yaml"))) == 4
    resources = yaml.safe_load((out / "kustomization.yaml").read_text().split("\n", 1)[1])["resources"]
    assert sorted(resources) == sorted(p.name for p in out.iterdir() if p.name != "kustomization.yaml")


def _errors(config: Path) -> list[str]:
    with pytest.raises(PlanErrors) as info:
        planned(config)
    return [f"{e.path}: {e.message}" for e in info.value.errors]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"secrets": None}, r'config."strata:reconcile".secrets: the stacks read 1 secret\(s\) \(EDGE_SSH_KEY\)'),
        ({"management": {"cluster": "management/hbu"}}, r"has no cluster 'hbu'; did you mean 'hub'\?"),
        ({"management": {"cluster": "edge/eu-west-fr-00001"}}, r"must belong to another environment"),
        ({"management": {"cluster": "nowhere/hub"}}, r"cannot read environment nowhere"),
        ({"passphrase": None}, r"reconcile\".passphrase: the backend s3://.* give passphrase"),
        ({"backend": "file:///tmp/state", "passphrase": None}, r"file:// backend lives inside one workspace pod"),
    ],
)
def test_plan_refuses_what_the_operator_would_fail_on(config: Path, change: dict[str, Any], expected: str) -> None:
    few_sites(config)
    edit(config, "edge", reconcile=change)
    errors = _errors(config)
    assert any(re.search(expected, e) for e in errors), errors


def test_management_cluster_without_the_operator_is_refused(config: Path) -> None:
    few_sites(config)
    edit(
        config,
        "management",
        clusters=[
            {"name": "hub", "target": "existing", "kubernetes_version": "1.34", "profiles": ["observability@1.1.0"]}
        ],
    )
    errors = _errors(config)
    assert any(
        "does not install the Pulumi Kubernetes Operator; add the profile fleet-management@1.0.0" in e for e in errors
    )


def test_file_secrets_are_refused_per_cluster(config: Path) -> None:
    few_sites(config, 2)
    doc = yaml.safe_load((config / "Pulumi.edge.yaml").read_text())
    doc["config"]["strata:inventory"]["defaults"]["ssh_key"] = {"file": "~/.ssh/edge"}
    (config / "Pulumi.edge.yaml").write_text(yaml.safe_dump(doc))
    with pytest.raises(PlanErrors) as info:
        planned(config)
    mine = [e for e in info.value.errors if "operator workspace" in e.message]
    assert len(mine) == 2 and all(e.path.endswith(".ssh_key") and e.cluster for e in mine)


@pytest.mark.parametrize("image", ["pulumi/pulumi-python", "pulumi/pulumi-python:latest"])
def test_unpinned_workspace_image_is_refused(config: Path, image: str) -> None:
    edit(config, "edge", reconcile={"workspace": {"image": image}})
    errors = _errors(config)
    assert len(errors) == 1 and errors[0].startswith('config."strata:reconcile".workspace:'), errors


def test_render_refuses_bad_input_and_writes_nothing(config: Path, tmp_path: Path) -> None:
    edit(config, "edge", reconcile={"secrets": None})
    out = tmp_path / "out"
    result = runner.invoke(app, ["operator", "render", "--env", "edge", "--out", str(out), "--config-dir", str(config)])
    assert result.exit_code == 1 and "nothing was written" in result.output
    assert "Traceback" not in result.output and not out.exists()


def test_render_files_match_the_objects(config: Path) -> None:
    few_sites(config)
    result = planned(config)
    files = render_files(result.environment, result.clusters)
    docs = [d for name, text in sorted(files.items()) if name != "kustomization.yaml" for d in yaml.safe_load_all(text)]
    assert sorted(json.dumps(d, sort_keys=True) for d in docs) == sorted(
        json.dumps(o, sort_keys=True) for o in operator_objects(result.environment, result.clusters)
    )


def test_the_documented_example_is_a_valid_reconcile_setting() -> None:
    from stacks.reconcile import ReconcileSettings
    from tests.test_readme import fenced

    text = (Path(__file__).resolve().parents[2] / "docs" / "operator.md").read_text()
    block = yaml.safe_load(fenced(text, "yaml"))
    settings = ReconcileSettings.model_validate(block["config"]["strata:reconcile"])
    assert settings.shards == 8 and settings.management.cluster == "management/hub"
