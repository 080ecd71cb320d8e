"""The operator engine: fleet operations carried out by the Pulumi Kubernetes Operator, over the Kubernetes API.

``strata fleet <up|refresh|drift|destroy> --env E --engine operator`` runs the same orchestrator (canary,
waves, budgets, soak, journal, report) as the local engine; only the engine differs, and every operation is
one of the operator's own mechanics (v2.9, the version the ``fleet-management`` profile pins), never an
imitation of it:

- ``up`` makes the stack's ``Stack`` object equal to the spec the environment describes now
  (:mod:`stacks.operator.objects`: the commit of ``strata:reconcile.source.git.commit`` and every other
  field; a field the environment no longer sets is removed, not left behind by a merge), then waits for the
  operator's verdict on *that* spec: ``status.lastUpdate`` of an ``up`` with ``state: succeeded``,
  ``lastSuccessfulCommit`` equal to the target and ``generation`` at least the one the change produced;
  ``failed`` for that commit fails the stack with the operator's message. A success for an older commit or
  generation is a stale status: never evidence. No verdict within the timeout: ``unreachable``.
- ``refresh`` sets the operator's reconcile-request annotation (``pulumi.com/reconciliation-request``) to a
  new value and waits for ``lastUpdate.reconcileRequest`` to carry it: the operator has no refresh-only
  operation for a Stack, so this is its resync brought forward -- a refresh, then the update (or, for a
  preview-only stack, the preview) it runs every ``resync_seconds`` anyway.
- ``destroy`` sets ``destroyOnFinalize: true``, reads it back, deletes the object and waits until the
  operator has destroyed the stack and released its finalizer (the object is gone). It refuses what would
  not destroy (a preview-only stack: the operator drops its finalizer without a destroy), what would fail
  and leave the object stuck terminating (protected clusters), and what would destroy a state other than
  the environment's (the target commit not deployed).
- ``drift`` reads the status: undeployed code or spec (``code``), and the last reconcile's result. The
  operator records no per-resource changes of a refresh, so live drift of a preview-only stack cannot be
  read from it: such a stack is reported unchecked, naming the local engine that can.
- ``drift --remediate`` is refused by the CLI (the operator heals whole stacks on every resync).

The Kubernetes API is reached through :class:`KubeApi`, a three-call interface; :class:`KubectlApi`
implements it with ``kubectl`` (any kubeconfig, exec credential plugins included). The kubeconfig is only
ever a file path on kubectl's command line; secret values it holds are masked in every message.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from stacks.fleet.engine import (
    ChangeCounts,
    EngineError,
    NotConverged,
    OperationFailed,
    OpResult,
    ResourceChange,
    StackUnreachable,
)
from stacks.fleet.local import PulumiMissing
from stacks.operator.objects import OperatorStack

#: How long an operation waits for the operator's verdict when the run sets no ``--timeout``.
DEFAULT_TIMEOUT = 1800.0
#: How often a waiting operation reads its Stack (``STRATA_OPERATOR_POLL`` seconds overrides it): at 25
#: operations in flight, 2.5 reads a second for the API server.
DEFAULT_POLL = 10.0
#: The operator's reconcile-request annotation (``shared.ReconcileRequestAnnotation``, operator v2).
RECONCILE_REQUEST = "pulumi.com/reconciliation-request"
#: The finalizer the operator holds on a Stack until it is finalized (destroyed, with ``destroyOnFinalize``).
FINALIZER = "finalizer.stack.pulumi.com"


class KubeUnreachable(Exception):
    """The management cluster's API server could not be reached: a connection problem, worth retrying."""


class KubeRefused(Exception):
    """The API server answered and refused (permissions, a missing CRD, an invalid object): not transient."""


class OperatorUnavailable(PulumiMissing):
    """The operator engine cannot start (no kubectl, no way to reach the management cluster); says how to fix."""


