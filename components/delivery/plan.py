"""A cluster's delivery as planned: the mode, the chart mirror, and the controllers ``delivery: flux`` installs.

Pure (no Pulumi): ``strata plan`` resolves it and shows it, and the program realises exactly this object, so
the two cannot disagree. The resolved plan of the cluster's profiles is the same in both modes; only its
realisation differs.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from packs.errors import PlanError
from packs.resolve import ClusterRequest, ResolvedPlan, Resolver

#: The profile of Flux controllers a ``delivery: flux`` cluster gets before any of its packs.
FLUX_PROFILE = "flux-delivery@1.0.0"
#: ``oci://host[:port]/path``: where an air-gapped site's registry keeps every chart (``<mirror>/<chart>:<version>``).
MIRROR_PATTERN = r"^oci://[A-Za-z0-9.-]+(:[0-9]+)?(/[A-Za-z0-9._/-]+)?$"


class DeliveryMode(enum.StrEnum):
    PULUMI = "pulumi"  # Pulumi applies every pack (today's behaviour)
    FLUX = "flux"  # Pulumi installs Flux and hands every Helm pack to it as a source and a HelmRelease


@dataclass(frozen=True)
class DeliveryPlan:
    mode: DeliveryMode = DeliveryMode.PULUMI
    mirror: str | None = None
    #: The Flux controllers (the flux-delivery profile resolved for this cluster); None for ``pulumi``.
    controllers: ResolvedPlan | None = None
    #: The delivery the cluster is being prepared to switch to (``next_delivery``), None when it stays. The
    #: current realisation is then deployed so the next one can take its releases over without uninstalling
    #: them: Pulumi's charts are left in the cluster when dropped, Flux's HelmReleases are suspended.
    next: DeliveryMode | None = None
    #: The delivery this very update switches away from (read from what the stack deployed last): the new
    #: realisation takes over the running releases instead of installing them.
    previous: DeliveryMode | None = None

    @property
    def handing_over(self) -> bool:
        """This update prepares a switch: what it deploys must let go of its releases without uninstalling them."""
        return self.next is not None

    def controllers_after(self, plan: ResolvedPlan) -> tuple[str, ...]:
        """The packs of ``plan`` the controllers must follow: those providing what the controllers require
        (the CNI). Cluster settings create nothing to wait for, as everywhere in a plan."""
        if self.controllers is None:
            return ()
        needs = {c for p in self.controllers.packs for c in p.requires}
        return tuple(p.name for p in plan.packs if not p.cluster_setting and needs & set(p.provides))

    def as_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode.value,
            "mirror": self.mirror,
            "controllers": [p.ref for p in self.controllers.packs] if self.controllers else [],
            "next": self.next.value if self.next else None,
        }


DIRECT = DeliveryPlan()


def plan_delivery(
    mode: DeliveryMode,
    mirror: str | None,
    plan: ResolvedPlan,
    request: ClusterRequest,
    resolver: Resolver,
    where: tuple[str, str],
    next_mode: DeliveryMode | None = None,
) -> tuple[DeliveryPlan, list[PlanError]]:
    """Resolve what ``mode`` needs on top of ``plan``; ``where`` is (file, field) of the setting, for errors.
    ``next_mode`` is the delivery the cluster is being prepared to switch to (none when it is ``mode``).

    The controllers are resolved like any profile, against the cluster's facts plus every capability its
    own plan provides (Flux needs the CNI), so a Kubernetes version Flux does not support, or a target it
    cannot run on, is a plan error naming the delivery setting.
    """
    upcoming = next_mode if next_mode is not mode else None
    if mode is DeliveryMode.PULUMI:
        return DeliveryPlan(mode, mirror, next=upcoming), []
    name = request.facts.name
    errors: list[PlanError] = []
    clash = [p for p in plan.packs if p.name in ("flux2",)]
    for pack in clash:
        errors.append(
            PlanError(
                where[0],
                where[1],
                f"delivery flux installs the Flux controllers itself, but profile {pack.profile} also lists "
                f"{pack.ref}; remove it from the profile or use delivery: pulumi",
                name,
            )
        )
    provided: Iterable[str] = (c for p in plan.packs for c in p.provides)
    facts = request.facts.model_copy(update={"capabilities": tuple(sorted({*request.facts.capabilities, *provided}))})
    controllers, problems = resolver.try_resolve(ClusterRequest(facts=facts, profiles=(FLUX_PROFILE,)))
    for problem in problems:
        errors.append(
            PlanError(where[0], where[1], f"delivery flux: {problem.file}: {problem.path}: {problem.message}", name)
        )
    if errors or controllers is None:
        return DeliveryPlan(mode, mirror, next=upcoming), errors
    return DeliveryPlan(mode, mirror, controllers, next=upcoming), []
