"""Plan an environment offline: every cluster resolved against the catalogue and checked, every error collected.

This is what ``strata plan`` prints and what the Pulumi program runs first (:func:`check_environment`, one
function for both): nothing is registered with Pulumi until the whole environment has resolved and every
cluster has passed its component's rules, so a green plan is a green deployment.
"""

from __future__ import annotations

import contextlib
import gc
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from secrets import token_hex
from typing import Any

from pydantic import ValidationError

from components.clusters.checks import Problem, check_cluster
from components.clusters.secrets import SEALED, ConfigLookup
from components.clusters.spec import parse_settings
from components.delivery.plan import DIRECT, DeliveryPlan, plan_delivery
from components.team_spec import TeamSpacePlan
from packs.catalogue import PACKS_DIR, Catalogue, load_catalogue
from packs.drift import resolve_drift
from packs.errors import PlanError, PlanErrors, from_validation, load_yaml
from packs.model import DriftAction, Layer, SecretRef
from packs.resolve import ClusterRequest, ResolvedPack, ResolvedPlan, Resolver
from policy.rules import Level
from stacks.environment import CONFIG_DIR, ClusterEntry, Environment, TeamsDirs, load_environment
from stacks.policy import PolicyFinding, check_policy
from stacks.reconcile import check_reconcile
from stacks.teams import check_team_plans, plan_teams, team_views

PLAN_SCHEMA = "strata.plan/v1"


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a fleet is planned or serialised.

    A plan allocates hundreds of thousands of small, acyclic objects; the collector would rescan that
    growing heap again and again (it cost more than the planning itself at 10,000 sites). Reference
    counting still frees everything, and the collector is restored afterwards.

    What survives the block (the plan, handed to the caller) is moved straight to the oldest generation: left
    young, the first allocation afterwards would trigger a collection scanning all of it (half a second at
    10,000 sites) only to promote it there. Nothing is exempted: a full collection still examines it.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            if gc.get_freeze_count() == 0:  # never thaw what the process itself froze
                gc.freeze()  # freeze + unfreeze: every tracked object into the oldest generation, without a scan
                gc.unfreeze()
            gc.enable()


@dataclass(frozen=True)
class ClusterPlan:
    entry: ClusterEntry
    plan: ResolvedPlan
    #: Drift remediation per layer (profiles' defaults and locks, then the environment's strata:drift).
    drift: Mapping[Layer, DriftAction] = field(default_factory=dict)
    #: How the plan reaches the cluster: Pulumi or Flux, the chart mirror, the Flux controllers.
    delivery: DeliveryPlan = DIRECT
    #: The team spaces team files put on this cluster (stacks/teams.py).
    teams: tuple[TeamSpacePlan, ...] = ()

    def as_dict(self, explain: bool = False, packs: Any = None) -> dict[str, Any]:
        out = {
            **self.plan.as_dict(explain, packs),
            "drift": {layer.value: a.value for layer, a in self.drift.items()},
            "delivery": self.delivery.as_dict(),
        }
        if self.teams:  # optional in strata.plan/v1: absent where no team lands
            out["teams"] = [t.as_dict() for t in self.teams]
        return out


