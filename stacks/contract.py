"""The versioned contract a cluster stack exports, and the helper other teams use to consume it.

Teams build on platform clusters through stack references. A raw ``get_output("kubeconfig")`` couples
them to whatever the platform happened to export; this module gives both sides one typed, versioned
shape instead. Exporters write :class:`ClusterOutputs` (``schema_version`` first), consumers read it
with :func:`cluster_from_reference`, which validates it and hands back a ready Kubernetes provider --
or a clear error naming the stack, the cluster and the version mismatch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Final, Literal

import pulumi
import pulumi_kubernetes as k8s
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from components.clusters.contract import (
    AksHandles,
    ClusterContract,
    EksHandles,
    GkeHandles,
    Handles,
    cluster_identifier,
)
from components.packstack import PackStack
from packs.errors import from_validation
from packs.model import Target

SCHEMA_VERSION: Final = 2
#: Versions this consumer reads. Version 1 lacks ``handles``: a platform stack last deployed with an older strata
#: still serves every consumer that needs no cloud handles, and the one that does is told what to do.
READABLE_VERSIONS: Final = (1, 2)
EXPORT_KEY = "clusters"


class PackRecord(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    version: str = Field(description="Pack version installed.")
    layer: str = Field(description="Layer of the pack.")
    namespace: str | None = Field(description="Namespace the pack runs in.")
    profile: str = Field(description="Profile (name@version) that brought the pack.")


class EksHandleOutputs(BaseModel):
    """How the AWS API addresses an EKS cluster (access entries): the cloud's name for it and its region."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: Literal["eks"] = "eks"
    cluster_name: str = Field(description="The name EKS knows the cluster by (survives a rename in strata).")
    region: str = Field(description="AWS region of the cluster.")


class AksHandleOutputs(BaseModel):
    """How the Azure API addresses an AKS cluster (role assignments): its name and resource group."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: Literal["aks"] = "aks"
    cluster_name: str = Field(description="The name AKS knows the cluster by.")
    resource_group_name: str = Field(description="Resource group of the cluster, generated or named.")


class GkeHandleOutputs(BaseModel):
    """How the Google API addresses a GKE cluster: its name, project and location."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: Literal["gke"] = "gke"
    cluster_name: str = Field(description="The name GKE knows the cluster by.")
    project: str = Field(description="Google Cloud project of the cluster.")
    location: str = Field(description="Region or zone of the cluster.")


HandleOutputs = Annotated[EksHandleOutputs | AksHandleOutputs | GkeHandleOutputs, Field(discriminator="kind")]


class ClusterOutputs(BaseModel):
    """What one cluster stack promises to its consumers, version ``SCHEMA_VERSION``."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    schema_version: Literal[1, 2] = Field(description="Contract version; bumped on any incompatible change.")
    name: str = Field(description="Cluster name.")
    target: Target = Field(description="eks, aks, gke, edge or existing.")
    kubernetes_version: str = Field(description="Kubernetes version of the control plane.")
    endpoint: str = Field(description="API server URL.")
    kubeconfig: str = Field(description="Kubeconfig (exported as a Pulumi secret).")
    oidc_issuer: str | None = Field(description="OIDC issuer URL, where the cloud has one.")
    profiles: list[str] = Field(description="Profiles applied, name@version.")
    packs: dict[str, PackRecord] = Field(description="Installed packs by name.")
    handles: HandleOutputs | None = Field(
        default=None,
        description="The cluster's cloud handles (none are secret); absent for edge and adopted clusters, and in "
        "version 1 contracts.",
    )


def export_outputs(contract: ClusterContract, packs: PackStack) -> pulumi.Output[dict[str, Any]]:
    """The contract as one output; the kubeconfig stays secret (so the whole entry is secret).

    The cluster components already fall back or stop with a clear message when the cloud leaves an output out;
    should one still be empty here, the run ends naming the cluster and the field, never with a raw pydantic
    traceback out of an ``apply``.
    """

    kind, handle_fields = _handle_fields(contract.handles)

    def build(v: list[Any]) -> dict[str, Any]:
        handles = None if kind is None else {"kind": kind, **dict(zip(handle_fields, v[4:], strict=True))}
        try:
            outputs = ClusterOutputs.model_validate(
                {
                    "schema_version": SCHEMA_VERSION,
                    "name": contract.name,
                    "target": contract.target,
                    "kubernetes_version": v[0],
                    "endpoint": v[1],
                    "kubeconfig": v[2],
                    "oidc_issuer": v[3],
                    "profiles": list(packs.profiles),
                    "packs": {k: PackRecord.model_validate(r) for k, r in packs.packs.items()},
                    "handles": handles,
                }
            )
        except ValidationError as exc:
            fields = ", ".join(".".join(map(str, e["loc"])) for e in exc.errors(include_url=False))
            raise pulumi.RunError(
                f"cluster {contract.name} ({contract.target.value}): cannot export its contract, the cloud returned "
                f"no usable {fields}; run `pulumi refresh` and `pulumi up` again"
            ) from None
        return outputs.model_dump(mode="json")

    return pulumi.Output.all(
        contract.kubernetes_version,
        contract.endpoint,
        contract.kubeconfig,
        contract.oidc_issuer if contract.oidc_issuer is not None else None,
        *(getattr(contract.handles, f) for f in handle_fields),
    ).apply(build)


#: Per cloud: the typed handles, the exported ``kind`` and the fields it carries (the dataclass' own names).
_HANDLES: Final[dict[Target, tuple[type[EksHandles | AksHandles | GkeHandles], str, tuple[str, ...]]]] = {
    Target.EKS: (EksHandles, "eks", ("cluster_name", "region")),
    Target.AKS: (AksHandles, "aks", ("cluster_name", "resource_group_name")),
    Target.GKE: (GkeHandles, "gke", ("cluster_name", "project", "location")),
}


def _handle_fields(handles: Handles) -> tuple[str | None, tuple[str, ...]]:
    """The exported ``kind`` of a cluster's cloud handles and the fields it carries; none for edge and adopted."""
    for cls, kind, fields in _HANDLES.values():
        if isinstance(handles, cls):
            return kind, fields
    return None, ()


