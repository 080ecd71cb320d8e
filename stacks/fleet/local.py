"""The real engine: a thin adapter over Pulumi's Automation API (``pulumi.automation``, local workspaces).

What it does on purpose, each against a known Automation API pitfall:

- one ``LocalWorkspace`` per operation with ``work_dir`` at the project root (where ``Pulumi.yaml`` is) and
  every command naming its stack (``--stack``): nothing relies on the workspace's "current stack", and no
  ``stack select`` ever runs concurrently (pulumi#8186);
- plugins are installed once (``pulumi install --no-dependencies``) and stacks are selected or created one
  at a time in :meth:`LocalEngine.prepare`, before any operation fans out (pulumi#22784; the
  ``create_or_select_stack`` race); a stack someone else created in the meantime is simply used;
- a timeout interrupts the CLI the way Ctrl-C does (SIGINT: the engine finishes in-flight resource
  operations, writes its checkpoint and releases the lock), escalating only if it does not stop, and the
  stack is recorded as unreachable; ``pulumi cancel`` is never used (on a file backend it only deletes
  the lock file while the update may still run);
- a lock held by someone else surfaces as :class:`~stacks.fleet.engine.ConcurrentUpdate` for the
  orchestrator to retry; connection errors as :class:`~stacks.fleet.engine.StackUnreachable`.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
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

ROOT = Path(__file__).resolve().parents[2]
INSTALL_HINT = (
    "strata fleet drives the Pulumi CLI, which is not on PATH: install it with "
    "`curl -fsSL https://get.pulumi.com | sh` (or see https://www.pulumi.com/docs/install/)"
)

#: Connection problems: the stack is unreachable (an edge site offline), not broken.
_UNREACHABLE = re.compile(
    r"dial tcp|i/o timeout|connection refused|no route to host|network is unreachable|tls handshake timeout|"
    r"context deadline exceeded|unable to connect|could not resolve host|no such host|connection reset|"
    r"ssh: handshake failed|cluster is unreachable|timed out waiting for the condition: ssh",
    re.IGNORECASE,
)
_NO_CHANGES_EXPECTED = "no changes were expected"
_STACK_TYPE = "pulumi:pulumi:Stack"


class PulumiMissing(RuntimeError):
    """The Pulumi CLI is absent or too old; the message says how to get it."""


class _TimedOut(Exception):
    pass


def _why(error: BaseException) -> str:
    """The CLI's own ``error:`` lines, short; the CLI already masks secret values in what it prints."""
    text = str(error)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if line.lower().startswith("error:") or " error: " in line.lower()]
    picked = errors[-3:] or [line for line in lines if not line.startswith(("code:", "stdout:", "stderr:"))][-3:]
    message = " | ".join(picked) or text.strip()
    return message if len(message) <= 600 else message[:597] + "..."


def classify(error: BaseException, result: OpResult | None = None) -> EngineError:
    """A CLI failure as the orchestrator budgets it."""
    from pulumi.automation import errors as auto_errors

    why = _why(error)
    if isinstance(error, auto_errors.ConcurrentUpdateError):
        return ConcurrentUpdate(why, result)
    if _UNREACHABLE.search(str(error)):
        return StackUnreachable(why, result)
    return OperationFailed(why, result)


def _command_class() -> type:
    from pulumi.automation import PulumiCommand
    from pulumi.automation._cmd import CommandResult
    from pulumi.automation.errors import create_command_error

    class DeadlineCommand(PulumiCommand):
        """``PulumiCommand.run`` with a deadline: past it, the CLI is interrupted like Ctrl-C would."""

        def __init__(self, base: PulumiCommand, timeout: float | None, grace: float) -> None:
            # No super().__init__: it would run `pulumi version` again for every operation.
            self.command = base.command
            self.version = base.version
            self.timeout = timeout
            self.deadline = None if timeout is None else time.monotonic() + timeout
            self.grace = grace

        def run(
            self,
            args: list[str],
            cwd: str,
            additional_env: Mapping[str, str],
            on_output: Callable[[str], Any] | None = None,
            on_error: Callable[[str], Any] | None = None,
        ) -> CommandResult:
            sep = args.index("--") if "--" in args else len(args)
            if "--non-interactive" not in args[:sep]:
                args.insert(0, "--non-interactive")
            env = {**os.environ, **additional_env, "PULUMI_AUTOMATION_API": "true", "PULUMI_SKIP_UPDATE_CHECK": "true"}
            out: list[str] = []
            err: list[str] = []

            def pump(stream: Any, callback: Callable[[str], Any] | None, chunks: list[str]) -> None:
                for line in iter(stream.readline, ""):
                    line = line.rstrip()
                    if callback:
                        callback(line)
                    chunks.append(line)
                stream.close()

            with subprocess.Popen(
                [self.command, *args],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=cwd,
                env=env,
                encoding="utf-8",
            ) as process:
                readers = [
                    threading.Thread(target=pump, args=(process.stdout, on_output, out), daemon=True),
                    threading.Thread(target=pump, args=(process.stderr, on_error, err), daemon=True),
                ]
                for reader in readers:
                    reader.start()
                timed_out = False
                try:
                    remaining = None if self.deadline is None else max(0.0, self.deadline - time.monotonic())
                    process.wait(timeout=remaining)
                except subprocess.TimeoutExpired:
                    timed_out = True
                    self._interrupt(process)
                for reader in readers:
                    reader.join()
            if timed_out:
                raise _TimedOut(f"no result within {self.timeout:g}s")
            result = CommandResult(stdout="\n".join(out), stderr="\n".join(err), code=process.returncode)
            if process.returncode != 0:
                raise create_command_error(result)
            return result

        def _interrupt(self, process: subprocess.Popen[str]) -> None:
            """SIGINT (a graceful cancel that releases the lock); a second SIGINT; only then kill."""
            for sig, wait in ((signal.SIGINT, self.grace), (signal.SIGINT, 5.0)):
                process.send_signal(sig)
                try:
                    process.wait(timeout=wait)
                    return
                except subprocess.TimeoutExpired:
                    continue
            process.kill()
            process.wait()

    return DeadlineCommand


