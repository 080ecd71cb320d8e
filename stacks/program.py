"""The Pulumi program behind every environment stack: config -> plan -> clusters -> packs -> exports.

Stack names choose what a run deploys:

- ``<env>`` deploys every cluster of ``stacks/config/Pulumi.<env>.yaml`` (small environments:
  ``strata:stacks: environment``);
- ``<env>.<cluster>`` deploys one cluster, and ``<env>.shard-<i>-of-<n>`` a stable shard of them
  (fleets: ``strata:stacks: cluster``). Those stacks have no config file of their own: the program reads
  the environment's file, so 200 sites do not mean 200 copies of YAML. A fleet is then refreshed,
  updated or destroyed site by site, in parallel, and no preview ever walks the whole fleet.

The rules (and their refusals) live in stacks/naming.py, shared with ``strata stacks``.

Everything is validated -- environment, plans, cluster settings, component arguments -- before the first
resource is registered; a mistake ends the run with the collected errors and creates nothing.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pulumi

from components.clusters import MissingExtraError, build_cluster, component_class
from components.packstack import PackStack, secret_problems
from packs.catalogue import PACKS_DIR, load_catalogue
from packs.errors import PlanError, PlanErrors, load_yaml
from stacks.contract import EXPORT_KEY, export_outputs
from stacks.environment import (
    CONFIG_DIR,
    KNOWN_KEYS,
    Environment,
    environment_from_config,
    strata_config,
)
from stacks.naming import StackSelection, parse_stack, select
from stacks.plan import ClusterPlan, plan_clusters

#: Stack output: cluster -> ``<pack>.<variable>`` -> URN of the resource holding a generated secret.
GENERATED_KEY = "generated_secrets"


def _config_value(text: str | None) -> Any:
    """Structured config reaches the program as JSON text, plain scalars as themselves (``environment``)."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def read_environment(selection: StackSelection, config_dir: Path = CONFIG_DIR) -> Environment:
    """The stack's own ``strata:`` config when it has clusters, else the environment's file."""
    config = pulumi.Config("strata")
    own = {key: _config_value(config.get(key)) for key in KNOWN_KEYS}
    own = {k: v for k, v in own.items() if v is not None}
    display = str(Path("stacks/config") / f"Pulumi.{selection.environment}.yaml")
    if "clusters" in own or "inventory" in own:
        return environment_from_config(selection.environment, own, display, config_dir)
    path = config_dir / f"Pulumi.{selection.environment}.yaml"
    if not path.is_file():
        raise PlanErrors([PlanError(display, "", f"no environment {selection.environment!r} for this stack")])
    raw = strata_config(load_yaml(path, display), display)
    return environment_from_config(selection.environment, raw, display, config_dir)


def _validate_components(plans: Sequence[ClusterPlan]) -> list[PlanError]:
    """Each component's own checks and every secret's source, for every cluster before anything is registered."""
    errors: list[PlanError] = []
    for cp in plans:
        spec = cp.entry.spec
        try:
            cls = component_class(spec.target)
        except MissingExtraError as exc:
            errors.append(PlanError(cp.entry.file, f"{cp.entry.field}.target", str(exc), spec.name))
            continue
        errors.extend(PlanError(cp.entry.file, cp.entry.field, p, spec.name) for p in secret_problems(cp.plan))
        validate = getattr(cls, "validate", None)
        if validate is None:
            continue
        try:
            validate(spec, cp.plan.settings())
        except ValueError as exc:
            errors.append(PlanError(cp.entry.file, cp.entry.field, str(exc), spec.name))
    return errors


def run(stack: str | None = None, config_dir: Path = CONFIG_DIR, packs_dir: Path = PACKS_DIR) -> dict[str, Any]:
    """Build the stack; returns the per-cluster objects (for tests and for programs embedding strata)."""
    selection = parse_stack(stack or pulumi.get_stack())
    try:
        environment = read_environment(selection, config_dir)
        entries = select(environment, selection)
        catalogue = load_catalogue(packs_dir)
        plans, errors = plan_clusters(entries, catalogue, environment.settings.drift, environment.file)
        errors += _validate_components(plans)
        if errors:
            raise PlanErrors(errors)
    except PlanErrors as exc:
        # RunError ends the program with the message alone: these are the user's mistakes, not strata's.
        raise pulumi.RunError(f"{len(exc.errors)} error(s); nothing was created:\n" + str(exc)) from None

    built: dict[str, Any] = {}
    exports: dict[str, pulumi.Output[Any]] = {}
    generated: dict[str, dict[str, pulumi.Output[str]]] = {}
    for cp in plans:
        spec = cp.entry.spec
        cluster = build_cluster(
            spec,
            settings=cp.plan.settings(),
            protect=environment.protect(spec),
            tags=environment.tags(spec),
        )
        packs = PackStack(spec.name, cluster.contract, cp.plan, tags=environment.tags(spec))
        built[spec.name] = (cluster, packs)
        exports[spec.name] = export_outputs(cluster.contract, packs)
        if packs.generated_secrets:
            generated[spec.name] = packs.generated_secrets
    pulumi.export(EXPORT_KEY, exports)
    # Where each generated secret lives (the URN of its RandomPassword in this stack's state), never its value.
    pulumi.export(GENERATED_KEY, generated)
    pulumi.export("environment", environment.name)
    return built
