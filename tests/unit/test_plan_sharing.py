"""Clusters that would get equal packs share one resolved result; clusters that would not, never do.

The sites of a fleet are rows differing in name, address and labels; resolving each on its own cost most of a
10,000-site plan. The resolver now applies a request once per distinct key and hands the same packs to every
cluster with that key. These tests hold the key to its promise: every input that can change a cluster's packs
splits the key (a cluster differing from an earlier one in that one field gets exactly what a fresh resolver
gives it), and inputs that cannot change them do not (the packs are the same object).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import pytest
from pydantic import BaseModel, Field

from packs.model import SecretRef, Target
from packs.resolve import ClusterRequest, ResolvedPlan, Resolver
from stacks.reconcile import _ref_fields, _secret_refs
from tests.catalogue_builder import facts, in_memory, pack, profile

VALUES = {
    "app": {
        "owner": "{{ cluster.name }}",
        "tier": "{{ cluster.labels.tier }}",
        "rack": "{{ cluster.rack }}",
        "plain": {"replicas": 1},
    }
}
VARIABLE = {"name": "replicas", "type": "integer", "path": "plain.replicas", "description": "r", "minimum": 1}


def catalogue(templated: bool = True, identity: bool = False) -> Any:
    app: dict[str, Any] = {"variables": [VARIABLE]}
    if identity:
        app["identity"] = {"service_account": "app", "aws_policy_arns": ["arn:aws:iam::aws:policy/ReadOnlyAccess"]}
    app["constraints"] = {"targets": ["edge", "eks"], "resources": {"cpu_millicores": 500}}
    return in_memory(
        [pack("cni-a", "cni"), pack("app", **app)],
        [profile("base", [{"pack": "cni-a@1.0.0"}, {"pack": "app@1.0.0", "expose": ["replicas"]}])],
        VALUES if templated else {"app": {"plain": {"replicas": 1}}},
    )


def request(**changes: Any) -> ClusterRequest:
    base = ClusterRequest(
        facts=facts("site-1", labels={"tier": "store"}, extra={"rack": "r1"}, region="eu-west"),
        profiles=("base@1.0.0",),
        file="inventories/sites.csv",
        field="line 2",
    )
    return replace(base, **changes)


def with_facts(**update: Any) -> ClusterRequest:
    return request(facts=request().facts.model_copy(update=update))


def document(plan: ResolvedPlan) -> str:
    return json.dumps(plan.as_dict(explain=True), sort_keys=True, default=str)


#: One input field changed at a time; each changes what the cluster's packs hold.
VARIANTS: dict[str, Callable[[], ClusterRequest]] = {
    "name (templated)": lambda: with_facts(name="site-2"),
    "label read by a template": lambda: with_facts(labels={"tier": "factory"}),
    "extra fact read by a template": lambda: with_facts(extra={"rack": "r2"}),
    "a variable's value": lambda: request(variables={"app.replicas": 3}),
    "an override": lambda: request(overrides={"app": {"plain": {"extra": "x"}}}),
    "an override templating a fact": lambda: request(overrides={"app": {"region": "{{ cluster.region }}"}}),
    "kubernetes version": lambda: with_facts(kubernetes_version="1.32"),
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_a_cluster_differing_in_one_input_gets_its_own_packs(variant: str) -> None:
    resolver = Resolver(catalogue())
    first = resolver.resolve(request())
    changed = VARIANTS[variant]()
    shared = resolver.resolve(changed)
    alone = Resolver(catalogue()).resolve(changed)
    assert document(shared) == document(alone)
    assert document(shared) != document(first)


def test_values_equal_in_python_but_shown_differently_split_the_key() -> None:
    """1, 1.0 and True compare equal in Python, but a plan shows (and Helm reads) them differently."""
    resolver = Resolver(catalogue())
    for value in (1, 1.0, True, "1"):
        changed = request(overrides={"app": {"plain": {"extra": value}}})
        assert document(resolver.resolve(changed)) == document(Resolver(catalogue()).resolve(changed))


@pytest.mark.parametrize("field", ["file", "field"])
def test_where_a_variable_was_written_splits_the_key(field: str) -> None:
    """Provenance records the row a variable came from: rows setting equal variables keep their own lines."""
    resolver = Resolver(catalogue())
    first = resolver.resolve(request(variables={"app.replicas": 2}))
    changed = request(variables={"app.replicas": 2}, **{field: "elsewhere"})
    shared = resolver.resolve(changed)
    assert document(shared) == document(Resolver(catalogue()).resolve(changed))
    assert document(shared) != document(first)


def test_a_variable_a_team_file_set_splits_the_key() -> None:
    """Equal variables, one set by the cluster's row and one by a team file: each plan names its own source."""
    resolver = Resolver(catalogue())
    first = resolver.resolve(request(variables={"app.replicas": 2}))
    team = request(variables={"app.replicas": 2}, origins={"app.replicas": ("stacks/teams/shop.yaml", "x")})
    shared = resolver.resolve(team)
    assert document(shared) == document(Resolver(catalogue()).resolve(team))
    assert "stacks/teams/shop.yaml" in document(shared) and document(shared) != document(first)