@dataclass(frozen=True)
class EnvironmentPlan:
    environment: Environment
    clusters: tuple[ClusterPlan, ...]
    #: Secret sources absent where the plan ran (unset variables, missing files): ``pulumi up`` needs them.
    needs: tuple[PlanError, ...] = ()
    #: Policy findings that do not stop the plan (advisory level); ``strata check`` lists them.
    advisories: tuple[PolicyFinding, ...] = ()

    def as_dict(self, explain: bool = False) -> dict[str, Any]:
        """The documented ``--json`` document (schema ``strata.plan/v1``)."""
        with collector_paused():
            return self._as_dict(explain)

    def _as_dict(self, explain: bool, clusters: Any = None) -> dict[str, Any]:
        return {
            "schema": PLAN_SCHEMA,
            "environment": self.environment.name,
            "production": self.environment.settings.production,
            "stacks": self.environment.settings.stacks,
            "clusters": [c.as_dict(explain) for c in self.clusters] if clusters is None else clusters,
        }

    def as_json(self, explain: bool = False) -> str:
        """The ``--json`` document as compact text: exactly ``json.dumps(self.as_dict(explain), separators=(",",
        ":"))``, built for a fleet. Clusters that share their resolved packs (most sites of a fleet) share
        their text too: each distinct packs tuple is encoded once and spliced into every cluster holding it,
        where encoding it per cluster was most of a 10,000-site ``strata plan --json``."""
        with collector_paused():
            # A placeholder no value can hold: the text of the packs (and of the clusters) takes its place.
            slot = f"\x00{token_hex(8)}\x00"
            quoted = json.dumps(slot)
            encoded: dict[int, tuple[tuple[ResolvedPack, ...], str]] = {}
            parts: list[str] = []
            for cp in self.clusters:
                packs = cp.plan.packs
                hit = encoded.get(id(packs))
                if hit is None or hit[0] is not packs:  # the tuple is kept, so its address cannot be reused
                    hit = encoded[id(packs)] = (packs, _compact([p.as_dict(explain) for p in packs]))
                parts.append(_compact(cp.as_dict(explain, slot)).replace(quoted, hit[1], 1))
            return _compact(self._as_dict(explain, slot)).replace(quoted, "[" + ",".join(parts) + "]", 1)


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def request_for(entry: ClusterEntry) -> ClusterRequest:
    """What the resolver is asked for a cluster: its entry, plus the variables team files set on it (checked by
    the resolver like the environment's own, and reported at the team file's line)."""
    spec = entry.spec
    if not entry.team_variables:
        return ClusterRequest(
            facts=spec.facts_for_plan(),
            profiles=spec.profiles,
            variables=spec.variables,
            overrides=spec.overrides,
            file=entry.file,
            field=entry.field,
        )
    team = entry.team_variables
    return ClusterRequest(
        facts=spec.facts_for_plan(),
        profiles=spec.profiles,
        variables={**spec.variables, **{k: v[0] for k, v in team.items()}},
        overrides=spec.overrides,
        file=entry.file,
        field=entry.field,
        origins={k: (v[1], v[2]) for k, v in team.items()},
    )


def plan_clusters(
    entries: Sequence[ClusterEntry],
    catalogue: Catalogue,
    drift: Mapping[Layer, DriftAction] | None = None,
    drift_file: str = "",
) -> tuple[list[ClusterPlan], list[PlanError]]:
    """Resolve clusters, check the profile's cluster settings against each target's settings model and
    resolve each cluster's drift policy (``drift`` is the environment's ``strata:drift``, from ``drift_file``)."""
    resolver = Resolver(catalogue)
    plans: list[ClusterPlan] = []
    errors: list[PlanError] = []
    settings_checked: dict[tuple[Any, ...], list[PlanError]] = {}
    policies: dict[tuple[str, ...], tuple[dict[Layer, DriftAction], list[PlanError]]] = {}
    for entry in entries:
        plan, problems = resolver.try_resolve(request_for(entry))
        errors.extend(problems)
        if plan is None:
            continue
        key = (type(entry.spec), entry.spec.profiles)
        if key not in settings_checked:
            settings_checked[key] = _settings_errors(entry, plan)
        if settings_checked[key]:
            errors.extend(PlanError(e.file, e.path, e.message, entry.spec.name) for e in settings_checked[key])
            continue
        if entry.spec.profiles not in policies:
            profiles = catalogue.loaded_profiles(entry.spec.profiles)
            policies[entry.spec.profiles] = resolve_drift(
                profiles, drift or {}, drift_file or entry.file, 'config."strata:drift"'
            )
            seen = {(e.file, e.path, e.message) for e in errors}
            errors.extend(e for e in policies[entry.spec.profiles][1] if (e.file, e.path, e.message) not in seen)
        plans.append(ClusterPlan(entry, plan, policies[entry.spec.profiles][0]))
    return plans, errors


