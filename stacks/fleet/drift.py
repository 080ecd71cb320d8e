"""One drift report for the whole fleet: every changed resource mapped to its cluster, pack and layer.

Each stack's drift is two lock-free previews: ``preview_refresh`` (someone changed the live cluster or
cloud: ``live``) and ``preview`` (the code or config moved and was not applied: ``code``). Every changed
resource is located from its URN -- strata's own names make that exact: packs are
``strata:packs:PackStack$strata:packs:Pack::<cluster>-<pack>`` (their children carry that prefix), a
pack's namespace is ``<cluster>-ns-<namespace>``, everything under ``strata:clusters:<Target>Cluster`` is
the cluster itself (node pools: the ``os`` layer; the rest: ``kubernetes``). A resource that cannot be
located is reported with no layer and the ``alert`` action: drift is never hidden.

The layer's policy (packs/drift.py: heal, alert or ignore) decides what happens: ``--remediate`` heals
the ``heal`` resources; ``alert`` sets exit code 3; ``ignore`` is listed as ignored.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from packs.model import DriftAction, Layer
from stacks.fleet.model import StackResult

DRIFT_SCHEMA = "strata.drift/v1"
_NODE_POOL_HINTS = ("nodegroup", "nodepool", "agentpool", "node_pool", "launchtemplate")


@dataclass(frozen=True)
class ClusterLayout:
    """What locating needs about one cluster: its packs (name -> layer, namespace) and drift policy."""

    name: str
    packs: Mapping[str, tuple[Layer, str | None]]
    policy: Mapping[Layer, DriftAction]

    def pack_at(self, layer: Layer) -> str | None:
        return next((name for name, (lay, _) in self.packs.items() if lay is layer), None)


@dataclass(frozen=True)
class Location:
    cluster: str | None
    pack: str | None
    layer: Layer | None


def _longest_prefix(name: str, candidates: Iterable[str], seps: str) -> str | None:
    best = None
    for c in candidates:
        if (name == c or (name.startswith(c) and name[len(c)] in seps)) and (best is None or len(c) > len(best)):
            best = c
    return best


def locate(urn: str, clusters: Mapping[str, ClusterLayout]) -> Location:
    """The cluster, pack and layer a resource belongs to, from its URN."""
    parts = urn.split("::", 3)
    if len(parts) < 4:
        return Location(None, None, None)
    chain, name = parts[2].split("$"), parts[3]
    cluster_name = _longest_prefix(name, clusters, "-:")
    if cluster_name is None:
        return Location(None, None, None)
    cluster = clusters[cluster_name]
    rest = name[len(cluster_name) + 1 :]
    if chain[0] == "strata:packs:PackStack":
        if "strata:packs:Pack" in chain:
            pack = _longest_prefix(rest, cluster.packs, "-:")
            return Location(cluster_name, pack, cluster.packs[pack][0] if pack else None)
        if rest.startswith("ns-"):
            namespace = rest[3:]
            pack = next((p for p, (_, ns) in cluster.packs.items() if ns == namespace), None)
            return Location(cluster_name, pack, cluster.packs[pack][0] if pack else None)
        return Location(cluster_name, None, None)
    if chain[0].startswith("strata:clusters:"):
        leaf = chain[-1].lower().replace("/", "")
        layer = Layer.OS if any(h in leaf for h in _NODE_POOL_HINTS) else Layer.KUBERNETES
        return Location(cluster_name, cluster.pack_at(layer), layer)
    return Location(cluster_name, None, None)


@dataclass(frozen=True)
class DriftItem:
    stack: str
    cluster: str | None
    pack: str | None
    layer: Layer | None
    urn: str
    type: str
    op: str
    source: str
    action: DriftAction
    diffs: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "cluster": self.cluster,
            "pack": self.pack,
            "layer": self.layer.value if self.layer else None,
            "urn": self.urn,
            "type": self.type,
            "op": self.op,
            "source": self.source,
            "action": self.action.value,
            "properties": list(self.diffs),
        }


@dataclass(frozen=True)
class DriftReport:
    items: tuple[DriftItem, ...]
    stacks_checked: int
    stacks_unchecked: tuple[str, ...] = ()

    @property
    def alerts(self) -> tuple[DriftItem, ...]:
        return tuple(i for i in self.items if i.action is DriftAction.ALERT)

    def heal_targets(self) -> dict[str, tuple[str, ...]]:
        """Per stack, the URNs ``--remediate`` re-applies (the ``heal`` items; dependents follow)."""
        out: dict[str, list[str]] = defaultdict(list)
        for item in self.items:
            if item.action is DriftAction.HEAL and item.urn not in out[item.stack]:
                out[item.stack].append(item.urn)
        return {k: tuple(v) for k, v in out.items()}

    def by(self, key: str) -> dict[str, dict[str, Any]]:
        groups: dict[str, dict[str, Any]] = {}
        for item in self.items:
            value = getattr(item, key)
            name = value.value if isinstance(value, Layer) else (value or "(unmapped)")
            group = groups.setdefault(name, {"resources": 0, "stacks": set(), "actions": defaultdict(int)})
            group["resources"] += 1
            group["stacks"].add(item.stack)
            group["actions"][item.action.value] += 1
        return {
            k: {"resources": g["resources"], "stacks": len(g["stacks"]), "actions": dict(g["actions"])}
            for k, g in sorted(groups.items())
        }

    def as_dict(self) -> dict[str, Any]:
        """The documented ``strata.drift/v1`` document (docs/drift-json.md)."""
        return {
            "schema": DRIFT_SCHEMA,
            "stacks_checked": self.stacks_checked,
            "stacks_unchecked": list(self.stacks_unchecked),
            "alert": len(self.alerts),
            "by_layer": self.by("layer"),
            "by_pack": self.by("pack"),
            "by_stack": self.by("stack"),
            "resources": [i.as_dict() for i in self.items],
        }


def drift_report(results: Sequence[StackResult], layouts: Mapping[str, ClusterLayout]) -> DriftReport:
    """Aggregate the drift previews of ``results`` (a ``drift`` run); ``layouts`` by cluster name."""
    items: list[DriftItem] = []
    unchecked: list[str] = []
    checked = 0
    for result in results:
        if result.outcome.value != "succeeded":
            unchecked.append(result.name)
            continue
        checked += 1
        mine = {c: layouts[c] for c in result.clusters if c in layouts}
        for change in result.resources:
            where = locate(change.urn, mine)
            policy = mine[where.cluster].policy if where.cluster else {}
            action = policy.get(where.layer, DriftAction.ALERT) if where.layer else DriftAction.ALERT
            items.append(
                DriftItem(
                    result.name,
                    where.cluster,
                    where.pack,
                    where.layer,
                    change.urn,
                    change.type,
                    change.op,
                    change.source,
                    action,
                    change.diffs,
                )
            )
    return DriftReport(tuple(items), checked, tuple(unchecked))
