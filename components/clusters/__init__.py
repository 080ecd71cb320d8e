"""Cluster components behind one contract.

Importing this package loads neither Pulumi nor any cloud SDK, so the offline plan (which needs only
``components.clusters.spec``) starts fast and works without a Pulumi engine:

- :func:`build_cluster` imports the target's module only when a cluster of that target is built, so an
  edge-only program never loads pulumi_aws, pulumi_azure_native or pulumi_gcp, and a missing SDK is
  reported with the extra that installs it;
- the contract types (:class:`ClusterContract`, :class:`ClusterComponent`, :class:`WorkloadIdentity`) live
  in ``components.clusters.contract``, which imports Pulumi; they are resolved from there on first use
  (PEP 562 module ``__getattr__``).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from packs.model import Target

if TYPE_CHECKING:
    import pulumi

    from components.clusters.contract import ClusterComponent, ClusterContract, WorkloadIdentity
    from components.clusters.spec import ClusterSpec

#: target -> (module, class, pip extra, the SDK module whose absence the extra fixes)
_COMPONENTS: dict[Target, tuple[str, str, str, str]] = {
    Target.EKS: ("components.clusters.eks", "EksCluster", "aws", "pulumi_aws"),
    Target.AKS: ("components.clusters.aks", "AksCluster", "azure", "pulumi_azure_native"),
    Target.GKE: ("components.clusters.gke", "GkeCluster", "gcp", "pulumi_gcp"),
    Target.EDGE: ("components.clusters.edge", "EdgeCluster", "edge", "pulumi_command"),
    Target.EXISTING: ("components.clusters.existing", "ExistingCluster", "", ""),
}

#: names re-exported from ``components.clusters.contract`` on first access, not at import time
_LAZY = frozenset({"ClusterComponent", "ClusterContract", "WorkloadIdentity"})


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from components.clusters import contract

        return getattr(contract, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class MissingExtraError(ImportError):
    """A cloud SDK is not installed; the message names the extra to install."""


class ClusterFactory(Protocol):
    """The constructor every cluster component shares.

    Each component narrows ``spec`` to its own target's spec class; the target -> component table above is what
    pairs them, so a spec always reaches the component of its own ``target``.
    """

    def __call__(
        self,
        name: str,
        spec: ClusterSpec,
        settings: Mapping[str, Mapping[str, Any]] | None = ...,
        protect: bool = ...,
        tags: Mapping[str, str] | None = ...,
        opts: pulumi.ResourceOptions | None = ...,
        adopt_existing: bool = ...,
    ) -> ClusterComponent: ...


def component_class(target: Target) -> ClusterFactory:
    module_name, class_name, extra, sdk = _COMPONENTS[target]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if sdk and exc.name and exc.name.split(".")[0] == sdk:
            raise MissingExtraError(f"{target.value} clusters need {sdk}: pip install 'strata[{extra}]'") from exc
        raise
    component: ClusterFactory = getattr(module, class_name)
    return component


def build_cluster(
    spec: ClusterSpec,
    settings: Mapping[str, Mapping[str, Any]] | None = None,
    protect: bool = False,
    tags: Mapping[str, str] | None = None,
    opts: pulumi.ResourceOptions | None = None,
    adopt_existing: bool = False,
) -> ClusterComponent:
    """Build the component for ``spec.target``; ``settings`` come from the profile's cluster packs.

    ``adopt_existing``: this update takes running objects over (see :func:`contract.make_provider`)."""
    cls = component_class(spec.target)
    return cls(
        spec.name,
        spec,
        settings=settings or {},
        protect=protect,
        tags=tags or {},
        opts=opts,
        adopt_existing=adopt_existing,
    )


__all__ = [
    "ClusterComponent",
    "ClusterContract",
    "MissingExtraError",
    "WorkloadIdentity",
    "build_cluster",
    "component_class",
]
