"""Switching a deployed cluster's delivery (``pulumi`` <-> ``flux``) without uninstalling a single release.

Changing ``delivery`` in one update would drop one realisation while the other installs the same charts:

- pulumi -> flux: Pulumi deletes every object of its charts (CRDs included, and with them every custom
  resource) while helm-controller installs the releases again -- an outage at best, data loss for stateful
  packs;
- flux -> pulumi: Pulumi deletes the ``HelmRelease`` objects and helm-controller uninstalls each release.

So a switch takes two updates, and the second is refused until the first has been deployed:

1. ``next_delivery: <new>`` (cluster field, or ``strata:next_delivery``) with ``delivery`` unchanged. Pulumi's
   charts are marked ``retain_on_delete`` (Pulumi reads the flag from the state of the resource it deletes,
   so it has to be in the state before the update that drops the charts), or Flux's ``HelmRelease`` objects
   are suspended (helm-controller skips the uninstall of a suspended release when its object is deleted).
2. ``delivery: <new>``. The new realisation takes the running releases over under the same release names,
   namespaces and storage namespaces. ``helm.v4.Chart`` keeps no Helm release record, so helm-controller
   installs each release and, ``install.disableTakeOwnership`` being false, takes the running objects over;
   going to Pulumi, the cluster's provider upserts the objects helm-controller applied and forces their field
   ownership for that one update (``upsertExistingObjects``, ``enablePatchForce``: since pulumi-kubernetes 4.29
   a create of an existing object otherwise fails with AlreadyExists). The old realisation is then dropped
   without uninstalling anything (helm-controller skips the uninstall of a suspended release it sees deleted).

"Deployed" is what the stack exported after its last update, under :data:`EXPORT_KEY`: each cluster's
delivery and the delivery it was prepared for. The program reads it through its own stack reference before
registering anything, and ``strata plan --deployed`` from ``pulumi stack output --json``; both call
:func:`switch_errors`. A cluster the stack has not deployed (or deployed before this export existed) has
nothing to switch from.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from components.delivery.plan import DeliveryMode
from packs.errors import PlanError, PlanErrors
from stacks.environment import Environment
from stacks.plan import ClusterPlan

#: The stack output holding ``{cluster: {"mode": ..., "next": ...}}``.
EXPORT_KEY = "delivery"


@dataclass(frozen=True)
class DeployedDelivery:
    """A cluster's delivery as its stack last deployed it."""

    mode: DeliveryMode
    #: The delivery it was prepared to switch to (its releases retained or suspended), if any.
    next: DeliveryMode | None = None


def export_value(plans: Sequence[ClusterPlan]) -> dict[str, dict[str, str | None]]:
    """The value of the :data:`EXPORT_KEY` output for the clusters a stack deploys."""
    return {
        cp.entry.spec.name: {
            "mode": cp.delivery.mode.value,
            "next": cp.delivery.next.value if cp.delivery.next else None,
        }
        for cp in plans
    }


def parse_delivery(raw: Any, source: str) -> dict[str, DeployedDelivery]:
    """Each cluster's deployed delivery, from a stack's outputs (or the export itself); ``{}`` when the stack
    has none (never deployed, or deployed before the export existed). Raises :class:`PlanErrors` naming
    ``source`` when the export is not one."""
    value = raw.get(EXPORT_KEY) if isinstance(raw, Mapping) else None
    if value is None:
        return {}
    problem = PlanError(
        source,
        EXPORT_KEY,
        f"not a strata stack's outputs: expected {EXPORT_KEY!r} to map each cluster to its delivery "
        '({"mode": "pulumi"|"flux", "next": null|"pulumi"|"flux"})',
    )
    if not isinstance(value, Mapping):
        raise PlanErrors([problem])
    out: dict[str, DeployedDelivery] = {}
    modes = {m.value: m for m in DeliveryMode}
    for cluster, entry in value.items():
        if not isinstance(entry, Mapping) or entry.get("mode") not in modes or entry.get("next") not in (*modes, None):
            raise PlanErrors([problem])
        upcoming = entry.get("next")
        out[str(cluster)] = DeployedDelivery(modes[entry["mode"]], modes[upcoming] if upcoming else None)
    return out


def read_deployed_delivery(files: Sequence[Path], env: str = "<env>") -> dict[str, DeployedDelivery]:
    """The deployed delivery of every cluster of the stacks whose outputs were saved to ``files``."""
    from stacks.retention import read_each

    return read_each(files, env, parse_delivery)


def _deployed(cp: ClusterPlan, deployed: Mapping[str, DeployedDelivery]) -> DeployedDelivery | None:
    """What the stack deployed for this cluster, under its name or a former one."""
    spec = cp.entry.spec
    return next((deployed[n] for n in (spec.name, *spec.renamed_from) if n in deployed), None)


def _where(environment: Environment, cp: ClusterPlan) -> tuple[str, str]:
    """The setting that chose the cluster's delivery: its own field, else the environment's."""
    if cp.entry.spec.delivery is not None:
        return cp.entry.file, f"{cp.entry.field}.delivery"
    return environment.file, 'config."strata:delivery"'


