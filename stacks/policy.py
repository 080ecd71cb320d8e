"""The policy rules (policy/rules.py) evaluated offline on an environment's cluster specs and resolved plans.

``check_environment`` (stacks/plan.py) calls :func:`check_policy` for every cluster it has resolved, so
``strata plan``, ``strata check`` and the Pulumi program give one verdict: a mandatory violation is a plan
error naming the file and field path to edit, an advisory one is reported and lets the plan pass. The
CrossGuard pack (policy/__main__.py) runs the very same rule functions on the resources a deployment
registers; this module only builds the rules' views from specs and plans and points each violation back at
the line that caused it.

Levels, lowest first: every rule is ``mandatory`` in production and ``advisory`` elsewhere; each of the
cluster's profiles sets its levels in order (and may lock one); the environment's ``strata:policy.rules``
sets the rest. Changing a locked level is an error naming the profile, exactly as for drift policy.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

import packs.levels
from components.clusters.spec import (
    AksClusterSpec,
    AksSettings,
    EdgeClusterSpec,
    EksClusterSpec,
    GkeClusterSpec,
    read_settings,
)
from packs.catalogue import Catalogue
from packs.errors import PlanError
from packs.levels import LevelKind
from packs.model import HelmSource, ManifestSource, Profile, settings_group
from packs.resolve import ResolvedPack
from policy.rules import (
    RULES,
    AksCluster,
    CloudResource,
    EdgeSite,
    EksCluster,
    GkeCluster,
    GkeNodePool,
    HelmChart,
    Level,
    Params,
    Protectable,
    Rule,
    Values,
    Violation,
    Workload,
    chart_images,
    default_levels,
    pod_images,
)
from stacks.environment import ClusterEntry, Environment

#: How strata writes a secret variable into values: the real value replaces it at deploy time, as a secret.
SECRET_MARKER = "{{ secret."
#: Targets whose component creates cloud resources (and so tags them).
_CLOUD = {"eks", "aks", "gke"}


@dataclass(frozen=True)
class PolicyFinding:
    """A violation located in the user's files, with the level it is enforced at for its cluster."""

    rule: str
    level: Level
    cluster: str
    file: str
    path: str
    message: str

    @property
    def fix(self) -> str:
        return RULES[self.rule].fix

    def as_error(self) -> PlanError:
        return PlanError(self.file, self.path, f"policy {self.rule}: {self.message}; {self.fix}", self.cluster)

    def as_dict(self) -> dict[str, str]:
        return {
            "rule": self.rule,
            "level": self.level.value,
            "cluster": self.cluster,
            "file": self.file,
            "path": self.path,
            "message": self.message,
            "fix": self.fix,
        }


@dataclass
class PolicyVerdict:
    findings: list[PolicyFinding] = field(default_factory=list)
    errors: list[PlanError] = field(default_factory=list)  # bad levels: unknown rules, crossed locks

    @property
    def mandatory(self) -> list[PolicyFinding]:
        return [f for f in self.findings if f.level is Level.MANDATORY]

    @property
    def advisory(self) -> list[PolicyFinding]:
        return [f for f in self.findings if f.level is Level.ADVISORY]


def params_for(environment: Environment) -> Params:
    settings = environment.settings.policy
    return Params(
        production=environment.settings.production,
        allowed_repositories=settings.allowed_repositories,
        required_tags=settings.required_tags,
    )


#: Enforcement levels per rule, as profiles (``policy.rules``, ``policy.locks``) set them.
POLICY: LevelKind[str, Level] = LevelKind(
    of_profile=lambda p: (p.policy.rules, p.policy.locks), section="policy.rules", noun="policy rule"
)


def resolve_levels(
    production: bool,
    profiles: Sequence[tuple[Profile, str]],
    requested: Mapping[str, Level],
    file: str,
    field_path: str = 'config."strata:policy".rules',
) -> tuple[dict[str, Level], list[PlanError]]:
    """The level of every rule for a cluster with ``profiles`` ((profile, its file), in order) in an environment
    requesting ``requested`` (at ``file``), by the rule drift levels follow too (packs/levels.py). Returns every
    error, never raises."""
    return packs.levels.resolve_levels(POLICY, default_levels(production), profiles, requested, file, field_path)


