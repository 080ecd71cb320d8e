"""The ``strata`` command: offline plans of environments and a browsable pack catalogue.

Nothing here needs a cloud account or the Pulumi CLI: ``strata plan`` shows exactly which packs, in
which order and with which values, every cluster of an environment would get. Exit code 0 means every
cluster resolved; anything else prints every problem (file, field path, message) and exits 1.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from packs.catalogue import PACKS_DIR, Catalogue, load_catalogue
from packs.errors import PlanErrors
from packs.resolve import ResolvedPack, ResolvedPlan
from stacks.environment import CONFIG_DIR, available
from stacks.plan import PLAN_SCHEMA, EnvironmentPlan, plan_environment

#: Above this many clusters the plan prints one table per distinct composition instead of one per cluster.
DETAIL_LIMIT = 20

app = typer.Typer(
    add_completion=False, no_args_is_help=True, help="Offline plans of strata environments and the pack catalogue."
)
packs_app = typer.Typer(help="The pack catalogue.", invoke_without_command=True)
app.add_typer(packs_app, name="packs")

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
EnvName = Annotated[str, typer.Option("--env", "-e", help="Environment name (stacks/config/Pulumi.<env>.yaml).")]


def _fail(exc: PlanErrors, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"schema": PLAN_SCHEMA, "errors": [e.as_dict() for e in exc.errors]}, separators=(",", ":")))
    for e in exc.errors:
        # Messages quote YAML such as [loki]; escaped, so rich does not take it for markup and drop it.
        err.print(f"[red]error[/red]: {escape(str(e))}", markup=True, highlight=False)
    err.print(f"{len(exc.errors)} error(s); nothing was planned or built.")
    raise typer.Exit(1)


def _source(pack: ResolvedPack) -> str:
    src = pack.source
    if src.kind == "helm":
        return f"helm {src.chart}@{src.version}"
    if src.kind == "manifests":
        return f"manifests ({len(src.files)})"
    return f"{src.service.value} {src.name}" + (f"@{src.version}" if src.version else "")


def _plan_table(title: str, plan: ResolvedPlan) -> Table:
    table = Table(title=title, title_justify="left", show_lines=False)
    for col in ("layer", "pack", "source", "namespace", "profile", "after"):
        table.add_column(col)
    for pack in plan.packs:
        table.add_row(
            pack.layer.value,
            pack.ref,
            _source(pack),
            pack.namespace or "-",
            pack.profile,
            ", ".join(pack.after) or "-",
        )
    return table


def _explain(plan: ResolvedPlan) -> None:
    for pack in plan.packs:
        table = Table(title=f"{plan.cluster.name} / {pack.ref} values", title_justify="left")
        for col in ("path", "value", "set by", "where", "lock"):
            table.add_column(col, overflow="fold")
        locks = pack.locks
        for path in sorted(pack.provenance):
            prov = pack.provenance[path]
            value = _value_at(pack.values, path)
            locked = next((lock for lock in locks if path == lock or path.startswith(lock)), "")
            shown = json.dumps(value, default=str)
            if path in pack.deferred:
                shown += "  (filled at deploy)"
            table.add_row(path, shown, prov.source, f"{prov.file}: {prov.path}", "locked" if locked else "")
        if pack.provenance:
            out.print(table)


def _value_at(values: Any, path: str) -> Any:
    from packs.paths import get, parse_path

    try:
        return get(values, parse_path(path))
    except KeyError:
        return None


def _print_plan(result: EnvironmentPlan, explain: bool) -> None:
    env = result.environment
    clusters = result.clusters
    out.print(
        f"environment [bold]{env.name}[/bold]: {len(clusters)} cluster(s), "
        f"stacks per {env.settings.stacks}, production={str(env.settings.production).lower()}"
    )
    if len(clusters) <= DETAIL_LIMIT or explain:
        for c in clusters:
            f = c.plan.cluster
            title = (
                f"{f.name}  ({f.target.value}, {f.region or '-'}, Kubernetes {f.kubernetes_version}) "
                f"profiles: {', '.join(c.plan.profiles)}"
            )
            out.print(_plan_table(title, c.plan))
            if explain:
                _explain(c.plan)
        return
    groups: dict[tuple[str, ...], list[ResolvedPlan]] = defaultdict(list)
    for c in clusters:
        groups[(c.plan.cluster.target.value, *(p.ref for p in c.plan.packs))].append(c.plan)
    for plans in groups.values():
        names = [p.cluster.name for p in plans]
        sample = ", ".join(names[:5]) + (f" ... (+{len(names) - 5})" if len(names) > 5 else "")
        out.print(_plan_table(f"{len(plans)} cluster(s) with this plan: {sample}", plans[0]))
    out.print("use --cluster NAME for one cluster's plan, --explain for values and where they come from")


def _check_deployed(result: EnvironmentPlan, files: list[Path], cluster: str | None) -> None:
    """The deployment's data-loss check (stacks/retention.py), against the stacks' saved outputs."""
    from stacks.retention import data_loss, read_deployed

    deployed = read_deployed(files)
    if cluster is not None:
        names = {n for c in result.clusters for n in (c.entry.spec.name, *c.entry.spec.renamed_from)}
        deployed = {k: v for k, v in deployed.items() if k in names}
    problems = data_loss(result.environment, result.clusters, deployed)
    if problems:
        raise PlanErrors(problems)


@app.command()
def plan(
    env: EnvName = "local",
    cluster: Annotated[str | None, typer.Option("--cluster", "-c", help="Plan only this cluster.")] = None,
    explain: Annotated[bool, typer.Option("--explain", help="Show every value with its provenance and lock.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable plan (schema strata.plan/v1).")] = False,
    deployed: Annotated[
        list[Path] | None,
        typer.Option(
            "--deployed",
            help="A stack's `pulumi stack output --json`, saved to a file (repeat for each stack): the plan then "
            "refuses, as the deployment would, to drop production data without strata:allow_data_loss.",
        ),
    ] = None,
    config_dir: ConfigDir = CONFIG_DIR,
    packs_dir: PacksDir = PACKS_DIR,
) -> None:
    """Resolve every cluster of an environment offline and show what lands where."""
    try:
        result = plan_environment(env, cluster, config_dir=config_dir, packs_dir=packs_dir)
        if deployed:
            _check_deployed(result, deployed, cluster)
    except PlanErrors as exc:
        _fail(exc, as_json)
        return
    if as_json:
        # Compact on purpose: an indented dump takes the pure-Python encoder, 10x slower at fleet scale.
        sys.stdout.write(json.dumps(result.as_dict(explain), separators=(",", ":")))
        sys.stdout.write("\n")
        return
    _print_plan(result, explain)


@app.command()
def stacks(
    env: EnvName = "local",
    shards: Annotated[int | None, typer.Option("--shards", min=1, help="Group clusters into N shard stacks.")] = None,
    config_dir: ConfigDir = CONFIG_DIR,
) -> None:
    """Print the Pulumi stack names that deploy an environment, one per line (for parallel pipelines)."""
    from stacks.environment import load_environment
    from stacks.program import shard_of

    try:
        environment = load_environment(env, config_dir)
    except PlanErrors as exc:
        _fail(exc, False)
        return
    if environment.settings.stacks == "environment" and shards is None:
        print(env)
    elif shards is not None:
        used = sorted({shard_of(c.spec.name, shards) for c in environment.clusters})
        print("\n".join(f"{env}.shard-{i}-of-{shards}" for i in used))
    else:
        print("\n".join(f"{env}.{c.spec.name}" for c in environment.clusters))


@app.command()
def envs(config_dir: ConfigDir = CONFIG_DIR) -> None:
    """List the environments in the config folder."""
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
    table = Table(title="packs", title_justify="left")
    for col in ("pack", "versions", "layer", "source", "targets", "provides"):
        table.add_column(col)
    names = sorted({n for n, _ in catalogue.packs})
    for name in names:
        versions = catalogue.versions(name)
        latest = catalogue.packs[(name, versions[-1])].pack
        src = latest.source
        source = (
            f"helm {src.chart}" if src.kind == "helm" else src.kind if src.kind == "manifests" else src.service.value
        )
        table.add_row(
            name,
            ", ".join(versions),
            latest.layer.value,
            source,
            ", ".join(t.value for t in latest.constraints.targets),
            ", ".join(latest.provides) or "-",
        )
    out.print(table)
    ptable = Table(title="profiles", title_justify="left")
    for col in ("profile", "kind", "targets", "packs"):
        ptable.add_column(col)
    for (_, _), loaded in sorted(catalogue.profiles.items()):
        p = loaded.profile
        ptable.add_row(p.ref, p.kind.value, ", ".join(t.value for t in p.targets), str(len(p.layers)))
    out.print(ptable)


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
        known = ", ".join(versions) if versions else ", ".join(sorted({n for n, _ in catalogue.packs}))
        err.print(f"[red]error[/red]: no pack {name!r} in the catalogue (known: {known})")
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
        table = Table(title="variables", title_justify="left")
        for col in ("name", "type", "path", "default", "allowed", "description"):
            table.add_column(col, overflow="fold")
        for v in p.variables:
            allowed = ", ".join(map(str, v.allowed)) if v.allowed else (v.pattern or "")
            default = "required" if v.required else json.dumps(v.default)
            table.add_row(v.name, v.type.value, v.path, default, allowed, v.description)
        out.print(table)
    if loaded.values:
        out.print("default values:")
        out.print(yaml.safe_dump(dict(loaded.values), sort_keys=False).rstrip(), highlight=False, markup=False)
    for target, overlay in p.overlays.items():
        out.print(f"overlay for {target.value}:")
        out.print(yaml.safe_dump(overlay, sort_keys=False).rstrip(), highlight=False, markup=False)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
