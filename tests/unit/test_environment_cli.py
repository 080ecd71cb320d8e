"""Environments, inventories and the CLI against small on-disk catalogues, including bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner, Result

from components.clusters.spec import EdgeClusterSpec
from packs.errors import PlanErrors
from stacks.cli import app
from stacks.environment import load_environment
from tests.catalogue_builder import on_disk, pack, profile

runner = CliRunner()

PACKS = [
    pack(
        "os-a", "os", source={"kind": "managed", "service": "cluster", "name": "node-os"}, namespace=None, requires=[]
    ),
    pack(
        "k3s",
        "kubernetes",
        source={"kind": "managed", "service": "cluster", "name": "kubernetes"},
        namespace=None,
        requires=[],
    ),
    pack("cni-a", "cni"),
    pack(
        "web",
        variables=[{"name": "replicas", "type": "integer", "path": "replicaCount", "description": "r", "minimum": 1}],
    ),
]
VALUES = {"web": {"replicaCount": 1, "site": "{{ cluster.site }}"}, "k3s": {"version": "v1.31.4+k3s1"}}
PROFILES = [
    profile(
        "edge",
        [
            {"pack": "os-a@1.0.0"},
            {"pack": "k3s@1.0.0"},
            {"pack": "cni-a@1.0.0"},
            {"pack": "web@1.0.0", "expose": ["replicas"], "locks": ["site"]},
        ],
        targets=["edge", "existing"],
    )
]


def edge_cluster(name: str = "site-1", **extra: Any) -> dict[str, Any]:
    doc = {
        "name": name,
        "target": "edge",
        "kubernetes_version": "1.31",
        "profiles": ["edge@1.0.0"],
        "site": name,
        "hosts": [{"name": "n1", "address": "10.0.0.1"}],
        "ssh_key": {"env": "EDGE_KEY"},
    }
    doc.update(extra)
    return doc


@pytest.fixture
def workspace(tmp_path: Path) -> tuple[Path, Path]:
    packs_dir = on_disk(tmp_path, PACKS, PROFILES, VALUES)
    config = tmp_path / "stacks" / "config"
    config.mkdir(parents=True)
    return packs_dir, config


def write_env(config: Path, name: str, strata: dict[str, Any]) -> Path:
    path = config / f"Pulumi.{name}.yaml"
    path.write_text(yaml.safe_dump({"config": {f"strata:{k}": v for k, v in strata.items()}}))
    return path


def plan(workspace: tuple[Path, Path], *args: str) -> Result:
    packs_dir, config = workspace
    return runner.invoke(app, ["plan", *args, "--config-dir", str(config), "--packs-dir", str(packs_dir)])


def test_plan_table_and_json(workspace: tuple[Path, Path]) -> None:
    write_env(workspace[1], "t", {"clusters": [edge_cluster(), edge_cluster("site-2", variables={"web.replicas": 2})]})
    result = plan(workspace, "--env", "t")
    assert result.exit_code == 0, result.output
    assert "web@1.0.0" in result.output and "site-2" in result.output
    result = plan(workspace, "--env", "t", "--json")
    doc = json.loads(result.stdout)
    assert doc["schema"] == "strata.plan/v1"
    assert [c["name"] for c in doc["clusters"]] == ["site-1", "site-2"]
    web = doc["clusters"][1]["packs"][-1]
    assert web["values"] == {"replicaCount": 2, "site": "site-2"}
    assert [p["name"] for p in doc["clusters"][0]["packs"]] == ["os-a", "k3s", "cni-a", "web"]


def test_explain_shows_provenance_and_locks(workspace: tuple[Path, Path]) -> None:
    write_env(workspace[1], "t", {"clusters": [edge_cluster(variables={"web.replicas": 3})]})
    result = plan(workspace, "--env", "t", "--explain", "--json")
    web = json.loads(result.stdout)["clusters"][0]["packs"][-1]
    assert web["provenance"]["replicaCount"]["source"] == "env-variable"
    assert web["locks"] == ["site"]
    text = plan(workspace, "--env", "t", "--explain")
    assert "env-variable" in text.output and "locked" in text.output


def test_single_cluster(workspace: tuple[Path, Path]) -> None:
    write_env(workspace[1], "t", {"clusters": [edge_cluster(), edge_cluster("site-2")]})
    doc = json.loads(plan(workspace, "--env", "t", "--cluster", "site-2", "--json").stdout)
    assert [c["name"] for c in doc["clusters"]] == ["site-2"]
    missing = plan(workspace, "--env", "t", "--cluster", "nope")
    assert missing.exit_code == 1
    assert "no cluster 'nope'" in missing.stderr


def test_bad_input_lists_every_error_without_traceback(workspace: tuple[Path, Path]) -> None:
    bad = [
        edge_cluster(variables={"web.replicas": 0}),
        edge_cluster("site-2", kubernetes_version="1.99"),
        edge_cluster("site-3", hosts=[{"name": "n1", "address": "10.0.0.1", "role": "agent"}]),
        edge_cluster("site-4", profiles=["edge@9.0.0"]),
    ]
    write_env(workspace[1], "t", {"clusters": bad})
    result = plan(workspace, "--env", "t")
    assert result.exit_code == 1
    err = result.stderr
    assert "Traceback" not in err
    prefix = "stacks/config/Pulumi.t.yaml: "
    assert f'{prefix}config."strata:clusters"[1].kubernetes_version: Kubernetes 1.99 is not supported on edge' in err
    assert f'{prefix}config."strata:clusters"[2].hosts: hosts[0] must be a server' in err
    # Validation errors stop before resolution; fix them and resolution errors appear.
    write_env(workspace[1], "t", {"clusters": [bad[0], bad[3]]})
    result = plan(workspace, "--env", "t", "--json")
    assert result.exit_code == 1
    errors = json.loads(result.stdout)["errors"]
    messages = {e["message"] for e in errors}
    assert "0 is below the minimum 1" in messages
    assert any(m.startswith("unknown profile edge@9.0.0") for m in messages)
    assert {e["path"] for e in errors} == {
        'config."strata:clusters"[0].variables.web.replicas',
        'config."strata:clusters"[1].profiles[0]',
    }


def test_malformed_yaml_names_file_and_line(workspace: tuple[Path, Path]) -> None:
    (workspace[1] / "Pulumi.t.yaml").write_text("config:\n  strata:clusters: [\n    - a: b\n")
    result = plan(workspace, "--env", "t")
    assert result.exit_code == 1
    assert "Pulumi.t.yaml: line" in result.stderr and "malformed YAML" in result.stderr


def test_unknown_environment_and_keys(workspace: tuple[Path, Path]) -> None:
    result = plan(workspace, "--env", "nope")
    assert result.exit_code == 1 and "no environment 'nope'" in result.stderr
    write_env(workspace[1], "t", {"clusterz": []})
    result = plan(workspace, "--env", "t")
    assert "config.strata:clusterz: unknown key" in result.stderr


def test_unknown_cluster_field_is_rejected(workspace: tuple[Path, Path]) -> None:
    write_env(workspace[1], "t", {"clusters": [edge_cluster(node_pool=[])]})
    result = plan(workspace, "--env", "t")
    assert result.exit_code == 1
    assert 'config."strata:clusters"[0].node_pool: unknown field' in result.stderr


def test_inventory_rows_become_clusters(workspace: tuple[Path, Path]) -> None:
    _, config = workspace
    (config / "sites.csv").write_text(
        "name,region,site,address,labels.tier,facts.rack,variables.web.replicas\n"
        "s-1,eu,fr-1,10.0.0.1,store,r1,2\n"
        "s-2,us,ny-2,10.0.0.2,factory,r2,\n"
    )
    defaults = {k: v for k, v in edge_cluster().items() if k not in ("name", "site", "hosts")}
    write_env(config, "fleet", {"stacks": "cluster", "inventory": {"file": "sites.csv", "defaults": defaults}})
    env = load_environment("fleet", config)
    s1 = env.cluster("s-1").spec
    assert isinstance(s1, EdgeClusterSpec)
    assert s1.hosts[0].address == "10.0.0.1" and s1.labels == {"tier": "store"}
    assert s1.variables == {"web.replicas": 2} and s1.facts == {"rack": "r1"}
    doc = json.loads(plan(workspace, "--env", "fleet", "--json").stdout)
    assert doc["clusters"][0]["packs"][-1]["values"] == {"replicaCount": 2, "site": "fr-1"}


def test_inventory_errors_name_the_row(workspace: tuple[Path, Path]) -> None:
    _, config = workspace
    (config / "sites.csv").write_text("name,address\ns-1,10.0.0.1\nBAD NAME,10.0.0.2\ns-1,10.0.0.3\n")
    defaults = {k: v for k, v in edge_cluster().items() if k not in ("name", "site", "hosts")}
    write_env(config, "fleet", {"inventory": {"file": "sites.csv", "defaults": defaults}})
    with pytest.raises(PlanErrors) as info:
        load_environment("fleet", config)
    text = str(info.value)
    assert "sites.csv: line 3.name" in text
    assert "sites.csv: line 4.name: cluster name 's-1' is already used" in text


def test_missing_inventory_file(workspace: tuple[Path, Path]) -> None:
    write_env(workspace[1], "fleet", {"inventory": {"file": "nope.csv"}})
    result = plan(workspace, "--env", "fleet")
    assert result.exit_code == 1 and "nope.csv does not exist" in result.stderr


def test_packs_list_and_show(workspace: tuple[Path, Path]) -> None:
    packs_dir, _ = workspace
    listing = runner.invoke(app, ["packs", "--packs-dir", str(packs_dir)])
    assert listing.exit_code == 0 and "web" in listing.output and "edge@1.0.0" in listing.output
    shown = runner.invoke(app, ["packs", "--packs-dir", str(packs_dir), "show", "web"])
    assert shown.exit_code == 0 and "replicaCount" in shown.output and "replicas" in shown.output
    missing = runner.invoke(app, ["packs", "--packs-dir", str(packs_dir), "show", "nope"])
    assert missing.exit_code == 1 and "no pack 'nope'" in missing.stderr


def test_broken_catalogue_is_reported_with_file(workspace: tuple[Path, Path]) -> None:
    packs_dir, _ = workspace
    bad = packs_dir / "catalog" / "web" / "1.0.0" / "pack.yaml"
    doc = yaml.safe_load(bad.read_text())
    doc["source"]["version"] = "^1.0"
    doc["layer"] = "middleware"
    bad.write_text(yaml.safe_dump(doc))
    result = runner.invoke(app, ["packs", "--packs-dir", str(packs_dir)])
    assert result.exit_code == 1
    assert "packs/catalog/web/1.0.0/pack.yaml: layer:" in result.stderr
    assert (
        "packs/catalog/web/1.0.0/pack.yaml: source.helm.version" in result.stderr or "source.version" in result.stderr
    )


def test_json_document_has_exactly_the_documented_keys(workspace: tuple[Path, Path]) -> None:
    """docs/plan-json.md and the output cannot drift apart."""
    write_env(workspace[1], "t", {"clusters": [edge_cluster()]})
    doc = json.loads(plan(workspace, "--env", "t", "--json", "--explain").stdout)
    assert set(doc) == {"schema", "environment", "production", "stacks", "clusters"}
    cluster = doc["clusters"][0]
    assert set(cluster) == {
        "name",
        "target",
        "region",
        "kubernetes_version",
        "labels",
        "profiles",
        "packs",
        "drift",
        "delivery",
    }
    pack_keys = {
        "name",
        "version",
        "layer",
        "profile",
        "source",
        "namespace",
        "after",
        "provides",
        "requires",
        "values",
        "locks",
        "deferred",
        "secrets",
        "provenance",
    }
    assert all(set(p) == pack_keys for p in cluster["packs"])
    documented = (Path(__file__).resolve().parents[2] / "docs/plan-json.md").read_text()
    for key in pack_keys | set(cluster) | set(doc):
        assert f'"{key}"' in documented, key


def test_stacks_lists_what_deploys_an_environment(workspace: tuple[Path, Path]) -> None:
    _, config = workspace
    write_env(config, "small", {"clusters": [edge_cluster()]})
    write_env(config, "fleet", {"stacks": "cluster", "clusters": [edge_cluster(f"s-{i}") for i in range(6)]})

    def run(*a: str) -> Result:
        return runner.invoke(app, ["stacks", *a, "--config-dir", str(config)])

    assert run("--env", "small").stdout.split() == ["small"]
    assert run("--env", "fleet").stdout.split() == [f"fleet.s-{i}" for i in range(6)]
    shards = run("--env", "fleet", "--shards", "2").stdout.split()
    assert set(shards) <= {"fleet.shard-1-of-2", "fleet.shard-2-of-2"} and shards
    assert run("--env", "nope").exit_code == 1
