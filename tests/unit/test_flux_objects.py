"""The Flux objects of a plan (components/delivery/flux.py): valid against the upstream CRDs, ordered by the
plan's edges, drift modes from the layer policy, deploy-time values only through a Secret, mirrors."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import jsonschema
import pytest

from components.delivery.flux import (
    DRIFT_MODES,
    VALUES_KEY,
    chart_location,
    flux_bundle,
    release_dependencies,
    split_values,
)
from packs.model import DriftAction, HelmSource, Layer
from packs.paths import parse_path, with_value
from stacks.plan import ClusterPlan, plan_environment
from tests.flux_crds import validator


@pytest.fixture(scope="module")
def plans() -> list[ClusterPlan]:
    """One cluster of every shipped environment shape: edge, adopted, the three clouds (identities, secrets)."""
    found: list[ClusterPlan] = []
    for env, cluster in [("edge", "eu-west-fr-00001"), ("local", None), ("dev", None), ("prod", None)]:
        found.extend(plan_environment(env, cluster).clusters)
    return found


def test_every_object_is_valid_against_the_upstream_crds(plans: list[ClusterPlan]) -> None:
    validate = validator()
    kinds = set()
    for cp in plans:
        for obj in flux_bundle(cp.plan, cp.drift).objects():
            if obj["kind"] != "Namespace":
                validate(obj)
                kinds.add(obj["kind"])
    assert {"HelmRepository", "OCIRepository", "HelmRelease", "Kustomization"} <= kinds


def test_the_crd_check_refuses_a_misspelt_field(plans: list[ClusterPlan]) -> None:
    """The API server prunes unknown fields silently; the schema check must not."""
    validate = validator()
    release = next(o for o in flux_bundle(plans[0].plan, plans[0].drift).objects() if o["kind"] == "HelmRelease")
    bad = json.loads(json.dumps(release))
    bad["spec"]["driftDetection"]["mod"] = "enabled"
    with pytest.raises(jsonschema.ValidationError):
        validate(bad)
    bad = json.loads(json.dumps(release))
    bad["spec"]["install"]["crds"] = "Replace"
    with pytest.raises(jsonschema.ValidationError):
        validate(bad)


def _releases(cp: ClusterPlan, mirror: str | None = None) -> dict[str, dict[str, Any]]:
    return {
        o["metadata"]["name"]: o for o in flux_bundle(cp.plan, cp.drift, mirror).objects() if o["kind"] == "HelmRelease"
    }


def test_depends_on_is_the_plans_edges(plans: list[ClusterPlan]) -> None:
    checked = 0
    for cp in plans:
        releases = _releases(cp)
        by_name = {p.name: p for p in cp.plan.packs}
        for name, release in releases.items():
            got = [d["name"] for d in release["spec"].get("dependsOn", [])]
            after = list(by_name[name].after)
            if all(by_name[a].source.kind == "helm" for a in after):
                assert got == after, name
                checked += 1
            else:  # an edge to a pack Flux does not install reaches through it
                assert set(got) <= set(releases) and got != after
    assert checked > 10


def test_depends_on_reaches_through_packs_flux_does_not_install(plans: list[ClusterPlan]) -> None:
    cp = plans[0]
    plan = cp.plan
    gateway = plan.pack("envoy-gateway-class")
    assert gateway.source.kind == "manifests"
    cert = plan.pack("cert-manager")
    # make cert-manager follow the manifest pack: its release must then wait for what that pack follows
    packs = tuple(dataclasses.replace(p, after=("envoy-gateway-class",)) if p is cert else p for p in plan.packs)
    deps = release_dependencies(dataclasses.replace(plan, packs=packs))
    assert deps["cert-manager"] == list(gateway.after) == ["envoy-gateway"]


@pytest.mark.parametrize("action", list(DriftAction))
def test_drift_detection_follows_the_layer_policy(plans: list[ClusterPlan], action: DriftAction) -> None:
    cp = plans[0]
    drift = {**cp.drift, Layer.ADDON: action}
    for release in _releases(dataclasses.replace(cp, drift=drift)).values():
        assert release["spec"]["driftDetection"]["mode"] == DRIFT_MODES[action]
    assert DRIFT_MODES == {DriftAction.HEAL: "enabled", DriftAction.ALERT: "warn", DriftAction.IGNORE: "disabled"}


def test_releases_pin_the_chart_handle_crds_and_retry(plans: list[ClusterPlan]) -> None:
    for cp in plans:
        for name, release in _releases(cp).items():
            pack = cp.plan.pack(name)
            assert isinstance(pack.source, HelmSource)  # a HelmRelease installs a chart
            spec = release["spec"]
            assert (spec["install"]["crds"], spec["upgrade"]["crds"]) == ("Create", "CreateReplace")
            assert spec["install"]["remediation"]["retries"] > 0 and spec["upgrade"]["remediation"]["retries"] > 0
            assert spec["releaseName"] == pack.name and spec["targetNamespace"] == (pack.namespace or "default")
            if "chart" in spec:
                assert spec["chart"]["spec"]["version"] == pack.source.version
            else:
                source = next(
                    o
                    for o in flux_bundle(cp.plan, cp.drift).objects()
                    if o["kind"] == "OCIRepository" and o["metadata"]["name"] == spec["chartRef"]["name"]
                )
                assert source["spec"]["ref"] == {"tag": pack.source.version}


def test_deploy_time_values_never_inline(plans: list[ClusterPlan]) -> None:
    """Secret (and identity) values come from the pack's Secret through valuesFrom; no placeholder is inline."""
    seen = 0
    for cp in plans:
        bundle = flux_bundle(cp.plan, cp.drift)
        for name, release in _releases(cp).items():
            pack = cp.plan.pack(name)
            text = json.dumps(release)
            assert "{{" not in text, name
            if pack.deferred:
                seen += 1
                secret = next(s for s in bundle.secrets if s.pack == name)
                assert release["spec"]["valuesFrom"] == [
                    {"kind": "Secret", "name": secret.name, "valuesKey": VALUES_KEY}
                ]
                assert secret.paths == pack.deferred
            else:
                assert "valuesFrom" not in release["spec"]
    assert seen >= 3


