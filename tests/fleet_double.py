"""An engine double for fleet tests and the fleet benchmark: latencies, failures, timeouts, lock conflicts.

It also watches the orchestrator: every call is stamped with a global sequence number at start and end,
overlapping calls on one stack are recorded as violations, and the peak number of calls in flight is kept.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from stacks.fleet.engine import (
    ChangeCounts,
    ConcurrentUpdate,
    EngineError,
    NotConverged,
    OperationFailed,
    OpResult,
    ResourceChange,
    StackUnreachable,
)


@dataclass
class Call:
    stack: str
    op: str
    start: int
    end: int = -1
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass
class DoubleEngine:
    """``latency`` seconds per call (or a function of stack and op). Per stack scripts:

    ``fail``: the operation fails; ``unreachable``: connection error; ``hang``: the call outlasts its
    timeout (the double sleeps the timeout, then reports unreachable, as the real engine does);
    ``locked``: how many calls first meet someone else's lock; ``perpetual``: the convergence preview
    always shows a change; ``drift``: the resources a refresh preview / preview report changed.
    """

    latency: float | Callable[[str, str], float] = 0.0
    fail: set[str] = field(default_factory=set)
    unreachable: set[str] = field(default_factory=set)
    hang: set[str] = field(default_factory=set)
    locked: dict[str, int] = field(default_factory=dict)
    perpetual: set[str] = field(default_factory=set)
    live_drift: Mapping[str, Sequence[ResourceChange]] = field(default_factory=dict)
    code_drift: Mapping[str, Sequence[ResourceChange]] = field(default_factory=dict)
    record: bool = True

    def __post_init__(self) -> None:
        self.calls: list[Call] = []
        self.violations: list[str] = []
        self.prepared: list[tuple[tuple[str, ...], bool]] = []
        self.peak = 0
        self._active: dict[str, str] = {}
        self._lock = threading.Lock()
        self._seq = 0
        self._locked = dict(self.locked)

    # ------------------------------------------------------------------------------------ protocol

    def prepare(self, stacks: Sequence[str], create: bool) -> Mapping[str, EngineError]:
        self.prepared.append((tuple(stacks), create))
        return {}

    def preview(
        self,
        stack: str,
        *,
        expect_no_changes: bool = False,
        refresh: bool = False,
        targets: Iterable[str] = (),
        timeout: float | None = None,
    ) -> OpResult:
        kwargs = {"expect_no_changes": expect_no_changes, "refresh": refresh, "targets": tuple(targets)}
        return self._call(stack, "preview", timeout, kwargs)

    def preview_refresh(self, stack: str, *, timeout: float | None = None) -> OpResult:
        return self._call(stack, "preview_refresh", timeout, {})

    def up(
        self, stack: str, *, refresh: bool = False, targets: Iterable[str] = (), timeout: float | None = None
    ) -> OpResult:
        return self._call(stack, "up", timeout, {"refresh": refresh, "targets": tuple(targets)})

    def refresh(self, stack: str, *, timeout: float | None = None) -> OpResult:
        return self._call(stack, "refresh", timeout, {})

    def destroy(self, stack: str, *, timeout: float | None = None) -> OpResult:
        return self._call(stack, "destroy", timeout, {})

    def outputs(self, stack: str) -> Mapping[str, Any]:
        return {}

    # -------------------------------------------------------------------------------------- engine

    def _call(self, stack: str, op: str, timeout: float | None, kwargs: dict[str, Any]) -> OpResult:
        with self._lock:
            if stack in self._active:
                self.violations.append(f"{op} on {stack} while {self._active[stack]} was running")
            self._active[stack] = op
            self.peak = max(self.peak, len(self._active))
            self._seq += 1
            call = Call(stack, op, self._seq, kwargs=kwargs)
            if self.record:
                self.calls.append(call)
            conflict = self._locked.get(stack, 0) > 0
            if conflict:
                self._locked[stack] -= 1
        try:
            latency = self.latency(stack, op) if callable(self.latency) else self.latency
            if stack in self.hang and op in ("up", "preview", "refresh", "destroy", "preview_refresh"):
                time.sleep(timeout if timeout is not None else latency)
                raise StackUnreachable(f"{op} of {stack} timed out after {timeout}s; interrupted")
            if latency:
                time.sleep(latency)
            if conflict:
                raise ConcurrentUpdate(f"the stack {stack} is currently locked by another update")
            if stack in self.unreachable:
                raise StackUnreachable(f"dial tcp 10.0.0.1:6443: connect: no route to host ({stack})")
            if stack in self.fail and op in ("up", "destroy", "refresh"):
                raise OperationFailed(f"{op} of {stack} failed: helm release ingress-nginx: timed out waiting")
            if op == "preview" and kwargs.get("expect_no_changes") and stack in self.perpetual:
                raise NotConverged("1 change", OpResult(ChangeCounts(update=1, same=10)))
            if op == "preview_refresh":
                found = tuple(self.live_drift.get(stack, ()))
                return OpResult(ChangeCounts(update=len(found), same=10), found, latency)
            if op == "preview" and not kwargs.get("expect_no_changes"):
                found = tuple(self.code_drift.get(stack, ()))
                return OpResult(ChangeCounts(update=len(found), same=10), found, latency)
            changed = ChangeCounts(create=1, same=10) if op == "up" else ChangeCounts(same=11)
            return OpResult(changed, (), latency)
        finally:
            with self._lock:
                self._active.pop(stack, None)
                self._seq += 1
                call.end = self._seq
