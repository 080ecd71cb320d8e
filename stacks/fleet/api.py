"""The fleet as a Python API for pipelines: typed reports, never terminal text.

    from stacks.fleet import Fleet

    report = Fleet("edge").up(parallel=8, canary=2, max_unreachable="5%")
    if not report.ok:
        for stack in report.stacks:
            print(stack.name, stack.outcome, stack.error)

Every method returns a :class:`~stacks.fleet.model.FleetReport` whose ``exit_code`` is what the CLI
would exit with. The engine defaults to the local Automation API engine at the project root (the Pulumi
CLI must be on PATH); pass ``engine=`` to drive something else.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

from packs.catalogue import PACKS_DIR
from stacks.environment import CONFIG_DIR
from stacks.fleet.drift import drift_report
from stacks.fleet.engine import Engine
from stacks.fleet.journal import DEFAULT_STATE_DIR
from stacks.fleet.model import FleetReport, Operation, RunOptions, Size
from stacks.fleet.orchestrator import GateRunner, Observer, shell_gate
from stacks.fleet.runner import run_fleet
from stacks.fleet.selection import ROOT, Selection, select_stacks


class Fleet:
    """The stacks of one environment (optionally sharded or filtered), and operations over them."""

    def __init__(
        self,
        environment: str,
        *,
        shards: int | None = None,
        select: Sequence[str] = (),
        config_dir: Path = CONFIG_DIR,
        packs_dir: Path = PACKS_DIR,
        state_dir: Path = DEFAULT_STATE_DIR,
        work_dir: Path = ROOT,
        engine: Engine | None = None,
        observer: Observer | None = None,
        gate_runner: GateRunner = shell_gate,
        sleep: Callable[[float], Any] = time.sleep,
    ) -> None:
        self.environment = environment
        self.shards = shards
        self.select = tuple(select)
        self.config_dir = config_dir
        self.packs_dir = packs_dir
        self.state_dir = Path(state_dir)
        self.work_dir = work_dir
        self._engine = engine
        self.observer = observer
        self.gate_runner = gate_runner
        self.sleep = sleep

    @cached_property
    def selection(self) -> Selection:
        """The selected stacks, planned; raises :class:`~packs.errors.PlanErrors` on bad input."""
        return select_stacks(
            self.environment,
            shards=self.shards,
            select=self.select,
            config_dir=self.config_dir,
            packs_dir=self.packs_dir,
        )

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            from stacks.fleet.local import LocalEngine

            self._engine = LocalEngine(self.work_dir)
        return self._engine

    def _run(self, operation: Operation, resume: str | None, options: RunOptions, targets: Any = None) -> FleetReport:
        return run_fleet(
            operation,
            self.environment,
            self.selection.stacks if targets is None else [s for s in self.selection.stacks if s.name in targets],
            self.engine,
            options,
            state_dir=self.state_dir,
            resume=resume,
            observer=self.observer,
            targets=targets,
            gate=self.gate_runner,
            sleep=self.sleep,
        )

    def preview(self, *, resume: str | None = None, **options: Any) -> FleetReport:
        """``pulumi preview`` of every stack (read-only; by default no waves, every stack looked at)."""
        return self._run(Operation.PREVIEW, resume, RunOptions(**options))

    def up(self, *, resume: str | None = None, **options: Any) -> FleetReport:
        """Roll out: canary, waves, budgets; a stack succeeds on a converged update and a passing gate.

        Options: ``parallel``, ``canary``, ``wave_size``, ``soak``, ``max_failures``, ``max_unreachable``
        (``N`` or ``"P%"``), ``timeout``, ``gate``, ``attempts``, ``backoff``.
        """
        return self._run(Operation.UP, resume, RunOptions(**options))

    def refresh(self, *, resume: str | None = None, **options: Any) -> FleetReport:
        return self._run(Operation.REFRESH, resume, RunOptions(**options))

    def destroy(self, *, resume: str | None = None, **options: Any) -> FleetReport:
        """Tear down every selected stack (each in reverse layer order, by the program's dependencies)."""
        return self._run(Operation.DESTROY, resume, RunOptions(**options))

    def drift(self, *, remediate: bool = False, **options: Any) -> FleetReport:
        """One drift report for the selected stacks; with ``remediate``, heal the ``heal`` layers' drifted
        resources (an ``up`` with refresh, targeted at them and their dependents) through the same waves
        and budgets. The report's ``remediation`` is that second run."""
        run_options = RunOptions(**options)
        report = self._run(Operation.DRIFT, None, run_options)
        drift = drift_report(report.stacks, self.selection.layouts())
        remediation = None
        if remediate:
            targets = drift.heal_targets()
            if targets:
                remediation = self._run(Operation.REMEDIATE, None, run_options, targets)
        return FleetReport(
            run_id=report.run_id,
            operation=report.operation,
            environment=report.environment,
            stacks=report.stacks,
            summary=report.summary,
            journal=report.journal,
            drift=drift,
            remediation=remediation,
        )


__all__ = ["Fleet", "FleetReport", "RunOptions", "Size"]
