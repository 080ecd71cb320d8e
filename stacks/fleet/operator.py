"""The operator engine: fleet operations carried out by the Pulumi Kubernetes Operator, over the Kubernetes API.

``strata fleet up --env E --engine operator`` runs the same orchestrator (canary, waves, budgets, soak,
journal, report) as the local engine; only the engine differs. Per stack, ``up`` advances the stack's
``Stack`` object to the spec the environment describes now (:mod:`stacks.operator.objects`: the commit of
``strata:reconcile.source.git.commit``, and every other field), then waits for the operator's own verdict
on *that* spec:

- success: ``status.lastUpdate.state == succeeded``, ``lastUpdate.lastSuccessfulCommit`` equal to the target
  commit, and ``lastUpdate.generation`` at least the generation our change produced;
- failure: ``state == failed`` for that generation and ``lastAttemptedCommit`` equal to the target;
- anything else is not evidence -- a success for an older commit or generation is a stale status, and the
  engine keeps waiting; past the timeout the stack is ``unreachable`` (the operator never reported).

``drift --engine operator`` reads the same status: a stack whose last successful commit is not the target
has undeployed code; a preview-only stack (every layer alert-only, ``expectNoRefreshChanges``) whose last
preview failed found live changes. Refresh and destroy stay with the local engine: deleting a Stack object
never destroys a cluster (``destroyOnFinalize: false``).

The Kubernetes API is reached through :class:`KubeApi`, a two-call interface; :class:`KubectlApi` implements
it with ``kubectl`` (any kubeconfig, exec credential plugins included) and tests use a status simulator.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
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

#: How long ``up`` waits for the operator's verdict when the run sets no ``--timeout``.
DEFAULT_TIMEOUT = 1800.0


class KubeUnreachable(Exception):
    """The management cluster's API server could not be reached (or refused us)."""


class OperatorUnavailable(PulumiMissing):
    """The operator engine cannot start (no kubectl, no way to reach the management cluster); says how to fix."""


class KubeApi(Protocol):
    """What the engine needs from the management cluster: read a Stack, merge-patch its spec."""

    def get_stack(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        """The Stack object, or None when it does not exist; raises :class:`KubeUnreachable`."""
        ...

    def patch_stack_spec(self, namespace: str, name: str, spec: Mapping[str, Any]) -> int:
        """Merge ``spec`` into the Stack's spec; returns ``metadata.generation`` after the change."""
        ...


Verdict = Literal["succeeded", "failed", "pending"]


def verdict(obj: Mapping[str, Any], commit: str | None, generation: int) -> tuple[Verdict, str]:
    """The operator's verdict on the spec at ``generation`` (and ``commit``, for Git sources), from the Stack's
    status; ``pending`` for anything that is not evidence about that spec (no status, a stale one)."""
    last = (obj.get("status") or {}).get("lastUpdate") or {}
    if int(last.get("generation") or 0) < generation:
        return "pending", f"the last update is for generation {last.get('generation', 'none')}, not {generation}"
    state = last.get("state")
    if state == "succeeded" and last.get("type") != "preview":
        if commit is None or last.get("lastSuccessfulCommit") == commit:
            return "succeeded", ""
        return "pending", f"succeeded at commit {last.get('lastSuccessfulCommit')}, not {commit}"
    if state == "failed" and (commit is None or last.get("lastAttemptedCommit") == commit):
        return "failed", str(last.get("message") or "the operator reported a failed update")
    return "pending", f"state {state or 'none'}"


@dataclass
class _Target:
    stack: OperatorStack
    namespace: str
    commit: str | None


class OperatorEngine:
    """Fleet operations through the operator's Stack objects; see the module docstring for the rules."""

    def __init__(
        self,
        api: KubeApi,
        stacks: Sequence[OperatorStack],
        commit: str | None,
        *,
        poll: float = 10.0,
        default_timeout: float = DEFAULT_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Any] = time.sleep,
    ) -> None:
        self.api = api
        self.targets = {s.name: _Target(s, str(s.object["metadata"]["namespace"]), commit) for s in stacks}
        self.poll = poll
        self.default_timeout = default_timeout
        self.clock = clock
        self.sleep = sleep
        self._unprepared: dict[str, EngineError] = {}
        #: The generation each stack's spec reached in this run (``up``), for the convergence check.
        self._generation: dict[str, int] = {}

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

    def _get(self, target: _Target) -> Mapping[str, Any]:
        try:
            obj = self.api.get_stack(target.namespace, target.stack.object_name)
        except KubeUnreachable as exc:
            raise StackUnreachable(f"management cluster: {exc}") from None
        if obj is None:
            raise OperationFailed(
                f"no Stack {target.namespace}/{target.stack.object_name} on the management cluster; register it "
                "(pulumi up of the management environment, or apply `strata operator render`)"
            )
        return obj

    def _wait(self, target: _Target, generation: int, timeout: float | None) -> OpResult:
        started = self.clock()
        deadline = started + (timeout or self.default_timeout)
        why = "no status yet"
        while True:
            state, why = verdict(self._get(target), target.commit, generation)
            if state == "succeeded":
                return OpResult(ChangeCounts(), (), self.clock() - started)
            if state == "failed":
                raise OperationFailed(f"the operator's update failed: {why}")
            if self.clock() >= deadline:
                wanted = f"commit {target.commit}" if target.commit else f"generation {generation}"
                raise StackUnreachable(
                    f"the operator reported no result for {wanted} within {deadline - started:g}s ({why})"
                )
            self.sleep(self.poll)

    def _stack_urn(self, stack: str) -> str:
        return f"urn:pulumi:{stack}::strata::pulumi:pulumi:Stack::strata-{stack}"

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
        self._get(target)
        try:
            generation = self.api.patch_stack_spec(
                target.namespace, target.stack.object_name, target.stack.object["spec"]
            )
        except KubeUnreachable as exc:
            raise StackUnreachable(f"management cluster: {exc}") from None
        self._generation[stack] = generation
        return self._wait(target, generation, timeout)

    def preview(
        self,
        stack: str,
        *,
        expect_no_changes: bool = False,
        refresh: bool = False,
        targets: Iterable[str] = (),
        timeout: float | None = None,
    ) -> OpResult:
        """What an update would change, as far as the operator's status tells: undeployed code (the last
        successful commit is not the target). With ``expect_no_changes`` (the convergence check after ``up``):
        the operator's last verdict is still the success of this run's spec."""
        target = self._target(stack)
        obj = self._get(target)
        if expect_no_changes:
            generation = self._generation.get(stack, int((obj.get("metadata") or {}).get("generation") or 0))
            state, why = verdict(obj, target.commit, generation)
            if state != "succeeded":
                raise NotConverged(f"the operator's status no longer shows this update's success: {why}")
            return OpResult()
        last = (obj.get("status") or {}).get("lastUpdate") or {}
        deployed = last.get("lastSuccessfulCommit")
        if target.commit is not None and deployed != target.commit:
            change = ResourceChange(self._stack_urn(stack), "pulumi:pulumi:Stack", "update", ("commit",))
            return OpResult(ChangeCounts(update=1), (change,))
        return OpResult(ChangeCounts(same=1))

    def preview_refresh(self, stack: str, *, timeout: float | None = None) -> OpResult:
        """Live drift as the operator last saw it: a preview-only stack's failed refresh-preview, or a failing
        reconcile of a healing stack (reported as a failure: the operator cannot heal it)."""
        target = self._target(stack)
        last = (self._get(target).get("status") or {}).get("lastUpdate") or {}
        if last.get("state") != "failed":
            return OpResult()
        message = str(last.get("message") or "")
        if target.stack.preview_only:
            change = ResourceChange(self._stack_urn(stack), "pulumi:pulumi:Stack", "update", ())
            return OpResult(ChangeCounts(update=1), (change,))
        raise OperationFailed(f"the operator's last reconcile failed ({last.get('failures', 1)} time(s)): {message}")

    def refresh(self, stack: str, *, timeout: float | None = None) -> OpResult:
        raise OperationFailed("the operator refreshes every stack on each resync (refresh: true); use --engine local")

    def destroy(self, stack: str, *, timeout: float | None = None) -> OpResult:
        raise OperationFailed("destroy runs with the local engine: the operator never destroys (destroyOnFinalize)")

    def outputs(self, stack: str) -> Mapping[str, Any]:
        return dict((self._get(self._target(stack)).get("status") or {}).get("outputs") or {})


