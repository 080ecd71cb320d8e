"""Typed inputs and results of a fleet run: what pipelines read instead of terminal text.

Everything here is a frozen dataclass: a report is evidence of what one run did, not a live object.
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from stacks.fleet.engine import ChangeCounts, ResourceChange

if TYPE_CHECKING:
    from stacks.fleet.drift import DriftReport

FLEET_SCHEMA = "strata.fleet/v1"


class Operation(enum.StrEnum):
    PREVIEW = "preview"
    UP = "up"
    REFRESH = "refresh"
    DESTROY = "destroy"
    DRIFT = "drift"
    REMEDIATE = "remediate"

    @property
    def mutating(self) -> bool:
        """Operations that change infrastructure: paced by canary and waves, ``--yes`` off a terminal."""
        return self in (Operation.UP, Operation.DESTROY, Operation.REMEDIATE)


class Outcome(enum.StrEnum):
    """Exactly one per stack and run.

    ``skipped``: a budget stopped the run before the stack's turn. ``not_run``: the run did not need to
    (``--resume`` found it succeeded with the same program and config) or was interrupted before it.
    """

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    UNREACHABLE = "unreachable"
    SKIPPED = "skipped"
    NOT_RUN = "not_run"


class ExitCode(enum.IntEnum):
    OK = 0
    FAILED_WITHIN_BUDGET = 1
    BUDGET_STOPPED = 2
    DRIFT_ALERT = 3
    INTERRUPTED = 130


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(%?)\s*$")


@dataclass(frozen=True)
class Size:
    """``N`` stacks or ``P%`` of the stacks in the run (``--wave-size``, ``--max-failures`` ...)."""

    value: float
    percent: bool = False

    @classmethod
    def parse(cls, text: str | int | Size) -> Size:
        if isinstance(text, Size):
            return text
        if isinstance(text, int):
            text = str(text)
        match = _SIZE.match(text)
        if not match or (not match.group(2) and "." in match.group(1)):
            raise ValueError(f"{text!r} is neither a whole number of stacks (e.g. 5) nor a percentage (e.g. 10%)")
        value = float(match.group(1))
        if match.group(2) and value > 100:
            raise ValueError(f"{text!r} is more than 100%")
        return cls(value, bool(match.group(2)))

    def budget(self, total: int) -> int:
        """How many stacks a budget tolerates: a percentage rounds down (10% of 5 stacks tolerates 0)."""
        return math.floor(self.value * total / 100) if self.percent else int(self.value)

    def wave(self, total: int) -> int:
        """How many stacks a wave holds: a percentage rounds up, and a wave holds at least one stack."""
        return max(1, math.ceil(self.value * total / 100) if self.percent else int(self.value))

    def __str__(self) -> str:
        return f"{self.value:g}%" if self.percent else f"{int(self.value)}"


@dataclass(frozen=True)
class FleetStack:
    """One stack of the fleet: its name, the clusters it deploys and the digest of what it would deploy.

    The digest covers the program (code, catalogue) and this stack's config, so ``--resume`` re-runs a
    stack whenever either changed since it last succeeded.
    """

    name: str
    clusters: tuple[str, ...]
    digest: str = ""


@dataclass(frozen=True)
class RunOptions:
    """How a run is paced and budgeted; ``None`` means the operation's default (see :func:`defaults`)."""

    parallel: int = 4
    canary: int | None = None
    wave_size: Size | str | int | None = None
    soak: float = 0.0
    max_failures: Size | str | int | None = None
    max_unreachable: Size | str | int | None = None
    timeout: float | None = None
    gate: str | None = None
    attempts: int = 3
    backoff: float = 5.0

    def __post_init__(self) -> None:
        for name in ("wave_size", "max_failures", "max_unreachable"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, Size):
                object.__setattr__(self, name, Size.parse(value))
        if self.parallel < 1:
            raise ValueError("parallel must be at least 1")
        if self.canary is not None and self.canary < 0:
            raise ValueError("canary must be 0 or more")
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")
        if self.soak < 0 or (self.timeout is not None and self.timeout <= 0):
            raise ValueError("soak must be 0 or more and timeout more than 0")

    def resolved(self, operation: Operation) -> RunOptions:
        """Fill the defaults of ``operation``: mutating operations start with one canary stack, go on in
        waves of 25%, and stop at the first failure or at 10% unreachable; read-only operations look at
        every stack whatever happens."""
        mutating = operation.mutating
        return RunOptions(
            parallel=self.parallel,
            canary=self.canary if self.canary is not None else (1 if mutating else 0),
            wave_size=self.wave_size or Size(25 if mutating else 100, True),
            soak=self.soak,
            max_failures=self.max_failures or (Size(0) if mutating else Size(100, True)),
            max_unreachable=self.max_unreachable or Size(10 if mutating else 100, True),
            timeout=self.timeout,
            gate=self.gate,
            attempts=self.attempts,
            backoff=self.backoff,
        )