class KubeApi(Protocol):
    """What the engine needs from the management cluster: read, merge-patch and delete one Stack."""

    def get_stack(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        """The Stack object, or None when it does not exist; raises :class:`KubeUnreachable` /
        :class:`KubeRefused`."""
        ...

    def patch_stack(self, namespace: str, name: str, patch: Mapping[str, Any]) -> Mapping[str, Any]:
        """Apply a JSON merge patch (RFC 7386: ``None`` removes a key) to the Stack; returns the object after it."""
        ...

    def delete_stack(self, namespace: str, name: str) -> None:
        """Request the Stack's deletion without waiting for its finalizers."""
        ...


Verdict = Literal["succeeded", "failed", "pending"]


def _conditions(obj: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {str(c.get("type")): c for c in (obj.get("status") or {}).get("conditions") or []}


def _stalled(obj: Mapping[str, Any], generation: int) -> str | None:
    """The operator's Stalled reason and message once it has seen ``generation``, else None."""
    status = obj.get("status") or {}
    if int(status.get("observedGeneration") or 0) < generation:
        return None
    stalled = _conditions(obj).get("Stalled")
    if stalled is None or stalled.get("status") != "True":
        return None
    return f"{stalled.get('reason', 'Stalled')}: {stalled.get('message', '')}".strip(": ")


def verdict(obj: Mapping[str, Any], commit: str | None, generation: int) -> tuple[Verdict, str]:
    """The operator's verdict on the spec at ``generation`` (and ``commit``, for Git sources), from the Stack's
    status; ``pending`` for anything that is not evidence about that spec (no status, a stale one)."""
    last = (obj.get("status") or {}).get("lastUpdate") or {}
    invalid = _stalled(obj, generation)
    if invalid is not None and invalid.startswith("SpecInvalid"):
        return "failed", f"the operator refuses the Stack's spec ({invalid})"
    if int(last.get("generation") or 0) < generation:
        seen = f" ({last.get('state')} at commit {last.get('lastAttemptedCommit') or 'none'})" if last else ""
        why = f"the last update{seen} is for generation {last.get('generation', 'none')}, not {generation}"
        return "pending", why + (f"; the operator reports {invalid}" if invalid else "")
    state = last.get("state")
    if state == "succeeded" and last.get("type") != "preview":
        if commit is None or last.get("lastSuccessfulCommit") == commit:
            return "succeeded", ""
        return "pending", f"succeeded at commit {last.get('lastSuccessfulCommit')}, not {commit}"
    if state == "failed" and (commit is None or last.get("lastAttemptedCommit") == commit):
        return "failed", _failure(last)
    return "pending", f"state {state or 'none'}" + (f"; the operator reports {invalid}" if invalid else "")


def request_verdict(obj: Mapping[str, Any], token: str) -> tuple[Verdict, str]:
    """The verdict on the reconcile this run requested (``token``): any update type counts (a preview-only
    stack's reconcile is a preview), but only one that carries the token."""
    last = (obj.get("status") or {}).get("lastUpdate") or {}
    if last.get("reconcileRequest") != token:
        return "pending", f"the last update answers request {last.get('reconcileRequest') or 'none'}, not {token}"
    if last.get("state") == "succeeded":
        return "succeeded", ""
    if last.get("state") == "failed":
        return "failed", _failure(last)
    return "pending", f"state {last.get('state') or 'none'}"


def _failure(last: Mapping[str, Any]) -> str:
    failures = int(last.get("failures") or 0)
    retry = f" (failed {failures} time(s); the operator retries with backoff up to 3)" if failures else ""
    return f"{last.get('message') or 'the operator reported a failed ' + str(last.get('type') or 'update')}{retry}"


def merge_patch(live: Any, desired: Any) -> Any:
    """The RFC 7386 merge patch that turns ``live`` into ``desired``: changed values, and ``None`` for every
    key ``desired`` no longer has (a plain merge of ``desired`` would leave them, e.g. a stale ``preview``)."""
    if not isinstance(live, Mapping) or not isinstance(desired, Mapping):
        return desired
    patch: dict[str, Any] = {}
    for key in live.keys() - desired.keys():
        patch[key] = None
    for key, value in desired.items():
        if key not in live:
            patch[key] = value
        elif live[key] != value:
            patch[key] = merge_patch(live[key], value) if isinstance(value, Mapping) else value
    return patch


@dataclass
class _Target:
    stack: OperatorStack
    namespace: str
    commit: str | None


class _Interrupted(Exception):
    pass


class OperatorEngine:
    """Fleet operations through the operator's Stack objects; see the module docstring for the rules."""

    def __init__(
        self,
        api: KubeApi,
        stacks: Sequence[OperatorStack],
        commit: str | None,
        *,
        poll: float | None = None,
        default_timeout: float = DEFAULT_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Any] | None = None,
    ) -> None:
        self.api = api
        self.targets = {s.name: _Target(s, str(s.object["metadata"]["namespace"]), commit) for s in stacks}
        self.poll = float(os.environ.get("STRATA_OPERATOR_POLL", DEFAULT_POLL)) if poll is None else poll
        self.default_timeout = default_timeout
        self.clock = clock
        self._stop = threading.Event()
        self.sleep = sleep or self._stop.wait
        self._unprepared: dict[str, EngineError] = {}
        #: The generation each stack's spec reached in this run (``up``), for the convergence check.
        self._generation: dict[str, int] = {}

    def interrupt(self) -> None:
        """Ctrl-C: every waiting operation stops waiting (the operator finishes what it started)."""
        self._stop.set()

    # ------------------------------------------------------------------------------------- plumbing

    def _target(self, stack: str) -> _Target:
        if stack in self._unprepared:
            raise self._unprepared[stack]
        try:
            return self.targets[stack]
        except KeyError:
            raise OperationFailed(
                f"stack {stack} has no Stack object in strata:reconcile (its shards setting decides the stacks)"
            ) from None

    def _call(self, what: Callable[[], Any]) -> Any:
        try:
            return what()
        except KubeUnreachable as exc:
            raise StackUnreachable(f"management cluster unreachable: {exc}") from None
        except KubeRefused as exc:
            raise OperationFailed(f"the management cluster refused: {exc}") from None

    def _find(self, target: _Target) -> Mapping[str, Any] | None:
        result: Mapping[str, Any] | None = self._call(
            lambda: self.api.get_stack(target.namespace, target.stack.object_name)
        )
        return result

    def _get(self, target: _Target) -> Mapping[str, Any]:
        obj = self._find(target)
        if obj is None:
            raise OperationFailed(
                f"no Stack {target.namespace}/{target.stack.object_name} on the management cluster; register it "
                "(pulumi up of the management environment, or apply `strata operator render`)"
            )
        return obj

    def _patch(self, target: _Target, patch: Mapping[str, Any]) -> Mapping[str, Any]:
        result: Mapping[str, Any] = self._call(
            lambda: self.api.patch_stack(target.namespace, target.stack.object_name, patch)
        )
        return result

    def _await(
        self,
        target: _Target,
        judge: Callable[[Mapping[str, Any] | None], tuple[Verdict, str]],
        wanted: str,
        timeout: float | None,
    ) -> OpResult:
        started = self.clock()
        deadline = started + (timeout or self.default_timeout)
        while True:
            state, why = judge(self._find(target))
            if state == "succeeded":
                return OpResult(ChangeCounts(), (), self.clock() - started)
            if state == "failed":
                raise OperationFailed(why)
            if self._stop.is_set():
                raise StackUnreachable(f"interrupted while waiting for {wanted}; the operator carries on ({why})")
            if self.clock() >= deadline:
                raise StackUnreachable(
                    f"the operator reported no result for {wanted} within {deadline - started:g}s ({why})"
                )
            self.sleep(self.poll)

    def _stack_urn(self, stack: str) -> str:
        return f"urn:pulumi:{stack}::strata::pulumi:pulumi:Stack::strata-{stack}"

    @staticmethod
    def _deleting(obj: Mapping[str, Any]) -> bool:
        return bool((obj.get("metadata") or {}).get("deletionTimestamp"))

    # ------------------------------------------------------------------------------------- protocol

    def prepare(self, stacks: Sequence[str], create: bool) -> Mapping[str, EngineError]:
        """Every Stack object must exist (the management environment or GitOps registers them; the engine
        never creates one, so a rollout cannot start stacks nobody reviewed)."""
        problems: dict[str, EngineError] = {}
        for name in stacks:
            try:
                self._get(self._target(name))
            except EngineError as exc:
                problems[name] = exc
        self._unprepared.update(problems)
        return problems

    def up(
        self, stack: str, *, refresh: bool = False, targets: Iterable[str] = (), timeout: float | None = None
    ) -> OpResult:
        target = self._target(stack)
        if list(targets):
            raise OperationFailed("targeted updates (drift --remediate) run with the local engine, not the operator")
        if target.stack.preview_only:
            raise OperationFailed(
                f"stack {stack} is preview-only on the operator (no layer of its clusters heals drift); roll it out "
                "with the local engine or set a layer to heal"
            )
        live = self._get(target)
        if self._deleting(live):
            raise OperationFailed(f"the Stack {target.stack.object_name} is being deleted (a destroy is under way)")
        patch = merge_patch(live.get("spec") or {}, dict(target.stack.object["spec"]))
        after = self._patch(target, {"spec": patch}) if patch else live
        generation = int((after.get("metadata") or {}).get("generation") or 0)
        self._generation[stack] = generation
        wanted = f"commit {target.commit}" if target.commit else f"generation {generation}"
        return self._await(target, lambda obj: verdict(obj or {}, target.commit, generation), wanted, timeout)

    def preview(
        self,
        stack: str,
        *,
        expect_no_changes: bool = False,
        refresh: bool = False,
        targets: Iterable[str] = (),
        timeout: float | None = None,
    ) -> OpResult:
        """What an update would change, as far as the Stack tells: its spec differs from the environment's
        (the changed field names), or the target commit is not the last one deployed. With
        ``expect_no_changes`` (the convergence check after ``up``): the operator's last verdict is still the
        success of this run's spec."""
        target = self._target(stack)
        obj = self._get(target)
        if expect_no_changes:
            generation = self._generation.get(stack, int((obj.get("metadata") or {}).get("generation") or 0))
            state, why = verdict(obj, target.commit, generation)
            if state != "succeeded":
                raise NotConverged(f"the operator's status no longer shows this update's success: {why}")
            return OpResult()
        differs = sorted(merge_patch(obj.get("spec") or {}, dict(target.stack.object["spec"])))
        last = (obj.get("status") or {}).get("lastUpdate") or {}
        deployed = last.get("lastSuccessfulCommit") if last.get("type") != "preview" else None
        if target.commit is not None and deployed != target.commit and "commit" not in differs:
            differs.append("commit")
        if differs:
            change = ResourceChange(self._stack_urn(stack), "pulumi:pulumi:Stack", "update", tuple(differs))
            return OpResult(ChangeCounts(update=1), (change,))
        return OpResult(ChangeCounts(same=1))

    def preview_refresh(self, stack: str, *, timeout: float | None = None) -> OpResult:
        """Live drift as the operator last saw it. A healing stack's reconcile refreshes then updates, so its
        live drift is healed at every resync; one whose reconcile fails cannot be healed (a failure). The
        operator records no per-resource result of a preview, so a preview-only stack's live drift cannot be
        read here: the stack is reported unchecked (failed), naming the engine that can read it."""
        target = self._target(stack)
        obj = self._get(target)
        last = (obj.get("status") or {}).get("lastUpdate") or {}
        if last.get("state") == "failed":
            raise OperationFailed(f"the operator's last {last.get('type') or 'update'} failed: {_failure(last)}")
        if target.stack.preview_only:
            clusters = target.stack.clusters
            only = f" --select name={clusters[0]}" if len(clusters) == 1 else ""
            raise OperationFailed(
                f"live drift of preview-only stack {stack} is not recorded by the operator (its refresh-preview "
                "keeps no per-resource result); read it with the local engine: strata fleet drift --env "
                f"{stack.split('.', 1)[0]}{only}"
            )
        return OpResult()

    def refresh(self, stack: str, *, timeout: float | None = None) -> OpResult:
        """The operator's resync brought forward: a new reconcile request, answered by a refresh and the
        stack's usual update (or preview); see the module docstring."""
        target = self._target(stack)
        live = self._get(target)
        if self._deleting(live):
            raise OperationFailed(f"the Stack {target.stack.object_name} is being deleted (a destroy is under way)")
        token = f"strata-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{secrets.token_hex(4)}"
        self._patch(target, {"metadata": {"annotations": {RECONCILE_REQUEST: token}}})
        return self._await(target, lambda obj: request_verdict(obj or {}, token), f"reconcile request {token}", timeout)

    def destroy(self, stack: str, *, timeout: float | None = None) -> OpResult:
        """Destroy through the operator's finalizer: ``destroyOnFinalize: true`` (read back), delete, wait
        until the object is gone. Refused, before anything changes, where that would not destroy or would
        leave the object stuck terminating."""
        target = self._target(stack)
        name = f"{target.namespace}/{target.stack.object_name}"
        if target.stack.preview_only:
            raise OperationFailed(
                f"stack {stack} is preview-only: the operator deletes a preview Stack without destroying anything; "
                "destroy it with --engine local"
            )
        if target.stack.protected:
            raise OperationFailed(
                f"stack {stack} has protected clusters (strata:production or protect: true): the destroy would fail "
                "in the workspace and leave the Stack terminating; set protect: false on them, roll that out "
                "(strata fleet up --engine operator), then destroy"
            )
        live = self._get(target)
        if not self._deleting(live):
            last = (live.get("status") or {}).get("lastUpdate") or {}
            deployed = last.get("lastSuccessfulCommit") if last.get("type") != "preview" else None
            if target.commit is not None and deployed != target.commit:
                raise OperationFailed(
                    f"the operator last deployed commit {deployed or 'none'} to {name}, not {target.commit}: roll "
                    "the environment out first (strata fleet up --engine operator), so the destroy runs the state "
                    "the environment describes"
                )
            after = self._patch(target, {"spec": {"destroyOnFinalize": True}})
            if (after.get("spec") or {}).get("destroyOnFinalize") is not True:
                raise OperationFailed(f"{name} did not accept destroyOnFinalize: true; it was not deleted")
            self._call(lambda: self.api.delete_stack(target.namespace, target.stack.object_name))
        elif (live.get("spec") or {}).get("destroyOnFinalize") is not True:
            raise OperationFailed(
                f"{name} is already being deleted without destroyOnFinalize: its stack is not destroyed by it; "
                "destroy with --engine local"
            )

        def judge(obj: Mapping[str, Any] | None) -> tuple[Verdict, str]:
            if obj is None:
                return "succeeded", ""
            last = (obj.get("status") or {}).get("lastUpdate") or {}
            if last.get("type") == "destroy" and last.get("state") == "failed":
                return "failed", (
                    f"the operator's destroy failed: {_failure(last)}; {name} keeps its finalizer and the operator "
                    "retries; fix the cause, or destroy with --engine local and then remove the finalizer"
                )
            if last.get("type") == "destroy" and last.get("state") == "succeeded":
                return "pending", "destroyed; waiting for the operator to release the finalizer"
            return "pending", "waiting for the operator's destroy"

        return self._await(target, judge, f"the destroy of {name}", timeout)

    def outputs(self, stack: str) -> Mapping[str, Any]:
        return dict((self._get(self._target(stack)).get("status") or {}).get("outputs") or {})


#: kubectl's own words for a server it could not reach (client-go and kubectl error text).
_UNREACHABLE = re.compile(
    r"unable to connect to the server|the connection to the server .* was refused|dial tcp|i/o timeout|"
    r"connection refused|no route to host|no such host|tls handshake timeout|context deadline exceeded|"
    r"client\.timeout exceeded|timeout awaiting response headers|\(ServiceUnavailable\)|\(InternalError\)|"
    r"\(Timeout\)|\(TooManyRequests\)|etcdserver: request timed out",
    re.IGNORECASE,
)


class KubectlApi:
    """:class:`KubeApi` over ``kubectl`` (any kubeconfig, exec credential plugins included).

    Only these invocations are made (tests answer them with a fake ``kubectl``): ``get stacks.pulumi.com
    NAME -n NS -o json``, ``patch ... --type merge -p JSON -o json`` and ``delete ... --wait=false``, each
    with ``--request-timeout`` and, when given, ``--kubeconfig=PATH`` and ``--context``. The patch carries
    the spec, which holds references to Secrets only. ``secrets`` are masked in every message kubectl returns.
    """

    RESOURCE = "stacks.pulumi.com"

    def __init__(
        self,
        kubeconfig: str | None = None,
        context: str | None = None,
        request_timeout: str = "30s",
        secrets: Sequence[str] = (),
    ) -> None:
        self.kubectl = shutil.which("kubectl")
        if self.kubectl is None:
            raise OperatorUnavailable(
                "--engine operator talks to the management cluster with kubectl, which is not on PATH: install it "
                "(https://kubernetes.io/docs/tasks/tools/)"
            )
        self.base = [self.kubectl, f"--request-timeout={request_timeout}"]
        if kubeconfig:
            self.base.append(f"--kubeconfig={kubeconfig}")
        if context:
            self.base.append(f"--context={context}")
        self.secrets = tuple(s for s in secrets if s)

    def _mask(self, text: str) -> str:
        for value in self.secrets:
            text = text.replace(value, "[secret]")
        return text

    def _run(self, args: list[str]) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "KUBECTL_INTERACTIVE_DELETE": "false"}
        try:
            return subprocess.run([*self.base, *args], capture_output=True, text=True, check=False, env=env)
        except OSError as exc:
            raise KubeUnreachable(f"kubectl could not run: {exc}") from None

    def _error(self, proc: subprocess.CompletedProcess[str]) -> Exception:
        lines = [line.strip() for line in self._mask(proc.stderr).splitlines() if line.strip()]
        message = lines[-1] if lines else f"kubectl exited {proc.returncode}"
        if len(message) > 400:
            message = message[:397] + "..."
        if _UNREACHABLE.search(proc.stderr):
            return KubeUnreachable(message)
        if "doesn't have a resource type" in proc.stderr:
            return KubeRefused(
                f"{message}: the operator's CRDs are not installed there (pulumi up of the management environment)"
            )
        if "(Forbidden)" in proc.stderr or "Unauthorized" in proc.stderr:
            return KubeRefused(
                f"{message}: the kubeconfig's identity needs get, patch and delete on {self.RESOURCE} in that namespace"
            )
        return KubeRefused(message)

    def _object(self, proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
        try:
            return dict(json.loads(proc.stdout))
        except (ValueError, TypeError):
            raise KubeRefused(f"kubectl printed no object: {self._mask(proc.stdout.strip())[:200]!r}") from None

    def get_stack(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        proc = self._run(["get", self.RESOURCE, name, "-n", namespace, "-o", "json"])
        if proc.returncode != 0:
            if "(NotFound)" in proc.stderr:
                return None
            raise self._error(proc)
        return self._object(proc)

    def patch_stack(self, namespace: str, name: str, patch: Mapping[str, Any]) -> Mapping[str, Any]:
        body = json.dumps(patch, sort_keys=True, separators=(",", ":"))
        proc = self._run(["patch", self.RESOURCE, name, "-n", namespace, "--type", "merge", "-p", body, "-o", "json"])
        if proc.returncode != 0:
            raise self._error(proc)
        return self._object(proc)

    def delete_stack(self, namespace: str, name: str) -> None:
        proc = self._run(["delete", self.RESOURCE, name, "-n", namespace, "--wait=false"])
        if proc.returncode != 0 and "(NotFound)" not in proc.stderr:
            raise self._error(proc)


def kubeconfig_secrets(text: str) -> list[str]:
    """The secret values in a kubeconfig (tokens, passwords, private keys), to mask in kubectl's messages."""
    import yaml

    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError:
        return [text.strip()] if text.strip() else []
    found: list[str] = []

    def walk(node: Any, key: str = "") -> None:
        if isinstance(node, Mapping):
            for k, v in node.items():
                walk(v, str(k))
        elif isinstance(node, list):
            for v in node:
                walk(v, key)
        elif isinstance(node, str) and len(node) >= 6 and key in _SECRET_KEYS:
            found.append(node)

    for user in (doc or {}).get("users") or [] if isinstance(doc, Mapping) else []:
        walk(user)
    return sorted(set(found), key=len, reverse=True)


_SECRET_KEYS = {"token", "password", "client-key-data", "access-token", "refresh-token", "id-token", "value"}


def _kubeconfig_file(text: str) -> str:
    """Write a kubeconfig read from a secret reference to a private temporary file kubectl can read."""
    handle, path = tempfile.mkstemp(prefix="strata-kubeconfig-", suffix=".yaml")
    with os.fdopen(handle, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(path, 0o600)
    import atexit

    def remove() -> None:
        if os.path.exists(path):
            os.unlink(path)

    atexit.register(remove)
    return path


def engine_for(
    selection: Any,
    config_dir: Any,
    api: KubeApi | None = None,
    command: str = "strata fleet",
    **options: Any,
) -> OperatorEngine:
    """The operator engine for a fleet selection (:class:`stacks.fleet.selection.Selection`).

    The management cluster is reached with the kubeconfig ``strata:reconcile.management.kubeconfig`` names,
    or that of the management cluster when it is an adopted (``existing``) cluster with a kubeconfig, else
    the ambient one (``KUBECONFIG``). ``command`` is the command the user ran: a kubeconfig that is missing is
    needed by it (not by a ``pulumi up``), and the message says where the reference is set."""
    from components.clusters.secrets import read_secret_value
    from stacks.environment import load_environment
    from stacks.operator.objects import operator_stacks
    from stacks.plan import file_config

    environment = selection.environment
    reconcile = environment.settings.reconcile
    if reconcile is None:
        raise OperatorUnavailable(
            f'--engine operator: environment {environment.name} sets no config."strata:reconcile" (docs/operator.md)'
        )
    stacks = operator_stacks(environment, selection.plans)
    known = {s.name for s in stacks}
    foreign = [s.name for s in selection.stacks if s.name not in known]
    if foreign:
        raise OperatorUnavailable(
            f"--engine operator: stack {foreign[0]} has no Stack object; the operator runs "
            + (f"--shards {reconcile.shards}" if reconcile.shards else "one stack per cluster")
            + " (strata:reconcile.shards)"
        )
    if api is None:
        mgmt = reconcile.management
        ref, context, env_file = mgmt.kubeconfig, mgmt.context, config_dir / f"Pulumi.{environment.name}.yaml"
        where = f'{environment.file}: config."strata:reconcile".management.kubeconfig'
        if mgmt.cluster is not None:
            other = load_environment(str(mgmt.environment), config_dir)
            entry = other.cluster(str(mgmt.cluster_name))
            ref, context = getattr(entry.spec, "kubeconfig", None), getattr(entry.spec, "context", None)
            env_file = config_dir / f"Pulumi.{other.name}.yaml"
            where = f"{entry.file}: {entry.field}.kubeconfig, management cluster {mgmt.cluster}"
        text = None
        if ref is not None:
            try:
                text = read_secret_value(ref, "management kubeconfig", file_config(env_file), command)
            except ValueError as exc:
                raise OperatorUnavailable(f"--engine operator: {exc} ({where})") from None
        KubectlApi()  # no kubectl: say how to install it before any file is written
        api = KubectlApi(
            _kubeconfig_file(text) if text is not None else None,
            context,
            secrets=kubeconfig_secrets(text) if text is not None else (),
        )
    return OperatorEngine(api, stacks, reconcile.commit, **options)


def reconcile_shards(env: str, config_dir: Any) -> int | None:
    """The shard count ``strata:reconcile`` deploys with (None: one stack per cluster, or no such setting)."""
    from packs.errors import PlanErrors
    from stacks.environment import load_environment

    try:
        reconcile = load_environment(env, config_dir).settings.reconcile
    except PlanErrors:
        return None  # the selection reports the environment's errors
    return reconcile.shards if reconcile is not None else None
