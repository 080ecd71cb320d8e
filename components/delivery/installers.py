"""One installer per source kind: how Pulumi applies a pack directly.

``PackStack`` creates what every pack shares (its component, namespace, identity, secret values) and a delivery
strategy (components/delivery/strategy.py) decides who realises each pack: Pulumi, through the installer of the
pack's source kind, or an in-cluster engine (Flux). The installers never see the strategy, and the resolver
never sees either: a pack's ``source`` is data, and :data:`REGISTRY` maps its kind to the code that applies it.

Cloud installers (EKS add-ons, AKS extensions) live in their cloud's module beside the cluster component, and
are imported only when a pack of theirs is installed, so an edge-only stack never imports a cloud SDK. Each
declares the typed cluster handles it needs (components/clusters/contract.py); a pack whose installer cannot
work on the cluster is a problem found before the first resource is registered.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pulumi
import pulumi_kubernetes as k8s

from components.clusters.contract import AksHandles, ClusterContract, EksHandles
from components.delivery.flux import chart_location
from components.identities import PackIdentity
from components.lifecycle import retained
from packs.model import ManagedService, Source
from packs.resolve import ResolvedPack

if TYPE_CHECKING:
    from components.packstack import PackRelease


@dataclass(frozen=True)
class InstallRequest:
    """One pack to apply on one cluster, with everything its installer may use."""

    name: str  # the pack resource's name, ``<cluster>-<pack>``: stable, so a URN never moves
    pack: ResolvedPack
    values: pulumi.Input[Mapping[str, Any]]
    identity: PackIdentity
    release: PackRelease  # the parent; its ``deps`` are the pack's predecessors and namespace
    cluster: ClusterContract
    tags: Mapping[str, str]
    mirror: str | None = None
    #: Leave the pack's objects in the cluster when it is removed (production data, or a switch to Flux).
    keep: bool = False

    def opts(self) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self.release, depends_on=[*self.release.deps, *self.identity.resources])

    def kubernetes_opts(self) -> pulumi.ResourceOptions:
        """Options of a Kubernetes resource: the cluster's provider, and the retention asked for."""
        opts = pulumi.ResourceOptions.merge(self.opts(), pulumi.ResourceOptions(provider=self.cluster.provider))
        return retained(opts) if self.keep else opts


class Installer(Protocol):
    """Applies the packs of one source kind."""

    def install(self, request: InstallRequest) -> None: ...


class HelmInstaller:
    """A Helm chart as ``helm.v4.Chart``: each object is a Pulumi resource, templated at deploy time."""

    def install(self, request: InstallRequest) -> None:
        pack = request.pack
        assert pack.source.kind == "helm"
        # OCI charts are addressed by reference; HTTP repositories by chart name plus repository. A mirror
        # (air-gapped sites) rewrites every chart to <mirror>/<chart>; the pack's data is untouched.
        location = chart_location(pack.source, request.mirror)
        k8s.helm.v4.Chart(
            request.name,
            chart=location.reference,
            repository_opts=None if location.oci else k8s.helm.v4.RepositoryOptsArgs(repo=location.repository),
            version=location.version,
            # The release name templates the objects' names: a renamed pack keeps its first one.
            name=pack.first_name,
            namespace=pack.namespace,
            values=request.values,
            opts=request.kubernetes_opts(),
        )


class ManifestsInstaller:
    """A pack's manifest files as one ``yaml.v2.ConfigGroup``."""

    def install(self, request: InstallRequest) -> None:
        pack = request.pack
        assert pack.source.kind == "manifests"
        k8s.yaml.v2.ConfigGroup(
            request.name,
            files=[str(Path(pack.folder) / f) for f in pack.source.files],
            opts=request.kubernetes_opts(),
        )


@dataclass(frozen=True)
class Registered:
    """Where an installer lives (``module:Class``, imported on first use) and the cluster handles it needs."""

    path: str
    handles: type | None = None


#: Source kind -> installer. Managed services are keyed by their service; the cluster's own settings
#: (``managed``/``cluster``) are realised by the cluster component and have no installer.
REGISTRY: Mapping[str, Registered] = {
    "helm": Registered("components.delivery.installers:HelmInstaller"),
    "manifests": Registered("components.delivery.installers:ManifestsInstaller"),
    ManagedService.EKS_ADDON.value: Registered("components.clusters.eks:EksAddonInstaller", EksHandles),
    ManagedService.AKS_EXTENSION.value: Registered("components.clusters.aks:AksExtensionInstaller", AksHandles),
}


def source_key(source: Source) -> str:
    return source.service.value if source.kind == "managed" else source.kind


def installer_problem(cluster: ClusterContract, pack: ResolvedPack) -> str | None:
    """Why ``pack`` cannot be applied on ``cluster`` (no installer, or not the handles it needs), if it cannot."""
    key = source_key(pack.source)
    entry = REGISTRY.get(key)
    if entry is None:
        return f"no installer applies {key} packs"
    if entry.handles is not None and not isinstance(cluster.handles, entry.handles):
        return f"is a {key} but the cluster is {cluster.target.value}"
    return None


_loaded: dict[str, Installer] = {}


def installer_for(source: Source) -> Installer:
    """The installer of ``source``'s kind, importing its module (a cloud's, for a cloud service) on first use."""
    entry = REGISTRY[source_key(source)]
    if entry.path not in _loaded:
        module, _, name = entry.path.partition(":")
        _loaded[entry.path] = getattr(importlib.import_module(module), name)()
    return _loaded[entry.path]


__all__ = [
    "REGISTRY",
    "HelmInstaller",
    "InstallRequest",
    "Installer",
    "ManifestsInstaller",
    "installer_for",
    "installer_problem",
    "source_key",
]
