"""Kubernetes' label and taint syntax on the shared node pool model, the same for every cloud.

Each cloud's tests keep only its own rules (reserved prefixes, labels the kubelet refuses, taint limits).
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from components.clusters.spec import NodePool, Taint, is_label_value, label_key_problem
from packs.errors import PlanErrors
from stacks.environment import environment_from_config

#: A DNS subdomain of exactly 253 characters: four dot-separated labels.
PREFIX_253 = ".".join(("a" * 63, "b" * 63, "c" * 63, "d" * 61))
NAME_RULE = "name must be 1-63 alphanumerics, '-', '_' or '.', starting and ending alphanumeric"
PREFIX_RULE = "prefix is not a DNS subdomain"


@pytest.mark.parametrize(
    "key",
    [
        "a",
        "9",
        "tier",
        "A-b_c.D9",
        "x" * 63,
        "example.com/team",
        "node.kubernetes.io/pool",
        "kubernetes.azure.com/mode",
        "a-b.c-d/X_y",
        "sub.example-1.com/a.b",
        f"{PREFIX_253}/x",
    ],
)
def test_valid_label_keys(key: str) -> None:
    assert label_key_problem(key) is None


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("", NAME_RULE),
        ("bad key", NAME_RULE),
        ("-x", NAME_RULE),
        ("x-", NAME_RULE),
        ("_x", NAME_RULE),
        ("x" * 64, NAME_RULE),
        ("a:b", NAME_RULE),
        ("tier\n", NAME_RULE),
        ("example.com/", NAME_RULE),
        ("example.com/-x", NAME_RULE),
        ("/x", PREFIX_RULE),
        ("Bad!/x", PREFIX_RULE),
        ("Example.com/x", PREFIX_RULE),
        ("example_com/x", PREFIX_RULE),
        ("-example.com/x", PREFIX_RULE),
        ("example.com-/x", PREFIX_RULE),
        ("example..com/x", PREFIX_RULE),
        ("example.-com/x", PREFIX_RULE),
        (".example.com/x", PREFIX_RULE),
        ("a/b/c", PREFIX_RULE),
        (f"{PREFIX_253}d/x", PREFIX_RULE),
    ],
)
def test_invalid_label_keys(key: str, problem: str) -> None:
    assert label_key_problem(key) == problem


@pytest.mark.parametrize("value", ["", "a", "apps", "1.0", "A-b_c.D9", "v" * 63])
def test_valid_label_values(value: str) -> None:
    assert is_label_value(value)


@pytest.mark.parametrize("value", ["front end", "a:b", "-a", "a-", ".a", "a/b", "v" * 64, "apps\n", "é"])
def test_invalid_label_values(value: str) -> None:
    assert not is_label_value(value)


def test_a_valid_pool_keeps_its_labels_and_taints() -> None:
    pool = NodePool.model_validate(
        {
            "name": "apps",
            "labels": {"workload": "apps", "example.com/team": "", "node.kubernetes.io/pool": "apps"},
            "taints": [
                {"key": "dedicated", "value": "apps", "effect": "NoSchedule"},
                {"key": "example.com/spot", "effect": "PreferNoSchedule"},
            ],
        }
    )
    assert pool.labels["example.com/team"] == ""
    assert pool.taints[1] == Taint(key="example.com/spot", effect="PreferNoSchedule")


def _errors(data: dict[str, Any]) -> list[tuple[tuple[str | int, ...], str]]:
    with pytest.raises(ValidationError) as info:
        NodePool.model_validate({"name": "apps", **data})
    return [(err["loc"], err["msg"].removeprefix("Value error, ")) for err in info.value.errors()]


@pytest.mark.parametrize(
    ("data", "loc", "message"),
    [
        ({"labels": {"tier": "front end"}}, ("labels",), "value 'front end' of 'tier' is not a valid label value"),
        ({"labels": {"bad key": "x"}}, ("labels",), f"key 'bad key': {NAME_RULE}"),
        ({"labels": {"x": "", "Bad!/x": "y"}}, ("labels",), f"key 'Bad!/x': {PREFIX_RULE}"),
        ({"labels": {"a..b/team": "x"}}, ("labels",), f"key 'a..b/team': {PREFIX_RULE}"),
        (
            {"labels": {"bad key": "a:b"}},
            ("labels",),
            f"key 'bad key': {NAME_RULE}; value 'a:b' of 'bad key' is not a valid label value",
        ),
        (
            {"taints": [{"key": "ok", "effect": "NoSchedule"}, {"key": "Bad!/x", "effect": "NoSchedule"}]},
            ("taints", 1, "key"),
            f"'Bad!/x': {PREFIX_RULE}",
        ),
        ({"taints": [{"key": "-x", "effect": "NoSchedule"}]}, ("taints", 0, "key"), f"'-x': {NAME_RULE}"),
        (
            {"taints": [{"key": "k", "value": "a:b", "effect": "NoExecute"}]},
            ("taints", 0, "value"),
            "'a:b' is not a valid taint value",
        ),
        (
            {"taints": [{"key": "k", "value": "a b", "effect": "NoSchedule"}]},
            ("taints", 0, "value"),
            "'a b' is not a valid taint value",
        ),
    ],
)
def test_invalid_labels_and_taints_name_their_field(data: dict[str, Any], loc: tuple[Any, ...], message: str) -> None:
    assert _errors(data) == [(loc, message)]


def test_every_bad_label_and_taint_is_reported_at_once() -> None:
    errors = _errors(
        {
            "labels": {"tier": "front end", "ok": "fine", "bad key": "x"},
            "taints": [{"key": "Bad!/x", "value": "a:b", "effect": "NoSchedule"}],
        }
    )
    assert errors == [
        (("labels",), f"value 'front end' of 'tier' is not a valid label value; key 'bad key': {NAME_RULE}"),
        (("taints", 0, "key"), f"'Bad!/x': {PREFIX_RULE}"),
        (("taints", 0, "value"), "'a:b' is not a valid taint value"),
    ]


@pytest.mark.parametrize(
    ("target", "where"),
    [
        ("eks", {"region": "eu-west-1"}),
        ("aks", {"location": "westeurope"}),
        ("gke", {"project": "acme-prod-1", "region": "europe-west1"}),
    ],
)
def test_plan_reports_the_field_path(target: str, where: dict[str, Any]) -> None:
    """``strata plan`` reports the syntax error with its path, before any cloud component is involved."""
    cluster = {
        "name": "prod",
        "target": target,
        "kubernetes_version": "1.31",
        "profiles": ["base@1.0.0"],
        **where,
        "node_pools": [
            {"name": "system", "system": True},
            {
                "name": "apps",
                "labels": {"tier": "front end"},
                "taints": [{"key": "k", "value": "a:b", "effect": "NoExecute"}],
            },
        ],
    }
    with pytest.raises(PlanErrors) as info:
        environment_from_config("test", {"clusters": [cluster]}, "stacks/config/Pulumi.test.yaml")
    pool = 'config."strata:clusters"[0].node_pools[1]'
    assert [(e.path, e.message) for e in info.value.errors] == [
        (f"{pool}.labels", "value 'front end' of 'tier' is not a valid label value"),
        (f"{pool}.taints[0].value", "'a:b' is not a valid taint value"),
    ]
