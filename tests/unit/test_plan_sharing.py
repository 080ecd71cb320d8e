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
from typing import Any

import pytest

from packs.model import Target
from packs.resolve import ClusterRequest, ResolvedPlan, Resolver
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