def test_override_reading_a_fact_the_profile_does_not_template_splits_the_key() -> None:
    overrides = {"app": {"where": "{{ cluster.region }}"}}
    resolver = Resolver(catalogue())
    resolver.resolve(request(overrides=overrides))
    changed = request(overrides=overrides, facts=request().facts.model_copy(update={"region": "us-east"}))
    assert resolver.resolve(changed).pack("app").values["where"] == "us-east"


def test_rows_differing_only_in_facts_no_template_reads_share_packs() -> None:
    resolver = Resolver(catalogue(templated=False))
    first = resolver.resolve(request())
    second = resolver.resolve(with_facts(name="site-2", labels={"tier": "factory"}, extra={"rack": "r9"}))
    assert second.packs is first.packs
    assert second.cluster.name == "site-2" and first.cluster.name == "site-1"


def test_templated_rows_share_when_every_fact_read_is_equal() -> None:
    resolver = Resolver(catalogue())
    first = resolver.resolve(request())
    # region is not templated by the profile, nodes only feeds the capacity check
    assert resolver.resolve(with_facts(region="us-east", nodes=3)).packs is first.packs


def test_a_shared_result_still_checks_each_clusters_capacity() -> None:
    resolver = Resolver(catalogue(templated=False))
    resolver.resolve(request())
    plan, errors = resolver.try_resolve(with_facts(name="site-2", cpu_millicores=100))
    assert plan is None
    assert [(e.path, e.cluster) for e in errors] == [("line 2.cpu_millicores", "site-2")]


def test_errors_are_never_shared_and_name_their_cluster() -> None:
    resolver = Resolver(catalogue())
    _, first = resolver.try_resolve(request(variables={"app.replicas": 0}))
    _, second = resolver.try_resolve(replace(with_facts(name="site-2"), variables={"app.replicas": 0}))
    assert [e.cluster for e in first] == ["site-1"]
    assert [e.cluster for e in second] == ["site-2"]


def test_packs_with_an_identity_are_applied_per_cluster() -> None:
    """Grants are scoped by templates that may read any fact: such compositions never share packs."""
    resolver = Resolver(catalogue(templated=False, identity=True))
    eks = {"target": Target.EKS, "kubernetes_version": "1.33"}
    first = resolver.resolve(with_facts(**eks))
    second = resolver.resolve(with_facts(name="site-2", **eks))
    assert second.packs is not first.packs
    assert document(second) == document(Resolver(catalogue(templated=False, identity=True)).resolve(
        with_facts(name="site-2", **eks)
    ))


# ------------------------------------------------------------------ secret references of a spec, by type


class _Leaf(BaseModel):
    ref: SecretRef | None = None
    note: str = ""


class _Tree(BaseModel):
    """Every way a declared type can carry a reference, beside fields that never can."""

    name: str = "t"
    count: int = 0
    labels: dict[str, str] = {}
    direct: SecretRef | None = None
    annotated: list[Annotated[SecretRef, Field(description="x")]] = []
    listed: list[SecretRef] = []
    mapped: dict[str, SecretRef] = {}
    leaves: tuple[_Leaf, ...] = ()
    anything: Any = None
    child: _Tree | None = None


def _every_ref(value: Any, path: str) -> list[tuple[str, SecretRef]]:
    """The reference walk: every field of every model, whatever its type."""
    if isinstance(value, SecretRef):
        return [(path, value)]
    if isinstance(value, BaseModel):
        fields = type(value).model_fields
        return [r for n in fields for r in _every_ref(getattr(value, n), f"{path}.{n}" if path else n)]
    if isinstance(value, dict):
        return [r for k, v in value.items() for r in _every_ref(v, f"{path}.{k}" if path else str(k))]
    if isinstance(value, list | tuple):
        return [r for i, v in enumerate(value) for r in _every_ref(v, f"{path}[{i}]")]
    return []


def test_the_typed_walk_finds_every_reference_the_full_walk_finds() -> None:
    ref = SecretRef(env="A")
    tree = _Tree(
        direct=ref,
        annotated=[SecretRef(env="B")],
        listed=[SecretRef(env="C")],
        mapped={"k": SecretRef(config="ns:k")},
        leaves=(_Leaf(), _Leaf(ref=SecretRef(file="/k"))),
        anything={"deep": [SecretRef(env="D")]},
        child=_Tree(direct=SecretRef(env="E"), child=_Tree(leaves=(_Leaf(ref=ref),))),
    )
    found = list(_secret_refs(tree, ""))
    assert found == _every_ref(tree, "")
    assert len(found) == 8
    assert "name" not in _ref_fields(_Tree) and "labels" not in _ref_fields(_Tree)