# --------------------------------------------------------------------------------------- views of a cluster

#: A view and how to point each of its fields at the user's files: field -> (file, path).
Located = tuple[Any, "Locator"]


@dataclass(frozen=True)
class Locator:
    """Turns a violation's field into (file, field path): the cluster's own field by default, or an explicit
    place for fields that come from a profile, a pack or the environment's tags."""

    file: str
    base: str
    places: Mapping[str, tuple[str, str]] = field(default_factory=dict)

    def __call__(self, fld: str) -> tuple[str, str]:
        if fld in self.places:
            return self.places[fld]
        head = fld.split(".", 1)[0].split("[", 1)[0]
        if head in self.places:
            file, path = self.places[head]
            return file, path + fld[len(head) :]
        return self.file, f"{self.base}.{fld}" if fld else self.base


def _setting_place(cp_packs: Sequence[ResolvedPack], entry: ClusterEntry, group: str, leaf: str) -> tuple[str, str]:
    """Where a cluster setting was set: the profile (or pack) line, as the plan's own errors point."""
    pack = next((p for p in cp_packs if settings_group(p.source) == group), None)
    origin = pack.provenance.get(leaf) if pack is not None else None
    if origin is not None:
        return origin.file, origin.path
    if pack is not None:
        return f"{pack.folder}/pack.yaml" if pack.folder else pack.profile, f"values.{leaf}"
    return entry.file, entry.field


def cluster_views(environment: Environment, entry: ClusterEntry, packs: Sequence[ResolvedPack]) -> Iterator[Located]:
    """Every view of one cluster's spec: control plane, node pools, protection, tags, edge hosts."""
    spec = entry.spec
    here = Locator(entry.file, entry.field)
    target = spec.target.value
    tags_place = {"tags": (environment.file, 'config."strata:tags"')}
    if isinstance(spec, EksClusterSpec):
        yield (
            EksCluster(
                spec.name,
                endpoint_public_access=spec.endpoint_public_access,
                public_access_cidrs=spec.public_access_cidrs,
                secrets_encryption=spec.secrets_encryption,
                log_types=spec.log_types,
            ),
            here,
        )
    elif isinstance(spec, AksClusterSpec):
        groups = {g: p.values for p in packs if (g := settings_group(p.source)) is not None}
        settings = read_settings(AksSettings, groups)
        yield (
            # The AKS component always disables local accounts and enables Kubernetes and Azure RBAC.
            AksCluster(
                spec.name,
                private_cluster=spec.private_cluster,
                authorized_ip_ranges=spec.authorized_ip_ranges,
                local_accounts_disabled=True,
                rbac=True,
                azure_rbac=True,
                network_policy=settings.network.network_policy,
            ),
            Locator(
                entry.file,
                entry.field,
                {"network_policy": _setting_place(packs, entry, "network", "network_policy")},
            ),
        )
    elif isinstance(spec, GkeClusterSpec):
        # The GKE component always sets the workload pool and shielded nodes (secure boot, integrity).
        yield (
            GkeCluster(
                spec.name,
                private_nodes=spec.private_nodes,
                workload_pool=f"{spec.project}.svc.id.goog",
                release_channel=spec.release_channel,
                shielded_nodes=True,
            ),
            here,
        )
        for i, pool in enumerate(spec.node_pools):
            pool_place = Locator(entry.file, f"{entry.field}.node_pools[{i}]")
            yield GkeNodePool(f"{spec.name}/{pool.name}", secure_boot=True, integrity_monitoring=True), pool_place
    elif isinstance(spec, EdgeClusterSpec):
        # An inventory row is one line of a CSV: its host key is a column, not a nested field.
        row = {"hosts[0].host_key": (entry.file, f"{entry.field}, column host_key")}
        site = EdgeSite(spec.name, tuple((h.name, h.host_key is not None) for h in spec.hosts))
        yield site, Locator(entry.file, entry.field, row if entry.file.endswith(".csv") else {})
    if target in _CLOUD or isinstance(spec, EdgeClusterSpec):
        protected = environment.protect(spec)
        yield Protectable("cluster", spec.name, protected), here
        for node_pool in spec.node_pools_list():
            yield Protectable("node pool", f"{spec.name}/{node_pool.name}", protected), here
    if target in _CLOUD:
        yield CloudResource(f"{target} cluster", spec.name, environment.tags(spec)), Locator(
            entry.file, entry.field, tags_place
        )


