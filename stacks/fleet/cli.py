"""``strata fleet <preview|up|refresh|drift|destroy>``: the fleet engine for people at a terminal.

People get a live progress display (overall bar, wave, running stacks, counts) on stderr and a final
table; pipelines get ``--json`` (``strata.fleet/v1``, docs/fleet-json.md) on stdout. Exit codes:
0 all succeeded (and, for drift, nothing to alert on); 1 some stacks failed or were unreachable within
the budgets, or the input was invalid and nothing ran; 2 a budget stopped the run; 3 drift found on a
layer whose policy is ``alert``; 130 interrupted.

Heavy imports (Pulumi, the program) happen inside the commands, so ``strata plan`` stays light.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from stacks.fleet.model import FLEET_SCHEMA, FleetReport, FleetStack, Operation, Outcome, RunOptions, Size, StackResult
from stacks.options import EnvName

fleet_app = typer.Typer(
    help="Preview, roll out, refresh, check drift of and destroy every stack of an environment, in waves.",
    no_args_is_help=True,
)

_WIDTH = None if sys.stdout.isatty() else 200
out = Console(soft_wrap=True, width=_WIDTH)
err = Console(stderr=True, soft_wrap=True, width=_WIDTH)

Shards = Annotated[int | None, typer.Option("--shards", min=1, help="Operate N shard stacks, not one per cluster.")]
Select = Annotated[
    list[str] | None,
    typer.Option("--select", help="KEY=VALUE (name, target, region, any label or fact; wildcards). Repeatable."),
]
Parallel = Annotated[int, typer.Option("--parallel", "-p", min=1, help="Operations at once.")]
# Defaults in parentheses: square brackets in help text are console markup and would vanish from --help.
Canary = Annotated[
    int | None,
    typer.Option("--canary", min=0, help="Stacks in the first wave (default 1 for up and destroy, 0 otherwise)."),
]
WaveSize = Annotated[
    str | None,
    typer.Option("--wave-size", help="N or P% per wave after the canary (default 25% for up and destroy, else all)."),
]
Soak = Annotated[float, typer.Option("--soak", min=0, help="Seconds to wait between waves.")]
MaxFailures = Annotated[
    str | None, typer.Option("--max-failures", help="Failure budget, N or P% (default 0 for up and destroy).")
]
MaxUnreachable = Annotated[
    str | None, typer.Option("--max-unreachable", help="Unreachable budget, N or P% (default 10% for up and destroy).")
]
Timeout = Annotated[float | None, typer.Option("--timeout", min=1, help="Seconds per operation, then interrupt.")]
Gate = Annotated[
    str | None, typer.Option("--gate", help="Command run per cluster after a converged up; {stack}, {cluster}.")
]
Resume = Annotated[str | None, typer.Option("--resume", help="RUN_ID or 'last': skip stacks that succeeded.")]
StateDir = Annotated[Path, typer.Option("--state-dir", help="Where run journals are kept.")]
AsJson = Annotated[bool, typer.Option("--json", help="Machine-readable report (strata.fleet/v1) on stdout.")]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask; required for changes when not on a terminal.")]
ConfigDir = Annotated[Path | None, typer.Option("--config-dir", envvar="STRATA_CONFIG_DIR", hidden=True)]
EngineName = Annotated[
    str,
    typer.Option(
        "--engine",
        help="local (Automation API here) or operator (the Pulumi Kubernetes Operator of strata:reconcile).",
    ),
]

_STYLE = {
    Outcome.SUCCEEDED: "green",
    Outcome.FAILED: "red",
    Outcome.UNREACHABLE: "yellow",
    Outcome.SKIPPED: "dim",
    Outcome.NOT_RUN: "dim",
}


class RichObserver:
    """Overall bar, current wave, running stacks and counts per outcome, redrawn as stacks finish."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self.task = self.progress.add_task("fleet", total=0)
        self.live: Live | None = None
        self.running: list[str] = []
        self.counts = dict.fromkeys(Outcome, 0)
        self.wave = (0, 0)

    def _describe(self) -> str:
        counts = "  ".join(f"[{_STYLE[o]}]{o.value} {n}[/]" for o, n in self.counts.items() if n)
        shown = ", ".join(self.running[:4]) + (f" +{len(self.running) - 4}" if len(self.running) > 4 else "")
        return f"wave {self.wave[0]}/{self.wave[1]}  {counts}  running: {shown or '-'}"

    def run_started(self, operation: Operation, total: int, waves: int) -> None:
        self.wave = (0, waves)
        self.progress.update(self.task, total=total, description=f"{operation.value}")
        self.live = Live(self.progress, console=self.console, transient=True)
        self.live.start()

    def wave_started(self, wave: int, stacks: Sequence[FleetStack]) -> None:
        self.wave = (wave, self.wave[1])
        self.progress.update(self.task, description=self._describe())

    def stack_started(self, stack: FleetStack, wave: int) -> None:
        self.running.append(stack.name)
        self.progress.update(self.task, description=self._describe())

    def stack_finished(self, result: StackResult) -> None:
        if result.name in self.running:
            self.running.remove(result.name)
        self.counts[result.outcome] += 1
        self.progress.update(self.task, advance=1, description=self._describe())
        if result.outcome in (Outcome.FAILED, Outcome.UNREACHABLE):
            self.console.print(f"[{_STYLE[result.outcome]}]{result.outcome.value}[/] {result.name}: {result.error}")

    def soaking(self, seconds: float) -> None:
        self.progress.update(self.task, description=f"soaking {seconds:g}s before wave {self.wave[0] + 1}")

    def stop(self) -> None:
        if self.live is not None:
            self.live.stop()


