"""One fleet run end to end: resume, journal, plugin install and stack selection, then the waves.

The CLI and the Python API are both thin over :func:`run_fleet`, so a pipeline and a person at a
terminal get the same semantics and the same journal.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from stacks.fleet.engine import Engine
from stacks.fleet.journal import DEFAULT_STATE_DIR, Journal, already_done, find_run, new_run_id
from stacks.fleet.model import FleetReport, FleetStack, Operation, RunOptions
from stacks.fleet.orchestrator import GateRunner, Observer, Orchestrator, shell_gate


def run_fleet(
    operation: Operation,
    environment: str,
    stacks: Sequence[FleetStack],
    engine: Engine,
    options: RunOptions,
    *,
    state_dir: Path = DEFAULT_STATE_DIR,
    resume: str | None = None,
    observer: Observer | None = None,
    targets: Mapping[str, Sequence[str]] | None = None,
    gate: GateRunner = shell_gate,
    sleep: Callable[[float], Any] = time.sleep,
) -> FleetReport:
    """Run ``operation`` over ``stacks`` and return the report; the journal is written as it goes.

    With ``resume`` (a run id or ``last``), stacks that succeeded in that run with the digest they have
    now are ``not_run``; everything else runs again. Raises :class:`~stacks.fleet.journal.ResumeError`
    when the run to resume does not fit.
    """
    past = find_run(state_dir, resume, environment, operation) if resume else None
    succeeded_in = already_done(past, list(stacks)) if past else {}
    done = {name: f"succeeded in run {run} with the same program and config" for name, run in succeeded_in.items()}
    run_id = new_run_id()
    journal = Journal(
        state_dir,
        run_id,
        operation,
        environment,
        resumed=succeeded_in,
        resumed_from=past.run_id if past else None,
        options={k: (str(v) if v is not None else None) for k, v in asdict(options).items()},
    )
    todo = [s.name for s in stacks if s.name not in done]
    if todo:
        # Plugins once and stacks one at a time, before anything fans out.
        engine.prepare(todo, create=operation is Operation.UP)
    orchestrator = Orchestrator(engine, options, observer=observer, recorder=journal, gate=gate, sleep=sleep)
    summary = None
    try:
        results, summary = orchestrator.run(operation, stacks, done=done, targets=targets)
    finally:
        journal.close(summary)
    return FleetReport(
        run_id=run_id,
        operation=operation,
        environment=environment,
        stacks=results,
        summary=summary,
        resumed_from=past.run_id if past else None,
        journal=str(journal.path),
    )