class _Events:
    """Collects the engine events of one operation: the summary and every resource that changes."""

    def __init__(self) -> None:
        self.summary: Mapping[Any, int] | None = None
        self.changes: dict[str, ResourceChange] = {}

    def __call__(self, event: Any) -> None:
        if event.summary_event is not None:
            self.summary = event.summary_event.resource_changes
        for holder in (event.resource_pre_event, event.res_outputs_event):
            if holder is None:
                continue
            meta = holder.metadata
            if meta.type == _STACK_TYPE:
                continue
            op = _change_op(meta)
            if op is not None:
                diffs = tuple(sorted(set(meta.diffs or ()) | set((meta.detailed_diff or {}).keys())))
                seen = self.changes.get(meta.urn)
                if seen is None or (diffs and not seen.diffs):
                    self.changes[meta.urn] = ResourceChange(meta.urn, meta.type, op, diffs)

    def result(self, started: float) -> OpResult:
        resources = tuple(self.changes.values())
        if self.summary is not None:
            counts = ChangeCounts.from_ops(self.summary)
        else:
            counts = ChangeCounts.from_ops({c.op: 1 for c in resources})
        return OpResult(counts, resources, time.monotonic() - started)


def _change_op(meta: Any) -> str | None:
    """The change a step makes, or None for a resource left as it is.

    Refresh steps report ``refresh``: what changed is told by the new state (gone: a delete) and the
    property diffs (an update).
    """
    op = getattr(meta.op, "value", meta.op)
    if op in ("same", "read", "discard", "remove-pending-replace"):
        return None
    if op == "refresh":
        if meta.old is not None and meta.new is None:
            return "delete"
        if meta.diffs or meta.detailed_diff:
            return "update"
        if meta.old is not None and meta.new is not None and (meta.old.outputs or {}) != (meta.new.outputs or {}):
            return "update"
        return None
    if op in ("create-replacement", "delete-replaced", "replace", "read-replacement", "import-replacement"):
        return "replace"
    if op == "import":
        return "create"
    return op if op in ("create", "update", "delete") else None


