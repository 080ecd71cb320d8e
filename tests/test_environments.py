"""Every shipped environment's program, run under mocks with its own config file, checked as a whole graph."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml

from packs.model import HelmSource, ManagedSource
from stacks.plan import plan_environment
from stacks.program import run
from tests import test_cluster_aks, test_cluster_edge, test_cluster_eks, test_cluster_gke
from tests.mocks import (
    RANDOM_PASSWORD,
    GraphMocks,
    Registration,
    install,
    is_secret,
    mock_password,
    resolve,
    settle,
    validate_objects,
)

ROOT = Path(__file__).resolve().parents[1]
GRAFANA_PASSWORD = "correct-horse-battery-staple"
EDGE_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nZWRnZS1rZXk=\n-----END OPENSSH PRIVATE KEY-----\n"


def load_config(env: str) -> dict[str, str]:
    """The stack's config as the engine hands it to a program: structured values as JSON text."""
    raw = yaml.safe_load((ROOT / f"stacks/config/Pulumi.{env}.yaml").read_text())["config"]
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in raw.items()}


def run_stack(stack: str, env: str, with_config: bool = True) -> tuple[GraphMocks, dict[str, Any]]:
    mocks = GraphMocks()
    test_cluster_eks.answer(mocks)
    test_cluster_aks.answer(mocks)
    test_cluster_gke.answer(mocks)
    test_cluster_edge.answer_reads(mocks)
    install(mocks, stack=stack)
    pulumi.runtime.set_all_config(load_config(env) if with_config else {})
    built = run(stack)
    settle()
    return mocks, built


@pytest.fixture(autouse=True)
def _secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGE_SSH_KEY", EDGE_KEY)
    monkeypatch.setenv("GRAFANA_ADMIN_PASSWORD", GRAFANA_PASSWORD)


def releases(mocks: GraphMocks, cluster: str) -> dict[str, Registration]:
    prefix = f"{cluster}-"
    return {r.name.removeprefix(prefix): r for r in mocks.of_type("strata:packs:Pack") if r.name.startswith(prefix)}


def installed(mocks: GraphMocks, release: Registration) -> list[Registration]:
    """What a pack's component installs: its chart, config group or cloud add-on (not identities)."""
    kinds = (
        "kubernetes:helm.sh/v4:Chart",
        "kubernetes:yaml/v2:ConfigGroup",
        "aws:eks/addon:Addon",
        "kubernetes:helm.toolkit.fluxcd.io/v2:HelmRelease",
    )
    return [r for r in mocks.resources if r.parent == release.urn and r.typ.startswith(kinds)]


def check_cluster(mocks: GraphMocks, env: str, cluster: str, kubernetes: str) -> None:
    """Every pack of the plan is registered at its pinned version, in plan order, through the cluster provider."""
    planned = plan_environment(env, cluster).clusters[0]
    plan = planned.plan
    got = releases(mocks, cluster)
    controllers = planned.delivery.controllers.packs if planned.delivery.controllers is not None else ()
    expected = [*controllers, *(p for p in plan.packs if not p.cluster_setting)]
    assert set(got) == {p.name for p in expected}
    provider = mocks.named(f"{cluster}-k8s")
    for pack in expected:
        (resource,) = installed(mocks, got[pack.name])
        if resource.typ == "kubernetes:helm.sh/v4:Chart":
            assert isinstance(pack.source, HelmSource)
            assert resource.inputs["version"] == pack.source.version
            assert resource.inputs["namespace"] == pack.namespace
            assert resource.provider.startswith(provider.urn)
        elif resource.typ.endswith(":HelmRelease"):  # delivery: flux
            assert resource.inputs["spec"]["releaseName"] == pack.name
            assert resource.inputs["spec"]["targetNamespace"] == pack.namespace
            assert resource.provider.startswith(provider.urn)
        elif resource.typ == "aws:eks/addon:Addon":
            assert isinstance(pack.source, ManagedSource)
            assert resource.inputs["addonVersion"] == pack.source.version
        for before in pack.after:
            assert before in got, f"{pack.name} is ordered after {before}, which creates nothing to wait for"
            inside = {r.urn for r in mocks.resources if r.parent == got[before].urn}
            assert inside <= set(resource.dependencies), f"{pack.name} does not wait for {before}"
    assert validate_objects(mocks, kubernetes) >= 1


