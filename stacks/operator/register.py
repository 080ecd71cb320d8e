"""The management environment's side of ``strata:reconcile``: register the operator objects of every fleet
it reconciles, through the management cluster's own provider, after the operator pack (its CRDs).

Called by the Pulumi program (stacks/program.py) for each cluster it builds; it imports Pulumi, so the
offline plan never loads it. The objects are exactly :func:`stacks.operator.objects.operator_objects`: what
``strata operator render`` writes and what the fleet's operator engine advances.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from packs.catalogue import Catalogue
from packs.errors import PlanErrors, load_yaml
from stacks.environment import Environment, available, display_path, load_environment, strata_config
from stacks.operator.objects import operator_objects
from stacks.plan import ClusterPlan, check_environment, file_config


@dataclass(frozen=True)
class Fleet:
    """An environment reconciled by one of the management environment's clusters."""

    cluster: str
    environment: Environment
    plans: Sequence[ClusterPlan]


def _points_at(raw: dict[str, Any], management: str) -> str | None:
    reconcile = raw.get("reconcile")
    if not isinstance(reconcile, dict) or not isinstance(reconcile.get("management"), dict):
        return None
    cluster = reconcile["management"].get("cluster")
    if isinstance(cluster, str) and cluster.startswith(f"{management}/"):
        return cluster.split("/", 1)[1]
    return None


def reconciled_fleets(management: Environment, config_dir: Path, catalogue: Catalogue) -> list[Fleet]:
    """Every environment of ``config_dir`` whose ``strata:reconcile`` names a cluster of ``management``,
    planned with the same check as ``strata plan`` (its errors stop this program: nothing half-registered).
    An unrelated environment that does not load is not this program's business and is skipped."""
    fleets = []
    for name in available(config_dir):
        if name == management.name:
            continue
        path = config_dir / f"Pulumi.{name}.yaml"
        try:
            raw = strata_config(load_yaml(path, display_path(path)), display_path(path))
        except PlanErrors:
            continue
        cluster = _points_at(raw, management.name)
        if cluster is None:
            continue
        environment = load_environment(name, config_dir)
        verdict = check_environment(environment, environment.clusters, catalogue, file_config(path))
        if verdict.errors:
            raise PlanErrors(verdict.errors)
        fleets.append(Fleet(cluster, environment, verdict.plans))
    return fleets


_TYPED = {
    "Namespace": k8s.core.v1.Namespace,
    "ServiceAccount": k8s.core.v1.ServiceAccount,
    "ClusterRoleBinding": k8s.rbac.v1.ClusterRoleBinding,
}


def register(fleet: Fleet, provider: k8s.Provider, after: pulumi.Resource) -> list[pulumi.Resource]:
    """Register one fleet's objects; names derive from the cluster, environment and object, so they are
    stable across updates and two fleets never collide. The Stacks wait for their namespace and
    ServiceAccount; everything waits for ``after`` (the operator pack: its CRDs)."""
    created: list[pulumi.Resource] = []
    support: list[pulumi.Resource] = []
    prefix = f"{fleet.cluster}-reconcile-{fleet.environment.name}"
    for obj in operator_objects(fleet.environment, fleet.plans):
        kind, meta = obj["kind"], obj["metadata"]
        opts = pulumi.ResourceOptions(provider=provider, depends_on=[after, *support])
        body = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata")}
        if kind in _TYPED:
            args = {re.sub(r"(?<!^)([A-Z])", r"_\1", k).lower(): v for k, v in body.items()}  # roleRef -> role_ref
            resource = _TYPED[kind](f"{prefix}-{kind.lower()}-{meta['name']}", metadata=meta, opts=opts, **args)
            support.append(resource)
        else:
            resource = k8s.apiextensions.CustomResource(
                f"{prefix}-stack-{meta['name']}",
                api_version=obj["apiVersion"],
                kind=kind,
                metadata=meta,
                opts=opts,
                **body,
            )
        created.append(resource)
    return created
