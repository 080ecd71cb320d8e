"""``TeamSpace``: one team's namespaces on one cluster, with their guard rails and the team's access.

Per namespace: the Namespace (Pod Security labels, ``strata.io/team``), a ResourceQuota, a LimitRange, a
default-deny NetworkPolicy that lets DNS through to kube-system, and the team's access for the cluster's target:

- EKS: an access entry per IAM principal and an access policy association scoped to the team's namespaces
  (``AmazonEKSAdminPolicy`` for admins, ``AmazonEKSViewPolicy`` for viewers);
- AKS with Azure RBAC (strata's AKS clusters): role assignments of the Entra group at each namespace's scope
  (Azure Kubernetes Service RBAC Admin / Reader); without Azure RBAC, RoleBindings to the group's object id;
- GKE, edge and existing clusters: RoleBindings of the ``admin`` / ``view`` ClusterRoles to the group.

The Kubernetes objects are the dictionaries of :func:`components.team_spec.space_objects`, the very ones the plan
judges; everything goes through the cluster's provider and every namespaced object depends on its namespace.
Day 2: child names are ``<team>-<cluster>-<namespace>-<kind>``, so adding a cluster or a namespace renames
nothing; a renamed team (``renamed_from``) keeps its resources through aliases; in production a namespace is
kept in the cluster when it leaves the program (``retain_on_delete``), with its quota, limit range and
default-deny policy, so moving a team never deletes its workloads, nor opens them to the network, by surprise.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.clusters.contract import AksHandles, EksHandles, Handles
from components.lifecycle import aliases, fixed_name
from components.team_spec import TeamSpacePlan, namespace_object, namespaced_objects
from packs.model import Target

#: EKS access policies a team's principals are associated with, scoped to the team's namespaces.
EKS_POLICIES = {"admin": "AmazonEKSAdminPolicy", "view": "AmazonEKSViewPolicy"}
#: Azure built-in roles for Kubernetes authorisation with Azure RBAC, assigned at a namespace's scope.
AKS_ROLES = {
    "admin": "3498e952-d568-435e-9b2c-8d77e338d7f7",  # Azure Kubernetes Service RBAC Admin
    "view": "7f6c6a51-bcf8-42ba-9220-52d62157d7db",  # Azure Kubernetes Service RBAC Reader
}


#: Objects kept with a retained namespace (production): what confines the workloads left in it. Access (role
#: bindings, access entries, role assignments) leaves with the team.
GUARD_RAILS = frozenset({"ResourceQuota", "LimitRange", "NetworkPolicy"})


#: The cloud handles each access kind needs; every other kind is plain Kubernetes RBAC and needs none.
HANDLES_NEEDED: dict[str, type[EksHandles | AksHandles]] = {"eks-access-entry": EksHandles, "azure-rbac": AksHandles}


def needs_handles(plan: TeamSpacePlan) -> bool:
    """Whether the team's access on this cluster goes through the cloud's API (and so needs its handles)."""
    return plan.access.kind in HANDLES_NEEDED


class TeamSpaceError(pulumi.RunError):
    """A TeamSpace was given what it cannot build (raised before any child is registered)."""


def _partition(arn: str) -> str:
    return arn.split(":")[1]


def aks_assignment_name(plan: TeamSpacePlan, namespace: str, role: str, principal: str) -> str:
    """A stable GUID per (team, cluster, namespace, role, group): re-runs update in place, never duplicate.

    Built from the first names of the team and the cluster (like a cluster's cloud name), so renaming either
    moves the assignment (aliases) without replacing it."""
    team = plan.renamed_from[0] if plan.renamed_from else plan.team
    cluster = plan.cluster_renamed_from[0] if plan.cluster_renamed_from else plan.cluster
    key = f"strata/teams/{team}/{cluster}/{namespace}/{role}/{principal}"
    return str(uuid.uuid5(uuid.NAMESPACE_URL, key))


class TeamSpace(pulumi.ComponentResource):
    """One team on one cluster (type ``strata:teams:TeamSpace``).

    ``handles`` are the cluster's cloud handles (``ClusterContract.handles``): EKS access entries need
    :class:`EksHandles` (cloud name, region); Azure RBAC role assignments need :class:`AksHandles` (name,
    resource group; the subscription is the Azure provider's). RoleBindings need none.
    """

    def __init__(
        self,
        plan: TeamSpacePlan,
        provider: k8s.Provider,
        handles: Handles = None,
        depends_on: Sequence[pulumi.Resource] = (),
        tags: Mapping[str, str] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        _validate(plan, handles)
        opts = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(aliases=aliases(plan.former_names)))
        super().__init__("strata:teams:TeamSpace", plan.name, None, opts)
        self.plan = plan
        name = plan.name
        base = pulumi.ResourceOptions(parent=self, provider=provider, depends_on=list(depends_on))
        self.namespaces: dict[str, k8s.core.v1.Namespace] = {}
        self.objects: list[pulumi.CustomResource] = []
        for ns in plan.namespaces:
            obj = namespace_object(plan, ns)
            keep = pulumi.ResourceOptions(retain_on_delete=True) if plan.retain else None
            namespace = k8s.core.v1.Namespace(
                f"{name}-{ns.name}-ns",
                metadata=obj["metadata"],
                opts=pulumi.ResourceOptions.merge(base, keep),
            )
            self.namespaces[ns.name] = namespace
            inside = pulumi.ResourceOptions(parent=self, provider=provider, depends_on=[namespace])
            for child in namespaced_objects(plan, ns):
                # A retained namespace keeps its guard rails: deleting the default-deny policy (or the quota)
                # of a namespace whose workloads stay would open them to all traffic when the team leaves.
                guard = pulumi.ResourceOptions.merge(inside, keep if child["kind"] in GUARD_RAILS else None)
                self.objects.append(_kubernetes(f"{name}-{ns.name}-{_suffix(child)}", child, guard))
        cloud = pulumi.ResourceOptions(parent=self, depends_on=[*depends_on, *self.namespaces.values()])
        self.access: list[pulumi.CustomResource] = []
        if isinstance(handles, EksHandles) and plan.access.kind == "eks-access-entry":
            self.access = _eks(plan, handles, dict(tags or {}), cloud)
        elif isinstance(handles, AksHandles) and plan.access.kind == "azure-rbac":
            self.access = _aks(plan, handles, cloud)
        self.register_outputs({"namespaces": [ns.name for ns in plan.namespaces]})


def _validate(plan: TeamSpacePlan, handles: Handles) -> None:
    """Everything a cloud access kind needs, before the first child."""
    needed = HANDLES_NEEDED.get(plan.access.kind)
    if needed is not None and not isinstance(handles, needed):
        raise TeamSpaceError(
            f"team {plan.team} on cluster {plan.cluster} ({plan.target.value}): the team's {plan.access.kind} "
            f"access needs the cluster's {needed.__name__} (got {type(handles).__name__}); pass the cluster's "
            "ClusterContract.handles"
        )
    if plan.target is Target.EKS and plan.access.kind != "eks-access-entry":
        raise TeamSpaceError(f"team {plan.team}: an EKS cluster grants access through access entries")


_KINDS = {"ResourceQuota": "quota", "LimitRange": "limits", "NetworkPolicy": "default-deny"}


def _suffix(obj: Mapping[str, Any]) -> str:
    kind = str(obj["kind"])
    if kind == "RoleBinding":
        return str(obj["metadata"]["name"]).removeprefix("team-") + "-binding"
    return _KINDS[kind]


def _kubernetes(name: str, obj: Mapping[str, Any], opts: pulumi.ResourceOptions) -> pulumi.CustomResource:
    """One namespaced object of a team space, registered with its typed resource class."""
    kind = obj["kind"]
    if kind == "ResourceQuota":
        return k8s.core.v1.ResourceQuota(name, metadata=obj["metadata"], spec=obj["spec"], opts=opts)
    if kind == "LimitRange":
        return k8s.core.v1.LimitRange(name, metadata=obj["metadata"], spec=obj["spec"], opts=opts)
    if kind == "NetworkPolicy":
        return k8s.networking.v1.NetworkPolicy(name, metadata=obj["metadata"], spec=obj["spec"], opts=opts)
    if kind == "RoleBinding":
        return k8s.rbac.v1.RoleBinding(
            name, metadata=obj["metadata"], role_ref=obj["roleRef"], subjects=obj["subjects"], opts=opts
        )
    raise TeamSpaceError(f"no resource class for {kind}")  # pragma: no cover - space_objects builds only these


def _eks(
    plan: TeamSpacePlan, handles: EksHandles, tags: Mapping[str, str], opts: pulumi.ResourceOptions
) -> list[pulumi.CustomResource]:
    """An access entry per principal, and its policy scoped to the team's namespaces on this cluster.

    EKS keeps one entry per principal and cluster, and one association per principal and policy: both are
    replaced delete-before-replace (the plan makes sure no other team or admin uses the principal). Adding a
    namespace updates the association's scope.
    """
    from pulumi_aws import eks

    out: list[pulumi.CustomResource] = []
    namespaces = [ns.name for ns in plan.namespaces]
    for role in ("admin", "view"):
        principal = getattr(plan.access, role)
        if principal is None:
            continue
        entry = eks.AccessEntry(
            f"{plan.name}-{role}-access",
            cluster_name=handles.cluster_name,
            principal_arn=principal,
            type="STANDARD",
            region=handles.region,
            tags={**tags, "strata-team": plan.team},
            opts=fixed_name(opts),
        )
        association = eks.AccessPolicyAssociation(
            f"{plan.name}-{role}-policy",
            cluster_name=handles.cluster_name,
            principal_arn=entry.principal_arn,
            policy_arn=f"arn:{_partition(principal)}:eks::aws:cluster-access-policy/{EKS_POLICIES[role]}",
            access_scope=eks.AccessPolicyAssociationAccessScopeArgs(type="namespace", namespaces=namespaces),
            region=handles.region,
            opts=fixed_name(opts),
        )
        out += [entry, association]
    return out


def _aks(plan: TeamSpacePlan, handles: AksHandles, opts: pulumi.ResourceOptions) -> list[pulumi.CustomResource]:
    """Role assignments of the team's Entra groups at each namespace's scope (Azure RBAC for Kubernetes)."""
    from pulumi_azure_native import authorization

    client = authorization.get_client_config_output()
    cluster_id = pulumi.Output.concat(
        "/subscriptions/",
        client.subscription_id,
        "/resourceGroups/",
        handles.resource_group_name,
        "/providers/Microsoft.ContainerService/managedClusters/",
        handles.cluster_name,
    )
    subscription = cluster_id.apply(lambda i: i.split("/")[2])
    out: list[pulumi.CustomResource] = []
    for ns in plan.namespaces:
        for role in ("admin", "view"):
            group = getattr(plan.access, role)
            if group is None:
                continue
            guid = AKS_ROLES[role]
            out.append(
                authorization.RoleAssignment(
                    f"{plan.name}-{ns.name}-{role}-role",
                    role_assignment_name=aks_assignment_name(plan, ns.name, role, group),
                    principal_id=group,
                    principal_type="Group",
                    role_definition_id=pulumi.Output.concat(
                        "/subscriptions/", subscription, "/providers/Microsoft.Authorization/roleDefinitions/", guid
                    ),
                    scope=pulumi.Output.concat(cluster_id, "/namespaces/", ns.name),
                    opts=fixed_name(opts),
                )
            )
    return out


def handles_from(target: Target, values: Mapping[str, str]) -> Handles:
    """Typed cloud handles from plain values (a team-run stack's spec or config), for clusters it does not own.

    An unknown or incomplete set gives ``None``; :class:`TeamSpace` then names what is missing before creating
    anything."""
    out = pulumi.Output.from_input
    try:
        if target is Target.EKS:
            return EksHandles(cluster_name=out(values["cluster_name"]), region=out(values["region"]))
        if target is Target.AKS:
            return AksHandles(
                cluster_name=out(values["cluster_name"]), resource_group_name=out(values["resource_group_name"])
            )
    except KeyError:
        return None
    return None