def test_split_values_merge_back_exactly() -> None:
    values: dict[str, Any] = {"a": {"b": 1, "c": "{{ secret.x }}"}, "d": {"e": "{{ identity.aws_role_arn }}"}, "f": [1]}
    inline, later = split_values(values, ("a.c", "d.e"))
    assert inline == {"a": {"b": 1}, "f": [1]}
    assert later == {"a": {"c": "{{ secret.x }}"}, "d": {"e": "{{ identity.aws_role_arn }}"}}
    merged = inline
    for path in ("a.c", "d.e"):
        p = parse_path(path)
        node: Any = later
        for k in p:
            node = node[k]
        merged = with_value(merged, p, node)
    assert merged == values
    assert values["a"]["c"] == "{{ secret.x }}"  # the plan's values are untouched


def test_mirror_rewrites_every_source_without_touching_pack_data(plans: list[ClusterPlan]) -> None:
    mirror = "oci://registry.site.local/charts"
    for cp in plans:
        for obj in flux_bundle(cp.plan, cp.drift, mirror).objects():
            assert obj["kind"] != "HelmRepository"
            if obj["kind"] == "OCIRepository":
                pack = cp.plan.pack(obj["metadata"]["name"])
                assert isinstance(pack.source, HelmSource)  # an OCIRepository serves a chart
                assert obj["spec"]["url"] == f"{mirror}/{pack.source.chart}"
                assert obj["spec"]["ref"] == {"tag": pack.source.version}
                assert not pack.source.repository.startswith(mirror)
    http = HelmSource(kind="helm", repository="https://charts.example.com", chart="web", version="1.2.3")
    assert chart_location(http).reference == "web" and not chart_location(http).oci
    assert chart_location(http, mirror + "/").reference == f"{mirror}/web"