_EFFECT = {
    DeliveryMode.FLUX: "Pulumi would delete every object of the charts it installed (CRDs, and with them every "
    "custom resource, included) while Flux installs them again",
    DeliveryMode.PULUMI: "Pulumi would delete every HelmRelease, and Flux would uninstall each release while "
    "Pulumi installs it again",
}
_PREPARES = {
    DeliveryMode.FLUX: "leaves every chart's objects in the cluster when Pulumi lets go of them",
    DeliveryMode.PULUMI: "suspends every HelmRelease, so Flux neither reconciles nor uninstalls it",
}
_TAKES_OVER = {
    DeliveryMode.FLUX: "Flux adopts the running releases",
    DeliveryMode.PULUMI: "Pulumi takes over the running objects",
}


def switch_errors(
    environment: Environment, plans: Sequence[ClusterPlan], deployed: Mapping[str, DeployedDelivery]
) -> list[PlanError]:
    """One error per cluster whose delivery changes in an update that was not prepared by the one before."""
    errors: list[PlanError] = []
    for cp in plans:
        was = _deployed(cp, deployed)
        mode = cp.delivery.mode
        if was is None or was.mode is mode or was.next is mode:
            continue
        name = cp.entry.spec.name
        file, path = _where(environment, cp)
        errors.append(
            PlanError(
                file,
                path,
                f"cluster {name} is deployed with delivery {was.mode.value}; switching it to {mode.value} in one "
                f"update is refused: {_EFFECT[mode]}. Switch in two updates: first keep delivery: {was.mode.value}, "
                f"set next_delivery: {mode.value} on cluster {name} (or strata:next_delivery: {mode.value}) and run "
                f"pulumi up, which {_PREPARES[mode]}; then set delivery: {mode.value} and run pulumi up again: "
                f"{_TAKES_OVER[mode]} under the same release names and namespaces",
                name,
            )
        )
    return errors


_LEFT_BEHIND = {
    DeliveryMode.FLUX: "Pulumi marked every chart it installed there retain_on_delete, so dropping them deletes "
    "nothing: if the cluster outlives this update, every pack's objects (namespaces, workloads, CRDs and their "
    "custom resources) stay in it, managed by nothing. To have them deleted instead, put the cluster back without "
    "next_delivery, run pulumi up (the charts are no longer retained), then remove it; or delete them yourself "
    "with kubectl: each pack's namespace and its cluster-scoped objects",
    DeliveryMode.PULUMI: "its HelmReleases are suspended, so deleting them uninstalls nothing: if the cluster "
    "outlives this update, every Helm release stays installed, with no Flux left to reconcile it. To have them "
    "uninstalled instead, put the cluster back without next_delivery, run pulumi up (the releases are resumed), "
    "then remove it; or uninstall them yourself: helm list -A, then helm uninstall <release> -n <namespace>",
}


def left_behind(
    environment: Environment, plans: Sequence[ClusterPlan], deployed: Mapping[str, DeployedDelivery]
) -> list[PlanError]:
    """A notice per cluster the stack no longer deploys while it was prepared to switch its delivery.

    Preparing a switch makes dropping a chart or a release leave it running (that is its purpose), so removing
    the cluster in that state leaves every release in it. That is not refused -- the cluster may well be
    deleted with it, and then nothing is left -- but it must not happen unnoticed: the plan and the program
    report it, with what stays and how to clean up.
    """
    current = {name for cp in plans for name in (cp.entry.spec.name, *cp.entry.spec.renamed_from)}
    notices: list[PlanError] = []
    for cluster, was in deployed.items():
        if cluster in current or was.next is None or was.next is was.mode:
            continue
        notices.append(
            PlanError(
                environment.file,
                'config."strata:clusters"',
                f"cluster {cluster} is no longer deployed by this stack, and it was prepared to switch its delivery "
                f"from {was.mode.value} to {was.next.value} (next_delivery: {was.next.value}): "
                f"{_LEFT_BEHIND[was.next]}. Nothing is left behind when this update deletes the cluster itself",
                cluster,
            )
        )
    return notices


def with_previous(plans: Sequence[ClusterPlan], deployed: Mapping[str, DeployedDelivery]) -> list[ClusterPlan]:
    """The plans with ``delivery.previous`` set where this update completes a prepared switch."""
    out: list[ClusterPlan] = []
    for cp in plans:
        was = _deployed(cp, deployed)
        if was is not None and was.mode is not cp.delivery.mode and was.next is cp.delivery.mode:
            cp = replace(cp, delivery=replace(cp.delivery, previous=was.mode))
        out.append(cp)
    return out


__all__ = [
    "EXPORT_KEY",
    "DeployedDelivery",
    "export_value",
    "left_behind",
    "parse_delivery",
    "read_deployed_delivery",
    "switch_errors",
    "with_previous",
]