class ContractError(pulumi.RunError):
    """The referenced stack does not export a usable cluster contract.

    A ``RunError``: ``pulumi up`` ends with this message alone, not a traceback out of an ``apply``."""


def parse_outputs(raw: Any, stack: str, cluster: str) -> ClusterOutputs:
    """Validate one exported entry; errors name the stack, the cluster and what is wrong."""
    where = f"stack {stack}, cluster {cluster}"
    if not isinstance(raw, Mapping):
        raise ContractError(f"{where}: no cluster contract exported (export '{EXPORT_KEY}.{cluster}' is missing)")
    version = raw.get("schema_version")
    if isinstance(version, float) and version.is_integer():
        version = int(version)  # numbers cross the engine as floats
    if version not in READABLE_VERSIONS:
        raise ContractError(
            f"{where}: cluster contract schema_version {version!r} is not supported by this consumer "
            f"(reads {', '.join(map(str, READABLE_VERSIONS))}); upgrade strata on the side that is behind"
        )
    try:
        return ClusterOutputs.model_validate(raw)
    except ValidationError as exc:
        fields = "; ".join(f"{e.path}: {e.message}" for e in from_validation(exc, "", model=ClusterOutputs))
        raise ContractError(f"{where}: invalid cluster contract: {fields}") from None


@dataclass(frozen=True)
class ClusterReference:
    """A platform cluster seen from another team's stack."""

    outputs: pulumi.Output[ClusterOutputs]
    provider: k8s.Provider

    stack: str
    cluster: str

    @property
    def kubeconfig(self) -> pulumi.Output[str]:
        return pulumi.Output.secret(self.outputs.apply(lambda o: o.kubeconfig))

    def handles(self, target: Target) -> Handles:
        """The cluster's cloud handles from the contract, typed for ``target`` (what the consumer's plan expects).

        Only the fields are outputs; asking is what needs them: a version 1 contract (a platform stack last
        deployed with an older strata), an edge or adopted cluster, or a cluster of another cloud than ``target``
        stops the run with one message naming the stack, the cluster and the fix. Not secret, unlike the entry
        they travel in: a cloud name in a role assignment's scope must show in a preview.
        """
        if target not in _HANDLES:
            return None
        cls, kind, fields = _HANDLES[target]

        def pick(o: ClusterOutputs) -> BaseModel:
            where = f"stack {self.stack}, cluster {self.cluster}"
            if o.target is not target:
                raise ContractError(f"{where}: the cluster is {o.target.value}, not {target.value} as planned here")
            if o.handles is None or o.handles.kind != kind:
                raise ContractError(
                    f"{where}: the cluster contract (schema_version {o.schema_version}) carries no {target.value} "
                    "cloud handles; run `pulumi up` on the platform stack with this strata version to export "
                    "them, or set them in this stack's config (clusterHandles)"
                )
            return o.handles

        picked = self.outputs.apply(pick)

        def field(name: str) -> pulumi.Output[str]:
            return pulumi.Output.unsecret(picked.apply(lambda h: str(getattr(h, name))))

        return cls(**{f: field(f) for f in fields})


def cluster_from_reference(
    stack: str | pulumi.StackReference,
    cluster: str,
    name: str | None = None,
    opts: pulumi.ResourceOptions | None = None,
) -> ClusterReference:
    """Read ``clusters.<cluster>`` from a platform stack, validate it, and build a provider for it."""
    ref = stack if isinstance(stack, pulumi.StackReference) else pulumi.StackReference(stack)
    stack_name = stack if isinstance(stack, str) else getattr(stack, "_name", "<stack reference>")
    name = name or cluster
    outputs = ref.get_output(EXPORT_KEY).apply(
        lambda all_clusters: parse_outputs((all_clusters or {}).get(cluster), stack_name, cluster)
    )
    kubeconfig: pulumi.Output[str] = pulumi.Output.secret(outputs.apply(lambda o: o.kubeconfig))
    provider = k8s.Provider(
        f"{name}-k8s",
        kubeconfig=kubeconfig,
        # The identity of a cluster is not a secret, even though it travels inside a secret export.
        cluster_identifier=pulumi.Output.unsecret(outputs.apply(lambda o: cluster_identifier(o.target, o.name))),
        enable_server_side_apply=True,
        opts=opts,
    )
    return ClusterReference(outputs, provider, stack_name, cluster)
