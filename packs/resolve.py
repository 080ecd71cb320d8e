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

from packs.catalogue import CatalogPack, Catalogue
from packs.errors import PlanError, PlanErrors
from packs.model import (
    SINGLE_PACK_LAYERS,
    ClusterFacts,
    Identity,
    Layer,
    ManagedService,
    Pack,
    ProfileKind,
    SecretRef,
    Source,
    Variable,
    parse_ref,
)
from packs.paths import Path, format_path, is_prefix, leaves, parse_path, with_value

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)((?:\.[A-Za-z0-9_\-/]+)*)\s*\}\}")
#: Deploy-time placeholders the pack stack fills once the pack's cloud identity exists.
IDENTITY_KEYS = frozenset({"aws_role_arn", "azure_client_id", "gcp_service_account"})


@dataclass(frozen=True, slots=True)
class Provenance:
    """Who set a value leaf: the kind of source, the file and the field path inside it."""

    source: str  # pack | variable-default | overlay | profile | profile-variable | env-variable | env-override
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
    profile: str
    values: Mapping[str, Any]
    provenance: Mapping[str, Provenance]
    locks: tuple[str, ...]
    after: tuple[str, ...]
    provides: tuple[str, ...]
    requires: tuple[str, ...]
    identity: Identity | None
    deferred: tuple[str, ...]
    folder: str = ""  # the pack's catalogue folder (manifest files live there); not part of the plan JSON
    secrets: Mapping[str, SecretRef] = field(default_factory=dict)  # secret variable -> where its value comes from
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
    def cluster_setting(self) -> bool:
        """Realised by the cluster component itself rather than installed into the cluster."""
        return self.source.kind == "managed" and self.source.service is ManagedService.CLUSTER

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
            "secrets": {k: v.model_dump(exclude_none=True) for k, v in sorted(self.secrets.items())},
        }
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
        return {p.source.name: p.values for p in self.packs if p.cluster_setting}

    def pack(self, name: str) -> ResolvedPack:
        return next(p for p in self.packs if p.name == name)

    def as_dict(self, explain: bool = False) -> dict[str, Any]:
        return {
            "name": self.cluster.name,
            "target": self.cluster.target.value,
            "region": self.cluster.region,
            "kubernetes_version": self.cluster.kubernetes_version,
            "labels": self.cluster.labels,
            "profiles": list(self.profiles),
            "packs": [p.as_dict(explain) for p in self.packs],
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

    def at(self, suffix: str) -> str:
        return f"{self.field}.{suffix}" if self.field else suffix


# ----------------------------------------------------------------------------------------- compile


@dataclass
class _Compiled:
    """A profile composition compiled for one (target, version, capabilities): shared by many clusters."""

    order: list[str]
    packs: dict[str, CatalogPack]
    profile_of: dict[str, str]
    after: dict[str, tuple[str, ...]]
    values: dict[str, dict[str, Any]]
    provenance: dict[str, dict[str, Provenance]]
    locks: dict[str, tuple[Path, ...]]
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


class Resolver:
    """Resolves clusters against one catalogue, caching compiled profile compositions."""

    def __init__(self, catalogue: Catalogue) -> None:
        self.catalogue = catalogue
        self._cache: dict[tuple[Any, ...], _Compiled] = {}

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
        packs = self._apply(compiled, request, errors)
        if errors:
            return None, errors
        return ResolvedPlan(facts, request.profiles, packs), []

    # ------------------------------------------------------------------ phase 1
    def _compile(self, request: ClusterRequest) -> _Compiled:
        facts = request.facts
        target = facts.target
        errors: list[PlanError] = []
        cluster = facts.name
        kube = Version(facts.kubernetes_version)

        entries: list[tuple[Any, int, Any]] = []  # (catalog profile, index, entry)
        for i, ref in enumerate(request.profiles):
            where = request.at(f"profiles[{i}]")
            name, version = parse_ref(ref)
            loaded = self.catalogue.profile(name, version)
            if loaded is None:
                known = self.catalogue.profile_versions(name)
                hint = f"; known versions: {', '.join(known)}" if known else "; no profile has that name"
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
                    entries.append((loaded, j, entry))

        packs: dict[str, CatalogPack] = {}
        profile_of: dict[str, str] = {}
        entry_of: dict[str, tuple[Any, int, Any]] = {}
        position: dict[str, int] = {}
        last_rank: dict[str, tuple[int, str]] = {}
        for loaded, j, entry in entries:
            profile = loaded.profile
            where = f"layers[{j}].pack"
            name, version = entry.pack_name, entry.pack_version
            if name in packs:
                errors.append(
                    PlanError(
                        loaded.file,
                        where,
                        f"pack {name} is already provided by profile {profile_of[name]} on this cluster",
                        cluster,
                    )
                )
                continue
            found = self.catalogue.pack(name, version)
            if found is None:
                known = self.catalogue.versions(name)
                hint = f"; known versions: {', '.join(known)}" if known else "; no pack has that name"
                errors.append(PlanError(loaded.file, where, f"unknown pack {entry.pack}{hint}", cluster))
                continue
            pack = found.pack
            prev = last_rank.get(profile.ref)
            if prev is not None and pack.layer.rank < prev[0]:
                errors.append(
                    PlanError(
                        loaded.file,
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
                        loaded.file,
                        where,
                        f"add-on profiles hold only add-on packs; {name} is {pack.layer.value}",
                        cluster,
                    )
                )
            if target not in pack.constraints.targets:
                errors.append(
                    PlanError(
                        loaded.file,
                        where,
                        f"pack {pack.ref} does not support target {target.value} "
                        f"(supports {', '.join(t.value for t in pack.constraints.targets)})",
                        cluster,
                    )
                )
            if kube not in SpecifierSet(pack.constraints.kubernetes):
                errors.append(
                    PlanError(
                        request.file,
                        request.at("kubernetes_version"),
                        f"Kubernetes {facts.kubernetes_version} is outside the range of pack {pack.ref} "
                        f"({pack.constraints.kubernetes}, {found.file})",
                        cluster,
                    )
                )
            packs[name] = found
            profile_of[name] = profile.ref
            entry_of[name] = (loaded, j, entry)
            position[name] = len(position)

        for layer in SINGLE_PACK_LAYERS:
            members = [n for n, p in packs.items() if p.pack.layer is layer]
            if len(members) > 1:
                loaded, j, _ = entry_of[members[1]]
                errors.append(
                    PlanError(
                        loaded.file,
                        f"layers[{j}].pack",
                        f"the {layer.value} layer holds one pack per cluster; found {', '.join(members)}",
                        cluster,
                    )
                )

        # Dependencies and capabilities -> graph edges.
        providers: dict[str, list[str]] = {}
        for name, found in packs.items():
            for cap in found.pack.provides:
                providers.setdefault(cap, []).append(name)
        graph: dict[str, set[str]] = {name: set() for name in packs}
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

        # Layer edges: every pack comes after the packs of the nearest lower non-empty layer.
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

        # Direct predecessors after transitive reduction: enough for deployment order (and so the reverse
        # teardown), and short enough to read in a plan.
        after: dict[str, tuple[str, ...]] = {}
        if not errors:
            rank = {n: i for i, n in enumerate(order)}
            ancestors: dict[str, set[str]] = {}
            for name in order:
                preds = graph[name]
                ancestors[name] = set().union(*(ancestors[p] | {p} for p in preds)) if preds else set()
                implied = set().union(*(ancestors[p] for p in preds)) if preds else set()
                after[name] = tuple(sorted(preds - implied, key=rank.__getitem__))

        values: dict[str, dict[str, Any]] = {}
        provenance: dict[str, dict[str, Provenance]] = {}
        locks: dict[str, tuple[Path, ...]] = {}
        exposed: dict[str, tuple[Variable, str]] = {}
        required: dict[str, set[str]] = {}
        templated: dict[str, list[Path]] = {}
        for name in order:
            found = packs[name]
            pack = found.pack
            loaded, j, entry = entry_of[name]
            prov: dict[str, Provenance] = {}
            vals: dict[str, Any] = {}
            vals = _merge_leaves(vals, prov, found.values, "pack", found.values_file or found.file, "")
            for i, var in enumerate(pack.variables):
                if var.default is not None:
                    vals = with_value(vals, parse_path(var.path), var.default)
                    _record(
                        prov,
                        parse_path(var.path),
                        Provenance("variable-default", found.file, f"variables[{i}].default"),
                    )
            overlay = pack.overlays.get(target)
            if overlay:
                vals = _merge_leaves(vals, prov, overlay, "overlay", found.file, f"overlays.{target.value}")
            vals = _merge_leaves(vals, prov, entry.values, "profile", loaded.file, f"layers[{j}].values")
            need = {v.name for v in pack.variables if v.required or target in v.required_on}
            for var_name, value in entry.variables.items():
                where = f"layers[{j}].variables.{var_name}"
                var = pack.variable(var_name)
                if var is None:
                    errors.append(
                        PlanError(loaded.file, where, f"pack {pack.ref} has no variable {var_name!r}", cluster)
                    )
                    continue
                problem = (
                    "secret variables are set by environments, never in a shared profile"
                    if var.secret
                    else var.check(value)
                )
                if problem:
                    errors.append(PlanError(loaded.file, where, problem, cluster))
                    continue
                vals = with_value(vals, parse_path(var.path), value)
                _record(prov, parse_path(var.path), Provenance("profile-variable", loaded.file, where))
                need.discard(var_name)
            pack_locks = tuple(parse_path(p) for p in entry.locks)
            for var_name in entry.expose:
                where = f"layers[{j}].expose"
                var = pack.variable(var_name)
                if var is None:
                    errors.append(
                        PlanError(loaded.file, where, f"pack {pack.ref} has no variable {var_name!r}", cluster)
                    )
                    continue
                lock = _locked_by(pack_locks, parse_path(var.path))
                if lock is not None:
                    errors.append(
                        PlanError(
                            loaded.file,
                            where,
                            f"variable {var_name!r} writes {var.path}, which the profile locks ({format_path(lock)})",
                            cluster,
                        )
                    )
                    continue
                exposed[f"{name}.{var_name}"] = (var, loaded.profile.ref)
            for path_text in [k for k, v in _identity_uses(vals)]:
                if pack.identity is None:
                    errors.append(
                        PlanError(
                            prov.get(path_text, Provenance("", found.file, path_text)).file,
                            prov.get(path_text, Provenance("", found.file, path_text)).path,
                            f"pack {pack.ref} uses an identity placeholder but declares no identity",
                            cluster,
                        )
                    )
            values[name] = vals
            provenance[name] = prov
            locks[name] = pack_locks
            required[name] = need
            templated[name] = _templated(vals)

        sized = [packs[n].pack for n in order if not _cluster_setting(packs[n].pack)]
        biggest = max(sized, key=lambda p: p.constraints.resources.nodes, default=None)
        return _Compiled(
            order=order,
            packs=packs,
            profile_of=profile_of,
            after=after,
            values=values,
            provenance=provenance,
            locks=locks,
            exposed=exposed,
            required=required,
            templated=templated,
            nodes=biggest.constraints.resources.nodes if biggest else 1,
            cpu=sum(p.constraints.resources.cpu_millicores for p in sized),
            memory=sum(p.constraints.resources.memory_mib for p in sized),
            errors=errors,
            sizing=biggest.ref if biggest else "",
        )

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
            where = request.at(f"variables.{key}")
            pack_name, _, var_name = key.partition(".")
            if pack_name not in compiled.packs:
                errors.append(PlanError(request.file, where, f"no pack {pack_name!r} in this cluster's plan", cluster))
                continue
            pack = compiled.packs[pack_name].pack
            var = pack.variable(var_name)
            if var is None:
                known = ", ".join(v.name for v in pack.variables) or "none"
                errors.append(
                    PlanError(
                        request.file,
                        where,
                        f"unknown variable {var_name!r} of pack {pack.ref} (known: {known})",
                        cluster,
                    )
                )
                continue
            if key not in compiled.exposed:
                errors.append(
                    PlanError(
                        request.file,
                        where,
                        f"variable {key} is not exposed by profile {compiled.profile_of[pack_name]}; ask its owners "
                        "to expose it",
                        cluster,
                    )
                )
                continue
            problem = var.check(value)
            if problem:
                errors.append(PlanError(request.file, where, problem, cluster))
                continue
            path = parse_path(var.path)
            if var.secret:
                # Only the reference travels; the value is read at deploy time, as a Pulumi secret.
                secrets.setdefault(pack_name, {})[var_name] = SecretRef.model_validate(value)
                value = f"{{{{ secret.{var_name} }}}}"
            values[pack_name] = with_value(values[pack_name], path, value)
            prov = dict(provenance[pack_name])
            _record(prov, path, Provenance("env-variable", request.file, where))
            provenance[pack_name] = prov
            set_vars.setdefault(pack_name, set()).add(var_name)
            if _has_placeholder(value):
                extra_templated.setdefault(pack_name, []).append(path)

        for pack_name, tree in request.overrides.items():
            base = request.at(f"overrides.{pack_name}")
            if pack_name not in compiled.packs:
                errors.append(PlanError(request.file, base, f"no pack {pack_name!r} in this cluster's plan", cluster))
                continue
            prov = dict(provenance[pack_name])
            vals = values[pack_name]
            for path, value in leaves(tree):
                key = format_path(path)
                where = f"{base}.{key}"
                lock = _locked_by(compiled.locks[pack_name], path)
                if lock is not None:
                    errors.append(
                        PlanError(
                            request.file,
                            where,
                            f"{format_path(lock)} of pack {pack_name} is locked by profile "
                            f"{compiled.profile_of[pack_name]}",
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
                rendered, pending, problem = _render_value(current, facts, frozenset(secrets.get(name, ())))
                key = format_path(path)
                if problem:
                    origin = provenance[name].get(key, Provenance("", found.file, key))
                    errors.append(PlanError(origin.file, origin.path, problem, cluster))
                    continue
                if pending:
                    deferred.append(key)
                if rendered is not current:
                    vals = with_value(vals, path, rendered)
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
                    identity=pack.identity,
                    deferred=tuple(sorted(set(deferred))),
                    folder=str(found.folder),
                    secrets=secrets.get(name, {}),
                    stateful=pack.owns_data,
                    renamed_from=pack.renamed_from,
                )
            )
        return tuple(resolved)

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


@functools.cache
def _source_dict(source: Source) -> dict[str, Any]:
    """Serialised once per source: ten thousand clusters share a handful of packs (treat as read-only)."""
    return source.model_dump(mode="json", exclude_none=True)


def _cluster_setting(pack: Pack) -> bool:
    return pack.source.kind == "managed" and pack.source.service is ManagedService.CLUSTER


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


def _fact(facts: ClusterFacts, dotted: str) -> Any:
    if not dotted:
        raise KeyError(dotted)
    return facts.lookup(dotted)