def _settings_errors(entry: ClusterEntry, plan: ResolvedPlan) -> list[PlanError]:
    """A cluster-settings pack whose values the target's component cannot read is a plan error."""
    errors: list[PlanError] = []
    for pack in plan.packs:
        group = pack.settings_group
        if group is None:
            continue
        try:
            parse_settings(entry.spec, {group: pack.values})
        except ValidationError as exc:
            for err in from_validation(exc, "", ""):
                leaf = err.path.removeprefix(f"{group}.")
                origin = pack.provenance.get(leaf)
                errors.append(
                    PlanError(
                        origin.file if origin else pack.profile,
                        origin.path if origin else leaf,
                        f"pack {pack.ref} sets {entry.spec.target.value} cluster settings the component cannot "
                        f"read: {leaf}: {err.message}",
                    )
                )
    return errors


@dataclass(frozen=True)
class Verdict:
    """What :func:`check_environment` found: the clusters' plans, the errors, and the secrets a deploy needs."""

    plans: list[ClusterPlan]
    errors: list[PlanError]
    needs: list[PlanError]
    #: Every policy finding (mandatory ones are also in ``errors``); see stacks/policy.py.
    policy: list[PolicyFinding] = field(default_factory=list)


def check_environment(
    environment: Environment,
    entries: Sequence[ClusterEntry],
    catalogue: Catalogue,
    config: ConfigLookup | None = None,
) -> Verdict:
    """THE check of an environment, shared by ``strata plan`` and the Pulumi program.

    Resolves every cluster, checks the profiles' cluster settings, then runs every component rule
    (components/clusters/checks) with the tags the component will receive and every secret the cluster and
    its packs read. ``config`` reads ``{config: ...}`` secret references: the stack's configuration in the
    program, the stack's config file in the plan. The program refuses to start on any error or need; the
    plan fails on errors and lists the needs.
    """
    # Team files first (stacks/teams.py): the pack variables they set are resolved with the cluster's own.
    teams = plan_teams(environment, entries)
    entries = [replace(e, team_variables=teams.variables[e.spec.name]) if teams.variables.get(e.spec.name) else e
               for e in entries]
    plans, errors = plan_clusters(entries, catalogue, environment.settings.drift, environment.file)
    plans = _with_delivery(environment, plans, catalogue, errors)
    plans, team_errors = check_team_plans(teams, plans)
    errors.extend(team_errors)
    # Policy rules run last, on the same plans: a mandatory violation is one more plan error (stacks/policy.py).
    needs: list[PlanError] = []
    # A cluster's settings and pack secrets come from its packs alone: built once per packs tuple the resolver
    # shared (the tuple is kept, so another one at the same address is read afresh).
    read: dict[int, tuple[tuple[ResolvedPack, ...], dict[str, Mapping[str, Any]], dict[str, SecretRef]]] = {}
    for cp in plans:
        spec, packs = cp.entry.spec, cp.plan.packs
        known = read.get(id(packs))
        if known is None or known[0] is not packs:
            secrets = {f"variables.{p.name}.{var}": ref for p in packs for var, ref in p.secrets.items()}
            known = read[id(packs)] = (packs, cp.plan.settings(), secrets)
        for found in check_cluster(spec, known[1], environment.tags(spec), known[2], config):
            (needs if found.absent else errors).append(_locate(environment, cp, found))
    errors.extend(check_reconcile(environment, plans, catalogue, environment.config_dir))
    policy = check_policy(environment, plans, catalogue, team_views(plans))
    errors.extend(policy.errors)
    errors.extend(f.as_error() for f in policy.mandatory)
    return Verdict(plans, errors, needs, policy.findings)


def _with_delivery(
    environment: Environment, plans: list[ClusterPlan], catalogue: Catalogue, errors: list[PlanError]
) -> list[ClusterPlan]:
    """Each cluster's delivery (its own ``delivery``/``mirror`` fields, else the environment's), resolved: a
    Flux cluster gets the Flux controllers planned like any profile, so a version Flux cannot run on fails here."""
    resolver = Resolver(catalogue)
    out: list[ClusterPlan] = []
    for cp in plans:
        spec, entry = cp.entry.spec, cp.entry
        mode = spec.delivery or environment.settings.delivery
        where = (
            (entry.file, f"{entry.field}.delivery")
            if spec.delivery is not None
            else (environment.file, 'config."strata:delivery"')
        )
        # The plan already holds the cluster's facts: no second request built from the spec.
        request = ClusterRequest(cp.plan.cluster, spec.profiles, file=entry.file, field=entry.field)
        delivery, problems = plan_delivery(
            mode,
            spec.mirror or environment.settings.mirror,
            cp.plan,
            request,
            resolver,
            where,
            spec.next_delivery or environment.settings.next_delivery,
        )
        errors.extend(problems)
        out.append(replace(cp, delivery=delivery))
    return out


