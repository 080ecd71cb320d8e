"""The resolver: profiles + cluster facts + catalogue + environment values -> an ordered, explained plan.

Pure Python with no Pulumi import, so the offline plan, the tests and the deployment all compute the
same thing. Resolution has two phases:

1. *Compile* a profile composition for a (target, Kubernetes version, built-in capabilities) triple:
   look packs up, check constraints, dependencies and capabilities, order them, and merge values with
   provenance. This is the expensive part and is cached, because a fleet of thousands of sites shares a
   handful of compositions.
2. *Apply* one cluster: its variables and overrides (checked against types, exposure and locks), its
   resource capacity, and ``{{ cluster.* }}`` facts. Values are copied only along the paths a cluster
   changes, so per-cluster cost stays small and flat.

Every problem is collected as a :class:`PlanError` naming the file and field path; nothing is raised
until the whole input has been examined.
"""

from __future__ import annotations

import dataclasses
import functools
import graphlib
import heapq
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from packaging.specifiers import SpecifierSet
from packaging.version import Version
from pydantic import BaseModel

from packs.catalogue import CatalogPack, CatalogProfile, Catalogue
from packs.errors import PlanError, PlanErrors, did_you_mean
from packs.grants import scope_identity
from packs.model import (
    SINGLE_PACK_LAYERS,
    ClusterFacts,
    GeneratedSecret,
    Identity,
    Layer,
    Pack,
    Profile,
    ProfileEntry,
    ProfileKind,
    SecretRef,
    Source,
    Target,
    Variable,
    parse_ref,
    settings_group,
)
from packs.paths import Path, format_path, is_prefix, leaves, parse_path, with_value

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)((?:\.[A-Za-z0-9_\-/]+)*)\s*\}\}")
#: Deploy-time placeholders the pack stack fills once the pack's cloud identity exists.
IDENTITY_KEYS = frozenset({"aws_role_arn", "azure_client_id", "gcp_service_account"})


@dataclass(frozen=True, slots=True)
class Provenance:
    """Who set a value leaf: the kind of source, the file and the field path inside it."""

    source: str  # pack | variable-default | overlay | profile | profile-variable | env-/team-variable | env-override
    file: str
    path: str

    def __str__(self) -> str:
        return f"{self.source} ({self.file}: {self.path})"

    def as_dict(self) -> dict[str, str]:
        return {"source": self.source, "file": self.file, "path": self.path}


@dataclass(frozen=True)
class ResolvedPack:
    """One pack as it will be installed on one cluster."""

    name: str
    version: str
    layer: Layer
    source: Source
    namespace: str | None
    profile: str  # the first profile of the cluster that lists the pack (others may share it, see provenance)
    values: Mapping[str, Any]
    provenance: Mapping[str, Provenance]
    locks: tuple[str, ...]  # locks of every profile that lists the pack
    after: tuple[str, ...]  # the nearest resource-creating packs it must follow; never a cluster setting
    provides: tuple[str, ...]
    requires: tuple[str, ...]
    identity: Identity | None
    deferred: tuple[str, ...]
    folder: str = ""  # the pack's catalogue folder (manifest files live there); not part of the plan JSON
    secrets: Mapping[str, SecretRef] = field(default_factory=dict)  # secret variable -> where its value comes from
    generated: Mapping[str, GeneratedSecret] = field(default_factory=dict)  # secret variable -> how it is generated
    stateful: bool = False  # owns data: kept on removal in production, and its removal must be acknowledged
    renamed_from: tuple[str, ...] = ()  # former names of the pack, oldest first

    @property
    def first_name(self) -> str:
        """The name the pack was first installed under: what its objects in the cluster stay named after."""
        return self.renamed_from[0] if self.renamed_from else self.name

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def settings_group(self) -> str | None:
        """The cluster settings group this pack configures, or None for a pack installed into the cluster."""
        return settings_group(self.source)

    @property
    def cluster_setting(self) -> bool:
        """Realised by the cluster component itself rather than installed into the cluster."""
        return self.settings_group is not None

    def as_dict(self, explain: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "version": self.version,
            "layer": self.layer.value,
            "profile": self.profile,
            "source": _source_dict(self.source),
            "namespace": self.namespace,
            "after": list(self.after),
            "provides": list(self.provides),
            "requires": list(self.requires),
            "values": self.values,
            "locks": list(self.locks),
            "deferred": list(self.deferred),
            "secrets": _secrets_dict(self.secrets, self.generated),
        }
        # Optional keys, present only where they apply: v1 readers that do not know them are unaffected.
        if self.stateful:
            out["stateful"] = True
        grants = _grants_dict(self.identity)
        if grants is not None:
            out["identity"] = grants
        if explain:
            out["provenance"] = {p: v.as_dict() for p, v in sorted(self.provenance.items())}
        return out


@dataclass(frozen=True)
class ResolvedPlan:
    """Packs in install order for one cluster; teardown is the reverse."""

    cluster: ClusterFacts
    profiles: tuple[str, ...]
    packs: tuple[ResolvedPack, ...]

    def settings(self) -> dict[str, Mapping[str, Any]]:
        """Values of the cluster-setting packs by group (node-os, kubernetes, network, storage)."""
        return {group: p.values for p in self.packs if (group := p.settings_group) is not None}

    def pack(self, name: str) -> ResolvedPack:
        return next(p for p in self.packs if p.name == name)

    def as_dict(self, explain: bool = False, packs: Any = None) -> dict[str, Any]:
        """The plan as data; ``packs`` stands in for the packs' entry when the caller has it already (a fleet's
        JSON encodes the packs clusters share once)."""
        return {
            "name": self.cluster.name,
            "target": self.cluster.target.value,
            "region": self.cluster.region,
            "kubernetes_version": self.cluster.kubernetes_version,
            "labels": self.cluster.labels,
            "profiles": list(self.profiles),
            "packs": [p.as_dict(explain) for p in self.packs] if packs is None else packs,
        }


@dataclass(frozen=True)
class ClusterRequest:
    """What an environment asks for one cluster, and where it said so (for error messages)."""

    facts: ClusterFacts
    profiles: tuple[str, ...]
    variables: Mapping[str, Any] = field(default_factory=dict)
    overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    file: str = "<environment>"
    field: str = ""
    #: Variables set elsewhere than the cluster's entry (a team file): key -> (file, field path).
    origins: Mapping[str, tuple[str, str]] = dataclasses.field(default_factory=dict)

    def at(self, suffix: str) -> str:
        return f"{self.field}.{suffix}" if self.field else suffix

    def variable_at(self, key: str) -> tuple[str, str]:
        """Where variable ``key`` was set: its origin, else the cluster's own ``variables``."""
        return self.origins.get(key) or (self.file, self.at(f"variables.{key}"))