class KubectlApi:
    """:class:`KubeApi` over ``kubectl`` (any kubeconfig, exec credential plugins included)."""

    def __init__(self, kubeconfig: str | None = None, context: str | None = None, request_timeout: str = "30s") -> None:
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

    def _run(self, args: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*self.base, *args], capture_output=True, text=True, check=False)

    def get_stack(self, namespace: str, name: str) -> Mapping[str, Any] | None:
        proc = self._run(["get", "stacks.pulumi.com", name, "-n", namespace, "-o", "json"])
        if proc.returncode != 0:
            if "NotFound" in proc.stderr:
                return None
            raise KubeUnreachable(proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "kubectl failed")
        return dict(json.loads(proc.stdout))

    def patch_stack_spec(self, namespace: str, name: str, spec: Mapping[str, Any]) -> int:
        body = json.dumps({"spec": spec}, sort_keys=True)
        proc = self._run(
            ["patch", "stacks.pulumi.com", name, "-n", namespace, "--type", "merge", "-p", body, "-o", "json"]
        )
        if proc.returncode != 0:
            raise KubeUnreachable(proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "kubectl failed")
        return int(json.loads(proc.stdout)["metadata"]["generation"])


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


def engine_for(selection: Any, config_dir: Any, api: KubeApi | None = None, **options: Any) -> OperatorEngine:
    """The operator engine for a fleet selection (:class:`stacks.fleet.selection.Selection`).

    The management cluster is reached with the kubeconfig ``strata:reconcile.management.kubeconfig`` names,
    or that of the management cluster when it is an adopted (``existing``) cluster with a kubeconfig, else
    the ambient one (``KUBECONFIG``)."""
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
        if mgmt.cluster is not None:
            other = load_environment(str(mgmt.environment), config_dir)
            spec = other.cluster(str(mgmt.cluster_name)).spec
            ref, context = getattr(spec, "kubeconfig", None), getattr(spec, "context", None)
            env_file = config_dir / f"Pulumi.{other.name}.yaml"
        kubeconfig = None
        if ref is not None:
            try:
                kubeconfig = _kubeconfig_file(read_secret_value(ref, "management kubeconfig", file_config(env_file)))
            except ValueError as exc:
                raise OperatorUnavailable(f"--engine operator: {exc}") from None
        api = KubectlApi(kubeconfig, context)
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