def waves(stacks: Sequence[FleetStack], canary: int, wave_size: Size | str | int) -> list[list[FleetStack]]:
    """The canary wave (if any), then waves of ``wave_size`` (of the whole run), in selection order."""
    out: list[list[FleetStack]] = []
    rest = list(stacks)
    if canary and rest:
        out.append(rest[:canary])
        rest = rest[canary:]
    size = Size.parse(wave_size).wave(len(stacks))
    out.extend(rest[i : i + size] for i in range(0, len(rest), size))
    return out


@dataclass(frozen=True)
class StackResult:
    """One stack's outcome in one run, with the evidence behind it."""

    name: str
    wave: int
    outcome: Outcome
    attempts: int = 0
    changes: ChangeCounts = field(default_factory=ChangeCounts)
    duration_s: float = 0.0
    error: str | None = None
    error_kind: str | None = None
    clusters: tuple[str, ...] = ()
    digest: str = ""
    resources: tuple[ResourceChange, ...] = ()
    #: Why a stack was not operated: skipped by a budget, or already succeeded (``--resume``).
    note: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "clusters": list(self.clusters),
            "wave": self.wave,
            "outcome": self.outcome.value,
            "attempts": self.attempts,
            "changes": self.changes.as_dict(),
            "duration_s": round(self.duration_s, 3),
            "error": self.error,
            "error_kind": self.error_kind,
            "note": self.note,
            "digest": self.digest,
        }


@dataclass(frozen=True)
class Summary:
    counts: Mapping[Outcome, int]
    budget_stopped: bool = False
    #: ``max-failures`` or ``max-unreachable`` when a budget stopped the run, ``interrupted`` on Ctrl-C.
    stopped_by: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "counts": {o.value: self.counts.get(o, 0) for o in Outcome},
            "budget_stopped": self.budget_stopped,
            "stopped_by": self.stopped_by,
        }


@dataclass(frozen=True)
class FleetReport:
    """A whole run: every stack with exactly one outcome, the summary, and the drift report if any."""

    run_id: str
    operation: Operation
    environment: str
    stacks: tuple[StackResult, ...]
    summary: Summary
    resumed_from: str | None = None
    journal: str | None = None
    drift: DriftReport | None = None
    #: ``drift --remediate``: the run that healed the ``heal`` layers, through the same waves and budgets.
    remediation: FleetReport | None = None

    def outcome(self, stack: str) -> Outcome:
        return next(s.outcome for s in self.stacks if s.name == stack)

    @property
    def exit_code(self) -> ExitCode:
        """2 when a budget stopped the run; else 3 when drift was found on an ``alert`` layer; else 1 when
        any stack failed or was unreachable; else 0."""
        if self.summary.budget_stopped or (self.remediation and self.remediation.summary.budget_stopped):
            return ExitCode.BUDGET_STOPPED
        if self.summary.stopped_by == "interrupted":
            return ExitCode.INTERRUPTED
        if self.drift is not None and self.drift.alerts:
            return ExitCode.DRIFT_ALERT
        stacks = self.stacks + (self.remediation.stacks if self.remediation else ())
        if any(s.outcome in (Outcome.FAILED, Outcome.UNREACHABLE) for s in stacks):
            return ExitCode.FAILED_WITHIN_BUDGET
        return ExitCode.OK

    @property
    def ok(self) -> bool:
        return self.exit_code is ExitCode.OK

    def as_dict(self) -> dict[str, Any]:
        """The documented ``--json`` document (schema ``strata.fleet/v1``, docs/fleet-json.md)."""
        return {
            "schema": FLEET_SCHEMA,
            "run_id": self.run_id,
            "operation": self.operation.value,
            "environment": self.environment,
            "resumed_from": self.resumed_from,
            "journal": self.journal,
            "exit_code": int(self.exit_code),
            "stacks": [s.as_dict() for s in self.stacks],
            "summary": self.summary.as_dict(),
            "drift": self.drift.as_dict() if self.drift is not None else None,
            "remediation": self.remediation.as_dict() if self.remediation is not None else None,
        }
