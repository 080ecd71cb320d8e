"""``delivery: flux`` in the program, under Pulumi's mocks: the objects ``strata render`` writes are the custom
resources ``pulumi up`` registers, after the Flux controllers, with deploy-time values only in a secret Secret."""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pytest

from components.delivery.flux import delivery_bundle
from stacks.plan import plan_environment
from stacks.program import run
from tests import test_cluster_aks, test_cluster_edge
from tests.flux_crds import validator
from tests.mocks import GraphMocks, Registration, install, settle
from tests.test_environments import EDGE_KEY, GRAFANA_PASSWORD, load_config

SITE = "eu-west-fr-00001"
FLUX = ".toolkit.fluxcd.io/"


@pytest.fixture(autouse=True)
def _secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGE_SSH_KEY", EDGE_KEY)
    monkeypatch.setenv("GRAFANA_ADMIN_PASSWORD", GRAFANA_PASSWORD)


def run_stack(stack: str, env: str, **config: Any) -> GraphMocks:
    mocks = GraphMocks()
    test_cluster_aks.answer(mocks)
    test_cluster_edge.answer_reads(mocks)
    install(mocks, stack=stack)
    values = load_config(env)
    values.update({f"strata:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in config.items()})
    pulumi.runtime.set_all_config(values)
    run(stack)
    settle()
    return mocks


def flux_resources(mocks: GraphMocks, cluster: str) -> list[Registration]:
    return [r for r in mocks.resources if FLUX in r.typ and r.name.startswith(f"{cluster}-")]


def without_nulls(value: Any) -> Any:
    """Pulumi's wire format carries no null map values (a chart key a pack sets to null to drop a default)."""
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nulls(v) for v in value]
    return value


def as_object(r: Registration) -> dict[str, Any]:
    return {k: r.inputs[k] for k in ("apiVersion", "kind", "metadata", "spec")}


def test_program_registers_exactly_the_rendered_objects() -> None:
    mocks = run_stack(f"edge.{SITE}", "edge")
    [cp] = plan_environment("edge", SITE).clusters
    objects = delivery_bundle(cp.plan, cp.drift, cp.delivery).objects()
    # namespaces are PackStack's own Namespace resources; a manifest pack's Kustomization exists only in a
    # rendered bundle (the program applies its files itself: there is no artifact for Flux to fetch)
    expected = [without_nulls(o) for o in objects if o["kind"] not in ("Namespace", "Kustomization")]
    registered = [as_object(r) for r in flux_resources(mocks, SITE)]
    for obj in registered:
        annotations = obj["metadata"].pop("annotations", None)
        if obj["kind"] == "HelmRelease":  # Pulumi waits for each release as it waits for a chart
            assert annotations == {"pulumi.com/waitFor": "condition=Ready", "pulumi.com/timeoutSeconds": "1800"}
    key = lambda o: (o["kind"], o["metadata"]["name"])  # noqa: E731
    assert sorted(registered, key=key) == sorted(expected, key=key)
    validate = validator()
    for obj in registered:
        validate(obj)


def test_every_flux_object_waits_for_the_controllers_and_its_predecessors() -> None:
    mocks = run_stack(f"edge.{SITE}", "edge")
    [cp] = plan_environment("edge", SITE).clusters
    controllers = mocks.named(f"{SITE}-flux2", "strata:packs:Pack")
    chart = next(r for r in mocks.resources if r.parent == controllers.urn and r.typ.endswith("v4:Chart"))
    assert chart.inputs["chart"] == "flux2" and chart.inputs["version"] == "2.18.3"
    assert chart.inputs["namespace"] == "flux-system"
    releases = {r.inputs["metadata"]["name"]: r for r in flux_resources(mocks, SITE) if r.typ.endswith(":HelmRelease")}
    assert set(releases) == {p.name for p in cp.plan.packs if p.source.kind == "helm"}
    for r in flux_resources(mocks, SITE):
        assert chart.urn in r.dependencies, f"{r.name} may be created before the Flux CRDs exist"
    for name, release in releases.items():
        for before in cp.plan.pack(name).after:
            if before in releases:
                assert releases[before].urn in release.dependencies, f"{name} does not wait for {before}"
    # a manifest pack stays with Pulumi, after the release it follows
    group = mocks.named(f"{SITE}-envoy-gateway-class", "kubernetes:yaml/v2:ConfigGroup")
    assert releases["envoy-gateway"].urn in group.dependencies
    assert not mocks.of_type("kubernetes:helm.sh/v4:Chart")[1:], "only the controllers are a chart Pulumi applies"


def test_deploy_time_values_reach_flux_only_through_a_secret() -> None:
    """prod's Grafana password and the AKS identity's client id: in a Secret with secret data, nowhere else."""
    mocks = run_stack("prod.prod-aks-eu", "prod", delivery="flux")
    secrets = {r.inputs["metadata"]["name"]: r for r in mocks.of_type("kubernetes:core/v1:Secret")}
    grafana = secrets["kube-prometheus-stack-strata-values"]
    data = grafana.inputs["stringData"]
    assert data["4dabf18193072939515e22adb298388d"] == "1b47061264138c4ac30d75fd1eb44270"  # a secret input
    assert f"adminPassword: {GRAFANA_PASSWORD}" in data["value"]["values.yaml"]
    identity = secrets["external-dns-strata-values"].inputs["stringData"]
    assert "4dabf18193072939515e22adb298388d" in identity and "client-id" in identity["value"]["values.yaml"]
    leaks = [
        r.name
        for r in mocks.resources
        if r.typ != "kubernetes:core/v1:Secret" and GRAFANA_PASSWORD in json.dumps(r.inputs, default=str)
    ]
    assert not leaks
    release = next(
        r
        for r in flux_resources(mocks, "prod-aks-eu")
        if r.typ.endswith(":HelmRelease") and r.inputs["metadata"]["name"] == "kube-prometheus-stack"
    )
    assert release.inputs["spec"]["valuesFrom"] == [
        {"kind": "Secret", "name": "kube-prometheus-stack-strata-values", "valuesKey": "values.yaml"}
    ]
    assert grafana.urn in release.dependencies
    assert "adminPassword" not in json.dumps(release.inputs["spec"].get("values", {}).get("grafana", {}))


def test_a_mirror_rewrites_every_chart_pulumi_applies() -> None:
    mirror = "oci://registry.site.local/charts"
    mocks = run_stack("local", "local", mirror=mirror)
    charts = mocks.of_type("kubernetes:helm.sh/v4:Chart")
    assert charts
    for chart in charts:
        assert chart.inputs["chart"].startswith(f"{mirror}/") and "repositoryOpts" not in chart.inputs
    mocks = run_stack(f"edge.{SITE}", "edge", mirror=mirror)
    for source in (r for r in flux_resources(mocks, SITE) if r.typ.endswith(":OCIRepository")):
        assert source.inputs["spec"]["url"].startswith(f"{mirror}/")
    assert not [r for r in flux_resources(mocks, SITE) if r.typ.endswith(":HelmRepository")]


def test_a_flux_site_without_a_helm_pack_still_gets_the_controllers() -> None:
    """The plan lists the Flux controllers for every flux cluster; the program installs them even when no pack
    would be handed to Flux yet (a site on edge-minimal alone: cluster settings only)."""
    import yaml

    from tests.test_environments import ROOT

    raw = yaml.safe_load((ROOT / "stacks/config/Pulumi.edge.yaml").read_text())["config"]["strata:inventory"]
    raw["defaults"]["profiles"] = ["edge-minimal@1.0.0"]
    mocks = run_stack(f"edge.{SITE}", "edge", inventory=raw)
    assert not mocks.of_type("kubernetes:helm.toolkit.fluxcd.io/v2:HelmRelease")
    controllers = mocks.named(f"{SITE}-flux2", "strata:packs:Pack")
    (chart,) = mocks.of_type("kubernetes:helm.sh/v4:Chart")
    assert chart.parent == controllers.urn and chart.inputs["chart"] == "flux2"