# ----------------------------------------------------------------------------------------- compile


@dataclass
class _Compiled:
    """A profile composition compiled for one (target, version, capabilities): shared by many clusters."""

    order: list[str]
    packs: dict[str, CatalogPack]
    profile_of: dict[str, str]  # the first profile that lists the pack (the plan's "profile")
    profiles_of: dict[str, tuple[str, ...]]  # every profile that lists it, in composition order
    after: dict[str, tuple[str, ...]]
    values: dict[str, dict[str, Any]]
    provenance: dict[str, dict[str, Provenance]]
    locks: dict[str, tuple[Path, ...]]
    lock_owner: dict[str, dict[Path, str]]  # pack -> lock -> the profile that locks it
    exposed: dict[str, tuple[Variable, str]]  # "pack.var" -> (variable, profile ref)
    required: dict[str, set[str]]  # pack -> required variables not set by the profile
    templated: dict[str, list[Path]]
    nodes: int
    cpu: int
    memory: int
    errors: list[PlanError]
    sizing: str  # which pack needs the most nodes (for the error message)


def _record(provenance: dict[str, Provenance], path: Path, origin: Provenance) -> None:
    """Note who wrote ``path``; a leaf replaced by a map (or the reverse) drops the stale entries."""
    key = format_path(path)
    for old in [k for k in provenance if k.startswith(key + ".") or k.startswith(key + "[")]:
        del provenance[old]
    for i in range(1, len(path)):
        provenance.pop(format_path(path[:i]), None)
    provenance[key] = origin


def _merge_leaves(
    values: dict[str, Any],
    provenance: dict[str, Provenance],
    tree: Mapping[str, Any],
    source: str,
    file: str,
    field_prefix: str,
) -> dict[str, Any]:
    for path, value in leaves(tree):
        values = with_value(values, path, value)
        key = format_path(path)
        _record(provenance, path, Provenance(source, file, f"{field_prefix}.{key}" if field_prefix else key))
    return values


def _has_placeholder(value: Any) -> bool:
    """Strings anywhere in a leaf, lists included (Helm values often hold lists of strings or maps)."""
    if isinstance(value, str):
        return "{{" in value
    if isinstance(value, list | tuple):
        return any(_has_placeholder(v) for v in value)
    if isinstance(value, Mapping):
        return any(_has_placeholder(v) for v in value.values())
    return False


def _templated(values: Mapping[str, Any]) -> list[Path]:
    return [p for p, v in leaves(values) if _has_placeholder(v)]


def _locked_by(locks: Sequence[Path], path: Path) -> Path | None:
    """The lock that forbids writing ``path``: a lock on it, above it, or below it."""
    for lock in locks:
        if is_prefix(lock, path) or is_prefix(path, lock):
            return lock
    return None


_Graph = dict[str, set[str]]


@dataclass(frozen=True)
class _Entry:
    """A profile layer entry that applies to the cluster being compiled, and where it is written."""

    loaded: CatalogProfile
    index: int
    entry: ProfileEntry

    @property
    def profile(self) -> Profile:
        return self.loaded.profile

    @property
    def file(self) -> str:
        return self.loaded.file

    @property
    def where(self) -> str:
        return f"layers[{self.index}]"


@dataclass
class _Selection:
    """The packs of a composition by name, in the order the profiles first list them.

    A pack two profiles both name (at the same version) is one pack with two entries, merged in profile order.
    """

    packs: dict[str, CatalogPack] = field(default_factory=dict)
    entries_of: dict[str, list[_Entry]] = field(default_factory=dict)
    position: dict[str, int] = field(default_factory=dict)

    def add(self, name: str, found: CatalogPack, item: _Entry) -> None:
        if name in self.packs:
            self.entries_of[name].append(item)
            return
        self.packs[name] = found
        self.entries_of[name] = [item]
        self.position[name] = len(self.position)


@dataclass
class _Merged:
    """Per-pack results of merging values, variables, locks and exposure (filled pack by pack)."""

    values: dict[str, dict[str, Any]] = field(default_factory=dict)
    provenance: dict[str, dict[str, Provenance]] = field(default_factory=dict)
    locks: dict[str, tuple[Path, ...]] = field(default_factory=dict)
    lock_owner: dict[str, dict[Path, str]] = field(default_factory=dict)
    exposed: dict[str, tuple[Variable, str]] = field(default_factory=dict)
    required: dict[str, set[str]] = field(default_factory=dict)
    templated: dict[str, list[Path]] = field(default_factory=dict)


def _version_conflict(first: _Entry, have: CatalogPack, item: _Entry, cluster: str) -> PlanError:
    """Two profiles of one cluster name different versions of a pack: a cluster runs one, so say which to align."""
    name = item.entry.pack_name
    return PlanError(
        item.file,
        f"{item.where}.pack",
        f"profile {item.profile.ref} names {item.entry.pack} but profile {first.profile.ref} names {have.pack.ref} "
        f"({first.file}: {first.where}.pack); a cluster runs one version of a pack, so profiles composed on it must "
        f"name the same one: use versions of these profiles that agree on {name}, or compose only one of them",
        cluster,
    )


def _constraint_errors(found: CatalogPack, item: _Entry, where: str, request: ClusterRequest) -> list[PlanError]:
    """The pack's own constraints against the cluster: target and Kubernetes version."""
    facts, pack, errors = request.facts, found.pack, []
    if facts.target not in pack.constraints.targets:
        errors.append(
            PlanError(
                item.file,
                where,
                f"pack {pack.ref} does not support target {facts.target.value} "
                f"(supports {', '.join(t.value for t in pack.constraints.targets)})",
                facts.name,
            )
        )
    if Version(facts.kubernetes_version) not in SpecifierSet(pack.constraints.kubernetes):
        errors.append(
            PlanError(
                request.file,
                request.at("kubernetes_version"),
                f"Kubernetes {facts.kubernetes_version} is outside the range of pack {pack.ref} "
                f"({pack.constraints.kubernetes}, {found.file})",
                facts.name,
            )
        )
    return errors


