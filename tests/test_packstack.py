"""PackStack under mocks: plan order as dependencies, explicit namespaces, identities, managed add-ons."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pulumi
import pytest

from components.clusters.contract import AksHandles, ClusterContract, EksHandles, WorkloadIdentity, make_provider
from components.packstack import PackStack, fill_placeholders, flatten_settings
from packs.catalogue import Catalogue, load_catalogue
from packs.model import Target
from packs.resolve import ClusterRequest, ResolvedPlan, Resolver
from tests.catalogue_builder import facts, on_disk, pack, profile
from tests.mocks import GraphMocks, resolve, settle, validate_objects

SYSTEM = {"kind": "managed", "service": "cluster"}
PACKS = [
    pack("node-os", "os", source={**SYSTEM, "name": "node-os"}, namespace=None, requires=[]),
    pack(
        "vpc-cni",
        "cni",
        source={"kind": "managed", "service": "eks-addon", "name": "vpc-cni", "version": "v1.19.2-eksbuild.1"},
        namespace="kube-system",
        constraints={"targets": ["eks"]},
    ),
    pack("flannel", "cni", source={**SYSTEM, "name": "network"}, namespace=None, constraints={"targets": ["edge"]}),
    pack(
        "ebs-csi",
        "csi",
        source={
            "kind": "managed",
            "service": "eks-addon",
            "name": "aws-ebs-csi-driver",
            "version": "v1.37.0-eksbuild.1",
        },
        namespace="kube-system",
        identity={
            "service_account": "ebs-csi-controller-sa",
            "aws_policy_arns": ["arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"],
        },
        constraints={"targets": ["eks"]},
        provides=["storage-class"],
    ),
    pack(
        "crds",
        provides=["crds:example.io"],
        source={"kind": "helm", "repository": "oci://registry.example.com/charts", "chart": "crds", "version": "1.0.0"},
    ),
    pack(
        "dns",
        requires=["cni", "crds:example.io"],
        identity={"service_account": "dns", "aws_policy": {"Version": "2012-10-17", "Statement": []}},
        overlays={
            "eks": {"serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn": "{{ identity.aws_role_arn }}"}}}
        },
        constraints={"targets": ["eks", "edge"]},
    ),
    pack(
        "policies", source={"kind": "manifests", "files": ["policy.yaml"]}, namespace="policies", depends={"dns": ">=1"}
    ),
]
VALUES = {"dns": {"txtOwnerId": "{{ cluster.name }}", "replicas": 2}}
PROFILES = [
    profile(
        "std",
        [
            {"pack": "node-os@1.0.0"},
            {"pack": "vpc-cni@1.0.0", "targets": ["eks"], "values": {"env": {"ENABLE_PREFIX_DELEGATION": "true"}}},
            {"pack": "flannel@1.0.0", "targets": ["edge"]},
            {"pack": "ebs-csi@1.0.0", "targets": ["eks"]},
            {"pack": "policies@1.0.0"},
            {"pack": "dns@1.0.0"},
            {"pack": "crds@1.0.0"},
        ],
        targets=["eks", "edge"],
    )
]


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory: pytest.TempPathFactory) -> Catalogue:
    root = tmp_path_factory.mktemp("cat")
    packs_dir = on_disk(root, PACKS, PROFILES, VALUES)
    (packs_dir / "catalog/policies/1.0.0/policy.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: p, namespace: policies}\ndata: {a: b}\n"
    )
    return load_catalogue(packs_dir)


def plan_for(catalogue: Catalogue, target: str, name: str = "c1") -> ResolvedPlan:
    return Resolver(catalogue).resolve(ClusterRequest(facts(name, target), ("std@1.0.0",)))


class Host(pulumi.ComponentResource):
    def __init__(self, name: str) -> None:
        super().__init__("test:index:Host", name, None, None)


def contract(name: str, target: Target, identity: WorkloadIdentity | None) -> ClusterContract:
    host = Host(name)
    ready = Host(f"{name}-nodes")
    provider = make_provider(name, target, pulumi.Output.secret("kubeconfig"), host, depends_on=[ready])
    return ClusterContract(
        name=name,
        target=target,
        facts=facts(name, target.value),
        kubernetes_version=pulumi.Output.from_input("1.31"),
        endpoint=pulumi.Output.from_input("https://example"),
        kubeconfig=pulumi.Output.secret("kubeconfig"),
        provider=provider,
        workload_identity=identity,
        handles=EksHandles(pulumi.Output.from_input(name), pulumi.Output.from_input("eu-west-1"))
        if target is Target.EKS
        else None,
        ready=[ready],
    )


def irsa() -> WorkloadIdentity:
    return WorkloadIdentity(
        kind="aws-irsa",
        issuer=pulumi.Output.from_input("https://oidc.eks.eu-west-1.amazonaws.com/id/ABC"),
        provider_arn=pulumi.Output.from_input(
            "arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/ABC"
        ),
    )


def role_state(args: pulumi.runtime.MockResourceArgs) -> dict[str, Any]:
    return {"arn": f"arn:aws:iam::123456789012:role/{args.name}", "name": args.name}


def test_eks_plan_becomes_ordered_resources(mocks: GraphMocks, catalogue: Any) -> None:
    mocks.state_for["aws:iam/role:Role"] = role_state
    stack = PackStack("c1", contract("c1", Target.EKS, irsa()), plan_for(catalogue, "eks"), tags={"team": "platform"})
    settle()
    # Cluster-setting packs make no resources; managed add-ons are EKS add-ons; others are charts/config groups.
    assert not [r for r in mocks.resources if "node-os" in r.name]
    cni = mocks.named("c1-vpc-cni")
    assert cni.typ == "aws:eks/addon:Addon"
    assert cni.inputs["addonVersion"] == "v1.19.2-eksbuild.1"
    assert json.loads(cni.inputs["configurationValues"]) == {"env": {"ENABLE_PREFIX_DELEGATION": "true"}}
    ebs = mocks.named("c1-ebs-csi")
    assert ebs.inputs["serviceAccountRoleArn"] == "arn:aws:iam::123456789012:role/c1-ebs-csi-irsa"
    trust = json.loads(mocks.named("c1-ebs-csi-irsa").inputs["assumeRolePolicy"])
    # Only this service account, and only tokens minted for STS: without the audience condition a token the
    # cluster issued for any other audience (a webhook, a third-party API) could be exchanged for the role.
    host = "oidc.eks.eu-west-1.amazonaws.com/id/ABC"
    assert trust["Statement"] == [
        {
            "Effect": "Allow",
            "Principal": {"Federated": f"arn:aws:iam::123456789012:oidc-provider/{host}"},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {
                "StringEquals": {
                    f"{host}:sub": "system:serviceaccount:kube-system:ebs-csi-controller-sa",
                    f"{host}:aud": "sts.amazonaws.com",
                }
            },
        }
    ]
    assert mocks.named("c1-ebs-csi-irsa-0").inputs["policyArn"].endswith("AmazonEBSCSIDriverPolicy")

    chart = mocks.named("c1-dns")
    assert chart.typ == "kubernetes:helm.sh/v4:Chart" and not chart.custom
    assert chart.inputs["chart"] == "dns" and chart.inputs["version"] == "1.0.0"
    assert chart.inputs["repositoryOpts"] == {"repo": "https://charts.example.com"}
    assert chart.inputs["values"]["txtOwnerId"] == "c1"
    annotation = chart.inputs["values"]["serviceAccount"]["annotations"]["eks.amazonaws.com/role-arn"]
    assert annotation == "arn:aws:iam::123456789012:role/c1-dns-irsa"
    assert mocks.named("c1-dns-irsa-inline").typ == "aws:iam/rolePolicy:RolePolicy"
    oci = mocks.named("c1-crds")
    assert oci.inputs["chart"] == "oci://registry.example.com/charts/crds" and "repositoryOpts" not in oci.inputs

    # Every Kubernetes object uses the cluster's provider, never the default one.
    provider_urn = mocks.named("c1-k8s").urn
    for r in mocks.resources:
        if r.typ.startswith("kubernetes:"):
            assert r.provider.startswith(provider_urn), r.name

    # Plan order is the dependency graph: crds before dns before policies; csi before add-ons. Depending on
    # a pack's component means depending on what it contains (the engine receives the children's URNs).
    release = {r.name: r for r in mocks.of_type("strata:packs:Pack")}

    def waits_for(later: str, earlier: str) -> bool:
        inside = {r.urn for r in mocks.resources if r.parent == release[earlier].urn}
        return bool(inside) and inside <= set(release[later].dependencies)

    assert waits_for("c1-dns", "c1-crds")
    assert waits_for("c1-policies", "c1-dns")
    assert waits_for("c1-crds", "c1-ebs-csi")
    assert waits_for("c1-ebs-csi", "c1-vpc-cni")
    assert not waits_for("c1-vpc-cni", "c1-ebs-csi")
    # ...and repeated on the children, which is what the engine actually waits on.
    assert mocks.named("c1-crds").urn in chart.dependencies
    assert mocks.named("c1-ns-dns").urn in chart.dependencies

    # Namespaces are explicit (system namespaces are not created) and valid objects.
    names = {r.inputs["metadata"]["name"] for r in mocks.of_type("kubernetes:core/v1:Namespace")}
    assert names == {"crds", "dns", "policies"}
    assert validate_objects(mocks, "1.31") == 3
    assert resolve(pulumi.Output.from_input(stack.packs["dns"]["version"])) == "1.0.0"


def test_manifest_pack_is_a_config_group(mocks: GraphMocks, catalogue: Any) -> None:
    mocks.state_for["aws:iam/role:Role"] = role_state
    PackStack("c1", contract("c1", Target.EKS, irsa()), plan_for(catalogue, "eks"))
    settle()
    group = mocks.named("c1-policies")
    assert group.typ == "kubernetes:yaml/v2:ConfigGroup"
    assert Path(group.inputs["files"][0]).read_text().startswith("apiVersion: v1")


def test_edge_plan_has_no_cloud_resources(mocks: GraphMocks, catalogue: Any) -> None:
    PackStack("e1", contract("e1", Target.EDGE, None), plan_for(catalogue, "edge", "e1"))
    settle()
    assert not [r for r in mocks.resources if r.typ.startswith(("aws:", "azure-native:", "gcp:"))]
    assert mocks.named("e1-dns").inputs["values"] == {"txtOwnerId": "e1", "replicas": 2}


def test_identity_needed_on_a_cluster_without_one_fails_before_anything(mocks: GraphMocks, catalogue: Any) -> None:
    # An EKS cluster whose contract carries no workload identity (IRSA off): the dns chart's values use
    # {{ identity.aws_role_arn }}, which nothing could fill. That check alone must stop the install.
    eks_plan = plan_for(catalogue, "eks")
    no_irsa = contract("c1", Target.EKS, None)
    settle()
    before = len(mocks.resources)
    with pytest.raises(ValueError) as info:
        PackStack("c1", no_irsa, eks_plan)
    assert str(info.value) == (
        "cannot install the plan on c1:\n  pack dns@1.0.0 (addon) needs a cloud identity but eks clusters have none"
    )
    settle()
    assert len(mocks.resources) == before


def test_managed_add_on_on_the_wrong_cloud_fails_before_anything(mocks: GraphMocks, catalogue: Any) -> None:
    eks_plan = plan_for(catalogue, "eks")
    edge_contract = contract("c1", Target.EDGE, None)
    settle()
    before = len(mocks.resources)
    with pytest.raises(ValueError, match=r"pack ebs-csi@1.0.0 \(csi\) is a eks-addon but the cluster is edge"):
        PackStack("c1", edge_contract, eks_plan)
    settle()
    assert len(mocks.resources) == before


def test_a_plan_for_another_cluster_is_refused_before_anything(mocks: GraphMocks, catalogue: Any) -> None:
    """Installing e1's plan (its facts, its rendered values) on e2 would deploy the wrong cluster's settings."""
    plan = plan_for(catalogue, "edge", "e1")
    other = contract("e2", Target.EDGE, None)
    settle()
    before = len(mocks.resources)
    with pytest.raises(ValueError, match=r"cannot install the plan on e2:\n  plan is for cluster e1, not e2$"):
        PackStack("e2", other, plan)
    settle()
    assert len(mocks.resources) == before
    PackStack("e2", other, plan_for(catalogue, "edge", "e2"))
    settle()
    assert mocks.named("e2-dns").inputs["values"]["txtOwnerId"] == "e2"


def test_fill_placeholders_and_flatten_settings(mocks: GraphMocks) -> None:
    values: dict[str, Any] = {"a": {"b": "role={{ identity.aws_role_arn }}"}, "c": 1}
    filled = fill_placeholders(values, ["a.b"], {"identity.aws_role_arn": pulumi.Output.from_input("arn:x")})
    assert isinstance(filled, pulumi.Output)  # a deferred path waits for its output
    assert resolve(filled) == {"a": {"b": "role=arn:x"}, "c": 1}
    assert values["a"]["b"] == "role={{ identity.aws_role_arn }}"  # the plan is never mutated
    listed = fill_placeholders(
        {"l": ["x", "{{ identity.aws_role_arn }}"]}, ["l"], {"identity.aws_role_arn": pulumi.Output.from_input("arn:y")}
    )
    assert isinstance(listed, pulumi.Output)
    assert resolve(listed) == {"l": ["x", "arn:y"]}
    assert flatten_settings({"x": {"y": True, "z": [1]}, "n": 3}) == {"n": "3", "x.y": "true", "x.z": "[1]"}


def test_aks_extension_is_scoped_to_its_namespace(mocks: GraphMocks) -> None:
    from tests.catalogue_builder import in_memory

    flux = pack(
        "flux",
        source={"kind": "managed", "service": "aks-extension", "name": "microsoft.flux", "version": "1.14.0"},
        namespace="flux-system",
        requires=[],
        constraints={"targets": ["aks"]},
        overlays={"aks": {"helm-controller": {"enabled": True}}},
    )
    catalogue = in_memory([flux], [profile("gitops", [{"pack": "flux@1.0.0"}], targets=["aks"])])
    plan = Resolver(catalogue).resolve(ClusterRequest(facts("a1", "aks"), ("gitops@1.0.0",)))
    aks = contract("a1", Target.AKS, None)
    object.__setattr__(
        aks,
        "handles",
        AksHandles(pulumi.Output.from_input("a1-aks"), pulumi.Output.from_input("a1-rg")),
    )
    PackStack("a1", aks, plan)
    settle()
    ext = mocks.named("a1-flux", "azure-native:kubernetesconfiguration:Extension")
    assert ext.inputs["extensionType"] == "microsoft.flux" and ext.inputs["version"] == "1.14.0"
    assert ext.inputs["scope"] == {"cluster": {"releaseNamespace": "flux-system"}}
    assert ext.inputs["configurationSettings"] == {"helm-controller.enabled": "true"}
    assert ext.inputs["autoUpgradeMinorVersion"] is False


def test_secret_variables_reach_values_only_as_secrets(mocks: GraphMocks, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.catalogue_builder import in_memory

    app = pack(
        "app",
        requires=[],
        variables=[{"name": "password", "type": "string", "path": "auth.password", "description": "p", "secret": True}],
    )
    catalogue = in_memory([app], [profile("p", [{"pack": "app@1.0.0", "expose": ["password"]}], targets=["edge"])])
    request = ClusterRequest(facts("e1", "edge"), ("p@1.0.0",), variables={"app.password": {"env": "APP_PW"}})
    plan = Resolver(catalogue).resolve(request)
    monkeypatch.delenv("APP_PW", raising=False)
    with pytest.raises(ValueError, match=r"variables\.app\.password: environment variable APP_PW is not set"):
        PackStack("e1", contract("e1", Target.EDGE, None), plan)
    monkeypatch.setenv("APP_PW", "s3cr3t-value")
    stack = PackStack("e1", contract("e1", Target.EDGE, None), plan)
    settle()
    chart = mocks.named("e1-app", "kubernetes:helm.sh/v4:Chart")
    # The values input reaches the engine as a secret (encrypted in state, masked in diffs).
    assert chart.inputs["values"]["4dabf18193072939515e22adb298388d"] == "1b47061264138c4ac30d75fd1eb44270"
    assert chart.inputs["values"]["value"] == {"auth": {"password": "s3cr3t-value"}}
    assert "s3cr3t-value" not in json.dumps(plan.pack("app").as_dict(explain=True))
    assert stack.packs["app"]["version"] == "1.0.0"


def test_add_ons_wait_for_a_helm_cni_behind_cluster_setting_packs(mocks: GraphMocks) -> None:
    """k3s-local-path (a k3s setting, no resources) sits between cilium and the add-ons in plan order: the
    add-ons must still depend on cilium, so install never races the CNI and destroy removes them first."""
    from tests.catalogue_builder import in_memory

    shipped = load_catalogue()
    refs = ["ubuntu@1.0.0", "k3s@1.34.9+k3s1", "cilium@1.19.6", "k3s-local-path@1.0.0"]
    refs += ["cert-manager@1.21.1", "ingress-nginx@4.15.1"]
    found = [shipped.pack(*ref.split("@")) for ref in refs]
    assert all(found), refs
    layers: list[dict[str, Any]] = [{"pack": ref} for ref in refs]
    layers[1]["values"] = {"flannel_backend": "none"}
    catalogue = in_memory(
        [f.pack.model_dump(mode="json", exclude_none=True) for f in found if f],
        [profile("edge-cilium", layers, targets=["edge"])],
        {f.pack.name: dict(f.values) for f in found if f},
    )
    plan = Resolver(catalogue).resolve(ClusterRequest(facts("e1", "edge", "1.34"), ("edge-cilium@1.0.0",)))
    assert [p.name for p in plan.packs].index("k3s-local-path") < [p.name for p in plan.packs].index("cert-manager")
    edge = contract("e1", Target.EDGE, None)
    # A plan edited by hand (or built by other code) that orders a pack after something installed later, or
    # after a cluster setting, is refused before anything is registered.
    broken = dataclasses.replace(
        plan,
        packs=tuple(
            dataclasses.replace(p, after=("k3s-local-path",)) if p.name == "cert-manager" else p for p in plan.packs
        ),
    )
    with pytest.raises(ValueError, match=r"cert-manager@1.21.1 \(addon\) is ordered after k3s-local-path"):
        PackStack("e1", edge, broken)
    settle()
    assert not mocks.of_type("strata:packs:PackStack")

    PackStack("e1", edge, plan)
    settle()
    release = {r.name: r for r in mocks.of_type("strata:packs:Pack")}
    assert set(release) == {"e1-cilium", "e1-cert-manager", "e1-ingress-nginx"}
    # Depending on a pack's component means depending on what it contains: the engine gets the CNI chart's URN.
    cni_chart = mocks.named("e1-cilium", "kubernetes:helm.sh/v4:Chart").urn
    for addon in ("cert-manager", "ingress-nginx"):
        assert cni_chart in release[f"e1-{addon}"].dependencies, addon
        assert cni_chart in mocks.named(f"e1-{addon}", "kubernetes:helm.sh/v4:Chart").dependencies, addon
