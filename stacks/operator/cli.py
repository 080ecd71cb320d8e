"""``strata operator ...``: the Pulumi Kubernetes Operator side of an environment (offline; no Pulumi import)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from packs.errors import PlanError, PlanErrors
from stacks.environment import CONFIG_DIR

operator_app = typer.Typer(help="Continuous reconciliation by the Pulumi Kubernetes Operator.", no_args_is_help=True)
err = Console(stderr=True, soft_wrap=True)


@operator_app.command("render")
def render(
    env: Annotated[str, typer.Option("--env", "-e", help="Environment with strata:reconcile.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory to write the YAML files to.")],
    config_dir: Annotated[
        Path, typer.Option("--config-dir", envvar="STRATA_CONFIG_DIR", help="Folder of Pulumi.<env>.yaml files.")
    ] = CONFIG_DIR,
) -> None:
    """Write the environment's operator objects (namespace, ServiceAccount, binding, one Stack per stack) as
    YAML with a kustomization.yaml, for GitOps. The environment is planned first: nothing is written on error."""
    from stacks.operator.render import render_files, write_files
    from stacks.plan import plan_environment

    try:
        result = plan_environment(env, config_dir=config_dir)
        if result.environment.settings.reconcile is None:
            raise PlanErrors(
                [
                    PlanError(
                        result.environment.file,
                        'config."strata:reconcile"',
                        "not set: this environment is not reconciled by the operator (see docs/operator.md)",
                    )
                ]
            )
        files = render_files(result.environment, result.clusters)
    except PlanErrors as exc:
        for e in exc.errors:
            err.print(f"[red]error[/red]: {escape(str(e))}", highlight=False)
        err.print(f"{len(exc.errors)} error(s); nothing was written.", markup=False, highlight=False)
        raise typer.Exit(1) from None
    try:
        written, removed = write_files(out, files)
    except OSError as exc:
        from stacks.bundle import write_error

        err.print(f"[red]error[/red]: {escape(write_error(exc))}", highlight=False)
        raise typer.Exit(1) from None
    stacks = sum(name.startswith("stack-") for name in written)
    gone = f"; removed {len(removed)} stale stack file(s)" if removed else ""
    # The summary of what was written is the command's result: stdout, as `strata render` (docs/cli.md).
    print(f"wrote {len(written)} file(s) to {out}: {stacks} Stack(s){gone}")