class LocalEngine:
    """Fleet operations on local Automation API workspaces rooted at the strata project."""

    def __init__(
        self,
        work_dir: Path = ROOT,
        *,
        env_vars: Mapping[str, str] | None = None,
        pulumi_home: str | None = None,
        interrupt_grace: float = 60.0,
    ) -> None:
        try:
            from pulumi.automation import PulumiCommand
            from pulumi.automation.errors import InvalidVersionError
        except ImportError as exc:  # pragma: no cover - pulumi is a dependency
            raise PulumiMissing(f"the pulumi Python SDK is not installed: {exc}") from None
        try:
            self._base = PulumiCommand()
        except FileNotFoundError:
            raise PulumiMissing(INSTALL_HINT) from None
        except InvalidVersionError as exc:
            raise PulumiMissing(f"the Pulumi CLI on PATH cannot be used: {exc}") from None
        except subprocess.CalledProcessError as exc:
            raise PulumiMissing(f"`pulumi version` failed ({exc}); {INSTALL_HINT}") from None
        self.work_dir = Path(work_dir)
        self.env_vars = dict(env_vars or {})
        self.pulumi_home = pulumi_home
        self.interrupt_grace = interrupt_grace
        self._command = _command_class()
        self._unprepared: dict[str, EngineError] = {}

    # ------------------------------------------------------------------------------------- plumbing

    def _workspace(self, timeout: float | None = None) -> Any:
        from pulumi.automation import LocalWorkspace

        return LocalWorkspace(
            work_dir=str(self.work_dir),
            pulumi_home=self.pulumi_home,
            env_vars=self.env_vars,
            pulumi_command=self._command(self._base, timeout, self.interrupt_grace),
        )

    def _stack(self, name: str, timeout: float | None) -> Any:
        """A ``Stack`` bound to its name without ``stack select``: every command passes ``--stack``."""
        from pulumi.automation import Stack
        from pulumi.automation._stack import StackInitMode

        stack = Stack.__new__(Stack)
        stack.name = name
        stack.workspace = self._workspace(timeout)
        stack._mode = StackInitMode.SELECT
        return stack

    def _run(self, name: str, timeout: float | None, call: Callable[[Any, _Events], Any]) -> OpResult:
        from pulumi.automation import errors as auto_errors

        if name in self._unprepared:
            raise self._unprepared[name]
        events = _Events()
        started = time.monotonic()
        try:
            call(self._stack(name, timeout), events)
        except _TimedOut as exc:
            raise StackUnreachable(
                f"{exc}; the CLI was interrupted (Ctrl-C) so it released the stack's lock", events.result(started)
            ) from None
        except auto_errors.CommandError as exc:
            raise classify(exc, events.result(started)) from None
        return events.result(started)

    # ------------------------------------------------------------------------------------- protocol

    def prepare(self, stacks: Sequence[str], create: bool) -> Mapping[str, EngineError]:
        from pulumi.automation import errors as auto_errors

        workspace = self._workspace()
        problems: dict[str, EngineError] = {}
        try:
            workspace.install(no_dependencies=True)
            known = {s.name.rsplit("/", 1)[-1] for s in workspace.list_stacks()}
        except auto_errors.CommandError as exc:
            error = classify(exc)
            problems = dict.fromkeys(stacks, error)
            self._unprepared.update(problems)
            return problems
        for name in stacks:
            if name.rsplit("/", 1)[-1] in known:
                continue
            if not create:
                problems[name] = _Missing(f"stack {name} does not exist yet; `strata fleet up` creates it")
                continue
            try:
                workspace.create_stack(name)
            except auto_errors.StackAlreadyExistsError:
                pass  # someone else created it since we listed: use it
            except auto_errors.CommandError as exc:
                problems[name] = classify(exc)
        self._unprepared.update(problems)
        return problems

    def preview(
        self,
        stack: str,
        *,
        expect_no_changes: bool = False,
        refresh: bool = False,
        targets: Iterable[str] = (),
        timeout: float | None = None,
    ) -> OpResult:
        urns = list(targets)

        def call(s: Any, events: _Events) -> None:
            s.preview(
                expect_no_changes=expect_no_changes or None,
                refresh=refresh or None,
                target=urns or None,
                target_dependents=bool(urns) or None,
                on_event=events,
                color="never",
                suppress_progress=True,
            )

        try:
            return self._run(stack, timeout, call)
        except OperationFailed as exc:
            if (
                expect_no_changes
                and exc.result is not None
                and (exc.result.changes.changed or _NO_CHANGES_EXPECTED in exc.message)
            ):
                raise NotConverged(exc.message, exc.result) from None
            raise

    def preview_refresh(self, stack: str, *, timeout: float | None = None) -> OpResult:
        return self._run(
            stack, timeout, lambda s, ev: s.preview_refresh(on_event=ev, color="never", suppress_progress=True)
        )

    def up(
        self, stack: str, *, refresh: bool = False, targets: Iterable[str] = (), timeout: float | None = None
    ) -> OpResult:
        urns = list(targets)

        def call(s: Any, events: _Events) -> None:
            s.up(
                refresh=refresh or None,
                target=urns or None,
                target_dependents=bool(urns) or None,
                on_event=events,
                color="never",
                suppress_progress=True,
                suppress_outputs=True,
                show_secrets=False,
            )

        return self._run(stack, timeout, call)

    def refresh(self, stack: str, *, timeout: float | None = None) -> OpResult:
        return self._run(
            stack,
            timeout,
            lambda s, ev: s.refresh(on_event=ev, color="never", suppress_progress=True, show_secrets=False),
        )

    def destroy(self, stack: str, *, timeout: float | None = None) -> OpResult:
        if isinstance(self._unprepared.get(stack), _Missing):
            return OpResult()  # nothing was ever deployed: destroying it is done
        return self._run(
            stack,
            timeout,
            lambda s, ev: s.destroy(on_event=ev, color="never", suppress_progress=True, show_secrets=False),
        )

    def outputs(self, stack: str) -> Mapping[str, Any]:
        from pulumi.automation import errors as auto_errors

        try:
            values = self._stack(stack, None).outputs()
        except auto_errors.CommandError as exc:
            raise classify(exc) from None
        return {k: "[secret]" if v.secret else v.value for k, v in values.items()}


class _Missing(OperationFailed):
    """The stack does not exist in the backend."""
