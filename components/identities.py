"""Workload identities for packs, per cloud, created from the pack's declared needs.

A pack says *what* it needs (``identity:`` in pack.yaml: a service account, AWS policies, Azure roles,
GCP roles); this module turns that into the cloud's own mechanism -- an IRSA role, an Azure user-assigned
identity with a federated credential, a Google service account bound through workload identity -- and
returns the values the pack's ``{{ identity.* }}`` placeholders stand for. Cloud SDKs are imported inside
the per-cloud functions, so an edge stack never loads one.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi

from components.clusters.contract import ClusterContract
from components.lifecycle import fixed_name
from packs.model import AZURE_BUILTIN_ROLES, AzureRoleGrant, Identity

AZURE_TOKEN_AUDIENCE = "api://AzureADTokenExchange"


@dataclass
class PackIdentity:
    """What the pack stack needs back: placeholder values and the resources that must exist first."""

    placeholders: dict[str, pulumi.Output[str]] = field(default_factory=dict)
    resources: list[pulumi.Resource] = field(default_factory=list)


def subject(namespace: str, service_account: str) -> str:
    return f"system:serviceaccount:{namespace}:{service_account}"


def gcp_account_id(cluster: str, pack: str) -> str:
    """A valid Google service account id (6-30 chars, ``[a-z][a-z0-9-]*[a-z0-9]``), unique per cluster+pack.

    Long names are cut and suffixed with a short hash, so two clusters never map to one account.
    """
    raw = re.sub(r"[^a-z0-9-]", "-", f"{cluster}-{pack}".lower()).strip("-")
    if not raw or not raw[0].isalpha():
        raw = f"s-{raw}"
    if len(raw) > 30:
        digest = hashlib.sha256(f"{cluster}/{pack}".encode()).hexdigest()[:6]
        raw = f"{raw[:23].rstrip('-')}-{digest}"
    return raw.ljust(6, "0")


def aws_trust_policy(provider_arn: str, issuer: str, sub: str) -> str:
    """IRSA trust: only this service account of this cluster may assume the role."""
    host = issuer.removeprefix("https://")
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Federated": provider_arn},
                    "Action": "sts:AssumeRoleWithWebIdentity",
                    "Condition": {
                        "StringEquals": {f"{host}:sub": sub, f"{host}:aud": "sts.amazonaws.com"},
                    },
                }
            ],
        },
        sort_keys=True,
    )


def create_identity(
    name: str,
    cluster: ClusterContract,
    namespace: str,
    need: Identity,
    tags: Mapping[str, str],
    parent: pulumi.Resource,
    physical: str | None = None,
) -> PackIdentity:
    """Create ``need`` on the cluster's cloud; ``name`` prefixes every resource (``<cluster>-<pack>``).

    ``physical`` (default ``name``) is what cloud names derive from: the cluster's cloud name and the pack's
    first name, so renaming either moves the Pulumi resources (aliases) without re-creating an account or
    a role assignment under a new cloud name.
    """
    physical = physical or name
    wi = cluster.workload_identity
    if wi is None:
        raise ValueError(f"{name}: cluster {cluster.name} ({cluster.target.value}) has no workload identity")
    sub = subject(namespace, need.service_account)
    if wi.kind == "aws-irsa":
        return _aws(name, wi.provider_arn, wi.issuer, sub, need, tags, parent)
    if wi.kind == "azure-workload-identity":
        return _azure(name, physical, wi, sub, need, tags, parent)
    return _gcp(name, physical, cluster.physical_name, wi.project or "", namespace, need, parent)


def _aws(
    name: str,
    provider_arn: pulumi.Output[str] | None,
    issuer: pulumi.Output[str] | None,
    sub: str,
    need: Identity,
    tags: Mapping[str, str],
    parent: pulumi.Resource,
) -> PackIdentity:
    from pulumi_aws import iam

    opts = pulumi.ResourceOptions(parent=parent)
    trust = pulumi.Output.all(provider_arn, issuer).apply(lambda a: aws_trust_policy(a[0], a[1], sub))
    role = iam.Role(f"{name}-irsa", assume_role_policy=trust, tags=dict(tags), opts=opts)
    resources: list[pulumi.Resource] = [role]
    for i, arn in enumerate(need.aws_policy_arns):
        resources.append(iam.RolePolicyAttachment(f"{name}-irsa-{i}", role=role.name, policy_arn=arn, opts=opts))
    if need.aws_policy is not None:
        resources.append(
            iam.RolePolicy(
                f"{name}-irsa-inline", role=role.id, policy=json.dumps(need.aws_policy, sort_keys=True), opts=opts
            )
        )
    return PackIdentity({"aws_role_arn": role.arn}, resources)


def _azure(
    name: str, physical: str, wi: Any, sub: str, need: Identity, tags: Mapping[str, str], parent: pulumi.Resource
) -> PackIdentity:
    from pulumi_azure_native import authorization, managedidentity

    opts = pulumi.ResourceOptions(parent=parent)
    identity = managedidentity.UserAssignedIdentity(
        f"{name}-id", resource_group_name=wi.resource_group, location=wi.location, tags=dict(tags), opts=opts
    )
    credential = managedidentity.FederatedIdentityCredential(
        f"{name}-fic",
        resource_group_name=wi.resource_group,
        resource_name_=identity.name,
        issuer=wi.issuer,
        subject=sub,
        audiences=[AZURE_TOKEN_AUDIENCE],
        # Azure allows one credential per issuer and subject on an identity: the old one goes first.
        opts=fixed_name(opts),
    )
    resources: list[pulumi.Resource] = [identity, credential]
    if need.azure_roles:
        client = authorization.get_client_config_output()
        for grant in need.azure_roles:
            guid = AZURE_BUILTIN_ROLES[grant.role]
            subscription: pulumi.Output[str] = pulumi.Output.from_input(grant.subscription or client.subscription_id)
            group = pulumi.Output.from_input(grant.resource_group or wi.resource_group)
            scope = pulumi.Output.all(subscription, group).apply(
                lambda a: f"/subscriptions/{a[0]}/resourceGroups/{a[1]}"
            )
            resources.append(
                authorization.RoleAssignment(
                    f"{name}-{guid[:8]}{_scope_suffix(grant.subscription, grant.resource_group)}",
                    role_assignment_name=_assignment_name(physical, guid, grant, scope),
                    principal_id=identity.principal_id,
                    principal_type="ServicePrincipal",
                    # A built-in role is referenced through the subscription of the scope it is assigned at.
                    role_definition_id=pulumi.Output.concat(
                        "/subscriptions/", subscription, "/providers/Microsoft.Authorization/roleDefinitions/", guid
                    ),
                    scope=scope,
                    opts=fixed_name(opts),
                )
            )
    return PackIdentity({"azure_client_id": identity.client_id}, resources)


def _scope_suffix(*explicit: str | None) -> str:
    """Resource-name suffix for a grant at an explicit scope; none for the cluster's own scope.

    Grants at the cluster's scope keep the names they always had, so upgrading strata does not replace them;
    two grants of one role at different explicit scopes get different names.
    """
    if not any(explicit):
        return ""
    return "-" + hashlib.sha256("/".join(e or "" for e in explicit).encode()).hexdigest()[:8]


def _assignment_name(name: str, guid: str, grant: AzureRoleGrant, scope: pulumi.Output[str]) -> pulumi.Input[str]:
    """A stable GUID per (identity, role[, scope]): re-runs update in place instead of duplicating.

    Azure refuses a second assignment of one role to one principal at one scope, so the GUID of a grant at the
    cluster's scope stays what it always was; a grant at an explicit scope also hashes the scope, so moving it
    (a new DNS zone resource group) creates the new assignment before deleting the old one without a clash.
    """
    if grant.subscription is None and grant.resource_group is None:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"strata/{name}/{guid}"))
    return scope.apply(lambda sc: str(uuid.uuid5(uuid.NAMESPACE_URL, f"strata/{name}/{guid}{sc.lower()}")))


def _gcp(
    name: str, physical: str, cluster: str, project: str, namespace: str, need: Identity, parent: pulumi.Resource
) -> PackIdentity:
    from pulumi_gcp import projects, serviceaccount

    opts = pulumi.ResourceOptions(parent=parent)
    pack = physical.removeprefix(f"{cluster}-")
    account = serviceaccount.Account(
        f"{name}-gsa",
        account_id=gcp_account_id(cluster, pack),
        display_name=f"{pack} on {cluster}",
        project=project,
        # The account id is its name in the project: the old account must go before its replacement exists.
        opts=fixed_name(opts),
    )
    resources: list[pulumi.Resource] = [account]
    member = account.email.apply(lambda e: f"serviceAccount:{e}")
    for grant in need.gcp_roles:
        slug = grant.role.rsplit("/", 1)[-1].replace(".", "-").lower()
        # A binding in the cluster's own project keeps its old name: renaming an IAMMember would delete the
        # (identical, non-authoritative) binding the new one just created.
        where = grant.project or project
        suffix = "" if where == project else f"-{where}"
        resources.append(
            projects.IAMMember(f"{name}-{slug}{suffix}", project=where, role=grant.role, member=member, opts=opts)
        )
    resources.append(
        serviceaccount.IAMMember(
            f"{name}-wi",
            service_account_id=account.name,
            role="roles/iam.workloadIdentityUser",
            member=f"serviceAccount:{project}.svc.id.goog[{namespace}/{need.service_account}]",
            opts=opts,
        )
    )
    return PackIdentity({"gcp_service_account": account.email}, resources)