def _table(report: FleetReport, title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for col in ("stack", "wave", "outcome", "attempts", "+", "~", "-", "+-", "s", "note / error"):
        table.add_column(col, overflow="fold")
    for s in report.stacks:
        c = s.changes
        table.add_row(
            s.name,
            str(s.wave or "-"),
            f"[{_STYLE[s.outcome]}]{s.outcome.value}[/]",
            str(s.attempts),
            str(c.create),
            str(c.update),
            str(c.delete),
            str(c.replace),
            f"{s.duration_s:.1f}",
            s.error or s.note or "",
        )
    return table


def _print(report: FleetReport) -> None:
    if len(report.stacks) <= 200 or any(s.outcome is not Outcome.SUCCEEDED for s in report.stacks):
        shown = [s for s in report.stacks if len(report.stacks) <= 200 or s.outcome is not Outcome.SUCCEEDED]
        trimmed = FleetReport(report.run_id, report.operation, report.environment, tuple(shown), report.summary)
        out.print(_table(trimmed, f"{report.operation.value} of {report.environment} (run {report.run_id})"))
    if report.drift is not None:
        drift = report.drift
        table = Table(title=f"drift by layer ({drift.stacks_checked} stack(s) checked)", title_justify="left")
        for col in ("layer", "resources", "stacks", "actions"):
            table.add_column(col)
        for layer, g in drift.by("layer").items():
            table.add_row(
                layer, str(g["resources"]), str(g["stacks"]), ", ".join(f"{k} {v}" for k, v in g["actions"].items())
            )
        out.print(table if drift.items else "no drift")
        for item in drift.alerts[:50]:
            out.print(
                f"[red]alert[/] {item.stack} {item.cluster or '-'} {item.layer or '-'}/{item.pack or '-'}: "
                f"{item.op} {item.type} ({item.source})"
            )
    if report.remediation is not None:
        _print(report.remediation)
    counts = ", ".join(f"{n} {o.value}" for o, n in report.summary.counts.items() if n)
    stopped = f"; stopped: {report.summary.stopped_by}" if report.summary.stopped_by else ""
    out.print(f"{report.operation.value}: {counts}{stopped}; journal {report.journal}; exit {int(report.exit_code)}")


def _fail(message: str, as_json: bool, errors: list[dict[str, Any]] | None = None) -> None:
    if as_json:
        print(json.dumps({"schema": FLEET_SCHEMA, "errors": errors or [{"message": message}]}))
    err.print(f"[red]error[/red]: {message}", highlight=False)
    raise typer.Exit(1)


def _run(operation: Operation, env: str, shards: int | None, select: list[str] | None, options: dict[str, Any]) -> None:
    as_json: bool = options.pop("as_json")
    yes: bool = options.pop("yes")
    resume: str | None = options.pop("resume", None)
    state_dir: Path = options.pop("state_dir")
    config_dir: Path | None = options.pop("config_dir")
    remediate: bool = options.pop("remediate", False)
    engine_name: str = options.pop("engine", "local")
    if engine_name not in ("local", "operator"):
        _fail(f"--engine {engine_name!r}: use local or operator; nothing was run", as_json)
    if engine_name == "operator" and remediate:
        _fail(
            "drift --remediate with --engine operator: the operator heals a whole stack on every resync (refresh, "
            f"then up), never chosen resources; `strata fleet refresh --env {env} --engine operator` brings that "
            "resync forward, and targeted healing of heal layers runs with --engine local; nothing was run",
            as_json,
        )
    for name in ("wave_size", "max_failures", "max_unreachable"):
        if options.get(name) is not None:
            try:
                options[name] = Size.parse(options[name])
            except ValueError as exc:
                _fail(f"--{name.replace('_', '-')}: {exc}; nothing was run", as_json)
    try:
        RunOptions(**options)
    except ValueError as exc:
        _fail(f"{exc}; nothing was run", as_json)

    from packs.errors import PlanErrors
    from stacks.environment import CONFIG_DIR
    from stacks.fleet.api import Fleet
    from stacks.fleet.journal import ResumeError
    from stacks.fleet.local import PulumiMissing

    if engine_name == "operator" and shards is None:
        from stacks.fleet.operator import reconcile_shards

        shards = reconcile_shards(env, config_dir or CONFIG_DIR)
    show = not as_json and sys.stderr.isatty()
    observer = RichObserver(err) if show else None
    fleet = Fleet(
        env,
        shards=shards,
        select=select or (),
        config_dir=config_dir or CONFIG_DIR,
        state_dir=state_dir,
        observer=observer,
    )
    try:
        stacks = fleet.selection.stacks
    except PlanErrors as exc:
        for e in exc.errors:
            err.print(f"[red]error[/red]: {e}", highlight=False)
        _fail(
            f"{len(exc.errors)} error(s) in environment {env}; nothing was run",
            as_json,
            [e.as_dict() for e in exc.errors],
        )
    except ValueError as exc:
        _fail(str(exc), as_json)
    # On the operator a refresh is a reconcile brought forward: it updates healing stacks, so it is confirmed.
    changes = operation.mutating or remediate or (engine_name == "operator" and operation is Operation.REFRESH)
    if changes and not yes:
        if not sys.stdin.isatty():
            _fail(f"{operation.value} changes {len(stacks)} stack(s) of {env}: pass --yes to confirm", as_json)
        what = "heal drift on" if remediate else operation.value
        if not typer.confirm(f"{what} {len(stacks)} stack(s) of {env}?", default=False, err=True):
            raise typer.Exit(1)
    try:
        if engine_name == "operator":
            from stacks.fleet.operator import engine_for

            command = f"strata fleet {operation.value} --env {env} --engine operator"
            fleet._engine = engine_for(fleet.selection, config_dir or CONFIG_DIR, command=command)
        fleet.engine  # noqa: B018 - fails early, with how to install the CLI, before anything runs
        if operation is Operation.DRIFT:
            report = fleet.drift(remediate=remediate, **options)
        else:
            report = getattr(fleet, operation.value)(resume=resume, **options)
    except PulumiMissing as exc:
        _fail(str(exc), as_json)
        return
    except ResumeError as exc:
        _fail(f"--resume: {exc}", as_json)
        return
    finally:
        if observer is not None:
            observer.stop()
    if as_json:
        sys.stdout.write(json.dumps(report.as_dict(), separators=(",", ":")) + "\n")
    else:
        _print(report)
    raise typer.Exit(int(report.exit_code))


def _command(operation: Operation, doc: str) -> None:
    def command(
        env: EnvName = "local",
        shards: Shards = None,
        select: Select = None,
        parallel: Parallel = 4,
        canary: Canary = None,
        wave_size: WaveSize = None,
        soak: Soak = 0.0,
        max_failures: MaxFailures = None,
        max_unreachable: MaxUnreachable = None,
        timeout: Timeout = None,
        gate: Gate = None,
        resume: Resume = None,
        state_dir: StateDir = Path(".strata/runs"),
        as_json: AsJson = False,
        yes: Yes = False,
        config_dir: ConfigDir = None,
        engine: EngineName = "local",
    ) -> None:
        options = {
            "engine": engine,
            "parallel": parallel,
            "canary": canary,
            "wave_size": wave_size,
            "soak": soak,
            "max_failures": max_failures,
            "max_unreachable": max_unreachable,
            "timeout": timeout,
            "gate": gate,
            "resume": resume,
            "state_dir": state_dir,
            "as_json": as_json,
            "yes": yes,
            "config_dir": config_dir,
        }
        if operation not in (Operation.UP,):
            options.pop("gate")
            if gate is not None:
                _fail("--gate applies to up (and drift --remediate) only", as_json)
        _run(operation, env, shards, select, options)

    command.__doc__ = doc
    fleet_app.command(operation.value)(command)


_command(Operation.PREVIEW, "Preview every stack: what an up would change (read-only, every stack looked at).")
_command(Operation.UP, "Roll out in waves: canary, budgets, convergence check and gate per stack.")
_command(Operation.REFRESH, "Refresh every stack's state from the live clusters and clouds.")
_command(Operation.DESTROY, "Destroy every selected stack, in waves (each stack tears down add-ons first).")


@fleet_app.command("drift")
def drift(
    env: EnvName = "local",
    shards: Shards = None,
    select: Select = None,
    remediate: Annotated[bool, typer.Option("--remediate", help="Heal the drift of 'heal' layers.")] = False,
    parallel: Parallel = 4,
    canary: Canary = None,
    wave_size: WaveSize = None,
    soak: Soak = 0.0,
    max_failures: MaxFailures = None,
    max_unreachable: MaxUnreachable = None,
    timeout: Timeout = None,
    gate: Gate = None,
    state_dir: StateDir = Path(".strata/runs"),
    as_json: AsJson = False,
    yes: Yes = False,
    config_dir: ConfigDir = None,
    engine: EngineName = "local",
) -> None:
    """One drift report (live and code) by layer, pack and stack; --remediate heals the 'heal' layers."""
    options = {k: v for k, v in locals().items() if k not in ("env", "shards", "select")}
    if gate is not None and not remediate:
        _fail("--gate applies to --remediate only", as_json)
    _run(Operation.DRIFT, env, shards, select, options)
