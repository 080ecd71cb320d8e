"""The ``strata`` command: offline plans of environments and a browsable pack catalogue.

Nothing here needs a cloud account or the Pulumi CLI: ``strata plan`` shows exactly which packs, in
which order and with which values, every cluster of an environment would get. Exit code 0 means every
cluster resolved; anything else prints every problem (file, field path, message) and exits 1.
"""

from __future__ import annotations

import atexit
import gc
import json
import sys
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer
import yaml
from rich.console import Console
from rich.markup import escape

from packs.catalogue import PACKS_DIR, Catalogue, load_catalogue
from packs.errors import PlanError, PlanErrors, did_you_mean
from stacks.bundle import render as lazy_render
from stacks.check import check
from stacks.environment import CONFIG_DIR, available
from stacks.fleet.cli import fleet_app
from stacks.operator.cli import operator_app
from stacks.options import EnvName, TeamsDir
from stacks.plan import PLAN_SCHEMA, EnvironmentPlan, plan_environment
from stacks.policy import summarize
from stacks.render import Column, print_plans, print_table, print_teams

app = typer.Typer(
    add_completion=False, no_args_is_help=True, help="Offline plans of strata environments and the pack catalogue."
)
packs_app = typer.Typer(help="The pack catalogue.", invoke_without_command=True)
app.add_typer(packs_app, name="packs")
app.add_typer(fleet_app, name="fleet")
app.command("check")(check)
app.add_typer(operator_app, name="operator")
app.command("render")(lazy_render)

# Piped output (CI logs, files) gets wide tables instead of rich's 80-column fallback.
_WIDTH = None if sys.stdout.isatty() else 200
out = Console(soft_wrap=True, width=_WIDTH)
err = Console(stderr=True, soft_wrap=True, width=_WIDTH)

ConfigDir = Annotated[
    Path, typer.Option("--config-dir", envvar="STRATA_CONFIG_DIR", help="Folder of Pulumi.<env>.yaml files.")
]
PacksDir = Annotated[
    Path, typer.Option("--packs-dir", envvar="STRATA_PACKS_DIR", help="Folder of catalog/ and profiles/.")
]


def _fail(exc: PlanErrors, as_json: bool) -> None:
    """Every error, one per line, then exit 1. The text is the user's (paths, values, ``[cluster X]``): it is
    escaped so rich prints it literally instead of reading it as console markup."""
    if as_json:
        print(json.dumps({"schema": PLAN_SCHEMA, "errors": [e.as_dict() for e in exc.errors]}, separators=(",", ":")))
    for e in exc.errors:
        err.print(f"[red]error[/red]: {escape(str(e))}", markup=True, highlight=False)
    err.print(f"{len(exc.errors)} error(s); nothing was planned or built.", markup=False, highlight=False)
    raise typer.Exit(1)


def _needs(needs: Sequence[PlanError]) -> None:
    """Secret sources absent where the plan ran: not mistakes in the files, but ``pulumi up`` will stop on
    them, so say so, once per source rather than once per cluster of a fleet."""
    by_message: dict[str, list[str]] = defaultdict(list)
    for need in needs:
        by_message[need.message].append(need.cluster or need.file)
    for message, clusters in by_message.items():
        shown = ", ".join(clusters[:3]) + (f" ... (+{len(clusters) - 3})" if len(clusters) > 3 else "")
        text = f"{message} (cluster{'s' if len(clusters) > 1 else ''} {shown})"
        err.print(f"[yellow]note[/yellow]: {escape(text)}", markup=True, highlight=False)


def _check_deployed(result: EnvironmentPlan, files: list[Path], cluster: str | None) -> None:
    """The deployment's data-loss and delivery checks (stacks/retention.py, stacks/delivery_switch.py), against
    the stacks' saved outputs; a cluster removed while prepared to switch its delivery is a warning."""
    from stacks.delivery_switch import left_behind, read_deployed_delivery, switch_errors
    from stacks.retention import data_loss, read_deployed

    env = result.environment.name
    deployed, delivery = read_deployed(files, env), read_deployed_delivery(files, env)
    if cluster is not None:
        names = {n for c in result.clusters for n in (c.entry.spec.name, *c.entry.spec.renamed_from)}
        deployed = {k: v for k, v in deployed.items() if k in names}
        delivery = {k: v for k, v in delivery.items() if k in names}
    problems = data_loss(result.environment, result.clusters, deployed)
    problems += switch_errors(result.environment, result.clusters, delivery)
    for notice in left_behind(result.environment, result.clusters, delivery):
        err.print(f"[yellow]warning[/yellow]: {escape(str(notice))}", markup=True, highlight=False)
    if problems:
        raise PlanErrors(problems)