def _check_single_pack_layers(selected: _Selection, cluster: str, errors: list[PlanError]) -> None:
    """Step 3: a cluster runs one OS, one Kubernetes, one CNI and one CSI."""
    for layer in SINGLE_PACK_LAYERS:
        members = [n for n, p in selected.packs.items() if p.pack.layer is layer]
        if len(members) > 1:
            item = selected.entries_of[members[1]][0]
            errors.append(
                PlanError(
                    item.file,
                    f"{item.where}.pack",
                    f"the {layer.value} layer holds one pack per cluster; found {', '.join(members)}",
                    cluster,
                )
            )


def _ordering_graph(packs: Mapping[str, CatalogPack], facts: ClusterFacts, errors: list[PlanError]) -> _Graph:
    """Step 4: every pack -> the packs it must follow (dependencies, capability providers, the layer below)."""
    graph = _dependency_edges(packs, facts, errors)
    by_layer: dict[Layer, list[str]] = {}
    for name, found in packs.items():
        by_layer.setdefault(found.pack.layer, []).append(name)
    lower: list[str] = []
    for layer in Layer:
        members = by_layer.get(layer, [])
        for name in members:
            graph[name].update(lower)
        if members:
            lower = members
    return graph


def _dependency_edges(packs: Mapping[str, CatalogPack], facts: ClusterFacts, errors: list[PlanError]) -> _Graph:
    """Declared dependencies (checked against their version specifiers and layers) and required capabilities."""
    cluster = facts.name
    providers: dict[str, list[str]] = {}
    for name, found in packs.items():
        for cap in found.pack.provides:
            providers.setdefault(cap, []).append(name)
    graph: _Graph = {name: set() for name in packs}
    for name, found in packs.items():
        pack = found.pack
        for dep, spec in sorted(pack.depends.items()):
            where = f"depends.{dep}"
            if dep not in packs:
                errors.append(
                    PlanError(
                        found.file,
                        where,
                        f"pack {pack.ref} needs pack {dep} ({spec}), which no profile of this cluster includes",
                        cluster,
                    )
                )
                continue
            dep_pack = packs[dep].pack
            if not SpecifierSet(spec).contains(dep_pack.semver, prereleases=True):
                errors.append(
                    PlanError(
                        found.file,
                        where,
                        f"pack {pack.ref} needs {dep} {spec} but the plan has {dep_pack.ref}",
                        cluster,
                    )
                )
            if dep_pack.layer.rank > pack.layer.rank:
                errors.append(
                    PlanError(
                        found.file,
                        where,
                        f"{pack.layer.value} pack {pack.name} cannot depend on {dep_pack.layer.value} pack {dep}: "
                        "a pack may depend only on its own layer or the layers below",
                        cluster,
                    )
                )
            graph[name].add(dep)
        for i, cap in enumerate(pack.requires):
            have = [p for p in providers.get(cap, []) if p != name]
            if not have and cap not in facts.capabilities:
                errors.append(
                    PlanError(
                        found.file,
                        f"requires[{i}]",
                        f"pack {pack.ref} requires capability {cap!r}, which no pack of this cluster provides",
                        cluster,
                    )
                )
            graph[name].update(have)
    return graph


def _install_order(graph: _Graph, selected: _Selection, cluster: str, errors: list[PlanError]) -> list[str]:
    """Step 5: a topological order that keeps layers, then the profiles' listing order, wherever it can."""
    packs, position = selected.packs, selected.position
    order: list[str] = []
    try:
        sorter = graphlib.TopologicalSorter(graph)
        sorter.prepare()
        heap: list[tuple[int, int, str]] = []

        def push_ready() -> None:
            for n in sorter.get_ready():
                heapq.heappush(heap, (packs[n].pack.layer.rank, position[n], n))

        push_ready()
        while heap:
            _, _, n = heapq.heappop(heap)
            order.append(n)
            sorter.done(n)
            push_ready()
    except graphlib.CycleError as exc:
        cycle = exc.args[1]
        first = packs[cycle[0]]
        errors.append(PlanError(first.file, "depends", f"dependency cycle: {' -> '.join(cycle)}", cluster))
        order = sorted(packs, key=lambda n: (packs[n].pack.layer.rank, position[n]))
    return order


def _ordering_edges(graph: _Graph, order: list[str], packs: Mapping[str, CatalogPack]) -> dict[str, tuple[str, ...]]:
    """Step 6: each pack's ``after``: the nearest packs that create resources and that it must follow.

    Cluster-setting packs create no resources (the cluster component realises them), so nothing can wait on
    them: an edge into one is carried through it to the resource-creating packs it follows. Without that, an
    add-on ordered after the k3s storage setting would lose its edge to the Helm CNI under that setting and
    could race it on install and outlive it on destroy. The edges are the transitive reduction of "must
    follow" over resource-creating packs: enough for deployment order (and so the reverse teardown), and
    short enough to read in a plan. A pack with no such predecessor waits only for the cluster itself.
    """
    rank = {n: i for i, n in enumerate(order)}
    creates = {n: not _cluster_setting(packs[n].pack) for n in order}
    ancestors: dict[str, frozenset[str]] = {}  # every resource-creating pack a pack must follow
    after: dict[str, tuple[str, ...]] = {}
    for name in order:
        mine = frozenset().union(*(ancestors[p] | ({p} if creates[p] else frozenset()) for p in graph[name]))
        implied = frozenset().union(*(ancestors[a] for a in mine))
        ancestors[name] = mine
        after[name] = tuple(sorted(mine - implied, key=rank.__getitem__))
    return after


