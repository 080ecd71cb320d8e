"""The stack program's own rules, on a small catalogue: stack selection, shards, validation before creation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml

from stacks.environment import load_environment
from stacks.naming import StackSelection, parse_stack, select, shard_of
from stacks.program import run
from tests.catalogue_builder import on_disk, pack, profile
from tests.mocks import GraphMocks, install, settle
from tests.test_cluster_edge import answer_reads

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
    pack("web", variables=[{"name": "replicas", "type": "integer", "path": "replicaCount", "description": "r"}]),
]
PROFILES = [
    profile(
        "edge",
        [{"pack": "k3s@1.0.0"}, {"pack": "flannel@1.0.0"}, {"pack": "web@1.0.0", "expose": ["replicas"]}],
        targets=["edge"],
    ),
    profile("apps", [{"pack": "web@1.0.0"}], kind="addon", targets=["existing"]),
]


def site(name: str, **extra: Any) -> dict[str, Any]:
    doc = {
        "name": name,
        "target": "edge",
        "kubernetes_version": "1.31",
        "profiles": ["edge@1.0.0"],
        "hosts": [{"name": "n1", "address": f"10.0.0.{len(name)}"}],
        "ssh_key": {"env": "STRATA_TEST_EDGE_KEY"},
    }
    doc.update(extra)
    return doc


@pytest.fixture
def dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    monkeypatch.setenv(
        "STRATA_TEST_EDGE_KEY", "-----BEGIN OPENSSH PRIVATE KEY-----\nx\n-----END OPENSSH PRIVATE KEY-----\n"
    )
    packs_dir = on_disk(tmp_path, PACKS, PROFILES, {"k3s": {"version": "v1.31.4+k3s1"}, "web": {"replicaCount": 1}})
    config = tmp_path / "stacks" / "config"
    config.mkdir(parents=True)
    return packs_dir, config


def write(config: Path, env: str, strata: dict[str, Any]) -> None:
    (config / f"Pulumi.{env}.yaml").write_text(
        yaml.safe_dump({"config": {f"strata:{k}": v for k, v in strata.items()}})
    )


def test_stack_names() -> None:
    assert parse_stack("dev") == StackSelection("dev", None)
    assert parse_stack("edge.eu-west-fr-00001") == StackSelection("edge", "eu-west-fr-00001")
    assert parse_stack("acme/strata/edge.shard-2-of-8") == StackSelection("edge", "shard-2-of-8")


def test_shards_partition_the_fleet(dirs: tuple[Path, Path]) -> None:
    _, config = dirs
    write(config, "fleet", {"stacks": "cluster", "clusters": [site(f"s-{i}") for i in range(40)]})
    env = load_environment("fleet", config)
    shards = [select(env, StackSelection("fleet", f"shard-{i}-of-4")) for i in range(1, 5)]
    names = [e.spec.name for shard in shards for e in shard]
    assert sorted(names) == sorted(e.spec.name for e in env.clusters)  # every site exactly once
    assert all(shards)  # none empty at this size
    assert shard_of("s-1", 4) == shard_of("s-1", 4)


def test_fleet_refuses_one_giant_stack(mocks: GraphMocks, dirs: tuple[Path, Path]) -> None:
    packs_dir, config = dirs
    write(config, "fleet", {"stacks": "cluster", "clusters": [site("s-1"), site("s-2")]})
    with pytest.raises(pulumi.RunError, match=r"deploys one stack per cluster .*; select a stack such as fleet.s-1"):
        run("fleet", config, packs_dir)
    settle()
    assert mocks.resources == []


def test_one_cluster_stack_builds_only_that_cluster(mocks: GraphMocks, dirs: tuple[Path, Path]) -> None:
    packs_dir, config = dirs
    answer_reads(mocks)
    write(config, "fleet", {"stacks": "cluster", "clusters": [site("s-1"), site("s-2")]})
    built = run("fleet.s-2", config, packs_dir)
    settle()
    assert list(built) == ["s-2"]
    assert {r.name for r in mocks.of_type("strata:clusters:EdgeCluster")} == {"s-2"}
    assert mocks.named("s-2-web").inputs["values"] == {"replicaCount": 1}


@pytest.mark.parametrize("stack", ["dev.s-1", "dev.shard-1-of-2"])
def test_environment_stack_owns_its_clusters_alone(mocks: GraphMocks, dirs: tuple[Path, Path], stack: str) -> None:
    """``dev`` deploys s-1; a ``dev.s-1`` or shard stack would create the same cluster a second time."""
    packs_dir, config = dirs
    write(config, "dev", {"stacks": "environment", "clusters": [site("s-1")]})
    with pytest.raises(pulumi.RunError, match=rf'Pulumi.dev.yaml: config."strata:stacks": .* so the stack {stack} '):
        run(stack, config, packs_dir)
    settle()
    assert mocks.resources == []


def test_bad_input_creates_nothing(mocks: GraphMocks, dirs: tuple[Path, Path]) -> None:
    packs_dir, config = dirs
    write(config, "dev", {"clusters": [site("s-1"), site("s-2", variables={"web.replicas": "two"})]})
    with pytest.raises(pulumi.RunError) as info:
        run("dev", config, packs_dir)
    message = str(info.value)
    assert "1 error(s); nothing was created" in message
    assert 'Pulumi.dev.yaml: config."strata:clusters"[1].variables.web.replicas: expected integer, got str' in message
    settle()
    assert mocks.resources == []


def test_component_checks_run_before_anything(
    mocks: GraphMocks, dirs: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    packs_dir, config = dirs
    monkeypatch.delenv("STRATA_TEST_EDGE_KEY")
    write(config, "dev", {"clusters": [site("s-1")]})
    with pytest.raises(pulumi.RunError, match="STRATA_TEST_EDGE_KEY is not set"):
        run("dev", config, packs_dir)
    settle()
    assert mocks.resources == []


def test_unknown_cluster_selector(mocks: GraphMocks, dirs: tuple[Path, Path]) -> None:
    packs_dir, config = dirs
    write(config, "fleet", {"stacks": "cluster", "clusters": [site("s-1")]})
    with pytest.raises(pulumi.RunError, match=r"stack fleet\.nope selects cluster 'nope'"):
        run("fleet.nope", config, packs_dir)


def test_stack_config_takes_precedence(dirs: tuple[Path, Path]) -> None:
    """When a stack has its own strata:clusters config (pulumi config set), that is what it deploys."""
    packs_dir, config = dirs
    write(config, "dev", {"clusters": [site("from-file")]})
    m = GraphMocks()
    answer_reads(m)
    install(m, stack="dev")
    # The engine hands structured config to the program as JSON text.
    pulumi.runtime.set_all_config({"strata:clusters": json.dumps([site("from-config")])})
    built = run("dev", config, packs_dir)
    settle()
    assert list(built) == ["from-config"]


@pytest.mark.parametrize("own_process", [False, True])
def test_only_a_program_owning_its_process_freezes_what_it_loaded(
    mocks: GraphMocks, dirs: tuple[Path, Path], own_process: bool
) -> None:
    """Under the engine (stacks/__main__.py) the heap loaded before the first resource is frozen out of the
    collector's passes; a host calling run() repeatedly must not have its cycles frozen for good."""
    import gc

    packs_dir, config = dirs
    answer_reads(mocks)
    write(config, "fleet", {"stacks": "cluster", "clusters": [site("s-1")]})
    try:
        run("fleet.s-1", config, packs_dir, own_process=own_process)
        settle()
        assert (gc.get_freeze_count() > 0) is own_process
    finally:
        gc.unfreeze()
    assert "run(own_process=True)" in (Path(__file__).parents[1] / "stacks/__main__.py").read_text()