def test_local_renders_every_pack(tmp_path: Path) -> None:
    mocks, built = run_stack("local", "local")
    check_cluster(mocks, "local", "local", "1.34")
    provider = mocks.named("local-k8s")
    assert provider.inputs["renderYamlToDirectory"] == "out/local"
    cluster, _ = built["local"]
    assert is_secret(cluster.contract.kubeconfig)
    assert not [r for r in mocks.resources if r.protect]


def test_dev_builds_three_clouds_with_identities() -> None:
    mocks, built = run_stack("dev", "dev")
    assert set(built) == {"dev-eks", "dev-aks", "dev-gke"}
    for name in built:
        check_cluster(mocks, "dev", name, "1.34")
        assert is_secret(built[name][0].contract.kubeconfig)
    # external-dns gets each cloud's own workload identity, and its values carry it.
    trust = json.loads(mocks.named("dev-eks-external-dns-irsa").inputs["assumeRolePolicy"])
    assert "system:serviceaccount:external-dns:external-dns" in json.dumps(trust)
    eks_chart = mocks.named("dev-eks-external-dns", "kubernetes:helm.sh/v4:Chart")
    role = eks_chart.inputs["values"]["serviceAccount"]["annotations"]["eks.amazonaws.com/role-arn"]
    assert role.startswith("arn:aws:iam::") and "{{" not in role
    assert (
        mocks.named("dev-aks-external-dns-fic").inputs["subject"] == "system:serviceaccount:external-dns:external-dns"
    )
    # Each identity is granted what its values target: the Route 53 zone, the Azure DNS zone's resource group in
    # its own subscription, the project of the Cloud DNS zones -- never the cluster's resource group.
    policy = json.loads(mocks.named("dev-eks-external-dns-irsa-inline").inputs["policy"])
    changes = next(s for s in policy["Statement"] if "route53:ChangeResourceRecordSets" in s["Action"])
    assert changes["Resource"] == ["arn:aws:route53:::hostedzone/Z0DEVAWS00000000000001"]
    dns_zones = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/dns-zones"
    grants = [r for r in mocks.of_type("azure-native:authorization:RoleAssignment") if "external-dns" in r.name]
    assert sorted(r.inputs["roleDefinitionId"].rsplit("/", 1)[-1] for r in grants) == [
        "acdd72a7-3385-48ef-bd42-f606fba81ae7",  # Reader
        "befefa01-2a29-4197-83a8-272ff33ce314",  # DNS Zone Contributor
    ]
    assert {r.inputs["scope"] for r in grants} == {dns_zones}
    assert all(r.inputs["roleDefinitionId"].startswith(dns_zones.split("/resourceGroups")[0]) for r in grants)
    assert mocks.named("dev-gke-external-dns-dns-admin").inputs["project"] == "strata-dev-0001"
    gke_chart = mocks.named("dev-gke-external-dns", "kubernetes:helm.sh/v4:Chart")
    assert gke_chart.inputs["values"]["serviceAccount"]["annotations"]["iam.gke.io/gcp-service-account"].endswith(
        ".iam.gserviceaccount.com"
    )
    assert gke_chart.inputs["values"]["extraArgs"] == {"google-project": "strata-dev-0001"}
    assert eks_chart.inputs["values"]["extraArgs"] == {"zone-id-filter": ["Z0DEVAWS00000000000001"]}
    wi = mocks.named("dev-gke-external-dns-wi").inputs["member"]
    assert wi == "serviceAccount:strata-dev-0001.svc.id.goog[external-dns/external-dns]"
    # The EBS CSI add-on runs with its IRSA role.
    assert mocks.named("dev-eks-aws-ebs-csi", "aws:eks/addon:Addon").inputs["serviceAccountRoleArn"]
    # Nothing is protected outside production.
    assert not [r for r in mocks.resources if r.protect]


