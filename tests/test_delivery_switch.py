"""Switching a deployed cluster's delivery: refused in one update, and in two updates nothing is uninstalled.

Each test runs the real program under mocks, twice where it matters, with the stack's last outputs answered
through its own stack reference (as the engine answers it), and compares what the second update drops with
how the first left it: a dropped chart must have been retained, a dropped HelmRelease suspended.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pulumi
import pytest
from typer.testing import CliRunner

from components.delivery.flux import delivery_bundle, flux_bundle
from components.delivery.render import pulumi_files
from stacks.cli import app
from stacks.delivery_switch import EXPORT_KEY
from stacks.plan import plan_environment
from tests import test_cluster_aks, test_cluster_edge
from tests.mocks import GraphMocks, Registration, install, settle
from tests.test_environments import EDGE_KEY, GRAFANA_PASSWORD, load_config

SITE = "eu-west-fr-00001"
STACK = f"edge.{SITE}"
CHART = "kubernetes:helm.sh/v4:Chart"
HELM_RELEASE = "kubernetes:helm.toolkit.fluxcd.io/v2:HelmRelease"
READ = "pulumi:pulumi:StackReference"


@pytest.fixture(autouse=True)
def _secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGE_SSH_KEY", EDGE_KEY)
    monkeypatch.setenv("GRAFANA_ADMIN_PASSWORD", GRAFANA_PASSWORD)


def deployed(mode: str, upcoming: str | None = None) -> dict[str, Any]:
    """The site's stack outputs after an update with ``delivery: mode`` (and ``next_delivery: upcoming``)."""
    return {EXPORT_KEY: {SITE: {"mode": mode, "next": upcoming}}}


def up(outputs: dict[str, Any] | None, **config: Any) -> GraphMocks:
    """One ``pulumi up`` of the edge site; ``outputs`` is what the stack exported after its last update."""
    mocks = GraphMocks()
    test_cluster_aks.answer(mocks)
    test_cluster_edge.answer_reads(mocks)
    mocks.state_for[READ] = lambda args: {"outputs": outputs or {}, "secretOutputNames": []}
    install(mocks, stack=STACK)
    values = load_config("edge")
    values.update({f"strata:{k}": v for k, v in config.items()})
    pulumi.runtime.set_all_config(values)
    from stacks.program import run

    run(STACK)
    settle()
    return mocks


def dropped(first: GraphMocks, second: GraphMocks) -> list[Registration]:
    """What the second update deletes: the first's resources it no longer registers."""
    kept = {r.urn for r in second.resources}
    return [r for r in first.resources if r.urn not in kept and r.typ != READ]


def releases(mocks: GraphMocks) -> dict[str, Registration]:
    return {r.inputs["metadata"]["name"]: r for r in mocks.of_type(HELM_RELEASE)}


def charts(mocks: GraphMocks) -> dict[str, Registration]:
    """Each Helm pack's chart by pack name (its Pack component's name, without the cluster prefix)."""
    packs = {r.urn: r.name.removeprefix(f"{SITE}-") for r in mocks.of_type("strata:packs:Pack")}
    return {packs[r.parent]: r for r in mocks.of_type(CHART)}


# ------------------------------------------------------------------------------------- one step: refused


@pytest.mark.parametrize(
    ("was", "now", "step"),
    [("pulumi", "flux", "leaves every chart's objects"), ("flux", "pulumi", "suspends every HelmRelease")],
)
def test_switching_in_one_update_is_refused_naming_the_next_step(was: str, now: str, step: str) -> None:
    with pytest.raises(pulumi.RunError) as caught:
        up(deployed(was), delivery=now)
    message = str(caught.value)
    assert "nothing was created" in message
    assert f'config."strata:delivery": cluster {SITE} is deployed with delivery {was}' in message
    assert f"set next_delivery: {now} on cluster {SITE}" in message and step in message


def test_the_offline_plan_refuses_the_same_switch(tmp_path: Path) -> None:
    saved = tmp_path / "outputs.json"
    saved.write_text(json.dumps({"environment": "edge", **deployed("pulumi")}))
    result = CliRunner().invoke(app, ["plan", "--env", "edge", "--cluster", SITE, "--deployed", str(saved)])
    assert result.exit_code == 1
    assert f"cluster {SITE} is deployed with delivery pulumi; switching it to flux" in result.output
    assert "Traceback" not in result.output
    saved.write_text(json.dumps({"environment": "edge", **deployed("pulumi", "flux")}))
    assert (
        CliRunner().invoke(app, ["plan", "--env", "edge", "--cluster", SITE, "--deployed", str(saved)]).exit_code == 0
    )