@app.command()
def plan(
    env: EnvName = "local",
    cluster: Annotated[str | None, typer.Option("--cluster", "-c", help="Plan only this cluster.")] = None,
    explain: Annotated[
        bool,
        typer.Option(
            "--explain",
            help="Show every value with its provenance and lock; clusters whose plans differ only by their own "
            "facts are shown once, as a group.",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable plan (schema strata.plan/v1).")] = False,
    deployed: Annotated[
        list[Path] | None,
        typer.Option(
            "--deployed",
            help="A stack's outputs saved with `pulumi stack output --json --stack <stack> > FILE` (repeat for each "
            "stack): the plan then "
            "refuses, as the deployment would, to drop production data without strata:allow_data_loss, or to "
            "switch a cluster's delivery in one update.",
        ),
    ] = None,
    config_dir: ConfigDir = CONFIG_DIR,
    packs_dir: PacksDir = PACKS_DIR,
    teams_dir: TeamsDir = None,
) -> None:
    """Resolve every cluster of an environment offline and show what lands where."""
    try:
        result = plan_environment(env, cluster, config_dir=config_dir, packs_dir=packs_dir, teams_dir=teams_dir)
        if deployed:
            _check_deployed(result, deployed, cluster)
    except PlanErrors as exc:
        _fail(exc, as_json)
        return
    _needs(result.needs)
    for line in summarize(result.advisories):  # advisory policy findings pass the plan; say so, once per rule
        err.print(f"[yellow]advisory[/yellow]: {escape(line)} (strata check --env {env} lists them)", highlight=False)
    if as_json:
        # Compact on purpose: an indented dump takes the pure-Python encoder, 10x slower at fleet scale.
        sys.stdout.write(result.as_json(explain))
        sys.stdout.write("\n")
        return
    out.print(
        f"environment [bold]{result.environment.name}[/bold]: {len(result.clusters)} cluster(s), "
        f"stacks per {result.environment.settings.stacks}, "
        f"production={str(result.environment.settings.production).lower()}"
    )
    print_plans(out, result.clusters, explain)
    print_teams(out, result.clusters)


@app.command()
def stacks(
    env: EnvName = "local",
    shards: Annotated[int | None, typer.Option("--shards", min=1, help="Group clusters into N shard stacks.")] = None,
    config_dir: ConfigDir = CONFIG_DIR,
) -> None:
    """Print the Pulumi stack names that deploy an environment, one per line (for parallel pipelines).

    Shards that would own no cluster are not printed (a note on stderr says which), so a pipeline never
    creates a stack that deploys nothing.
    """
    from stacks.environment import load_environment
    from stacks.naming import describe_empty, stack_names
    from stacks.pulumi_cli import cli_path, missing_message

    try:
        environment = load_environment(env, config_dir)
        listed = stack_names(environment, shards)
    except PlanErrors as exc:
        _fail(exc, False)
        return
    print("\n".join(listed.names))
    if listed.empty_shards and shards is not None:
        err.print(describe_empty(environment, shards, listed.empty_shards), markup=False, highlight=False)
    if cli_path() is None:  # listing works anyway (e.g. to build a CI matrix); deploying them will not
        err.print(f"note: {missing_message('deploying these stacks')}", markup=False, highlight=False)


@app.command()
def envs(config_dir: ConfigDir = CONFIG_DIR) -> None:
    """List the environments in the config folder."""
    if not config_dir.is_dir():  # an empty listing would read as "no environments yet"
        message = f"the config folder {config_dir} does not exist (--config-dir or STRATA_CONFIG_DIR names it)"
        err.print(f"[red]error[/red]: {escape(message)}", markup=True, highlight=False)
        raise typer.Exit(1)
    for name in available(config_dir):
        out.print(name)


def _catalogue(packs_dir: Path) -> Catalogue:
    try:
        return load_catalogue(packs_dir)
    except PlanErrors as exc:
        _fail(exc, False)
        raise  # unreachable: _fail exits


@packs_app.callback()
def packs(ctx: typer.Context, packs_dir: PacksDir = PACKS_DIR) -> None:
    """List the catalogue (every pack and its versions)."""
    ctx.obj = packs_dir
    if ctx.invoked_subcommand is not None:
        return
    catalogue = _catalogue(packs_dir)
    rows = []
    for name in sorted({n for n, _ in catalogue.packs}):
        versions = catalogue.versions(name)
        latest = catalogue.packs[(name, versions[-1])].pack
        src = latest.source
        source = (
            f"helm {src.chart}" if src.kind == "helm" else src.kind if src.kind == "manifests" else src.service.value
        )
        rows.append(
            (
                name,
                ", ".join(versions),
                latest.layer.value,
                source,
                ", ".join(t.value for t in latest.constraints.targets),
                ", ".join(latest.provides) or "-",
            )
        )
    columns = [Column("pack", whole=True), *(Column(c) for c in ("versions", "layer", "source", "targets", "provides"))]
    print_table(out, "packs", columns, rows)
    profiles = [
        (p.ref, p.kind.value, ", ".join(t.value for t in p.targets), str(len(p.layers)))
        for p in (loaded.profile for _, loaded in sorted(catalogue.profiles.items()))
    ]
    print_table(
        out, "profiles", [Column("profile", whole=True), Column("kind"), Column("targets"), Column("packs")], profiles
    )


@packs_app.command("show")
def show(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Pack name, optionally name@version.")],
) -> None:
    """Show one pack: source, constraints, dependencies, variables and default values."""
    catalogue = _catalogue(ctx.obj)
    pack_name, _, version = name.partition("@")
    versions = catalogue.versions(pack_name)
    if not versions or (version and version not in versions):
        names = versions or sorted({n for n, _ in catalogue.packs})
        message = f"no pack {name!r} in the catalogue (known: {', '.join(names)})"
        message += did_you_mean(version if versions else pack_name, names)
        err.print(f"[red]error[/red]: {escape(message)}", markup=True, highlight=False)
        raise typer.Exit(1)
    loaded = catalogue.packs[(pack_name, version or versions[-1])]
    p = loaded.pack
    out.print(f"[bold]{p.ref}[/bold]  ({p.layer.value} layer)  {loaded.file}")
    out.print(p.description)
    out.print(f"source: {yaml.safe_dump(p.source.model_dump(mode='json', exclude_none=True), sort_keys=False).strip()}")
    out.print(f"namespace: {p.namespace or '-'}")
    out.print(f"targets: {', '.join(t.value for t in p.constraints.targets)}; Kubernetes {p.constraints.kubernetes}")
    r = p.constraints.resources
    out.print(f"resources: {r.nodes} node(s), {r.cpu_millicores}m CPU, {r.memory_mib} MiB")
    out.print(f"depends: {', '.join(f'{k} {v}' for k, v in p.depends.items()) or '-'}")
    out.print(f"provides: {', '.join(p.provides) or '-'};  requires: {', '.join(p.requires) or '-'}")
    if p.identity:
        out.print(f"identity: service account {p.identity.service_account}")
    out.print(f"other versions: {', '.join(v for v in versions if v != p.version) or '-'}")
    if p.variables:
        rows = []
        for v in p.variables:
            allowed = ", ".join(map(str, v.allowed)) if v.allowed else (v.pattern or "")
            default = "required" if v.required else json.dumps(v.default)
            when = v.required_when
            condition = f" while {when.path} = {json.dumps(when.equals)}" if when is not None else ""
            if v.generate is not None:
                default = f"generated ({v.generate.length} characters){condition}"
            elif when is not None:
                default = f"required{condition}"
            rows.append((v.name, v.type.value, v.path, default, allowed, v.description))
        columns = [
            Column("name", whole=True),
            *(Column(c) for c in ("type", "path", "default", "allowed", "description")),
        ]
        print_table(out, "variables", columns, rows)
    if loaded.values:
        out.print("default values:")
        out.print(yaml.safe_dump(dict(loaded.values), sort_keys=False).rstrip(), highlight=False, markup=False)
    for target, overlay in p.overlays.items():
        out.print(f"overlay for {target.value}:")
        out.print(yaml.safe_dump(overlay, sort_keys=False).rstrip(), highlight=False, markup=False)


def main() -> None:
    # One command per process: what it built (a fleet's plan) lives until exit, where the interpreter's final
    # collection would only rescan it (most of a second at 10,000 sites). Reference counting still frees it.
    atexit.register(gc.freeze)
    app()


if __name__ == "__main__":
    main()
