"""The second `pulumi up`: replacement, pool names, protection and edge host identity, for every component.

The rule under test (components/lifecycle.py): a resource whose physical name or unique key strata sets is
replaced delete-before-replace; everything else is auto-named or identified by the cloud; node pools are
replaced create-before-delete under a new physical name, and are never protected.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

import pulumi
import pytest

from components.clusters.contract import ClusterContract, WorkloadIdentity, make_provider
from components.clusters.edge import validate as validate_edge
from components.clusters.spec import EdgeClusterSpec
from components.identities import create_identity
from components.lifecycle import pool_name, replacement_digest, retained
from packs.model import ClusterFacts, Identity, Target
from tests import test_cluster_aks as aks
from tests import test_cluster_edge as edge
from tests import test_cluster_eks as eks
from tests import test_cluster_gke as gke
from tests.mocks import GraphMocks, Registration, carried_over, install, settle

POOL_TYPES = {
    "aws:eks/nodeGroup:NodeGroup": "nodeGroupName",
    "azure-native:containerservice:AgentPool": "agentPoolName",
    "gcp:container/nodePool:NodePool": "name",
}


def _command_identity(r: Registration) -> tuple[str, ...]:
    """A remote command with a delete step acts on one machine: the host is its identity."""
    return ("connection",) if r.inputs.get("delete") else ()


#: For every resource type the components register: the inputs that are its name in the cloud, or a key the
#: cloud keeps unique, on which a create-before-delete replacement would collide. Empty: the cloud assigns
#: the id, or every input that forces replacement is part of the key (so a replacement never reuses it).
NAMED_BY: dict[str, tuple[str, ...] | Callable[[Registration], tuple[str, ...]]] = {
    # AWS
    "aws:ec2/vpc:Vpc": (),
    "aws:ec2/internetGateway:InternetGateway": (),
    "aws:ec2/routeTable:RouteTable": (),
    "aws:ec2/subnet:Subnet": (),
    "aws:ec2/routeTableAssociation:RouteTableAssociation": (),
    "aws:ec2/eip:Eip": (),
    "aws:ec2/natGateway:NatGateway": (),
    "aws:iam/role:Role": ("name",),
    "aws:iam/rolePolicy:RolePolicy": ("name",),
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": (),
    "aws:kms/key:Key": (),
    "aws:eks/cluster:Cluster": ("name",),
    "aws:iam/openIdConnectProvider:OpenIdConnectProvider": (),
    "aws:eks/accessEntry:AccessEntry": ("clusterName", "principalArn"),
    "aws:eks/accessPolicyAssociation:AccessPolicyAssociation": ("clusterName", "principalArn", "policyArn"),
    # Azure
    "azure-native:resources:ResourceGroup": ("resourceGroupName",),
    "azure-native:containerservice:ManagedCluster": ("resourceName",),
    "azure-native:managedidentity:UserAssignedIdentity": ("resourceName",),
    "azure-native:managedidentity:FederatedIdentityCredential": ("issuer", "subject"),
    "azure-native:authorization:RoleAssignment": ("roleAssignmentName",),
    # GCP
    "gcp:compute/network:Network": ("name",),
    "gcp:compute/subnetwork:Subnetwork": ("name",),
    "gcp:compute/router:Router": ("name",),
    "gcp:compute/routerNat:RouterNat": ("name",),
    "gcp:serviceaccount/account:Account": ("accountId",),
    "gcp:projects/iAMMember:IAMMember": (),
    "gcp:serviceaccount/iAMMember:IAMMember": (),
    "gcp:container/cluster:Cluster": ("name",),
    # edge and every target
    "command:remote:Command": _command_identity,
    "pulumi:providers:kubernetes": (),
}


def check_replacement_rule(mocks: GraphMocks) -> int:
    """Assert the rule on every custom resource registered; returns how many were checked."""
    checked = 0
    for r in mocks.resources:
        if not r.custom:
            continue
        checked += 1
        if r.typ in POOL_TYPES:
            assert not r.delete_before_replace, f"{r.name}: a pool is replaced create-before-delete"
            assert not r.protect, f"{r.name}: a protected pool could not be replaced"
            continue
        assert r.typ in NAMED_BY, f"{r.typ} is not classified: does it have a fixed physical name?"
        rule = NAMED_BY[r.typ]
        names = rule(r) if callable(rule) else rule
        if any(r.inputs.get(prop) is not None for prop in names):
            assert r.delete_before_replace, f"{r.name} ({r.typ}) has a fixed name but no delete_before_replace"
    return checked


# ------------------------------------------------------------------------------------- one rule everywhere


def test_eks_follows_the_replacement_rule(mocks: GraphMocks) -> None:
    eks.build(mocks, protect=True)
    assert check_replacement_rule(mocks) > 30
    # The cluster has a fixed name: without delete-before-replace any replacement fails with "already exists".
    assert mocks.named("prod-euw1-eks", eks.CLUSTER).delete_before_replace


def test_aks_follows_the_replacement_rule(mocks: GraphMocks) -> None:
    aks.build(mocks, protect=True)
    assert check_replacement_rule(mocks) >= 3


def test_gke_follows_the_replacement_rule(mocks: GraphMocks) -> None:
    gke.build(mocks, protect=True)
    assert check_replacement_rule(mocks) > 10
    for name in ("prod-euw1-gke", "prod-euw1-vpc", "prod-euw1-subnet", "prod-euw1-node-sa"):
        assert mocks.named(name).delete_before_replace, name


def test_edge_follows_the_replacement_rule(mocks: GraphMocks, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STRATA_TEST_SSH_KEY", edge.SSH_KEY)
    edge.answer_reads(mocks)
    edge.build(edge.edge_spec(hosts=edge.three_hosts()), protect=True)
    assert check_replacement_rule(mocks) == 6
    installs = [r for r in mocks.of_type("command:remote:Command") if r.inputs.get("delete")]
    assert len(installs) == 3 and all(r.delete_before_replace for r in installs)


class _Host(pulumi.ComponentResource):
    def __init__(self, name: str) -> None:
        super().__init__("test:index:Host", name, None, None)


def _contract(target: Target, identity: WorkloadIdentity) -> ClusterContract:
    host = _Host("c1")
    return ClusterContract(
        name="c1",
        target=target,
        facts=ClusterFacts(name="c1", target=target, kubernetes_version="1.31"),
        kubernetes_version=pulumi.Output.from_input("1.31"),
        endpoint=pulumi.Output.from_input("https://example"),
        kubeconfig=pulumi.Output.secret("kubeconfig"),
        provider=make_provider("c1", target, pulumi.Output.secret("kubeconfig"), host),
        workload_identity=identity,
    )


def test_identities_follow_the_replacement_rule(mocks: GraphMocks) -> None:
    need = Identity.model_validate(  # roles in their short form, as a pack file gives them
        {
            "service_account": "dns",
            "aws_policy_arns": ("arn:aws:iam::aws:policy/ReadOnlyAccess",),
            "aws_policy": {"Version": "2012-10-17", "Statement": []},
            "azure_roles": ("DNS Zone Contributor",),
            "gcp_roles": ("roles/dns.admin",),
        }
    )
    out = pulumi.Output.from_input
    identities = {
        Target.EKS: WorkloadIdentity(kind="aws-irsa", issuer=out("https://oidc/x"), provider_arn=out("arn:oidc")),
        Target.AKS: WorkloadIdentity(
            kind="azure-workload-identity", issuer=out("https://issuer"), resource_group=out("rg"), location="weu"
        ),
        Target.GKE: WorkloadIdentity(kind="gcp-workload-identity", project="acme-prod-42"),
    }
    # Azure always answers with the caller's subscription; role definitions are addressed through it.
    mocks.calls["azure-native:authorization:getClientConfig"] = lambda args: {
        "subscriptionId": "00000000-1111-2222-3333-444444444444",
        "tenantId": "72f988bf-86f1-41af-91ab-2d7cd011db47",
    }
    parent = _Host("packs")
    for target, wi in identities.items():
        create_identity(f"c1-{target.value}", _contract(target, wi), "external-dns", need, {}, parent)
    settle()
    assert {r.typ for r in mocks.resources} >= {
        "aws:iam/role:Role",
        "azure-native:authorization:RoleAssignment",
        "azure-native:managedidentity:FederatedIdentityCredential",
        "gcp:serviceaccount/account:Account",
    }
    assert check_replacement_rule(mocks) >= 9


# ------------------------------------------------------------------------------------------- node pools


def _rebuild(build: Callable[[GraphMocks], object]) -> GraphMocks:
    """A second program in a fresh engine (the first one's registrations stay in their own mocks)."""
    second = GraphMocks()
    install(second)
    build(second)
    return second


def _pools(mocks: GraphMocks, typ: str) -> dict[str, Registration]:
    return {r.urn: r for r in mocks.of_type(typ)}


@pytest.mark.parametrize(
    ("typ", "build", "forcing", "in_place"),
    [
        (
            "gcp:container/nodePool:NodePool",
            lambda m, **pool: gke.build(m, node_pools=[{"name": "system", "system": True, **pool}]),
            [{"machine_type": "n2-standard-8"}, {"disk_size_gib": 200}, {"disk_type": "pd-ssd"}, {"spot": True}],
            {"max_size": 5},
        ),
        (
            "azure-native:containerservice:AgentPool",
            lambda m, **pool: aks.build(
                m,
                aks.make_spec(node_pools=[{"name": "system", "system": True}, {"name": "apps", "min_size": 1, **pool}]),
            ),
            [{"vm_size": "Standard_D8s_v5"}, {"os_disk_size_gib": 256}, {"zones": ["1"]}, {"max_pods": 50}],
            {"max_size": 9},
        ),
    ],
)
def test_a_pool_gets_a_new_cloud_name_only_when_a_replacing_field_changes(
    mocks: GraphMocks, typ: str, build: Callable[..., Any], forcing: list[dict[str, Any]], in_place: dict[str, Any]
) -> None:
    build(mocks)
    field = POOL_TYPES[typ]
    first = _pools(mocks, typ)
    assert len(first) == 1
    ((urn, pool),) = first.items()

    same = _pools(_rebuild(lambda m: build(m, **in_place)), typ)
    assert same[urn].inputs[field] == pool.inputs[field], "a resize must update the pool in place"

    for change in forcing:
        second = _pools(_rebuild(functools.partial(build, **change)), typ)
        assert set(second) == {urn}, f"{change}: the pool keeps its logical name"
        assert second[urn].inputs[field] != pool.inputs[field], f"{change}: the replacement needs a new cloud name"
        assert not second[urn].delete_before_replace


def test_gke_pool_name_follows_the_node_image(mocks: GraphMocks) -> None:
    gke.build(mocks)
    cos = {r.name: r.inputs["name"] for r in mocks.of_type("gcp:container/nodePool:NodePool")}
    ubuntu = _rebuild(lambda m: gke.build(m, settings={"node-os": {"image_type": "UBUNTU_CONTAINERD"}}))
    assert all(cos[r.name] != r.inputs["name"] for r in ubuntu.of_type("gcp:container/nodePool:NodePool"))


def test_eks_node_groups_are_named_from_a_prefix(mocks: GraphMocks) -> None:
    eks.build(mocks)
    for group in mocks.of_type("aws:eks/nodeGroup:NodeGroup"):
        assert "nodeGroupName" not in group.inputs and group.inputs["nodeGroupNamePrefix"].endswith("-")


def test_pool_names_fit_and_are_stable() -> None:
    forcing = {"machine_type": "e2-standard-4"}
    assert pool_name("system", forcing, 40) == pool_name("system", dict(forcing), 40)
    # Golden value: the digest must not depend on the process (no salted hash).
    assert replacement_digest({"a": 1}) == replacement_digest({"a": 1}) == "5mxst"
    long = pool_name("averyveryverylongpool", forcing, 12, separator="")
    assert len(long) == 12 and re.fullmatch(r"[a-z0-9]+", long)
    assert pool_name("averyveryverylongpoolA", forcing, 12, separator="") != pool_name(
        "averyveryverylongpoolB", forcing, 12, separator=""
    )


# ------------------------------------------------------------------------------------------- edge hosts


def _edge_program(monkeypatch: pytest.MonkeyPatch, hosts: list[dict[str, Any]]) -> GraphMocks:
    monkeypatch.setenv("STRATA_TEST_SSH_KEY", edge.SSH_KEY)
    program = GraphMocks()
    install(program)
    edge.answer_reads(program)
    edge.build(EdgeClusterSpec.model_validate({**edge.edge_spec().model_dump(mode="json"), "hosts": hosts}))
    return program


def _installs(program: GraphMocks) -> dict[str, Registration]:
    return {r.urn: r for r in program.of_type("command:remote:Command") if r.inputs.get("delete")}


def test_renaming_an_edge_host_is_an_update_not_an_uninstall(monkeypatch: pytest.MonkeyPatch) -> None:
    before = _edge_program(monkeypatch, edge.three_hosts())
    renamed = [{**h, "name": h["name"].replace("node", "edge")} for h in edge.three_hosts()]
    after = _edge_program(monkeypatch, renamed)
    assert {r.urn for r in after.resources} == {r.urn for r in before.resources}
    old, new = _installs(before), _installs(after)
    for urn, install_ in new.items():
        # Same resource, new node name in its config: the installer re-runs in place, the uninstall never runs.
        assert install_.inputs["delete"] == old[urn].inputs["delete"]
    changed = {urn for urn in new if str(new[urn].inputs["stdin"]) != str(old[urn].inputs["stdin"])}
    assert changed, "the new name reaches k3s"


def test_only_removing_or_replacing_a_machine_uninstalls(monkeypatch: pytest.MonkeyPatch) -> None:
    before = _installs(_edge_program(monkeypatch, edge.three_hosts()))
    fewer = _installs(_edge_program(monkeypatch, edge.three_hosts()[:2]))
    assert set(fewer) < set(before) and len(fewer) == 2
    moved = [*edge.three_hosts()[:2], {**edge.three_hosts()[2], "address": "10.0.0.9"}]
    assert len(set(_installs(_edge_program(monkeypatch, moved))) - set(before)) == 1
    # With an explicit id, a new address is the same machine reached another way: an update.
    pinned = [*edge.three_hosts()[:2], {**edge.three_hosts()[2], "id": "asset-0042"}]
    repinned = [*pinned[:2], {**pinned[2], "address": "10.0.0.9"}]
    assert set(_installs(_edge_program(monkeypatch, pinned))) == set(_installs(_edge_program(monkeypatch, repinned)))


def test_stacks_keyed_by_host_name_carry_over(monkeypatch: pytest.MonkeyPatch) -> None:
    program = _edge_program(monkeypatch, edge.three_hosts())
    installs = _installs(program)
    legacy = {
        urn.rsplit("::", 1)[0] + "::" + f"fr-00001-k3s-{h['name']}"
        for urn, h in zip(installs, edge.three_hosts(), strict=True)
    }
    moved = carried_over(legacy, program)
    assert {moved[urn] for urn in installs} == legacy


def test_two_hosts_with_the_same_identity_are_refused() -> None:
    hosts = [{"name": "a", "address": "10.0.0.2"}, {"name": "b", "address": "10.0.0.3", "id": "10.0.0.2"}]
    spec = EdgeClusterSpec.model_validate({**edge.edge_spec().model_dump(mode="json"), "hosts": hosts})
    with pytest.raises(ValueError, match=r"^hosts\[1\]\.id: '10.0.0.2' already identifies hosts\[0\]"):
        validate_edge(spec, {})


# ------------------------------------------------------------------------------------------- retention


def test_retained_keeps_the_resource_and_every_child() -> None:
    opts = retained(pulumi.ResourceOptions(protect=False))
    assert opts.retain_on_delete is True
    (transform,) = opts.transforms or []
    args = pulumi.ResourceTransformArgs(
        custom=True, type_="kubernetes:apps/v1:StatefulSet", name="x", props={"a": 1}, opts=pulumi.ResourceOptions()
    )
    result = transform(args)
    assert isinstance(result, pulumi.ResourceTransformResult)  # a synchronous transform: not awaitable
    assert result.opts.retain_on_delete is True and result.props == {"a": 1}
