"""Plan an environment offline: every cluster resolved against the catalogue, every error collected.

This is what ``strata plan`` prints and what the Pulumi program runs first: nothing is registered with
Pulumi until the whole environment has resolved cleanly.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from components.clusters.spec import parse_settings
from packs.catalogue import PACKS_DIR, Catalogue, load_catalogue
from packs.drift import resolve_drift
from packs.errors import PlanError, PlanErrors, from_validation
from packs.model import DriftAction, Layer
from packs.resolve import ClusterRequest, ResolvedPlan, Resolver
from stacks.environment import CONFIG_DIR, ClusterEntry, Environment, load_environment

PLAN_SCHEMA = "strata.plan/v1"


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a fleet is planned or serialised.

    A plan allocates hundreds of thousands of small, acyclic objects; the collector would rescan that
    growing heap again and again (it cost more than the planning itself at 10,000 sites). Reference
    counting still frees everything, and the collector is restored afterwards.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@dataclass(frozen=True)
class ClusterPlan:
    entry: ClusterEntry
    plan: ResolvedPlan
    #: Drift remediation per layer (profiles' defaults and locks, then the environment's strata:drift).
    drift: Mapping[Layer, DriftAction] = field(default_factory=dict)

    def as_dict(self, explain: bool = False) -> dict[str, Any]:
        return {**self.plan.as_dict(explain), "drift": {layer.value: a.value for layer, a in self.drift.items()}}


@dataclass(frozen=True)
class EnvironmentPlan:
    environment: Environment
    clusters: tuple[ClusterPlan, ...]

    def as_dict(self, explain: bool = False) -> dict[str, Any]:
        """The documented ``--json`` document (schema ``strata.plan/v1``)."""
        with collector_paused():
            return self._as_dict(explain)

    def _as_dict(self, explain: bool) -> dict[str, Any]:
        return {
            "schema": PLAN_SCHEMA,
            "environment": self.environment.name,
            "production": self.environment.settings.production,
            "stacks": self.environment.settings.stacks,
            "clusters": [c.as_dict(explain) for c in self.clusters],
        }


def request_for(entry: ClusterEntry) -> ClusterRequest:
    spec = entry.spec
    return ClusterRequest(
        facts=spec.facts_for_plan(),
        profiles=spec.profiles,
        variables=spec.variables,
        overrides=spec.overrides,
        file=entry.file,
        field=entry.field,
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
            profiles = [
                (catalogue.profiles[ref].profile, str(catalogue.profiles[ref].file))
                for ref in (tuple(p.split("@", 1)) for p in entry.spec.profiles)
                if ref in catalogue.profiles
            ]
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
        if not pack.cluster_setting:
            continue
        try:
            parse_settings(entry.spec, {pack.source.name: pack.values})
        except ValidationError as exc:
            for err in from_validation(exc, "", ""):
                leaf = err.path.removeprefix(f"{pack.source.name}.")
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


def plan_environment(
    name: str,
    cluster: str | None = None,
    config_dir: Path = CONFIG_DIR,
    packs_dir: Path = PACKS_DIR,
    catalogue: Catalogue | None = None,
) -> EnvironmentPlan:
    """Load, validate and resolve an environment (optionally one cluster); raise PlanErrors on any problem."""
    with collector_paused():
        return _plan_environment(name, cluster, config_dir, packs_dir, catalogue)


def _plan_environment(
    name: str, cluster: str | None, config_dir: Path, packs_dir: Path, catalogue: Catalogue | None
) -> EnvironmentPlan:
    environment = load_environment(name, config_dir)
    catalogue = catalogue or load_catalogue(packs_dir)
    entries = environment.clusters
    if cluster is not None:
        try:
            entries = (environment.cluster(cluster),)
        except KeyError:
            names = [e.spec.name for e in environment.clusters]
            shown = ", ".join(names[:10]) + (" ..." if len(names) > 10 else "")
            raise PlanErrors(
                [PlanError(environment.file, "", f"no cluster {cluster!r} in environment {name} ({shown})")]
            ) from None
    plans, errors = plan_clusters(entries, catalogue, environment.settings.drift, environment.file)
    if errors:
        raise PlanErrors(errors)
    return EnvironmentPlan(environment, tuple(plans))
