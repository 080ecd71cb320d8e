"""Delivery strategies: how ``PackStack`` realises each pack of a plan.

``PackStack`` walks the plan in order and, for every pack, creates what all deliveries share (the pack's
component, namespace, cloud identity, secret values) and then hands the pack to its strategy:

- :class:`Direct` (``delivery: pulumi``): every pack through the installer of its source kind -- a Helm chart
  (``helm.v4.Chart``), a manifest set (``yaml.v2.ConfigGroup``), an EKS add-on, an AKS extension -- chosen from
  the registry in :mod:`components.delivery.installers` (cloud installers live in their cloud's module);
- :class:`Flux` (``delivery: flux``): the Flux controllers first (installed directly, with the packs they need
  to run, such as a CNI chart), then each Helm pack as the Flux objects :func:`flux_bundle` builds -- the same
  objects ``strata render`` writes -- registered as ``CustomResource``s through the cluster's provider, its
  deploy-time values in a ``Secret`` with secret data. Every other source kind goes to its direct installer.

Another GitOps engine (an Argo CD ``Application`` per Helm pack, say) is one more class satisfying the
:class:`Delivery` protocol (``install``, ``finish``, ``mirror``, ``handover``), handing what it does not deliver to
``stack._install``: the resolver, the plan, the installers and ``PackStack`` stay as they are.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import pulumi
import pulumi_kubernetes as k8s

from components.delivery.flux import (
    FLUX_NAMESPACE,
    VALUES_KEY,
    PackObjects,
    delivery_bundle,
    split_values,
)
from components.delivery.plan import DeliveryMode, DeliveryPlan
from components.delivery.render import dump
from components.identities import PackIdentity
from packs.model import DriftAction, Layer
from packs.resolve import ResolvedPack

if TYPE_CHECKING:
    from components.packstack import PackRelease, PackStack

#: Pulumi waits for each HelmRelease to be Ready (installed, tests passed) before the packs after it, as it
#: waits for a chart's objects under ``delivery: pulumi``; a release that never gets there fails the update.
AWAIT_ANNOTATIONS = {"pulumi.com/waitFor": "condition=Ready", "pulumi.com/timeoutSeconds": "1800"}
#: A suspended release is not reconciled, so its Ready condition never catches up with its new generation:
#: waiting for it would time out. Suspending is the whole change; nothing is installed.
SUSPENDED_ANNOTATIONS = {"pulumi.com/skipAwait": "true"}


@dataclass(frozen=True)
class Handover:
    """What a switch of delivery asks of the packs a strategy applies directly (see README, Delivery).

    - ``keep_charts`` (``next_delivery: flux`` deployed on a ``pulumi`` cluster): every chart, and each object
      it registers, is retained on delete. Pulumi reads that flag from the state of the resource it deletes, so
      it must be deployed one update before the switch, which then drops the charts without touching the
      cluster while Flux adopts the running releases (same release names and namespaces).
    - ``take_over`` (the update switching a cluster from ``flux`` to ``pulumi``): the charts' objects exist,
      applied by helm-controller. Pulumi's create of an existing object fails with AlreadyExists (pulumi-kubernetes
      4.29 and later), so for this one update the cluster's provider upserts existing objects and forces field
      ownership (``upsertExistingObjects``, ``enablePatchForce``); no object's inputs change for it.
    """

    keep_charts: bool = False
    take_over: bool = False


class Delivery(Protocol):
    """What ``PackStack`` asks of a delivery strategy."""

    mirror: str | None
    handover: Handover

    def install(
        self,
        stack: PackStack,
        name: str,
        pack: ResolvedPack,
        values: pulumi.Input[Mapping[str, Any]],
        identity: PackIdentity,
        release: PackRelease,
    ) -> None:
        """Realise ``pack`` under ``release`` (whose ``deps`` are the pack's predecessors and namespace)."""
        ...

    def finish(self, stack: PackStack, name: str) -> None:
        """After the last pack: install what the delivery itself needs even when no pack asked for it."""
        ...


class Direct:
    """Pulumi applies every pack itself (``delivery: pulumi``)."""

    def __init__(self, mirror: str | None = None, handover: Handover | None = None) -> None:
        self.mirror = mirror
        self.handover = handover or Handover()

    def install(
        self,
        stack: PackStack,
        name: str,
        pack: ResolvedPack,
        values: pulumi.Input[Mapping[str, Any]],
        identity: PackIdentity,
        release: PackRelease,
    ) -> None:
        stack._install(name, pack, values, identity, release)

    def finish(self, stack: PackStack, name: str) -> None:
        return None


class Flux:
    """Pulumi installs Flux, then registers each Helm pack's Flux objects; Flux reconciles them in the cluster."""

    def __init__(self, delivery: DeliveryPlan, drift: Mapping[Layer, DriftAction]) -> None:
        if delivery.mode is not DeliveryMode.FLUX or delivery.controllers is None:
            raise ValueError("a Flux delivery needs a flux delivery plan with its controllers")
        self.delivery = delivery
        self.drift = drift
        self.mirror = delivery.mirror
        # What Flux does not deliver (cloud add-ons, manifests, the packs Flux needs) stays with Pulumi in both
        # deliveries, under the same names: a switch leaves it alone.
        self.handover = Handover()
        self.direct = Direct(delivery.mirror)
        self._bundle: dict[str, PackObjects] | None = None
        self._controllers: list[pulumi.Resource] | None = None

    def _objects(self, stack: PackStack) -> dict[str, PackObjects]:
        if self._bundle is None:
            bundle = delivery_bundle(stack.plan, self.drift, self.delivery)
            self._bundle = {p.pack: p for p in bundle.packs if p.kind == "helm"}
        return self._bundle

    def install(
        self,
        stack: PackStack,
        name: str,
        pack: ResolvedPack,
        values: pulumi.Input[Mapping[str, Any]],
        identity: PackIdentity,
        release: PackRelease,
    ) -> None:
        objects = self._objects(stack).get(pack.name)
        if objects is None:  # manifests, cloud add-ons, and the packs Flux itself needs to run
            self.direct.install(stack, name, pack, values, identity, release)
            return
        controllers = self._install_controllers(stack, name)
        opts = pulumi.ResourceOptions(
            parent=release,
            provider=stack.cluster.provider,
            depends_on=[*release.deps, *identity.resources, *controllers],
        )
        source, helm_release = objects.objects
        deps: list[pulumi.Resource] = [_custom(f"{name}-{pack.name}-source", source, opts)]
        if objects.secret is not None:
            secret = objects.secret
            deferred = pack.deferred
            data = pulumi.Output.from_input(values).apply(lambda v: dump(split_values(v, deferred)[1]))
            values_text: pulumi.Output[str] = pulumi.Output.secret(data)
            deps.append(
                k8s.core.v1.Secret(
                    f"{name}-{pack.name}-values",
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        name=secret.name, namespace=secret.namespace, labels=helm_release["metadata"]["labels"]
                    ),
                    string_data={VALUES_KEY: values_text},
                    opts=opts,
                )
            )
        waits = SUSPENDED_ANNOTATIONS if helm_release["spec"].get("suspend") else AWAIT_ANNOTATIONS
        metadata = {**helm_release["metadata"], "annotations": waits}
        _custom(
            f"{name}-{pack.name}-release",
            {**helm_release, "metadata": metadata},
            pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=deps)),
        )

    def finish(self, stack: PackStack, name: str) -> None:
        """A Flux cluster always runs the controllers, as its plan shows, even with no Helm pack yet: a pack
        added later (or a bundle synced from Git) then finds them, and ``strata render`` lists them."""
        self._install_controllers(stack, name)

    def _install_controllers(self, stack: PackStack, name: str) -> list[pulumi.Resource]:
        """The Flux controllers, once, directly, after the packs they need (the plan's CNI) and nothing else."""
        if self._controllers is not None:
            return self._controllers
        from components.packstack import PackRelease

        assert self.delivery.controllers is not None
        after = self.delivery.controllers_after(stack.plan)
        installed: list[pulumi.Resource] = []
        for pack in self.delivery.controllers.packs:
            deps = [stack.releases[a] for a in after] if after else list(stack.cluster.ready)
            if pack.namespace:
                deps.append(stack._namespace(name, pack, list(stack.cluster.ready)))
            release = PackRelease(f"{name}-{pack.name}", pack, deps, stack)
            stack._install(name, pack, dict(pack.values), PackIdentity(), release)
            release.finish()
            installed.append(release)
        self._controllers = installed
        return installed


def _custom(name: str, obj: Mapping[str, Any], opts: pulumi.ResourceOptions) -> k8s.apiextensions.CustomResource:
    return k8s.apiextensions.CustomResource(
        name,
        api_version=obj["apiVersion"],
        kind=obj["kind"],
        metadata=obj["metadata"],
        spec=obj["spec"],
        opts=opts,
    )


def delivery_for(delivery: DeliveryPlan, drift: Mapping[Layer, DriftAction]) -> Delivery:
    """The strategy realising a cluster's planned delivery."""
    if delivery.mode is DeliveryMode.FLUX:
        return Flux(delivery, drift)
    handover = Handover(
        keep_charts=delivery.next is DeliveryMode.FLUX, take_over=delivery.previous is DeliveryMode.FLUX
    )
    return Direct(delivery.mirror, handover)


__all__ = ["AWAIT_ANNOTATIONS", "FLUX_NAMESPACE", "Delivery", "Direct", "Flux", "Handover", "delivery_for"]