def _merge_pack(
    merged: _Merged, name: str, found: CatalogPack, items: list[_Entry], facts: ClusterFacts, errors: list[PlanError]
) -> None:
    """Step 7: one pack's values, with provenance, and the variables, locks and exposure its profiles set.

    Profiles that share the pack apply in composition order, each over the last, and every lock of every one of
    them holds: a later profile may not change a value an earlier one locked (see :func:`_check_locks_held`).
    """
    pack, cluster = found.pack, facts.name
    prov: dict[str, Provenance] = {}
    vals = _pack_values(found, facts.target, prov)
    need = {v.name for v in pack.variables if v.required or facts.target in v.required_on}
    locks: dict[Path, _Entry] = {}  # every lock of every profile, with the first profile that holds it
    for item in items:
        before = vals
        vals = _merge_leaves(vals, prov, item.entry.values, "profile", item.file, f"{item.where}.values")
        vals = _profile_variables(vals, prov, found, item, need, cluster, errors)
        _check_locks_held(name, before, vals, prov, locks, item, cluster, errors)
        for lock in item.entry.locks:
            locks.setdefault(parse_path(lock), item)
    for item in items:
        for key, exposed in _exposed_variables(name, found, item, locks, cluster, errors).items():
            merged.exposed.setdefault(key, exposed)
    _check_identity_uses(vals, prov, found, cluster, errors)
    merged.values[name] = vals
    merged.provenance[name] = prov
    merged.locks[name] = tuple(locks)
    merged.lock_owner[name] = {lock: item.profile.ref for lock, item in locks.items()}
    merged.required[name] = need
    merged.templated[name] = _templated(vals)


def _pack_values(found: CatalogPack, target: Target, prov: dict[str, Provenance]) -> dict[str, Any]:
    """The pack's own values, its variable defaults, then its overlay for the target (profiles come next)."""
    pack = found.pack
    vals = _merge_leaves({}, prov, found.values, "pack", found.values_file or found.file, "")
    for i, var in enumerate(pack.variables):
        if var.default is not None:
            vals = with_value(vals, parse_path(var.path), var.default)
            _record(prov, parse_path(var.path), Provenance("variable-default", found.file, f"variables[{i}].default"))
    overlay = pack.overlays.get(target)
    if overlay:
        vals = _merge_leaves(vals, prov, overlay, "overlay", found.file, f"overlays.{target.value}")
    return vals


def _check_locks_held(
    name: str,
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    prov: Mapping[str, Provenance],
    locks: Mapping[Path, _Entry],
    item: _Entry,
    cluster: str,
    errors: list[PlanError],
) -> None:
    """A profile composed after another may refine a shared pack, but not change what the other locked.

    Setting a locked value to the value it already has is agreement, not a conflict (two profiles may lock the
    same setting). The error names both profile files and the path, so either owner can see how to fix it.
    """
    for lock, owner in locks.items():
        old, new = _maybe_get(before, lock), _maybe_get(after, lock)
        if old == new:
            continue
        written = [
            o.path
            for p, o in prov.items()
            if o.file == item.file and (is_prefix(lock, parse_path(p)) or is_prefix(parse_path(p), lock))
        ]
        also = ", and locks it too" if lock in {parse_path(p) for p in item.entry.locks} else ""
        errors.append(
            PlanError(
                item.file,
                written[0] if written else f"{item.where}.values",
                f"{format_path(lock)} of pack {name} is locked to {_short(old)} by profile {owner.profile.ref} "
                f"({owner.file}: {owner.where}.locks); profile {item.profile.ref} sets it to {_short(new)}{also}. "
                "Profiles composed on one cluster must agree on a locked value: set the same value in both, "
                "or compose only one of them",
                cluster,
            )
        )


#: What :func:`_maybe_get` returns for a path that holds no value.
_ABSENT: Any = object()


def _maybe_get(tree: Mapping[str, Any], path: Path) -> Any:
    try:
        return _get(tree, path)
    except (KeyError, TypeError):
        return _ABSENT


def _short(value: Any) -> str:
    """A value as a person reads it in one error line."""
    if value is _ABSENT:
        return "nothing"
    text = json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 80 else text[:77] + "..."


def _profile_variables(
    vals: dict[str, Any],
    prov: dict[str, Provenance],
    found: CatalogPack,
    item: _Entry,
    need: set[str],
    cluster: str,
    errors: list[PlanError],
) -> dict[str, Any]:
    """Variables the profile sets (never secret ones); each one set is no longer needed from the environment."""
    pack = found.pack
    for var_name, value in item.entry.variables.items():
        where = f"{item.where}.variables.{var_name}"
        var = pack.variable(var_name)
        if var is None:
            errors.append(PlanError(item.file, where, f"pack {pack.ref} has no variable {var_name!r}", cluster))
            continue
        problem = (
            "secret variables are set by environments, never in a shared profile" if var.secret else var.check(value)
        )
        if problem:
            errors.append(PlanError(item.file, where, problem, cluster))
            continue
        vals = with_value(vals, parse_path(var.path), value)
        _record(prov, parse_path(var.path), Provenance("profile-variable", item.file, where))
        need.discard(var_name)
    return vals


def _exposed_variables(
    name: str, found: CatalogPack, item: _Entry, locks: Mapping[Path, _Entry], cluster: str, errors: list[PlanError]
) -> dict[str, tuple[Variable, str]]:
    """Variables the profile opens to environments; one that writes a path any profile locks would void the lock."""
    pack, exposed = found.pack, {}
    for var_name in item.entry.expose:
        where = f"{item.where}.expose"
        var = pack.variable(var_name)
        if var is None:
            errors.append(PlanError(item.file, where, f"pack {pack.ref} has no variable {var_name!r}", cluster))
            continue
        lock = _locked_by(tuple(locks), parse_path(var.path))
        if lock is not None:
            owner = locks[lock]
            by = (
                "the profile locks"
                if owner.profile.ref == item.profile.ref
                else f"profile {owner.profile.ref} locks ({owner.file}: {owner.where}.locks)"
            )
            message = f"variable {var_name!r} writes {var.path}, which {by} ({format_path(lock)})"
            errors.append(PlanError(item.file, where, message, cluster))
            continue
        exposed[f"{name}.{var_name}"] = (var, item.profile.ref)
    return exposed


def _check_identity_uses(
    vals: Mapping[str, Any], prov: Mapping[str, Provenance], found: CatalogPack, cluster: str, errors: list[PlanError]
) -> None:
    """``{{ identity.* }}`` needs an identity the pack declares, or there is nothing to fill it with."""
    if found.pack.identity is not None:
        return
    for path_text, _ in _identity_uses(vals):
        origin = prov.get(path_text, Provenance("", found.file, path_text))
        errors.append(
            PlanError(
                origin.file,
                origin.path,
                f"pack {found.pack.ref} uses an identity placeholder but declares no identity",
                cluster,
            )
        )


