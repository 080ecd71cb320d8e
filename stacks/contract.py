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
from typing import Any, Final, Literal

import pulumi
import pulumi_kubernetes as k8s
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from components.clusters.contract import ClusterContract, cluster_identifier
from components.packstack import PackStack
from packs.errors import from_validation
from packs.model import Target

SCHEMA_VERSION: Final = 1
EXPORT_KEY = "clusters"


class PackRecord(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    version: str = Field(description="Pack version installed.")
    layer: str = Field(description="Layer of the pack.")
    namespace: str | None = Field(description="Namespace the pack runs in.")
    profile: str = Field(description="Profile (name@version) that brought the pack.")


class ClusterOutputs(BaseModel):
    """What one cluster stack promises to its consumers, version ``SCHEMA_VERSION``."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    schema_version: Literal[1] = Field(description="Contract version; bumped on any incompatible change.")
    name: str = Field(description="Cluster name.")
    target: Target = Field(description="eks, aks, gke, edge or existing.")
    kubernetes_version: str = Field(description="Kubernetes version of the control plane.")
    endpoint: str = Field(description="API server URL.")
    kubeconfig: str = Field(description="Kubeconfig (exported as a Pulumi secret).")
    oidc_issuer: str | None = Field(description="OIDC issuer URL, where the cloud has one.")
    profiles: list[str] = Field(description="Profiles applied, name@version.")
    packs: dict[str, PackRecord] = Field(description="Installed packs by name.")


def export_outputs(contract: ClusterContract, packs: PackStack) -> pulumi.Output[dict[str, Any]]:
    """The contract as one output; the kubeconfig stays secret (so the whole entry is secret).

    The cluster components already fall back or stop with a clear message when the cloud leaves an output out;
    should one still be empty here, the run ends naming the cluster and the field, never with a raw pydantic
    traceback out of an ``apply``.
    """

    def build(v: list[Any]) -> dict[str, Any]:
        try:
            outputs = ClusterOutputs(
                schema_version=SCHEMA_VERSION,
                name=contract.name,
                target=contract.target,
                kubernetes_version=v[0],
                endpoint=v[1],
                kubeconfig=v[2],
                oidc_issuer=v[3],
                profiles=list(packs.profiles),
                packs={k: PackRecord.model_validate(r) for k, r in packs.packs.items()},
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
    ).apply(build)


class ContractError(Exception):
    """The referenced stack does not export a usable cluster contract."""


def parse_outputs(raw: Any, stack: str, cluster: str) -> ClusterOutputs:
    """Validate one exported entry; errors name the stack, the cluster and what is wrong."""
    where = f"stack {stack}, cluster {cluster}"
    if not isinstance(raw, Mapping):
        raise ContractError(f"{where}: no cluster contract exported (export '{EXPORT_KEY}.{cluster}' is missing)")
    version = raw.get("schema_version")
    if isinstance(version, float) and version.is_integer():
        version = int(version)  # numbers cross the engine as floats
    if version != SCHEMA_VERSION:
        raise ContractError(
            f"{where}: cluster contract schema_version {version!r} is not supported by this consumer "
            f"(expects {SCHEMA_VERSION}); upgrade strata on the side that is behind"
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

    @property
    def kubeconfig(self) -> pulumi.Output[str]:
        return pulumi.Output.secret(self.outputs.apply(lambda o: o.kubeconfig))


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
    return ClusterReference(outputs, provider)