def test_grafana_password_reaches_the_chart_only_as_a_secret() -> None:
    """prod gives a reference: it wins over generation, and only the reference is in the plan."""
    mocks, _ = run_stack("prod.prod-aks-eu", "prod", with_config=False)
    chart = mocks.named("prod-aks-eu-kube-prometheus-stack", "kubernetes:helm.sh/v4:Chart")
    values = chart.inputs["values"]
    assert values["4dabf18193072939515e22adb298388d"] == "1b47061264138c4ac30d75fd1eb44270"  # a secret input
    assert values["value"]["grafana"]["adminPassword"] == GRAFANA_PASSWORD
    assert not mocks.of_type(RANDOM_PASSWORD), "an environment's reference must win over a generated password"
    plan_text = json.dumps(plan_environment("prod").as_dict(explain=True))
    assert GRAFANA_PASSWORD not in plan_text and "GRAFANA_ADMIN_PASSWORD" in plan_text


def run_recording_exports(
    stack: str, env: str, monkeypatch: pytest.MonkeyPatch
) -> tuple[GraphMocks, dict[str, Any], dict[str, Any]]:
    """Run a stack and return the stack outputs it exported, resolved (what `pulumi stack output` shows)."""
    exported: dict[str, Any] = {}
    monkeypatch.setattr(pulumi, "export", lambda key, value: exported.__setitem__(key, value))
    mocks, built = run_stack(stack, env)
    outputs = {k: resolve(pulumi.Output.from_input(v)) for k, v in exported.items()}
    return mocks, built, outputs


def test_local_deploys_without_a_grafana_password(monkeypatch: pytest.MonkeyPatch) -> None:
    """The embedded default generates Grafana's password: secret in state, in the chart only as a secret,
    exported only as the address of the resource that holds it."""
    monkeypatch.delenv("GRAFANA_ADMIN_PASSWORD")
    mocks, built, outputs = run_recording_exports("local", "local", monkeypatch)
    (password,) = mocks.of_type(RANDOM_PASSWORD)
    release = mocks.named("local-kube-prometheus-stack", "strata:packs:Pack")
    assert password.name == "local-kube-prometheus-stack-grafana-admin-password"
    assert password.parent == release.urn
    assert password.inputs["length"] == 32 and password.inputs["special"] is False
    assert "keepers" not in password.inputs
    assert {"length", "special"} <= set(password.ignore_changes), "a new pack version must not rotate it"
    value = mock_password(password.name)
    chart = mocks.named("local-kube-prometheus-stack", "kubernetes:helm.sh/v4:Chart")
    assert chart.inputs["values"]["4dabf18193072939515e22adb298388d"] == "1b47061264138c4ac30d75fd1eb44270"
    assert chart.inputs["values"]["value"]["grafana"]["adminPassword"] == value
    assert outputs["generated_secrets"] == {
        "local": {"kube-prometheus-stack.grafana_admin_password": password.urn},
    }
    assert value not in json.dumps(outputs, default=str)
    _, packs = built["local"]
    assert not is_secret(packs.generated_secrets["kube-prometheus-stack.grafana_admin_password"])


def test_a_generated_password_is_the_same_resource_on_every_update(monkeypatch: pytest.MonkeyPatch) -> None:
    """Day 2: a second `pulumi up` registers the same URN with the same inputs, so the engine keeps the value."""
    monkeypatch.delenv("GRAFANA_ADMIN_PASSWORD")
    first, _ = run_stack("local", "local")
    second, _ = run_stack("local", "local")
    (a,) = first.of_type(RANDOM_PASSWORD)
    (b,) = second.of_type(RANDOM_PASSWORD)
    assert (a.urn, a.inputs, a.ignore_changes) == (b.urn, b.inputs, b.ignore_changes)