def test_a_stack_deployed_before_the_delivery_export_switches_nothing() -> None:
    mocks = up({"environment": "edge", "stateful": {SITE: {}}})
    assert releases(mocks), "a flux site deployed by an earlier strata keeps its releases"


# ------------------------------------------------------------------------------------------ pulumi -> flux


def test_pulumi_to_flux_uninstalls_nothing_and_flux_adopts_the_same_releases() -> None:
    before = up(deployed("pulumi"), delivery="pulumi")
    prepared = up(deployed("pulumi"), delivery="pulumi", next_delivery="flux")
    switched = up(deployed("pulumi", "flux"), delivery="flux")
    # The first update marks every chart (and through a transform each object it registers) retained...
    assert all(not c.retain_on_delete for n, c in charts(before).items() if n != "longhorn"), "a baseline"
    for name, chart in charts(prepared).items():
        assert chart.retain_on_delete and chart.transforms >= 1, f"{name}'s chart would be uninstalled"
    # ...so what the switch drops was retained in the state it is deleted from: nothing is uninstalled.
    gone = dropped(prepared, switched)
    assert {r.typ for r in gone} == {CHART}
    assert all(r.retain_on_delete for r in gone)
    # Flux installs every dropped chart's release under its very name and namespace: helm-controller adopts it.
    adopted = releases(switched)
    for name, chart in charts(prepared).items():
        if name == "flux2":
            continue
        spec = adopted[name].inputs["spec"]
        assert (spec["releaseName"], spec["targetNamespace"]) == (chart.inputs["name"], chart.inputs["namespace"])
        assert spec["storageNamespace"] == chart.inputs["namespace"]
        assert not spec["install"].get("disableTakeOwnership"), "helm-controller must take the objects over"


# ------------------------------------------------------------------------------------------ flux -> pulumi


def test_flux_to_pulumi_suspends_first_then_pulumi_takes_the_same_releases_over() -> None:
    plain = up(deployed("pulumi"), delivery="pulumi")
    prepared = up(deployed("flux"), next_delivery="pulumi")
    switched = up(deployed("flux", "pulumi"), delivery="pulumi")
    suspended = releases(prepared)
    for name, release in suspended.items():
        assert release.inputs["spec"]["suspend"] is True, f"Flux would uninstall {name} when it is deleted"
        assert release.inputs["metadata"]["annotations"] == {"pulumi.com/skipAwait": "true"}
    gone = dropped(prepared, switched)
    gone_releases = [r for r in gone if r.typ == HELM_RELEASE]
    assert {r.inputs["metadata"]["name"] for r in gone_releases} == set(suspended)
    assert all(r.inputs["spec"]["suspend"] is True for r in gone_releases)
    # Pulumi installs the same releases under the same names and namespaces...
    ordinary = charts(plain)
    for name, chart in charts(switched).items():
        spec = suspended[name].inputs["spec"] if name in suspended else None
        if spec is not None:
            assert (chart.inputs["name"], chart.inputs["namespace"]) == (spec["releaseName"], spec["targetNamespace"])
        assert chart.transforms == ordinary[name].transforms, "the charts' inputs are those of an ordinary update"
    assert set(charts(switched)) == set(ordinary)
    # ...creating objects helm-controller already runs: a plain create would fail with AlreadyExists
    # (pulumi-kubernetes >= 4.29), so for this one update the cluster's provider upserts them and takes their
    # fields over. The update before and the update after leave the provider as it always is.
    assert adopting(switched), "the switching update would fail on the first object helm-controller created"
    after = up(deployed("pulumi"), delivery="pulumi")
    assert not adopting(prepared) and not adopting(after) and not adopting(plain)


def adopting(mocks: GraphMocks) -> bool:
    """Whether the site's Kubernetes provider upserts existing objects and forces field ownership."""
    (provider,) = [r for r in mocks.of_type("pulumi:providers:kubernetes") if r.name == f"{SITE}-k8s"]
    flags = {str(provider.inputs.get(k)).lower() for k in ("upsertExistingObjects", "enablePatchForce")}
    if flags == {"true"}:
        return True
    assert flags == {"none"}, f"both or neither: {provider.inputs}"
    return False


# --------------------------------------------------------------------------------- names across deliveries