class Resolver:
    """Resolves clusters against one catalogue, caching compiled profile compositions."""

    def __init__(self, catalogue: Catalogue) -> None:
        self.catalogue = catalogue
        self._cache: dict[tuple[Any, ...], _Compiled] = {}
        self._conditional: dict[int, list[tuple[str, int, Variable]]] = {}
        #: Applied packs shared by every cluster whose request has the same :meth:`_sharing_key`.
        self._applied: dict[tuple[Any, ...], tuple[ResolvedPack, ...]] = {}
        self._fact_refs: dict[int, tuple[str, ...] | None] = {}

    # ------------------------------------------------------------------ public
    def resolve(self, request: ClusterRequest) -> ResolvedPlan:
        """Resolve one cluster or raise :class:`PlanErrors` with everything wrong with it."""
        plan, errors = self.try_resolve(request)
        if errors:
            raise PlanErrors(errors)
        assert plan is not None
        return plan

    def try_resolve(self, request: ClusterRequest) -> tuple[ResolvedPlan | None, list[PlanError]]:
        facts = request.facts
        key = (request.profiles, facts.target, facts.kubernetes_version, facts.capabilities)
        compiled = self._cache.get(key)
        if compiled is None:
            compiled = self._compile(request)
            self._cache[key] = compiled
        # Compile errors are about the profiles/catalogue, reported against this cluster too.
        errors = [PlanError(e.file, e.path, e.message, facts.name) if e.cluster is None else e for e in compiled.errors]
        if compiled.errors:
            return None, errors
        shared = self._sharing_key(key, compiled, request)
        packs = self._applied.get(shared) if shared is not None else None
        if packs is not None:
            # Same packs as an earlier cluster; only the capacity check reads facts outside the key.
            self._check_capacity(compiled, request, errors)
        else:
            packs = self._apply(compiled, request, errors)
            if shared is not None and not errors:
                self._applied[shared] = packs
        if errors:
            return None, errors
        return ResolvedPlan(facts, request.profiles, packs), []

    def _sharing_key(
        self, compiled_key: tuple[Any, ...], compiled: _Compiled, request: ClusterRequest
    ) -> tuple[Any, ...] | None:
        """Everything :meth:`_apply` reads from a request that can change the packs it returns, or None when
        the packs cannot be shared (a pack's identity reads facts by its own templates).

        The sites of a fleet are rows that differ in name, address and labels, while their packs differ only
        where a value templates one of those facts: the key holds the composition, the variables and
        overrides (with where they were written, which provenance records), and the value of every fact a
        template reads, so two clusters share packs exactly when applying either would build equal packs.
        Errors are never shared: a request with any is applied on its own, so its messages name its cluster.
        """
        if id(compiled) not in self._fact_refs:
            self._fact_refs[id(compiled)] = _compiled_fact_refs(compiled)
        refs = self._fact_refs[id(compiled)]
        if refs is None:
            return None
        written: tuple[Any, ...] = ()
        if request.variables or request.overrides:
            extra = _fact_refs_in((request.variables, request.overrides))
            refs = tuple(sorted({*refs, *extra}))
            written = (
                _freeze(request.variables),
                _freeze(request.overrides),
                request.file,
                request.field,
                _freeze(request.origins),  # a team file's variable records that file in provenance
            )
        facts = request.facts
        return (compiled_key, written, tuple((ref, _freeze(_fact_or_missing(facts, ref))) for ref in refs))

    # ------------------------------------------------------------------ phase 1
    def _compile(self, request: ClusterRequest) -> _Compiled:
        """Compile the composition in named steps; each appends its problems to ``errors`` and carries on."""
        errors: list[PlanError] = []
        entries = self._profile_entries(request, errors)
        selected = self._select_packs(entries, request, errors)
        _check_single_pack_layers(selected, request.facts.name, errors)
        graph = _ordering_graph(selected.packs, request.facts, errors)
        order = _install_order(graph, selected, request.facts.name, errors)
        # Edges are only meaningful for a valid graph; a plan with errors is never applied.
        after = _ordering_edges(graph, order, selected.packs) if not errors else {}
        merged = _Merged()
        for name in order:
            _merge_pack(merged, name, selected.packs[name], selected.entries_of[name], request.facts, errors)
        sized = [selected.packs[n].pack for n in order if not _cluster_setting(selected.packs[n].pack)]
        biggest = max(sized, key=lambda p: p.constraints.resources.nodes, default=None)
        return _Compiled(
            order=order,
            packs=selected.packs,
            profile_of={name: items[0].profile.ref for name, items in selected.entries_of.items()},
            profiles_of={name: tuple(i.profile.ref for i in items) for name, items in selected.entries_of.items()},
            after=after,
            values=merged.values,
            provenance=merged.provenance,
            locks=merged.locks,
            lock_owner=merged.lock_owner,
            exposed=merged.exposed,
            required=merged.required,
            templated=merged.templated,
            nodes=biggest.constraints.resources.nodes if biggest else 1,
            cpu=sum(p.constraints.resources.cpu_millicores for p in sized),
            memory=sum(p.constraints.resources.memory_mib for p in sized),
            errors=errors,
            sizing=biggest.ref if biggest else "",
        )

    def _profile_entries(self, request: ClusterRequest, errors: list[PlanError]) -> list[_Entry]:
        """Step 1: look the cluster's profiles up and keep the layer entries that apply to its target."""
        target, cluster = request.facts.target, request.facts.name
        entries: list[_Entry] = []
        listed: dict[str, int] = {}
        for i, ref in enumerate(request.profiles):
            where = request.at(f"profiles[{i}]")
            name, version = parse_ref(ref)
            if name in listed:
                first = listed[name]
                errors.append(
                    PlanError(
                        request.file,
                        where,
                        f"profile {name} is already listed at profiles[{first}] ({request.profiles[first]}); "
                        "list each profile once, at one version",
                        cluster,
                    )
                )
                continue
            listed[name] = i
            loaded = self.catalogue.profile(name, version)
            if loaded is None:
                known = self.catalogue.profile_versions(name)
                hint = (
                    f"; known versions: {', '.join(known)}"
                    if known
                    else "; no profile has that name" + did_you_mean(name, (n for n, _ in self.catalogue.profiles))
                )
                errors.append(PlanError(request.file, where, f"unknown profile {ref}{hint}", cluster))
                continue
            profile = loaded.profile
            if target not in profile.targets:
                errors.append(
                    PlanError(
                        request.file,
                        where,
                        f"profile {ref} does not support target {target.value} "
                        f"(supports {', '.join(t.value for t in profile.targets)})",
                        cluster,
                    )
                )
                continue
            if profile.kind is ProfileKind.INFRASTRUCTURE and i != 0:
                errors.append(PlanError(request.file, where, f"infrastructure profile {ref} must come first", cluster))
            for j, entry in enumerate(profile.layers):
                if entry.targets is None or target in entry.targets:
                    entries.append(_Entry(loaded, j, entry))
        return entries

    def _select_packs(self, entries: list[_Entry], request: ClusterRequest, errors: list[PlanError]) -> _Selection:
        """Step 2: find each entry's pack in the catalogue and check it may sit where the profile puts it."""
        cluster = request.facts.name
        selected = _Selection()
        last_rank: dict[str, tuple[int, str]] = {}  # profile -> highest layer listed so far
        for item in entries:
            profile, where = item.profile, f"{item.where}.pack"
            name, version = item.entry.pack_name, item.entry.pack_version
            found = self.catalogue.pack(name, version)
            if found is None:
                known = self.catalogue.versions(name)
                hint = (
                    f"; known versions: {', '.join(known)}"
                    if known
                    else "; no pack has that name" + did_you_mean(name, (n for n, _ in self.catalogue.packs))
                )
                errors.append(PlanError(item.file, where, f"unknown pack {item.entry.pack}{hint}", cluster))
                continue
            shared = selected.packs.get(name)
            if shared is not None and shared.pack.version != version:
                errors.append(_version_conflict(selected.entries_of[name][0], shared, item, cluster))
                continue
            pack = found.pack
            prev = last_rank.get(profile.ref)
            if prev is not None and pack.layer.rank < prev[0]:
                errors.append(
                    PlanError(
                        item.file,
                        where,
                        f"{pack.layer.value} pack {name} is listed after {prev[1]}; list layers in order "
                        "os, kubernetes, cni, csi, addon",
                        cluster,
                    )
                )
            last_rank[profile.ref] = max(prev or (0, ""), (pack.layer.rank, f"{pack.layer.value} pack {name}"))
            if profile.kind is ProfileKind.ADDON and pack.layer is not Layer.ADDON:
                errors.append(
                    PlanError(
                        item.file,
                        where,
                        f"add-on profiles hold only add-on packs; {name} is {pack.layer.value}",
                        cluster,
                    )
                )
            if shared is None:  # a shared pack's constraints were checked where it was first listed
                errors.extend(_constraint_errors(found, item, where, request))
            selected.add(name, found, item)
        return selected

    # ------------------------------------------------------------------ phase 2
    def _apply(self, compiled: _Compiled, request: ClusterRequest, errors: list[PlanError]) -> tuple[ResolvedPack, ...]:
        facts = request.facts
        cluster = facts.name
        values = dict(compiled.values)
        provenance = dict(compiled.provenance)
        extra_templated: dict[str, list[Path]] = {}
        set_vars: dict[str, set[str]] = {}
        secrets: dict[str, dict[str, SecretRef]] = {}

        for key, value in request.variables.items():
            file, where = request.variable_at(key)
            pack_name, _, var_name = key.partition(".")
            if pack_name not in compiled.packs:
                message = f"no pack {pack_name!r} in this cluster's plan" + did_you_mean(pack_name, compiled.packs)
                errors.append(PlanError(file, where, message, cluster))
                continue
            pack = compiled.packs[pack_name].pack
            var = pack.variable(var_name)
            if var is None:
                known = ", ".join(v.name for v in pack.variables) or "none"
                errors.append(
                    PlanError(
                        file,
                        where,
                        f"unknown variable {var_name!r} of pack {pack.ref} (known: {known})"
                        + did_you_mean(var_name, (v.name for v in pack.variables)),
                        cluster,
                    )
                )
                continue
            if key not in compiled.exposed:
                errors.append(
                    PlanError(
                        file,
                        where,
                        f"variable {key} is not exposed by profile {' or '.join(compiled.profiles_of[pack_name])}; "
                        "ask its owners to expose it",
                        cluster,
                    )
                )
                continue
            problem = var.check(value)
            if problem:
                errors.append(PlanError(file, where, problem, cluster))
                continue
            path = parse_path(var.path)
            if var.secret:
                # Only the reference travels; the value is read at deploy time, as a Pulumi secret.
                secrets.setdefault(pack_name, {})[var_name] = SecretRef.model_validate(value)
                value = f"{{{{ secret.{var_name} }}}}"
            values[pack_name] = with_value(values[pack_name], path, value)
            prov = dict(provenance[pack_name])
            source = "team-variable" if key in request.origins else "env-variable"
            _record(prov, path, Provenance(source, file, where))
            provenance[pack_name] = prov
            set_vars.setdefault(pack_name, set()).add(var_name)
            if _has_placeholder(value):
                extra_templated.setdefault(pack_name, []).append(path)

        for pack_name, tree in request.overrides.items():
            base = request.at(f"overrides.{pack_name}")
            if pack_name not in compiled.packs:
                message = f"no pack {pack_name!r} in this cluster's plan" + did_you_mean(pack_name, compiled.packs)
                errors.append(PlanError(request.file, base, message, cluster))
                continue
            prov = dict(provenance[pack_name])
            vals = values[pack_name]
            secret_paths = [(v, parse_path(v.path)) for v in compiled.packs[pack_name].pack.variables if v.secret]
            for path, value in leaves(tree):
                key = format_path(path)
                where = f"{base}.{key}"
                owner = next((v for v, vp in secret_paths if path[: len(vp)] == vp), None)
                if owner is not None:
                    # A plain value here would either replace the secret (a password in clear text in the
                    # state, its reference silently ignored) or be replaced by a generated one: both surprise.
                    errors.append(
                        PlanError(
                            request.file,
                            where,
                            f"{format_path(path)} of pack {pack_name} is the secret variable {owner.name!r}; set "
                            f"it under variables as a reference ({pack_name}.{owner.name}: {{env: NAME}}, "
                            "{file: path} or {config: key}), never as a value in overrides",
                            cluster,
                        )
                    )
                    continue
                lock = _locked_by(compiled.locks[pack_name], path)
                if lock is not None:
                    errors.append(
                        PlanError(
                            request.file,
                            where,
                            f"{format_path(lock)} of pack {pack_name} is locked by profile "
                            f"{compiled.lock_owner[pack_name][lock]}",
                            cluster,
                        )
                    )
                    continue
                vals = with_value(vals, path, value)
                _record(prov, path, Provenance("env-override", request.file, where))
                if _has_placeholder(value):
                    extra_templated.setdefault(pack_name, []).append(path)
            values[pack_name] = vals
            provenance[pack_name] = prov

        for pack_name, need in compiled.required.items():
            for var_name in sorted(need - set_vars.get(pack_name, set())):
                errors.append(
                    PlanError(
                        request.file,
                        request.at(f"variables.{pack_name}.{var_name}"),
                        f"pack {pack_name} needs variable {var_name!r} on {facts.target.value} (required, no default)",
                        cluster,
                    )
                )

        generated = self._conditional_secrets(compiled, request, values, provenance, set_vars, extra_templated, errors)
        self._check_capacity(compiled, request, errors)

        resolved: list[ResolvedPack] = []
        for name in compiled.order:
            found = compiled.packs[name]
            pack = found.pack
            vals = values[name]
            deferred: list[str] = []
            for path in (*compiled.templated[name], *extra_templated.get(name, ())):
                try:
                    current = _get(vals, path)
                except KeyError:
                    continue
                secret_vars = frozenset((*secrets.get(name, ()), *generated.get(name, ())))
                rendered, pending, problem = _render_value(current, facts, secret_vars)
                key = format_path(path)
                if problem:
                    origin = provenance[name].get(key, Provenance("", found.file, key))
                    errors.append(PlanError(origin.file, origin.path, problem, cluster))
                    continue
                if pending:
                    deferred.append(key)
                if rendered is not current:
                    vals = with_value(vals, path, rendered)
            identity = pack.identity
            if identity is not None:
                # Grants follow the values the pack ends up with here, so they are scoped per cluster.
                identity, problems = scope_identity(identity, name, vals, facts, pack.variables)
                missing = compiled.required[name] - set_vars.get(name, set())
                unset = {v.path for v in pack.variables if v.name in missing}
                errors.extend(
                    PlanError(found.file, p.field, p.message, cluster) for p in problems if p.missing not in unset
                )
            resolved.append(
                ResolvedPack(
                    name=name,
                    version=pack.version,
                    layer=pack.layer,
                    source=pack.source,
                    namespace=pack.namespace,
                    profile=compiled.profile_of[name],
                    values=vals,
                    provenance=provenance[name],
                    locks=tuple(format_path(p) for p in compiled.locks[name]),
                    after=compiled.after[name],
                    provides=pack.provides,
                    requires=pack.requires,
                    identity=identity,
                    deferred=tuple(sorted(set(deferred))),
                    folder=str(found.folder),
                    secrets=secrets.get(name, {}),
                    generated=generated.get(name, {}),
                    stateful=pack.owns_data,
                    renamed_from=pack.renamed_from,
                )
            )
        return tuple(resolved)

    def _conditional_secrets(
        self,
        compiled: _Compiled,
        request: ClusterRequest,
        values: dict[str, Any],
        provenance: dict[str, Any],
        set_vars: dict[str, set[str]],
        extra_templated: dict[str, list[Path]],
        errors: list[PlanError],
    ) -> dict[str, dict[str, GeneratedSecret]]:
        """Variables required only while a condition holds, and secrets generated when nobody gives one.

        Both are decided on the cluster's final values (after its variables and overrides), so turning a
        feature off also drops what it would have needed. A generated secret becomes a ``{{ secret.<name> }}``
        placeholder the pack stack fills with a ``RandomPassword`` at deploy time; an environment's reference,
        when given, always wins.
        """
        special = self._conditional.get(id(compiled))
        if special is None:
            special = [
                (name, i, var)
                for name, found in compiled.packs.items()
                for i, var in enumerate(found.pack.variables)
                if var.required_when is not None or var.generate is not None
            ]
            self._conditional[id(compiled)] = special
        generated: dict[str, dict[str, GeneratedSecret]] = {}
        for pack_name, index, var in special:
            if var.name in set_vars.get(pack_name, ()) or not var.wanted(values[pack_name]):
                continue
            if var.generate is None:
                assert var.required_when is not None
                errors.append(
                    PlanError(
                        request.file,
                        request.at(f"variables.{pack_name}.{var.name}"),
                        f"pack {pack_name} needs variable {var.name!r} while {var.required_when.path} is "
                        f"{json.dumps(var.required_when.equals)} (required, no default)",
                        request.facts.name,
                    )
                )
                continue
            path = parse_path(var.path)
            values[pack_name] = with_value(values[pack_name], path, f"{{{{ secret.{var.name} }}}}")
            prov = dict(provenance[pack_name])
            origin = compiled.packs[pack_name].file
            _record(prov, path, Provenance("generated", origin, f"variables[{index}].generate"))
            provenance[pack_name] = prov
            extra_templated.setdefault(pack_name, []).append(path)
            generated.setdefault(pack_name, {})[var.name] = var.generate
        return generated

    def _check_capacity(self, compiled: _Compiled, request: ClusterRequest, errors: list[PlanError]) -> None:
        facts = request.facts
        checks = (
            ("nodes", facts.nodes, compiled.nodes, f"pack {compiled.sizing} needs {compiled.nodes} node(s)"),
            (
                "cpu_millicores",
                facts.cpu_millicores,
                compiled.cpu,
                f"the plan's packs request {compiled.cpu}m CPU",
            ),
            ("memory_mib", facts.memory_mib, compiled.memory, f"the plan's packs request {compiled.memory} MiB"),
        )
        for fact, have, need, why in checks:
            if have is not None and have < need:
                errors.append(
                    PlanError(request.file, request.at(fact), f"{why} but the cluster has {have}", facts.name)
                )


