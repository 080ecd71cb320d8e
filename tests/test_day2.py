"""Two programs in a row: renames carried over by aliases, production data kept and its removal refused.

Each test runs the real stack program twice under mocks (or once against a stack's recorded outputs) and
compares what the second run registers with what the first left in the stack.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml
from typer.testing import CliRunner

from stacks.cli import app
from stacks.program import run
from stacks.retention import EXPORT_KEY, export_value, parse_deployed
from tests.catalogue_builder import on_disk, pack, profile
from tests.mocks import GraphMocks, carried_over, install, settle
from tests.test_cluster_edge import answer_reads

BASE = [{"pack": "k3s@1.0.0"}, {"pack": "flannel@1.0.0"}, {"pack": "disks@1.0.0"}, {"pack": "web@1.0.0"}]
PACKS = [
    pack(
        "k3s",
        "kubernetes",
        source={"kind": "managed", "service": "cluster", "name": "kubernetes"},
        namespace=None,
        requires=[],
        constraints={"targets": ["edge"]},
    ),
    pack("flannel", "cni", source={"kind": "managed", "service": "cluster", "name": "network"}, namespace=None),
    pack("disks", "csi", provides=["storage-class"]),
    pack("web"),
    # Owns data because it needs volumes.
    pack("logs", requires=["cni", "storage-class"]),
    # Owns data because its author says so; later renamed to "store".
    pack("db", stateful=True),
    pack("store", stateful=True, renamed_from=["db"], namespace="db"),
]
PROFILES = [
    profile("edge", [*BASE, {"pack": "logs@1.0.0"}, {"pack": "db@1.0.0"}], targets=["edge"]),
    profile("edge", BASE, version="2.0.0", targets=["edge"]),
    profile("edge", [*BASE, {"pack": "logs@1.0.0"}, {"pack": "store@1.0.0"}], version="3.0.0", targets=["edge"]),
]


def site(name: str, profile_version: str = "1.0.0", **extra: Any) -> dict[str, Any]:
    doc = {
        "name": name,
        "target": "edge",
        "kubernetes_version": "1.31",
        "profiles": [f"edge@{profile_version}"],
        "hosts": [{"name": "n1", "address": "10.0.0.7", "host_key": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG2n1"}],
        "ssh_key": {"env": "STRATA_TEST_EDGE_KEY"},
    }
    doc.update(extra)
    return doc


@pytest.fixture
def dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    monkeypatch.setenv(
        "STRATA_TEST_EDGE_KEY", "-----BEGIN OPENSSH PRIVATE KEY-----\nx\n-----END OPENSSH PRIVATE KEY-----\n"
    )
    packs_dir = on_disk(tmp_path, PACKS, PROFILES, {"k3s": {"version": "v1.31.4+k3s1"}})
    config = tmp_path / "stacks" / "config"
    config.mkdir(parents=True)
    return packs_dir, config


def program(
    dirs: tuple[Path, Path], clusters: list[dict[str, Any]], deployed: dict[str, Any] | None = None, **settings: Any
) -> GraphMocks:
    """One `pulumi up` of environment ``prod`` in a fresh engine; ``deployed`` is what the stack exported last."""
    packs_dir, config = dirs
    strata = {"clusters": clusters, **settings}
    (config / "Pulumi.prod.yaml").write_text(yaml.safe_dump({"config": {f"strata:{k}": v for k, v in strata.items()}}))
    mocks = GraphMocks()
    answer_reads(mocks)
    previous = {EXPORT_KEY: deployed} if deployed is not None else {}
    mocks.state_for["pulumi:pulumi:StackReference"] = lambda args: {"outputs": previous, "secretOutputNames": []}
    install(mocks, stack="prod")
    pulumi.runtime.set_all_config({})
    run("prod", config, packs_dir)
    settle()
    return mocks


def assert_carried_over(first: GraphMocks, second: GraphMocks) -> None:
    """Every resource of the second run updates one of the first; nothing is created, nothing deleted."""
    old = {r.urn for r in first.resources}
    moved = carried_over(old, second)
    created = [urn for urn, was in moved.items() if was is None]
    assert not created, f"would be created (and their predecessors deleted): {created}"
    successors = sorted(was for was in moved.values() if was is not None)  # all of them: none is created
    assert successors == sorted(old), "every deployed resource has exactly one successor"


# --------------------------------------------------------------------------------------------- renames


def test_renaming_a_cluster_moves_every_resource(dirs: tuple[Path, Path]) -> None:
    first = program(dirs, [site("s-1")])
    second = program(dirs, [site("s-one", renamed_from=["s-1"])])
    assert {r.urn for r in second.resources} != {r.urn for r in first.resources}
    assert_carried_over(first, second)
    # The provider keeps its identity, so not one Kubernetes object is replaced under it.
    provider = second.named("s-one-k8s", "pulumi:providers:kubernetes")
    assert provider.inputs["clusterIdentifier"] == "strata/edge/s-1"


def test_renaming_without_renamed_from_would_recreate_everything(dirs: tuple[Path, Path]) -> None:
    first = program(dirs, [site("s-1")])
    second = program(dirs, [site("s-one")])
    assert all(was is None for was in carried_over({r.urn for r in first.resources}, second).values())


def test_renaming_a_pack_moves_its_resources_and_keeps_its_objects_names(dirs: tuple[Path, Path]) -> None:
    first = program(dirs, [site("s-1")])
    second = program(dirs, [site("s-1", "3.0.0")])
    assert_carried_over(first, second)
    chart = second.named("s-1-store", "kubernetes:helm.sh/v4:Chart")
    assert chart.inputs["name"] == "db", "the release name templates object names: it stays the first one"


def test_a_renamed_gke_cluster_keeps_its_cloud_names(mocks: GraphMocks) -> None:
    from tests import test_cluster_gke as gke

    gke.build(mocks, name="prod-euw2", renamed_from=["prod-euw1"])
    assert mocks.named("prod-euw2-gke").inputs["name"] == "prod-euw1"
    assert mocks.named("prod-euw2-vpc").inputs["name"] == "prod-euw1-vpc"
    assert mocks.named("prod-euw2-node-sa").inputs["accountId"] == "prod-euw1-nodes"
    assert mocks.named("prod-euw2-k8s").inputs["clusterIdentifier"] == "strata/gke/prod-euw1"


# ------------------------------------------------------------------------------------------- retention


def _retained(mocks: GraphMocks) -> set[str]:
    return {r.name for r in mocks.resources if r.retain_on_delete}


def test_production_keeps_the_namespace_and_objects_of_data_owning_packs(dirs: tuple[Path, Path]) -> None:
    mocks = program(dirs, [site("s-1")], production=True)
    assert _retained(mocks) == {"s-1-ns-logs", "s-1-ns-db", "s-1-logs", "s-1-db"}
    for chart in ("s-1-logs", "s-1-db"):
        # The chart's own objects are registered by the provider: a transform retains each of them.
        assert mocks.named(chart, "kubernetes:helm.sh/v4:Chart").transforms == 1
    assert mocks.named("s-1-web", "kubernetes:helm.sh/v4:Chart").transforms == 0


def test_other_environments_delete_what_they_remove(dirs: tuple[Path, Path]) -> None:
    assert _retained(program(dirs, [site("s-1")])) == set()


# ------------------------------------------------------------------------------------------- data loss


def test_dropping_a_data_owning_pack_fails_before_anything_is_registered(dirs: tuple[Path, Path]) -> None:
    deployed = {"s-1": {"logs": "logs", "db": "db"}}
    with pytest.raises(pulumi.RunError) as info:
        program(dirs, [site("s-1", "2.0.0")], deployed, production=True)
    message = str(info.value)
    assert "2 error(s); nothing was created" in message
    assert (
        'Pulumi.prod.yaml: config."strata:clusters"[0].profiles: pack logs is no longer in the profiles of cluster '
        "s-1, and it owns data: namespace logs and the volumes in it" in message
    )
    assert "strata:allow_data_loss: [db]" in message


@pytest.mark.parametrize(
    ("cluster", "settings"),
    [
        ({}, {"allow_data_loss": ["logs", "db"]}),
        ({}, {"allow_data_loss": ["s-1/logs", "s-1/db"]}),
        ({"allow_data_loss": ["logs", "db"]}, {}),
    ],
)
def test_an_acknowledged_loss_goes_ahead(
    dirs: tuple[Path, Path], cluster: dict[str, Any], settings: dict[str, Any]
) -> None:
    mocks = program(
        dirs, [site("s-1", "2.0.0", **cluster)], {"s-1": {"logs": "logs", "db": "db"}}, production=True, **settings
    )
    assert mocks.of_type("strata:clusters:EdgeCluster")


def test_renames_are_not_removals(dirs: tuple[Path, Path]) -> None:
    deployed = {"s-1": {"logs": "logs", "db": "db"}}
    program(dirs, [site("s-one", "3.0.0", renamed_from=["s-1"])], deployed, production=True)


def test_removing_a_cluster_with_data_needs_an_acknowledgement(dirs: tuple[Path, Path]) -> None:
    deployed = {"s-1": {"logs": "logs"}, "s-2": {"logs": "logs", "db": "db"}}
    with pytest.raises(pulumi.RunError, match=r"cluster s-2 is no longer deployed by this stack, and it holds data"):
        program(dirs, [site("s-1")], deployed, production=True)
    program(dirs, [site("s-1")], deployed, production=True, allow_data_loss=["s-2/*"])


def test_the_offline_plan_refuses_what_the_deployment_refuses(dirs: tuple[Path, Path], tmp_path: Path) -> None:
    packs_dir, config = dirs
    (config / "Pulumi.prod.yaml").write_text(
        yaml.safe_dump({"config": {"strata:production": True, "strata:clusters": [site("s-1", "2.0.0")]}})
    )
    outputs = tmp_path / "prod.json"
    # What `pulumi stack output --json` prints: the contract is secret, the data-owning packs are not.
    outputs.write_text(json.dumps({"clusters": "[secret]", "environment": "prod", EXPORT_KEY: {"s-1": {"db": "db"}}}))
    args = ["plan", "--env", "prod", "--config-dir", str(config), "--packs-dir", str(packs_dir)]
    runner = CliRunner()
    refused = runner.invoke(app, [*args, "--deployed", str(outputs)])
    assert refused.exit_code == 1
    assert "pack db is no longer in the profiles of cluster s-1" in refused.output
    assert "strata:allow_data_loss: [db]" in refused.output, "the fix is shown as written in YAML"
    assert runner.invoke(app, args).exit_code == 0, "without what is deployed there is nothing to compare"


def test_a_deployed_file_that_cannot_be_read_says_how_to_save_it(dirs: tuple[Path, Path], tmp_path: Path) -> None:
    """Missing, empty, a directory, or pulumi's table instead of its JSON: one error each, naming the file, what
    is wrong and the command that saves it; never only the parser's message."""
    packs_dir, config = dirs
    (config / "Pulumi.prod.yaml").write_text(
        yaml.safe_dump({"config": {"strata:production": True, "strata:clusters": [site("s-1", "2.0.0")]}})
    )
    table = tmp_path / "table.json"
    table.write_text("Current stack outputs (1):\n    OUTPUT    VALUE\n    stateful  {...}\n")
    (tmp_path / "empty.json").write_text("")
    cases = {
        tmp_path / "missing.json": "no such file",
        tmp_path / "empty.json": "the file is empty",
        table: "not JSON (Expecting value at line 1, column 1); without --json pulumi prints a table",
        tmp_path: "cannot read it (",
    }
    args = ["plan", "--env", "prod", "--config-dir", str(config), "--packs-dir", str(packs_dir)]
    for path, what in cases.items():
        refused = CliRunner().invoke(app, [*args, "--deployed", str(path)])
        assert refused.exit_code == 1 and "Traceback" not in refused.output
        lines = refused.stderr.strip().splitlines()
        assert len(lines) == 2 and lines[1] == "1 error(s); nothing was planned or built.", refused.stderr
        assert lines[0].startswith(f"error: {path}: --deployed: {what}"), lines[0]
        assert f"save the stack's outputs with `pulumi stack output --json --stack <stack> > {path}`" in lines[0]
        assert "`strata stacks --env prod` lists the stacks" in lines[0]


def test_the_export_round_trips() -> None:
    assert parse_deployed({"clusters": "[secret]", EXPORT_KEY: {"a": {"db": "db"}}}, "x") == {"a": {"db": "db"}}
    assert parse_deployed({"clusters": "[secret]", "environment": "prod"}, "x") == {}
    assert export_value([]) == {}
    with pytest.raises(Exception, match="not a strata stack's outputs"):
        parse_deployed({EXPORT_KEY: ["db"]}, "x")


def test_a_former_name_belongs_to_one_cluster(dirs: tuple[Path, Path]) -> None:
    with pytest.raises(pulumi.RunError, match=r"\[1\]\.renamed_from\[0\]: 's-1' is also claimed by cluster s-1"):
        program(dirs, [site("s-1"), site("s-2", renamed_from=["s-1"])])
