"""Waves, budgets, retries and evidence gating over an :class:`~stacks.fleet.engine.Engine`.

The rules, each of which is a property the test suite checks against an engine double:

- stacks run in waves: the canary wave, then waves of ``wave_size``; a wave starts only once the previous
  one has finished, its results are within budget and the soak time has passed;
- at most ``parallel`` operations run at once, and never two on the same stack (a stack is one task that
  runs its steps in sequence);
- failures and unreachable stacks have separate budgets; once one is exceeded no new operation starts,
  so a budget is never exceeded by more than the operations already in flight; the rest are ``skipped``;
- a concurrent update (someone else's lock) is retried with backoff and counted as an attempt; the run
  never cancels it;
- an ``up`` counts as succeeded only on this run's own evidence: the update succeeded, a convergence
  preview (``expect_no_changes``) is clean, then the ``--gate`` command passes for every cluster;
- every stack ends with exactly one outcome, whatever the engine raises.

All bookkeeping happens on the calling thread (workers only call the engine), so observers and the
journal see events in order without locks of their own.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import shlex
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from stacks.fleet.engine import (
    ChangeCounts,
    ConcurrentUpdate,
    Engine,
    EngineError,
    NotConverged,
    OpResult,
    ResourceChange,
)
from stacks.fleet.model import FleetStack, Operation, Outcome, RunOptions, Size, StackResult, Summary, waves

#: A gate runs after a successful, converged update; it returns None when it passes, else why it failed.
GateRunner = Callable[[str, FleetStack, float | None], str | None]


class Observer(Protocol):
    """Progress for people (the CLI's rich display) or pipelines; every call is on the run's thread."""

    def run_started(self, operation: Operation, total: int, waves: int) -> None: ...

    def wave_started(self, wave: int, stacks: Sequence[FleetStack]) -> None: ...

    def stack_started(self, stack: FleetStack, wave: int) -> None: ...

    def stack_finished(self, result: StackResult) -> None: ...

    def soaking(self, seconds: float) -> None: ...


class Recorder(Protocol):
    """Where attempts and outcomes are written as they happen (the run's journal)."""

    def attempt(self, stack: FleetStack, wave: int, attempt: int, kind: str, error: str) -> None: ...

    def outcome(self, result: StackResult) -> None: ...


class QuietObserver:
    def run_started(self, operation: Operation, total: int, waves: int) -> None:
        pass

    def wave_started(self, wave: int, stacks: Sequence[FleetStack]) -> None:
        pass

    def stack_started(self, stack: FleetStack, wave: int) -> None:
        pass

    def stack_finished(self, result: StackResult) -> None:
        pass

    def soaking(self, seconds: float) -> None:
        pass


def _last_lines(text: str, n: int = 3) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return " | ".join(lines[-n:])


def shell_gate(command: str, stack: FleetStack, timeout: float | None) -> str | None:
    """Run ``command`` once per cluster of the stack with ``{stack}`` and ``{cluster}`` substituted
    (shell-quoted; also in ``$STRATA_STACK`` / ``$STRATA_CLUSTER``). Non-zero fails the stack."""
    for cluster in stack.clusters or ("",):
        line = command.replace("{stack}", shlex.quote(stack.name)).replace("{cluster}", shlex.quote(cluster))
        env = {**os.environ, "STRATA_STACK": stack.name, "STRATA_CLUSTER": cluster}
        try:
            proc = subprocess.run(line, shell=True, capture_output=True, text=True, timeout=timeout, env=env)
        except subprocess.TimeoutExpired:
            return f"gate timed out after {timeout:g}s for cluster {cluster}: {line}"
        if proc.returncode != 0:
            said = _last_lines(proc.stderr or proc.stdout)
            return f"gate exited {proc.returncode} for cluster {cluster}" + (f": {said}" if said else "")
    return None


class _Exhausted(Exception):
    def __init__(self, error: ConcurrentUpdate) -> None:
        super().__init__(error.message)
        self.error = error


@dataclass
class _Task:
    """One stack's run; ``attempts`` is written by the worker and read once the future is done."""

    stack: FleetStack
    wave: int
    attempts: int = 0


class Orchestrator:
    """Runs one operation over a list of stacks; see the module docstring for the rules."""

    def __init__(
        self,
        engine: Engine,
        options: RunOptions,
        *,
        observer: Observer | None = None,
        recorder: Recorder | None = None,
        gate: GateRunner = shell_gate,
        sleep: Callable[[float], Any] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        self.options = options
        self.observer = observer or QuietObserver()
        self.recorder = recorder
        self.gate = gate
        self.sleep = sleep
        self.clock = clock
        self._record_lock = threading.Lock()

    # ------------------------------------------------------------------------------------------- run

    def run(
        self,
        operation: Operation,
        stacks: Sequence[FleetStack],
        *,
        done: Mapping[str, str] | None = None,
        targets: Mapping[str, Sequence[str]] | None = None,
    ) -> tuple[tuple[StackResult, ...], Summary]:
        """Run ``operation``; ``done`` maps stacks that need no run (resume) to why; ``targets`` gives the
        URNs a ``remediate`` heals per stack."""
        opts = self.options.resolved(operation)
        assert opts.canary is not None and opts.wave_size is not None
        assert opts.max_failures is not None and opts.max_unreachable is not None
        done = done or {}
        results: dict[str, StackResult] = {}
        for stack in stacks:
            if stack.name in done:
                results[stack.name] = StackResult(
                    stack.name, 0, Outcome.NOT_RUN, clusters=stack.clusters, digest=stack.digest, note=done[stack.name]
                )
                self._outcome(results[stack.name])
        todo = [s for s in stacks if s.name not in done]
        plan = waves(todo, opts.canary, opts.wave_size)
        fail_limit = Size.parse(opts.max_failures).budget(len(todo))
        unreachable_limit = Size.parse(opts.max_unreachable).budget(len(todo))
        self.observer.run_started(operation, len(todo), len(plan))
        failed = unreachable = 0
        stopped_by: str | None = None

        with cf.ThreadPoolExecutor(max_workers=opts.parallel, thread_name_prefix="fleet") as pool:
            for number, wave in enumerate(plan, start=1):
                if stopped_by is not None:
                    break
                if number > 1 and opts.soak:
                    self.observer.soaking(opts.soak)
                    self.sleep(opts.soak)
                self.observer.wave_started(number, wave)
                pending = list(reversed(wave))
                running: dict[cf.Future[StackResult], _Task] = {}
                try:
                    while pending or running:
                        while pending and len(running) < opts.parallel and stopped_by is None:
                            task = _Task(pending.pop(), number)
                            self.observer.stack_started(task.stack, number)
                            running[pool.submit(self._execute, operation, task, opts, targets)] = task
                        if not running:
                            break
                        finished, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
                        for future in finished:
                            task = running.pop(future)
                            result = future.result()  # _execute never raises
                            results[result.name] = result
                            failed += result.outcome is Outcome.FAILED
                            unreachable += result.outcome is Outcome.UNREACHABLE
                            self._outcome(result)
                            self.observer.stack_finished(result)
                        if stopped_by is None and failed > fail_limit:
                            stopped_by = "max-failures"
                        if stopped_by is None and unreachable > unreachable_limit:
                            stopped_by = "max-unreachable"
                except KeyboardInterrupt:
                    # In-flight CLIs got the same Ctrl-C and cancel gracefully (releasing their locks);
                    # wait for them so their outcomes are recorded, start nothing new.
                    stopped_by = "interrupted"
                    interrupt = getattr(self.engine, "interrupt", None)
                    if interrupt is not None:  # an engine that waits on a remote service stops waiting
                        interrupt()
                    for future in running:
                        result = future.result()
                        results[result.name] = result
                        self._outcome(result)
                        self.observer.stack_finished(result)
                    break

        for number, wave in enumerate(plan, start=1):
            for stack in wave:
                if stack.name not in results:
                    outcome = Outcome.NOT_RUN if stopped_by == "interrupted" else Outcome.SKIPPED
                    why = "the run was interrupted" if outcome is Outcome.NOT_RUN else f"{stopped_by} budget exceeded"
                    skipped = StackResult(
                        stack.name, number, outcome, clusters=stack.clusters, digest=stack.digest, note=why
                    )
                    results[stack.name] = skipped
                    self._outcome(skipped)
        ordered = tuple(results[s.name] for s in stacks)
        counts = {o: sum(r.outcome is o for r in ordered) for o in Outcome}
        budget = stopped_by in ("max-failures", "max-unreachable")
        return ordered, Summary(counts, budget_stopped=budget, stopped_by=stopped_by)

    def _outcome(self, result: StackResult) -> None:
        if self.recorder is not None:
            with self._record_lock:
                self.recorder.outcome(result)

    # -------------------------------------------------------------------------------------- one stack

    def _execute(
        self,
        operation: Operation,
        task: _Task,
        opts: RunOptions,
        targets: Mapping[str, Sequence[str]] | None,
    ) -> StackResult:
        """One stack, start to finish, on a worker thread. Never raises: every path is one outcome."""
        stack = task.stack
        start = self.clock()
        changes = ChangeCounts()
        resources: tuple[ResourceChange, ...] = ()

        def result(outcome: Outcome, error: str | None = None, kind: str | None = None) -> StackResult:
            return StackResult(
                name=stack.name,
                wave=task.wave,
                outcome=outcome,
                attempts=task.attempts,
                changes=changes,
                duration_s=self.clock() - start,
                error=error,
                error_kind=kind,
                clusters=stack.clusters,
                digest=stack.digest,
                resources=resources,
            )

        try:
            changes, resources = self._steps(operation, task, opts, (targets or {}).get(stack.name, ()))
        except _Exhausted as exc:
            return result(
                Outcome.FAILED,
                f"another update held the stack's lock through {task.attempts} attempt(s); it was not cancelled: "
                f"{exc.error.message}",
                exc.error.kind,
            )
        except NotConverged as exc:
            counts = exc.result.changes if exc.result else None
            detail = f" ({_describe(counts)})" if counts and counts.changed else ""
            return result(
                Outcome.FAILED,
                f"did not converge: a preview right after the update still shows changes{detail}, a perpetual "
                f"diff or a partial apply: {exc.message}",
                "not-converged",
            )
        except EngineError as exc:
            outcome = Outcome.UNREACHABLE if exc.kind == "unreachable" else Outcome.FAILED
            return result(outcome, exc.message, exc.kind)
        except _GateFailed as exc:
            return result(Outcome.FAILED, str(exc), "gate")
        except Exception as exc:  # an engine bug must not lose the stack's outcome
            return result(Outcome.FAILED, f"{type(exc).__name__}: {exc}", "failed")
        return result(Outcome.SUCCEEDED)

    def _steps(
        self, operation: Operation, task: _Task, opts: RunOptions, targets: Sequence[str]
    ) -> tuple[ChangeCounts, tuple[ResourceChange, ...]]:
        stack, engine, timeout = task.stack.name, self.engine, opts.timeout
        if operation is Operation.PREVIEW:
            r = self._attempts(task, opts, lambda: engine.preview(stack, timeout=timeout))
            return r.changes, ()
        if operation is Operation.REFRESH:
            r = self._attempts(task, opts, lambda: engine.refresh(stack, timeout=timeout))
            return r.changes, ()
        if operation is Operation.DESTROY:
            r = self._attempts(task, opts, lambda: engine.destroy(stack, timeout=timeout))
            return r.changes, ()
        if operation is Operation.DRIFT:
            live = self._attempts(task, opts, lambda: engine.preview_refresh(stack, timeout=timeout))
            code = self._attempts(task, opts, lambda: engine.preview(stack, timeout=timeout), follow_up=True)
            found = tuple(replace(c, source="live") for c in live.resources) + tuple(
                replace(c, source="code") for c in code.resources
            )
            return _count(found, code.changes.same), found
        if operation is Operation.UP:
            r = self._attempts(task, opts, lambda: engine.up(stack, timeout=timeout))
            converged = lambda: engine.preview(stack, expect_no_changes=True, timeout=timeout)  # noqa: E731
            self._attempts(task, opts, converged, follow_up=True)
        elif operation is Operation.REMEDIATE:
            urns = list(targets)
            r = self._attempts(task, opts, lambda: engine.up(stack, refresh=True, targets=urns, timeout=timeout))
            healed = lambda: engine.preview(  # noqa: E731
                stack, refresh=True, targets=urns, expect_no_changes=True, timeout=timeout
            )
            self._attempts(task, opts, healed, follow_up=True)
        else:  # pragma: no cover - exhaustive
            raise ValueError(operation)
        if opts.gate:
            why = self.gate(opts.gate, task.stack, timeout)
            if why is not None:
                raise _GateFailed(why)
        return r.changes, ()

    def _attempts(
        self, task: _Task, opts: RunOptions, call: Callable[[], OpResult], follow_up: bool = False
    ) -> OpResult:
        """``call``, retried with exponential backoff while someone else's update holds the lock.

        The stack's ``attempts`` counts the main operation's tries; a follow-up (the convergence preview,
        drift's second preview) adds to it only when it has to be retried.
        """
        for attempt in range(1, opts.attempts + 1):
            if attempt > 1 or not follow_up:
                task.attempts += 1
            try:
                return call()
            except ConcurrentUpdate as exc:
                if self.recorder is not None:
                    with self._record_lock:
                        self.recorder.attempt(task.stack, task.wave, task.attempts, exc.kind, exc.message)
                if attempt == opts.attempts:
                    raise _Exhausted(exc) from None
                self.sleep(opts.backoff * 2 ** (attempt - 1))
        raise AssertionError("unreachable")  # pragma: no cover


class _GateFailed(Exception):
    pass


def _describe(counts: ChangeCounts) -> str:
    return ", ".join(f"{n} to {op}" for op, n in counts.as_dict().items() if n and op != "same")


def _count(changes: Iterable[ResourceChange], same: int) -> ChangeCounts:
    ops = {"create": 0, "update": 0, "delete": 0, "replace": 0}
    seen: set[str] = set()
    for c in changes:
        if c.urn in seen or c.op not in ops:
            continue
        seen.add(c.urn)
        ops[c.op] += 1
    return ChangeCounts(**ops, same=same)
