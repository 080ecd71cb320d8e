"""The append-only journal of a fleet run, and ``--resume``.

One JSON-lines file per run, ``<state-dir>/<run-id>.jsonl``: a ``run`` header, an ``attempt`` line for
every retried lock conflict, one ``stack`` line per outcome as it happens (stack, wave, attempts, outcome,
change counts, duration, digest of program and config) and a closing ``summary``. Lines are flushed as
they are written, so a run killed half-way leaves a journal that ``--resume`` can use.

Resume skips exactly the stacks that succeeded (in that run, or in the runs it resumed) with the digest
they have now; a stack whose program or config changed since is run again.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from stacks.fleet.model import FleetStack, Operation, Outcome, StackResult, Summary

DEFAULT_STATE_DIR = Path(".strata/runs")
JOURNAL_SCHEMA = "strata.fleet-journal/v1"


class ResumeError(ValueError):
    """The run to resume does not exist or is for another environment or operation."""


def new_run_id() -> str:
    """Sortable by start time (to the microsecond, so ``last`` is the newest), unique without
    coordination: ``20261125T101500.123456Z-3fa9c2``."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%S.%fZ}-{secrets.token_hex(3)}"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class Journal:
    """Writes one run's journal; safe to call from several threads."""

    def __init__(
        self,
        state_dir: Path,
        run_id: str,
        operation: Operation,
        environment: str,
        *,
        resumed: Mapping[str, str] | None = None,
        resumed_from: str | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> None:
        state_dir.mkdir(parents=True, exist_ok=True)
        self.path = state_dir / f"{run_id}.jsonl"
        self.run_id = run_id
        self._resumed = dict(resumed or {})
        self._lock = threading.Lock()
        self._fh: IO[str] = self.path.open("a", encoding="utf-8")
        self._write(
            {
                "type": "run",
                "schema": JOURNAL_SCHEMA,
                "run_id": run_id,
                "operation": operation.value,
                "environment": environment,
                "resumed_from": resumed_from,
                "options": dict(options or {}),
                "at": _now(),
            }
        )

    def _write(self, record: Mapping[str, Any]) -> None:
        line = json.dumps(record, separators=(",", ":"), default=str)
        with self._lock:
            self._fh.write(line + "\n")
            self._fh.flush()

    def attempt(self, stack: FleetStack, wave: int, attempt: int, kind: str, error: str) -> None:
        self._write(
            {"type": "attempt", "stack": stack.name, "wave": wave, "attempt": attempt, "kind": kind, "error": error}
            | {"at": _now()}
        )

    def outcome(self, result: StackResult) -> None:
        fields = result.as_dict()
        record: dict[str, Any] = {"type": "stack", "stack": fields.pop("name"), **fields, "at": _now()}
        if result.outcome is Outcome.NOT_RUN and result.name in self._resumed:
            record["succeeded_in"] = self._resumed[result.name]
        self._write(record)

    def close(self, summary: Summary | None) -> None:
        """End the journal; without a summary (the run crashed) the stack lines written so far stand."""
        if summary is not None:
            self._write({"type": "summary", **summary.as_dict(), "at": _now()})
        with self._lock:
            self._fh.close()


@dataclass(frozen=True)
class PastRun:
    run_id: str
    path: Path
    operation: str
    environment: str
    #: stack -> (digest, the run in which it succeeded)
    succeeded: Mapping[str, tuple[str, str]]


def read_run(path: Path) -> PastRun:
    """Read a journal; a torn last line (the run was killed mid-write) is ignored."""
    header: dict[str, Any] | None = None
    succeeded: dict[str, tuple[str, str]] = {}
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            kind = record.get("type")
            if kind == "run" and header is None:
                header = record
            elif kind == "stack":
                name = record["stack"]
                if record.get("outcome") == Outcome.SUCCEEDED.value:
                    succeeded[name] = (record.get("digest", ""), header["run_id"] if header else path.stem)
                elif record.get("succeeded_in"):
                    succeeded[name] = (record.get("digest", ""), record["succeeded_in"])
                else:
                    succeeded.pop(name, None)
    if header is None:
        raise ResumeError(f"{path} is not a fleet run journal (no run header)")
    return PastRun(header["run_id"], path, header["operation"], header["environment"], succeeded)


def find_run(state_dir: Path, ref: str, environment: str, operation: Operation) -> PastRun:
    """``ref`` is a run id or ``last`` (the newest run of this environment and operation)."""
    if ref == "last":
        for path in sorted(state_dir.glob("*.jsonl"), reverse=True):
            try:
                past = read_run(path)
            except ResumeError:
                continue
            if past.environment == environment and past.operation == operation.value:
                return past
        raise ResumeError(f"no earlier {operation.value} run of environment {environment} in {state_dir}")
    path = state_dir / f"{ref}.jsonl"
    if not path.is_file():
        known = sorted(p.stem for p in state_dir.glob("*.jsonl"))[-5:]
        raise ResumeError(f"no run {ref!r} in {state_dir}" + (f" (latest: {', '.join(known)})" if known else ""))
    past = read_run(path)
    if past.environment != environment or past.operation != operation.value:
        raise ResumeError(
            f"run {ref} was a {past.operation} of environment {past.environment}, "
            f"not a {operation.value} of {environment}"
        )
    return past


def already_done(past: PastRun, stacks: list[FleetStack] | tuple[FleetStack, ...]) -> dict[str, str]:
    """Stacks that succeeded with the digest they have now: stack -> the run they succeeded in."""
    done = {}
    for stack in stacks:
        seen = past.succeeded.get(stack.name)
        if seen is not None and seen[0] == stack.digest:
            done[stack.name] = seen[1]
    return done