def test_a_missing_secret_stops_the_run_before_anything(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GRAFANA_ADMIN_PASSWORD")
    with pytest.raises(pulumi.RunError) as info:
        run_stack("prod.prod-eks-eu", "prod", with_config=False)
    message = str(info.value)
    assert "1 error(s); nothing was created" in message
    assert (
        "variables.kube-prometheus-stack.grafana_admin_password: environment variable GRAFANA_ADMIN_PASSWORD" in message
    )


def test_dev_exports_a_secret_versioned_contract_per_cluster() -> None:
    from stacks.contract import ClusterOutputs, export_outputs

    _, built = run_stack("dev", "dev")
    cluster, packs = built["dev-gke"]
    exported = export_outputs(cluster.contract, packs)
    assert is_secret(exported)
    contract = ClusterOutputs.model_validate(resolve(exported))
    assert contract.schema_version == 2 and contract.target.value == "gke"
    assert contract.packs["cert-manager"].version == "1.21.1+strata.1"
    assert contract.profiles == ["cloud-standard@1.1.0", "observability@1.1.0"]


@pytest.mark.parametrize("cluster", ["prod-eks-eu", "prod-aks-eu", "prod-gke-us"])
def test_prod_is_one_protected_stack_per_cluster(cluster: str) -> None:
    # Per-cluster stacks have no config file of their own: the program reads the environment's file.
    mocks, built = run_stack(f"prod.{cluster}", "prod", with_config=False)
    assert list(built) == [cluster]
    check_cluster(mocks, "prod", cluster, "1.34")
    protected = {r.typ for r in mocks.resources if r.protect}
    cluster_type, pool_type = {
        "prod-eks-eu": ("aws:eks/cluster:Cluster", "aws:eks/nodeGroup:NodeGroup"),
        "prod-aks-eu": ("azure-native:containerservice:ManagedCluster", "azure-native:containerservice:AgentPool"),
        "prod-gke-us": ("gcp:container/cluster:Cluster", "gcp:container/nodePool:NodePool"),
    }[cluster]
    assert cluster_type in protected
    # Pools are replaced create-before-delete under a new name, which a protected pool would refuse.
    assert pool_type not in protected
    # Packs are never protected: a profile change must be able to remove one.
    assert not [r for r in mocks.resources if r.protect and r.typ.startswith(("kubernetes:", "strata:packs"))]


def test_prod_refuses_the_whole_environment_as_one_stack() -> None:
    with pytest.raises(pulumi.RunError, match="deploys one stack per cluster"):
        run_stack("prod", "prod")


def test_edge_stack_selects_one_site_and_loads_no_cloud_sdk() -> None:
    mocks, built = run_stack("edge.eu-west-fr-00001", "edge", with_config=False)
    assert list(built) == ["eu-west-fr-00001"]
    check_cluster(mocks, "edge", "eu-west-fr-00001", "1.34")
    assert not [r for r in mocks.resources if r.typ.startswith(("aws:", "azure-native:", "gcp:"))]
    assert all(r.protect for r in mocks.of_type("command:remote:Command") if "-k3s-" in r.name)
    # A fresh interpreter that runs the real program for one site, importing nothing cloud-specific itself.
    code = (
        "import os, sys\n"
        "os.environ['EDGE_SSH_KEY'] = 'key'\n"
        "import pulumi\n"
        "from tests.mocks import GraphMocks, install, settle\n"
        "from tests.test_cluster_edge import answer_reads\n"
        "from stacks.program import run\n"
        "m = GraphMocks(); answer_reads(m); install(m, stack='edge.us-east-ny-00003')\n"
        "assert list(run()) == ['us-east-ny-00003']; settle()\n"
        "print(','.join(x for x in ('pulumi_aws', 'pulumi_azure_native', 'pulumi_gcp') if x in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"an edge stack loaded {out.stdout.strip()}"


def test_edge_shard_stack() -> None:
    mocks, built = run_stack("edge.shard-7-of-60", "edge", with_config=False)
    assert 0 < len(built) < 20
    assert {r.name for r in mocks.of_type("strata:clusters:EdgeCluster")} == set(built)