def test_a_renamed_pack_keeps_its_release_name_in_both_deliveries() -> None:
    from packs.resolve import ClusterRequest, Resolver
    from tests.catalogue_builder import facts, in_memory
    from tests.test_day2 import PACKS, PROFILES

    plan = Resolver(in_memory(PACKS, PROFILES)).resolve(ClusterRequest(facts("s-1"), ("edge@3.0.0",)))
    flux = {o["metadata"]["name"]: o for o in flux_bundle(plan, {}).objects() if o["kind"] == "HelmRelease"}
    direct = {c["pack"]: c for c in json.loads(json.dumps(_charts(plan)))}
    assert flux["db"]["spec"]["releaseName"] == direct["store@1.0.0"]["name"] == "db"
    assert "store" not in flux, "the HelmRelease keeps its first name too: a new name would replace it"


def _charts(plan: Any) -> list[dict[str, Any]]:
    import yaml

    charts: list[dict[str, Any]] = yaml.safe_load(pulumi_files(plan, None)["helm-charts.yaml"])["charts"]
    return charts


def test_the_plan_and_the_bundle_show_a_prepared_switch(tmp_path: Path) -> None:
    import shutil

    import yaml

    from stacks.environment import CONFIG_DIR

    config = tmp_path / "config"
    shutil.copytree(CONFIG_DIR, config)
    path = config / "Pulumi.edge.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["config"]["strata:next_delivery"] = "pulumi"
    path.write_text(yaml.safe_dump(doc))
    [cp] = plan_environment("edge", SITE, config_dir=config).clusters
    assert cp.as_dict()["delivery"]["next"] == "pulumi"
    bundle = delivery_bundle(cp.plan, cp.drift, cp.delivery)
    assert all(o["spec"]["suspend"] is True for o in bundle.objects() if o["kind"] == "HelmRelease")
    shown = CliRunner().invoke(app, ["plan", "--env", "edge", "--cluster", SITE, "--config-dir", str(config)])
    assert shown.exit_code == 0 and "suspended until delivery: pulumi" in shown.output


# ------------------------------------------------------------------ a prepared cluster removed from the stack

GONE = "eu-west-fr-09999"


@pytest.mark.parametrize(
    ("was", "upcoming", "left", "cleanup"),
    [
        ("pulumi", "flux", "every pack's objects (namespaces, workloads, CRDs", "delete them yourself with kubectl"),
        ("flux", "pulumi", "every Helm release stays installed", "helm uninstall <release> -n <namespace>"),
    ],
)
def test_removing_a_cluster_prepared_to_switch_is_reported_by_the_plan(
    tmp_path: Path, was: str, upcoming: str, left: str, cleanup: str
) -> None:
    saved = tmp_path / "outputs.json"
    outputs = {EXPORT_KEY: {GONE: {"mode": was, "next": upcoming}, "eu-west-fr-09998": {"mode": was, "next": None}}}
    saved.write_text(json.dumps({"environment": "edge", **outputs}))
    result = CliRunner().invoke(app, ["plan", "--env", "edge", "--deployed", str(saved)])
    assert result.exit_code == 0, result.output  # removing the cluster is allowed: it may be deleted with it
    text = " ".join(result.output.split())
    assert f"warning: stacks/config/Pulumi.edge.yaml: config.\"strata:clusters\": cluster {GONE} is no longer" in text
    assert f"from {was} to {upcoming} (next_delivery: {upcoming})" in text
    assert left in text and cleanup in text and "put the cluster back without next_delivery" in text
    assert "eu-west-fr-09998" not in text, "a cluster that was not prepared leaves nothing behind"
    # Planning one cluster says nothing about the others the stack deploys.
    one = CliRunner().invoke(app, ["plan", "--env", "edge", "--cluster", SITE, "--deployed", str(saved)])
    assert one.exit_code == 0 and GONE not in one.output


def test_the_program_reports_a_removed_cluster_prepared_to_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    warned: list[str] = []
    monkeypatch.setattr(pulumi.log, "warn", lambda message, *args, **kwargs: warned.append(message))
    outputs = {EXPORT_KEY: {SITE: {"mode": "pulumi", "next": None}, GONE: {"mode": "pulumi", "next": "flux"}}}
    up(outputs, delivery="pulumi")
    notices = [w for w in warned if GONE in w]
    assert len(notices) == 1 and "retain_on_delete" in notices[0] and "kubectl" in notices[0]
    assert not [w for w in warned if SITE in w]