def _locate(environment: Environment, cp: ClusterPlan, found: Problem) -> PlanError:
    """Point a component rule's problem at the line to edit: the cluster's field, the environment's tags, or
    the profile (or pack) that set a cluster setting."""
    entry, name = cp.entry, cp.entry.spec.name
    if found.field == "tags":
        return PlanError(environment.file, 'config."strata:tags"', found.message, name)
    if found.field.startswith("settings."):
        group, _, leaf = found.field.removeprefix("settings.").partition(".")
        pack = next((p for p in cp.plan.packs if p.settings_group == group), None)
        origin = pack.provenance.get(leaf) if pack is not None and leaf else None
        if origin is not None:
            return PlanError(origin.file, origin.path, f"{found.message} (cluster setting {found.field})", name)
        where = f" of pack {pack.ref}" if pack is not None else ""
        return PlanError(entry.file, entry.field, f"cluster setting {found.field}{where}: {found.message}", name)
    path = f"{entry.field}.{found.field}" if found.field else entry.field
    return PlanError(entry.file, path, found.message, name)


def file_config(path: Path, project: str = "strata") -> ConfigLookup:
    """Look ``{config: ...}`` secret references up in a stack config file, as the offline plan must.

    A ``secure:`` value is present but sealed (only the Pulumi engine decrypts it); a bare key belongs to the
    project, as in ``pulumi config set``.
    """
    try:
        raw = load_yaml(path, str(path)) if path.is_file() else None
    except PlanErrors:
        raw = None
    config = raw.get("config") if isinstance(raw, dict) else None
    values: dict[str, Any] = config if isinstance(config, dict) else {}

    def lookup(namespace: str | None, key: str) -> str | None:
        value = values.get(f"{namespace or project}:{key}")
        if value is None:
            return None
        if isinstance(value, dict) and "secure" in value:
            return SEALED
        return value if isinstance(value, str) else json.dumps(value)

    return lookup


def plan_environment(
    name: str,
    cluster: str | None = None,
    config_dir: Path = CONFIG_DIR,
    packs_dir: Path = PACKS_DIR,
    catalogue: Catalogue | None = None,
    teams_dir: TeamsDirs = None,
) -> EnvironmentPlan:
    """Load, validate and resolve an environment (optionally one cluster); raise PlanErrors on any problem.

    ``teams_dir`` holds the team files (default: :func:`stacks.environment.teams_dir_for`); several folders are
    checked together, as one."""
    with collector_paused():
        return _plan_environment(name, cluster, config_dir, packs_dir, catalogue, teams_dir)


def _plan_environment(
    name: str,
    cluster: str | None,
    config_dir: Path,
    packs_dir: Path,
    catalogue: Catalogue | None,
    teams_dir: TeamsDirs = None,
) -> EnvironmentPlan:
    environment = load_environment(name, config_dir, teams_dir=teams_dir)
    catalogue = catalogue or load_catalogue(packs_dir)
    entries = environment.clusters
    if cluster is not None:
        entries = (environment.select(cluster),)
    verdict = check_environment(environment, entries, catalogue, file_config(config_dir / f"Pulumi.{name}.yaml"))
    if verdict.errors:
        raise PlanErrors(verdict.errors)
    advisories = tuple(f for f in verdict.policy if f.level is not Level.MANDATORY)
    needs = sorted(set(verdict.needs), key=lambda e: (e.file, e.path, e.message, e.cluster or ""))
    return EnvironmentPlan(environment, tuple(verdict.plans), tuple(needs), advisories)
