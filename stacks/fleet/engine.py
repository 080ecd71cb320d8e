"""The narrow engine protocol fleet operations are written against, and what an operation returns.

The orchestrator (waves, budgets, retries, resume) never touches ``pulumi.automation``: it calls an
:class:`Engine`. The real engine (:mod:`stacks.fleet.local`) is a thin adapter over the Automation API;
tests and benchmarks use a double with latencies, failures, timeouts and concurrent-update errors. Keeping
the protocol this small is what lets the orchestrator be proven without a Pulumi CLI.

Errors are classified at the engine boundary, because only the engine can tell them apart:

- :class:`OperationFailed` -- the update ran and failed (a broken release, a bad value): counts against
  ``--max-failures``;
- :class:`StackUnreachable` -- a timeout or a connection error (an edge site offline is not a broken
  release): counts against ``--max-unreachable``;
- :class:`ConcurrentUpdate` -- someone else holds the stack's lock: retried with backoff, never cancelled.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

#: Engine op names folded into the counts strata reports (``create-replacement``/``delete-replaced`` are
#: the two halves of a ``replace`` and would count it three times).
_FOLD = {
    "create": "create",
    "import": "create",
    "update": "update",
    "delete": "delete",
    "replace": "replace",
    "same": "same",
    "read": "same",
}


@dataclass(frozen=True)
class ChangeCounts:
    """Resources created, updated, deleted, replaced and left as they were by one operation."""

    create: int = 0
    update: int = 0
    delete: int = 0
    replace: int = 0
    same: int = 0

    @classmethod
    def from_ops(cls, ops: Mapping[Any, int] | None) -> ChangeCounts:
        """From the engine's summary (``{"create": 2, "same": 9, "create-replacement": 1, ...}``)."""
        counts = dict.fromkeys(("create", "update", "delete", "replace", "same"), 0)
        for op, n in (ops or {}).items():
            key = _FOLD.get(getattr(op, "value", op))
            if key is not None:
                counts[key] += int(n)
        return cls(**counts)

    @property
    def changed(self) -> int:
        """Resources the operation would change (or changed): everything but ``same``."""
        return self.create + self.update + self.delete + self.replace

    def as_dict(self) -> dict[str, int]:
        return {
            "create": self.create,
            "update": self.update,
            "delete": self.delete,
            "replace": self.replace,
            "same": self.same,
        }


@dataclass(frozen=True)
class ResourceChange:
    """One resource an operation changes: its URN, type and operation, and which properties differ.

    Property *names* only: values can be secrets and never leave the engine.
    """

    urn: str
    type: str
    op: str
    diffs: tuple[str, ...] = ()
    #: For drift: ``live`` (a refresh would change it: someone changed the cluster or cloud) or ``code`` (an
    #: update would change it: the program or config moved and was not applied).
    source: str = ""


@dataclass(frozen=True)
class OpResult:
    """What one engine operation did (or, for a preview, would do)."""

    changes: ChangeCounts = field(default_factory=ChangeCounts)
    resources: tuple[ResourceChange, ...] = ()
    duration_s: float = 0.0


class EngineError(Exception):
    """An operation did not succeed; ``kind`` is the class the orchestrator budgets it under."""

    kind: ClassVar[str] = "failed"

    def __init__(self, message: str, result: OpResult | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.result = result


class OperationFailed(EngineError):
    kind = "failed"


class NotConverged(OperationFailed):
    """A preview with ``expect_no_changes`` found changes: a perpetual diff or a partial apply."""


class StackUnreachable(EngineError):
    kind = "unreachable"


class ConcurrentUpdate(EngineError):
    kind = "concurrent-update"


class Engine(Protocol):
    """What the orchestrator needs from Pulumi, per stack. Every call names its stack explicitly.

    ``timeout`` is per call, in seconds; an engine that reaches it interrupts the operation gracefully
    (the stack's lock is released) and raises :class:`StackUnreachable`.
    """

    def prepare(self, stacks: Sequence[str], create: bool) -> Mapping[str, EngineError]:
        """Install plugins once and select (or, with ``create``, create) every stack, one at a time,
        before any operation fans out. Returns the stacks that could not be prepared, with why."""
        ...

    def preview(
        self,
        stack: str,
        *,
        expect_no_changes: bool = False,
        refresh: bool = False,
        targets: Iterable[str] = (),
        timeout: float | None = None,
    ) -> OpResult:
        """Preview an update; with ``expect_no_changes``, any change raises :class:`NotConverged`."""
        ...

    def preview_refresh(self, stack: str, *, timeout: float | None = None) -> OpResult:
        """What a refresh would change: the live infrastructure moved away from the stack's state."""
        ...

    def up(
        self, stack: str, *, refresh: bool = False, targets: Iterable[str] = (), timeout: float | None = None
    ) -> OpResult: ...

    def refresh(self, stack: str, *, timeout: float | None = None) -> OpResult: ...

    def destroy(self, stack: str, *, timeout: float | None = None) -> OpResult: ...

    def outputs(self, stack: str) -> Mapping[str, Any]:
        """The stack's outputs; secret values are masked."""
        ...
