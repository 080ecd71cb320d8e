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

import gc
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pulumi

from components.clusters import MissingExtraError, build_cluster, component_class
from components.clusters.secrets import pulumi_config
from components.delivery.strategy import delivery_for
from components.lifecycle import aliases
from components.packstack import PackStack
from components.teams import TeamSpace
from packs.catalogue import PACKS_DIR, load_catalogue
from packs.errors import PlanError, PlanErrors, load_yaml
from stacks import delivery_switch
from stacks.contract import EXPORT_KEY, export_outputs
from stacks.environment import (
    CONFIG_DIR,
    Environment,
    display_path,
    environment_from_config,
    strata_config,
)
from stacks.naming import StackSelection, parse_stack, select
from stacks.operator.register import reconciled_fleets, register
from stacks.plan import ClusterPlan, check_environment, collector_paused
from stacks.retention import EXPORT_KEY as DATA_KEY
from stacks.retention import data_loss, export_value, parse_deployed

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


def _stack_config() -> tuple[dict[str, Any], set[str]]:
    """Every config value of the running stack (structured values decoded) and which keys are secrets."""
    from pulumi.runtime import config as runtime_config

    values = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    secret = {k for k in values if runtime_config.is_config_secret(k)}
    return {k: _config_value(v) if isinstance(v, str) else v for k, v in values.items()}, secret


def read_environment(selection: StackSelection, config_dir: Path = CONFIG_DIR) -> Environment:
    """The stack's own ``strata:`` config when it has clusters, else the environment's file.

    Either way it goes through the same :func:`strata_config` as the plan, so an unknown or misspelt key is
    refused by ``pulumi up`` exactly as by ``strata plan``.
    """
    display = display_path(config_dir / f"Pulumi.{selection.environment}.yaml")
    values, secret = _stack_config()
    own = strata_config({"config": values}, display, secret)
    if "clusters" in own or "inventory" in own:
        return environment_from_config(selection.environment, own, display, config_dir)
    path = config_dir / f"Pulumi.{selection.environment}.yaml"
    if not path.is_file():
        raise PlanErrors([PlanError(display, "", f"no environment {selection.environment!r} for this stack")])
    raw = strata_config(load_yaml(path, display), display)
    return environment_from_config(selection.environment, raw, display, config_dir)


def _missing_extras(plans: Sequence[ClusterPlan]) -> list[PlanError]:
    """A target whose cloud SDK is not installed where the program runs, named with the extra to install."""
    errors: list[PlanError] = []
    for cp in plans:
        try:
            component_class(cp.entry.spec.target)
        except MissingExtraError as exc:
            errors.append(PlanError(cp.entry.file, f"{cp.entry.field}.target", str(exc), cp.entry.spec.name))
    return errors


def deployed_outputs(file: str) -> tuple[dict[str, Any], str]:
    """What this stack deployed last time: its own :data:`stacks.retention.EXPORT_KEY` (data-owning packs) and
    :data:`stacks.delivery_switch.EXPORT_KEY` (deliveries) outputs, and where they were read from.

    Read through a stack reference to the stack itself, which the engine answers from the last completed
    update (a read: nothing is created). It is awaited here, before the first resource is registered, the
    way the SDK awaits a synchronous invoke, so a dropped data-owning pack or an unprepared switch of
    delivery stops the run before anything changes. A stack never deployed has no outputs: nothing is
    dropped or switched.
    """
    from pulumi.runtime.sync_await import _sync_await

    name = f"{pulumi.get_organization()}/{pulumi.get_project()}/{pulumi.get_stack()}"
    outputs: dict[str, Any] = {}
    try:
        reference = pulumi.StackReference(f"strata-deployed-{pulumi.get_stack()}", stack_name=name)
        for key in (DATA_KEY, delivery_switch.EXPORT_KEY):
            details = _sync_await(reference.get_output_details(key))
            value = details.value if details.value is not None else details.secret_value
            if value is not None:
                outputs[key] = value
    except Exception as exc:  # the engine's error, e.g. a backend that cannot be read
        raise PlanErrors([PlanError(file, "", f"cannot read what stack {name} has deployed: {exc}")]) from None
    return outputs, f"stack {name}"