# ----------------------------------------------------------------------------------------- views of a pack


def _pack_file(pack: ResolvedPack) -> str:
    return f"{pack.folder}/pack.yaml" if pack.folder else pack.profile


def _value_place(pack: ResolvedPack, path: str) -> tuple[str, str]:
    """The file and field that set a value of a pack: its provenance, or the pack's values.yaml."""
    origin = pack.provenance.get(path)
    if origin is not None:
        return origin.file, origin.path
    return (f"{pack.folder}/values.yaml" if pack.folder else pack.profile), path


_MANIFEST_CACHE: dict[str, tuple[tuple[str, str], ...]] = {}


def _manifest_images(folder: str, files: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """Container images of the manifests a pack applies, as (``file: kind/name.containers[i].image``, image)."""
    key = f"{folder}|{'|'.join(files)}"
    if key in _MANIFEST_CACHE:
        return _MANIFEST_CACHE[key]
    found: list[tuple[str, str]] = []
    for name in files:
        path = Path(folder) / name
        try:
            docs = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
        except (OSError, yaml.YAMLError):
            continue  # the catalogue lint reports unreadable manifests
        for doc in docs:
            if not isinstance(doc, dict):
                continue
            where = f"{name}: {doc.get('kind')}/{(doc.get('metadata') or {}).get('name')}"
            found.extend((f"{where}.{p}", image) for p, image in pod_images(doc))
    _MANIFEST_CACHE[key] = tuple(found)
    return _MANIFEST_CACHE[key]


_PACK_CACHE: dict[tuple[str, int, Params], tuple[Mapping[str, Any], list[tuple[Violation, str]]]] = {}


def pack_violations(pack: ResolvedPack, params: Params, enabled: set[str]) -> list[tuple[Violation, str]]:
    """A pack's violations (with the kind of place each points at), remembered per pack version, values
    object and parameters: the sites of a fleet share their packs' values, so each is judged once, not once
    per site. The values object is kept with the verdict, so a later object at the same address is judged
    afresh."""
    key = (pack.ref, id(pack.values), params)
    cached = _PACK_CACHE.get(key)
    if cached is not None and cached[0] is pack.values:
        return [v for v in cached[1] if v[0].rule in enabled]
    out: list[tuple[Violation, str]] = []
    source = pack.source
    if isinstance(source, HelmSource):
        chart = HelmChart(pack.ref, source.chart, source.version, source.repository)
        out.extend((v, "source") for v in RULES["helm-chart-pinned"](chart, params))
        images = tuple(chart_images(pack.values))
        out.extend((v, "values") for v in RULES["image-tag-pinned"](Workload("chart value", pack.ref, images), params))
    elif isinstance(source, ManifestSource) and pack.folder:
        images = _manifest_images(pack.folder, source.files)
        out.extend((v, "manifest") for v in RULES["image-tag-pinned"](Workload("manifest", pack.ref, images), params))
    out.extend(
        (v, "values") for v in RULES["credentials-as-secrets"](Values(pack.ref, pack.values, SECRET_MARKER), params)
    )
    if len(_PACK_CACHE) < 4096:
        _PACK_CACHE[key] = (pack.values, out)
    return [v for v in out if v[0].rule in enabled]


def _locate_pack(pack: ResolvedPack, violation: Violation, kind: str) -> tuple[str, str]:
    if kind == "source":
        return _pack_file(pack), f"source.{violation.field}"
    if kind == "manifest":
        file, _, where = violation.field.partition(": ")
        return f"{pack.folder}/{file}", where
    return _value_place(pack, violation.field)


# ------------------------------------------------------------------------------------------------ the check


def check_policy(
    environment: Environment,
    plans: Sequence[Any],
    catalogue: Catalogue,
    extra: Sequence[tuple[str, Located]] = (),
) -> PolicyVerdict:
    """Evaluate every rule on every planned cluster (``plans`` are stacks.plan.ClusterPlan) and on ``extra``
    views (cluster name, (view, locator)), each at its cluster's level."""
    verdict = PolicyVerdict()
    params = params_for(environment)
    levels_by_profiles: dict[tuple[str, ...], dict[str, Level]] = {}
    reported: set[tuple[str, str, str]] = set()

    def levels_for(profiles: tuple[str, ...]) -> dict[str, Level]:
        if profiles not in levels_by_profiles:
            loaded = catalogue.loaded_profiles(profiles)
            levels, errors = resolve_levels(
                environment.settings.production, loaded, environment.settings.policy.rules, environment.file
            )
            for e in errors:
                if (e.file, e.path, e.message) not in reported:
                    reported.add((e.file, e.path, e.message))
                    verdict.errors.append(e)
            levels_by_profiles[profiles] = levels
        return levels_by_profiles[profiles]

    def add(cluster: str, level: Level, violation: Violation, place: tuple[str, str]) -> None:
        verdict.findings.append(PolicyFinding(violation.rule, level, cluster, place[0], place[1], violation.message))

    # The rules enabled for a composition that can judge a kind of view, in the order the levels list them.
    rules_for: dict[tuple[tuple[str, ...], type], list[tuple[Rule, Level]]] = {}

    def applicable(profiles: tuple[str, ...], view: Any) -> list[tuple[Rule, Level]]:
        key = (profiles, type(view))
        found = rules_for.get(key)
        if found is None:
            found = [
                (RULES[r], level)
                for r, level in levels_for(profiles).items()
                if level is not Level.DISABLED and isinstance(view, RULES[r].subjects)
            ]
            rules_for[key] = found
        return found

    # Packs' findings per packs tuple: clusters whose resolver shared their packs share these findings too.
    # The tuple is kept with them, so another tuple at the same address is judged afresh.
    pack_findings: dict[tuple[int, tuple[str, ...]], tuple[Any, list[tuple[Violation, Level, tuple[str, str]]]]] = {}

    def packs_judged(packs: Sequence[ResolvedPack], profiles: tuple[str, ...]) -> list[Any]:
        key = (id(packs), profiles)
        hit = pack_findings.get(key)
        if hit is None or hit[0] is not packs:
            levels = levels_for(profiles)
            enabled = {r for r, level in levels.items() if level is not Level.DISABLED}
            found = [
                (violation, levels[violation.rule], _locate_pack(pack, violation, kind))
                for pack in packs
                for violation, kind in pack_violations(pack, params, enabled)
            ]
            hit = pack_findings[key] = (packs, found)
        return hit[1]

    by_name: dict[str, Any] = {}
    for cp in plans:
        entry = cp.entry
        name = entry.spec.name
        by_name[name] = cp
        profiles = entry.spec.profiles
        for view, locate in cluster_views(environment, entry, cp.plan.packs):
            for rule, level in applicable(profiles, view):
                for violation in rule(view, params):
                    add(name, level, violation, locate(violation.field))
        for violation, level, place in packs_judged(cp.plan.packs, profiles):
            add(name, level, violation, place)
    for cluster, (view, locate) in extra:
        cp = by_name.get(cluster)
        levels = levels_for(cp.entry.spec.profiles) if cp is not None else default_levels(params.production)
        for r, level in levels.items():
            if level is Level.DISABLED:
                continue
            for violation in RULES[r](view, params):
                add(cluster, level, violation, locate(violation.field))
    return verdict


def summarize(findings: Sequence[PolicyFinding]) -> list[str]:
    """One line per rule: how many findings on how many clusters (a fleet's 240 sites are one line)."""
    by_rule: dict[str, set[str]] = {}
    counts: dict[str, int] = {}
    for f in findings:
        by_rule.setdefault(f.rule, set()).add(f.cluster)
        counts[f.rule] = counts.get(f.rule, 0) + 1
    lines = []
    for rule, clusters in by_rule.items():
        shown = sorted(clusters)
        names = ", ".join(shown[:3]) + (f" ... (+{len(shown) - 3})" if len(shown) > 3 else "")
        lines.append(f"{rule}: {counts[rule]} finding(s) on {names}")
    return lines
