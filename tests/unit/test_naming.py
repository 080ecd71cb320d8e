"""Stack naming: which stack owns which cluster, shared by the program and ``strata stacks``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from packs.errors import PlanErrors
from stacks.cli import app
from stacks.environment import load_environment
from stacks.naming import StackSelection, parse_stack, select, shard_of, stack_names

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()

#: Golden values: a cluster's shard must never change, in any process, machine or release. A change here
#: moves live sites between stacks (two stacks would then own one cluster): never update these values.
GOLDEN: dict[str, list[int]] = {
    # name: shard_of(name, n) for n in (2, 4, 8, 10, 64)
    "eu-west-fr-00001": [2, 2, 6, 2, 14],
    "eu-central-de-00002": [2, 4, 4, 6, 4],
    "prod-eks-eu": [2, 4, 8, 10, 40],
    "prod-aks-eu": [2, 4, 8, 2, 24],
    "prod-gke-us": [2, 4, 8, 6, 16],
    "s-1": [1, 1, 1, 7, 17],
    "dev-eks": [2, 4, 4, 6, 60],
}
COUNTS = (2, 4, 8, 10, 64)


def test_shard_of_golden_values() -> None:
    assert {name: [shard_of(name, n) for n in COUNTS] for name in GOLDEN} == GOLDEN


@pytest.mark.parametrize("seed", ["0", "1", "random"])
def test_shard_of_is_the_same_in_every_process(seed: str) -> None:
    """Python's ``hash()`` is salted per process; a shard computed from it would move between runs."""
    code = (
        "import json, sys\nfrom stacks.naming import shard_of\n"
        f"print(json.dumps({{n: [shard_of(n, k) for k in {COUNTS!r}] for n in {list(GOLDEN)!r}}}))"
    )
    env = {**os.environ, "PYTHONHASHSEED": seed}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == GOLDEN


def test_parse_stack() -> None:
    assert parse_stack("dev") == StackSelection("dev", None)
    assert parse_stack("edge.eu-west-fr-00001") == StackSelection("edge", "eu-west-fr-00001")
    assert parse_stack("acme/strata/edge.shard-2-of-8") == StackSelection("edge", "shard-2-of-8")


def cluster(name: str) -> dict[str, Any]:
    return {"name": name, "target": "existing", "kubernetes_version": "1.34", "profiles": ["x@1.0.0"]}


@pytest.fixture
def config(tmp_path: Path) -> Path:
    folder = tmp_path / "stacks" / "config"
    folder.mkdir(parents=True)
    return folder


def write(config: Path, env: str, stacks: str, names: list[str]) -> None:
    doc = {"config": {"strata:stacks": stacks, "strata:clusters": [cluster(n) for n in names]}}
    (config / f"Pulumi.{env}.yaml").write_text(yaml.safe_dump(doc))


def refusal(exc: pytest.ExceptionInfo[PlanErrors], env: str) -> str:
    [error] = exc.value.errors
    assert error.file.endswith(f"stacks/config/Pulumi.{env}.yaml")  # shown as the folder was given
    assert error.path == 'config."strata:stacks"'
    return error.message


@pytest.mark.parametrize("selector", ["a", "shard-1-of-2", "shard-1-of-1"])
def test_environment_stack_refuses_cluster_and_shard_stacks(config: Path, selector: str) -> None:
    """``one``, ``one.a`` and ``one.shard-1-of-2`` would all own cluster a."""
    write(config, "one", "environment", ["a", "b"])
    env = load_environment("one", config)
    assert [e.spec.name for e in select(env, StackSelection("one", None))] == ["a", "b"]
    with pytest.raises(PlanErrors) as exc:
        select(env, StackSelection("one", selector))
    message = refusal(exc, "one")
    assert f"one.{selector}" in message and "use the stack one" in message
    assert 'config."strata:stacks": cluster' in message  # the other way out


def test_per_cluster_environment_refuses_the_environment_stack(config: Path) -> None:
    write(config, "fleet", "cluster", ["a", "b"])
    env = load_environment("fleet", config)
    with pytest.raises(PlanErrors) as exc:
        select(env, StackSelection("fleet", None))
    message = refusal(exc, "fleet")
    assert "fleet.a" in message and "fleet.shard-1-of-2" in message and "strata stacks --env fleet" in message


@pytest.mark.parametrize("selector", ["shard-01-of-2", "shard-1-of-02", "shard-0-of-2", "shard-3-of-2", "shard-1-of-0"])
def test_non_canonical_or_impossible_shards_are_refused(config: Path, selector: str) -> None:
    """``shard-01-of-2`` would be a second stack owning shard 1's clusters."""
    write(config, "fleet", "cluster", ["a", "b"])
    env = load_environment("fleet", config)
    with pytest.raises(PlanErrors) as exc:
        select(env, StackSelection("fleet", selector))
    assert "without leading zeros" in refusal(exc, "fleet")


def test_cluster_named_like_a_shard_is_refused(config: Path) -> None:
    write(config, "fleet", "cluster", ["a", "shard-1-of-2"])
    env = load_environment("fleet", config)
    for call in (lambda: select(env, StackSelection("fleet", "a")), lambda: stack_names(env)):
        with pytest.raises(PlanErrors) as exc:
            call()
        [error] = exc.value.errors
        assert error.path == 'config."strata:clusters"[1].name' and "rename the cluster" in error.message


def test_unknown_cluster_stack_suggests_the_close_name(config: Path) -> None:
    write(config, "fleet", "cluster", ["site-one", "site-two"])
    env = load_environment("fleet", config)
    with pytest.raises(PlanErrors, match=r"did you mean fleet\.site-one"):
        select(env, StackSelection("fleet", "site-on"))


def test_listed_stacks_own_every_cluster_exactly_once(config: Path) -> None:
    names = [f"site-{i}" for i in range(25)]
    write(config, "fleet", "cluster", names)
    env = load_environment("fleet", config)
    assert stack_names(env).names == tuple(f"fleet.{n}" for n in names)
    for shards in (1, 3, 7, 40):
        listed = stack_names(env, shards)
        owned = [e.spec.name for s in listed.names for e in select(env, parse_stack(s))]
        assert sorted(owned) == sorted(names)
        assert all(select(env, parse_stack(s)) for s in listed.names)  # no empty shard is offered
        empty = [i for i in range(1, shards + 1) if f"fleet.shard-{i}-of-{shards}" not in listed.names]
        assert list(listed.empty_shards) == empty
        assert all(not select(env, StackSelection("fleet", f"shard-{i}-of-{shards}")) for i in empty)


def test_cli_refuses_shards_for_an_environment_stack(config: Path) -> None:
    write(config, "one", "environment", ["a"])
    result = runner.invoke(app, ["stacks", "--env", "one", "--shards", "2", "--config-dir", str(config)])
    assert result.exit_code == 1 and result.stdout == ""
    assert 'Pulumi.one.yaml: config."strata:stacks"' in result.stderr and "use the stack one" in result.stderr
    assert "Traceback" not in result.output


def test_cli_explains_empty_shards_on_stderr() -> None:
    """The shipped prod environment: three clusters all hash to shard 2 of 2."""
    result = runner.invoke(app, ["stacks", "--env", "prod", "--shards", "2"])
    assert result.exit_code == 0
    assert result.stdout.split() == ["prod.shard-2-of-2"]
    assert "1 of 2 shard(s) hold no cluster of prod (3 cluster(s)) and are not listed: shard 1" in result.stderr