def _secrets_dict(refs: Mapping[str, SecretRef], generated: Mapping[str, GeneratedSecret]) -> dict[str, Any]:
    """Where each secret's value comes from: a reference, or ``{"generated": {...}}``; never the value."""
    out: dict[str, Any] = {k: v.model_dump(exclude_none=True) for k, v in refs.items()}
    out.update({k: {"generated": g.model_dump(exclude_none=True)} for k, g in generated.items()})
    return dict(sorted(out.items()))


def _grants_dict(identity: Identity | None) -> dict[str, Any] | None:
    """What the pack's cloud identity may do on this cluster, every scope resolved; None when it has no grant.

    The identity is already narrowed to the cluster's own cloud (packs/grants.py), so only that cloud's grants
    remain. A scope left null is the cluster's own (subscription and resource group, or project). Scopes come
    from the pack's plain values (a secret placeholder cannot be a scope), so nothing here is secret.
    """
    if identity is None:
        return None
    out: dict[str, Any] = {}
    if identity.aws_policy_arns:
        out["aws_policy_arns"] = list(identity.aws_policy_arns)
    if identity.aws_policy is not None:
        out["aws_policy"] = identity.aws_policy
    if identity.azure_roles:
        out["azure_roles"] = [g.model_dump(mode="json") for g in identity.azure_roles]
    if identity.gcp_roles:
        out["gcp_roles"] = [g.model_dump(mode="json") for g in identity.gcp_roles]
    return {"service_account": identity.service_account, **out} if out else None