def run(
    stack: str | None = None,
    config_dir: Path = CONFIG_DIR,
    packs_dir: Path = PACKS_DIR,
    *,
    own_process: bool = False,
) -> dict[str, Any]:
    """Build the stack; returns the per-cluster objects (for tests and for programs embedding strata).

    ``own_process``: this process runs this program once and exits, as under ``pulumi up`` (stacks/__main__.py).
    Everything loaded and checked before the first resource (modules, catalogue, plans) then lives until the
    end, and is frozen out of the cyclic collector's passes, which otherwise rescan it again and again while
    the SDK registers resources. A host running the program repeatedly leaves it false: a frozen cycle is
    never collected.
    """
    selection = parse_stack(stack or pulumi.get_stack())
    try:
        environment = read_environment(selection, config_dir)
        entries = select(environment, selection)
        catalogue = load_catalogue(packs_dir)
        # The very check `strata plan` runs; here a secret that cannot be read is an error like any other.
        with collector_paused():
            verdict = check_environment(environment, entries, catalogue, pulumi_config)
        plans = verdict.plans
        errors = verdict.errors + verdict.needs + _missing_extras(plans)
        if not errors:
            outputs, source = deployed_outputs(environment.file)
            if environment.settings.production:
                errors += data_loss(
                    environment, plans, parse_deployed(outputs.get(DATA_KEY) or {}, f"{source}, output {DATA_KEY!r}")
                )
            switched = delivery_switch.parse_delivery(outputs, source)
            errors += delivery_switch.switch_errors(environment, plans, switched)
            for notice in delivery_switch.left_behind(environment, plans, switched):
                pulumi.log.warn(str(notice))
            plans = delivery_switch.with_previous(plans, switched)
        if errors:
            raise PlanErrors(errors)
        # A management environment registers the operator Stacks of every fleet naming one of its clusters;
        # those fleets are checked here too, before anything is created.
        names = {cp.entry.spec.name for cp in plans}
        fleets = [
            f for f in reconciled_fleets(environment, config_dir, catalogue) if f.cluster in names
        ]
    except PlanErrors as exc:
        # RunError ends the program with the message alone: these are the user's mistakes, not strata's.
        raise pulumi.RunError(f"{len(exc.errors)} error(s); nothing was created:\n" + str(exc)) from None

    if own_process:
        gc.collect()  # nothing that is garbage now is frozen with the rest
        gc.freeze()
    built: dict[str, Any] = {}
    exports: dict[str, pulumi.Output[Any]] = {}
    generated: dict[str, dict[str, pulumi.Output[str]]] = {}
    for cp in plans:
        spec = cp.entry.spec
        # A renamed cluster carries its former names; every child named after it follows.
        renamed = pulumi.ResourceOptions(aliases=aliases(spec.renamed_from))
        delivery = delivery_for(cp.delivery, cp.drift)
        cluster = build_cluster(
            spec,
            settings=cp.plan.settings(),
            protect=environment.protect(spec),
            tags=environment.tags(spec),
            opts=renamed,
            # The update switching the cluster from Flux to Pulumi creates objects helm-controller already runs.
            adopt_existing=delivery.handover.take_over,
        )
        packs = PackStack(
            spec.name,
            cluster.contract,
            cp.plan,
            tags=environment.tags(spec),
            opts=renamed,
            retain_data=environment.settings.production,
            delivery=delivery,
        )
        # Team spaces (teams/<team>.yaml) after the packs: their network policies need the CNI, and destroy removes
        # them before the add-ons and the cluster.
        for space in cp.teams:
            TeamSpace(
                space,
                cluster.contract.provider,
                handles=cluster.contract.handles,
                depends_on=[packs],
                tags=environment.tags(spec),
            )
        built[spec.name] = (cluster, packs)
        exports[spec.name] = export_outputs(cluster.contract, packs)
        if packs.generated_secrets:
            generated[spec.name] = packs.generated_secrets
    for fleet in fleets:
        cluster, packs = built[fleet.cluster]
        register(fleet, cluster.contract.provider, packs)
    pulumi.export(EXPORT_KEY, exports)
    # Where each generated secret lives (the URN of its RandomPassword in this stack's state), never its value.
    pulumi.export(GENERATED_KEY, generated)
    pulumi.export("environment", environment.name)
    pulumi.export(DATA_KEY, export_value(plans))
    pulumi.export(delivery_switch.EXPORT_KEY, delivery_switch.export_value(plans))
    return built