def test_every_shipped_cluster_spec_gives_the_same_references_as_the_full_walk(root: Path) -> None:
    from stacks.environment import available, load_environment

    entries = [e for name in available(root / "stacks/config") for e in load_environment(name).clusters]
    assert any(_every_ref(e.spec, "") for e in entries)
    for entry in entries:
        assert list(_secret_refs(entry.spec, "")) == _every_ref(entry.spec, ""), entry.spec.name


# ------------------------------------------------------------------ policy verdicts shared per pack


def test_a_packs_verdict_is_not_reused_under_other_policy_parameters() -> None:
    """Two environments judge one catalogue pack with their own allowed repositories, in one process."""
    from policy.rules import Params
    from stacks.policy import pack_violations

    plan = Resolver(catalogue(templated=False)).resolve(request())
    app = plan.pack("app")
    assert pack_violations(app, Params(), {"helm-chart-pinned"}) == []
    restricted = Params(allowed_repositories=("oci://registry.internal/",))
    assert [v.field for v, _ in pack_violations(app, restricted, {"helm-chart-pinned"})] == ["repository"]


# ------------------------------------------------------------------ a fleet's plan, shared vs one row at a time


def _fleet(folder: Path, root: Path, observability: bool) -> Path:
    """The shipped edge environment (with observability: Fluent Bit templates the cluster's name) and 24 rows
    that differ the ways inventories do: tiers, racks, addresses, some rows setting a variable, some host keys."""
    import shutil

    import yaml

    from bench.fleet import rows

    config = folder / "config"
    (config / "inventories").mkdir(parents=True)
    shutil.copy(root / "stacks/config/Pulumi.management.yaml", config)
    env = yaml.safe_load((root / "stacks/config/Pulumi.edge.yaml").read_text())
    if observability:
        env["config"]["strata:inventory"]["defaults"]["profiles"].append("observability@1.1.0")
    (config / "Pulumi.edge.yaml").write_text(yaml.safe_dump(env))
    lines = ["name,region,address,cpu_millicores,memory_mib,labels.tier,facts.rack,variables.envoy-gateway.replicas,"
             "host_key"]
    for i, r in enumerate(rows(24)):
        replicas = "2" if i % 4 == 1 else ""
        key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTests" if i % 5 == 2 else ""
        lines.append(
            f"{r['name']},{r['region']},{r['address']},8000,16384,{r['labels.tier']},{r['facts.rack']},{replicas},{key}"
        )
    (config / env["config"]["strata:inventory"]["file"]).write_text("\n".join(lines) + "\n")
    return config


@pytest.mark.parametrize(("observability", "distinct"), [(False, 7), (True, 24)])
def test_a_fleets_plan_is_what_planning_each_cluster_alone_gives(
    tmp_path: Path, root: Path, observability: bool, distinct: int
) -> None:
    from stacks.plan import plan_environment

    config = _fleet(tmp_path, root, observability)
    fleet = plan_environment("edge", config_dir=config)
    assert len(fleet.clusters) == 24
    # Without templates the 18 rows setting no variable share one result and the 6 that do keep their own
    # (provenance names their line); Fluent Bit's template of the name gives every site its own.
    assert len({id(cp.plan.packs) for cp in fleet.clusters}) == distinct
    for cp in fleet.clusters:
        alone = plan_environment("edge", cluster=cp.entry.spec.name, config_dir=config)
        assert cp.as_dict(explain=True) == alone.clusters[0].as_dict(explain=True), cp.entry.spec.name
        assert cp.delivery == alone.clusters[0].delivery and cp.drift == alone.clusters[0].drift


@pytest.mark.parametrize("explain", [False, True])
def test_the_json_text_is_the_documents_dump(tmp_path: Path, root: Path, explain: bool) -> None:
    from stacks.plan import plan_environment

    fleet = plan_environment("edge", config_dir=_fleet(tmp_path, root, False))
    assert fleet.as_json(explain) == json.dumps(fleet.as_dict(explain), separators=(",", ":"))


# ------------------------------------------------------------------ the collector after a plan


def test_what_a_paused_block_built_moves_to_the_oldest_generation_unscanned() -> None:
    """Left young, a fleet's plan would be scanned by the first collection after it; frozen for good, its
    cycles would never be collected. It goes to the oldest generation: examined only by full collections."""
    import gc

    from stacks.plan import collector_paused

    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
        kept = [[i] for i in range(1000)]
    assert gc.isenabled()
    assert not any(o is kept for o in gc.get_objects(generation=0))
    assert any(o is kept for o in gc.get_objects(generation=2))
    assert gc.get_freeze_count() == 0