@functools.cache
def _source_dict(source: Source) -> dict[str, Any]:
    """Serialised once per source: ten thousand clusters share a handful of packs (treat as read-only)."""
    return source.model_dump(mode="json", exclude_none=True)


def _cluster_setting(pack: Pack) -> bool:
    return settings_group(pack.source) is not None


def _get(tree: Mapping[str, Any], path: Path) -> Any:
    node: Any = tree
    for part in path:
        node = node[part]
    return node


def _identity_uses(values: Mapping[str, Any]) -> list[tuple[str, str]]:
    out = []
    for path, value in leaves(values):
        if _has_placeholder(value):
            for m in PLACEHOLDER.finditer(json.dumps(value)):
                if m.group(1) == "identity":
                    out.append((format_path(path), m.group(0)))
    return out


def _render_value(
    value: Any, facts: ClusterFacts, secrets: frozenset[str] = frozenset()
) -> tuple[Any, bool, str | None]:
    """:func:`_render` over a leaf that may be a list (or a list of maps); unchanged parts stay shared."""
    if isinstance(value, str):
        return _render(value, facts, secrets) if "{{" in value else (value, False, None)
    if isinstance(value, list | tuple | Mapping):
        items = list(value.items()) if isinstance(value, Mapping) else list(enumerate(value))
        pending, out = False, []
        for key, item in items:
            rendered, item_pending, problem = _render_value(item, facts, secrets)
            if problem:
                return value, pending, problem
            pending = pending or item_pending
            out.append((key, rendered))
        if all(a[1] is b for a, b in zip(out, items, strict=True)):
            return value, pending, None
        return (dict(out) if isinstance(value, Mapping) else [v for _, v in out]), pending, None
    return value, False, None


