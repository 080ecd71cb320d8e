"""The Pulumi program behind every environment stack: config -> plan -> clusters -> packs -> exports.

Stack names choose what a run deploys:

- ``<env>`` deploys every cluster of ``stacks/config/Pulumi.<env>.yaml`` (small environments:
  ``strata:stacks: environment``);
- ``<env>.<cluster>`` deploys one cluster, and ``<env>.shard-<i>-of-<n>`` a stable shard of them
  (fleets: ``strata:stacks: cluster``). Those stacks have no config file of their own: the program reads
  the environment's file, so 200 sites do not mean 200 copies of YAML. A fleet is then refreshed,
  updated or destroyed site by site, in parallel, and no preview ever walks the whole fleet.

Everything is validated -- environment, plans, cluster settings, component arguments -- before the first
resource is registered; a mistake ends the run with the collected errors and creates nothing.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi

from components.clusters import MissingExtraError, build_cluster, component_class
from components.lifecycle import aliases
from components.packstack import PackStack, secret_problems
from packs.catalogue import PACKS_DIR, load_catalogue
from packs.errors import PlanError, PlanErrors, load_yaml
from stacks.contract import EXPORT_KEY, export_outputs
from stacks.environment import (
    CONFIG_DIR,
    KNOWN_KEYS,
    ClusterEntry,
    Environment,
    environment_from_config,
    strata_config,
)
from stacks.plan import ClusterPlan, plan_clusters
from stacks.retention import EXPORT_KEY as DATA_KEY
from stacks.retention import Deployed, data_loss, export_value, parse_deployed

SHARD = re.compile(r"^shard-(\d+)-of-(\d+)$")


@dataclass(frozen=True)
class StackSelection:
    environment: str
    selector: str | None


def parse_stack(stack: str) -> StackSelection:
    """``dev`` -> (dev, None); ``edge.eu-west-fr-00001`` -> (edge, that cluster); org/project prefixes dropped."""
    short = stack.rsplit("/", 1)[-1]
    env, dot, selector = short.partition(".")
    return StackSelection(env, selector if dot else None)


def shard_of(cluster: str, shards: int) -> int:
    """Stable shard (1-based) of a cluster: adding sites never moves existing ones between most shards' stacks."""
    return int(hashlib.sha256(cluster.encode()).hexdigest(), 16) % shards + 1


def select(environment: Environment, selection: StackSelection) -> tuple[ClusterEntry, ...]:
    """The clusters this stack owns, or a PlanError explaining which stack to use instead."""
    clusters = environment.clusters
    file = environment.file
    per_cluster = environment.settings.stacks == "cluster"
    if selection.selector is None:
        if per_cluster:
            example = clusters[0].spec.name
            raise PlanErrors(
                [
                    PlanError(
                        file,
                        'config."strata:stacks"',
                        f"environment {environment.name} deploys one stack per cluster; select a stack such as "
                        f"{environment.name}.{example} or {environment.name}.shard-1-of-10",
                    )
                ]
            )
        return clusters
    match = SHARD.match(selection.selector)
    if match:
        index, total = int(match.group(1)), int(match.group(2))
        if not 1 <= index <= total:
            raise PlanErrors([PlanError(file, "", f"shard {index} of {total} does not exist")])
        return tuple(c for c in clusters if shard_of(c.spec.name, total) == index)
    try:
        return (environment.cluster(selection.selector),)
    except KeyError:
        raise PlanErrors(
            [
                PlanError(
                    file,
                    "",
                    f"stack selects cluster {selection.selector!r}, which environment "
                    f"{environment.name} does not declare",
                )
            ]
        ) from None


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


def deployed_data(file: str) -> Deployed:
    """What this stack deployed last time: its own :data:`stacks.retention.EXPORT_KEY` output.

    Read through a stack reference to the stack itself, which the engine answers from the last completed
    update (a read: nothing is created). It is awaited here, before the first resource is registered, the
    way the SDK awaits a synchronous invoke, so a dropped data-owning pack stops the run before anything
    changes. A stack never deployed has no outputs: nothing is dropped.
    """
    from pulumi.runtime.sync_await import _sync_await

    name = f"{pulumi.get_organization()}/{pulumi.get_project()}/{pulumi.get_stack()}"
    try:
        reference = pulumi.StackReference(f"strata-deployed-{pulumi.get_stack()}", stack_name=name)
        details = _sync_await(reference.get_output_details(DATA_KEY))
    except Exception as exc:  # the engine's error, e.g. a backend that cannot be read
        raise PlanErrors([PlanError(file, "", f"cannot read what stack {name} has deployed: {exc}")]) from None
    value = details.value if details.value is not None else details.secret_value
    return parse_deployed(value or {}, f"stack {name}, output {DATA_KEY!r}")


def run(stack: str | None = None, config_dir: Path = CONFIG_DIR, packs_dir: Path = PACKS_DIR) -> dict[str, Any]:
    """Build the stack; returns the per-cluster objects (for tests and for programs embedding strata)."""
    selection = parse_stack(stack or pulumi.get_stack())
    try:
        environment = read_environment(selection, config_dir)
        entries = select(environment, selection)
        plans, errors = plan_clusters(entries, load_catalogue(packs_dir))
        errors += _validate_components(plans)
        if not errors and environment.settings.production:
            errors += data_loss(environment, plans, deployed_data(environment.file))
        if errors:
            raise PlanErrors(errors)
    except PlanErrors as exc:
        # RunError ends the program with the message alone: these are the user's mistakes, not strata's.
        raise pulumi.RunError(f"{len(exc.errors)} error(s); nothing was created:\n" + str(exc)) from None

    built: dict[str, Any] = {}
    exports: dict[str, pulumi.Output[Any]] = {}
    for cp in plans:
        spec = cp.entry.spec
        # A renamed cluster carries its former names; every child named after it follows.
        renamed = pulumi.ResourceOptions(aliases=aliases(spec.renamed_from))
        cluster = build_cluster(
            spec,
            settings=cp.plan.settings(),
            protect=environment.protect(spec),
            tags=environment.tags(spec),
            opts=renamed,
        )
        packs = PackStack(
            spec.name,
            cluster.contract,
            cp.plan,
            tags=environment.tags(spec),
            opts=renamed,
            retain_data=environment.settings.production,
        )
        built[spec.name] = (cluster, packs)
        exports[spec.name] = export_outputs(cluster.contract, packs)
    pulumi.export(EXPORT_KEY, exports)
    pulumi.export("environment", environment.name)
    pulumi.export(DATA_KEY, export_value(plans))
    return built
