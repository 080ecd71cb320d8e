"""The one cluster contract every target satisfies and every consumer depends on.

Pack stacks, environment stacks and other teams (through stack references) see a cluster only through
:class:`ClusterContract`; they never import a cloud's resource classes. That is what lets one profile
land the same way on EKS, AKS, GKE, an edge box or an adopted cluster.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import pulumi
import pulumi_kubernetes as k8s

from packs import yamlio
from packs.model import ClusterFacts, Target

#: Node label carrying a pool's name on every target: the cloud's own pool name changes when the pool is
#: replaced (see components/lifecycle.py), so workloads select pools by this label.
POOL_LABEL = "strata.io/node-pool"

WorkloadIdentityKind = Literal["aws-irsa", "azure-workload-identity", "gcp-workload-identity"]
T = TypeVar("T")


class MissingOutputError(pulumi.RunError):
    """A cloud output the cluster cannot work without came back empty.

    A ``RunError`` ends ``pulumi up`` with this message alone, like a plan error, instead of a traceback out of
    an ``apply``: the cause is the cloud's state (a cluster still provisioning, changed outside Pulumi, or
    refreshed from a partial read), not strata's code.
    """

    def __init__(self, cluster: str, target: Target, output: str) -> None:
        super().__init__(
            f"cluster {cluster} ({target.value}): the cloud returned no {output}; the cluster may still be "
            "provisioning or was changed outside Pulumi. Run `pulumi refresh`, check the cluster in the cloud "
            "console, then `pulumi up` again"
        )
        self.cluster = cluster
        self.output = output


def required_output(value: pulumi.Output[T | None], cluster: str, target: Target, output: str) -> pulumi.Output[T]:
    """``value``, or a :class:`MissingOutputError` naming the cluster and the output when it is absent or empty."""

    def check(v: T | None) -> T:
        if v is None or v == "":
            raise MissingOutputError(cluster, target, output)
        return v

    return value.apply(check)


def output_or(value: pulumi.Input[str | None], fallback: str) -> pulumi.Output[str]:
    """``value``, or ``fallback`` (the spec's own value) when the cloud left it out.

    For outputs that only echo what the spec asked for, such as the Kubernetes version: an empty one must not
    stop a deployment, and the spec's value is what the cluster was created with.
    """
    return pulumi.Output.from_input(value).apply(lambda v: v or fallback)


@dataclass(frozen=True)
class WorkloadIdentity:
    """What a pack stack needs to give a pack's service account a cloud identity.

    - ``aws-irsa``: ``issuer`` (without https://) and ``provider_arn`` of the IAM OIDC provider; the pack
      stack creates an IAM role trusting ``system:serviceaccount:<ns>:<sa>``.
    - ``azure-workload-identity``: ``issuer``, ``resource_group`` and ``location``; the pack stack creates
      a user-assigned identity with a federated credential for the service account.
    - ``gcp-workload-identity``: ``project``; the pack stack creates a Google service account and binds
      ``roles/iam.workloadIdentityUser`` to ``<project>.svc.id.goog[<ns>/<sa>]``.
    """

    kind: WorkloadIdentityKind
    issuer: pulumi.Output[str] | None = None
    provider_arn: pulumi.Output[str] | None = None
    project: str | None = None
    resource_group: pulumi.Output[str] | None = None
    location: str | None = None


@dataclass(frozen=True)
class EksHandles:
    """How an EKS cluster is addressed by the AWS API (EKS add-ons): its cloud name and region."""

    cluster_name: pulumi.Output[str]
    region: pulumi.Output[str]


@dataclass(frozen=True)
class AksHandles:
    """How an AKS cluster is addressed by the Azure API (cluster extensions): its name and resource group."""

    cluster_name: pulumi.Output[str]
    resource_group_name: pulumi.Output[str]


@dataclass(frozen=True)
class GkeHandles:
    """How a GKE cluster is addressed by the Google API: its name, project and location."""

    cluster_name: pulumi.Output[str]
    project: pulumi.Output[str]
    location: pulumi.Output[str]


#: A cluster's cloud-side handles, one typed shape per cloud; edge and adopted clusters have none.
Handles = EksHandles | AksHandles | GkeHandles | None


@dataclass(frozen=True)
class ClusterContract:
    """A ready cluster, whatever created it.

    ``kubeconfig`` is always a Pulumi secret. For cloud clusters it authenticates through the cloud's
    exec plugin, so it holds no token that can expire during a long apply or change between runs.
    ``provider`` is built from it with a stable ``cluster_identifier``: a rotated credential or a new
    endpoint format then updates the provider in place instead of replacing every resource under it.
    """

    name: str
    target: Target
    facts: ClusterFacts
    kubernetes_version: pulumi.Output[str]
    endpoint: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]
    provider: k8s.Provider
    oidc_issuer: pulumi.Output[str] | None = None
    workload_identity: WorkloadIdentity | None = None
    storage_class: str | None = None
    load_balancer: bool = True
    handles: Handles = None
    ready: Sequence[pulumi.Resource] = ()
    #: The name the cloud knows the cluster by, when a rename left it different from ``name``.
    cloud_name: str | None = None

    @property
    def physical_name(self) -> str:
        """What names derived from the cluster in the cloud (accounts, role assignments) are built from."""
        return self.cloud_name or self.name

    def outputs(self) -> dict[str, Any]:
        """The contract as plain outputs for ``register_outputs`` and stack exports."""
        return {
            "name": self.name,
            "target": self.target.value,
            "kubernetesVersion": self.kubernetes_version,
            "endpoint": self.endpoint,
            "kubeconfig": self.kubeconfig,
            "oidcIssuer": self.oidc_issuer,
        }


def cluster_identifier(target: Target, name: str) -> str:
    """The provider's identity: derived from what the cluster *is*, never from its credentials."""
    return f"strata/{target.value}/{name}"


def make_provider(
    name: str,
    target: Target,
    kubeconfig: pulumi.Input[str] | None,
    parent: pulumi.Resource,
    depends_on: Sequence[pulumi.Resource] = (),
    render_yaml_to_directory: str | None = None,
    context: str | None = None,
    delete_unreachable: bool = False,
    cloud_name: str | None = None,
    adopt_existing: bool = False,
) -> k8s.Provider:
    """The Kubernetes provider every pack uses; never the ambient default provider.

    Server-side apply is on so that packs and controllers co-own fields safely; ``delete_unreachable``
    lets a decommissioned edge site leave state without a reachable API server. The identifier comes from
    the cloud name, which survives a rename: a new identifier would replace the provider and with it every
    Kubernetes object of every pack.

    ``adopt_existing`` is for the one update that takes running objects over from another manager (a switch
    from Flux to Pulumi delivery). Since pulumi-kubernetes 4.29 a create is a plain create that fails with
    AlreadyExists when the object exists; ``upsertExistingObjects`` makes it a server-side apply instead, and
    ``enablePatchForce`` takes the fields helm-controller owns. Both are provider settings (an in-place
    provider update: the cluster identifier is unchanged), so no object's inputs change, and the next update
    drops them again. Unset otherwise: an ordinary stack's provider inputs stay exactly as they were.
    """
    return k8s.Provider(
        f"{name}-k8s",
        kubeconfig=kubeconfig,
        context=context,
        cluster_identifier=cluster_identifier(target, cloud_name or name),
        render_yaml_to_directory=render_yaml_to_directory,
        enable_server_side_apply=True,
        delete_unreachable=delete_unreachable,
        upsert_existing_objects=True if adopt_existing else None,
        enable_patch_force=True if adopt_existing else None,
        opts=pulumi.ResourceOptions(parent=parent, depends_on=list(depends_on)),
    )


def exec_kubeconfig(
    name: str,
    endpoint: str,
    ca_data: str,
    command: str,
    args: Sequence[str],
    env: Mapping[str, str] | None = None,
    install_hint: str | None = None,
) -> str:
    """A kubeconfig whose user runs an exec credential plugin (client.authentication.k8s.io/v1beta1).

    Deterministic (keys in a fixed order, no timestamps) so that the same cluster yields the same text and
    a plan never shows a perpetual diff.
    """
    user_exec: dict[str, Any] = {
        "apiVersion": "client.authentication.k8s.io/v1beta1",
        "command": command,
        "args": list(args),
        "interactiveMode": "Never",
        "provideClusterInfo": False,
    }
    if env:
        user_exec["env"] = [{"name": k, "value": v} for k, v in sorted(env.items())]
    if install_hint:
        user_exec["installHint"] = install_hint
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": {"server": endpoint, "certificate-authority-data": ca_data}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "current-context": name,
        "users": [{"name": name, "user": {"exec": user_exec}}],
    }
    return yamlio.safe_dump(doc, sort_keys=False)


class ClusterComponent(pulumi.ComponentResource):
    """Base of every cluster component: holds the contract and registers its outputs once."""

    contract: ClusterContract

    def _finish(self, contract: ClusterContract) -> None:
        self.contract = contract
        self.kubeconfig = contract.kubeconfig
        self.endpoint = contract.endpoint
        self.provider = contract.provider
        self.register_outputs(contract.outputs())