def _render(text: str, facts: ClusterFacts, secrets: frozenset[str] = frozenset()) -> tuple[Any, bool, str | None]:
    """Substitute ``{{ cluster.* }}``; keep ``{{ identity.* }}`` for deploy time.

    Returns (value, has deploy-time placeholders, problem). A string that is exactly one cluster
    placeholder takes the fact's own type, so ``replicas: "{{ cluster.nodes }}"`` stays an integer.
    """
    pending = False
    problem: str | None = None

    def sub(m: re.Match[str]) -> str:
        nonlocal pending, problem
        namespace, rest = m.group(1), m.group(2).lstrip(".")
        if namespace == "cluster":
            try:
                return str(_fact(facts, rest))
            except KeyError:
                problem = f"unknown cluster fact {rest!r} in {m.group(0)!r}"
                return m.group(0)
        if namespace == "identity" and rest in IDENTITY_KEYS:
            pending = True
            return m.group(0)
        if namespace == "secret":
            if rest in secrets:
                pending = True
                return m.group(0)
            problem = f"{m.group(0)!r}: secret placeholders come only from secret variables an environment sets"
            return m.group(0)
        keys = "|".join(sorted(IDENTITY_KEYS))
        problem = f"unknown placeholder {m.group(0)!r} (use cluster.<fact> or identity.<{keys}>)"
        return m.group(0)

    whole = PLACEHOLDER.fullmatch(text.strip())
    if whole and whole.group(1) == "cluster":
        try:
            return _fact(facts, whole.group(2).lstrip(".")), False, None
        except KeyError:
            return text, False, f"unknown cluster fact {whole.group(2).lstrip('.')!r} in {text!r}"
    rendered = PLACEHOLDER.sub(sub, text)
    if problem:
        return text, pending, problem
    return (rendered if rendered != text else text), pending, None


_MISSING = object()


def _fact_or_missing(facts: ClusterFacts, dotted: str) -> Any:
    try:
        return _fact(facts, dotted)
    except KeyError:
        return _MISSING


def _fact_refs_in(value: Any) -> set[str]:
    """The ``{{ cluster.<fact> }}`` a values tree (or any nesting of maps and lists) templates."""
    if isinstance(value, str):
        return {m.group(2).lstrip(".") for m in PLACEHOLDER.finditer(value) if m.group(1) == "cluster"}
    if isinstance(value, Mapping):
        value = list(value.values())
    if isinstance(value, list | tuple):
        return set().union(*(_fact_refs_in(v) for v in value))
    return set()


def _compiled_fact_refs(compiled: _Compiled) -> tuple[str, ...] | None:
    """The facts a composition's values template, sorted; None when a pack has an identity (its grants are
    scoped by templates reading any fact), so clusters of that composition never share packs."""
    if any(found.pack.identity is not None for found in compiled.packs.values()):
        return None
    refs: set[str] = set()
    for name, paths in compiled.templated.items():
        for path in paths:
            refs |= _fact_refs_in(_maybe_get(compiled.values[name], path))
    return tuple(sorted(refs))


def _freeze(value: Any) -> Any:
    """A hashable image of plain data that tells apart whatever a plan would show differently: types (1,
    1.0, True, "1"), key order (values keep it) and lists from tuples."""
    if isinstance(value, Mapping):
        return (type(value).__name__, tuple((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return (type(value).__name__, tuple(_freeze(v) for v in value))
    if isinstance(value, BaseModel):
        return (type(value).__name__, _freeze(value.model_dump()))
    try:
        hash(value)
    except TypeError:
        return (type(value).__name__, repr(value))
    return (type(value).__name__, value)


def _fact(facts: ClusterFacts, dotted: str) -> Any:
    if not dotted:
        raise KeyError(dotted)
    return facts.lookup(dotted)
